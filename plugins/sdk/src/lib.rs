//! Write [hookwasm](https://github.com/hookwasm/hookwasm) plugins in Rust.
//!
//! A hookwasm plugin is a WebAssembly component that turns one received
//! webhook (an [`Event`]) into one HTTP request, or decides to skip it (an
//! [`Outcome`]). This crate holds everything a plugin needs so that the plugin
//! itself reads like its mapping table:
//!
//! - the bindings for `wit/transformer.wit` ([`Event`], [`Outcome`],
//!   [`Request`], [`Header`]), generated once here;
//! - [`plugin!`], which exports a [`Plugin`] and records its name, version,
//!   description and optional default URL in the `hookwasm-plugin` custom
//!   section of the `.wasm`;
//! - [`Envelope`] and [`Field`], a forgiving view of a Dodo Payments webhook
//!   whose accessors name the JSON path in their errors;
//! - [`Object`], a JSON object builder that leaves out missing and null values;
//! - [`Request::post`] and friends to build the request;
//! - [`money`], [`time`], [`ids`] and [`url`] helpers for what destinations
//!   expect: decimal amounts, unix times, ULIDs and UUIDs, query strings;
//! - [`notice`] and [`text`] for chat destinations: an event described in
//!   words (title, tone, facts), and texts cut to a destination's limits;
//! - `testing` (native builds only): run a plugin against hookwasm's fixture
//!   files, and against thousands of mangled payloads.
//!
//! # A whole plugin
//!
//! ```
//! use hookwasm_sdk::prelude::*;
//!
//! /// Sends every successful payment to a Slack-like incoming webhook.
//! pub struct Notify;
//!
//! hookwasm_sdk::plugin!(
//!     Notify,
//!     name = "notify",
//!     description = "Posts a message for every successful Dodo payment",
//! );
//!
//! impl Plugin for Notify {
//!     fn transform(event: &Event) -> Result<Outcome, Error> {
//!         if event.event_type != "payment.succeeded" {
//!             return Ok(Outcome::skip(format!("notify does not handle {}", event.event_type)));
//!         }
//!         let url = event.require_endpoint_url()?;
//!         let dodo = event.envelope()?;
//!         let currency = dodo.currency()?;
//!         let amount = dodo.field("data.total_amount").require_money(currency)?;
//!         let email = dodo.field("data.customer.email").require_str()?;
//!
//!         let body = Object::new()
//!             .set("text", format!("{email} paid {amount} {currency}"))
//!             .set("payment_id", dodo.field("data.payment_id"))
//!             .set("method", dodo.field("data.payment_method").or("unknown"));
//!         Ok(Request::post(url)
//!             .header("idempotency-key", &event.delivery_key)
//!             .json(body)
//!             .into())
//!     }
//! }
//!
//! // Plugins are plain Rust: test them natively.
//! let event = Event::from_payload(
//!     "slack",
//!     "msg_1",
//!     r#"{"type":"payment.succeeded","timestamp":"2025-01-15T23:30:12.482913Z",
//!         "data":{"payment_id":"pay_1","total_amount":2159,"currency":"USD",
//!                 "customer":{"email":"jane@example.com"}}}"#,
//! )
//! .with_endpoint_url("https://hooks.example.com/T000");
//!
//! let outcome = hookwasm_sdk::call::<Notify>(&event).unwrap();
//! let request = outcome.request().unwrap();
//! assert_eq!(request.url, "https://hooks.example.com/T000");
//! assert_eq!(request.header_value("idempotency-key"), Some("slack:msg_1"));
//! assert_eq!(
//!     request.json_body().unwrap()["text"],
//!     "jane@example.com paid 21.59 USD"
//! );
//!
//! // Errors read "<plugin>: <event type>: <what is wrong>".
//! let broken = Event::from_payload(
//!     "slack",
//!     "msg_2",
//!     r#"{"type":"payment.succeeded","data":{"total_amount":500,"customer":{}}}"#,
//! )
//!     .with_endpoint_url("https://hooks.example.com/T000");
//! assert_eq!(
//!     hookwasm_sdk::call::<Notify>(&broken).unwrap_err(),
//!     "notify: payment.succeeded: data.customer.email is missing"
//! );
//! ```
//!
//! Build it with `cargo build --release --target wasm32-wasip2` and a
//! `crate-type = ["cdylib"]` library: the `.wasm` that cargo writes is already
//! a component, ready to drop into hookwasm's plugins directory. Set
//! `panic = "abort"` and `lto = true` in the release profile; `opt-level = 3`
//! for speed (the built-in plugins, 160–190 KB, use it) or `"s"` for a plugin
//! about 20 % smaller and 15–20 % slower.
//!
//! # Rules the helpers follow
//!
//! - **Nothing panics on input.** Navigation ([`Envelope::field`],
//!   [`Field::get`]) never fails; typed accessors return an [`Error`] naming
//!   the path (`data.total_amount is not an integer`).
//! - **Missing and `null` are the same**, and [`Object::set`] leaves both out.
//! - **Defaults** ([`Field::or`]) also replace empty strings, like the
//!   JavaScript `value || default` they stand for.

// The generated export glue refers to the runtime through this crate's name,
// so that plugins need no direct wit-bindgen dependency; this makes that name
// resolve inside the SDK too.
extern crate self as hookwasm_sdk;

pub mod bindings;
mod envelope;
mod error;
mod event;
pub mod ids;
mod json;
pub mod money;
pub mod notice;
mod outcome;
mod plugin;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;
pub mod text;
pub mod time;
pub mod url;

pub use bindings::{Event, Header, Outcome, Request};
pub use envelope::{Envelope, Field, PayloadValue};
pub use error::Error;
pub use json::{IntoJson, Object};
pub use plugin::{Metadata, Plugin, call};
/// The SDK's JSON library, for plugins that need more of it (same version,
/// so values pass between the two freely).
pub use serde_json;
/// The JSON value type the SDK reads payloads into and builds bodies from.
pub use serde_json::{Value, json};

/// Everything a plugin usually needs: `use hookwasm_sdk::prelude::*;`.
pub mod prelude {
    pub use crate::{
        Envelope, Error, Event, Field, Header, IntoJson, Metadata, Object, Outcome, PayloadValue,
        Plugin, Request, Value, json,
    };
}

/// Not public API: used by the code that [`plugin!`] expands to.
#[doc(hidden)]
pub mod __private {
    pub use crate::plugin::{form_bytes, form_len, metadata_json, metadata_len};
    pub use std::string::String;
    pub use wit_bindgen;
}
