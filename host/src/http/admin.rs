//! Admin endpoints: the live chain (generation, each plugin's hash, limits, policy, state,
//! calls, failures, latency percentiles) and a dry run of the chain that stores nothing.

use std::sync::Arc;

use axum::extract::State;
use serde::{Deserialize, Serialize};

use super::error::{ApiError, ErrorBody};
use super::extract::{Caller, Json};
use super::AppState;
use crate::auth::Role;
use crate::codes::ErrorCode;
use crate::plugins::chain::PluginStatus;
use crate::plugins::reload::{ReloadOutcome, ReloadStatus};
use crate::plugins::{Decision, Message};
use crate::wire::ErrorDetail;

/// `GET /v1/admin/plugins` answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ChainReport {
    /// Generation of the live chain.
    pub generation: u64,
    /// Score at which messages are flagged.
    pub flag_at: f64,
    /// Score at which messages are rejected.
    pub reject_at: f64,
    /// Plugins in chain order.
    pub plugins: Vec<PluginStatus>,
    /// Reloads since start, failures, and the last failure (cleared by the next success).
    pub reload: ReloadStatus,
}

/// The live chain (admin).
#[utoipa::path(get, path = "/v1/admin/plugins", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = ChainReport), (status = 403, body = ErrorBody)))]
pub async fn plugins(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<axum::Json<ChainReport>, ApiError> {
    caller.require(Role::Admin)?;
    let chain = state.chat.chain.load_full();
    Ok(axum::Json(ChainReport {
        generation: chain.generation(),
        flag_at: chain.thresholds().flag_at,
        reject_at: chain.thresholds().reject_at,
        plugins: chain.status(),
        reload: state.reloader.status(),
    }))
}

/// Reload the chain from its files now (admin): 200 with `swapped` or `unchanged` and the live
/// generation, or 422 `reload_failed` naming the plugin and the reason (the previous chain
/// stays live). SIGHUP does the same.
#[utoipa::path(post, path = "/v1/admin/plugins/reload", tag = "admin", security(("bearer" = [])),
    responses((status = 200, description = "`{\"outcome\": \"swapped\" | \"unchanged\", \"generation\"}`"),
        (status = 403, body = ErrorBody), (status = 422, description = "reload_failed", body = ErrorBody)))]
pub async fn reload(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<axum::Json<ReloadOutcome>, ApiError> {
    caller.require(Role::Admin)?;
    match state.reload().await {
        Ok(outcome) => Ok(axum::Json(outcome)),
        Err(failure) => Err(ErrorDetail {
            plugin: failure.plugin,
            kept_generation: Some(failure.kept_generation),
            ..ErrorDetail::new(ErrorCode::ReloadFailed, failure.reason)
        }
        .into()),
    }
}

/// `POST /v1/admin/eval` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EvalRequest {
    /// The text to judge.
    pub text: String,
    /// Room it would be posted in (default `eval`).
    #[serde(default)]
    pub room: Option<String>,
    /// Sender it would come from (default: the caller).
    #[serde(default)]
    pub sender: Option<String>,
}

/// Run a message through the live chain without storing or relaying it (admin). Plugins with
/// state (rate limits) do count it.
#[utoipa::path(post, path = "/v1/admin/eval", tag = "admin", security(("bearer" = [])),
    request_body = EvalRequest,
    responses((status = 200, body = Decision), (status = 403, body = ErrorBody)))]
pub async fn eval(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Json(body): Json<EvalRequest>,
) -> Result<axum::Json<Decision>, ApiError> {
    caller.require(Role::Admin)?;
    let message = Message {
        id: String::new(),
        room: body.room.unwrap_or_else(|| "eval".into()),
        sender: body.sender.unwrap_or_else(|| caller.0.user.to_string()),
        text: body.text,
        sent_at_ms: state.chat.clock.now_ms(),
        metadata: Vec::new(),
    };
    Ok(axum::Json(state.chat.dry_run(message).await?))
}
