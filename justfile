# hookwasm developer recipes (`pip install rust-just` gives `just`).
# Nothing here is needed by `cargo run --release` or `cargo test`.

default:
    @just --list

# Serve the example config (hookwasm.toml) with the built-in plugins.
run:
    cargo run --release

# The whole test suite, as CI runs it.
test:
    cargo test

# Benchmarks: per-event plugin cost, and the end-to-end load test.
bench:
    cargo bench -p hookwasm --bench transform
    cargo run --release -p hookwasm -- bench

# Build the plugins for wasm32-wasip2 alone (host/build.rs does this too).
plugins:
    cargo build --profile plugin --target wasm32-wasip2 -p hookwasm-plugin-loops -p hookwasm-plugin-customerio -p hookwasm-plugin-windmill -p hookwasm-plugin-inngest
    ls -l target/wasm32-wasip2/plugin/*.wasm

# Native unit tests of every plugin crate (the host's tests run them as wasm).
plugin-tests:
    cargo test -p hookwasm-sdk -p hookwasm-plugin-loops -p hookwasm-plugin-customerio -p hookwasm-plugin-windmill -p hookwasm-plugin-inngest -p hookwasm-plugin-testing

fmt:
    cargo fmt --all

lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings
