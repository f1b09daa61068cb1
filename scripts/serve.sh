#!/usr/bin/env bash
# The main job: builds the example plugins (Rust, Python, JavaScript) from
# source, each with the `build` command of its plugin.json (`plinth build`),
# and serves them over HTTP on 127.0.0.1:8080, with the embedded database in
# ./plinth-data. Extra arguments go to `plinth serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/tools.sh
cargo build -p plinth
target/debug/plinth build example-plugins
exec cargo run -p plinth -- serve --plugins example-plugins --data-dir plinth-data "$@"
