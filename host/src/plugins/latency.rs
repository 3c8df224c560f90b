//! Per-plugin call latency: a lock-free log₂ histogram of microseconds, cheap enough to record
//! on every call, read as approximate percentiles by `/v1/admin/plugins`.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// Buckets: `[0,1]`, `(1,2]`, `(2,4]`, … µs; the last one holds everything above ~1 s.
const BUCKETS: usize = 22;

/// A latency histogram.
#[derive(Debug, Default)]
pub struct Latency {
    buckets: [AtomicU64; BUCKETS],
}

/// Percentiles, µs (upper bounds of the histogram buckets they fall in).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Percentiles {
    /// Median.
    pub p50_us: u64,
    /// 90th percentile.
    pub p90_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
}

fn bucket_of(us: u64) -> usize {
    let b = (u64::BITS - us.saturating_sub(1).leading_zeros()) as usize;
    b.min(BUCKETS - 1)
}

fn upper_bound(bucket: usize) -> u64 {
    1u64 << bucket
}

impl Latency {
    /// Record one call.
    pub fn record(&self, us: u64) {
        self.buckets[bucket_of(us)].fetch_add(1, Ordering::Relaxed);
    }

    /// Percentiles of every call so far; `None` before the first.
    pub fn percentiles(&self) -> Option<Percentiles> {
        let counts: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return None;
        }
        let at = |q: f64| {
            let rank = ((total as f64) * q).ceil().max(1.0) as u64;
            let mut seen = 0;
            for (i, c) in counts.iter().enumerate() {
                seen += c;
                if seen >= rank {
                    return upper_bound(i);
                }
            }
            upper_bound(BUCKETS - 1)
        };
        Some(Percentiles {
            p50_us: at(0.50),
            p90_us: at(0.90),
            p99_us: at(0.99),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_powers_of_two() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(1), 0);
        assert_eq!(bucket_of(2), 1);
        assert_eq!(bucket_of(3), 2);
        assert_eq!(bucket_of(4), 2);
        assert_eq!(bucket_of(5), 3);
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn percentiles_follow_the_distribution() {
        let l = Latency::default();
        assert_eq!(l.percentiles(), None);
        for _ in 0..98 {
            l.record(5);
        }
        l.record(100);
        l.record(3_000);
        let p = l.percentiles().expect("recorded");
        assert_eq!(p.p50_us, 8);
        assert_eq!(p.p90_us, 8);
        assert_eq!(p.p99_us, 128);
    }
}
