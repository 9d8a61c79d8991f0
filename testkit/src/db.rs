//! Throwaway databases: a temp-file SQLite database, or a fresh PostgreSQL database
//! in the cluster named by `SLUICE_TEST_PG_URL` (which `make test` starts).

use sqlx::Connection;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database of its own for one test. SQLite files vanish with the value; PostgreSQL
/// databases live in a throwaway cluster that is deleted after the run.
pub struct TestDb {
    pub url: String,
    pub backend: Backend,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    /// `None` only for PostgreSQL outside CI when no cluster is configured. Under
    /// `CI=true` a missing cluster fails the test: the PostgreSQL run is mandatory.
    pub async fn new(backend: Backend) -> Option<Self> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("sluice.db").display());
                Some(Self { url, backend, _dir: Some(dir) })
            }
            Backend::Postgres => {
                let admin = match std::env::var("SLUICE_TEST_PG_URL") {
                    Ok(u) if !u.is_empty() => u,
                    _ => {
                        assert!(
                            std::env::var("CI").map(|v| v != "true").unwrap_or(true),
                            "CI=true but SLUICE_TEST_PG_URL is not set: the PostgreSQL tests must run (use `make test`)"
                        );
                        eprintln!("skipping a PostgreSQL test: SLUICE_TEST_PG_URL is not set (make test sets it)");
                        return None;
                    }
                };
                let name = format!("sluice_t_{}", ulid::Ulid::new().to_string().to_lowercase());
                let mut conn =
                    sqlx::PgConnection::connect(&admin).await.expect("connect to the test PostgreSQL cluster");
                sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.expect("create test database");
                let _ = conn.close().await;
                let mut url = url::Url::parse(&admin).expect("SLUICE_TEST_PG_URL is a URL");
                url.set_path(&name);
                Some(Self { url: url.to_string(), backend, _dir: None })
            }
        }
    }

    /// Connects a store (running migrations), sealing secrets with [`TEST_SECRET_KEY`]
    /// like every other store and server a test opens on this database.
    pub async fn store(&self) -> std::sync::Arc<dyn sluice_engine::store::Store> {
        self.store_sealed_with(test_sealer()).await.expect("connect store")
    }

    /// Connects a store whose secrets are sealed with `sealer`: for the tests that
    /// open the database with another key.
    pub async fn store_sealed_with(
        &self,
        sealer: sluice_engine::store::Sealer,
    ) -> sluice_engine::Result<std::sync::Arc<dyn sluice_engine::store::Store>> {
        sluice_engine::store::connect(&self.url, 16, sealer).await
    }
}

/// The secret key every test store and server seals signing secrets with (base64):
/// two nodes of one test must share it, as two nodes in production must.
pub const TEST_SECRET_KEY: &str = "dGVzdC1zZWFsaW5nLWtleS0zMi1ieXRlcy1sb25nISE=";

pub fn test_sealer() -> sluice_engine::store::Sealer {
    let key = sluice_engine::store::sealing::parse_key(TEST_SECRET_KEY).expect("the test key parses");
    sluice_engine::store::Sealer::new(&key, &[])
}
