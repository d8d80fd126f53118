//! `write-wasi-adapter OUT.wasm`: writes the WASI preview1 reactor adapter.
fn main() {
    let out = std::env::args().nth(1).expect("usage: write-wasi-adapter OUT.wasm");
    let bytes = wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER;
    std::fs::write(&out, bytes).unwrap_or_else(|e| panic!("{out}: {e}"));
}
