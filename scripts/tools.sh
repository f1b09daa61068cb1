#!/usr/bin/env bash
# Installs what building the plugins needs, pinned, under target/ (sourced by
# serve.sh and test.sh; safe to run again): the WebAssembly targets,
# componentize-py in a virtual environment, componentize-js with npm.
# @bytecodealliance/preview2-shim is named because componentize-js needs it at
# run time without declaring it, so a second `npm install` would prune it
# (docs/javascript.md).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
rustup target add wasm32-wasip1 wasm32-wasip2
[ -x target/py-tools/bin/python ] || python3 -m venv target/py-tools
target/py-tools/bin/pip install -q componentize-py==0.25.1
npm install --silent --no-audit --no-fund --prefix target/js-tools \
    @bytecodealliance/componentize-js@0.23.0 @bytecodealliance/preview2-shim@0.25.0
