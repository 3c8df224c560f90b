//! The HTTP chat API on axum: routes (documented by utoipa, so `/openapi.json` is generated
//! from the same table that routes requests), the shared [`AppState`], and the layers every
//! request passes (panic guard, metrics, header and body limits, compression).

pub mod access;
pub mod admin;
pub mod error;
pub mod events;
pub mod extract;
pub mod health;
pub mod limits;
pub mod listener;
pub mod messages;
pub mod middleware;
pub mod moderation;
pub mod profiles;
pub mod rooms;

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::response::{IntoResponse, Response};
use axum::Router;
use tokio_util::sync::CancellationToken;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Authority;
use crate::chat::Chat;
use crate::codes::ErrorCode;
use crate::live::LiveHub;
use crate::metrics::Metrics;
use crate::plugins::fleet::Fleet;
use crate::plugins::reload::{ReloadFailure, ReloadOutcome, Reloader};
use error::ApiError;
pub use limits::LimitsConfig;

/// What every handler shares.
#[derive(Debug)]
pub struct AppState {
    /// Posting, the store, the live chain and the clock.
    pub chat: Arc<Chat>,
    /// Builds and swaps chains (the live one is `chat.chain`).
    pub reloader: Arc<Reloader>,
    /// The chain manifest reloads read (file mode).
    pub plugins_path: PathBuf,
    /// The fleet's published chain (`[plugins] source = "nats"`).
    pub fleet: Option<Arc<Fleet>>,
    /// Token verification.
    pub auth: Authority,
    /// This host's live feed (SSE).
    pub live: Arc<LiveHub>,
    /// Metrics.
    pub metrics: Metrics,
    /// Request limits.
    pub limits: LimitsConfig,
    /// Longest wait for a request body (`[server] body_timeout_ms`).
    pub body_timeout: std::time::Duration,
    /// How often a live stream checks its caller's access again.
    pub stream_access_check: std::time::Duration,
    /// NATS, when configured (for readiness).
    pub nats: Option<async_nats::Client>,
    /// Cancelled when the server starts shutting down: live streams end so that the graceful
    /// shutdown can finish.
    pub shutdown: CancellationToken,
}

impl AppState {
    /// Reload the chain now (admin endpoint, SIGHUP): from its files, off the async workers,
    /// or the fleet's current published revision.
    pub async fn reload(&self) -> Result<ReloadOutcome, ReloadFailure> {
        if let Some(fleet) = &self.fleet {
            return fleet.reload(&self.reloader).await;
        }
        let (reloader, path) = (self.reloader.clone(), self.plugins_path.clone());
        tokio::task::spawn_blocking(move || reloader.reload_file(&path))
            .await
            .unwrap_or_else(|e| {
                Err(self
                    .reloader
                    .report(None, format!("reload task failed: {e}")))
            })
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Chowk",
        description = "Community chat whose every message passes a chain of sandboxed WebAssembly plugins. \
                       Errors are `{\"error\": {\"code\", \"message\", ...}}` with stable codes."
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "rooms", description = "Rooms and membership"),
        (name = "messages", description = "Posting, history and live events"),
        (name = "moderation", description = "The flagged-message queue"),
        (name = "profiles", description = "Business profiles"),
        (name = "admin", description = "The plugin chain"),
        (name = "operations", description = "Health, readiness, metrics"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// Every documented route, and the OpenAPI document describing exactly them.
fn routes() -> (Router<Arc<AppState>>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(rooms::create, rooms::list))
        .routes(routes!(rooms::get))
        .routes(routes!(rooms::add_member, rooms::remove_member))
        .routes(routes!(rooms::add_moderator, rooms::remove_moderator))
        .routes(routes!(messages::post, messages::history))
        .routes(routes!(events::events))
        .routes(routes!(moderation::queue))
        .routes(routes!(moderation::decide))
        .routes(routes!(profiles::get, profiles::put, profiles::patch))
        .routes(routes!(admin::plugins))
        .routes(routes!(admin::reload))
        .routes(routes!(admin::eval))
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(health::metrics))
        .split_for_parts()
}

/// The OpenAPI document (also served at `/openapi.json`).
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = routes().1;
    add_shared_errors(&mut doc);
    doc.paths.paths.insert(
        "/openapi.json".into(),
        utoipa::openapi::path::PathItem::new(
            utoipa::openapi::HttpMethod::Get,
            utoipa::openapi::path::OperationBuilder::new()
                .summary(Some("This document"))
                .tag("operations")
                .response("200", utoipa::openapi::Response::new("OpenAPI 3.1 JSON")),
        ),
    );
    doc
}

/// The answers every operation can give besides its own: 401 where a token is required, 400
/// where it reads parameters or a body, 413 and 415 where it reads a JSON body, 404 where the
/// path names something, 431 and 500 everywhere, and 503 where the store is used — added to
/// each operation that does not list them already.
fn add_shared_errors(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
    let error = |description: &str| {
        RefOr::T(
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build(),
        )
    };
    for (path, item) in doc.paths.paths.iter_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for op in operations.into_iter().flatten() {
            let mut add = |status: &str, description: &str| {
                op.responses
                    .responses
                    .entry(status.to_owned())
                    .or_insert_with(|| error(description));
            };
            if op.security.as_ref().is_some_and(|s| !s.is_empty()) {
                add("401", "unauthorized, invalid_token or token_expired");
            }
            let has_parameters = op.parameters.as_ref().is_some_and(|p| !p.is_empty());
            if op.request_body.is_some() || has_parameters {
                add("400", "invalid_request or invalid_json");
            }
            if op.request_body.is_some() {
                add("408", "request_timeout: the body did not arrive in time");
                add("413", "body_too_large");
                add("415", "unsupported_media_type");
            }
            if path.contains('{') {
                add("404", "not_found");
            }
            add("431", "headers_too_large");
            add("500", "internal");
            if path.starts_with("/v1/") {
                add("503", "unavailable (storage); retry after Retry-After");
            }
        }
    }
}

/// The whole API with its layers.
pub fn router(state: Arc<AppState>) -> Router {
    let (routes, _) = routes();
    let doc = openapi();
    let body_limit = state.limits.body_bytes;
    routes
        .route(
            "/openapi.json",
            axum::routing::get(move || async move { axum::Json(doc) }),
        )
        .fallback(no_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::header_limit,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::record,
        ))
        .layer(CompressionLayer::new())
        .layer(CatchPanicLayer::custom(panicked))
        .with_state(state)
}

async fn no_route() -> ApiError {
    ApiError::new(ErrorCode::NoRoute, "no such endpoint; see /openapi.json")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        "this endpoint does not take that method; see /openapi.json",
    )
}

fn panicked(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    ApiError::new(ErrorCode::Internal, "internal error (logged)").into_response()
}
