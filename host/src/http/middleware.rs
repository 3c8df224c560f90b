//! Layers every request passes: request metrics (by matched route, so ids do not explode the
//! label set) and one access-log line per request, and the header-size limit (431 with the
//! API's error body).

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::AppState;
use crate::codes::ErrorCode;

/// Where the `Caller` extractor leaves the authenticated user, for the access log.
#[derive(Debug, Clone, Default)]
pub struct CallerSlot(pub Arc<OnceLock<crate::ids::UserId>>);

/// Count and time the request, and log it (target `chowk::access`, level info).
pub async fn record(
    State(state): State<Arc<AppState>>,
    mut request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = request.method().as_str().to_owned();
    let caller = CallerSlot::default();
    request.extensions_mut().insert(caller.clone());
    let started = Instant::now();
    let response = next.run(request).await;
    let elapsed = started.elapsed();
    tracing::info!(
        target: "chowk::access",
        method = %method,
        route = %route,
        status = response.status().as_u16(),
        ms = format_args!("{:.1}", elapsed.as_secs_f64() * 1_000.0),
        user = %caller.0.get().map_or("-", |u| u.as_str()),
        "request"
    );
    let m = &state.metrics;
    m.http_latency
        .with_label_values(&[&route])
        .observe(elapsed.as_secs_f64());
    m.http_requests
        .with_label_values(&[&method, &route, response.status().as_str()])
        .inc();
    response
}

/// Refuse requests whose headers add up to more than the configured limit.
pub async fn header_limit(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let size: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if size > state.limits.header_bytes {
        return ApiError::new(
            ErrorCode::HeadersTooLarge,
            format!(
                "request headers are {size} bytes; the limit is {}",
                state.limits.header_bytes
            ),
        )
        .into_response();
    }
    next.run(request).await
}
