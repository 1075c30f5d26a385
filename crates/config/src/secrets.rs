//! Secret files: generated once in embedded mode, read with a permission
//! check everywhere.

use crate::secret::{Secret, SecretBytes};
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Largest secret file we read (a PEM private key is well under 4 KiB).
const MAX_SECRET_FILE: u64 = 64 * 1024;

/// File names inside `<data_dir>/secrets/`.
pub const INTERNAL_TOKEN_FILE: &str = "internal_token";
/// AES-256 key for API-key secrets at rest (64 hex characters).
pub const SECRET_BOX_KEY_FILE: &str = "secret_box.key";
/// The JWT signing key, as produced by the caller's generator.
pub const JWT_PRIVATE_KEY_FILE: &str = "jwt_ed25519.key";

/// The secrets a FlowEx process runs with.
///
/// In embedded mode every field is set (generated on first start); in
/// distributed mode only what the configuration provides is set, and a
/// service asks for what it needs with the `require_*` methods.
#[derive(Debug, Clone)]
pub struct Secrets {
    /// Shared by the services to authenticate internal calls.
    pub internal_token: Secret,
    /// 32-byte AES-256-GCM key that encrypts API-key secrets at rest.
    pub secret_box_key: Option<SecretBytes>,
    /// The JWT Ed25519 private key, in whatever encoding `crates/auth`
    /// generated or the operator provided (PKCS#8 PEM or DER).
    pub jwt_private_key: Option<SecretBytes>,
    /// The JWT public key, for services that only verify tokens
    /// (distributed mode; in embedded mode derive it from the private key).
    pub jwt_public_key: Option<Vec<u8>>,
}

impl Secrets {
    /// The AES key, or an error naming the setting that provides it.
    pub fn require_secret_box_key(&self) -> Result<[u8; 32], SecretsError> {
        let key = self.secret_box_key.as_ref().ok_or(SecretsError::Missing(
            "secrets.secret_box_key (FLOWEX_SECRET_BOX_KEY) or secrets.secret_box_key_file",
        ))?;
        key.expose()
            .try_into()
            .map_err(|_| SecretsError::Malformed {
                what: "secret box key",
                why: "must be exactly 32 bytes".into(),
            })
    }

    /// The JWT private key, or an error naming the setting that provides it.
    pub fn require_jwt_private_key(&self) -> Result<&[u8], SecretsError> {
        self.jwt_private_key
            .as_ref()
            .map(|k| k.expose())
            .ok_or(SecretsError::Missing(
                "secrets.jwt_private_key (FLOWEX_JWT_PRIVATE_KEY) or secrets.jwt_private_key_file (FLOWEX_JWT_PRIVATE_KEY_FILE)",
            ))
    }
}

/// Why secrets could not be read or created.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// A secret file is readable or writable by group or others.
    #[error("refusing to use secret file {path}: its mode is {mode:04o}, readable by group or others; run `chmod 600 {path}`")]
    InsecurePermissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A secret path is not a regular file.
    #[error("secret file {0} is not a regular file")]
    NotAFile(PathBuf),
    /// A secret file is larger than any secret we use.
    #[error("secret file {0} is larger than 64 KiB")]
    TooLarge(PathBuf),
    /// A secret file or value is empty.
    #[error("secret file {0} is empty")]
    Empty(PathBuf),
    /// A secret has the wrong shape.
    #[error("{what} is malformed: {why}")]
    Malformed {
        /// Which secret.
        what: &'static str,
        /// What is wrong with it.
        why: String,
    },
    /// A secret that this process needs is not configured.
    #[error("missing secret: set {0}")]
    Missing(&'static str),
    /// Reading or writing failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What we were doing.
        action: &'static str,
        /// On which path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

fn io_err<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> SecretsError + 'a {
    move |source| SecretsError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// Reads a secret file, refusing one that group or others can access.
///
/// The mode is checked on the opened file (no race between check and read),
/// symlinks are followed (Kubernetes mounts secrets through them), and the
/// file must be a regular file of at most 64 KiB.
pub fn read_secret_file(path: &Path) -> Result<Vec<u8>, SecretsError> {
    let mut file = File::open(path).map_err(io_err("cannot open secret file", path))?;
    let meta = file
        .metadata()
        .map_err(io_err("cannot stat secret file", path))?;
    if !meta.is_file() {
        return Err(SecretsError::NotAFile(path.to_path_buf()));
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(SecretsError::InsecurePermissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    if meta.len() > MAX_SECRET_FILE {
        return Err(SecretsError::TooLarge(path.to_path_buf()));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    Read::by_ref(&mut file)
        .take(MAX_SECRET_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(io_err("cannot read secret file", path))?;
    if bytes.len() as u64 > MAX_SECRET_FILE {
        return Err(SecretsError::TooLarge(path.to_path_buf()));
    }
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(SecretsError::Empty(path.to_path_buf()));
    }
    Ok(bytes)
}

/// Reads a text secret file (token, hex key): [`read_secret_file`], UTF-8,
/// surrounding whitespace trimmed.
pub fn read_secret_text(path: &Path) -> Result<String, SecretsError> {
    let bytes = read_secret_file(path)?;
    let text = String::from_utf8(bytes).map_err(|_| SecretsError::Malformed {
        what: "secret text file",
        why: format!("{} is not UTF-8", path.display()),
    })?;
    Ok(text.trim().to_string())
}

/// Writes a new secret file with mode 0600, atomically and without ever
/// replacing an existing file: the bytes go to a temporary file (created
/// 0600), are synced, then hard-linked to `path` (which fails if `path`
/// exists, e.g. written by a concurrent first start). Returns `false` if
/// `path` already existed (the caller then reads it).
fn create_secret_file(path: &Path, bytes: &[u8]) -> Result<bool, SecretsError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("secret"),
        std::process::id()
    ));
    let _ = fs::remove_file(&tmp);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io_err("cannot create secret file", &tmp))?;
    // The umask can only remove bits, but make the mode exact anyway and
    // verify it before any secret byte is written.
    file.set_permissions(fs::Permissions::from_mode(0o600))
        .map_err(io_err("cannot chmod secret file", &tmp))?;
    let mode = file
        .metadata()
        .map_err(io_err("cannot stat secret file", &tmp))?
        .mode()
        & 0o7777;
    if mode != 0o600 {
        let _ = fs::remove_file(&tmp);
        return Err(SecretsError::InsecurePermissions { path: tmp, mode });
    }
    let written = file
        .write_all(bytes)
        .and_then(|_| file.sync_all())
        .map_err(io_err("cannot write secret file", &tmp));
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    drop(file);
    let linked = fs::hard_link(&tmp, path);
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(SecretsError::Io {
            action: "cannot publish secret file",
            path: path.to_path_buf(),
            source: e,
        }),
    }
}

/// Reads `path`, or creates it with `generate()` if it does not exist yet.
fn read_or_create(
    path: &Path,
    generate: impl FnOnce() -> Vec<u8>,
) -> Result<Vec<u8>, SecretsError> {
    match fs::symlink_metadata(path) {
        Ok(_) => read_secret_file(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let bytes = generate();
            if bytes.is_empty() {
                return Err(SecretsError::Malformed {
                    what: "generated secret",
                    why: format!("the generator for {} returned no bytes", path.display()),
                });
            }
            if create_secret_file(path, &bytes)? {
                Ok(bytes)
            } else {
                read_secret_file(path)
            }
        }
        Err(e) => Err(SecretsError::Io {
            action: "cannot stat secret file",
            path: path.to_path_buf(),
            source: e,
        }),
    }
}

/// `n` bytes from the operating system's CSPRNG.
pub fn random_bytes(n: usize) -> Vec<u8> {
    use rand::RngCore;
    let mut v = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut v);
    v
}

/// Lowercase hex.
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// Parses hex (either case) into bytes.
pub fn from_hex(text: &str) -> Option<Vec<u8>> {
    let text = text.trim().as_bytes();
    if !text.len().is_multiple_of(2) {
        return None;
    }
    let nib = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    text.chunks(2)
        .map(|p| Some(nib(p[0])? << 4 | nib(p[1])?))
        .collect()
}

/// Parses a secret-box key: 32 raw bytes, or 64 hex characters (optionally
/// followed by whitespace).
pub fn parse_secret_box_key(bytes: &[u8]) -> Result<SecretBytes, SecretsError> {
    if bytes.len() == 32 {
        return Ok(SecretBytes::new(bytes.to_vec()));
    }
    let text = std::str::from_utf8(bytes).unwrap_or("");
    match from_hex(text) {
        Some(key) if key.len() == 32 => Ok(SecretBytes::new(key)),
        _ => Err(SecretsError::Malformed {
            what: "secret box key",
            why: "expected 64 hex characters (32 bytes)".into(),
        }),
    }
}

/// First start of embedded mode: makes sure `<data_dir>/secrets/` holds the
/// internal token, the secret-box key and the JWT private key, generating
/// each one that is missing, and returns them.
///
/// - the directory is created 0700, every file 0600 (created with that mode,
///   verified before a byte is written, published atomically);
/// - an existing file that group or others can read is refused with
///   [`SecretsError::InsecurePermissions`], never silently used or fixed;
/// - `jwt_keygen` is called only when the JWT key file does not exist yet;
///   it returns the encoded private key (`crates/auth` owns the format).
///
/// Distributed mode never calls this: production secrets come from the
/// environment or from files the operator provisions.
pub fn ensure_embedded_secrets(
    data_dir: &Path,
    jwt_keygen: impl FnOnce() -> Vec<u8>,
) -> Result<Secrets, SecretsError> {
    let dir = data_dir.join("secrets");
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(io_err("cannot create secrets directory", &dir))?;

    let token_path = dir.join(INTERNAL_TOKEN_FILE);
    let token = read_or_create(&token_path, || to_hex(&random_bytes(32)).into_bytes())?;
    let token = String::from_utf8(token)
        .map(|t| t.trim().to_string())
        .map_err(|_| SecretsError::Malformed {
            what: "internal token",
            why: format!("{} is not UTF-8", token_path.display()),
        })?;

    let box_path = dir.join(SECRET_BOX_KEY_FILE);
    let box_key = read_or_create(&box_path, || to_hex(&random_bytes(32)).into_bytes())?;
    let box_key = parse_secret_box_key(&box_key)?;

    let jwt_path = dir.join(JWT_PRIVATE_KEY_FILE);
    let jwt = read_or_create(&jwt_path, jwt_keygen)?;

    Ok(Secrets {
        internal_token: Secret::new(token),
        secret_box_key: Some(box_key),
        jwt_private_key: Some(SecretBytes::new(jwt)),
        jwt_public_key: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let b = random_bytes(32);
        assert_eq!(from_hex(&to_hex(&b)).unwrap(), b);
        assert_eq!(from_hex("0aFf").unwrap(), vec![10, 255]);
        assert!(from_hex("abc").is_none());
        assert!(from_hex("zz").is_none());
    }
}
