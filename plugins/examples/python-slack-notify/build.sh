#!/bin/sh
# Builds the Python slack-notify component: sh build.sh [OUT.wasm]
# Needs `componentize-py` (requirements.txt) on PATH, or COMPONENTIZE_PY set.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/../dist/python-slack-notify.wasm}
mkdir -p "$(dirname "$out")"
out=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")
cd "$here"

# -d: the WIT contract, straight from the repository (bindings are generated
#     in memory; `componentize-py -d ../../../wit bindings .` writes them out
#     for your editor).
# -p .: where app.py is.
# --stub-wasi: no WASI imports at all, and ~15% less fuel per event; but then
# print() traps. STUB_WASI=0 keeps WASI, and print() goes to hookwasm's log.
stub=--stub-wasi
[ "${STUB_WASI:-1}" = 0 ] && stub=
${COMPONENTIZE_PY:-componentize-py} -d ../../../wit -w transformer \
  componentize -p . $stub app -o "$out"
python3 add_metadata.py "$out" 0.1.0 \
  "Posts Dodo payment events to a Slack incoming webhook (Python)"
echo "$out"
