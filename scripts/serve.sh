#!/usr/bin/env bash
# The main job: builds the example plugins (Rust, Python, JavaScript) from
# source and serves them over HTTP on 127.0.0.1:8080, with the embedded
# database in ./plinth-data. Extra arguments go to `plinth serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/tools.sh
cargo build --release --target wasm32-wasip2 -p character-stats -p word-count-widget -p audit-trail
(cd example-plugins/character-stats-py && ../../target/py-tools/bin/componentize-py -d ../../wit \
    -w hooks-and-routes componentize app -o ../../target/python/character_stats_py.wasm)
target/js-tools/node_modules/.bin/componentize-js example-plugins/word-count-widget-js/app.js \
    -w wit -n widget-plugin -d http -d fetch-event -o target/javascript/word_count_widget_js.wasm
exec cargo run -p plinth -- serve --plugins example-plugins --data-dir plinth-data "$@"
