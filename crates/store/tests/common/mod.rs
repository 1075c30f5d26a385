//! Runs one storage test body against SQLite and against PostgreSQL.
//!
//! SQLite: a fresh file in a temporary directory per test.
//! PostgreSQL: a fresh database per test (flowex_testkit::postgres: the
//! server of `FLOWEX_TEST_POSTGRES_URL`; skipped with a notice without it,
//! unless `FLOWEX_REQUIRE_POSTGRES=1`).

use flowex_store::Store;
use std::future::Future;

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

pub async fn on_postgres<F, Fut>(name: &str, body: F)
where
    F: FnOnce(Store) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(db) = flowex_testkit::postgres::TestDatabase::create(name).await else {
        return;
    };
    let url = db.url.clone();
    let store = Store::connect(&url).await.expect("connect postgres");
    store.migrate().await.expect("migrate postgres");
    // Run the body as its own task so that a failing assertion still lets
    // us drop the database before the panic is passed on.
    let outcome = tokio::spawn(body(store.clone())).await;
    store.close().await;
    db.drop_database().await;
    if let Err(e) = outcome {
        match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(e) => panic!("{name}: test task failed: {e}"),
        }
    }
}
