//! The HTTP listener: accepts connections up to a cap and serves each with HTTP/1.1
//! under a header-read timeout, until told to stop.
//!
//! `axum::serve` has no timeouts and no connection cap: a client that opens a
//! connection and sends half a request line holds it forever, and 1,500 of them stayed
//! open past 45 s. Here every connection must finish its request headers within
//! `header_timeout`, counted from when it opened or when its previous response was
//! sent (so the same timer closes idle keep-alive connections), and at most
//! `max_connections` are open at once: beyond that the listener stops accepting, and
//! the kernel's backlog holds newcomers, until one closes.
//!
//! HTTP/1.1 only: Sluice sits behind a TLS-terminating proxy or is reached directly
//! over plain HTTP, and neither needs HTTP/2's cleartext upgrade.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::connect_info::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tower::ServiceExt;

/// The listener's limits (`SLUICE_HTTP_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// Time to send a request's headers, from connect or the previous response.
    pub header_timeout: Duration,
    /// Connections open at once.
    pub max_connections: usize,
    /// How long shutdown waits for open requests to finish.
    pub drain: Duration,
}

/// Serves `app` on `listener` until `stop` turns true, then lets open requests finish
/// (up to `limits.drain`).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: HttpLimits,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let open = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    // `wait_for` borrows the channel's value; map it to () so no guard is held
    // across the select's other branch.
    let stopped = move || {
        let mut stop = stop.clone();
        async move {
            let _ = stop.wait_for(|s| *s).await.map(|_| ());
        }
    };
    let graceful = GracefulShutdown::new();
    loop {
        // A permit first: at the cap, stop accepting rather than accept and drop.
        let permit = tokio::select! {
            permit = open.clone().acquire_owned() => permit?,
            () = stopped() => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: back off a little rather
                    // than spin on an error that will not clear this instant.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = stopped() => break,
        };
        let _ = stream.set_nodelay(true);
        let service = app.clone().map_request(move |mut req: hyper::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            req.map(axum::body::Body::new)
        });
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout)
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.drain, graceful.shutdown()).await.is_err() {
        tracing::warn!("HTTP connections still open after the drain period; closing them");
    }
    Ok(())
}
