//! The admin API's routes, one file per area; each handler takes typed
//! input and answers a typed model or an [`ApiError`](super::ApiError).

pub(super) mod deliveries;
pub(super) mod endpoints;
pub(super) mod events;
pub(super) mod meta;
pub(super) mod plugins;
pub(super) mod session;
pub(super) mod sources;
pub(super) mod test;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRequest, Request};
use http::StatusCode;
use serde::de::DeserializeOwned;

use super::{Admin, ApiError};
use crate::model::Millis;

pub fn all() -> Router<Arc<Admin>> {
    Router::new()
        .merge(meta::routes())
        .merge(sources::routes())
        .merge(endpoints::routes())
        .merge(events::routes())
        .merge(deliveries::routes())
        .merge(plugins::routes())
        .merge(session::routes())
        .merge(super::dashboard::routes())
}

pub async fn not_found(request: Request) -> ApiError {
    ApiError::not_found(format!(
        "no route {} {}",
        request.method(),
        request.uri().path()
    ))
}

/// Answers for a known path with another method.
pub async fn method_not_allowed(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "{} is not supported on {}",
            request.method(),
            request.uri().path()
        ),
    )
}

/// A JSON body, or a 400 saying what is wrong with it (an empty body is
/// `{}`).
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|e| ApiError::bad_request(format!("could not read the body: {e}")))?;
        let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        serde_json::from_slice(bytes)
            .map(Body)
            .map_err(|e| ApiError::bad_request(format!("the body: {e}")))
    }
}

type Query = HashMap<String, String>;

const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 1000;

fn limit(query: &Query) -> Result<usize, ApiError> {
    match query.get("limit") {
        None => Ok(DEFAULT_LIMIT),
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            _ => Err(ApiError::bad_request(format!(
                "limit must be 1–{MAX_LIMIT}"
            ))),
        },
    }
}

fn time_param(query: &Query, key: &str) -> Result<Option<Millis>, ApiError> {
    query
        .get(key)
        .map(|t| {
            super::views::parse_time(t).map_err(|e| ApiError::bad_request(format!("{key}: {e}")))
        })
        .transpose()
}

fn parse_param<T: std::str::FromStr>(
    query: &Query,
    key: &str,
    what: &str,
) -> Result<Option<T>, ApiError> {
    query
        .get(key)
        .map(|t| {
            t.parse::<T>()
                .map_err(|_| ApiError::bad_request(format!("{key}: {t:?} is not {what}")))
        })
        .transpose()
}
