//! The Sluice process under test: started from the release binary with production
//! settings, probed through /proc for memory and CPU, stopped with SIGTERM.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tokio::process::{Child, Command};

pub const PLATFORM_KEY: &str = "sk_bench_platform_key_not_secret";

/// One fixed key for every run: PostgreSQL needs it set, and a benchmark database
/// holds nothing worth keeping secret.
const SECRET_KEY: &str = "YmVuY2htYXJrLXNlYWxpbmcta2V5LTMyLWJ5dGVzISE=";

/// Runs `binary` with the subcommand `args` against `database_url`, as an operator at
/// the server's console would, and answers its standard output.
pub async fn run_console(binary: &Path, database_url: &str, workdir: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(binary)
        .args(args)
        .env("SLUICE_DATABASE_URL", database_url)
        .env("SLUICE_SECRET_KEY", SECRET_KEY)
        .env("SLUICE_LOG", "warn")
        .current_dir(workdir)
        .output()
        .await
        .with_context(|| format!("running {} {}", binary.display(), args.join(" ")))?;
    if !out.status.success() {
        bail!("sluice {} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

pub struct SluiceProcess {
    child: Child,
    pub base: String,
    pid: u32,
}

/// How long the benchmark keeps an idle connection to Sluice: less than the server's
/// header timeout (`SLUICE_HTTP_HEADER_TIMEOUT_SECONDS`, 10 s), which also closes idle
/// keep-alive connections. A request sent on a connection the server is closing fails
/// ("connection closed before message completed"); the scheduling run, which waits
/// exactly 10 s between two reads of `/metrics`, failed so twice.
const IDLE_CONNECTION: Duration = Duration::from_secs(5);

/// An HTTP client for Sluice keeping up to `idle_per_host` idle connections.
pub fn http_client(idle_per_host: usize) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder().pool_max_idle_per_host(idle_per_host).pool_idle_timeout(IDLE_CONNECTION).build()
}

impl SluiceProcess {
    /// Starts `binary` on a free loopback port against `database_url` and waits until
    /// `/readyz` says migrations ran and workers started.
    pub async fn start(binary: &Path, database_url: &str, workdir: &Path) -> anyhow::Result<Self> {
        Self::start_with(binary, database_url, workdir, &[]).await
    }

    /// As [`SluiceProcess::start`], with these variables set as well.
    pub async fn start_with(
        binary: &Path,
        database_url: &str,
        workdir: &Path,
        env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let listen = format!("127.0.0.1:{port}");
        let log = std::fs::File::create(workdir.join("sluice.log"))?;
        let child = Command::new(binary)
            .env("SLUICE_LISTEN", &listen)
            .env("SLUICE_DATABASE_URL", database_url)
            .env("SLUICE_BOOTSTRAP_API_KEY", PLATFORM_KEY)
            .env("SLUICE_SECRET_KEY", SECRET_KEY)
            // The receiver is on loopback; everything else is the production default.
            .env("SLUICE_ALLOW_PRIVATE_TARGETS", "true")
            .env("SLUICE_LOG", "warn")
            .envs(env.iter().copied())
            .current_dir(workdir)
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let pid = child.id().context("sluice exited at once")?;
        let base = format!("http://{listen}");
        let process = Self { child, base, pid };
        process.wait_ready().await?;
        Ok(process)
    }

    async fn wait_ready(&self) -> anyhow::Result<()> {
        let client = http_client(1)?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(r) = client.get(format!("{}/readyz", self.base)).send().await {
                if r.status().is_success() {
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("sluice did not become ready within 30 s (see its log in the work directory)")
    }

    /// Peak resident set size so far, in bytes (the kernel's high-water mark).
    pub fn peak_rss_bytes(&self) -> anyhow::Result<u64> {
        self.status_bytes("VmHWM:")
    }

    /// Current resident set size, in bytes.
    pub fn rss_bytes(&self) -> anyhow::Result<u64> {
        self.status_bytes("VmRSS:")
    }

    /// A `kB` field of /proc/<pid>/status, in bytes.
    fn status_bytes(&self, field: &str) -> anyhow::Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid))?;
        let kb = status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .with_context(|| format!("no {field} in /proc/<pid>/status"))?;
        Ok(kb * 1024)
    }

    /// One unlabelled value from `/metrics`: the first of `names` it has (a metric
    /// may be named differently by the build measured).
    pub async fn metric_of(&self, client: &reqwest::Client, names: &[&str]) -> anyhow::Result<f64> {
        let text = client.get(format!("{}/metrics", self.base)).bearer_auth(PLATFORM_KEY).send().await?;
        let text = text.error_for_status()?.text().await?;
        names
            .iter()
            .find_map(|name| {
                text.lines()
                    .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
                    .and_then(|v| v.trim().parse::<f64>().ok())
            })
            .with_context(|| format!("none of {names:?} in /metrics"))
    }

    /// User plus system CPU time the process has used, in seconds.
    pub fn cpu_seconds(&self) -> anyhow::Result<f64> {
        cpu_seconds_of(self.pid)
    }

    /// SIGTERM, then wait for the graceful exit.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let status = Command::new("kill").arg("-TERM").arg(self.pid.to_string()).status().await?;
        if !status.success() {
            bail!("could not signal sluice");
        }
        match tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await {
            Ok(r) => {
                r?;
                Ok(())
            }
            Err(_) => {
                self.child.kill().await?;
                bail!("sluice did not stop within 30 s of SIGTERM")
            }
        }
    }
}

/// CPU seconds of any process, from /proc/<pid>/stat (fields 14 and 15, in clock ticks).
pub fn cpu_seconds_of(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) may hold spaces; the fields after its ')' do not.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).context("malformed stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).context("malformed stat");
    // After ')' the first field is field 3, so utime (14) and stime (15) are at 11, 12.
    let total = ticks(11)? + ticks(12)?;
    Ok(total as f64 / clock_ticks_per_second())
}

/// CPU seconds of every PostgreSQL process on the machine (the benchmark's cluster is
/// the only one running), for what a run costs the database.
pub fn postgres_cpu_seconds() -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc") else { return 0.0 };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "postgres"))
        .filter_map(|pid| cpu_seconds_of(pid).ok())
        .sum()
}

fn clock_ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .unwrap_or(100.0)
}
