#!/usr/bin/env bash
# Installs what the JavaScript and Python examples need, builds them, and
# prints the path of each component:
#
#   bash plugins/examples/ci-build.sh            # both
#   bash plugins/examples/ci-build.sh js         # or: python
#
# npm packages go into js-slack-notify/node_modules (`npm ci`), PyPI packages
# into plugins/examples/.venv. Idempotent, and quick on a second run: an
# install or a build is skipped while its outputs are newer than its inputs.
# Needs node >= 18 with npm, and python3 with venv.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
dist=$here/dist
mkdir -p "$dist"

log() { echo "ci-build: $*" >&2; }

# up_to_date OUT INPUT...: OUT exists and no INPUT (file or directory tree)
# is newer than it.
up_to_date() {
  local out=$1
  shift
  [ -e "$out" ] && [ -z "$(find "$@" -newer "$out" -print -quit)" ]
}

build_js() {
  local dir=$here/js-slack-notify out=$dist/js-slack-notify.wasm
  cd "$dir"
  if up_to_date node_modules/.package-lock.json package.json package-lock.json; then
    log "js: node_modules up to date"
  else
    log "js: npm ci"
    npm ci --no-audit --no-fund --loglevel=error >&2
  fi
  if up_to_date "$out" node_modules/.package-lock.json transform.js build.sh add-metadata.mjs "$root/wit"; then
    log "js: $out up to date"
  else
    log "js: building"
    sh build.sh "$out" >&2
  fi
  echo "$out"
}

build_python() {
  local dir=$here/python-slack-notify out=$dist/python-slack-notify.wasm
  local venv=$here/.venv stamp=$here/.venv/.requirements-installed
  if up_to_date "$stamp" "$dir/requirements.txt"; then
    log "python: $venv up to date"
  else
    log "python: pip install into $venv"
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$dir/requirements.txt" >&2
    touch "$stamp"
  fi
  cd "$dir"
  if up_to_date "$out" "$stamp" app.py build.sh add_metadata.py "$root/wit"; then
    log "python: $out up to date"
  else
    log "python: building"
    COMPONENTIZE_PY=$venv/bin/componentize-py sh build.sh "$out" >&2
  fi
  echo "$out"
}

[ $# -gt 0 ] || set -- js python
for example in "$@"; do
  case $example in
    js) build_js ;;
    python) build_python ;;
    *) log "unknown example $example (js or python)"; exit 2 ;;
  esac
done
