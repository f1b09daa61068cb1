#!/usr/bin/env bash
# Where a route call's time goes, by phase (profile.py): criterion's
# `route_call/plugin/N` and `route_call/native/N` (N entities, 100 unless
# given), each timed and then sampled by perf in its steady state; then the
# `http_twins` server under wrk, its plugin and native routes, as server CPU
# per request. Installs Debian's linux-perf and wrk when missing. About
# 3 minutes once built. Run from the repository root:
#   bash host/benches/profile.sh [N]
set -euo pipefail
cd "$(dirname "$0")/../.."

command -v perf >/dev/null || { apt-get update -qq && apt-get install -y -qq linux-perf >/dev/null; }
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
rustup target add wasm32-wasip2 wasm32-wasip1 >/dev/null 2>&1
cargo build -q --release --target wasm32-wasip2 -p character-stats
cargo build -q --release -p plinth --example http_twins
bench=$(cargo bench -q -p plinth-tests --bench plinth --no-run --message-format=json |
  python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "plinth" and m.get("executable"):
        print(m["executable"])')
python3 host/benches/profile.py call "$bench" "${1:-100}"
python3 host/benches/profile.py http "${CARGO_TARGET_DIR:-target}/release/examples/http_twins"
