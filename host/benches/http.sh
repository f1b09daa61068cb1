#!/usr/bin/env bash
# HTTP throughput and latency on loopback, twice: `plinth serve`'s plugin
# route against its own native entities route (the same kind of work), and
# the `http_twins` example, where one axum server answers the same logic from
# the plugin and in Rust. Uses wrk (Debian package); installs it when missing.
# Run from the repository root: bash host/benches/http.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
rustup target add wasm32-wasip2 wasm32-wasip1 >/dev/null 2>&1
cargo build -q --release --target wasm32-wasip2 -p character-stats -p word-count-widget -p audit-trail
cargo build -q --release -p plinth --bin plinth --example http_twins
release="${CARGO_TARGET_DIR:-target}/release"

data=$(mktemp -d)
twins=
trap 'kill "$server" $twins 2>/dev/null; rm -rf "$data"' EXIT
port=18080
log="$data/server.log"
RUST_LOG=warn "$release/plinth" serve --plugins example-plugins --data-dir "$data" --addr "127.0.0.1:$port" >"$log" 2>&1 &
server=$!
# Up to 5 minutes: the Python and JavaScript examples compile on a fresh data directory.
wait_for() { # URL WHAT
  for _ in $(seq 3000); do
    curl -sf "$1" >/dev/null && return 0
    kill -0 "$server" 2>/dev/null || { echo "http.sh: the server exited while waiting for $2; its log:"; cat "$log"; exit 1; }
    sleep 0.1
  done
  echo "http.sh: $2 did not answer within 5 minutes; the server's log:"; cat "$log"; exit 1
}
wait_for "localhost:$port/healthz" "plinth serve"

for i in $(seq 1000); do
  type=$([ $((i % 2)) -eq 0 ] && echo character || echo location)
  echo "{\"entity_type\":\"$type\",\"data\":{\"n\":$i}}"
done | while read -r body; do
  curl -sS --fail-with-body -X POST "localhost:$port/api/entities" -d "$body" >/dev/null \
    || { echo "http.sh: seeding failed on $body; the server's log:"; cat "$log"; exit 1; }
done

run() {
  echo "## $1"
  wrk -t2 -c16 -d10s --latency "http://127.0.0.1:$port$2" | grep -E "Requests/sec|50%|99%|Latency  |Non-2xx"
}
run "plugin route: GET /api/plugins/character-stats/stats/character" "/api/plugins/character-stats/stats/character"
run "native route: GET /api/entities?entity_type=character&limit=1" "/api/entities?entity_type=character&limit=1"

kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true
twins_port=18081
"$release/examples/http_twins" "127.0.0.1:$twins_port" >/dev/null &
twins=$!
server=$twins
log=/dev/null
wait_for "localhost:$twins_port/native/stats/character" "http_twins"
port=$twins_port
run "twins, plugin: GET /plugin/stats/character" "/plugin/stats/character"
run "twins, native: GET /native/stats/character" "/native/stats/character"
