#!/bin/sh
# Builds the JavaScript slack-notify component: sh build.sh [OUT.wasm]
# Needs Node.js >= 18 and `npm ci` run once in this directory.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/../dist/js-slack-notify.wasm}
mkdir -p "$(dirname "$out")"
out=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")
cd "$here"

# --sync: a plain (non-async) export, as hookwasm calls it.
# --stub-wasi: no WASI imports at all (the sandbox grants nothing anyway).
npx --no-install componentize-qjs \
  --wit ../../../wit \
  --js transform.js \
  --sync --stub-wasi \
  --output "$out"
node add-metadata.mjs "$out" "$(node -p 'require("./package.json").version')" \
  "Posts Dodo payment events to a Slack incoming webhook (JavaScript)"
echo "$out"
