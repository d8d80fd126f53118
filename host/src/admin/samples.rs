//! Built-in sample payloads, one Dodo Payments webhook per event type
//! (`host/samples/dodo/`, from Dodo's published OpenAPI examples): what
//! `GET /v1/samples`, `endpoints test --sample`, the dashboard's **Test** and
//! `send-sample` run on.

/// (event type, JSON body)
pub const SAMPLES: &[(&str, &str)] = &[
    (
        "dispute.accepted",
        include_str!("../../samples/dodo/dispute.accepted.json"),
    ),
    (
        "dispute.cancelled",
        include_str!("../../samples/dodo/dispute.cancelled.json"),
    ),
    (
        "dispute.challenged",
        include_str!("../../samples/dodo/dispute.challenged.json"),
    ),
    (
        "dispute.expired",
        include_str!("../../samples/dodo/dispute.expired.json"),
    ),
    (
        "dispute.lost",
        include_str!("../../samples/dodo/dispute.lost.json"),
    ),
    (
        "dispute.opened",
        include_str!("../../samples/dodo/dispute.opened.json"),
    ),
    (
        "dispute.won",
        include_str!("../../samples/dodo/dispute.won.json"),
    ),
    (
        "license_key.created",
        include_str!("../../samples/dodo/license_key.created.json"),
    ),
    (
        "payment.cancelled",
        include_str!("../../samples/dodo/payment.cancelled.json"),
    ),
    (
        "payment.failed",
        include_str!("../../samples/dodo/payment.failed.json"),
    ),
    (
        "payment.processing",
        include_str!("../../samples/dodo/payment.processing.json"),
    ),
    (
        "payment.succeeded",
        include_str!("../../samples/dodo/payment.succeeded.json"),
    ),
    (
        "refund.failed",
        include_str!("../../samples/dodo/refund.failed.json"),
    ),
    (
        "refund.succeeded",
        include_str!("../../samples/dodo/refund.succeeded.json"),
    ),
    (
        "subscription.active",
        include_str!("../../samples/dodo/subscription.active.json"),
    ),
    (
        "subscription.cancelled",
        include_str!("../../samples/dodo/subscription.cancelled.json"),
    ),
    (
        "subscription.expired",
        include_str!("../../samples/dodo/subscription.expired.json"),
    ),
    (
        "subscription.failed",
        include_str!("../../samples/dodo/subscription.failed.json"),
    ),
    (
        "subscription.on_hold",
        include_str!("../../samples/dodo/subscription.on_hold.json"),
    ),
    (
        "subscription.plan_changed",
        include_str!("../../samples/dodo/subscription.plan_changed.json"),
    ),
    (
        "subscription.renewed",
        include_str!("../../samples/dodo/subscription.renewed.json"),
    ),
];

pub fn get(event_type: &str) -> Option<&'static str> {
    SAMPLES
        .iter()
        .find(|(t, _)| *t == event_type)
        .map(|(_, body)| *body)
}

/// The known types, for error messages.
pub fn types() -> Vec<&'static str> {
    SAMPLES.iter().map(|(t, _)| *t).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sample_is_a_dodo_event_of_its_type() {
        assert!(SAMPLES.len() >= 21);
        for (event_type, body) in SAMPLES {
            let value: serde_json::Value = serde_json::from_str(body).unwrap();
            assert_eq!(value["type"], *event_type);
            assert!(value["data"].is_object(), "{event_type}");
        }
    }
}
