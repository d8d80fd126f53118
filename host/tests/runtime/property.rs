//! Arbitrary payloads and event types never make a built-in plugin trap,
//! exceed the default limits, or return an invalid request: every call ends
//! in `deliver`, `skip` or the plugin's own error.

use std::sync::Arc;

use hookwasm::runtime::{
    OutputPolicy, Plugin, PluginSource, TransformError, TransformInput, builtin,
};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::runtime;

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        "\\PC{0,20}".prop_map(Value::String),
        "[0-9]{0,30}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,12}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn event_type() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("payment.succeeded".to_string()),
        Just("payment.failed".to_string()),
        Just("subscription.active".to_string()),
        Just("subscription.cancelled".to_string()),
        Just("dispute.opened".to_string()),
        Just("dispute.won".to_string()),
        Just("refund.succeeded".to_string()),
        "[a-z.]{0,24}",
        "\\PC{0,12}",
    ]
}

/// A Dodo-shaped envelope whose fields have random values and types.
fn envelope() -> impl Strategy<Value = Value> {
    let field = || {
        prop_oneof![
            any_json(),
            "[0-9]{1,25}".prop_map(Value::String),
            any::<i64>().prop_map(|n| json!(n))
        ]
    };
    (
        event_type(),
        prop_oneof![
            Just(json!("2025-01-15T23:30:12.482913Z")),
            Just(json!("2025-01-15T23:30:12+05:30")),
            any_json()
        ],
        prop::collection::btree_map(
            prop_oneof![
                Just("customer".to_string()),
                Just("total_amount".to_string()),
                Just("amount".to_string()),
                Just("currency".to_string()),
                Just("payment_method".to_string()),
                Just("product_cart".to_string()),
                Just("recurring_pre_tax_amount".to_string()),
                Just("payment_id".to_string()),
                Just("business_id".to_string()),
                "[a-z_]{1,10}",
            ],
            field(),
            0..10,
        ),
        prop::option::of(prop::collection::btree_map(
            prop_oneof![
                Just("email".to_string()),
                Just("name".to_string()),
                Just("customer_id".to_string())
            ],
            field(),
            0..3,
        )),
    )
        .prop_map(|(kind, timestamp, data, customer)| {
            let mut data: Map<String, Value> = data.into_iter().collect();
            if let Some(customer) = customer {
                data.insert(
                    "customer".into(),
                    Value::Object(customer.into_iter().collect()),
                );
            }
            json!({ "type": kind, "business_id": "bus_1", "timestamp": timestamp, "data": data })
        })
}

struct Plugins {
    all: Vec<(Arc<Plugin>, Option<String>)>,
    rt: tokio::runtime::Runtime,
}

fn plugins() -> Plugins {
    let runtime = runtime();
    let all = builtin::BUILTINS
        .iter()
        .map(|(name, bytes)| {
            let plugin = Arc::new(runtime.load(name, PluginSource::BuiltIn, bytes).unwrap());
            let url = match *name {
                "windmill" => {
                    Some("https://app.windmill.dev/api/w/acme/jobs/run/f/f/x".to_string())
                }
                "inngest" => Some("https://inn.gs/e/KEY".to_string()),
                _ => None,
            };
            (plugin, url)
        })
        .collect();
    Plugins {
        all,
        rt: tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap(),
    }
}

fn check(plugins: &Plugins, event_type: &str, payload: &str) -> Result<(), TestCaseError> {
    for (plugin, url) in &plugins.all {
        let input = TransformInput {
            id: "msg_p".into(),
            delivery_key: "prop:msg_p".into(),
            event_type: event_type.into(),
            payload: payload.into(),
            endpoint_url: url.clone(),
            settings: vec![("retry_link".into(), "https://x.test/{payment_id}".into())],
        };
        let base = url.clone().or(plugin.meta().default_url.clone());
        let policy = OutputPolicy::for_base(base.as_deref(), OutputPolicy::DEFAULT_MAX_BODY);
        let (result, _) =
            plugins
                .rt
                .block_on(plugin.transform(input, super::patient_limits(), policy));
        match result {
            Ok(_) => {}
            Err(TransformError::Plugin(message)) => {
                prop_assert!(
                    message.starts_with(&format!("{}: ", plugin.name())),
                    "error without the plugin prefix: {message}"
                );
                prop_assert!(!message.contains('\n'));
            }
            Err(other) => {
                return Err(TestCaseError::fail(format!(
                    "{} on {event_type:?} {payload}: {other}",
                    plugin.name()
                )));
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn dodo_shaped_payloads_never_crash_a_plugin(payload in envelope()) {
        thread_local!(static PLUGINS: Plugins = plugins());
        let event_type = payload["type"].as_str().unwrap_or("").to_string();
        PLUGINS.with(|p| check(p, &event_type, &payload.to_string()))?;
    }

    #[test]
    fn arbitrary_json_and_types_never_crash_a_plugin(payload in any_json(), kind in event_type()) {
        thread_local!(static PLUGINS: Plugins = plugins());
        PLUGINS.with(|p| check(p, &kind, &payload.to_string()))?;
    }

    #[test]
    fn text_that_is_not_json_never_crashes_a_plugin(text in "\\PC{0,64}", kind in event_type()) {
        thread_local!(static PLUGINS: Plugins = plugins());
        PLUGINS.with(|p| check(p, &kind, &text))?;
    }
}
