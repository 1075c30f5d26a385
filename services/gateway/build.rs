//! Builds the web UI (`/`) and embeds it, with Swagger UI (`/docs`), into
//! the gateway, so `cargo run -p flowex -- up` serves both with no other
//! step.
//!
//! 1. `npm ci --ignore-scripts` installs `web/package-lock.json` into
//!    `web/node_modules` (a folder of the checkout, kept between builds and
//!    shared with the web tests; skipped when the installed lock is the
//!    current one);
//! 2. `npm run build -- --outDir OUT_DIR/web-dist` type-checks and builds
//!    the UI with Vite into `OUT_DIR` (the checkout's `web/dist` is never
//!    written);
//! 3. every file of that build, and `swagger-ui.css` and
//!    `swagger-ui-bundle.js` of `swagger-ui-dist`, are `include_bytes!`-ed
//!    through `OUT_DIR/web_ui.rs` and `OUT_DIR/swagger_ui.rs`.
//!
//! `FLOWEX_SKIP_WEB_ASSETS=1` skips all of it. When npm is missing, fails or
//! times out, the build still succeeds: a `cargo:warning=` says why, what is
//! missing is not embedded, and `/` and `/docs` show fallback pages that say
//! why too. Nothing is downloaded at run time.
//!
//! The script reruns when the web sources, the manifest, the lock file or
//! `FLOWEX_SKIP_WEB_ASSETS` change. To retry after a failure,
//! `touch web/package-lock.json`.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The files `/docs` needs, with their content types.
const SWAGGER_FILES: [(&str, &str); 2] = [
    ("swagger-ui.css", "text/css; charset=utf-8"),
    ("swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
];
const SKIP_VAR: &str = "FLOWEX_SKIP_WEB_ASSETS";
/// What the UI build reads besides `node_modules` (changes rerun the script).
const WEB_INPUTS: [&str; 9] = [
    "package.json",
    "package-lock.json",
    "index.html",
    "vite.config.ts",
    "tsconfig.json",
    "src",
    "public",
    "scripts",
    "sw",
];
/// npm ci gets this long in all (a black-holed registry must not hang the
/// build); each request `FETCH_TIMEOUT_MS`, with one retry.
const NPM_CI_DEADLINE: Duration = Duration::from_secs(300);
/// The type check and Vite build together.
const NPM_BUILD_DEADLINE: Duration = Duration::from_secs(300);
const FETCH_TIMEOUT_MS: u32 = 60_000;
/// Written into `node_modules` after a successful `npm ci`: the lock it installed.
const STAMP: &str = ".flowex-installed-lock.json";

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("manifest dir"));
    let web = manifest.join("../../web");
    let web = web.canonicalize().unwrap_or(web);

    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed={SKIP_VAR}");
    for f in WEB_INPUTS {
        if web.join(f).exists() {
            println!("cargo:rerun-if-changed={}", web.join(f).display());
        }
    }

    let skip = std::env::var_os(SKIP_VAR).is_some_and(|v| !v.is_empty() && v != "0");
    let installed = if skip {
        Err(format!("{SKIP_VAR} is set"))
    } else {
        install(&web, &out)
    };
    let swagger = installed.clone().and_then(|()| {
        let dest = out.join("swagger-ui");
        copy_swagger(&web.join("node_modules/swagger-ui-dist"), &dest).map(|()| dest)
    });
    let ui = installed.and_then(|()| build_ui(&web, &out.join("web-dist")));
    write_if_changed(&out.join("swagger_ui.rs"), &swagger_rs(swagger));
    write_if_changed(&out.join("web_ui.rs"), &web_ui_rs(ui));
}

/// `npm ci` in `web/` unless `node_modules` already holds this lock.
fn install(web: &Path, out: &Path) -> Result<(), String> {
    let (package, lock) = (web.join("package.json"), web.join("package-lock.json"));
    if !package.is_file() || !lock.is_file() {
        return Err(format!("no {} and {}", package.display(), lock.display()));
    }
    let lock_text = read(&lock)?;
    let stamp = web.join("node_modules").join(STAMP);
    if fs::read(&stamp).is_ok_and(|s| s == lock_text) {
        return Ok(());
    }
    let log = out.join("npm-ci.log");
    npm(
        web,
        &[
            "ci",
            "--no-audit",
            "--no-fund",
            "--ignore-scripts",
            "--loglevel=warn",
            "--update-notifier=false",
            "--fetch-retries=1",
            &format!("--fetch-timeout={FETCH_TIMEOUT_MS}"),
        ],
        &log,
        NPM_CI_DEADLINE,
    )?;
    fs::write(&stamp, &lock_text).map_err(|e| format!("{}: {e}", stamp.display()))
}

/// `npm run build` with Vite's output in `dest`.
fn build_ui(web: &Path, dest: &Path) -> Result<PathBuf, String> {
    let out_dir = dest.display().to_string();
    let log = dest.with_extension("log");
    npm(
        web,
        &[
            "run",
            "build",
            "--silent",
            "--",
            "--outDir",
            &out_dir,
            "--emptyOutDir",
        ],
        &log,
        NPM_BUILD_DEADLINE,
    )?;
    if !dest.join("index.html").is_file() {
        return Err(format!("the web build wrote no {}/index.html", out_dir));
    }
    Ok(dest.to_path_buf())
}

/// Runs npm in `dir` with its output in `log`, within `deadline`.
fn npm(dir: &Path, args: &[&str], log_path: &Path, deadline: Duration) -> Result<(), String> {
    let npm = if cfg!(windows) { "npm.cmd" } else { "npm" };
    let what = format!("npm {}", args[..2].join(" "));
    let log = fs::File::create(log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
    let err_log = log.try_clone().map_err(|e| e.to_string())?;
    let mut child = Command::new(npm)
        .current_dir(dir)
        .args(args)
        // swagger-ui-dist's dependency @scarf/scarf phones home from its
        // install script; scripts are off anyway, and this says no twice.
        .env("SCARF_ANALYTICS", "false")
        .env("NO_COLOR", "1")
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
            Ok(None) if start.elapsed() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{what} took over {} s, stopped",
                    deadline.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => return Err(format!("waiting for npm: {e}")),
        }
    };
    if status.success() {
        return Ok(());
    }
    println!("cargo:warning={what}'s output is in {}", log_path.display());
    let text = fs::read_to_string(log_path).unwrap_or_default();
    Err(format!("{what} failed, {status}: {}", first_error(&text)))
}

/// The line of npm's (or the build's) output that says what went wrong.
fn first_error(text: &str) -> String {
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
        .or_else(|| text.lines().find(|l| l.contains("error")))
        .or_else(|| text.lines().rev().find(|l| !l.trim().is_empty()))
        .unwrap_or("no output");
    let code = npm_errors()
        .find_map(|l| l.strip_prefix("code "))
        .map(|c| format!(" ({c})"))
        .unwrap_or_default();
    format!("{}{code}", message.trim())
}

fn copy_swagger(from: &Path, to: &Path) -> Result<(), String> {
    fs::create_dir_all(to).map_err(|e| format!("{}: {e}", to.display()))?;
    for (f, _) in SWAGGER_FILES {
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

/// One `EmbeddedAsset { .. }` line of a generated table.
fn asset_line(s: &mut String, name: &str, content_type: &str, path: &Path, bytes: &[u8]) {
    let _ = writeln!(
        s,
        "    EmbeddedAsset {{ name: {name:?}, content_type: {content_type:?}, etag: \"\\\"{:016x}\\\"\", bytes: include_bytes!({:?}) }},",
        fnv1a(bytes),
        path.display().to_string(),
    );
}

/// `OUT_DIR/swagger_ui.rs`: EMBEDDED, EMBEDDED_VERSION, NOT_EMBEDDED_BECAUSE.
fn swagger_rs(dir: Result<PathBuf, String>) -> String {
    let dir = match dir {
        Ok(dir) => dir,
        Err(why) => {
            println!(
                "cargo:warning=Swagger UI not embedded ({why}); /docs will show its fallback page"
            );
            return format!(
                "// Generated by build.rs.\nconst EMBEDDED: &[EmbeddedAsset] = &[];\nconst EMBEDDED_VERSION: &str = \"\";\nconst NOT_EMBEDDED_BECAUSE: &str = {why:?};\n"
            );
        }
    };
    let mut s = String::from("// Generated by build.rs.\nconst EMBEDDED: &[EmbeddedAsset] = &[\n");
    let mut all = Vec::new();
    for (name, content_type) in SWAGGER_FILES {
        let path = dir.join(name);
        let bytes = fs::read(&path).expect("copied above");
        all.extend_from_slice(&bytes);
        asset_line(&mut s, name, content_type, &path, &bytes);
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

/// `OUT_DIR/web_ui.rs`: WEB_UI (every file of the build, by URL path
/// without the leading `/`) and WEB_UI_NOT_EMBEDDED_BECAUSE.
fn web_ui_rs(dir: Result<PathBuf, String>) -> String {
    let dir = match dir {
        Ok(dir) => dir,
        Err(why) => {
            println!("cargo:warning=web UI not embedded ({why}); / will show a page saying so");
            return format!(
                "// Generated by build.rs.\nconst WEB_UI: &[EmbeddedAsset] = &[];\nconst WEB_UI_NOT_EMBEDDED_BECAUSE: &str = {why:?};\n"
            );
        }
    };
    let mut files = Vec::new();
    walk(&dir, &mut files);
    files.sort();
    let mut s = String::from("// Generated by build.rs.\nconst WEB_UI: &[EmbeddedAsset] = &[\n");
    for path in files {
        let name = path.strip_prefix(&dir).expect("under dir");
        let name = name.to_string_lossy().replace('\\', "/");
        let bytes = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        asset_line(&mut s, &name, content_type(&name), &path, &bytes);
    }
    s.push_str("];\nconst WEB_UI_NOT_EMBEDDED_BECAUSE: &str = \"\";\n");
    s
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.is_dir() {
            walk(&path, files);
        } else {
            files.push(path);
        }
    }
}

/// The types a Vite build produces; anything else is served as bytes.
fn content_type(name: &str) -> &'static str {
    let ext = name.rsplit('.').next().unwrap_or("");
    match ext {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "webmanifest" => "application/manifest+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        "map" => "application/json",
        _ => "application/octet-stream",
    }
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
