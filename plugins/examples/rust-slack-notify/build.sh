#!/bin/sh
# Builds the Rust slack-notify component: sh build.sh [OUT.wasm]
# Needs rustup's Rust with the wasm32-wasip2 target (the repository's
# rust-toolchain.toml lists it).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
out=${1:-$here/../dist/rust-slack-notify.wasm}
mkdir -p "$(dirname "$out")"
out=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")

# The .wasm cargo writes for wasm32-wasip2 is already a component; the SDK's
# plugin! macro wrote its name, version and description into it.
cargo build --release --target wasm32-wasip2
target=${CARGO_TARGET_DIR:-target}
cp "$target/wasm32-wasip2/release/slack_notify.wasm" "$out"
echo "$out"
