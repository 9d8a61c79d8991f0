//! Lingering for a batch: a writer that has just committed waits a moment for more
//! work before its next transaction, so a busy node pays one commit for many items.

use std::time::{Duration, Instant};

use tokio::sync::mpsc;

/// How a writer batches: how long it may wait after its first item, how long a
/// pause between items ends the wait sooner, how large a batch is worth writing at
/// once, and the most one transaction takes.
#[derive(Debug, Clone, Copy)]
pub struct Linger {
    pub wait: Duration,
    pub quiet: Duration,
    pub full: usize,
    pub max: usize,
}

impl Linger {
    /// Whether a writer whose last write ended `at` (if ever) is busy enough to
    /// linger: that write ended within two waits, so more work is likely on its way.
    /// A lone item, or the first after a pause, is written at once.
    pub fn follows(&self, at: Option<Instant>, now: Instant) -> bool {
        at.is_some_and(|at| now.saturating_duration_since(at) < self.wait * 2)
    }

    /// Adds to `buf` what arrives within `wait`, until it holds `full`, nothing has
    /// come for `quiet`, the channel closes, or `urgent` says an item in it may not
    /// wait.
    pub async fn fill<T>(&self, rx: &mut mpsc::Receiver<T>, buf: &mut Vec<T>, urgent: impl Fn(&[T]) -> bool) {
        let deadline = tokio::time::Instant::now() + self.wait;
        while buf.len() < self.full && !urgent(buf) {
            let until = deadline.min(tokio::time::Instant::now() + self.quiet);
            match tokio::time::timeout_at(until, rx.recv_many(buf, self.max - buf.len())).await {
                Ok(0) | Err(_) => return, // closed, or waited long enough
                Ok(_) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_writer_that_has_just_written_lingers() {
        let linger = Linger { wait: Duration::from_millis(5), quiet: Duration::from_millis(5), full: 3, max: 10 };
        let now = Instant::now();
        assert!(!linger.follows(None, now), "the first write is at once");
        assert!(linger.follows(Some(now - linger.wait), now), "writes back to back: wait for more");
        assert!(!linger.follows(Some(now - linger.wait * 2), now), "after a pause: at once");
    }

    #[tokio::test(start_paused = true)]
    async fn waits_for_a_full_batch_or_the_deadline_and_no_longer() {
        let linger = Linger { wait: Duration::from_millis(5), quiet: Duration::from_millis(5), full: 3, max: 10 };
        let (tx, mut rx) = mpsc::channel(16);
        let mut buf = vec![0];
        tx.send(1).await.expect("open");
        let started = tokio::time::Instant::now();
        linger.fill(&mut rx, &mut buf, |_| false).await;
        assert_eq!(buf, vec![0, 1], "only what came");
        assert_eq!(started.elapsed(), Duration::from_millis(5), "until the deadline");

        for i in 2..6 {
            tx.send(i).await.expect("open");
        }
        let started = tokio::time::Instant::now();
        linger.fill(&mut rx, &mut buf, |_| false).await;
        assert_eq!(buf.len(), 6, "took what had queued, up to the most");
        assert_eq!(started.elapsed(), Duration::ZERO, "full: no wait");
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_between_items_ends_the_wait_sooner() {
        // Tokio's timers count whole milliseconds.
        let linger = Linger { wait: Duration::from_millis(50), quiet: Duration::from_millis(5), full: 100, max: 100 };
        let (tx, mut rx) = mpsc::channel(16);
        let sending = tokio::spawn(async move {
            for i in 1..4 {
                tokio::time::sleep(Duration::from_millis(3)).await;
                tx.send(i).await.expect("open");
            }
            // Then a pause longer than `quiet`, and one more that comes too late.
            tokio::time::sleep(Duration::from_millis(10)).await;
            tx.send(99).await.expect("open");
        });
        let mut buf = vec![0];
        let started = tokio::time::Instant::now();
        linger.fill(&mut rx, &mut buf, |_| false).await;
        assert_eq!(buf, vec![0, 1, 2, 3], "items a little apart are gathered");
        assert_eq!(started.elapsed(), Duration::from_millis(14), "the last at 9 ms, then 5 quiet ones");
        sending.await.expect("sender");
    }

    #[tokio::test(start_paused = true)]
    async fn an_urgent_item_or_a_closed_channel_ends_it_at_once() {
        let linger = Linger { wait: Duration::from_secs(1), quiet: Duration::from_secs(1), full: 100, max: 100 };
        let (tx, mut rx) = mpsc::channel(16);
        let mut buf = vec![7];
        let started = tokio::time::Instant::now();
        linger.fill(&mut rx, &mut buf, |b| b.contains(&7)).await;
        assert_eq!(started.elapsed(), Duration::ZERO);
        drop(tx);
        linger.fill(&mut rx, &mut buf, |_| false).await;
        assert_eq!(started.elapsed(), Duration::ZERO, "closed: nothing more will come");
    }
}
