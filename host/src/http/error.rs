//! [`ApiError`]: the wire's one error body ([`ErrorDetail`]) with its HTTP status (derived from
//! the code, in one table: [`status_of`]) and `Retry-After`; and the conversions from every
//! failure the handlers meet (chat, store, ids, auth, extractor rejections).

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::auth::AuthError;
use crate::chat::ChatError;
use crate::codes::ErrorCode;
use crate::ids::IdError;
use crate::store::StoreError;
pub use crate::wire::ErrorBody;
use crate::wire::ErrorDetail;

/// An API error: the body's detail; the status and `Retry-After` follow from it. Boxed: the
/// error path is rare and the success path should not carry its size.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The error as the body carries it.
    pub detail: Box<ErrorDetail>,
}

/// The HTTP status of each error code.
pub fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::InvalidRequest | ErrorCode::InvalidJson => StatusCode::BAD_REQUEST,
        ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ErrorCode::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
        ErrorCode::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        ErrorCode::Unauthorized | ErrorCode::InvalidToken | ErrorCode::TokenExpired => {
            StatusCode::UNAUTHORIZED
        }
        ErrorCode::Forbidden => StatusCode::FORBIDDEN,
        ErrorCode::NotFound | ErrorCode::NoRoute => StatusCode::NOT_FOUND,
        ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::Conflict => StatusCode::CONFLICT,
        ErrorCode::Rejected | ErrorCode::ReloadFailed => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl ApiError {
    /// An error with `code` and `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ErrorDetail::new(code, message).into()
    }

    /// 400 `invalid_request` about `field`.
    pub fn invalid(field: &str, message: impl std::fmt::Display) -> Self {
        ErrorDetail {
            field: Some(field.to_owned()),
            ..ErrorDetail::new(ErrorCode::InvalidRequest, format!("{field}: {message}"))
        }
        .into()
    }

    /// 403 `forbidden`.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }

    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        self.detail.code
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        status_of(self.detail.code)
    }
}

impl From<ErrorDetail> for ApiError {
    fn from(detail: ErrorDetail) -> Self {
        ApiError {
            detail: Box::new(detail),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let retry_after_s = self
            .detail
            .retry_after_ms
            .map(|ms| ms.div_ceil(1_000).max(1));
        let mut response = (status, axum::Json(self.detail.into_body())).into_response();
        if let Some(s) = retry_after_s {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        if status == StatusCode::UNAUTHORIZED {
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
        ErrorDetail::from(&e).into()
    }
}

impl From<ChatError> for ApiError {
    fn from(e: ChatError) -> Self {
        ErrorDetail::from(&e).into()
    }
}

impl From<IdError> for ApiError {
    fn from(e: IdError) -> Self {
        ApiError::invalid(e.field, e.message)
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        let code = match e {
            AuthError::Missing => ErrorCode::Unauthorized,
            AuthError::Expired => ErrorCode::TokenExpired,
            AuthError::Invalid(_) => ErrorCode::InvalidToken,
        };
        ApiError::new(code, e.to_string())
    }
}

/// What `axum::Json::from_bytes` refuses (the `Json` extractor answers the content type and
/// the size limit itself, before parsing).
impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        match &r {
            JsonRejection::JsonSyntaxError(_) => ApiError::new(
                ErrorCode::InvalidJson,
                format!(
                    "body is not valid JSON (or not UTF-8): {}",
                    inner_message(&r)
                ),
            ),
            JsonRejection::JsonDataError(_) => ApiError::new(
                ErrorCode::InvalidRequest,
                format!("body: {}", inner_message(&r)),
            ),
            _ => ApiError::new(ErrorCode::InvalidRequest, r.body_text()),
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
        ApiError::new(
            ErrorCode::InvalidRequest,
            format!("path: {}", r.body_text()),
        )
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        // axum deserialises query strings through serde_path_to_error: take the parameter's
        // name from the typed error's path, not from the text.
        let mut source = std::error::Error::source(&r);
        while let Some(e) = source {
            if let Some(e) = e.downcast_ref::<serde_path_to_error::Error<serde::de::value::Error>>()
            {
                let field = e.path().to_string();
                if field != "." {
                    return ApiError::invalid(&field, e.inner());
                }
                return ApiError::new(ErrorCode::InvalidRequest, format!("query: {}", e.inner()));
            }
            source = e.source();
        }
        ApiError::new(
            ErrorCode::InvalidRequest,
            format!("query: {}", r.body_text()),
        )
    }
}
