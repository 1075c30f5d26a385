//! Runs one storage test body against SQLite and against PostgreSQL.
//!
//! SQLite: a fresh file in a temporary directory per test.
//! PostgreSQL: `FLOWEX_TEST_POSTGRES_URL` names a server and a database we
//! may connect to (scripts/test-db.sh starts a throwaway one); each test
//! creates its own database with a random name and drops it afterwards, so
//! tests run in parallel. Without the variable the PostgreSQL half is
//! skipped with a notice, unless `FLOWEX_REQUIRE_POSTGRES=1` (CI), where it
//! fails.

use flowex_store::Store;
use sqlx::{Connection, Executor};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};

/// Declares `NAME::sqlite` and `NAME::postgres` tests running `async fn NAME(Store)`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $crate::common::on_sqlite(super::$name).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                $crate::common::on_postgres(stringify!($name), super::$name).await
            }
        }
    )*};
}

pub async fn on_sqlite<F, Fut>(body: F)
where
    F: FnOnce(Store) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
    let store = Store::connect(&url).await.expect("connect sqlite");
    store.migrate().await.expect("migrate sqlite");
    body(store.clone()).await;
    store.close().await;
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn random_suffix() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    format!("{:016x}", h.finish())
}

/// `url` with its database name replaced.
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let root = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{root}/{db}?{q}"),
        None => format!("{root}/{db}"),
    }
}

pub async fn on_postgres<F, Fut>(name: &str, body: F)
where
    F: FnOnce(Store) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let admin_url = match std::env::var("FLOWEX_TEST_POSTGRES_URL") {
        Ok(u) if !u.trim().is_empty() => u,
        _ => {
            if std::env::var("FLOWEX_REQUIRE_POSTGRES").as_deref() == Ok("1") {
                panic!(
                    "{name}: FLOWEX_REQUIRE_POSTGRES=1 but FLOWEX_TEST_POSTGRES_URL is not set. \
                     Start a throwaway server first: \
                     `source scripts/test-db.sh && start_test_postgres` (scripts/test does this)."
                );
            }
            eprintln!(
                "notice: {name}: PostgreSQL half SKIPPED (FLOWEX_TEST_POSTGRES_URL unset; \
                 `scripts/test-db.sh run cargo test -p flowex-store` runs it)"
            );
            return;
        }
    };
    sqlx::any::install_default_drivers();
    let db = format!("flowex_t_{}", random_suffix());
    {
        let mut admin = sqlx::AnyConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("{name}: connect to FLOWEX_TEST_POSTGRES_URL: {e}"));
        admin
            .execute(format!("CREATE DATABASE \"{db}\"").as_str())
            .await
            .expect("create test database");
        admin.close().await.ok();
    }
    let url = with_database(&admin_url, &db);
    let store = Store::connect(&url).await.expect("connect postgres");
    store.migrate().await.expect("migrate postgres");
    // Run the body as its own task so that a failing assertion still lets
    // us drop the database before the panic is passed on.
    let outcome = tokio::spawn(body(store.clone())).await;
    store.close().await;
    if let Ok(mut admin) = sqlx::AnyConnection::connect(&admin_url).await {
        let _ = admin
            .execute(format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)").as_str())
            .await;
        admin.close().await.ok();
    }
    if let Err(e) = outcome {
        match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(e) => panic!("{name}: test task failed: {e}"),
        }
    }
}

#[test]
fn database_name_is_replaced() {
    assert_eq!(
        with_database("postgres://u@h:1/flowex_test", "x"),
        "postgres://u@h:1/x"
    );
    assert_eq!(
        with_database("postgres://u:p@h/flowex_test?sslmode=disable", "x"),
        "postgres://u:p@h/x?sslmode=disable"
    );
    assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
}
