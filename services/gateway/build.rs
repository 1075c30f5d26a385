//! Embeds Swagger UI (`/docs`) into the gateway.
//!
//! The files come from the npm package `swagger-ui-dist`, pinned in
//! `web/package.json` and `web/package-lock.json` at the workspace root:
//!
//! 1. if `web/dist/docs/assets` already has them (a web build), they are
//!    copied from there;
//! 2. otherwise `npm ci` installs the locked packages into a copy of
//!    `web/`'s manifest under `OUT_DIR` (nothing in the checkout is
//!    written; `--omit=dev`, `--ignore-scripts`);
//! 3. `FLOWEX_SKIP_WEB_ASSETS=1` skips both.
//!
//! The files are then `include_bytes!`-ed through `OUT_DIR/swagger_ui.rs`.
//! When npm is missing, fails or times out, the build still succeeds: a
//! `cargo:warning=` says why, nothing is embedded, and `/docs` shows its
//! fallback page (the reason is compiled in and shown there too).
//!
//! The script reruns only when the manifest, the lock file or
//! `FLOWEX_SKIP_WEB_ASSETS` change (or copied web-build files change), so
//! cached builds neither call npm nor recompile the crate. To retry after
//! a failure, `touch web/package-lock.json`.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The files `/docs` needs, with their content types.
const FILES: [(&str, &str); 2] = [
    ("swagger-ui.css", "text/css; charset=utf-8"),
    ("swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
];
const SKIP_VAR: &str = "FLOWEX_SKIP_WEB_ASSETS";
/// npm ci gets this long in all (a black-holed registry must not hang the
/// build); each request `FETCH_TIMEOUT_MS`, with one retry.
const NPM_DEADLINE: Duration = Duration::from_secs(300);
const FETCH_TIMEOUT_MS: u32 = 60_000;

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("manifest dir"));
    let web = manifest.join("../../web");
    let web = web.canonicalize().unwrap_or(web);

    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed={SKIP_VAR}");
    for f in ["package.json", "package-lock.json"] {
        if web.join(f).is_file() {
            println!("cargo:rerun-if-changed={}", web.join(f).display());
        }
    }

    let embedded = out.join("swagger-ui");
    let result = if std::env::var_os(SKIP_VAR).is_some_and(|v| !v.is_empty() && v != "0") {
        Err(format!("{SKIP_VAR} is set"))
    } else {
        fetch(&web, &out, &embedded)
    };
    let generated = match result {
        Ok(()) => embed(&embedded),
        Err(why) => {
            println!(
                "cargo:warning=Swagger UI not embedded ({why}); /docs will show its fallback page"
            );
            not_embedded(&why)
        }
    };
    write_if_changed(&out.join("swagger_ui.rs"), &generated);
}

/// Puts the files in `dest`, from the web build or from npm.
fn fetch(web: &Path, out: &Path, dest: &Path) -> Result<(), String> {
    let built = web.join("dist/docs/assets");
    if FILES.iter().all(|(f, _)| built.join(f).is_file()) {
        for (f, _) in FILES {
            println!("cargo:rerun-if-changed={}", built.join(f).display());
        }
        return copy_files(&built, dest);
    }
    let (package, lock) = (web.join("package.json"), web.join("package-lock.json"));
    if !package.is_file() || !lock.is_file() {
        return Err(format!("no {} and {}", package.display(), lock.display()));
    }
    let npm_dir = out.join("web");
    let installed = npm_dir.join("node_modules/swagger-ui-dist");
    let stamp = npm_dir.join("installed-lock.json");
    let lock_text = read(&lock)?;
    // The same lock already installed (an earlier run, e.g. after a
    // build.rs edit): no npm.
    let fresh = fs::read(&stamp).is_ok_and(|s| s == lock_text)
        && FILES.iter().all(|(f, _)| installed.join(f).is_file());
    if !fresh {
        fs::create_dir_all(&npm_dir).map_err(|e| format!("{}: {e}", npm_dir.display()))?;
        let _ = fs::remove_file(&stamp);
        for (src, name) in [(&package, "package.json"), (&lock, "package-lock.json")] {
            fs::copy(src, npm_dir.join(name)).map_err(|e| format!("{}: {e}", src.display()))?;
        }
        npm_ci(&npm_dir)?;
        fs::write(&stamp, &lock_text).map_err(|e| format!("{}: {e}", stamp.display()))?;
    }
    copy_files(&installed, dest)
}

/// `npm ci` in `dir`, its output in `dir/npm.log`, within `NPM_DEADLINE`.
fn npm_ci(dir: &Path) -> Result<(), String> {
    let npm = if cfg!(windows) { "npm.cmd" } else { "npm" };
    let log_path = dir.join("npm.log");
    let log = fs::File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
    let err_log = log.try_clone().map_err(|e| e.to_string())?;
    let mut child = Command::new(npm)
        .current_dir(dir)
        .args([
            "ci",
            "--no-audit",
            "--no-fund",
            "--omit=dev",
            "--ignore-scripts",
        ])
        .args([
            "--loglevel=warn",
            "--update-notifier=false",
            "--fetch-retries=1",
        ])
        .arg(format!("--fetch-timeout={FETCH_TIMEOUT_MS}"))
        // swagger-ui-dist's dependency @scarf/scarf phones home from its
        // install script; scripts are off anyway, and this says no twice.
        .env("SCARF_ANALYTICS", "false")
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err_log)
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => "npm not found on PATH".to_string(),
            _ => format!("cannot run npm: {e}"),
        })?;
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() > NPM_DEADLINE => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "npm ci took over {} s, stopped",
                    NPM_DEADLINE.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => return Err(format!("waiting for npm: {e}")),
        }
    };
    if status.success() {
        return Ok(());
    }
    let text = fs::read_to_string(&log_path).unwrap_or_default();
    let npm_errors = || {
        text.lines()
            .filter_map(|l| l.strip_prefix("npm error ").or(l.strip_prefix("npm ERR! ")))
    };
    // The message (not the code/syscall/errno lines, stack or log pointer).
    let message = npm_errors()
        .find(|l| {
            !l.starts_with(char::is_whitespace)
                && !["code ", "syscall ", "errno ", "A complete log"]
                    .iter()
                    .any(|p| l.starts_with(p))
        })
        .or_else(|| text.lines().rev().find(|l| !l.trim().is_empty()))
        .unwrap_or("no output");
    let code = npm_errors()
        .find_map(|l| l.strip_prefix("code "))
        .map(|c| format!(" ({c})"))
        .unwrap_or_default();
    println!("cargo:warning=npm ci's output is in {}", log_path.display());
    Err(format!("npm ci failed, {status}: {}{code}", message.trim()))
}

fn copy_files(from: &Path, to: &Path) -> Result<(), String> {
    fs::create_dir_all(to).map_err(|e| format!("{}: {e}", to.display()))?;
    for (f, _) in FILES {
        let bytes = read(&from.join(f))?;
        write_if_changed_bytes(&to.join(f), &bytes);
    }
    Ok(())
}

fn read(p: &Path) -> Result<Vec<u8>, String> {
    fs::read(p).map_err(|e| format!("{}: {e}", p.display()))
}

/// FNV-1a, 64 bits: a cache-busting tag, not security.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn embed(dir: &Path) -> String {
    let mut s = String::from("// Generated by build.rs.\n");
    let mut all = Vec::new();
    s.push_str("const EMBEDDED: &[EmbeddedAsset] = &[\n");
    for (name, content_type) in FILES {
        let path = dir.join(name);
        let bytes = fs::read(&path).expect("copied above");
        all.extend_from_slice(&bytes);
        let _ = writeln!(
            s,
            "    EmbeddedAsset {{ name: {name:?}, content_type: {content_type:?}, etag: \"\\\"{:016x}\\\"\", bytes: include_bytes!({:?}) }},",
            fnv1a(&bytes),
            path.display().to_string(),
        );
    }
    s.push_str("];\n");
    let _ = writeln!(
        s,
        "const EMBEDDED_VERSION: &str = \"{:016x}\";",
        fnv1a(&all)
    );
    s.push_str("const NOT_EMBEDDED_BECAUSE: &str = \"\";\n");
    s
}

fn not_embedded(why: &str) -> String {
    format!(
        "// Generated by build.rs.\nconst EMBEDDED: &[EmbeddedAsset] = &[];\nconst EMBEDDED_VERSION: &str = \"\";\nconst NOT_EMBEDDED_BECAUSE: &str = {why:?};\n"
    )
}

/// Leaves the file (and its mtime) alone when unchanged.
fn write_if_changed(path: &Path, text: &str) {
    write_if_changed_bytes(path, text.as_bytes());
}

fn write_if_changed_bytes(path: &Path, bytes: &[u8]) {
    if fs::read(path).is_ok_and(|old| old == bytes) {
        return;
    }
    fs::write(path, bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}
