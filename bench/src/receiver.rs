//! The benchmark's webhook receiver: answers 204 as fast as it can and notes when each
//! message (by the `seq` the publisher put in its payload) first arrived.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use serde::Deserialize;

/// Arrivals indexed by `seq`; shared with the publisher, which owns the clock origin.
pub struct Arrivals {
    first_seen: Mutex<Vec<Option<Instant>>>,
    /// Requests that repeated a `seq` already seen (at-least-once duplicates).
    pub duplicates: AtomicU64,
    /// Requests without the Standard Webhooks headers or without a readable `seq`.
    pub malformed: AtomicU64,
    pub received: AtomicU64,
}

impl Arrivals {
    fn new(capacity: usize) -> Self {
        Self {
            first_seen: Mutex::new(vec![None; capacity]),
            duplicates: AtomicU64::new(0),
            malformed: AtomicU64::new(0),
            received: AtomicU64::new(0),
        }
    }

    /// When `seq` first arrived, if it did.
    pub fn at(&self, seq: usize) -> Option<Instant> {
        self.lock().get(seq).copied().flatten()
    }

    /// How many of `range` have arrived.
    pub fn count_in(&self, range: std::ops::Range<usize>) -> usize {
        let seen = self.lock();
        range.filter(|&i| seen.get(i).copied().flatten().is_some()).count()
    }

    fn record(&self, seq: usize, now: Instant) {
        let mut seen = self.lock();
        match seen.get_mut(seq) {
            Some(slot @ None) => *slot = Some(now),
            Some(Some(_)) => {
                self.duplicates.fetch_add(1, Ordering::Relaxed);
            }
            None => {
                self.malformed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Option<Instant>>> {
        // A panic while holding this lock cannot leave the vector half-written.
        self.first_seen.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[derive(Deserialize)]
struct Envelope {
    data: Payload,
}

#[derive(Deserialize)]
struct Payload {
    seq: usize,
}

async fn hook(State(arrivals): State<Arc<Arrivals>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let now = Instant::now();
    arrivals.received.fetch_add(1, Ordering::Relaxed);
    let signed = ["webhook-id", "webhook-timestamp", "webhook-signature"].iter().all(|h| headers.contains_key(*h));
    match serde_json::from_slice::<Envelope>(&body) {
        Ok(e) if signed => arrivals.record(e.data.seq, now),
        _ => {
            arrivals.malformed.fetch_add(1, Ordering::Relaxed);
        }
    }
    StatusCode::NO_CONTENT
}

/// Counts a request, then keeps it waiting for `hang` before answering 204.
async fn hang(State((count, hang)): State<(Arc<AtomicU64>, std::time::Duration)>) -> StatusCode {
    count.fetch_add(1, Ordering::Relaxed);
    tokio::time::sleep(hang).await;
    StatusCode::NO_CONTENT
}

/// A receiver whose every endpoint (`/hang/{anything}`) hangs for `hang`; returns
/// its address and the number of requests it got.
pub async fn start_hanging(hang_for: std::time::Duration) -> anyhow::Result<(SocketAddr, Arc<AtomicU64>)> {
    let count = Arc::new(AtomicU64::new(0));
    let app = Router::new().route("/hang/{n}", post(hang)).with_state((count.clone(), hang_for));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            eprintln!("hanging receiver stopped: {e}");
        }
    });
    Ok((addr, count))
}

/// Starts the receiver on a loopback port; it runs until the process exits.
pub async fn start(capacity: usize) -> anyhow::Result<(SocketAddr, Arc<Arrivals>)> {
    let arrivals = Arc::new(Arrivals::new(capacity));
    let app = Router::new().route("/hook", post(hook)).with_state(arrivals.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            eprintln!("receiver stopped: {e}");
        }
    });
    Ok((addr, arrivals))
}
