//! The admin API, on its own listener: manage sources, endpoints and their
//! transformations at runtime; see what happened (events, deliveries with
//! their attempts, plugins, metrics, the audit log); and fix it (retry,
//! replay, recover a window, replay missing deliveries, disable and enable,
//! test on a sample or a recorded event). Typed models (`api`) shared with
//! the CLI; one error mapping ([`ApiError`]); routes by area (`routes/`).
//!
//! Because it can send every payment event anywhere, it is never open to a
//! web page: a bearer token always (generated at first start when none is
//! configured), only the listener's own address or a configured name as
//! `Host` (DNS rebinding), `Content-Type: application/json` on every change
//! (a cross-origin "simple" request cannot set it), and failed attempts
//! rate-limited and logged (`guard`). The dashboard (`dashboard`) is served
//! at `/` by the same listener and signs in to a session (`session`).

pub mod api;
mod dashboard;
pub mod examples;
mod guard;
pub mod jobs;
pub mod openapi;
mod routes;
pub mod samples;
pub mod session;
pub mod views;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use axum::response::{IntoResponse, Response};
use http::StatusCode;

use crate::catalog::{Catalog, CatalogError};
use crate::config::Config;
use crate::delivery::Deliverer;
use crate::metrics::Metrics;
use crate::runtime::registry::PluginRegistry;
use crate::store::{Store, StoreError};
pub use guard::{AdminToken, TOKEN_FILE, TokenSource};
use jobs::Jobs;

/// What every route works with.
pub struct Admin {
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    pub catalog: Arc<Catalog>,
    pub deliverer: Arc<Deliverer>,
    pub registry: Arc<PluginRegistry>,
    pub metrics: Arc<Metrics>,
    pub jobs: Arc<Jobs>,
    pub ready: Arc<AtomicBool>,
    pub guard: guard::Guard,
    /// Where webhooks are received, for the sample sender.
    pub ingest_addr: std::net::SocketAddr,
}

impl Admin {
    /// The router, with every request through the guard.
    pub fn router(self: Arc<Self>) -> axum::Router {
        routes::all()
            .fallback(routes::not_found)
            .method_not_allowed_fallback(routes::method_not_allowed)
            .layer(axum::middleware::from_fn_with_state(
                self.clone(),
                guard::check,
            ))
            .with_state(self)
    }
}

/// The guard for a token on a listener that also answers to `hosts`.
pub fn guard_for(
    token: &AdminToken,
    listen: std::net::SocketAddr,
    hosts: &[String],
    session_ttl: std::time::Duration,
) -> guard::Guard {
    guard::Guard::new(token, listen, hosts, session_ttl)
}

/// An answer that is not a success: a status and a one-line message,
/// `{"error": "…"}`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            axum::Json(api::ErrorBody {
                error: self.message,
            }),
        )
            .into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => ApiError::not_found(format!("{what} not found")),
            other => {
                tracing::error!("admin API store error: {other}");
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, other.to_string())
            }
        }
    }
}

impl From<CatalogError> for ApiError {
    fn from(e: CatalogError) -> Self {
        match e {
            CatalogError::Invalid(m) => ApiError::bad_request(m),
            CatalogError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, m),
            CatalogError::NotFound(m) => ApiError::not_found(m),
            CatalogError::Store(e) => e.into(),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
