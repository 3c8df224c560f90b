//! Layers every request passes: request metrics (by matched route, so ids do not explode the
//! label set) and the header-size limit (431 with the API's error body).

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::AppState;
use crate::codes::ErrorCode;

/// Count and time the request.
pub async fn record(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let m = &state.metrics;
    m.http_latency
        .with_label_values(&[&route])
        .observe(started.elapsed().as_secs_f64());
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
