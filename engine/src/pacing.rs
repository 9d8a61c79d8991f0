//! The arithmetic of an endpoint's `rate_limit_per_second` (GCRA, the generic cell
//! rate algorithm), shared by each node's own bucket and the reservation every node
//! makes in the database, so both allow exactly the same sends.
//!
//! The state is one number, the theoretical arrival time (`tat`) of the next send:
//! each send pushes it one interval (1/rate s) on, and a send may go when `tat` is at
//! most the tolerance ahead of now. The tolerance is a tenth of a second's sends (at
//! least one), which bounds what any one-second window can hold: at most the rate
//! plus a tenth (plus one). A whole second's burst, as the first bucket allowed, let
//! an idle endpoint take twice its rate in its first second.

/// One endpoint's limit, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    interval_us: i64,
    tolerance_us: i64,
}

impl Pace {
    /// `rate` sends a second (0 is treated as 1: a limit slows an endpoint, never
    /// silences it).
    pub fn per_second(rate: u32) -> Self {
        let rate = i64::from(rate.max(1));
        let interval_us = (1_000_000 / rate).max(1);
        let burst = ((rate + 9) / 10).max(1);
        Self { interval_us, tolerance_us: interval_us * burst }
    }

    /// Microseconds between two sends.
    pub fn interval_us(&self) -> i64 {
        self.interval_us
    }

    /// How far ahead of now the schedule may run (a tenth of a second's sends).
    pub fn tolerance_us(&self) -> i64 {
        self.tolerance_us
    }

    /// Sends allowed at once from an idle start.
    pub fn burst(&self) -> usize {
        usize::try_from(self.tolerance_us / self.interval_us).unwrap_or(1)
    }

    /// Of `want` sends asked for at `now` with the schedule at `tat`: how many may go,
    /// and the schedule after them.
    pub fn grant(&self, tat: i64, now: i64, want: usize) -> (usize, i64) {
        let base = tat.max(now);
        let room = (now.saturating_add(self.tolerance_us) - base) / self.interval_us;
        let granted = room.clamp(0, i64::try_from(want).unwrap_or(i64::MAX));
        (usize::try_from(granted).unwrap_or(0), base + granted * self.interval_us)
    }

    /// The schedule after `n` sends at `now`, allowed or not (a node that claimed them
    /// has sent them).
    pub fn spend(&self, tat: i64, now: i64, n: usize) -> i64 {
        tat.max(now).saturating_add(i64::try_from(n).unwrap_or(i64::MAX / 4).saturating_mul(self.interval_us))
    }

    /// When the next send may go, with the schedule at `tat` (never before `now`).
    pub fn next_at(&self, tat: i64, now: i64) -> i64 {
        (tat.max(now) + self.interval_us - self.tolerance_us).max(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idle_endpoint_gets_a_tenth_of_a_second_at_once() {
        let p = Pace::per_second(50);
        assert_eq!(p.burst(), 5);
        assert_eq!(p.grant(0, 1_000_000, 100), (5, 1_100_000));
        assert_eq!(Pace::per_second(5).burst(), 1, "at least one");
        assert_eq!(Pace::per_second(0), Pace::per_second(1));
    }

    #[test]
    fn then_one_per_interval() {
        let p = Pace::per_second(50);
        let (_, tat) = p.grant(0, 0, 5);
        assert_eq!(p.grant(tat, 0, 1), (0, tat), "nothing more now");
        assert_eq!(p.next_at(tat, 0), 20_000, "one interval on");
        assert_eq!(p.grant(tat, 20_000, 3).0, 1);
        assert_eq!(p.grant(tat, 60_000, 10).0, 3);
    }

    /// The promise in numbers: however the asks come, no one-second window holds more
    /// than the rate plus the burst.
    #[test]
    fn no_second_holds_more_than_the_rate_and_a_tenth() {
        for rate in [1_u32, 7, 50, 100, 1_000] {
            let p = Pace::per_second(rate);
            let mut tat = 0;
            let mut sent = Vec::new();
            // Greedy asks every 3 ms for 5 s.
            for step in 0..(5_000 / 3) {
                let now = step * 3_000;
                let (n, next) = p.grant(tat, now, 1_000);
                tat = next;
                sent.extend(std::iter::repeat_n(now, n));
            }
            let most = sent.iter().map(|&start| sent.iter().filter(|&&t| t >= start && t < start + 1_000_000).count());
            let most = most.max().unwrap_or(0);
            let bound = rate as usize + p.burst();
            assert!(most <= bound, "rate {rate}: {most} in one second, bound {bound}");
            assert!(sent.len() >= 5 * rate as usize - 1, "rate {rate}: only {} in 5 s", sent.len());
        }
    }
}
