#!/bin/sh
# Builds the Go slack-notify component (experimental): sh build.sh [OUT.wasm]
#         Regenerates the bindings after a WIT change: sh build.sh bindings
# Needs Go >= 1.25, wasm-tools and cargo; see README.md.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"

if [ "${1:-}" = bindings ]; then
  # wit-bindgen-cli 0.61.1. It also writes a go.mod (ours adds a `replace`)
  # and would overwrite nothing else of ours, but generate aside to be sure.
  tmp=$(mktemp -d)
  wit-bindgen go ../../../wit --out-dir "$tmp"
  rm -rf wit_world
  cp -r "$tmp/wit_exports.go" "$tmp/wit_world" .
  "$(go env GOROOT)/bin/gofmt" -w wit_exports.go wit_world
  rm -rf "$tmp"
  exit
fi

out=${1:-$here/../dist/go-slack-notify.wasm}
mkdir -p "$(dirname "$out")" build
out=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")

# 1. A core module for wasip1 that exports `transform` (//go:wasmexport);
#    c-shared: a library, no main loop. -checklinkname=0: the WIT runtime
#    package links to runtime internals.
GOOS=wasip1 GOARCH=wasm GOTOOLCHAIN=local \
  go build -buildmode=c-shared -trimpath -ldflags="-s -w -checklinkname=0" -o build/core.wasm .

# 2. The preview1 -> preview2 adapter, from the crates.io crate
#    wasi-preview1-component-adapter-provider (shared with the C example).
if [ ! -s build/wasi_snapshot_preview1.reactor.wasm ]; then
  cargo run --quiet --release --manifest-path ../c-slack-notify/adapter/Cargo.toml \
    -- build/wasi_snapshot_preview1.reactor.wasm
fi

# 3. Go writes no WIT types into the module: embed them, then make the
#    component, with a version and a description for `hookwasm plugin list`.
wasm-tools component embed ../../../wit --world transformer build/core.wasm -o build/embedded.wasm
wasm-tools component new build/embedded.wasm \
  --adapt wasi_snapshot_preview1=build/wasi_snapshot_preview1.reactor.wasm -o build/component.wasm
wasm-tools metadata add build/component.wasm --version 0.1.0 \
  --description "Posts Dodo payment events to a Slack incoming webhook (Go)" -o "$out"
echo "$out"
