//! Signing secrets sealed at rest, as someone holding a copy of the database meets
//! them: no secret in the file or the table, nothing opens without the key, a node
//! with the wrong key refuses to start rather than sign with garbage, and a key
//! rotation re-seals everything; on both backends.

use sluice_engine::ids::now_ms;
use sluice_engine::store::sealing::{parse_key, random_key};
use sluice_engine::store::Sealer;
use sluice_testkit::{on_both_backends, TestDb, TEST_SECRET_KEY};

use crate::harness::Harness;

on_both_backends!(a_copied_database_reveals_no_secret, keys_rotate_and_old_rows_are_sealed);

/// Every stored secret, as the database holds it.
async fn raw_secrets(db: &TestDb) -> Vec<(String, String)> {
    let sql = "SELECT id, secret FROM endpoint_secrets ORDER BY id";
    if db.url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(&db.url).await.expect("raw sqlite");
        let rows = sqlx::query_as(sql).fetch_all(&pool).await.expect("raw rows");
        pool.close().await;
        rows
    } else {
        let pool = sqlx::PgPool::connect(&db.url).await.expect("raw postgres");
        let rows = sqlx::query_as(sql).fetch_all(&pool).await.expect("raw rows");
        pool.close().await;
        rows
    }
}

/// Writes a stored value as it is, as a database from before sealing holds it.
async fn set_raw_secret(db: &TestDb, id: &str, value: &str) {
    let sql = "UPDATE endpoint_secrets SET secret = $1 WHERE id = $2";
    if db.url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(&db.url).await.expect("raw sqlite");
        sqlx::query(sql).bind(value).bind(id).execute(&pool).await.expect("raw update");
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(&db.url).await.expect("raw postgres");
        sqlx::query(sql).bind(value).bind(id).execute(&pool).await.expect("raw update");
        pool.close().await;
    }
}

async fn a_copied_database_reveals_no_secret(db: TestDb) {
    let h = Harness::new(db).await;
    let ep = h.endpoint("https://example.com/hook", None).await;
    let secret = h.sluice.endpoint_secrets(&h.scope, &ep.id).await.expect("secrets").key;
    let body = secret.trim_start_matches("whsec_").to_owned();

    for (_, stored) in raw_secrets(&h.db).await {
        assert!(stored.starts_with("sealed:v1:"), "stored sealed: {stored}");
        assert!(!stored.contains(&body), "the secret is not in the table");
    }
    if let Some(path) = h.db.url.strip_prefix("sqlite://") {
        // The files themselves, WAL included, as a copy or a backup would hold them.
        for file in [path.to_owned(), format!("{path}-wal")] {
            if let Ok(bytes) = std::fs::read(&file) {
                let found = bytes.windows(body.len()).any(|w| w == body.as_bytes());
                assert!(!found, "{file} holds the secret in the clear");
            }
        }
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(path).expect("db file").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "a new database file is its owner's only");
    }

    // Without the key: nothing opens, and the node says which key it needs.
    let stranger = Sealer::new(&random_key(), &[]);
    let refused = h.db.store_sealed_with(stranger).await.err().expect("the wrong key stops the start");
    let test_key = Sealer::new(&parse_key(TEST_SECRET_KEY).expect("key"), &[]);
    assert!(refused.to_string().contains(test_key.key_id()), "{refused}");
}

async fn keys_rotate_and_old_rows_are_sealed(db: TestDb) {
    let h = Harness::new(db).await;
    let ep = h.endpoint("https://example.com/hook", None).await;
    let before = h.store.valid_secrets(&ep.id, now_ms()).await.expect("secrets");
    let old = parse_key(TEST_SECRET_KEY).expect("key");

    // Rotation: the new key current, the old one previous; the start re-seals.
    let new = random_key();
    let rotated = h.db.store_sealed_with(Sealer::new(&new, &[old])).await.expect("opens with the previous key");
    assert_eq!(rotated.valid_secrets(&ep.id, now_ms()).await.expect("secrets"), before);
    let new_id = Sealer::new(&new, &[]).key_id().to_owned();
    assert!(raw_secrets(&h.db).await.iter().all(|(_, s)| s.starts_with(&format!("sealed:v1:{new_id}:"))));
    // The old key can go now.
    let only_new = h.db.store_sealed_with(Sealer::new(&new, &[])).await.expect("everything re-sealed");
    assert_eq!(only_new.valid_secrets(&ep.id, now_ms()).await.expect("secrets"), before);

    // A database from before sealing: plain secrets are sealed at the next start.
    let (id, _) = raw_secrets(&h.db).await.remove(0);
    set_raw_secret(&h.db, &id, &before[0].secret).await;
    let upgraded = h.db.store_sealed_with(Sealer::new(&new, &[])).await.expect("start");
    assert_eq!(upgraded.valid_secrets(&ep.id, now_ms()).await.expect("secrets"), before);
    assert!(raw_secrets(&h.db).await.iter().all(|(_, s)| s.starts_with("sealed:v1:")));

    // A sealed value copied onto another endpoint's row does not open there.
    let other = h.endpoint("https://example.com/other", None).await;
    let rows = raw_secrets(&h.db).await;
    let other_row = h.store.valid_secrets(&other.id, now_ms()).await.expect("secrets")[0].id.to_string();
    set_raw_secret(&h.db, &other_row, &rows[0].1).await;
    assert!(upgraded.valid_secrets(&other.id, now_ms()).await.is_err(), "a swapped value is refused");
    assert_eq!(upgraded.valid_secrets(&ep.id, now_ms()).await.expect("its own row still opens"), before);
}
