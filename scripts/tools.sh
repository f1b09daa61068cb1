#!/usr/bin/env bash
# Installs what building the plugins needs, pinned, under target/ (run by
# serve.sh and test.sh; safe to run again): the WebAssembly targets,
# componentize-py in a virtual environment, componentize-js with npm, and
# axe-core, the accessibility checker the browser tests run in each page.
# @bytecodealliance/preview2-shim is named because componentize-js needs it at
# run time without declaring it, so a second `npm install` would prune it
# (docs/javascript.md).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
rustup target add wasm32-wasip1 wasm32-wasip2
[ -x target/py-tools/bin/python ] || python3 -m venv target/py-tools
target/py-tools/bin/pip install -q componentize-py==0.25.1
npm install --silent --no-audit --no-fund --prefix target/js-tools \
    @bytecodealliance/componentize-js@0.23.0 @bytecodealliance/preview2-shim@0.25.0 axe-core@4.10.3

# With --system (test.sh): Debian's packages the tests need, when missing:
# chromium and chromium-driver (browser tests), postgresql (a throw-away
# cluster the PostgreSQL tests start themselves; its `postgres` user runs it),
# WebKitGTK, its WebDriver and Xvfb (the desktop app: building it and driving
# its window).
if [ "${1:-}" = "--system" ]; then
    missing=()
    { [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; } || missing+=(chromium chromium-driver)
    pkg-config --exists webkit2gtk-4.1 2> /dev/null || missing+=(pkg-config libwebkit2gtk-4.1-dev)
    { [ -x /usr/bin/WebKitWebDriver ] && [ -x /usr/bin/xvfb-run ] && command -v xauth > /dev/null; } \
        || missing+=(webkit2gtk-driver xvfb xauth)
    compgen -G "/usr/lib/postgresql/*/bin/initdb" > /dev/null && id postgres > /dev/null 2>&1 || missing+=(postgresql)
    if [ ${#missing[@]} -gt 0 ]; then
        sudo=""
        [ "$(id -u)" = 0 ] || sudo="sudo"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
    fi
fi
