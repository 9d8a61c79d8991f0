//! Arithmetic over arrival times, shared by the tests and the benchmark that check a
//! rate limit from the receiver's side.

use std::time::{Duration, Instant};

/// The most arrivals in any one-second window.
pub fn busiest_second(arrivals: &[Instant]) -> usize {
    let mut at = arrivals.to_vec();
    at.sort();
    let mut most = 0;
    let mut start = 0;
    for end in 0..at.len() {
        while at[end].duration_since(at[start]) >= Duration::from_secs(1) {
            start += 1;
        }
        most = most.max(end - start + 1);
    }
    most
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_busiest_second_counts_a_sliding_window() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        assert_eq!(busiest_second(&[ms(1_600), ms(0), ms(500), ms(999), ms(1_000)]), 3);
        assert_eq!(busiest_second(&[]), 0);
    }
}
