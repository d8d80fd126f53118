#!/bin/sh
# Builds {{name}}.wasm: sh build.sh. Needs componentize-py:
#   python3 -m venv .venv && .venv/bin/pip install -r requirements.txt
set -eu
cd "$(dirname "$0")"
cpy=componentize-py
[ -x .venv/bin/componentize-py ] && cpy=.venv/bin/componentize-py
# --stub-wasi: the plugin imports nothing (print() would trap; drop the flag
# to have print() reach hookwasm's log).
$cpy -d wit -w transformer componentize -p . --stub-wasi app -o {{name}}.wasm
echo "$(pwd)/{{name}}.wasm"
