//! Prometheus metrics of one host (served on `GET /metrics`): HTTP requests and latencies,
//! verdicts per plugin and action, plugin failures, relay backlog, Redis failovers seen. One
//! registry per host, so in-process tests with several hosts do not share counters.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

use crate::plugins::{Action, Decision, RunOutcome};

/// The host's metrics.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    /// `chowk_http_requests_total{method, route, status}`.
    pub http_requests: IntCounterVec,
    /// `chowk_http_request_duration_seconds{route}`.
    pub http_latency: HistogramVec,
    /// `chowk_messages_total{action}`: chain decisions (allow, rewrite, flag, reject).
    pub messages: IntCounterVec,
    /// `chowk_plugin_verdicts_total{plugin, outcome}`.
    pub plugin_verdicts: IntCounterVec,
    /// `chowk_plugin_failures_total{plugin}`: traps, timeouts, memory caps, breaker skips.
    pub plugin_failures: IntCounterVec,
    /// `chowk_relay_backlog_rooms`: rooms with messages not yet relayed.
    pub relay_backlog_rooms: IntGauge,
    /// `chowk_relay_published_total`.
    pub relay_published: IntCounter,
    /// `chowk_relay_errors_total`: drain rounds that failed (NATS or Redis down).
    pub relay_errors: IntCounter,
    /// `chowk_redis_failovers_seen_total`: connections dropped after READONLY, MASTERDOWN,
    /// LOADING or a lost connection, each followed by a fresh resolution of the primary.
    pub redis_failovers: IntCounter,
    /// `chowk_chain_generation`.
    pub chain_generation: IntGauge,
    /// `chowk_chain_reloads_total`.
    pub chain_reloads: IntCounter,
    /// `chowk_chain_reload_failures_total`.
    pub chain_reload_failures: IntCounter,
    /// `chowk_live_feed_dropped_total`: publications on `chowk.room.*.messages` that no host of
    /// the fleet relayed (bad or missing signature, wrong room), dropped by the live feed.
    pub live_feed_dropped: IntCounter,
    /// `chowk_http_connections`: open HTTP connections (live streams included).
    pub http_connections: IntGauge,
    /// `chowk_http_connections_refused_total`: connections over `[server] max_connections`.
    pub http_connections_refused: IntCounter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Fresh metrics in their own registry.
    pub fn new() -> Self {
        let registry = Registry::new();
        fn reg<T: prometheus::core::Collector + Clone + 'static>(r: &Registry, c: T) -> T {
            // Names are fixed and distinct, so registration cannot collide.
            let _ = r.register(Box::new(c.clone()));
            c
        }
        let counter_vec = |name: &str, help: &str, labels: &[&str]| {
            reg(
                &registry,
                IntCounterVec::new(Opts::new(name, help), labels)
                    .unwrap_or_else(|e| unreachable!("metric {name} is well-formed: {e}")),
            )
        };
        let http_requests = counter_vec(
            "chowk_http_requests_total",
            "HTTP requests by method, route and status.",
            &["method", "route", "status"],
        );
        let messages = counter_vec(
            "chowk_messages_total",
            "Messages judged by the chain, by final action.",
            &["action"],
        );
        let plugin_verdicts = counter_vec(
            "chowk_plugin_verdicts_total",
            "Plugin outcomes by plugin and outcome.",
            &["plugin", "outcome"],
        );
        let plugin_failures = counter_vec(
            "chowk_plugin_failures_total",
            "Plugin calls that failed or were skipped by the circuit breaker.",
            &["plugin"],
        );
        let http_latency = reg(
            &registry,
            HistogramVec::new(
                HistogramOpts::new(
                    "chowk_http_request_duration_seconds",
                    "HTTP request latency by route.",
                )
                .buckets(vec![
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
                ]),
                &["route"],
            )
            .unwrap_or_else(|e| unreachable!("histogram is well-formed: {e}")),
        );
        let gauge = |name: &str, help: &str| {
            reg(
                &registry,
                IntGauge::new(name, help)
                    .unwrap_or_else(|e| unreachable!("metric {name} is well-formed: {e}")),
            )
        };
        let counter = |name: &str, help: &str| {
            reg(
                &registry,
                IntCounter::new(name, help)
                    .unwrap_or_else(|e| unreachable!("metric {name} is well-formed: {e}")),
            )
        };
        Metrics {
            live_feed_dropped: counter(
                "chowk_live_feed_dropped_total",
                "Publications on chowk.room.*.messages dropped by the live feed: not relayed by a host of this fleet.",
            ),
            http_connections: gauge(
                "chowk_http_connections",
                "Open HTTP connections, live streams included.",
            ),
            http_connections_refused: counter(
                "chowk_http_connections_refused_total",
                "Connections answered 503 and closed: over [server] max_connections.",
            ),
            http_requests,
            http_latency,
            messages,
            plugin_verdicts,
            plugin_failures,
            relay_backlog_rooms: gauge(
                "chowk_relay_backlog_rooms",
                "Rooms with stored messages the relay has not published yet.",
            ),
            relay_published: counter(
                "chowk_relay_published_total",
                "Messages the relay published.",
            ),
            relay_errors: counter(
                "chowk_relay_errors_total",
                "Relay rounds that failed (NATS or Redis unavailable); the backlog waits in the store.",
            ),
            redis_failovers: counter(
                "chowk_redis_failovers_seen_total",
                "Redis connections dropped after READONLY/MASTERDOWN/LOADING or connection loss.",
            ),
            chain_generation: gauge("chowk_chain_generation", "Generation of the live chain."),
            chain_reloads: counter("chowk_chain_reloads_total", "Chains swapped in by hot reload."),
            chain_reload_failures: counter(
                "chowk_chain_reload_failures_total",
                "Reloads refused (bad config or component); the previous chain stayed live.",
            ),
            registry,
        }
    }

    /// Count one chain decision.
    pub fn observe_decision(&self, d: &Decision) {
        let action = match d.action {
            Action::Allow => "allow",
            Action::Rewrite => "rewrite",
            Action::Flag => "flag",
            Action::Reject => "reject",
        };
        self.messages.with_label_values(&[action]).inc();
        for run in &d.trace {
            let outcome = match run.outcome {
                RunOutcome::Allow => "allow",
                RunOutcome::Score => "score",
                RunOutcome::Rewrite => "rewrite",
                RunOutcome::Reject => "reject",
                RunOutcome::Error => "error",
                RunOutcome::Disabled => "disabled",
                RunOutcome::Skipped => continue,
            };
            self.plugin_verdicts
                .with_label_values(&[&run.plugin, outcome])
                .inc();
            if matches!(run.outcome, RunOutcome::Error | RunOutcome::Disabled) {
                self.plugin_failures.with_label_values(&[&run.plugin]).inc();
            }
        }
    }

    /// Raise a counter that mirrors a monotonic count kept elsewhere to `total`.
    pub fn catch_up(counter: &IntCounter, total: u64) {
        let seen = counter.get();
        if total > seen {
            counter.inc_by(total - seen);
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::warn!(error = %e, "metrics could not be encoded");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters() {
        let m = Metrics::new();
        m.messages.with_label_values(&["allow"]).inc();
        Metrics::catch_up(&m.redis_failovers, 3);
        Metrics::catch_up(&m.redis_failovers, 2);
        let text = m.render();
        assert!(
            text.contains("chowk_messages_total{action=\"allow\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("chowk_redis_failovers_seen_total 3"),
            "{text}"
        );
    }
}
