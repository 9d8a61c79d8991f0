//! The sign-in storm (issue 10's target): hundreds of parallel wrong passwords, first
//! from one address at one account, then from as many addresses at as many accounts
//! (nothing throttled, so every attempt wants a password check), while the real admin
//! signs in from the address they used before. What matters: the process's peak
//! memory, and whether the owner got in, and how fast.

use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::process::SluiceProcess;

const ADMIN: &str = "admin@bench.test";
const PASSWORD: &str = "the-real-admin-password";
const OWNER_ADDRESS: &str = "203.0.113.1";

#[derive(Serialize, Debug)]
pub struct StormReport {
    pub attempts: usize,
    pub rss_before_mb: f64,
    /// One address, one account: the throttle answers almost all of it.
    pub one_address_checked: usize,
    pub one_address_throttled: usize,
    /// As many addresses as attempts, each at its own account.
    pub many_addresses_checked: usize,
    pub many_addresses_throttled: usize,
    pub many_addresses_seconds: f64,
    /// The owner, from their known address, in the middle of the second storm.
    pub owner_status: u16,
    pub owner_ms: f64,
    pub peak_rss_mb: f64,
}

async fn sign_in(client: &reqwest::Client, base: &str, email: &str, password: &str, from: &str) -> u16 {
    let body = format!("email={}&password={password}", email.replace('@', "%40"));
    let sent = client
        .post(format!("{base}/api/sign_in"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json")
        .header("x-forwarded-for", from)
        .body(body)
        .send()
        .await;
    sent.map(|r| r.status().as_u16()).unwrap_or(0)
}

/// (checked: 401, throttled: 429) among the answers.
fn tally(codes: &[u16]) -> (usize, usize) {
    (codes.iter().filter(|&&c| c == 401).count(), codes.iter().filter(|&&c| c == 429).count())
}

pub async fn run(sluice: &Path, database_url: &str, workdir: &Path, attempts: usize) -> anyhow::Result<StormReport> {
    eprintln!("== sign-in storm: {attempts} parallel wrong passwords, from one address and from {attempts}");
    let env = [
        ("SLUICE_TRUSTED_PROXIES", "127.0.0.1"),
        ("SLUICE_BOOTSTRAP_ADMIN_EMAIL", ADMIN),
        ("SLUICE_BOOTSTRAP_ADMIN_PASSWORD", PASSWORD),
    ];
    let proc = SluiceProcess::start_with(sluice, database_url, workdir, &env).await?;
    let client =
        reqwest::Client::builder().pool_max_idle_per_host(attempts).timeout(Duration::from_secs(60)).build()?;
    let base = proc.base.clone();
    anyhow::ensure!(sign_in(&client, &base, ADMIN, PASSWORD, OWNER_ADDRESS).await == 200, "the admin signs in");
    let rss_before_mb = proc.peak_rss_bytes()? as f64 / 1e6;

    let storm = |from_many: bool| {
        let (client, base) = (client.clone(), base.clone());
        async move {
            let tries = (0..attempts).map(|i| {
                let (client, base) = (client.clone(), base.clone());
                let (email, from) = if from_many {
                    (format!("user{i}@bench.test"), format!("198.51.{}.{}", 100 + i / 250, i % 250))
                } else {
                    (ADMIN.to_owned(), "198.51.100.7".to_owned())
                };
                tokio::spawn(async move { sign_in(&client, &base, &email, "a wrong password", &from).await })
            });
            let codes: Vec<u16> = futures::future::join_all(tries).await.into_iter().map(|r| r.unwrap_or(0)).collect();
            codes
        }
    };
    let (one_address_checked, one_address_throttled) = tally(&storm(false).await);

    let started = Instant::now();
    let many = tokio::spawn(storm(true));
    // The owner arrives while the storm is under way.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let owner_started = Instant::now();
    let owner_status = sign_in(&client, &base, ADMIN, PASSWORD, OWNER_ADDRESS).await;
    let owner_ms = owner_started.elapsed().as_secs_f64() * 1e3;
    let codes = many.await?;
    let many_addresses_seconds = started.elapsed().as_secs_f64();
    let (many_addresses_checked, many_addresses_throttled) = tally(&codes);
    let peak_rss_mb = proc.peak_rss_bytes()? as f64 / 1e6;
    proc.stop().await?;
    Ok(StormReport {
        attempts,
        rss_before_mb,
        one_address_checked,
        one_address_throttled,
        many_addresses_checked,
        many_addresses_throttled,
        many_addresses_seconds,
        owner_status,
        owner_ms,
        peak_rss_mb,
    })
}
