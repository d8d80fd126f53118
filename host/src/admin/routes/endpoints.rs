//! `/v1/endpoints`: create, see, change and delete endpoints at runtime;
//! disable and enable; their transformation's versions; and the repair jobs
//! (recover dead letters over a window, replay missing deliveries).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use http::StatusCode;
use serde_json::Value;

use super::super::api::{
    CodeBody, EnabledView, EndpointView, JobView, List, PluginRef, RollbackRequest,
    SigningRotateRequest, TransformationView, WindowRequest,
};
use super::super::jobs::Kind;
use super::super::{Admin, ApiError, ApiResult, views};
use super::Body;
use crate::catalog::EndpointEntry;
use crate::catalog::spec::EndpointSpec;
use crate::catalog::stored::StoredTransformation;
use crate::model::now_ms;

const DELETED: &str = "the endpoint was deleted";

/// Longer than an ingest takes to become durable (it gives up after 20 s
/// with a 503, which the sender retries: the retry routes with the new
/// snapshot).
const LATE_INGESTS: std::time::Duration = std::time::Duration::from_secs(25);

pub fn routes() -> axum::Router<Arc<Admin>> {
    axum::Router::new()
        .route("/v1/endpoints", get(list).post(create))
        .route("/v1/endpoints/{id}", get(show).patch(update).delete(delete))
        .route("/v1/endpoints/{id}/disable", post(disable))
        .route("/v1/endpoints/{id}/enable", post(enable))
        .route(
            "/v1/endpoints/{id}/signing-secret/rotate",
            post(rotate_signing_secret),
        )
        .route("/v1/endpoints/{id}/recover", post(recover))
        .route("/v1/endpoints/{id}/replay-missing", post(replay_missing))
        .route(
            "/v1/endpoints/{id}/transformation",
            get(transformation).put(put_transformation),
        )
        .route("/v1/endpoints/{id}/transformation/versions", get(versions))
        .route("/v1/endpoints/{id}/transformation/rollback", post(rollback))
        .route("/v1/endpoints/{id}/test", post(super::test::test))
        .route(
            "/v1/endpoints/{id}/send-sample",
            post(super::test::send_sample),
        )
        .route("/v1/test", post(super::test::draft))
        .route("/v1/jobs/{id}", get(job))
}

/// The endpoint as answers show it, with its live state.
pub async fn view(admin: &Admin, entry: &EndpointEntry) -> ApiResult<EndpointView> {
    let id = &entry.endpoint.id;
    let plugin_name = &entry.endpoint.plugin;
    let loaded = admin.registry.get(plugin_name);
    let state = if loaded.is_some() {
        "ready"
    } else if admin.registry.is_compiling(plugin_name) {
        "compiling"
    } else if admin.registry.problem(plugin_name).is_some() {
        "failed"
    } else {
        "available"
    };
    let secret_url = admin
        .registry
        .available()
        .into_iter()
        .find(|p| p.name == *plugin_name)
        .and_then(|p| p.form)
        .and_then(|f| f.url)
        .is_some_and(|u| u.secret);
    let live = views::EndpointState {
        status: admin.deliverer.status(id),
        counts: admin.store.counts(id).await?,
        due: admin.store.due_count(id, now_ms()).await?,
        activity: admin.deliverer.activity(id),
        plugin: PluginRef {
            name: plugin_name.clone(),
            version: loaded.map(|p| p.version().to_string()),
            state: state.into(),
            loaded: state == "ready",
        },
        secret_url,
    };
    Ok(views::endpoint(entry, live))
}

fn entry(admin: &Admin, id: &str) -> ApiResult<Arc<EndpointEntry>> {
    admin
        .catalog
        .snapshot()
        .endpoint(id)
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("no endpoint {id:?}")))
}

#[utoipa::path(get, operation_id = "endpoints_list", path = "/v1/endpoints", tag = "endpoints", responses((status = 200, body = List<EndpointView>)))]
pub(crate) async fn list(State(admin): State<Arc<Admin>>) -> ApiResult<Json<List<EndpointView>>> {
    let snapshot = admin.catalog.snapshot();
    let mut items = Vec::new();
    for entry in snapshot.endpoints.values() {
        items.push(view(&admin, entry).await?);
    }
    Ok(Json(List {
        items,
        next_cursor: None,
    }))
}

/// The same fields as a config file endpoint, plus `transformation.code`
/// for an inline JavaScript handler (then `plugin` may be left out).
#[utoipa::path(post, operation_id = "endpoints_create", path = "/v1/endpoints", tag = "endpoints", request_body = EndpointSpec,
    responses((status = 201, body = EndpointView), (status = 400, body = super::super::api::ErrorBody), (status = 409, body = super::super::api::ErrorBody)))]
pub(crate) async fn create(
    State(admin): State<Arc<Admin>>,
    Body(spec): Body<EndpointSpec>,
) -> ApiResult<(StatusCode, Json<EndpointView>)> {
    let given = spec.signing_secret.is_some();
    let entry = admin.catalog.create_endpoint(spec).await?;
    tracing::info!(endpoint = %entry.endpoint.id, plugin = %entry.endpoint.plugin, "endpoint created through the admin API");
    let mut shown = view(&admin, &entry).await?;
    if !given {
        shown.new_signing_secret = entry.spec.signing_secret.clone();
    }
    Ok((StatusCode::CREATED, Json(shown)))
}

/// A new signing secret (given, or generated and shown in this answer
/// only); the previous one keeps signing alongside it until the next
/// rotation, so the receiver can switch without rejecting a request.
#[utoipa::path(post, operation_id = "endpoints_rotate_signing_secret", path = "/v1/endpoints/{id}/signing-secret/rotate", tag = "endpoints", params(("id" = String, Path)), request_body = SigningRotateRequest,
    responses((status = 200, body = EndpointView), (status = 400, body = super::super::api::ErrorBody), (status = 404, body = super::super::api::ErrorBody), (status = 409, body = super::super::api::ErrorBody)))]
pub(crate) async fn rotate_signing_secret(
    State(admin): State<Arc<Admin>>,
    Path(id): Path<String>,
    Body(body): Body<SigningRotateRequest>,
) -> ApiResult<Json<EndpointView>> {
    let given = body.secret.is_some();
    let (entry, secret) = admin
        .catalog
        .rotate_signing_secret(&id, body.secret)
        .await?;
    tracing::info!(endpoint = %id, "endpoint signing secret rotated through the admin API");
    let mut shown = view(&admin, &entry).await?;
    if !given {
        shown.new_signing_secret = Some(secret);
    }
    Ok(Json(shown))
}

#[utoipa::path(get, operation_id = "endpoints_show", path = "/v1/endpoints/{id}", tag = "endpoints", params(("id" = String, Path)),
    responses((status = 200, body = EndpointView), (status = 404, body = super::super::api::ErrorBody)))]
pub(crate) async fn show(
    State(admin): State<Arc<Admin>>,
    Path(id): Path<String>,
) -> ApiResult<Json<EndpointView>> {
    let entry = entry(&admin, &id)?;
    Ok(Json(view(&admin, &entry).await?))
}

/// A JSON merge patch of the endpoint as written (409 for one the config
/// file manages).
#[utoipa::path(patch, operation_id = "endpoints_update", path = "/v1/endpoints/{id}", tag = "endpoints", params(("id" = String, Path)), request_body = Object,
    responses((status = 200, body = EndpointView), (status = 400, body = super::super::api::ErrorBody), (status = 409, body = super::super::api::ErrorBody)))]
pub(crate) async fn update(
    State(admin): State<Arc<Admin>>,
    Path(id): Path<String>,
    Body(patch): Body<Value>,
) -> ApiResult<Json<EndpointView>> {
    let entry = admin.catalog.patch_endpoint(&id, &patch).await?;
    tracing::info!(endpoint = %id, "endpoint changed through the admin API");
    Ok(Json(view(&admin, &entry).await?))
}

/// Its pending deliveries end as `cancelled`; its history stays until
/// retention.
#[utoipa::path(delete, operation_id = "endpoints_delete", path = "/v1/endpoints/{id}", tag = "endpoints", params(("id" = String, Path)),
    responses((status = 204), (status = 409, body = super::super::api::ErrorBody)))]
pub(crate) async fn delete(
    State(admin): State<Arc<Admin>>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    admin.catalog.delete_endpoint(&id).await?;
    let cancelled = admin.store.cancel_pending(&id, DELETED, now_ms()).await?;
    tracing::info!(endpoint = %id, cancelled, "endpoint deleted through the admin API");
    // An ingest that routed with the snapshot from before the delete may
    // still be writing its delivery: once it is durable, that one is
    // cancelled too.
    let store = admin.store.clone();
    tokio::spawn(async move {
        tokio::time::sleep(LATE_INGESTS).await;
        match store.cancel_pending(&id, DELETED, now_ms()).await {
            Ok(0) => {}
            Ok(late) => {
                tracing::info!(endpoint = %id, cancelled = late, "deliveries routed while the endpoint was being deleted, cancelled")
            }
            Err(e) => {
                tracing::error!(endpoint = %id, "cancelling late deliveries of a deleted endpoint failed: {e}")
            }
        }
    });
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, operation_id = "endpoints_disable", path = "/v1/endpoints/{id}/disable", tag = "endpoints", params(("id" = String, Path)),
    responses((status = 200, body = EnabledView)))]
pub(crate) async fn disable(
    State(admin): State<Arc<Admin>>,
    Path(id): Path<String>,
) -> ApiResult<Json<EnabledView>> {
    admin
        .catalog
        .set_enabled(&id, false, "disabled through the admin API", "admin api")
        .await?;
    tracing::warn!(endpoint = %id, "endpoint disabled through the admin API; its deliveries wait");
    Ok(Json(EnabledView { id, enabled: false }))
}

#[utoipa::path(post, operation_id = "endpoints_enable", path = "/v1/endpoints/{id}/enable", tag = "endpoints", params(("id" = String, Path)),
    responses((status = 200, body = EnabledView), (status = 409, body = super::super::api::ErrorBody)))]
pub(crate) async fn enable(
    State(admin): State<Arc<Admin>>,
    Path(id): Path<String>,
) -> ApiResult<Json<EnabledView>> {
    admin
        .catalog
        .set_enabled(&id, true, "", "admin api")
        .await?;
    tracing::info!(endpoint = %id, "endpoint enabled through the admin API");
    Ok(Json(EnabledView { id, enabled: true }))
}

async fn start_job(
    admin: &Admin,
    id: &str,
    kind: Kind,
    window: WindowRequest,
) -> ApiResult<(StatusCode, Json<JobView>)> {
    let endpoint = entry(admin, id)?.endpoint.clone();
    let since = views::parse_time(&window.since)
        .map_err(|e| ApiError::bad_request(format!("since: {e}")))?;
    let until = window
        .until
        .as_deref()
        .map(|t| views::parse_time(t).map_err(|e| ApiError::bad_request(format!("until: {e}"))))
        .transpose()?;
    let job = admin
        .jobs
        .start(kind, endpoint, since, until, admin.store.clone());
    Ok((StatusCode::ACCEPTED, Json(job)))
}

/// Re-queues the endpoint's dead letters in the window (same bytes).
#[utoipa::path(post, operation_id = "endpoints_recover", path = "/v1/endpoints/{id}/recover", tag = "endpoints", params(("id" = String, Path)), request_body = WindowRequest,
    responses((status = 202, body = JobView)))]
pub(crate) async fn recover(
    State(admin): State<Arc<Admin>>,
    Path(id): Path<String>,
    Body(window): Body<WindowRequest>,
) -> ApiResult<(StatusCode, Json<JobView>)> {
    start_job(&admin, &id, Kind::Recover, window).await
}

/// Creates deliveries for the window's events that never had one for the
/// endpoint (e.g. one added since).
#[utoipa::path(post, operation_id = "endpoints_replay_missing", path = "/v1/endpoints/{id}/replay-missing", tag = "endpoints", params(("id" = String, Path)), request_body = WindowRequest,
    responses((status = 202, body = JobView)))]
pub(crate) async fn replay_missing(
    State(admin): State<Arc<Admin>>,
    Path(id): Path<String>,
    Body(window): Body<WindowRequest>,
) -> ApiResult<(StatusCode, Json<JobView>)> {
    start_job(&admin, &id, Kind::ReplayMissing, window).await
}

#[utoipa::path(get, operation_id = "endpoints_job", path = "/v1/jobs/{id}", tag = "endpoints", params(("id" = String, Path)),
    responses((status = 200, body = JobView), (status = 404, body = super::super::api::ErrorBody)))]
pub(crate) async fn job(
    State(admin): State<Arc<Admin>>,
    Path(id): Path<String>,
) -> ApiResult<Json<JobView>> {
    admin
        .jobs
        .get(&id)
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no job {id:?}")))
}

fn version_view(t: &StoredTransformation) -> TransformationView {
    TransformationView {
        version: t.version,
        sha256: t.sha256.clone(),
        created_at: Some(views::time(t.created_at)),
        code: t.code.clone(),
    }
}

/// The current code and its version (0 for a config file's script).
#[utoipa::path(get, operation_id = "endpoints_transformation", path = "/v1/endpoints/{id}/transformation", tag = "transformations", params(("id" = String, Path)),
    responses((status = 200, body = TransformationView), (status = 404, body = super::super::api::ErrorBody)))]
pub(crate) async fn transformation(
    State(admin): State<Arc<Admin>>,
    Path(id): Path<String>,
) -> ApiResult<Json<TransformationView>> {
    let entry = entry(&admin, &id)?;
    let t = entry
        .endpoint
        .transformation
        .as_ref()
        .ok_or_else(|| ApiError::not_found(format!("endpoint {id:?} has no transformation")))?;
    Ok(Json(TransformationView {
        version: t.version,
        sha256: t.sha256.clone(),
        created_at: None,
        code: t.code.to_string(),
    }))
}

/// Saves a new version and makes it current; a script that does not parse
/// or defines no handler is refused (400, with its line).
#[utoipa::path(put, operation_id = "endpoints_put_transformation", path = "/v1/endpoints/{id}/transformation", tag = "transformations", params(("id" = String, Path)), request_body = CodeBody,
    responses((status = 200, body = crate::catalog::TransformationVersion), (status = 400, body = super::super::api::ErrorBody)))]
pub(crate) async fn put_transformation(
    State(admin): State<Arc<Admin>>,
    Path(id): Path<String>,
    Body(body): Body<CodeBody>,
) -> ApiResult<Json<crate::catalog::TransformationVersion>> {
    let saved = admin.catalog.put_transformation(&id, body.code).await?;
    tracing::info!(endpoint = %id, version = saved.version, "transformation saved through the admin API");
    Ok(Json((&saved).into()))
}

#[utoipa::path(get, operation_id = "endpoints_versions", path = "/v1/endpoints/{id}/transformation/versions", tag = "transformations", params(("id" = String, Path)),
    responses((status = 200, body = List<TransformationView>)))]
pub(crate) async fn versions(
    State(admin): State<Arc<Admin>>,
    Path(id): Path<String>,
) -> ApiResult<Json<List<TransformationView>>> {
    entry(&admin, &id)?;
    let versions = admin.catalog.versions(&id).await?;
    Ok(Json(List {
        items: versions.iter().rev().map(version_view).collect(),
        next_cursor: None,
    }))
}

/// Makes an earlier version's code current again (saved as a new version).
#[utoipa::path(post, operation_id = "endpoints_rollback", path = "/v1/endpoints/{id}/transformation/rollback", tag = "transformations", params(("id" = String, Path)), request_body = RollbackRequest,
    responses((status = 200, body = crate::catalog::TransformationVersion)))]
pub(crate) async fn rollback(
    State(admin): State<Arc<Admin>>,
    Path(id): Path<String>,
    Body(body): Body<RollbackRequest>,
) -> ApiResult<Json<crate::catalog::TransformationVersion>> {
    let saved = admin.catalog.rollback(&id, body.version).await?;
    tracing::info!(endpoint = %id, to = body.version, version = saved.version, "transformation rolled back through the admin API");
    Ok(Json((&saved).into()))
}
