//! Webhook: the generic forwarder for "signed webhooks out". Every event's
//! payload is sent unchanged, byte for byte, to the endpoint's URL; the host
//! (not this plugin) adds the Standard Webhooks signature headers, signed
//! with the endpoint's `signing_secret`.
//!
//! The plugin does not parse the payload: whatever the host accepted is
//! forwarded, whatever its type, so that the receiver can verify and read it
//! exactly as the original sender wrote it.

use hookwasm_sdk::prelude::*;

/// The webhook plugin.
pub struct Webhook;

hookwasm_sdk::plugin!(
    Webhook,
    name = "webhook",
    description = "Forwards each event's payload unchanged to the endpoint URL (the host signs it)",
    form = include_str!("../form.json"),
);

impl Plugin for Webhook {
    fn transform(event: &Event) -> Result<Outcome, Error> {
        // The receiver's URL is the whole configuration: no default.
        let url = event.require_endpoint_url()?;
        Ok(Request::post(url)
            .header("content-type", "application/json")
            .body(event.payload.as_bytes())
            .into())
    }
}

#[cfg(test)]
mod tests;
