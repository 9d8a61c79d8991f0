//! Whether the dispatcher has gone quiet: nothing in flight, and its latest pass,
//! after a fresh look at the queue, started nothing. Tests wait for this before
//! asserting that nothing else was sent, instead of sleeping and hoping.

use tokio::sync::watch;

/// What the dispatcher last reported.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Quiet {
    /// Scans started so far; a scan that started after a caller began waiting sees
    /// everything that caller committed before.
    pub scans: u64,
    /// Nothing in flight and the latest pass started nothing.
    pub idle: bool,
}

/// Waits until the dispatcher is idle after a scan that started after this call.
pub async fn wait_idle(mut rx: watch::Receiver<Quiet>) {
    let since = rx.borrow().scans;
    // An error means the dispatcher is gone, which is as idle as it gets.
    let _ = rx.wait_for(|q| q.idle && q.scans > since).await;
}
