//! The built-in plugins, compiled from `plugins/` by `build.rs` and embedded
//! in the binary.

/// (name, component bytes)
pub const BUILTINS: &[(&str, &[u8])] = &[
    (
        "loops",
        include_bytes!(concat!(env!("OUT_DIR"), "/loops.wasm")),
    ),
    (
        "customerio",
        include_bytes!(concat!(env!("OUT_DIR"), "/customerio.wasm")),
    ),
    (
        "windmill",
        include_bytes!(concat!(env!("OUT_DIR"), "/windmill.wasm")),
    ),
    (
        "inngest",
        include_bytes!(concat!(env!("OUT_DIR"), "/inngest.wasm")),
    ),
    // Runs a JavaScript `handler(webhook)` given in the `hookwasm.script`
    // setting: `*.js` files in the plugins directory and endpoints with
    // `script = "…"` use it (see docs/js-plugins.md).
    ("js", include_bytes!(concat!(env!("OUT_DIR"), "/js.wasm"))),
];

pub fn get(name: &str) -> Option<&'static [u8]> {
    BUILTINS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, bytes)| *bytes)
}
