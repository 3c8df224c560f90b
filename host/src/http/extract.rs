//! Extractors that turn every bad request into an [`ApiError`] with a stable code: JSON bodies,
//! path and query parameters, and the bearer-token [`Caller`].

use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::StatusCode;

use super::error::ApiError;
use super::AppState;
use crate::auth::{AuthError, Identity, Role};
use crate::codes::ErrorCode;

/// A JSON object body (`Content-Type: application/json`, unknown fields refused by the types).
/// Bad bodies become typed errors: another content type is 415, a body over the limit says the
/// limit, a body that does not arrive within `[server] body_timeout_ms` is 408, and valid JSON that is not an object (an array, a string) is refused — serde would
/// otherwise read a struct from an array of its fields.
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<T: serde::de::DeserializeOwned> FromRequest<Arc<AppState>> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(
        request: axum::extract::Request,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        if !is_json(request.headers()) {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                "send the body as JSON with Content-Type: application/json",
            ));
        }
        let read = axum::body::Bytes::from_request(request, state);
        let Ok(read) = tokio::time::timeout(state.body_timeout, read).await else {
            return Err(ApiError::new(
                ErrorCode::RequestTimeout,
                format!(
                    "the request body did not arrive within {} ms ([server] body_timeout_ms)",
                    state.body_timeout.as_millis()
                ),
            ));
        };
        let bytes = match read {
            Ok(bytes) => bytes,
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(ApiError::new(
                    ErrorCode::BodyTooLarge,
                    format!(
                        "the request body is larger than the limit of {} bytes ([limits] body_bytes)",
                        state.limits.body_bytes
                    ),
                ))
            }
            Err(rejection) => {
                return Err(ApiError::new(
                    ErrorCode::InvalidRequest,
                    format!("body: {}", rejection.body_text()),
                ))
            }
        };
        let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
        if first != Some(&b'{') && serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).is_ok() {
            return Err(ApiError::new(
                ErrorCode::InvalidRequest,
                "body: expected a JSON object",
            ));
        }
        match axum::Json::<T>::from_bytes(&bytes) {
            Ok(axum::Json(value)) => Ok(Json(value)),
            Err(rejection) => Err(rejection.into()),
        }
    }
}

/// `application/json`, or another `application/*+json` type.
fn is_json(headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mime = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

/// Path parameters.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

/// Query parameters.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

/// The authenticated caller (`Authorization: Bearer <jwt>`).
#[derive(Debug, Clone)]
pub struct Caller(pub Identity);

impl Caller {
    /// Refuse callers below `role` (403).
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.0.has(role) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "this needs the {} role",
                serde_json::to_value(role)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            )))
        }
    }
}

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let header = match parts.headers.get(AUTHORIZATION) {
            None => None,
            Some(v) => Some(
                v.to_str()
                    .map_err(|_| AuthError::Invalid("Authorization is not ASCII".into()))?,
            ),
        };
        let identity = state.auth.verify_header(header)?;
        if let Some(slot) = parts.extensions.get::<super::middleware::CallerSlot>() {
            let _ = slot.0.set(identity.user.clone());
        }
        Ok(Caller(identity))
    }
}
