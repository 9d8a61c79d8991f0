//! Wake-ups for the dispatcher: "look for work" from anywhere in the process, and
//! "work was queued at these endpoints" from the publishes other nodes announce.
//!
//! A wake-up used to mean a scan: the query for every endpoint with due work. Three
//! nodes sharing a burst each heard every node's publish commits, and each scanned
//! for about every one of them (1,500 scans where one node made about 120), mostly to
//! find the one endpoint it was already sending to. A publish on PostgreSQL now names
//! the endpoints it queued work at (when they are few), and a dispatcher that already
//! holds those endpoints lists them again without scanning.

use std::collections::HashSet;
use std::sync::{Mutex, MutexGuard};

use tokio::sync::Notify;

/// The most endpoints kept between two looks; beyond them a scan is cheaper.
const MOST_ANNOUNCED: usize = 256;

/// What woke the dispatcher since it last looked.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Announced {
    /// Something may be due anywhere: scan.
    pub scan: bool,
    /// Endpoints a publish queued work at.
    pub endpoints: HashSet<String>,
}

/// Shared by everything that queues work and the dispatcher that sends it.
#[derive(Debug, Default)]
pub struct Wake {
    notify: Notify,
    announced: Mutex<Announced>,
}

impl Wake {
    pub fn new() -> Self {
        Self::default()
    }

    /// Something may be due anywhere (a replay, a retry, a changed endpoint, an
    /// announcement that named nothing): the dispatcher scans.
    pub fn notify_one(&self) {
        self.announced().scan = true;
        self.notify.notify_one();
    }

    /// Work was queued at `endpoint`.
    pub fn announce(&self, endpoint: &str) {
        {
            let mut announced = self.announced();
            if announced.endpoints.len() >= MOST_ANNOUNCED {
                announced.scan = true;
            } else {
                announced.endpoints.insert(endpoint.to_owned());
            }
        }
        self.notify.notify_one();
    }

    /// Waits until something is announced (at once if something was since the last
    /// wait).
    pub async fn notified(&self) {
        self.notify.notified().await;
    }

    /// What was announced since the last look, forgotten here.
    pub fn take(&self) -> Announced {
        std::mem::take(&mut *self.announced())
    }

    fn announced(&self) -> MutexGuard<'_, Announced> {
        // A panic while holding the lock left a set and a flag, both still usable.
        self.announced.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn announcements_gather_until_taken_and_wake_the_waiter() {
        let wake = Wake::new();
        wake.announce("ep_1");
        wake.announce("ep_2");
        wake.announce("ep_1");
        // The permit left by the announcements: no wait.
        tokio::time::timeout(std::time::Duration::from_secs(5), wake.notified()).await.expect("woken");
        let taken = wake.take();
        assert!(!taken.scan);
        assert_eq!(taken.endpoints, HashSet::from(["ep_1".to_owned(), "ep_2".to_owned()]));
        assert_eq!(wake.take(), Announced::default(), "forgotten once taken");
        wake.notify_one();
        assert!(wake.take().scan);
    }

    #[test]
    fn too_many_endpoints_ask_for_a_scan_instead() {
        let wake = Wake::new();
        for i in 0..=MOST_ANNOUNCED {
            wake.announce(&format!("ep_{i}"));
        }
        let taken = wake.take();
        assert!(taken.scan);
        assert_eq!(taken.endpoints.len(), MOST_ANNOUNCED);
    }
}
