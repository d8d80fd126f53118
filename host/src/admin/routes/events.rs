//! `/v1/events`: what arrived, and what became of it.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::routing::get;

use super::super::api::{DeliveryDetail, DeliveryStateView, EventDetail, EventView, List};
use super::super::{Admin, ApiError, ApiResult, views};
use crate::model::{Delivery, Event, EventId, EventQuery};

pub fn routes() -> axum::Router<Arc<Admin>> {
    axum::Router::new()
        .route("/v1/events", get(list))
        .route("/v1/events/{id}", get(show))
}

#[utoipa::path(get, operation_id = "events_list", path = "/v1/events", tag = "events",
    params(("source" = Option<String>, Query), ("type" = Option<String>, Query), ("since" = Option<String>, Query),
           ("until" = Option<String>, Query), ("cursor" = Option<String>, Query), ("limit" = Option<usize>, Query),
           ("deliveries" = Option<bool>, Query, description = "true: each event with its deliveries' states")),
    responses((status = 200, body = List<EventView>)))]
pub(crate) async fn list(
    State(admin): State<Arc<Admin>>,
    Query(query): Query<super::Query>,
) -> ApiResult<Json<List<EventView>>> {
    let q = EventQuery {
        source: query.get("source").cloned(),
        event_type: query.get("type").cloned(),
        since: super::time_param(&query, "since")?,
        until: super::time_param(&query, "until")?,
        cursor: super::parse_param::<EventId>(&query, "cursor", "an event id")?,
        limit: super::limit(&query)?,
    };
    let with_deliveries = match query.get("deliveries").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "deliveries: {other:?} is not true or false"
            )));
        }
    };
    let page = admin.store.events(&q).await?;
    let mut items = Vec::with_capacity(page.items.len());
    for e in &page.items {
        let mut view = views::event(e);
        if with_deliveries {
            // One lookup per event on the page (at most `limit`), never a
            // scan of the log.
            let states = admin.store.deliveries_of(e.id).await?;
            view.deliveries = Some(
                states
                    .iter()
                    .map(|d| {
                        let shown = views::delivery(d);
                        DeliveryStateView {
                            id: shown.id,
                            endpoint: shown.endpoint,
                            status: shown.status,
                        }
                    })
                    .collect(),
            );
        }
        items.push(view);
    }
    Ok(Json(List {
        items,
        next_cursor: page.next_cursor,
    }))
}

/// An event by the id ingest returned, or by the sender's `webhook-id`.
pub async fn find(admin: &Admin, id: &str) -> ApiResult<Option<Event>> {
    let event_id = match id.parse::<EventId>() {
        Ok(event_id) => Some(event_id),
        Err(()) => {
            let mut found = None;
            for source in admin.catalog.snapshot().sources.keys() {
                if let Some(event_id) = admin.store.event_by_webhook_id(source, id).await? {
                    found = Some(event_id);
                    break;
                }
            }
            found
        }
    };
    match event_id {
        Some(event_id) => Ok(admin.store.event(event_id).await?),
        None => Ok(None),
    }
}

/// A delivery with its attempts and stored request, credentials redacted.
pub async fn detail(
    admin: &Admin,
    d: &Delivery,
    event_type: Option<String>,
) -> ApiResult<DeliveryDetail> {
    let attempts = admin.store.attempts(d.id).await?;
    let request = admin.store.request(d.id).await?;
    let snapshot = admin.catalog.snapshot();
    let endpoint = snapshot.endpoint(&d.endpoint).map(|e| e.endpoint.as_ref());
    Ok(views::delivery_detail(
        d,
        event_type,
        &attempts,
        request.as_ref(),
        endpoint,
    ))
}

#[utoipa::path(get, operation_id = "events_show", path = "/v1/events/{id}", tag = "events", params(("id" = String, Path, description = "evt_… or the sender's webhook-id")),
    responses((status = 200, body = EventDetail), (status = 404, body = super::super::api::ErrorBody)))]
pub(crate) async fn show(
    State(admin): State<Arc<Admin>>,
    Path(id): Path<String>,
) -> ApiResult<Json<EventDetail>> {
    let event = find(&admin, &id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no event {id:?}")))?;
    let payload = admin.store.payload(event.id).await?;
    let mut deliveries = Vec::new();
    for d in admin.store.deliveries_of(event.id).await? {
        deliveries.push(detail(&admin, &d, None).await?);
    }
    Ok(Json(views::event_detail(
        &event,
        payload.as_deref(),
        deliveries,
    )))
}
