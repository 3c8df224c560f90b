//! The API's one error shape, `{"error": {"code", "message", ...}}`, with stable codes, and the
//! conversions from every failure the handlers meet (store, chain, auth, extractor rejections).

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::auth::AuthError;
use crate::chat::PostError;
use crate::relay::ingest::error_body;
use crate::store::StoreError;

/// An API error: status, stable code, message, and optional extra fields.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Body (`{"error": {...}}`).
    pub body: serde_json::Value,
    /// `Retry-After`, s.
    pub retry_after_s: Option<u64>,
}

/// The error body, for the OpenAPI document.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// One error.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable code: `invalid_request`, `invalid_json`, `unsupported_media_type`,
    /// `body_too_large`, `headers_too_large`, `unauthorized`, `invalid_token`, `token_expired`,
    /// `forbidden`, `not_found`, `no_route`, `method_not_allowed`, `conflict`, `rejected`,
    /// `rate_limited`, `reload_failed`, `unavailable`, `internal`.
    pub code: String,
    /// What happened, for people.
    pub message: String,
    /// For `rejected`/`rate_limited`: the plugin that refused the message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugin: Option<String>,
    /// For `rejected`/`rate_limited`: the plugin's rule code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
}

impl ApiError {
    /// An error with `code` and `message`.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            body: json!({"error": {"code": code, "message": message.into()}}),
            retry_after_s: None,
        }
    }

    /// 400 `invalid_request`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    /// 403 `forbidden`.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// The stable code.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_default()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body)).into_response();
        if let Some(s) = self.retry_after_s {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"chowk\""),
            );
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let (status, code) = match &e {
            StoreError::Invalid { .. } => (StatusCode::BAD_REQUEST, "invalid_request"),
            StoreError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            StoreError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            StoreError::Unavailable(_) | StoreError::NotReplicated { .. } => {
                (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
            }
        };
        let mut error = ApiError::new(status, code, e.to_string());
        if e.is_transient() {
            error.retry_after_s = Some(1);
        }
        error
    }
}

impl From<PostError> for ApiError {
    fn from(e: PostError) -> Self {
        match e {
            PostError::Store(store) => store.into(),
            PostError::Invalid(m) => ApiError::invalid(m),
            PostError::Forbidden(m) => ApiError::forbidden(m),
            rejected @ PostError::Rejected { .. } => {
                let limited = rejected.code() == "rate_limited";
                let retry_after_s = match &rejected {
                    PostError::Rejected { rejection, .. } if limited => Some(
                        rejection
                            .retry_after_ms
                            .unwrap_or(1_000)
                            .div_ceil(1_000)
                            .max(1),
                    ),
                    _ => None,
                };
                ApiError {
                    status: if limited {
                        StatusCode::TOO_MANY_REQUESTS
                    } else {
                        StatusCode::UNPROCESSABLE_ENTITY
                    },
                    body: error_body(&rejected),
                    retry_after_s,
                }
            }
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        let code = match e {
            AuthError::Missing => "unauthorized",
            AuthError::Expired => "token_expired",
            AuthError::Invalid(_) => "invalid_token",
        };
        ApiError::new(StatusCode::UNAUTHORIZED, code, e.to_string())
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        match &r {
            JsonRejection::MissingJsonContentType(_) => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON with Content-Type: application/json",
            ),
            JsonRejection::JsonSyntaxError(_) => ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                format!(
                    "body is not valid JSON (or not UTF-8): {}",
                    inner_message(&r)
                ),
            ),
            JsonRejection::JsonDataError(_) => {
                ApiError::invalid(format!("body: {}", inner_message(&r)))
            }
            _ if r.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                "request body is larger than the configured limit",
            ),
            _ => ApiError::invalid(r.body_text()),
        }
    }
}

/// The serde message behind a JSON rejection, without axum's prefix.
fn inner_message(r: &JsonRejection) -> String {
    let text = r.body_text();
    match text.split_once(": ") {
        Some((_, rest)) => rest.to_owned(),
        None => text,
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError::invalid(format!("path: {}", r.body_text()))
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::invalid(format!("query: {}", r.body_text()))
    }
}
