//! {{name}}: a hookwasm plugin. `transform` turns one webhook event into the
//! HTTP request to send (or a skip); hookwasm adds the endpoint's auth.

use hookwasm_sdk::prelude::*;

pub struct Transform;

hookwasm_sdk::plugin!(
    Transform,
    // Errors read "{{name}}: <event type>: <what is wrong>".
    name = "{{name}}",
    description = "A hookwasm plugin",
);

impl Plugin for Transform {
    fn transform(event: &Event) -> Result<Outcome, Error> {
        if !event.event_type.starts_with("payment.") {
            return Ok(Outcome::skip(format!("{{name}} handles payment events, not {}", event.event_type)));
        }
        let url = event
            .endpoint_url
            .as_deref()
            .ok_or_else(|| Error::new("the endpoint has no url"))?;
        let dodo = event.envelope()?;
        let payment_id = dodo
            .field("data.payment_id")
            .non_empty_str()?
            .ok_or_else(|| Error::missing("data.payment_id"))?;
        Ok(Request::post(url)
            .json(json!({ "event": event.event_type, "payment_id": payment_id }))
            .into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payment_becomes_a_request() {
        let event = Event::from_payload(
            "test",
            "msg_1",
            r#"{"type":"payment.succeeded","data":{"payment_id":"pay_1"}}"#,
        )
        .with_endpoint_url("https://example.com/hook");
        let outcome = hookwasm_sdk::call::<Transform>(&event).unwrap();
        let request = outcome.request().expect("a request");
        assert_eq!(request.json_body().unwrap()["payment_id"], "pay_1");
    }
}
