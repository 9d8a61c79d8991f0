//! The subcommands: `sluice verify` checks a received webhook's signature as a
//! receiver must, from the headers, the body and the secret; `sluice migrate`,
//! `sluice keys create` and `sluice users create` work on the configured database from
//! the console.

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use sluice_core::signing::{encode_secret, signature_header};
use sluice_engine::{Caller, Sluice};
use sluice_testkit::{Backend, TestDb, TEST_SECRET_KEY};

const BODY: &[u8] = br#"{"type":"order.paid","timestamp":"2026-11-26T00:00:00Z","data":{"order":7}}"#;

fn verify(secret: &str, timestamp: i64, signature: &str, body: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["verify", "--secret", secret, "--id", "msg_1", "--timestamp", &timestamp.to_string()])
        .args(["--signature", signature])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run sluice verify");
    child.stdin.take().expect("stdin").write_all(body).expect("write the body");
    child.wait_with_output().expect("sluice verify ends")
}

#[test]
fn verify_accepts_a_good_signature_and_says_why_it_refuses_others() {
    let key = [7u8; 32];
    let secret = encode_secret(&key);
    let now = chrono::Utc::now().timestamp();
    // As sent mid-rotation: the old secret's signature first.
    let signature = signature_header([&[1u8; 32][..], &key[..]], "msg_1", now, BODY);

    let ok = verify(&secret, now, &signature, BODY);
    assert_eq!(ok.status.code(), Some(0), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("verifies"));

    let tampered = verify(&secret, now, &signature, &BODY[..BODY.len() - 1]);
    assert_eq!(tampered.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&tampered.stderr).contains("no signature"));

    let old = now - 3_600;
    let replayed = verify(&secret, old, &signature_header([&key[..]], "msg_1", old, BODY), BODY);
    assert_eq!(replayed.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&replayed.stderr).contains("beyond the tolerance"));

    let wrong_secret = verify(&encode_secret(&[9u8; 32]), now, &signature, BODY);
    assert_eq!(wrong_secret.status.code(), Some(1));
    let not_a_secret = verify("whsec_nope", now, &signature, BODY);
    assert_eq!(not_a_secret.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&not_a_secret.stderr).contains("whsec_"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_and_keys_create_work_from_the_console() {
    let db = TestDb::new(Backend::Sqlite).await.expect("SQLite is always available");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(args)
            .env("SLUICE_DATABASE_URL", &db.url)
            .env("SLUICE_SECRET_KEY", TEST_SECRET_KEY)
            .output()
            .expect("run sluice")
    };
    let migrated = run(&["migrate"]);
    assert!(migrated.status.success(), "{}", String::from_utf8_lossy(&migrated.stderr));
    assert!(String::from_utf8_lossy(&migrated.stdout).contains("up to date"));

    let created = run(&["keys", "create", "--name", "deploy"]);
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let stdout = String::from_utf8_lossy(&created.stdout);
    let key = stdout.lines().last().expect("the key").trim().to_owned();
    assert!(key.starts_with("sk_"), "{stdout}");
    let sluice = Sluice::new(db.store().await, Arc::new(sluice_engine::Wake::new()));
    let caller = sluice.authenticate(&key).await.expect("authenticate").expect("the new key is accepted");
    assert!(matches!(caller, Caller::Platform { .. }), "{caller:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_create_works_from_the_console_and_refuses_bad_input() {
    let db = TestDb::new(Backend::Sqlite).await.expect("SQLite is always available");
    let run = |args: &[&str], stdin: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(args)
            .env("SLUICE_DATABASE_URL", &db.url)
            .env("SLUICE_SECRET_KEY", TEST_SECRET_KEY)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run sluice");
        // A refused command may exit before reading: a closed pipe is no failure here.
        let _ = child.stdin.take().expect("stdin").write_all(stdin.as_bytes());
        child.wait_with_output().expect("wait")
    };
    // A password typed on standard input.
    let typed = run(&["users", "create", "--email", "Ops@Example.com", "--role", "support"], "a long enough secret\n");
    assert!(typed.status.success(), "{}", String::from_utf8_lossy(&typed.stderr));
    let stdout = String::from_utf8_lossy(&typed.stdout);
    assert!(stdout.trim().starts_with("usr_") && !stdout.contains("password"), "{stdout}");
    let sluice = Sluice::new(db.store().await, Arc::new(sluice_engine::Wake::new()));
    let signed = sluice.sign_in("ops@example.com", "a long enough secret", None).await.expect("signs in");
    assert_eq!(signed.user.role, sluice_core::model::Role::Support);

    // None typed: one is generated and shown once.
    let tenant = sluice
        .create_tenant(
            &Caller::Platform { actor: "test".into() }.platform().expect("platform"),
            sluice_core::model::CreateTenant { name: "Acme".into(), ..Default::default() },
        )
        .await
        .expect("tenant")
        .id;
    let args = ["users", "create", "--email", "pat@acme.test", "--role", "partner", "--tenant", tenant.as_str()];
    let generated = run(&args, "");
    assert!(generated.status.success(), "{}", String::from_utf8_lossy(&generated.stderr));
    let stdout = String::from_utf8_lossy(&generated.stdout);
    let password = stdout.lines().find_map(|l| l.strip_prefix("password: ")).expect("the generated password");
    let signed = sluice.sign_in("pat@acme.test", password, None).await.expect("signs in");
    assert_eq!(signed.user.tenant_id, Some(tenant));

    // Refused, with the reason, and nobody made.
    for (args, why) in [
        (vec!["users", "create", "--email", "x@y.test", "--role", "root"], "not a role"),
        (vec!["users", "create", "--email", "x@y.test", "--role", "partner"], "tenant"),
        (vec!["users", "create", "--email", "x@y.test", "--role", "partner", "--tenant", "tn_nope"], "tenant"),
        (vec!["users", "create", "--email", "ops@example.com", "--role", "admin"], "email"),
        (vec!["users", "create", "--email", "x@y.test", "--role", "admin"], "password"),
    ] {
        let stdin = if why == "password" { "short\n" } else { "a long enough secret\n" };
        let refused = run(&args, stdin);
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(!refused.status.success(), "{args:?} must fail");
        assert!(stderr.contains(why), "{args:?}: {stderr}");
    }
    assert!(sluice.sign_in("x@y.test", "a long enough secret", None).await.is_err(), "nobody made");
}
