//! The SDK's Dodo envelope readers on arbitrary payloads: every accessor
//! returns a value or an error, never a panic.
#![no_main]

use hookwasm_sdk::Envelope;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(envelope) = Envelope::parse(text) else {
        return;
    };
    for path in ["data.total_amount", "data.customer.email", "data.created_at", "data", "timestamp", "data.product_cart.0.quantity"] {
        let field = envelope.field(path);
        for currency in ["USD", "JPY", "BHD", "", "XXX"] {
            let _ = field.money(currency);
        }
        let _ = field.unix_millis();
        let _ = field.unix_seconds();
        let _ = field.non_empty_str();
        let _ = field.bool();
        let _ = field.at(0).get("x");
    }
    let _ = envelope.currency();
    let _ = envelope.customer().field("email").non_empty_str();
});
