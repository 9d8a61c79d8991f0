//! SLO arithmetic shared by the engine and the dashboard: latency histograms, their
//! percentiles, attainment and error budget.
//!
//! Latencies are kept as counts under fixed bounds (like Prometheus histograms) rather
//! than raw samples, because counts add: an hour's buckets sum into a day's or a
//! month's, and two backends can compute them with the same portable SQL.

/// Upper bounds (inclusive, milliseconds) of the latency histogram's buckets; the
/// last bucket is everything above the last bound.
pub const LATENCY_BOUNDS_MS: [i64; 14] =
    [50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 300_000, 900_000, 3_600_000, 86_400_000];

/// The `q` quantile (0 < q ≤ 1) of a histogram given as cumulative counts at each of
/// [`LATENCY_BOUNDS_MS`] plus the total (which also counts values above the last
/// bound). Interpolates linearly inside the bucket it falls in; `None` when empty.
/// Above the last bound it answers the last bound: the histogram cannot say more.
pub fn percentile(cumulative: &[i64], total: i64, q: f64) -> Option<f64> {
    if total <= 0 || cumulative.len() != LATENCY_BOUNDS_MS.len() {
        return None;
    }
    let rank = q.clamp(0.0, 1.0) * total as f64;
    let mut below = 0i64;
    let mut lower = 0f64;
    for (&count, &bound) in cumulative.iter().zip(LATENCY_BOUNDS_MS.iter()) {
        let upper = bound as f64;
        if count as f64 >= rank {
            let inside = (count - below) as f64;
            let fraction = if inside > 0.0 { (rank - below as f64) / inside } else { 1.0 };
            return Some(lower + (upper - lower) * fraction.clamp(0.0, 1.0));
        }
        below = count;
        lower = upper;
    }
    Some(lower)
}

/// Share of counted deliveries that were good; `None` when nothing was counted.
pub fn attainment(counted: i64, good: i64) -> Option<f64> {
    (counted > 0).then(|| good as f64 / counted as f64)
}

/// Share of the error budget left: 1.0 untouched, 0.0 spent, negative overspent.
/// The budget is the bad deliveries the target allows, `(1 - target) × counted`.
pub fn budget_remaining(counted: i64, good: i64, target: f64) -> Option<f64> {
    let allowed = (1.0 - target) * counted as f64;
    if counted <= 0 || allowed <= 0.0 {
        return None;
    }
    Some(1.0 - (counted - good) as f64 / allowed)
}

/// How fast deliveries spend the error budget: the bad share of those counted divided
/// by the share `success_target` allows. 1.0 spends the budget exactly over the SLO
/// period; 10.0 ten times as fast. `None` when nothing was counted (or the target
/// allows no failure at all).
pub fn burn_rate(counted: i64, good: i64, success_target: f64) -> Option<f64> {
    let allowed = 1.0 - success_target;
    (counted > 0 && allowed > 0.0).then(|| (counted - good) as f64 / counted as f64 / allowed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cumulative(per_bucket: &[i64]) -> Vec<i64> {
        let mut running = 0;
        let mut out: Vec<i64> = per_bucket
            .iter()
            .map(|n| {
                running += n;
                running
            })
            .collect();
        out.resize(LATENCY_BOUNDS_MS.len(), running);
        out
    }

    #[test]
    fn percentiles_interpolate_inside_a_bucket() {
        // 100 deliveries, all between 50 and 100 ms: the median is halfway.
        let c = cumulative(&[0, 100]);
        assert_eq!(percentile(&c, 100, 0.5), Some(75.0));
        assert_eq!(percentile(&c, 100, 1.0), Some(100.0));
        // 90 fast, 10 between 1 and 2.5 s: p99 lands in the slow bucket.
        let c = cumulative(&[90, 0, 0, 0, 0, 10]);
        let p99 = percentile(&c, 100, 0.99).expect("p99");
        assert!((2_300.0..=2_400.0).contains(&p99), "{p99}");
        assert!(percentile(&c, 100, 0.5).expect("p50") <= 50.0);
    }

    #[test]
    fn percentiles_of_nothing_and_of_the_tail() {
        assert_eq!(percentile(&cumulative(&[]), 0, 0.99), None);
        // Every value above the last bound: the answer is that bound, not made up.
        let c = cumulative(&[]);
        assert_eq!(percentile(&c, 5, 0.5), Some(86_400_000.0));
        assert_eq!(percentile(&[1, 2], 2, 0.5), None, "wrong shape");
    }

    #[test]
    fn error_budget() {
        // 99.9 % of 10,000 allows 10 bad; 3 bad leaves 70 %.
        let left = budget_remaining(10_000, 9_997, 0.999).expect("budget");
        assert!((left - 0.7).abs() < 1e-9, "{left}");
        assert!(budget_remaining(10_000, 9_980, 0.999).expect("budget") < 0.0, "overspent");
        assert_eq!(budget_remaining(0, 0, 0.999), None);
        assert_eq!(budget_remaining(10, 10, 1.0), None, "a 100 % target has no budget");
        assert_eq!(attainment(4, 3), Some(0.75));
        assert_eq!(attainment(0, 0), None);
    }

    #[test]
    fn burn_rate_against_the_target() {
        // 99 % allows 1 bad in 100; 5 bad in 100 burns five times as fast.
        let burn = burn_rate(100, 95, 0.99).expect("burn");
        assert!((burn - 5.0).abs() < 1e-9, "{burn}");
        assert_eq!(burn_rate(100, 100, 0.99), Some(0.0));
        assert_eq!(burn_rate(0, 0, 0.99), None, "nothing counted");
        assert_eq!(burn_rate(10, 9, 1.0), None, "a 100 % target has no budget to burn");
    }
}
