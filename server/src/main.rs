//! The `sluice` binary: reads configuration, starts everything, stops on SIGTERM;
//! `sluice verify`, `migrate` and `keys create` (see `cli.rs`).

use clap::Parser;
use sluice_server::cli::{Command, KeysCommand, UsersCommand};
use sluice_server::config::{Args, ServerConfig};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(Command::Verify(verify)) = &args.command {
        std::process::exit(sluice_server::cli::run_verify(verify));
    }
    if let Some(Command::Openapi) = &args.command {
        print!("{}", sluice_server::openapi::document_json());
        return Ok(());
    }
    let filter =
        EnvFilter::try_from_env("SLUICE_LOG").unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=warn"));
    let filter = sluice_server::traces::without_trace_spans(filter);
    let log = if args.log_format == "json" {
        tracing_subscriber::fmt::layer().json().with_filter(filter).boxed()
    } else {
        tracing_subscriber::fmt::layer().with_filter(filter).boxed()
    };
    // Only serving sends traces: a bad OTEL_* setting must not stop `sluice migrate`.
    let serving = matches!(args.command, Some(Command::Serve) | None);
    let traces = if serving { sluice_server::traces::Traces::from_env()? } else { None };
    tracing_subscriber::registry().with(log).with(traces.as_ref().map(|t| t.layer())).init();
    let config = ServerConfig::from_args(&args)?;
    match &args.command {
        Some(Command::Migrate) => return sluice_server::cli::run_migrate(&config).await,
        Some(Command::Keys(KeysCommand::Create { name })) => {
            return sluice_server::cli::run_keys_create(&config, name).await
        }
        Some(Command::Users(UsersCommand::Create { email, role, tenant })) => {
            return sluice_server::cli::run_users_create(&config, email, *role, tenant.as_deref()).await
        }
        Some(Command::RollUp) => return sluice_server::cli::run_roll_up(&config).await,
        Some(Command::BenchHistory(history)) => return sluice_server::cli::run_bench_history(&config, history).await,
        Some(Command::Verify(_) | Command::Openapi | Command::Serve) | None => {}
    }
    let running = sluice_server::start(config).await?;
    println!("  Sluice is up on http://{}  (dashboard: /, API: /v1, health: /readyz)", running.addr);
    let stop = running.stop_handle();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutdown requested: finishing requests in flight");
        let _ = stop.send(true);
    });
    let served = running.wait().await;
    if let Some(traces) = traces {
        if let Err(e) = traces.shutdown() {
            eprintln!("sending the last traces failed: {e}");
        }
    }
    served
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
