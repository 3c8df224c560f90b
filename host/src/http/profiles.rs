//! Business profiles: the shop window anyone may read, without a token; only the owner (or an
//! admin) writes. `PUT`
//! replaces the whole profile, `PATCH` changes the fields it names.

use std::sync::Arc;

use axum::extract::State;

use super::error::{ApiError, ErrorBody};
use super::extract::{Caller, Json, Path};
use super::AppState;
use crate::auth::Role;
use crate::ids::UserId;
use crate::store::{Profile, ProfilePatch};

fn may_write(caller: &Caller, user: &UserId) -> Result<(), ApiError> {
    if caller.0.user == *user || caller.0.has(Role::Admin) {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "{} may only change their own profile",
            caller.0.user
        )))
    }
}

/// A profile (public: no token needed).
#[utoipa::path(get, path = "/v1/profiles/{user}", tag = "profiles",
    params(("user" = String, Path)),
    responses((status = 200, body = Profile), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<Arc<AppState>>,
    Path(user): Path<String>,
) -> Result<axum::Json<Profile>, ApiError> {
    let user = UserId::new(user)?;
    Ok(axum::Json(state.chat.store.profile(&user).await?))
}

/// Replace a profile: fields left out are cleared.
#[utoipa::path(put, path = "/v1/profiles/{user}", tag = "profiles", security(("bearer" = [])),
    params(("user" = String, Path)), request_body = ProfilePatch,
    responses((status = 200, body = Profile), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn put(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(user): Path<String>,
    Json(body): Json<ProfilePatch>,
) -> Result<axum::Json<Profile>, ApiError> {
    let user = UserId::new(user)?;
    may_write(&caller, &user)?;
    let full = ProfilePatch {
        display_name: Some(body.display_name.unwrap_or_default()),
        business_name: Some(body.business_name.unwrap_or_default()),
        category: Some(body.category.unwrap_or_default()),
        city: Some(body.city.unwrap_or_default()),
        phone: Some(body.phone.unwrap_or_default()),
        about: Some(body.about.unwrap_or_default()),
        products: Some(body.products.unwrap_or_default()),
    };
    Ok(axum::Json(state.chat.update_profile(&user, full).await?))
}

/// Change some fields of a profile (creating it if needed).
#[utoipa::path(patch, path = "/v1/profiles/{user}", tag = "profiles", security(("bearer" = [])),
    params(("user" = String, Path)), request_body = ProfilePatch,
    responses((status = 200, body = Profile), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn patch(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(user): Path<String>,
    Json(body): Json<ProfilePatch>,
) -> Result<axum::Json<Profile>, ApiError> {
    let user = UserId::new(user)?;
    may_write(&caller, &user)?;
    Ok(axum::Json(state.chat.update_profile(&user, body).await?))
}
