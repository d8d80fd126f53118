//! `/v1/deliveries`: each event's way to each endpoint, and its repair:
//! retry (the same bytes) or replay (the current transformation).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use http::StatusCode;

use super::super::api::{DeliveryDetail, DeliveryView, List};
use super::super::{Admin, ApiError, ApiResult, views};
use crate::model::{DeliveryId, DeliveryQuery, DeliveryStatus, now_ms};

pub fn routes() -> axum::Router<Arc<Admin>> {
    axum::Router::new()
        .route("/v1/deliveries", get(list))
        .route("/v1/deliveries/{id}", get(show))
        .route("/v1/deliveries/{id}/retry", post(retry))
        .route("/v1/deliveries/{id}/replay", post(replay))
}

#[utoipa::path(get, operation_id = "deliveries_list", path = "/v1/deliveries", tag = "deliveries",
    params(("endpoint" = Option<String>, Query), ("status" = Option<String>, Query), ("since" = Option<String>, Query),
           ("until" = Option<String>, Query), ("cursor" = Option<String>, Query), ("limit" = Option<usize>, Query)),
    responses((status = 200, body = List<DeliveryDetail>), (status = 404, body = super::super::api::ErrorBody)))]
pub(crate) async fn list(
    State(admin): State<Arc<Admin>>,
    Query(query): Query<super::Query>,
) -> ApiResult<Json<List<DeliveryDetail>>> {
    let status = query
        .get("status")
        .map(|s| {
            s.parse::<DeliveryStatus>()
                .map_err(|e| ApiError::bad_request(format!("status: {e}")))
        })
        .transpose()?;
    let endpoint = query.get("endpoint").cloned();
    if let Some(id) = &endpoint
        && admin.catalog.snapshot().endpoint(id).is_none()
    {
        return Err(ApiError::not_found(format!("no endpoint {id:?}")));
    }
    let q = DeliveryQuery {
        endpoint,
        status,
        since: super::time_param(&query, "since")?,
        until: super::time_param(&query, "until")?,
        cursor: super::parse_param::<DeliveryId>(&query, "cursor", "a delivery id")?,
        limit: super::limit(&query)?,
    };
    let page = admin.store.deliveries(&q).await?;
    let mut items = Vec::with_capacity(page.items.len());
    for d in &page.items {
        let event_type = admin.store.event(d.event_id).await?.map(|e| e.event_type);
        items.push(super::events::detail(&admin, d, event_type).await?);
    }
    Ok(Json(List {
        items,
        next_cursor: page.next_cursor,
    }))
}

#[utoipa::path(get, operation_id = "deliveries_show", path = "/v1/deliveries/{id}", tag = "deliveries", params(("id" = String, Path)),
    responses((status = 200, body = DeliveryDetail), (status = 404, body = super::super::api::ErrorBody)))]
pub(crate) async fn show(
    State(admin): State<Arc<Admin>>,
    Path(id): Path<String>,
) -> ApiResult<Json<DeliveryDetail>> {
    let parsed: DeliveryId = id
        .parse()
        .map_err(|_| ApiError::not_found(format!("no delivery {id:?}")))?;
    let d = admin
        .store
        .delivery(parsed)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no delivery {id}")))?;
    let event_type = admin.store.event(d.event_id).await?.map(|e| e.event_type);
    Ok(Json(super::events::detail(&admin, &d, event_type).await?))
}

async fn requeue(
    admin: &Admin,
    id: &str,
    replay: bool,
) -> ApiResult<(StatusCode, Json<DeliveryView>)> {
    let parsed: DeliveryId = id
        .parse()
        .map_err(|_| ApiError::not_found(format!("no delivery {id:?}")))?;
    let d = admin.store.requeue(parsed, replay, now_ms()).await?;
    tracing::info!(delivery = %id, endpoint = %d.endpoint, replay, "delivery re-queued through the admin API");
    Ok((StatusCode::ACCEPTED, Json(views::delivery(&d))))
}

/// Sends the stored request again.
#[utoipa::path(post, operation_id = "deliveries_retry", path = "/v1/deliveries/{id}/retry", tag = "deliveries", params(("id" = String, Path)),
    responses((status = 202, body = DeliveryView)))]
pub(crate) async fn retry(
    State(admin): State<Arc<Admin>>,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<DeliveryView>)> {
    requeue(&admin, &id, false).await
}

/// Runs the endpoint's current plugin or transformation again, then sends.
#[utoipa::path(post, operation_id = "deliveries_replay", path = "/v1/deliveries/{id}/replay", tag = "deliveries", params(("id" = String, Path)),
    responses((status = 202, body = DeliveryView)))]
pub(crate) async fn replay(
    State(admin): State<Arc<Admin>>,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<DeliveryView>)> {
    requeue(&admin, &id, true).await
}
