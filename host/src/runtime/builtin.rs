//! The built-in plugins, compiled from `plugins/` by `build.rs` and embedded
//! in the binary.

/// (name, component bytes) of the plugin built from `plugins/<name>`.
macro_rules! builtin {
    ($name:literal) => {
        (
            $name,
            include_bytes!(concat!(env!("OUT_DIR"), "/", $name, ".wasm")),
        )
    };
}

/// (name, component bytes)
pub const BUILTINS: &[(&str, &[u8])] = &[
    builtin!("loops"),
    builtin!("customerio"),
    builtin!("windmill"),
    builtin!("inngest"),
    builtin!("slack"),
    builtin!("discord"),
    builtin!("teams"),
    builtin!("hubspot"),
    builtin!("segment"),
    builtin!("sendgrid"),
    builtin!("resend"),
    builtin!("zapier"),
    builtin!("close"),
    // Forwards the payload unchanged; the host signs it (`signing_secret`).
    builtin!("webhook"),
    // Runs a JavaScript `handler(webhook)` given in the `hookwasm.script`
    // setting: `*.js` files in the plugins directory and endpoints with
    // `script = "…"` use it (see docs/js-plugins.md).
    builtin!("js"),
];

pub fn get(name: &str) -> Option<&'static [u8]> {
    BUILTINS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, bytes)| *bytes)
}
