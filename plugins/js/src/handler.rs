//! Running the Svix-style `handler(webhook)` on one event: building the
//! `webhook` object, calling the handler, and reading what it returned back
//! as the request to send (or the reason to skip).

use std::path::Path;

use boa_engine::builtins::promise::PromiseState;
use boa_engine::object::builtins::{JsArray, JsPromise};
use boa_engine::{Context, JsError, JsObject, JsString, JsValue, Source, js_string};
use hookwasm_sdk::{Error, Event, Outcome, Request};

use crate::body;
use crate::failure::describe;
use crate::payload;
use crate::realm::{Builtins, Realm};
use crate::script::{Script, user_settings};

/// Why a handler run produced no outcome.
enum Failure {
    /// The script threw, or did not parse.
    Thrown(JsError),
    /// The handler returned something the plugin cannot send.
    Contract(String),
}

impl From<JsError> for Failure {
    fn from(error: JsError) -> Self {
        Failure::Thrown(error)
    }
}

fn contract(message: impl Into<String>) -> Failure {
    Failure::Contract(message.into())
}

/// Runs `script`'s handler on `event` in a fresh context.
pub fn run(script: Script<'_>, event: &Event) -> Result<Outcome, Error> {
    let mut realm = crate::realm::take()
        .map_err(|error| Error::new(format!("the JavaScript engine did not start: {error}")))?;
    let result = run_in(&mut realm, script, event);
    let outcome = result.map_err(|failure| {
        let message = match failure {
            Failure::Thrown(error) => describe(error, script.source, &mut realm.context),
            Failure::Contract(message) => message,
        };
        Error::new(format!("{}: {message}", script.name))
    });
    // The sandbox is thrown away after this call, and with it the engine's
    // heap: skip the teardown (its garbage collector would not free the
    // objects before the instance ends anyway).
    #[cfg(target_arch = "wasm32")]
    std::mem::forget(realm);
    outcome
}

fn run_in(realm: &mut Realm, script: Script<'_>, event: &Event) -> Result<Outcome, Failure> {
    let Realm {
        context,
        builtins,
        script: prepared,
    } = realm;
    let ran_already = prepared
        .as_ref()
        .is_some_and(|(name, source)| name == script.name && source == script.source);
    if !ran_already {
        context.eval(Source::from_bytes(script.source).with_path(Path::new(script.name)))?;
    }
    let handler = context
        .global_object()
        .get(js_string!("handler"), context)?
        .as_callable()
        .ok_or_else(|| contract("the script defines no `function handler(webhook)`"))?;

    let webhook = webhook(event, context)?;
    let returned = handler.call(&JsValue::undefined(), &[webhook.clone().into()], context)?;
    let returned = settle(returned, context)?;
    let result = if returned.is_undefined() {
        webhook
    } else {
        returned.as_object().ok_or_else(|| {
            contract(format!(
                "handler returned {}, not the webhook object",
                describe_type(&returned)
            ))
        })?
    };
    outcome(&result, builtins, context)
}

/// The argument of `handler`: `{method, url, eventType, payload, id,
/// settings}` in that order, as Svix builds it (plus `id` and `settings`).
fn webhook(event: &Event, context: &mut Context) -> Result<JsObject, Failure> {
    let payload = payload::parse(&event.payload, context).map_err(Failure::Contract)?;
    let settings = user_settings(event)
        .map(|(key, value)| (JsString::from(key), JsString::from(value).into()))
        .collect();
    let settings = payload::object(settings, context);
    let url = match event.endpoint_url.as_deref() {
        Some(url) if !url.is_empty() => JsString::from(url).into(),
        _ => JsValue::null(),
    };
    let webhook = payload::object(
        vec![
            (js_string!("method"), js_string!("POST").into()),
            (js_string!("url"), url),
            (
                js_string!("eventType"),
                JsString::from(event.event_type.as_str()).into(),
            ),
            (js_string!("payload"), payload),
            (
                js_string!("id"),
                JsString::from(event.delivery_key.as_str()).into(),
            ),
            (js_string!("settings"), settings.into()),
        ],
        context,
    );
    Ok(webhook)
}

/// An `async function handler` returns a promise: run the job queue and take
/// its value (there are no timers, so it settles now or never).
fn settle(value: JsValue, context: &mut Context) -> Result<JsValue, Failure> {
    let Some(promise) = value
        .as_object()
        .and_then(|o| JsPromise::from_object(o).ok())
    else {
        return Ok(value);
    };
    context.run_jobs()?;
    match promise.state() {
        PromiseState::Fulfilled(value) => Ok(value),
        PromiseState::Rejected(reason) => Err(Failure::Thrown(JsError::from_opaque(reason))),
        PromiseState::Pending => Err(contract(
            "handler's promise never settled (there are no timers or network here)",
        )),
    }
}

/// The request (or skip) the returned webhook object describes.
fn outcome(
    webhook: &JsObject,
    builtins: &Builtins,
    context: &mut Context,
) -> Result<Outcome, Failure> {
    let cancel = webhook.get(js_string!("cancel"), context)?;
    if let Some(reason) = cancel.as_string().map(|s| s.to_std_string_escaped())
        && !reason.is_empty()
    {
        return Ok(Outcome::skip(reason));
    }
    if cancel.to_boolean() {
        return Ok(Outcome::skip("cancelled by the handler"));
    }

    let method = webhook.get(js_string!("method"), context)?;
    let method = match optional_string(&method) {
        Some(method) if !method.is_empty() => method,
        None if !method.is_null_or_undefined() => {
            return Err(contract(format!(
                "webhook.method is {}, not a string",
                describe_type(&method)
            )));
        }
        _ => "POST".to_owned(),
    };

    let url = webhook.get(js_string!("url"), context)?;
    let url = match optional_string(&url) {
        Some(url) if !url.is_empty() => url,
        _ if url.is_null_or_undefined() || url.as_string().is_some() => {
            return Err(contract(
                "webhook.url is missing: set `url` on the endpoint, or webhook.url in the handler",
            ));
        }
        _ => {
            return Err(contract(format!(
                "webhook.url is {}, not a string",
                describe_type(&url)
            )));
        }
    };

    let payload = webhook.get(js_string!("payload"), context)?;
    let Some(body) = body::stringify(payload, &builtins.stringify, context)? else {
        return Err(contract(
            "webhook.payload is undefined (or a function), which JSON cannot represent",
        ));
    };

    let headers = headers(webhook, &builtins.keys, context)?;
    let mut request = Request::new(method, url).body(body);
    if !headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("content-type"))
    {
        request = request.header("content-type", "application/json");
    }
    for (name, value) in headers {
        request = request.header(name, value);
    }
    Ok(request.into())
}

/// `webhook.headers` as (name, value) pairs in `Object.keys` order: strings,
/// numbers and booleans as their text; `null`/`undefined` values left out.
fn headers(
    webhook: &JsObject,
    keys: &JsObject,
    context: &mut Context,
) -> Result<Vec<(String, String)>, Failure> {
    let headers = webhook.get(js_string!("headers"), context)?;
    if headers.is_null_or_undefined() {
        return Ok(Vec::new());
    }
    let Some(object) = headers.as_object() else {
        return Err(contract(format!(
            "webhook.headers is {}, not an object of name → value",
            describe_type(&headers)
        )));
    };
    let names = keys.call(&JsValue::undefined(), &[headers], context)?;
    let names = names
        .as_object()
        .and_then(|names| JsArray::from_object(names).ok())
        .ok_or_else(|| contract("Object.keys(webhook.headers) is not an array"))?;
    let mut pairs = Vec::new();
    for index in 0..names.length(context)? {
        let name = names.get(index, context)?.to_string(context)?;
        let value = object.get(name.clone(), context)?;
        let name = name.to_std_string_escaped();
        if value.is_null_or_undefined() {
            continue;
        }
        if value.is_object() || value.is_symbol() || value.is_bigint() {
            return Err(contract(format!(
                "webhook.headers[{name:?}] is {}, not a string",
                describe_type(&value)
            )));
        }
        let value = value.to_string(context)?.to_std_string_escaped();
        pairs.push((name, value));
    }
    Ok(pairs)
}

/// The Rust string of a JS string value, `None` for any other value.
fn optional_string(value: &JsValue) -> Option<String> {
    value.as_string().map(|s| s.to_std_string_escaped())
}

/// `null`, `undefined`, `a number`, …: for messages.
fn describe_type(value: &JsValue) -> String {
    if value.is_null() {
        "null".to_owned()
    } else if value.is_undefined() {
        "undefined".to_owned()
    } else if value.is_callable() {
        "a function".to_owned()
    } else if let Some(object) = value.as_object()
        && object.is_array()
    {
        "an array".to_owned()
    } else {
        let kind = value.type_of();
        let article = if kind.starts_with(['a', 'e', 'i', 'o', 'u']) {
            "an"
        } else {
            "a"
        };
        format!("{article} {kind}")
    }
}
