//! Health, readiness, metrics, the config file's status, the audit log,
//! the built-in samples, the seed JavaScript examples and the OpenAPI
//! document.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderValue, StatusCode, header};

use super::super::api::{AuditView, ExampleView, List, ReadyView, SampleView};
use super::super::{Admin, ApiError, ApiResult, examples, samples, views};
use crate::catalog::FileStatus;
use crate::metrics::EndpointState as StateLabel;
use crate::model::now_ms;

pub fn routes() -> axum::Router<Arc<Admin>> {
    axum::Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/v1/config", get(config))
        .route("/v1/audit", get(audit))
        .route("/v1/samples", get(list_samples))
        .route("/v1/examples", get(list_examples))
        .route("/v1/openapi.json", get(openapi))
}

async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

#[utoipa::path(get, operation_id = "meta_readyz", path = "/readyz", tag = "meta",
    responses((status = 200, body = ReadyView), (status = 503, body = super::super::api::ErrorBody)))]
pub(crate) async fn readyz(State(admin): State<Arc<Admin>>) -> ApiResult<Json<ReadyView>> {
    if !admin.ready.load(Ordering::Relaxed) {
        return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "starting"));
    }
    if let Some(why) = admin.store.failure() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("store failed: {why}"),
        ));
    }
    if let Some(why) = admin.store.unavailable() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("store unavailable: {why}"),
        ));
    }
    if let Err(e) = admin.store.size_on_disk().await {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("store unavailable: {e}"),
        ));
    }
    // Ready: webhooks are accepted and stored. Endpoints whose plugin is
    // still compiling (a first start) deliver once it is done.
    Ok(Json(ReadyView {
        status: "ready".into(),
        plugins: admin.registry.list().len(),
        compiling: admin.registry.compiling(),
    }))
}

async fn metrics(State(admin): State<Arc<Admin>>) -> Response {
    let now = now_ms();
    for (id, entry) in &admin.catalog.snapshot().endpoints {
        let counts = admin.store.counts(id).await.unwrap_or_default();
        let due = match entry.paused() {
            None => admin.store.due_count(id, now).await.unwrap_or(0),
            Some(_) => 0,
        };
        for (state, value) in [
            ("pending", counts.pending),
            ("due", due),
            ("dead", counts.dead),
        ] {
            admin
                .metrics
                .queue_depth
                .get_or_create(&StateLabel {
                    endpoint: id.clone(),
                    state: state.into(),
                })
                .set(value as i64);
        }
    }
    admin
        .metrics
        .plugin_reloads
        .set(admin.registry.reload_count() as i64);
    admin
        .metrics
        .plugin_reload_failures
        .set(admin.registry.failure_count() as i64);
    let mut response = admin.metrics.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

#[utoipa::path(get, operation_id = "meta_config", path = "/v1/config", tag = "meta", responses((status = 200, body = FileStatus)))]
pub(crate) async fn config(State(admin): State<Arc<Admin>>) -> Json<FileStatus> {
    Json(admin.catalog.file_status())
}

#[utoipa::path(get, operation_id = "meta_audit", path = "/v1/audit", tag = "meta",
    params(("cursor" = Option<String>, Query), ("limit" = Option<usize>, Query)),
    responses((status = 200, body = List<AuditView>)))]
pub(crate) async fn audit(
    State(admin): State<Arc<Admin>>,
    Query(query): Query<super::Query>,
) -> ApiResult<Json<List<AuditView>>> {
    let page = admin
        .store
        .audit(
            query.get("cursor").map(String::as_str),
            super::limit(&query)?,
        )
        .await?;
    Ok(Json(List {
        items: page
            .items
            .into_iter()
            .map(|a| AuditView {
                at: views::time(a.at),
                actor: a.actor,
                action: a.action,
                object: a.object,
                changes: a.changes,
            })
            .collect(),
        next_cursor: page.next_cursor,
    }))
}

#[utoipa::path(get, operation_id = "meta_list_samples", path = "/v1/samples", tag = "meta", responses((status = 200, body = List<SampleView>)))]
pub(crate) async fn list_samples() -> Json<List<SampleView>> {
    Json(List {
        items: samples::SAMPLES
            .iter()
            .map(|(event_type, body)| SampleView {
                event_type: event_type.to_string(),
                payload: serde_json::from_str(body).unwrap_or_default(),
            })
            .collect(),
        next_cursor: None,
    })
}

#[utoipa::path(get, operation_id = "meta_list_examples", path = "/v1/examples", tag = "meta", responses((status = 200, body = List<ExampleView>)))]
pub(crate) async fn list_examples() -> Json<List<ExampleView>> {
    Json(List {
        items: examples::EXAMPLES
            .iter()
            .map(|(name, code)| ExampleView {
                name: name.to_string(),
                destination: examples::destination(name).to_string(),
                code: examples::code(code),
            })
            .collect(),
        next_cursor: None,
    })
}

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(super::super::openapi::document())
}
