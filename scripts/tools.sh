#!/usr/bin/env bash
# Installs what building the plugins needs, pinned, under target/ (run by
# serve.sh and test.sh; safe to run again): the WebAssembly targets,
# componentize-py in a virtual environment, componentize-js with npm.
# With --browser (test.sh), also Debian's chromium and chromium-driver for
# the browser tests, when they are missing.
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

if [ "${1:-}" = "--browser" ] && ! { [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; }; then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium chromium-driver
fi
