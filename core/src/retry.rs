//! The retry schedule: how long to wait after each failed attempt.
//!
//! Pure math with the randomness passed in, so the engine decides where randomness
//! comes from and tests can pin it.

/// Seconds to wait after failed attempt 1, 2, 3, …: immediately, 10 s, 30 s, 1 min,
/// 2 min, 5 min, 10 min, 30 min, 1 h, 2 h, 4 h, 8 h, then every 12 h until about three
/// days have passed since the first attempt. After the last entry the delivery is
/// exhausted and becomes `failed` (still replayable).
pub const DEFAULT_SCHEDULE: [u32; 17] =
    [0, 10, 30, 60, 120, 300, 600, 1_800, 3_600, 7_200, 14_400, 28_800, 43_200, 43_200, 43_200, 43_200, 43_200];

/// Random spread applied to every delay, as a fraction (±20 %).
pub const JITTER: f64 = 0.2;

/// The longest delay a schedule entry or a `Retry-After` may ask for.
pub const MAX_DELAY_SECONDS: u32 = 7 * 24 * 3600;

/// Bounds for a `Retry-After` value honoured on 429 and 503: at least one second so a
/// receiver cannot make us spin, at most one hour so it cannot park a delivery forever.
pub const RETRY_AFTER_MIN_SECONDS: u64 = 1;
pub const RETRY_AFTER_MAX_SECONDS: u64 = 3_600;

/// What to do after failed attempt number `attempts` (1-based).
///
/// `unit` is a uniform random number in `[0, 1)` that becomes the jitter. Returns the
/// delay in milliseconds, or `None` when the schedule is exhausted.
pub fn next_delay_ms(schedule: &[u32], attempts: u32, unit: f64) -> Option<u64> {
    let index = usize::try_from(attempts.checked_sub(1)?).ok()?;
    let base_ms = u64::from(*schedule.get(index)?) * 1_000;
    Some(jittered(base_ms, unit))
}

/// Spreads `base_ms` by ±[`JITTER`] so that retries of a burst do not arrive in lockstep.
pub fn jittered(base_ms: u64, unit: f64) -> u64 {
    let unit = unit.clamp(0.0, 1.0);
    let factor = 1.0 + JITTER * (2.0 * unit - 1.0);
    (base_ms as f64 * factor).round() as u64
}

/// Clamps a receiver's `Retry-After` to the bounds we honour.
pub fn clamp_retry_after(seconds: u64) -> u64 {
    seconds.clamp(RETRY_AFTER_MIN_SECONDS, RETRY_AFTER_MAX_SECONDS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_schedule_lasts_about_three_days() {
        let total: u64 = DEFAULT_SCHEDULE.iter().map(|&s| u64::from(s)).sum();
        let days = total as f64 / 86_400.0;
        assert!((2.9..3.3).contains(&days), "schedule spans {days} days");
    }

    #[test]
    fn delays_follow_schedule_with_bounded_jitter() {
        assert_eq!(next_delay_ms(&DEFAULT_SCHEDULE, 1, 0.9), Some(0));
        assert_eq!(next_delay_ms(&DEFAULT_SCHEDULE, 2, 0.5), Some(10_000));
        assert_eq!(next_delay_ms(&DEFAULT_SCHEDULE, 2, 0.0), Some(8_000));
        assert_eq!(next_delay_ms(&DEFAULT_SCHEDULE, 2, 1.0), Some(12_000));
        assert_eq!(next_delay_ms(&DEFAULT_SCHEDULE, 17, 0.5), Some(43_200_000));
        assert_eq!(next_delay_ms(&DEFAULT_SCHEDULE, 18, 0.5), None, "exhausted");
        assert_eq!(next_delay_ms(&DEFAULT_SCHEDULE, 0, 0.5), None);
    }

    #[test]
    fn retry_after_is_clamped() {
        assert_eq!(clamp_retry_after(0), 1);
        assert_eq!(clamp_retry_after(30), 30);
        assert_eq!(clamp_retry_after(1_000_000), 3_600);
    }
}
