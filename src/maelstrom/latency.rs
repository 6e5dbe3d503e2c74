//! Latency summaries for `results.json`'s `network`: how long client ops took (request sent
//! to reply received, as the client saw it) apart from the delays the simulated network
//! itself drew for messages, so a slow node is not mistaken for a slow network. A
//! [`Histogram`] of logarithmic buckets (8 per doubling, so a quantile is within about 9 %)
//! keeps memory constant however many messages a run moves. Pure.

use std::time::Duration;

use crate::rundir::LatencyStats;

/// Buckets per doubling of the latency.
const PER_DOUBLING: f64 = 8.0;
/// Buckets: from 1 µs up to 2^40 µs (12 days).
const BUCKETS: usize = 40 * PER_DOUBLING as usize + 2;

/// A latency histogram with constant memory.
#[derive(Debug, Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    sum_us: f64,
    max_us: f64,
}

impl Default for Histogram {
    fn default() -> Histogram {
        Histogram {
            counts: vec![0; BUCKETS],
            total: 0,
            sum_us: 0.0,
            max_us: 0.0,
        }
    }
}

fn bucket(us: f64) -> usize {
    if us < 1.0 {
        0
    } else {
        ((us.log2() * PER_DOUBLING).floor() as usize + 1).min(BUCKETS - 1)
    }
}

/// The upper bound of bucket `i`, in µs.
fn upper(i: usize) -> f64 {
    if i == 0 {
        1.0
    } else {
        2f64.powf(i as f64 / PER_DOUBLING)
    }
}

impl Histogram {
    /// Counts one latency.
    pub fn record(&mut self, d: Duration) {
        let us = d.as_secs_f64() * 1e6;
        self.counts[bucket(us)] += 1;
        self.total += 1;
        self.sum_us += us;
        self.max_us = self.max_us.max(us);
    }

    /// The latency below which a share `q` of the counted ones lie (a bucket's upper
    /// bound, never above the maximum), in µs.
    fn quantile_us(&self, q: f64) -> f64 {
        let rank = ((q * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, n) in self.counts.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return upper(i).min(self.max_us);
            }
        }
        self.max_us
    }

    /// The summary in milliseconds; `None` when nothing was counted.
    pub fn stats(&self) -> Option<LatencyStats> {
        (self.total > 0).then(|| {
            let ms = |us: f64| (us / 1e3 * 1e3).round() / 1e3;
            LatencyStats {
                count: self.total,
                mean: ms(self.sum_us / self.total as f64),
                p50: ms(self.quantile_us(0.5)),
                p99: ms(self.quantile_us(0.99)),
                max: ms(self.max_us),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_within_a_bucket_of_the_truth() {
        let mut h = Histogram::default();
        assert_eq!(h.stats(), None);
        for ms in 1..=1000 {
            h.record(Duration::from_millis(ms));
        }
        let s = h.stats().expect("counted");
        assert_eq!(s.count, 1000);
        assert!((s.mean - 500.5).abs() < 0.01, "{s:?}");
        assert!((500.0..=500.0 * 1.1).contains(&s.p50), "{s:?}");
        assert!((990.0..=1000.0).contains(&s.p99), "{s:?}");
        assert_eq!(s.max, 1000.0);
    }

    #[test]
    fn zero_delays_are_counted_as_zero() {
        let mut h = Histogram::default();
        h.record(Duration::ZERO);
        h.record(Duration::ZERO);
        let s = h.stats().expect("counted");
        assert_eq!((s.count, s.mean, s.p50, s.max), (2, 0.0, 0.0, 0.0));
    }
}
