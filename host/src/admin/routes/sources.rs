//! `/v1/sources`: where webhooks come from, managed at runtime.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use http::StatusCode;
use serde_json::Value;

use super::super::api::{List, RotateRequest, SourceView};
use super::super::{Admin, ApiError, ApiResult, views};
use super::Body;
use crate::catalog::spec::SourceSpec;

pub fn routes() -> axum::Router<Arc<Admin>> {
    axum::Router::new()
        .route("/v1/sources", get(list).post(create))
        .route("/v1/sources/{id}", get(show).patch(update).delete(delete))
        .route("/v1/sources/{id}/rotate", post(rotate))
}

#[utoipa::path(get, operation_id = "sources_list", path = "/v1/sources", tag = "sources", responses((status = 200, body = List<SourceView>)))]
pub(crate) async fn list(State(admin): State<Arc<Admin>>) -> Json<List<SourceView>> {
    let snapshot = admin.catalog.snapshot();
    Json(List {
        items: snapshot
            .sources
            .values()
            .map(|e| views::source(e))
            .collect(),
        next_cursor: None,
    })
}

#[utoipa::path(post, operation_id = "sources_create", path = "/v1/sources", tag = "sources", request_body = SourceSpec,
    responses((status = 201, body = SourceView), (status = 400, body = super::super::api::ErrorBody), (status = 409, body = super::super::api::ErrorBody)))]
pub(crate) async fn create(
    State(admin): State<Arc<Admin>>,
    Body(spec): Body<SourceSpec>,
) -> ApiResult<(StatusCode, Json<SourceView>)> {
    let entry = admin.catalog.create_source(spec).await?;
    tracing::info!(source = %entry.source.name, "source created through the admin API");
    Ok((StatusCode::CREATED, Json(views::source(&entry))))
}

#[utoipa::path(get, operation_id = "sources_show", path = "/v1/sources/{id}", tag = "sources", params(("id" = String, Path)),
    responses((status = 200, body = SourceView), (status = 404, body = super::super::api::ErrorBody)))]
pub(crate) async fn show(
    State(admin): State<Arc<Admin>>,
    Path(id): Path<String>,
) -> ApiResult<Json<SourceView>> {
    let snapshot = admin.catalog.snapshot();
    let entry = snapshot
        .source(&id)
        .ok_or_else(|| ApiError::not_found(format!("no source {id:?}")))?;
    Ok(Json(views::source(entry)))
}

/// A JSON merge patch of the source as written.
#[utoipa::path(patch, operation_id = "sources_update", path = "/v1/sources/{id}", tag = "sources", params(("id" = String, Path)), request_body = Object,
    responses((status = 200, body = SourceView), (status = 409, body = super::super::api::ErrorBody)))]
pub(crate) async fn update(
    State(admin): State<Arc<Admin>>,
    Path(id): Path<String>,
    Body(patch): Body<Value>,
) -> ApiResult<Json<SourceView>> {
    let entry = admin.catalog.patch_source(&id, &patch).await?;
    Ok(Json(views::source(&entry)))
}

#[utoipa::path(delete, operation_id = "sources_delete", path = "/v1/sources/{id}", tag = "sources", params(("id" = String, Path)),
    responses((status = 204), (status = 409, body = super::super::api::ErrorBody)))]
pub(crate) async fn delete(
    State(admin): State<Arc<Admin>>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    admin.catalog.delete_source(&id).await?;
    tracing::info!(source = %id, "source deleted through the admin API");
    Ok(StatusCode::NO_CONTENT)
}

/// The new secret signs from now; the old ones keep verifying for the grace
/// period (default 24 h).
#[utoipa::path(post, operation_id = "sources_rotate", path = "/v1/sources/{id}/rotate", tag = "sources", params(("id" = String, Path)), request_body = RotateRequest,
    responses((status = 200, body = SourceView)))]
pub(crate) async fn rotate(
    State(admin): State<Arc<Admin>>,
    Path(id): Path<String>,
    Body(body): Body<RotateRequest>,
) -> ApiResult<Json<SourceView>> {
    let grace = body
        .grace_secs
        .map(Duration::from_secs)
        .unwrap_or(crate::catalog::DEFAULT_GRACE);
    let entry = admin.catalog.rotate_source(&id, body.secret, grace).await?;
    tracing::info!(source = %id, grace_secs = grace.as_secs(), "source secret rotated through the admin API");
    Ok(Json(views::source(&entry)))
}
