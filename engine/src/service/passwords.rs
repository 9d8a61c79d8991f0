//! Password hashing behind a gate: at most one argon2 computation per core at a time.
//!
//! argon2id is slow and memory-hard on purpose (people choose guessable passwords, so
//! each guess must cost), and that cost is exactly what a stranger can spend for us:
//! each check takes ~19 MiB and tens of milliseconds of CPU. Unbounded, 64 parallel
//! wrong sign-ins took the process to 2 GB. Behind the gate the memory is bounded by
//! the permit count, and a request that cannot get a permit within [`GATE_WAIT`] is
//! told to come back (429) instead of queueing without end.
//!
//! Parameters are argon2's defaults (OWASP's first recommendation): argon2id, m = 19 MiB,
//! t = 2, p = 1. They are recorded in every hash, so changing them later re-hashes
//! nobody and still verifies every old hash.

use std::time::Duration;

use tokio::sync::Semaphore;

use super::argon2_memory;
use crate::error::{Error, Result};

/// How long a check waits for a permit before the caller is asked to retry; long
/// enough for a burst of real sign-ins, short enough that waiting requests stay few.
pub const GATE_WAIT: Duration = Duration::from_secs(2);
/// Longer passwords are refused without hashing: argon2's cost grows with input.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Checks that may wait for a permit at once, per permit; beyond that a check is
/// refused at once. Waiting requests are cheap but not free (a connection, a request
/// and its body each): a storm from many addresses, each under its throttle, would
/// otherwise park hundreds of them here.
const WAITERS_PER_PERMIT: usize = 8;

/// Which queue a check joins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// Anyone: a bounded queue, refused at once when full.
    Anyone,
    /// A user from an address they signed in from before, or an admin setting a
    /// password: waits for a permit whatever the queue holds, so a storm of strangers
    /// cannot keep the owner out. Few by construction: the throttle's pair key limits
    /// each (account, address) to a handful of attempts.
    Known,
}

/// One argon2 computation, sent to a hashing thread.
type Job = Box<dyn FnOnce() + Send>;

/// Bounds concurrent password hashing to one per core, and the checks waiting for one.
pub struct PasswordGate {
    permits: std::sync::Arc<Semaphore>,
    waiting: Semaphore,
    wait: Duration,
    threads: usize,
    jobs: std::sync::OnceLock<std::sync::mpsc::SyncSender<Job>>,
}

impl Default for PasswordGate {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self::new(cores.clamp(1, 8), GATE_WAIT)
    }
}

impl PasswordGate {
    pub fn new(permits: usize, wait: Duration) -> Self {
        let permits = permits.max(1);
        Self {
            permits: std::sync::Arc::new(Semaphore::new(permits)),
            waiting: Semaphore::new(permits * WAITERS_PER_PERMIT),
            wait,
            threads: permits,
            jobs: std::sync::OnceLock::new(),
        }
    }

    /// The hashing threads, one per permit, started on first use. Dedicated threads,
    /// not tokio's blocking pool: a fixed few, so at most that many argon2 arrays
    /// exist at once (each is freed to the OS when its check ends, see `argon2_memory`).
    fn jobs(&self) -> Result<&std::sync::mpsc::SyncSender<Job>> {
        if let Some(jobs) = self.jobs.get() {
            return Ok(jobs);
        }
        let (send, receive) = std::sync::mpsc::sync_channel::<Job>(self.threads);
        let receive = std::sync::Arc::new(std::sync::Mutex::new(receive));
        for n in 0..self.threads {
            let receive = receive.clone();
            std::thread::Builder::new()
                .name(format!("sluice-argon2-{n}"))
                .spawn(move || {
                    loop {
                        // The lock is held only to take the next job, not to run it.
                        let job = match receive.lock() {
                            Ok(r) => r.recv(),
                            Err(poisoned) => poisoned.into_inner().recv(),
                        };
                        // None: the gate is gone. A job that panics drops its answer
                        // (its caller gets an error), not this thread: nothing would
                        // start another.
                        let Ok(job) = job else { return };
                        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                        if ran.is_err() {
                            tracing::error!("a password hashing job panicked");
                        }
                    }
                })
                .map_err(|e| Error::Internal(format!("starting a hashing thread: {e}")))?;
        }
        Ok(self.jobs.get_or_init(|| send))
    }

    /// Runs one argon2 computation once a permit is free, on a hashing thread (it
    /// would stall an async worker for its whole duration).
    async fn run<T: Send + 'static>(&self, lane: Lane, work: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
        // A place in the queue first: when it is full, come back later, at once. The
        // known lane skips this: its callers are few by construction (see [`Lane`]).
        let queued = match lane {
            Lane::Anyone => {
                Some(self.waiting.try_acquire().map_err(|_| Error::RateLimited { retry_after_seconds: 1 })?)
            }
            Lane::Known => None,
        };
        let permit = tokio::time::timeout(self.wait, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| Error::RateLimited { retry_after_seconds: 1 })?
            .map_err(|e| Error::Internal(format!("password gate closed: {e}")))?;
        drop(queued);
        let (done, result) = tokio::sync::oneshot::channel();
        // The permit goes with the job and is given back when the computation ends,
        // not when this future does: a caller that gave up (a timeout, a closed
        // connection) must not free a permit whose job still runs, or jobs would
        // pile up in the channel and `send` below would block.
        let job: Job = Box::new(move || {
            let _ = done.send(work());
            drop(permit);
        });
        // A permit per thread: a thread is free now, so this does not block.
        self.jobs()?.send(job).map_err(|_| Error::Internal("the hashing threads are gone".into()))?;
        result.await.map_err(|_| Error::Internal("a hashing thread failed".into()))?
    }

    pub async fn hash(&self, password: String) -> Result<String> {
        self.run(Lane::Known, move || argon2_memory::hash(password.as_bytes())).await
    }

    /// Whether `password` matches `hash`. `None` for the hash does the same work
    /// against nothing anyone knows, so an unknown email costs as much as a wrong
    /// password and response times do not tell which accounts exist.
    pub async fn verify(&self, password: String, hash: Option<String>, lane: Lane) -> Result<bool> {
        if password.len() > MAX_PASSWORD_BYTES {
            return Ok(false);
        }
        self.run(lane, move || match hash {
            Some(hash) => argon2_memory::verify(password.as_bytes(), &hash),
            None => argon2_memory::decoy(password.as_bytes()),
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn checks_beyond_the_permits_wait_and_then_are_refused() {
        let gate = PasswordGate::new(1, Duration::from_millis(50));
        let hash = gate.hash("correct horse battery".into()).await.expect("hash");
        assert!(gate.verify("correct horse battery".into(), Some(hash.clone()), Lane::Anyone).await.expect("verify"));
        assert!(!gate.verify("wrong".into(), Some(hash.clone()), Lane::Anyone).await.expect("verify"));
        let decoy = gate.verify("correct horse battery".into(), None, Lane::Anyone).await.expect("decoy");
        assert!(!decoy, "no hash never matches");

        // Hold the only permit past the wait: the next check is told to retry.
        let held = gate.permits.acquire().await.expect("permit");
        let refused = gate.verify("x".repeat(12), Some(hash), Lane::Anyone).await;
        assert!(matches!(refused, Err(Error::RateLimited { .. })), "{refused:?}");
        drop(held);
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once() {
        let gate = PasswordGate::new(1, Duration::from_secs(60));
        let held = gate.permits.acquire().await.expect("permit");
        let _queue: Vec<_> = (0..WAITERS_PER_PERMIT).map(|_| gate.waiting.try_acquire().expect("a place")).collect();
        // With the queue full, no waiting (the wait here is a minute): refused now.
        let refused =
            tokio::time::timeout(Duration::from_secs(5), gate.verify("x".repeat(12), None, Lane::Anyone)).await;
        assert!(matches!(refused, Ok(Err(Error::RateLimited { .. }))), "{refused:?}");
        // The known lane still waits for the permit (and gets it once it is free).
        drop(held);
        let known = gate.verify("x".repeat(12), None, Lane::Known).await;
        assert!(matches!(known, Ok(false)), "{known:?}");
    }

    #[tokio::test]
    async fn oversized_passwords_are_not_hashed() {
        let gate = PasswordGate::new(1, Duration::from_millis(50));
        let _held = gate.permits.acquire().await.expect("permit");
        // With the only permit held, a check that hashed would wait and be refused.
        let long = "a".repeat(MAX_PASSWORD_BYTES + 1);
        assert!(!gate.verify(long, None, Lane::Anyone).await.expect("refused without hashing"));
    }

    #[tokio::test]
    async fn a_caller_that_gives_up_does_not_free_a_running_permit() {
        let gate = PasswordGate::new(1, Duration::from_secs(60));
        // The check's first poll takes the permit and hands the job to the thread;
        // then the caller stops waiting, long before argon2 is done.
        let gave_up =
            tokio::time::timeout(Duration::from_millis(1), gate.verify("x".repeat(12), None, Lane::Anyone)).await;
        assert!(gave_up.is_err(), "argon2 takes longer than a millisecond");
        assert_eq!(gate.permits.available_permits(), 0, "the running job still holds the permit");
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while gate.permits.available_permits() == 0 && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(gate.permits.available_permits(), 1, "given back when the job ended");
    }
}
