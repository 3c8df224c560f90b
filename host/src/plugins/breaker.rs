//! The per-plugin circuit breaker: a plugin that fails `failures` times within `window_ms` is
//! disabled for `cooldown_ms`; the first message after the cooldown probes it (the others
//! still skip it until the probe answers), and one more failure disables it again at once.

use std::collections::VecDeque;
use std::sync::Mutex;

use serde::Serialize;

use super::manifest::BreakerSpec;

/// Breaker state for reporting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct BreakerStatus {
    /// `active` or `disabled`.
    pub state: &'static str,
    /// While disabled: when it will be probed again (ms since the epoch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_until_ms: Option<u64>,
    /// Failures inside the current window.
    pub recent_failures: usize,
    /// How many times the breaker has tripped.
    pub trips: u64,
    /// The last failure, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// A circuit breaker for one plugin.
#[derive(Debug)]
pub struct Breaker {
    spec: BreakerSpec,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    failures: VecDeque<u64>,
    open_until: Option<u64>,
    /// When the probe under way started.
    probing: Option<u64>,
    trips: u64,
    last_error: Option<String>,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(spec: BreakerSpec) -> Self {
        Breaker {
            spec,
            inner: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `Err(until)` while the plugin is disabled; `Ok` when a call may go ahead.
    pub fn admit(&self, now: u64) -> Result<(), u64> {
        let mut inner = self.lock();
        if let Some(since) = inner.probing {
            // One probe at a time; one that never answered (its caller gone) is replaced.
            let until = since + self.spec.cooldown_ms;
            if now < until {
                return Err(until);
            }
            inner.probing = Some(now);
            return Ok(());
        }
        match inner.open_until {
            Some(until) if now < until => Err(until),
            Some(_) => {
                inner.open_until = None;
                inner.probing = Some(now);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Record a successful call.
    pub fn success(&self) {
        let mut inner = self.lock();
        if inner.probing.take().is_some() {
            inner.failures.clear();
        }
    }

    /// Record a failure; returns `true` if this failure disabled the plugin.
    pub fn failure(&self, now: u64, error: &str) -> bool {
        let mut inner = self.lock();
        inner.last_error = Some(error.to_owned());
        let window = self.spec.window_ms;
        while inner
            .failures
            .front()
            .is_some_and(|&t| now.saturating_sub(t) >= window)
        {
            inner.failures.pop_front();
        }
        inner.failures.push_back(now);
        let trip = inner.probing.is_some() || inner.failures.len() >= self.spec.failures as usize;
        if trip {
            inner.open_until = Some(now + self.spec.cooldown_ms);
            inner.probing = None;
            inner.failures.clear();
            inner.trips += 1;
        }
        trip
    }

    /// Current state.
    pub fn status(&self, now: u64) -> BreakerStatus {
        let inner = self.lock();
        let open = inner.open_until.filter(|&u| now < u);
        BreakerStatus {
            state: if open.is_some() { "disabled" } else { "active" },
            disabled_until_ms: open,
            recent_failures: inner.failures.len(),
            trips: inner.trips,
            last_error: inner.last_error.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker() -> Breaker {
        Breaker::new(BreakerSpec {
            failures: 3,
            window_ms: 1_000,
            cooldown_ms: 5_000,
        })
    }

    #[test]
    fn trips_after_repeated_failures_in_the_window() {
        let b = breaker();
        assert!(!b.failure(0, "x"));
        assert!(!b.failure(10, "x"));
        assert!(b.failure(20, "x"), "third failure in 1 s trips");
        assert_eq!(b.admit(100), Err(5_020));
        assert_eq!(b.status(100).state, "disabled");
    }

    #[test]
    fn failures_outside_the_window_do_not_count() {
        let b = breaker();
        assert!(!b.failure(0, "x"));
        assert!(!b.failure(10, "x"));
        assert!(!b.failure(2_000, "x"), "the first two have left the window");
    }

    #[test]
    fn probe_after_cooldown_closes_or_reopens() {
        let b = breaker();
        for t in 0..3 {
            b.failure(t, "x");
        }
        assert!(b.admit(6_000).is_ok(), "cooldown over: probe");
        assert!(b.failure(6_000, "x"), "failed probe trips at once");
        assert!(b.admit(12_000).is_ok());
        b.success();
        assert!(!b.failure(12_001, "x"), "closed again after a good probe");
        assert_eq!(b.status(12_001).trips, 2);
    }

    #[test]
    fn a_half_open_breaker_lets_one_probe_through() {
        let b = breaker();
        for t in 0..3 {
            b.failure(t, "x");
        }
        assert!(b.admit(6_000).is_ok(), "the probe");
        assert_eq!(
            b.admit(6_001),
            Err(11_000),
            "the others wait for its answer"
        );
        b.success();
        assert!(b.admit(6_002).is_ok(), "closed after a good probe");
        for t in 7_000..7_003 {
            b.failure(t, "x");
        }
        assert!(b.admit(13_000).is_ok(), "a probe");
        assert!(b.admit(17_999).is_err());
        assert!(
            b.admit(18_000).is_ok(),
            "a probe that never answered is replaced"
        );
    }
}
