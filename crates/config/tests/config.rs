//! Loading, precedence, validation, redaction and secret files.

use flowex_config::{
    ensure_embedded_secrets, read_secret_file, Config, ConfigError, Mode, SecretsError,
    JWT_PRIVATE_KEY_FILE,
};
use std::fs;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

const NO_ENV: [(&str, &str); 0] = [];

fn write_toml(dir: &Path, text: &str) -> std::path::PathBuf {
    let p = dir.join("flowex.toml");
    fs::write(&p, text).unwrap();
    p
}

fn invalid(result: Result<Config, ConfigError>) -> Vec<String> {
    match result {
        Err(ConfigError::Invalid(list)) => list,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

const PG: &str = "postgres://flowex:pg-pass-123@db:5432/flowex";
const TOKEN: &str = "internal-token-0123456789abcdef0123456789";

fn distributed_env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("FLOWEX_MODE", "distributed"),
        ("FLOWEX_DATABASE_URL", PG),
        ("FLOWEX_REDIS_URL", "redis://:redis-pass-456@redis:6379/0"),
        ("FLOWEX_INTERNAL_TOKEN", TOKEN),
    ]
}

#[test]
fn defaults_are_embedded_and_sane() {
    let c = Config::load_from(None, NO_ENV).unwrap();
    assert_eq!(c.mode, Mode::Embedded);
    assert_eq!(c.server.port, 8080);
    assert_eq!(c.server.body_limit_bytes, 64 * 1024);
    assert_eq!(c.server.request_timeout_ms, 10_000);
    assert_eq!(c.data_dir, Path::new("./data"));
    assert_eq!(
        c.database_url.as_ref().unwrap().expose(),
        "sqlite://./data/flowex.db?mode=rwc"
    );
    assert!(c.faucet_enabled());
    assert!(c.bot_enabled());
    assert_eq!(c.jwt.access_ttl_secs, 900);
    // Password rotation is off unless configured.
    assert_eq!(c.auth.password_max_age_days, 0);
    let on = Config::load_from(None, [("FLOWEX_AUTH__PASSWORD_MAX_AGE_DAYS", "90")]).unwrap();
    assert_eq!(on.auth.password_max_age_days, 90);
}

#[test]
fn file_overrides_defaults_and_env_overrides_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_toml(
        dir.path(),
        r#"
data_dir = "/var/lib/flowex"
[server]
port = 9000
body_limit_bytes = 2048
request_timeout_ms = 3000
[cors]
allowed_origins = ["https://file.example"]
[rate_limits]
ip_weight_per_minute = 1200
orders_per_10s = 50
[faucet.amounts]
btc = "0.5"
"#,
    );
    let c = Config::load_from(Some(&file), NO_ENV).unwrap();
    assert_eq!(c.server.port, 9000);
    assert_eq!(c.server.body_limit_bytes, 2048);
    assert_eq!(c.rate_limits.ip_weight_per_minute, 1200);
    assert_eq!(
        c.rate_limits.user_weight_per_minute, 6000,
        "untouched default"
    );
    assert_eq!(c.cors.allowed_origins, ["https://file.example"]);
    assert_eq!(c.faucet.amounts["BTC"], "0.5", "asset codes upper-cased");
    assert_eq!(
        c.database_url.unwrap().expose(),
        "sqlite:///var/lib/flowex/flowex.db?mode=rwc"
    );

    let env = [
        ("FLOWEX_PORT", "9100"),
        ("FLOWEX_SERVER__REQUEST_TIMEOUT_MS", "4000"),
        (
            "FLOWEX_CORS_ORIGINS",
            "https://a.example, https://b.example:8443",
        ),
        ("FLOWEX_RATE_LIMITS__ORDERS_PER_10S", "7"),
        ("FLOWEX_LOG__JSON", "true"),
        ("FLOWEX_FAUCET__AMOUNTS__ETH", "2"),
        ("FLOWEX_DATA_DIR", "/srv/flowex"),
        ("FLOWEX_CONFIG", "/ignored/by/the/crate.toml"),
        ("HOME", "/root"),
    ];
    let c = Config::load_from(Some(&file), env).unwrap();
    assert_eq!(c.server.port, 9100, "env beats file");
    assert_eq!(c.server.body_limit_bytes, 2048, "file value kept");
    assert_eq!(c.server.request_timeout_ms, 4000);
    assert_eq!(
        c.cors.allowed_origins,
        ["https://a.example", "https://b.example:8443"]
    );
    assert_eq!(c.rate_limits.orders_per_10s, 7);
    assert_eq!(c.rate_limits.ip_weight_per_minute, 1200);
    assert!(c.log.json);
    assert_eq!(c.faucet.amounts["BTC"], "0.5");
    assert_eq!(c.faucet.amounts["ETH"], "2");
    assert_eq!(c.data_dir, Path::new("/srv/flowex"));
}

#[test]
fn long_form_beats_alias() {
    let env = [("FLOWEX_SERVER__PORT", "1111"), ("FLOWEX_PORT", "2222")];
    assert_eq!(Config::load_from(None, env).unwrap().server.port, 1111);
    let key_a = "aa".repeat(32);
    let key_b = "bb".repeat(32);
    let env = [
        ("FLOWEX_SECRET_BOX_KEY", key_a.as_str()),
        ("FLOWEX_SECRETS__SECRET_BOX_KEY", key_b.as_str()),
    ];
    let c = Config::load_from(None, env).unwrap();
    assert_eq!(c.secrets.secret_box_key.unwrap().expose(), key_b);
}

#[test]
fn the_journal_syncs_unless_told_not_to() {
    use flowex_config::JournalDurability;
    let c = Config::load_from(None, NO_ENV).unwrap();
    assert_eq!(c.journal.durability, JournalDurability::Fsync);
    let c = Config::load_from(None, [("FLOWEX_JOURNAL__DURABILITY", "none")]).unwrap();
    assert_eq!(c.journal.durability, JournalDurability::None);
    let e = Config::load_from(None, [("FLOWEX_JOURNAL__DURABILITY", "fast")]).unwrap_err();
    assert!(e.to_string().contains("journal.durability"), "{e}");
}

#[test]
fn bad_env_values_name_the_variable() {
    let e = Config::load_from(None, [("FLOWEX_PORT", "eighty")]).unwrap_err();
    let m = e.to_string();
    assert!(
        m.contains("FLOWEX_PORT") && m.contains("whole number"),
        "{m}"
    );

    let e = Config::load_from(None, [("FLOWEX_PORT", "70000")]).unwrap_err();
    let m = e.to_string();
    assert!(
        m.contains("server.port") && m.contains("FLOWEX_PORT"),
        "{m}"
    );

    let e = Config::load_from(None, [("FLOWEX_PROT", "80")]).unwrap_err();
    let m = e.to_string();
    assert!(m.contains("prot"), "unknown variables are refused: {m}");

    // The test harness's own variables are not settings.
    let harness = [
        ("FLOWEX_TEST_POSTGRES_URL", "postgres://x"),
        ("FLOWEX_REQUIRE_POSTGRES", "1"),
    ];
    assert!(Config::load_from(None, harness).is_ok());

    let e = Config::load_from(None, [("FLOWEX_SERVER", "80")]).unwrap_err();
    assert!(e.to_string().contains("section"), "{e}");

    let e = Config::load_from(None, [("FLOWEX_LOG_JSON", "maybe")]).unwrap_err();
    assert!(e.to_string().contains("true or false"), "{e}");
}

#[test]
fn bad_file_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let f = write_toml(dir.path(), "[server\nport = 1");
    assert!(matches!(
        Config::load_from(Some(&f), NO_ENV),
        Err(ConfigError::Parse { .. })
    ));
    let f = write_toml(dir.path(), "[server]\nprot = 1");
    let e = Config::load_from(Some(&f), NO_ENV).unwrap_err().to_string();
    assert!(e.contains("prot"), "{e}");
    let missing = dir.path().join("nope.toml");
    assert!(matches!(
        Config::load_from(Some(&missing), NO_ENV),
        Err(ConfigError::Read { .. })
    ));
}

#[test]
fn distributed_mode_requires_its_services() {
    let errs = invalid(Config::load_from(None, [("FLOWEX_MODE", "distributed")]));
    let all = errs.join("\n");
    assert!(all.contains("database_url"), "{all}");
    assert!(all.contains("redis_url"), "{all}");
    assert!(all.contains("internal_token"), "{all}");
    assert_eq!(errs.len(), 3, "{all}");

    let c = Config::load_from(None, distributed_env()).unwrap();
    assert_eq!(c.mode, Mode::Distributed);
    assert!(!c.faucet_enabled() && !c.bot_enabled());

    let mut env = distributed_env();
    env[1] = ("FLOWEX_DATABASE_URL", "sqlite://./x.db");
    let all = invalid(Config::load_from(None, env)).join("\n");
    assert!(all.contains("PostgreSQL"), "{all}");

    let mut env = distributed_env();
    env.push(("FLOWEX_FAUCET__ENABLED", "true"));
    let all = invalid(Config::load_from(None, env)).join("\n");
    assert!(all.contains("faucet.enabled"), "{all}");

    let mut env = distributed_env();
    env[3] = ("FLOWEX_INTERNAL_TOKEN", "short");
    let all = invalid(Config::load_from(None, env)).join("\n");
    assert!(all.contains("at least 32"), "{all}");
}

#[test]
fn validation_lists_every_problem() {
    let env = [
        ("FLOWEX_JWT__ACCESS_TTL_SECS", "3600"),
        ("FLOWEX_CORS_ORIGINS", "*,https://ok.example,not-an-origin"),
        ("FLOWEX_CORS__ALLOW_CREDENTIALS", "true"),
        ("FLOWEX_FAUCET__AMOUNTS__BTC", "1e3"),
        ("FLOWEX_SERVER__BODY_LIMIT_BYTES", "10"),
        ("FLOWEX_RATE_LIMITS__ORDERS_PER_DAY", "0"),
        ("FLOWEX_SECRET_BOX_KEY", "not-hex"),
        ("FLOWEX_AUTH__PASSWORD_MAX_AGE_DAYS", "4000"),
    ];
    let errs = invalid(Config::load_from(None, env));
    let all = errs.join("\n");
    for needle in [
        "jwt.access_ttl_secs is 3600",
        "15 minutes",
        "\"*\" while cors.allow_credentials",
        "not-an-origin",
        "faucet.amounts.BTC",
        "body_limit_bytes",
        "orders_per_day",
        "64 hex",
        "auth.password_max_age_days is 4000",
    ] {
        assert!(all.contains(needle), "missing {needle:?} in\n{all}");
    }
    assert_eq!(errs.len(), 8, "{all}");
    let shown = ConfigError::Invalid(errs).to_string();
    assert!(shown.starts_with("invalid configuration:\n  - "), "{shown}");
}

#[test]
fn redaction_hides_every_secret() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("jwt.pem");
    let box_key = "0123456789abcdef".repeat(4);
    let jwt_key = "-----BEGIN PRIVATE KEY-----MC4CAQAwBQYDK2VwBCIEIJWTSECRET";
    let mut env = distributed_env();
    env.push(("FLOWEX_SECRET_BOX_KEY", &box_key));
    env.push(("FLOWEX_JWT_PRIVATE_KEY", jwt_key));
    env.push((
        "FLOWEX_SECRETS__JWT_PUBLIC_KEY_FILE",
        key_file.to_str().unwrap(),
    ));
    let c = Config::load_from(None, env).unwrap();
    for shown in [c.redacted(), c.to_string(), format!("{c:?}")] {
        for secret in [
            TOKEN,
            box_key.as_str(),
            jwt_key,
            "JWTSECRET",
            "pg-pass-123",
            "redis-pass-456",
        ] {
            assert!(!shown.contains(secret), "{secret} leaked in:\n{shown}");
        }
        assert!(shown.contains("[redacted]"), "{shown}");
    }
    let shown = c.redacted();
    assert!(
        shown.contains("postgres://flowex:[redacted]@db:5432/flowex"),
        "{shown}"
    );
    assert!(shown.contains("port = 8080"), "{shown}");
    assert!(shown.contains("mode = \"distributed\""), "{shown}");
    // The redacted output is itself valid TOML.
    shown.parse::<toml::Table>().unwrap();
}

fn mode_of(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn embedded_secrets_are_created_0600_and_reused() {
    let dir = tempfile::tempdir().unwrap();
    let mut calls = 0;
    let first = ensure_embedded_secrets(dir.path(), || {
        calls += 1;
        b"jwt-key-bytes".to_vec()
    })
    .unwrap();
    assert_eq!(calls, 1);
    let sdir = dir.path().join("secrets");
    assert_eq!(mode_of(&sdir), 0o700);
    for name in ["internal_token", "secret_box.key", JWT_PRIVATE_KEY_FILE] {
        assert_eq!(mode_of(&sdir.join(name)), 0o600, "{name}");
    }
    assert_eq!(first.internal_token.expose().len(), 64);
    assert_eq!(first.require_secret_box_key().unwrap().len(), 32);
    assert_eq!(first.require_jwt_private_key().unwrap(), b"jwt-key-bytes");
    // No stray temporary files.
    assert_eq!(fs::read_dir(&sdir).unwrap().count(), 3);

    let second = ensure_embedded_secrets(dir.path(), || panic!("must not regenerate")).unwrap();
    assert_eq!(second.internal_token, first.internal_token);
    assert_eq!(second.secret_box_key, first.secret_box_key);
    assert_eq!(second.jwt_private_key, first.jwt_private_key);

    // Another data dir gets different secrets.
    let other = tempfile::tempdir().unwrap();
    let third = ensure_embedded_secrets(other.path(), || b"k".to_vec()).unwrap();
    assert_ne!(third.internal_token, first.internal_token);
}

#[test]
fn group_or_world_readable_secret_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    ensure_embedded_secrets(dir.path(), || b"jwt".to_vec()).unwrap();
    let token = dir.path().join("secrets/internal_token");
    fs::set_permissions(&token, fs::Permissions::from_mode(0o644)).unwrap();
    let err = ensure_embedded_secrets(dir.path(), || b"jwt".to_vec()).unwrap_err();
    match &err {
        SecretsError::InsecurePermissions { path, mode } => {
            assert_eq!(path, &token);
            assert_eq!(*mode, 0o644);
        }
        other => panic!("{other:?}"),
    }
    let m = err.to_string();
    assert!(m.contains("0644") && m.contains("chmod 600"), "{m}");

    // Group-readable only is refused too; 0400 is fine.
    fs::set_permissions(&token, fs::Permissions::from_mode(0o640)).unwrap();
    assert!(read_secret_file(&token).is_err());
    fs::set_permissions(&token, fs::Permissions::from_mode(0o400)).unwrap();
    assert!(read_secret_file(&token).is_ok());
}

#[test]
fn distributed_secrets_come_from_files_and_env_only() {
    let dir = tempfile::tempdir().unwrap();
    let box_file = dir.path().join("box.key");
    let jwt_file = dir.path().join("jwt.pem");
    for (p, content) in [(&box_file, "ab".repeat(32)), (&jwt_file, "PEM".to_string())] {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(p)
            .unwrap();
        std::io::Write::write_all(&mut f, content.as_bytes()).unwrap();
    }
    let data_dir = dir.path().join("data");
    let mut env = distributed_env();
    let box_s = box_file.to_str().unwrap().to_string();
    let jwt_s = jwt_file.to_str().unwrap().to_string();
    let data_s = data_dir.to_str().unwrap().to_string();
    env.push(("FLOWEX_SECRET_BOX_KEY_FILE", &box_s));
    env.push(("FLOWEX_JWT_PRIVATE_KEY_FILE", &jwt_s));
    env.push(("FLOWEX_DATA_DIR", &data_s));
    let c = Config::load_from(None, env.clone()).unwrap();
    let s = c
        .load_secrets(|| panic!("never generated in production"))
        .unwrap();
    assert_eq!(s.internal_token.expose(), TOKEN);
    assert_eq!(s.require_secret_box_key().unwrap(), [0xab; 32]);
    assert_eq!(s.require_jwt_private_key().unwrap(), b"PEM");
    assert!(!data_dir.exists(), "distributed mode writes no secrets");

    fs::set_permissions(&jwt_file, fs::Permissions::from_mode(0o644)).unwrap();
    let e = c.load_secrets(Vec::new).unwrap_err().to_string();
    assert!(e.contains("refusing") && e.contains("jwt.pem"), "{e}");

    // Without the optional keys, a service that needs them gets a clear error.
    let c = Config::load_from(None, distributed_env()).unwrap();
    let s = c.load_secrets(Vec::new).unwrap();
    let e = s.require_jwt_private_key().unwrap_err().to_string();
    assert!(e.contains("FLOWEX_JWT_PRIVATE_KEY"), "{e}");
}

#[test]
fn embedded_load_secrets_generates_then_honours_overrides() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let c = Config::load_from(None, [("FLOWEX_DATA_DIR", data)]).unwrap();
    let s = c.load_secrets(|| b"generated".to_vec()).unwrap();
    assert_eq!(s.require_jwt_private_key().unwrap(), b"generated");
    let c = Config::load_from(
        None,
        [("FLOWEX_DATA_DIR", data), ("FLOWEX_INTERNAL_TOKEN", TOKEN)],
    )
    .unwrap();
    let s = c.load_secrets(|| b"again".to_vec()).unwrap();
    assert_eq!(s.internal_token.expose(), TOKEN);
    assert_eq!(s.require_jwt_private_key().unwrap(), b"generated");
}

#[test]
fn admin_cli_settings_come_from_the_environment_and_the_password_never_prints() {
    let env = [
        ("FLOWEX_ADMIN_CLI__SERVER", "https://exchange.example:8443"),
        ("FLOWEX_ADMIN_CLI__EMAIL", "ops@example.com"),
        ("FLOWEX_ADMIN_CLI__PASSWORD", "correct horse battery staple"),
    ];
    let c = Config::load_from(None, env).unwrap();
    assert_eq!(
        c.admin_cli.server.as_deref(),
        Some("https://exchange.example:8443")
    );
    assert_eq!(c.admin_cli.email.as_deref(), Some("ops@example.com"));
    let password = c.admin_cli.password.as_ref().unwrap();
    assert_eq!(password.expose(), "correct horse battery staple");
    for shown in [c.redacted(), c.to_string(), format!("{c:?}")] {
        assert!(!shown.contains("battery"), "{shown}");
    }
    let bad = Config::load_from(None, [("FLOWEX_ADMIN_CLI__SERVER", "exchange.example")]);
    let e = bad.unwrap_err().to_string();
    assert!(e.contains("admin_cli.server"), "{e}");
}
