//! Test support shared by the engine's and the server's integration tests: a
//! throwaway database on either backend, and a real HTTP receiver on loopback that
//! verifies every signature with the official Standard Webhooks library and misbehaves
//! on request (500s, hangs, resets, 410, 429).

mod db;
mod receiver;
mod timing;

pub use db::{test_sealer, Backend, TestDb, TEST_SECRET_KEY};
pub use receiver::{Received, Receiver, Reply};
pub use timing::busiest_second;

/// Generates one `#[tokio::test]` per backend for each listed scenario. A scenario is
/// `async fn name(db: TestDb)`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = $crate::TestDb::new($crate::Backend::Sqlite).await;
                    super::$name(db.expect("SQLite is always available")).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(db) = $crate::TestDb::new($crate::Backend::Postgres).await {
                        super::$name(db).await;
                    }
                }
            )*
        }
    };
}

/// Polls `check` until it is true or `timeout` passes; returns whether it became true.
pub async fn eventually<F, Fut>(timeout: std::time::Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}
