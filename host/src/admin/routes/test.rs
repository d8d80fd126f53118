//! Trying an endpoint: a dry run of its plugin or transformation (saved,
//! or an unsaved edit; or of an endpoint not created yet) on a built-in
//! sample, a given payload, or an event that was actually received; and
//! sending a sample for real.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use http::StatusCode;

use super::super::api::{
    DraftTestRequest, IngestedView, SendSampleRequest, StatsView, TestRequest, TestResult,
};
use super::super::{Admin, ApiError, ApiResult, samples, views};
use super::Body;
use crate::model::{Endpoint, Event, EventId, Transformation, now_ms};
use crate::runtime::registry::JS_ENGINE;
use crate::runtime::{OutputPolicy, TransformInput, Transformed};

/// A dry run: nothing is sent or stored. `code` tests an unsaved edit;
/// `event_id` runs on a recorded event; otherwise `payload`, or a sample of
/// `event_type`.
#[utoipa::path(post, operation_id = "test_test", path = "/v1/endpoints/{id}/test", tag = "endpoints", params(("id" = String, Path)), request_body = TestRequest,
    responses((status = 200, body = TestResult), (status = 400, body = super::super::api::ErrorBody)))]
pub(crate) async fn test(
    State(admin): State<Arc<Admin>>,
    Path(id): Path<String>,
    Body(body): Body<TestRequest>,
) -> ApiResult<Json<TestResult>> {
    let entry = admin
        .catalog
        .snapshot()
        .endpoint(&id)
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("no endpoint {id:?}")))?;
    Ok(Json(run(&admin, &id, &entry.endpoint, &body).await?))
}

/// A dry run of an endpoint as it would be created (the dashboard's
/// **Test** before **Create endpoint**): checked like a create, then run
/// like a saved endpoint's test. Nothing is stored.
#[utoipa::path(post, operation_id = "test_draft", path = "/v1/test", tag = "endpoints", request_body = DraftTestRequest,
    responses((status = 200, body = TestResult), (status = 400, body = super::super::api::ErrorBody)))]
pub(crate) async fn draft(
    State(admin): State<Arc<Admin>>,
    Body(body): Body<DraftTestRequest>,
) -> ApiResult<Json<TestResult>> {
    let endpoint = admin.catalog.draft_endpoint(&body.endpoint)?;
    let request = TestRequest {
        code: None,
        event_type: body.event_type,
        payload: body.payload,
        event_id: body.event_id,
    };
    let id = endpoint.id.clone();
    Ok(Json(run(&admin, &id, &endpoint, &request).await?))
}

async fn run(
    admin: &Admin,
    id: &str,
    endpoint: &Endpoint,
    body: &TestRequest,
) -> ApiResult<TestResult> {
    let (payload, webhook_id, event_id) =
        payload_for(admin, body, endpoint.events.patterns()).await?;
    let event_type = match &body.event_type {
        Some(t) if body.payload.is_none() && body.event_id.is_none() => t.clone(),
        _ => crate::ingest::event_type(&bytes::Bytes::from(payload.clone()))
            .map_err(|e| ApiError::bad_request(format!("payload: {e}")))?,
    };
    let (plugin_name, transformation) = match &body.code {
        Some(code) => (
            JS_ENGINE.to_string(),
            Some(Transformation::new(
                format!("{id}.js (unsaved)"),
                code.clone(),
                None,
            )),
        ),
        None => (
            endpoint.plugin.clone(),
            endpoint.transformation.as_deref().cloned(),
        ),
    };
    admin.registry.ensure(&plugin_name);
    admin.registry.ready(&plugin_name).await;
    if let Some(t) = &transformation
        && let Err(e) = admin.registry.check_transformation(&plugin_name, t).await
    {
        return Ok(error_result(e, event_type, event_id));
    }
    let plugin = admin
        .registry
        .for_endpoint(&plugin_name, transformation.as_ref())
        .map_err(ApiError::bad_request)?;
    let input = TransformInput {
        delivery_key: format!("{id}:{webhook_id}"),
        id: webhook_id,
        event_type: event_type.clone(),
        payload: String::from_utf8_lossy(&payload).into_owned(),
        endpoint_url: endpoint.url.clone(),
        settings: endpoint.settings.clone(),
    };
    let policy = OutputPolicy::for_base(
        endpoint.base_url(),
        admin.config.runtime.max_request_body_bytes,
    );
    let (result, stats, console) = plugin
        .transform_capturing(input, endpoint.limits, policy)
        .await;
    let stats = StatsView {
        fuel: stats.fuel,
        micros: stats.micros,
        peak_memory_bytes: stats.peak_memory_bytes,
    };
    let mut answer = TestResult {
        outcome: String::new(),
        request: None,
        reason: None,
        error: None,
        stats,
        console,
        event_type,
        event_id,
    };
    match result {
        Ok(Transformed::Deliver(request)) => {
            answer.outcome = "deliver".into();
            answer.request = Some(views::stored_request(&request, Some(endpoint)));
        }
        Ok(Transformed::Skip(reason)) => {
            answer.outcome = "skip".into();
            answer.reason = Some(reason);
        }
        Err(e) => {
            answer.outcome = "error".into();
            answer.error = Some(e.to_string());
        }
    }
    Ok(answer)
}

fn error_result(error: String, event_type: String, event_id: Option<String>) -> TestResult {
    TestResult {
        outcome: "error".into(),
        request: None,
        reason: None,
        error: Some(error),
        stats: StatsView::default(),
        console: String::new(),
        event_type,
        event_id,
    }
}

/// The payload to run on: (bytes, webhook id, the recorded event's id).
async fn payload_for(
    admin: &Admin,
    body: &TestRequest,
    patterns: &[String],
) -> ApiResult<(Vec<u8>, String, Option<String>)> {
    if let Some(id) = &body.event_id {
        let event = super::events::find(admin, id)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("no event {id:?}")))?;
        let payload =
            admin.store.payload(event.id).await?.ok_or_else(|| {
                ApiError::not_found(format!("event {id:?} has no stored payload"))
            })?;
        return Ok((
            payload,
            event.webhook_id.clone(),
            Some(event.id.to_string()),
        ));
    }
    if let Some(payload) = &body.payload {
        if !payload.is_object() {
            return Err(ApiError::bad_request("payload: must be a JSON object"));
        }
        return Ok((payload.to_string().into_bytes(), "msg_test".into(), None));
    }
    let event_type = match &body.event_type {
        Some(t) => t.clone(),
        // The first sample the endpoint's filter takes.
        None => samples::types()
            .into_iter()
            .find(|t| crate::model::EventTypes::parse(patterns).is_ok_and(|f| f.matches(t)))
            .unwrap_or("payment.succeeded")
            .to_string(),
    };
    let sample = samples::get(&event_type).ok_or_else(|| {
        ApiError::bad_request(format!(
            "event_type: no sample {event_type:?} (there are: {})",
            samples::types().join(", ")
        ))
    })?;
    Ok((sample.as_bytes().to_vec(), "msg_sample".into(), None))
}

/// Delivers a sample event to this endpoint for real (Svix's "send
/// example"): stored as an event of the endpoint's source with a delivery to
/// this endpoint only.
#[utoipa::path(post, operation_id = "test_send_sample", path = "/v1/endpoints/{id}/send-sample", tag = "endpoints", params(("id" = String, Path)), request_body = SendSampleRequest,
    responses((status = 202, body = IngestedView), (status = 400, body = super::super::api::ErrorBody)))]
pub(crate) async fn send_sample(
    State(admin): State<Arc<Admin>>,
    Path(id): Path<String>,
    Body(body): Body<SendSampleRequest>,
) -> ApiResult<(StatusCode, Json<IngestedView>)> {
    let entry = admin
        .catalog
        .snapshot()
        .endpoint(&id)
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("no endpoint {id:?}")))?;
    let sample = samples::get(&body.event_type).ok_or_else(|| {
        ApiError::bad_request(format!(
            "event_type: no sample {:?} (there are: {})",
            body.event_type,
            samples::types().join(", ")
        ))
    })?;
    let webhook_id = format!("sample_{}", ulid::Ulid::new());
    let event = Event {
        id: EventId::new(),
        source: entry.endpoint.source.clone(),
        webhook_id: webhook_id.clone(),
        event_type: body.event_type.clone(),
        received_at: now_ms(),
        headers: vec![(
            "hookwasm-sample".into(),
            "sent through the admin API".into(),
        )],
    };
    let stored = admin
        .store
        .ingest(
            event,
            sample.as_bytes(),
            &[entry
                .endpoint
                .route(&mut || serde_json::from_str(sample).ok())],
            admin.config.server.dedupe_window,
        )
        .await?;
    tracing::info!(endpoint = %id, event_type = %body.event_type, webhook_id = %webhook_id, "sample event sent through the admin API");
    Ok((
        StatusCode::ACCEPTED,
        Json(IngestedView {
            id: stored.event_id.to_string(),
            deliveries: stored.deliveries,
            duplicate: stored.duplicate,
        }),
    ))
}
