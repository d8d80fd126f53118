//! Native tests of the whole transform: the seed handlers against node's
//! output, the handler contract, and a timing of one event.

mod bench;
mod contract;
mod seeds;

use hookwasm_sdk::{Event, Outcome, call};

use crate::Js;
use crate::script::{SCRIPT_KEY, SCRIPT_NAME_KEY};

/// The repository's `tests/fixtures`.
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures");
/// The repository's `docs/seed-examples`.
const SEEDS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/seed-examples");

/// The Dodo fixture body `tests/fixtures/dodo/{name}.json`, as text.
fn fixture(name: &str) -> String {
    let path = format!("{FIXTURES}/dodo/{name}.json");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

/// `event` carrying `source` as its handler, named `name`, as the host passes it.
fn with_script(event: Event, name: &str, source: &str) -> Event {
    event
        .with_setting(SCRIPT_KEY, source)
        .with_setting(SCRIPT_NAME_KEY, name)
}

/// Runs `source` on the payment.succeeded fixture, delivered to an endpoint
/// with a URL.
fn run(source: &str) -> Result<Outcome, String> {
    let event = Event::from_payload("test", "msg_1", fixture("payment.succeeded"))
        .with_endpoint_url("https://hooks.example.com/in");
    call::<Js>(&with_script(event, "test.js", source))
}
