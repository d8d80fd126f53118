//! The per-event cost of the transform, natively: a fresh context, the seed
//! handler compiled and run, the body serialised, as the host does once per
//! event (but without the WebAssembly sandbox around it). Ignored by default:
//!
//! `cargo test -p hookwasm-plugin-js --release -- --ignored --nocapture per_event`

use std::time::Instant;

use hookwasm_sdk::{Event, call};

use super::{SEEDS, fixture, with_script};
use crate::Js;

#[test]
#[ignore = "a timing, not a test: run with --ignored --nocapture (and --release)"]
fn per_event_cost() {
    let seed = "loops.payment_confirmation";
    let source = std::fs::read_to_string(format!("{SEEDS}/{seed}.js")).unwrap();
    let event = Event::from_payload("test", "msg_1", fixture("payment.succeeded"))
        .with_endpoint_url("https://app.loops.so/api/v1/events/send");
    let event = with_script(event, &format!("{seed}.js"), &source);

    let runs = 2000;
    for _ in 0..100 {
        call::<Js>(&event).unwrap();
    }
    let start = Instant::now();
    for _ in 0..runs {
        call::<Js>(&event).unwrap();
    }
    let per_event = start.elapsed() / runs;
    println!("{seed} on payment.succeeded: {per_event:?} per event (fresh context each)");
}
