//! The types and export glue generated from `wit/transformer.wit`.
//!
//! Generated once, here, so that every plugin shares one copy of the contract
//! and needs no wit-bindgen dependency of its own. Use the re-exports at the
//! crate root ([`crate::Event`], [`crate::Outcome`], …) rather than this module;
//! [`crate::plugin!`] wires up [`Guest`] and the export for you.

// The generated lowering functions take one argument per flattened field.
#![allow(clippy::too_many_arguments)]

wit_bindgen::generate!({
    path: "../../wit",
    world: "transformer",
    // The export macro is used from the plugin crates, not from here.
    pub_export_macro: true,
    export_macro_name: "__export",
    default_bindings_module: "::hookwasm_sdk::bindings",
    runtime_path: "::hookwasm_sdk::__private::wit_bindgen::rt",
    // Tests compare outcomes with `assert_eq!`.
    additional_derives: [PartialEq, Eq],
});
