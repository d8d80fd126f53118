//! `/v1/plugins`: what can run (the built-ins, files in the plugins
//! directory), its state and form, and trying one on a payload.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use serde_json::Value;

use super::super::api::List;
use super::super::{Admin, ApiError, ApiResult};
use super::Body;
use crate::runtime::registry::PluginInfo;
use crate::runtime::{Limits, OutputPolicy, TransformInput, report};

pub fn routes() -> axum::Router<Arc<Admin>> {
    axum::Router::new()
        .route("/v1/plugins", get(list))
        .route("/v1/plugins/{name}/test", post(test))
}

#[utoipa::path(get, operation_id = "plugins_list", path = "/v1/plugins", tag = "plugins", responses((status = 200, body = List<PluginInfo>)))]
pub(crate) async fn list(State(admin): State<Arc<Admin>>) -> Json<List<PluginInfo>> {
    Json(List {
        items: admin.registry.list(),
        next_cursor: None,
    })
}

/// Runs a plugin on a payload: the payload itself, or
/// `{"payload", "id", "endpoint", "url", "settings"}`.
#[utoipa::path(post, operation_id = "plugins_test", path = "/v1/plugins/{name}/test", tag = "plugins", params(("name" = String, Path)), request_body = Object,
    responses((status = 200, body = Object), (status = 422, body = super::super::api::ErrorBody)))]
pub(crate) async fn test(
    State(admin): State<Arc<Admin>>,
    Path(name): Path<String>,
    Body(body): Body<Value>,
) -> ApiResult<Json<Value>> {
    // A built-in nothing uses yet is compiled now.
    admin.registry.ensure(&name);
    admin.registry.ready(&name).await;
    let plugin = admin
        .registry
        .get(&name)
        .ok_or_else(|| ApiError::not_found(format!("no plugin {name:?} is loaded")))?;
    let structured = body.get("payload").is_some() && body.get("type").is_none();
    let (payload, options) = if structured {
        (body["payload"].clone(), body.clone())
    } else {
        (body, Value::Null)
    };
    let event_type = payload
        .get("type")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| ApiError::bad_request("the sample payload has no string \"type\" field"))?;
    let text = |key: &str, default: &str| {
        options
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or(default)
            .to_string()
    };
    let (id, endpoint) = (text("id", "msg_test"), text("endpoint", "test"));
    let url = options
        .get("url")
        .and_then(Value::as_str)
        .map(str::to_string);
    let settings = options
        .get("settings")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| v.to_string()),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let base = url.clone().or_else(|| plugin.meta().default_url.clone());
    let input = TransformInput {
        delivery_key: format!("{endpoint}:{id}"),
        id,
        event_type,
        payload: payload.to_string(),
        endpoint_url: url,
        settings,
    };
    let policy =
        OutputPolicy::for_base(base.as_deref(), admin.config.runtime.max_request_body_bytes);
    let (result, stats) = plugin.transform(input, Limits::default(), policy).await;
    report::report(result, stats)
        .map(Json)
        .map_err(|e| ApiError::new(http::StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))
}
