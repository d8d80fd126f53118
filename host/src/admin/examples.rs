//! The seed JavaScript handlers, per destination (`docs/seed-examples/`,
//! from Dodo's documentation): where the dashboard's code editor starts when
//! an endpoint for that destination switches to a JavaScript
//! transformation (`GET /v1/examples`); and, for a JavaScript endpoint of
//! one's own, the handler `hookwasm plugin new --lang js` writes.

/// (name: `destination.what`, code); `{{name}}` stands for the handler's
/// name (see [`code`]).
pub const EXAMPLES: &[(&str, &str)] = &[
    (
        "js.payment_summary",
        include_str!("../cli/templates/handler.js"),
    ),
    (
        "customerio.track_attributes",
        include_str!("../../../docs/seed-examples/customerio.track_attributes.js"),
    ),
    (
        "customerio.track_payments",
        include_str!("../../../docs/seed-examples/customerio.track_payments.js"),
    ),
    (
        "customerio.track_subscriptions",
        include_str!("../../../docs/seed-examples/customerio.track_subscriptions.js"),
    ),
    (
        "inngest.basic_event",
        include_str!("../../../docs/seed-examples/inngest.basic_event.js"),
    ),
    (
        "inngest.dispute_event",
        include_str!("../../../docs/seed-examples/inngest.dispute_event.js"),
    ),
    (
        "inngest.subscription_event",
        include_str!("../../../docs/seed-examples/inngest.subscription_event.js"),
    ),
    (
        "loops.payment_confirmation",
        include_str!("../../../docs/seed-examples/loops.payment_confirmation.js"),
    ),
    (
        "loops.payment_failure",
        include_str!("../../../docs/seed-examples/loops.payment_failure.js"),
    ),
    (
        "loops.subscription_welcome",
        include_str!("../../../docs/seed-examples/loops.subscription_welcome.js"),
    ),
    (
        "windmill.basic_workflow",
        include_str!("../../../docs/seed-examples/windmill.basic_workflow.js"),
    ),
    (
        "windmill.dispute_workflow",
        include_str!("../../../docs/seed-examples/windmill.dispute_workflow.js"),
    ),
    (
        "windmill.subscription_workflow",
        include_str!("../../../docs/seed-examples/windmill.subscription_workflow.js"),
    ),
];

/// An example's code as the editor shows it.
pub fn code(text: &str) -> String {
    text.replace("{{name}}", "handler")
}

/// The destination an example stands in for: its name up to the first dot.
pub fn destination(name: &str) -> &str {
    name.split('.').next().unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_example_defines_a_handler_for_a_built_in_destination() {
        for (name, code) in EXAMPLES {
            assert!(super::code(code).contains("function handler"), "{name}");
            assert!(!super::code(code).contains("{{"), "{name}");
            assert!(
                ["js", "loops", "customerio", "inngest", "windmill"].contains(&destination(name)),
                "{name}"
            );
        }
    }
}
