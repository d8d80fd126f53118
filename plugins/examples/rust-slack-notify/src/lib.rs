//! slack-notify, in Rust with hookwasm's SDK: Dodo Payments payment events
//! become a Slack incoming-webhook message.

use hookwasm_sdk::prelude::*;

pub struct SlackNotify;

hookwasm_sdk::plugin!(
    SlackNotify,
    // Errors read "slack-notify: <event type>: <what is wrong>".
    name = "slack-notify",
    description = "Posts Dodo payment events to a Slack incoming webhook (Rust)",
);

impl Plugin for SlackNotify {
    fn transform(event: &Event) -> Result<Outcome, Error> {
        let succeeded = match event.event_type.as_str() {
            "payment.succeeded" => true,
            "payment.failed" => false,
            other => {
                return Ok(Outcome::skip(format!(
                    "slack-notify handles payment.succeeded and payment.failed, not {other}"
                )));
            }
        };
        let url = event
            .endpoint_url
            .as_deref()
            .filter(|url| !url.is_empty())
            .ok_or_else(|| Error::new("the endpoint has no url"))?;

        let dodo = event.envelope()?; // "payload is not a JSON object", …
        let email = dodo
            .field("data.customer.email")
            .non_empty_str()?
            .ok_or_else(|| Error::missing("data.customer.email"))?;
        let cents = dodo.field("data.total_amount");
        let amount = match cents.value() {
            None => return Err(Error::missing(cents.path())),
            Some(value) => value
                .as_i64()
                .map(two_decimals)
                .ok_or_else(|| Error::invalid(cents.path(), "an integer"))?,
        };
        let currency = dodo.currency()?; // USD when missing, null or ""
        let paid = format!("Payment of {amount} {currency} from {email}");

        let text = if succeeded {
            let id = dodo
                .field("data.payment_id")
                .non_empty_str()?
                .ok_or_else(|| Error::missing("data.payment_id"))?;
            format!("{paid} ({id})")
        } else {
            let reason = dodo.field("data.error_message").non_empty_str()?;
            format!("{paid} failed: {}", reason.unwrap_or("unknown error"))
        };

        // Request::json sets `content-type: application/json`.
        Ok(Request::post(url).json(json!({ "text": text })).into())
    }
}

/// `cents` as a decimal with 2 places: 2159 → "21.59". (The SDK's
/// `Field::money` uses each currency's ISO 4217 exponent instead: 500 JPY →
/// "500"; this example keeps 2 places to match its other languages.)
fn two_decimals(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://hooks.slack.com/services/T000/B000/XXXX";

    fn run(payload: &str, url: Option<&str>) -> Result<Outcome, String> {
        let mut event = Event::from_payload("slack", "msg_1", payload);
        if let Some(url) = url {
            event = event.with_endpoint_url(url);
        }
        hookwasm_sdk::call::<SlackNotify>(&event)
    }

    fn text(outcome: &Outcome) -> String {
        let request = outcome.request().expect("a request");
        assert_eq!(request.url, URL);
        assert_eq!(
            request.header_value("content-type"),
            Some("application/json")
        );
        request.json_body().unwrap()["text"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    #[test]
    fn succeeded_and_failed() {
        let ok = run(
            r#"{"type":"payment.succeeded","data":{"payment_id":"pay_1","total_amount":2159,
                "currency":"EUR","customer":{"email":"jane@example.com"}}}"#,
            Some(URL),
        );
        assert_eq!(
            text(&ok.unwrap()),
            "Payment of 21.59 EUR from jane@example.com (pay_1)"
        );

        let failed = run(
            r#"{"type":"payment.failed","data":{"total_amount":5,"customer":{"email":"j@x.io"}}}"#,
            Some(URL),
        );
        assert_eq!(
            text(&failed.unwrap()),
            "Payment of 0.05 USD from j@x.io failed: unknown error"
        );
    }

    #[test]
    fn skips_and_errors() {
        let skipped = run(r#"{"type":"refund.succeeded","data":{}}"#, Some(URL)).unwrap();
        assert_eq!(
            skipped.skip_reason(),
            Some("slack-notify handles payment.succeeded and payment.failed, not refund.succeeded")
        );
        let no_url = run(r#"{"type":"payment.failed","data":{}}"#, None);
        assert_eq!(
            no_url.unwrap_err(),
            "slack-notify: payment.failed: the endpoint has no url"
        );
        let no_email = run(
            r#"{"type":"payment.failed","data":{"total_amount":1}}"#,
            Some(URL),
        );
        assert_eq!(
            no_email.unwrap_err(),
            "slack-notify: payment.failed: data.customer.email is missing"
        );
    }
}
