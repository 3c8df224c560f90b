//! The open-loop driver: requests start on a fixed schedule, whatever earlier ones are doing,
//! and latency counts from the time a request was due, so a stall of the server shows as the
//! latency of every request it delayed (no coordinated omission). A thread of its own keeps
//! the schedule (an OS sleep is accurate to tens of microseconds; the async timer only to a
//! millisecond) and hands each due request to the async runtime.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// Start `job(k, due)` at `rate` per second for `duration`; returns once every job finished.
pub async fn run<F, Fut>(rate: f64, duration: Duration, job: F) -> usize
where
    F: Fn(u64, Instant) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let total = (rate * duration.as_secs_f64()).round() as u64;
    if total == 0 {
        return 0;
    }
    let handle = tokio::runtime::Handle::current();
    let job = Arc::new(job);
    let scheduler = std::thread::spawn(move || {
        let start = Instant::now() + Duration::from_millis(5);
        let mut tasks = Vec::with_capacity(total as usize);
        for k in 0..total {
            let due = start + Duration::from_secs_f64(k as f64 / rate);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            let job = job.clone();
            tasks.push(handle.spawn(async move { job(k, due).await }));
        }
        tasks
    });
    let tasks = tokio::task::spawn_blocking(move || scheduler.join().expect("scheduler runs"))
        .await
        .expect("scheduler joins");
    for t in tasks {
        let _ = t.await;
    }
    total as usize
}

/// A latency histogram in microseconds, shared by the jobs of a run.
#[derive(Debug, Clone)]
pub struct Latency(Arc<Mutex<Histogram<u64>>>);

impl Default for Latency {
    fn default() -> Self {
        Latency(Arc::new(Mutex::new(
            Histogram::new_with_bounds(1, 120_000_000, 3).expect("valid bounds"),
        )))
    }
}

impl Latency {
    /// Record one latency.
    pub fn record(&self, d: Duration) {
        let us = (d.as_micros() as u64).clamp(1, 120_000_000);
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .saturating_record(us);
    }

    /// A copy of the histogram so far.
    pub fn snapshot(&self) -> Histogram<u64> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// p50 / p99 / p99.9 / max in milliseconds, and the count.
pub fn summary(h: &Histogram<u64>) -> String {
    if h.is_empty() {
        return "no samples".into();
    }
    let ms = |us: u64| us as f64 / 1000.0;
    format!(
        "p50 {:.3} ms, p99 {:.3} ms, p99.9 {:.3} ms, max {:.3} ms ({} samples)",
        ms(h.value_at_quantile(0.5)),
        ms(h.value_at_quantile(0.99)),
        ms(h.value_at_quantile(0.999)),
        ms(h.max()),
        h.len()
    )
}
