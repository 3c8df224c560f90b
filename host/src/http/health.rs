//! Operations endpoints, no token needed: liveness, readiness (store and NATS reachable, chain
//! loaded) and Prometheus metrics.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use serde::Serialize;

use super::AppState;
use crate::metrics::Metrics;

/// Readiness report.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// Whether this host should receive traffic.
    pub ready: bool,
    /// `ok`, or why the store is not reachable.
    pub store: String,
    /// `ok`, `in-process` (no `[nats]`), or the connection state.
    pub nats: String,
    /// Generation of the live chain (0: a fleet host's local chain, nothing published yet).
    pub chain_generation: u64,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "ok")))]
pub async fn healthz() -> &'static str {
    "ok"
}

/// Redis and NATS reachable (a chain is always loaded): 200, otherwise 503 with what is
/// missing.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, body = Readiness), (status = 503, body = Readiness)))]
pub async fn readyz(State(state): State<Arc<AppState>>) -> (StatusCode, axum::Json<Readiness>) {
    let store = match tokio::time::timeout(Duration::from_secs(1), state.chat.store.ping()).await {
        Ok(Ok(())) => "ok".to_owned(),
        Ok(Err(e)) => e.to_string(),
        Err(_) => "no answer within 1 s".to_owned(),
    };
    let nats = match &state.nats {
        None => "in-process".to_owned(),
        Some(client) => match client.connection_state() {
            async_nats::connection::State::Connected => "ok".to_owned(),
            other => other.to_string(),
        },
    };
    // A host never runs without a loaded chain (it refuses to start otherwise); generation 0
    // is a fleet host's local chain before anything was published, and it serves.
    let chain_generation = state.chat.chain.load().generation();
    let ready = store == "ok" && (nats == "ok" || nats == "in-process");
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        axum::Json(Readiness {
            ready,
            store,
            nats,
            chain_generation,
        }),
    )
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let m = &state.metrics;
    Metrics::catch_up(&m.redis_failovers, state.chat.store.failovers_seen());
    m.chain_generation
        .set(state.chat.chain.load().generation() as i64);
    let reload = state.reloader.status();
    Metrics::catch_up(&m.chain_reloads, reload.reloads);
    Metrics::catch_up(&m.chain_reload_failures, reload.failures);
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        m.render(),
    )
}
