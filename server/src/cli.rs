//! The `sluice` subcommands besides serving: `verify` checks a received webhook's
//! signature the way a receiver must (for partners debugging their endpoint, and for
//! scripts); `migrate` applies the schema and exits; `keys create` issues a platform
//! API key and `users create` a dashboard user from the console; `openapi` prints the
//! API's description.

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

use sluice_core::signing::{verify, DEFAULT_TOLERANCE_SECONDS};

use crate::ServerConfig;

#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Run the server (what `sluice` does with no subcommand).
    Serve,
    /// Check a received webhook's signature: exits 0 when it verifies, 1 with the
    /// reason when it does not, 2 when the body cannot be read.
    Verify(VerifyArgs),
    /// Apply pending database migrations and exit (every node also does at start):
    /// for a deploy step that migrates before the new nodes roll out.
    Migrate,
    /// Platform API keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Dashboard users.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Print the OpenAPI description of API v1 (as served at `/v1/openapi.json`).
    Openapi,
    /// Count the tenant overview's SLO roll-ups now, until caught up (one node does so
    /// every SLUICE_SLO_ROLLUP_INTERVAL_SECONDS): after a restore, or to see how far
    /// behind the job is.
    RollUp,
    /// Write made-up delivered history for a benchmark (`make bench`): never on a
    /// database that matters.
    #[command(hide = true)]
    BenchHistory(BenchHistoryArgs),
}

#[derive(Debug, Clone, clap::Args)]
pub struct BenchHistoryArgs {
    /// The tenant (`tn_…`) and its endpoint (`ep_…`) the deliveries are for.
    #[arg(long)]
    pub tenant: String,
    #[arg(long)]
    pub endpoint: String,
    /// How many deliveries, spread evenly over the last `days` days.
    #[arg(long)]
    pub deliveries: usize,
    #[arg(long, default_value_t = 30)]
    pub days: i64,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum KeysCommand {
    /// Issue a platform API key and print it (shown only now; stored hashed).
    Create {
        /// What the key is for, as the key list shows it.
        #[arg(long, default_value = "console")]
        name: String,
    },
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum UsersCommand {
    /// Create a dashboard user. The password is the first line of standard input (so
    /// it stays out of the process list and the shell's history); when that is empty,
    /// one is generated and printed, the only time it is shown.
    Create {
        #[arg(long)]
        email: String,
        /// admin, support or partner.
        #[arg(long, value_parser = parse_role)]
        role: sluice_core::model::Role,
        /// The partner's tenant (`tn_…`); partners only.
        #[arg(long)]
        tenant: Option<String>,
    },
}

fn parse_role(s: &str) -> Result<sluice_core::model::Role, String> {
    sluice_core::model::Role::parse(s).ok_or_else(|| format!("{s:?} is not a role: admin, support or partner"))
}

/// Opens the configured database, applying pending migrations.
async fn open(config: &ServerConfig) -> anyhow::Result<Arc<dyn sluice_engine::store::Store>> {
    let sealer = config.engine.sealer()?;
    let url = &config.engine.database_url;
    Ok(sluice_engine::store::connect(url, config.engine.database_max_connections, sealer).await?)
}

/// `sluice migrate`.
pub async fn run_migrate(config: &ServerConfig) -> anyhow::Result<()> {
    open(config).await?;
    println!("the database's schema is up to date");
    Ok(())
}

/// `sluice keys create`: the new key alone on standard output, for scripts.
pub async fn run_keys_create(config: &ServerConfig, name: &str) -> anyhow::Result<()> {
    let store = open(config).await?;
    let sluice = sluice_engine::Sluice::new(store, Arc::new(sluice_engine::Wake::new()));
    let created = sluice.create_platform_key_at_console(name).await?;
    println!("{}", created.key);
    Ok(())
}

/// `sluice users create`: the new user's id on standard output, and the password when
/// it was generated.
pub async fn run_users_create(
    config: &ServerConfig,
    email: &str,
    role: sluice_core::model::Role,
    tenant: Option<&str>,
) -> anyhow::Result<()> {
    let tenant_id = tenant
        .map(|t| sluice_core::ids::TenantId::parse(t.trim()))
        .transpose()
        .map_err(|e| anyhow::anyhow!("--tenant: {e}"))?;
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    let typed = line.trim_end_matches(['\r', '\n']);
    let generated = typed.is_empty().then(sluice_engine::service::generate_password);
    let password = generated.clone().unwrap_or_else(|| typed.to_owned());
    let store = open(config).await?;
    let sluice = sluice_engine::Sluice::new(store, Arc::new(sluice_engine::Wake::new()));
    let req = sluice_core::model::CreateUser { email: email.to_owned(), password, role, tenant_id };
    let user = sluice.create_user_at_console(req).await.map_err(console_error)?;
    println!("{}", user.id);
    if let Some(password) = generated {
        println!("password: {password}");
    }
    Ok(())
}

/// `sluice roll-up`.
pub async fn run_roll_up(config: &ServerConfig) -> anyhow::Result<()> {
    let store = open(config).await?;
    let sluice = sluice_engine::Sluice::new(store, Arc::new(sluice_engine::Wake::new()));
    let run = sluice.roll_up_at_console().await?;
    println!("hours counted: {}, counted again: {}, purged: {}", run.rolled, run.recounted, run.purged);
    Ok(())
}

/// `sluice bench-history`: one delivery in a hundred failed, the rest succeeded after
/// 50 ms to 10 s, ending an hour ago (so the roll-up job can count all of it).
pub async fn run_bench_history(config: &ServerConfig, args: &BenchHistoryArgs) -> anyhow::Result<()> {
    use sluice_engine::store::{PastDelivery, PastOutcome, HOUR_MS};
    let tenant = sluice_core::ids::TenantId::parse(&args.tenant).map_err(|e| anyhow::anyhow!("--tenant: {e}"))?;
    let endpoint =
        sluice_core::ids::EndpointId::parse(&args.endpoint).map_err(|e| anyhow::anyhow!("--endpoint: {e}"))?;
    let store = open(config).await?;
    let end = sluice_engine::ids::now_ms() - HOUR_MS;
    let span = args.days.max(1) * 24 * HOUR_MS;
    let step = (span / i64::try_from(args.deliveries.max(1))?).max(1);
    let mut written = 0;
    while written < args.deliveries {
        let rows: Vec<PastDelivery> = (written..args.deliveries.min(written + 10_000))
            .map(|i| {
                let n = i64::try_from(i).unwrap_or(0);
                PastDelivery {
                    tenant_id: tenant.clone(),
                    endpoint_id: endpoint.clone(),
                    created_at_ms: end - span + n * step,
                    outcome: if n % 100 == 99 {
                        PastOutcome::Failed
                    } else {
                        PastOutcome::SucceededAfter(50 + (n * 7_919) % 10_000)
                    },
                }
            })
            .collect();
        written += rows.len();
        store.insert_history(&rows).await?;
    }
    println!("{written} deliveries written");
    Ok(())
}

/// An engine error as a console user should read it: each refused field by name.
fn console_error(e: sluice_engine::Error) -> anyhow::Error {
    match e {
        sluice_engine::Error::Validation(fields) => {
            let each: Vec<String> = fields.iter().map(|f| format!("{}: {}", f.field, f.message)).collect();
            anyhow::anyhow!("invalid input: {}", each.join("; "))
        }
        e => anyhow::anyhow!("{e}"),
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct VerifyArgs {
    /// The endpoint's signing secret (`whsec_…`).
    #[arg(long, env = "SLUICE_VERIFY_SECRET", hide_env_values = true)]
    pub secret: String,
    /// The `webhook-id` header.
    #[arg(long)]
    pub id: String,
    /// The `webhook-timestamp` header.
    #[arg(long)]
    pub timestamp: String,
    /// The `webhook-signature` header.
    #[arg(long)]
    pub signature: String,
    /// The body exactly as received; standard input when absent or `-`.
    #[arg(long)]
    pub body_file: Option<PathBuf>,
    /// How far the timestamp may be from now, in seconds (older is refused as a replay).
    #[arg(long, default_value_t = DEFAULT_TOLERANCE_SECONDS)]
    pub tolerance_seconds: i64,
}

/// Runs `sluice verify`; returns the process's exit code.
pub fn run_verify(args: &VerifyArgs) -> i32 {
    let body = match &args.body_file {
        Some(path) if path.as_os_str() != "-" => std::fs::read(path),
        _ => {
            let mut buf = Vec::new();
            std::io::stdin().read_to_end(&mut buf).map(|_| buf)
        }
    };
    let body = match body {
        Ok(body) => body,
        Err(e) => {
            eprintln!("cannot read the body: {e}");
            return 2;
        }
    };
    let headers = (args.id.as_str(), args.timestamp.as_str(), args.signature.as_str());
    let now = sluice_engine::ids::now_ms() / 1000;
    match verify(&args.secret, headers, &body, now, args.tolerance_seconds) {
        Ok(()) => {
            println!("ok: the signature verifies");
            0
        }
        Err(why) => {
            eprintln!("invalid: {why}");
            1
        }
    }
}
