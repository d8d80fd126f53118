//! JavaScript transforms: runs a Svix-style `function handler(webhook)` (the
//! form Dodo Payments' and Svix's transformation docs use) on each event,
//! inside the plugin's WebAssembly sandbox, with the Boa engine.
//!
//! The host passes the handler's source in the reserved setting
//! `hookwasm.script` and its display name in `hookwasm.script-name`
//! ([`script`]); `docs/js-plugins.md` is the user's guide.

mod body;
mod dates;
mod failure;
mod handler;
mod locale;
mod payload;
mod realm;
pub mod script;

#[cfg(test)]
mod tests;

use hookwasm_sdk::prelude::*;

/// The JavaScript plugin.
pub struct Js;

hookwasm_sdk::plugin!(
    Js,
    name = "js",
    description =
        "Runs a JavaScript `function handler(webhook)` (Svix/Dodo style) inside the sandbox",
    form = include_str!("../form.json"),
);

/// Two exports beside the contract's `transform`, for the host's snapshots
/// (`host/src/runtime/snapshot.rs`): `wizer-initialize` builds the realm,
/// `prepare-script` then runs one handler file's top-level code in it.
#[cfg(target_arch = "wasm32")]
mod init {
    wit_bindgen::generate!({
        inline: "
            package hookwasm:js-init;
            world init {
                export wizer-initialize: func();
                export prepare-script: func(name: string, source: string) -> result<_, string>;
            }
        ",
    });

    struct Init;

    impl Guest for Init {
        fn wizer_initialize() {
            crate::realm::prepare();
        }

        fn prepare_script(name: String, source: String) -> Result<(), String> {
            crate::realm::prepare_script(&name, &source)
        }
    }

    export!(Init);
}

impl Plugin for Js {
    fn transform(event: &Event) -> Result<Outcome, Error> {
        let script = script::Script::from_event(event)?;
        handler::run(script, event)
    }
}
