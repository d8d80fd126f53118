//! `/v1/session`: the dashboard's sign-in (the admin token in, a session
//! cookie and its CSRF token out), what the signed-in page asks after a
//! reload, and sign-out.

use std::sync::Arc;

use axum::Json;
use axum::extract::{FromRequest, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http::{HeaderValue, StatusCode, header};

use super::super::api::{SessionView, SignInRequest};
use super::super::{Admin, ApiError, ApiResult, session};
use super::Body;

pub const PATH: &str = "/v1/session";

pub fn routes() -> axum::Router<Arc<Admin>> {
    axum::Router::new().route(PATH, post(sign_in).get(show).delete(sign_out))
}

fn with_cookie(mut response: Response, cookie: String) -> ApiResult<Response> {
    let value = HeaderValue::from_str(&cookie)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    response.headers_mut().insert(header::SET_COOKIE, value);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Checks the admin token (wrong ones count against the same rate limit as
/// wrong bearer tokens) and starts a session: an `HttpOnly`,
/// `SameSite=Strict` cookie, `Secure` over HTTPS.
#[utoipa::path(post, operation_id = "session_sign_in", path = "/v1/session", tag = "session", request_body = SignInRequest,
    responses((status = 200, body = SessionView), (status = 401, body = super::super::api::ErrorBody), (status = 429, body = super::super::api::ErrorBody)),
    security(()))]
pub(crate) async fn sign_in(
    State(admin): State<Arc<Admin>>,
    request: Request,
) -> ApiResult<Response> {
    let secure = session::is_https(request.uri(), request.headers());
    let Body(body) = Body::<SignInRequest>::from_request(request, &()).await?;
    if !admin.guard.is_token(body.token.trim()) {
        let limited = admin.guard.failed();
        tracing::warn!(limited, "dashboard sign-in refused: wrong admin token");
        return Err(if limited {
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too many failed attempts; wait a moment",
            )
        } else {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "that is not the admin token (see [admin] token, or the admin.token file in the data directory)",
            )
        });
    }
    let (id, csrf) = admin.guard.sessions.start();
    let ttl = admin.guard.sessions.ttl();
    tracing::info!(ttl_secs = ttl.as_secs(), "dashboard session started");
    let answer = Json(SessionView {
        csrf_token: csrf,
        expires_in_secs: ttl.as_secs(),
    })
    .into_response();
    with_cookie(answer, session::set_cookie(&id, ttl, secure))
}

/// The request's session (a reloaded page gets its CSRF token back here).
#[utoipa::path(get, operation_id = "session_show", path = "/v1/session", tag = "session",
    responses((status = 200, body = SessionView), (status = 404, body = super::super::api::ErrorBody)))]
pub(crate) async fn show(
    State(admin): State<Arc<Admin>>,
    headers: http::HeaderMap,
) -> ApiResult<Response> {
    let active = admin.guard.sessions.of(&headers).ok_or_else(|| {
        ApiError::not_found("no session: this request was made with the bearer token")
    })?;
    let mut response = Json(SessionView {
        csrf_token: active.csrf,
        expires_in_secs: active.expires_in,
    })
    .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Signs out: the session ends on the server and the cookie is deleted.
#[utoipa::path(delete, operation_id = "session_sign_out", path = "/v1/session", tag = "session",
    responses((status = 204)))]
pub(crate) async fn sign_out(
    State(admin): State<Arc<Admin>>,
    request: Request,
) -> ApiResult<Response> {
    admin.guard.sessions.end(request.headers());
    let secure = session::is_https(request.uri(), request.headers());
    tracing::info!("dashboard session ended");
    with_cookie(
        StatusCode::NO_CONTENT.into_response(),
        session::clear_cookie(secure),
    )
}
