//! The OpenAPI 3.1 document of the admin API (`GET /v1/openapi.json`),
//! generated from the typed models and the handlers' annotations, so it
//! cannot drift from what the server answers.

use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};

use super::api::*;
use super::routes;
use crate::catalog::spec::{
    AuthSpec, EndpointSpec, LimitsSpec, RetrySpec, SettingValue, SourceSpec, TransformationSpec,
};
use crate::catalog::{FileStatus, ManagedBy, TransformationVersion};
use crate::runtime::meta::{FormAuth, FormSetting, FormUrl, PluginForm};
use crate::runtime::registry::PluginInfo;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "hookwasm admin API",
        description = "Manage sources, endpoints and transformations at runtime; see what happened; repair it. Every request but GET /healthz and the dashboard's sign-in (POST /v1/session) needs the bearer token or a dashboard session cookie (whose changes also need its X-CSRF-Token); changes need Content-Type: application/json; errors are {\"error\": \"…\"}."
    ),
    paths(
        routes::meta::readyz, routes::meta::config, routes::meta::audit, routes::meta::list_samples,
        routes::sources::list, routes::sources::create, routes::sources::show, routes::sources::update,
        routes::sources::delete, routes::sources::rotate,
        routes::endpoints::list, routes::endpoints::create, routes::endpoints::show, routes::endpoints::update,
        routes::endpoints::delete, routes::endpoints::disable, routes::endpoints::enable,
        routes::endpoints::recover, routes::endpoints::replay_missing, routes::endpoints::job,
        routes::endpoints::transformation, routes::endpoints::put_transformation,
        routes::endpoints::versions, routes::endpoints::rollback, routes::endpoints::rotate_signing_secret,
        routes::test::test, routes::test::draft, routes::test::send_sample,
        routes::session::sign_in, routes::session::show, routes::session::sign_out, routes::meta::list_examples,
        routes::events::list, routes::events::show,
        routes::deliveries::list, routes::deliveries::show, routes::deliveries::retry, routes::deliveries::replay,
        routes::plugins::list, routes::plugins::test,
    ),
    components(schemas(
        ErrorBody, SecretView, SourceView, RetiredView, RotateRequest, EndpointView, PluginRef, AuthView,
        LimitsView, RetryView, CountsView, FailureView, TransformationRef, TransformationView, CodeBody,
        RollbackRequest, SigningRotateRequest, EnabledView, TestRequest, TestResult, StatsView, SampleView, SendSampleRequest,
        IngestedView, EventView, EventDetail, DeliveryView, DeliveryDetail, AttemptView, RequestView,
        WindowRequest, JobView, AuditView, ReadyView, SourceSpec, EndpointSpec, AuthSpec, SettingValue,
        LimitsSpec, RetrySpec, TransformationSpec, FileStatus, ManagedBy, TransformationVersion,
        PluginInfo, PluginForm, FormUrl, FormAuth, FormSetting,
        SignInRequest, SessionView, ExampleView, DraftTestRequest, DeliveryStateView,
    )),
    modifiers(&BearerAuth),
    security(("bearer" = []), ("session" = [])),
)]
struct AdminApi;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        // The dashboard's session (POST /v1/session); its changes also need
        // the session's X-CSRF-Token header.
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::admin::session::COOKIE,
                "A dashboard session; every change made with it also needs X-CSRF-Token",
            ))),
        );
    }
}

pub fn document() -> utoipa::openapi::OpenApi {
    AdminApi::openapi()
}
