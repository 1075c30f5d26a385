//! Applying `FLOWEX_*` environment variables to the TOML tree.

use crate::{Config, ConfigError};

/// Short names for the settings people set most.
const ALIASES: &[(&str, &str)] = &[
    ("PORT", "server.port"),
    ("BIND", "server.bind"),
    ("INTERNAL_TOKEN_FILE", "secrets.internal_token_file"),
    ("JWT_PRIVATE_KEY", "secrets.jwt_private_key"),
    ("JWT_PRIVATE_KEY_FILE", "secrets.jwt_private_key_file"),
    ("JWT_PUBLIC_KEY", "secrets.jwt_public_key"),
    ("JWT_PUBLIC_KEY_FILE", "secrets.jwt_public_key_file"),
    ("SECRET_BOX_KEY", "secrets.secret_box_key"),
    ("SECRET_BOX_KEY_FILE", "secrets.secret_box_key_file"),
    ("CORS_ORIGINS", "cors.allowed_origins"),
    ("LOG_LEVEL", "log.level"),
    ("LOG_JSON", "log.json"),
    ("OTLP_ENDPOINT", "log.otlp_endpoint"),
];

/// Optional settings whose absent default cannot tell their type.
const OPTIONAL_BOOLS: &[&str] = &["faucet.enabled", "bot.enabled"];

/// Variables with the prefix that are not settings.
const NOT_SETTINGS: &[&str] = &["CONFIG"];
/// Prefixes (after `FLOWEX_`) reserved for the test harness (`FLOWEX_TEST_POSTGRES_URL`,
/// `FLOWEX_REQUIRE_POSTGRES`, ...): never settings, so a server started by a test ignores them.
const TEST_PREFIXES: &[&str] = &["TEST_", "REQUIRE_", "DIFF_", "BENCH_"];

/// Sets every `FLOWEX_*` variable into `tree`, typed after the default
/// configuration's value at the same path. Returns `(dotted path, variable)`
/// for error messages.
pub(crate) fn apply<K, V>(
    tree: &mut toml::Table,
    env: impl IntoIterator<Item = (K, V)>,
) -> Result<Vec<(String, String)>, ConfigError>
where
    K: AsRef<str>,
    V: AsRef<str>,
{
    let defaults = toml::Value::try_from(Config::default()).expect("defaults serialise");
    let mut vars: Vec<(String, String)> = env
        .into_iter()
        .filter_map(|(k, v)| {
            let k = k.as_ref();
            k.strip_prefix("FLOWEX_")
                .filter(|rest| !NOT_SETTINGS.contains(rest))
                .filter(|rest| !TEST_PREFIXES.iter().any(|p| rest.starts_with(p)))
                .map(|_| (k.to_string(), v.as_ref().to_string()))
        })
        .collect();
    // Deterministic order: aliases first, then long forms, so that when both
    // a short alias and its long form are set, the long form wins.
    vars.sort_by_key(|(k, _)| {
        let is_alias = ALIASES.iter().any(|(a, _)| k["FLOWEX_".len()..] == **a);
        (!is_alias, k.clone())
    });
    let mut applied = Vec::new();
    for (var, raw) in vars {
        let rest = &var["FLOWEX_".len()..];
        let path: Vec<String> = match ALIASES.iter().find(|(a, _)| *a == rest) {
            Some((_, p)) => p.split('.').map(str::to_string).collect(),
            None => rest.split("__").map(|s| s.to_ascii_lowercase()).collect(),
        };
        if path.iter().any(|p| p.is_empty()) {
            return Err(ConfigError::Env {
                var,
                message: "empty path segment (use __ between sections)".into(),
            });
        }
        let dotted = path.join(".");
        let bool_hint = toml::Value::Boolean(false);
        let default = lookup(&defaults, &path).or_else(|| {
            OPTIONAL_BOOLS
                .contains(&dotted.as_str())
                .then_some(&bool_hint)
        });
        let value = convert(&raw, default).map_err(|message| ConfigError::Env {
            var: var.clone(),
            message,
        })?;
        set(tree, &path, value).map_err(|message| ConfigError::Env {
            var: var.clone(),
            message,
        })?;
        applied.push((dotted, var));
    }
    Ok(applied)
}

fn lookup<'a>(v: &'a toml::Value, path: &[String]) -> Option<&'a toml::Value> {
    path.iter().try_fold(v, |v, p| v.as_table()?.get(p))
}

fn convert(raw: &str, default: Option<&toml::Value>) -> Result<toml::Value, String> {
    use toml::Value;
    Ok(match default {
        Some(Value::Integer(_)) => Value::Integer(
            raw.trim()
                .parse::<i64>()
                .map_err(|_| format!("expected a whole number, got {raw:?}"))?,
        ),
        Some(Value::Boolean(_)) => Value::Boolean(match raw.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => true,
            "false" | "0" | "no" | "off" => false,
            _ => return Err(format!("expected true or false, got {raw:?}")),
        }),
        Some(Value::Array(_)) => Value::Array(
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| Value::String(s.to_string()))
                .collect(),
        ),
        Some(Value::Table(_)) => {
            return Err("names a whole section; set one of its settings with __".into())
        }
        // Strings, and settings without a default (Option, maps): a string.
        _ => Value::String(raw.to_string()),
    })
}

fn set(tree: &mut toml::Table, path: &[String], value: toml::Value) -> Result<(), String> {
    let (last, parents) = path.split_last().expect("non-empty path");
    let mut table = tree;
    for p in parents {
        let entry = table
            .entry(p.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        table = entry
            .as_table_mut()
            .ok_or_else(|| format!("`{p}` is not a section"))?;
    }
    table.insert(last.clone(), value);
    Ok(())
}
