#!/bin/sh
# Builds the C slack-notify component: sh build.sh [OUT.wasm]
#         Regenerates the bindings after a WIT change: sh build.sh bindings
# Needs clang with a wasm32 backend, wasi-libc, wasm-tools and cargo; see
# README.md. CC picks the compiler (default: clang-19, else clang).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"

if [ "${1:-}" = bindings ]; then
  # wit-bindgen-cli 0.61.1, like the Rust SDK's wit-bindgen 0.61.
  wit-bindgen c ../../../wit --out-dir bindings
  exit
fi

out=${1:-$here/../dist/c-slack-notify.wasm}
mkdir -p "$(dirname "$out")" build
out=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")
cc=${CC:-$(command -v clang-19 || command -v clang)}

# 1. A core module against wasi-libc (WASI preview1). `-mexec-model=reactor`:
#    a library with exports, no main(). transformer_component_type.o carries
#    the WIT types into the module for step 2.
"$cc" --target=wasm32-wasi -Os -Wall -Wextra -mexec-model=reactor -Wl,--strip-all \
  -Ibindings -o build/core.wasm \
  src/slack_notify.c src/json.c bindings/transformer.c bindings/transformer_component_type.o

# 2. The preview1 -> preview2 adapter, from the crates.io crate
#    wasi-preview1-component-adapter-provider (written once).
if [ ! -s build/wasi_snapshot_preview1.reactor.wasm ]; then
  cargo run --quiet --release --manifest-path adapter/Cargo.toml \
    -- build/wasi_snapshot_preview1.reactor.wasm
fi

# 3. The component, with a version and a description for `hookwasm plugin list`.
wasm-tools component new build/core.wasm \
  --adapt wasi_snapshot_preview1=build/wasi_snapshot_preview1.reactor.wasm -o build/component.wasm
wasm-tools metadata add build/component.wasm --version 0.1.0 \
  --description "Posts Dodo payment events to a Slack incoming webhook (C)" -o "$out"
echo "$out"
