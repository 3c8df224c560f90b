//! Latency sampling for the benchmarks' per-call numbers: time each call, report percentiles.

use std::time::{Duration, Instant};

/// Percentiles of a set of timings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Latencies {
    /// Median.
    pub median: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Slowest.
    pub max: Duration,
}

/// Percentiles of `samples` (at least one).
pub fn latencies(mut samples: Vec<Duration>) -> Latencies {
    assert!(!samples.is_empty(), "no samples");
    samples.sort_unstable();
    let at = |p: f64| samples[((samples.len() - 1) as f64 * p) as usize];
    Latencies {
        median: at(0.5),
        p99: at(0.99),
        max: at(1.0),
    }
}

/// Call `f` `iterations` times, timing each call.
pub fn sample(iterations: usize, mut f: impl FnMut()) -> Latencies {
    latencies(
        (0..iterations)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed()
            })
            .collect(),
    )
}
