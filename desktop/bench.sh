#!/usr/bin/env bash
# The desktop app's cost, as whole processes (BENCHMARKS.md, "Desktop"):
#  - cold start to the first widget rendered by WASM, without and with the
#    compile cache in the app's data directory (the window under Xvfb);
#  - a WASM widget render through a Tauri command, against the same render
#    through `plinth serve` over HTTP on 127.0.0.1 (one after another, 500 each).
# Usage: bash desktop/bench.sh [RUNS] [debug|release] (default 5, debug: the
# tests' builds; release builds the app and the server as shipped, about ten
# minutes more); needs what `scripts/tools.sh --system` installs.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
profile=${2:-debug}
case "$profile" in
    debug) cargo build -q -p plinth-desktop -p plinth ;;
    release) cargo build -q --release -p plinth-desktop -p plinth ;;
    *) echo "usage: bash desktop/bench.sh [RUNS] [debug|release]" >&2; exit 2 ;;
esac
bin="target/$profile"
cargo test -q -p plinth-tests --no-run > /dev/null   # builds the example components
work=$(mktemp -d)
trap 'kill $(jobs -p) 2> /dev/null || true; rm -rf "$work"' EXIT
# The Rust examples, each with its component beside its manifest.
for name in audit-trail character-stats word-count-widget; do
    mkdir -p "$work/plugins/$name"
    cp -r "example-plugins/$name/ui" "$work/plugins/$name/" 2> /dev/null || true
    python3 - "$name" "$work/plugins/$name" <<'PY'
import json, shutil, sys, os
name, dest = sys.argv[1], sys.argv[2]
manifest = json.load(open(f"example-plugins/{name}/plugin.json"))
shutil.copy(os.path.join(f"example-plugins/{name}", manifest["wasm"]["module"]), f"{dest}/plugin.wasm")
manifest["wasm"]["module"] = "plugin.wasm"
json.dump(manifest, open(f"{dest}/plugin.json", "w"))
PY
done
export PLINTH_DESKTOP_PLUGINS="$work/plugins" NO_AT_BRIDGE=1
xvfb-run -a -s "-screen 0 1280x1024x24" bash -c '
    runs=$1 work=$2 bin=$3
    for cache in without with; do
        data="$work/data-$cache"
        mkdir -p "$data"
        [ "$cache" = with ] && XDG_DATA_HOME="$data" "$bin/plinth-desktop" --measure > /dev/null
        for run in $(seq "$runs"); do
            [ "$cache" = without ] && rm -rf "$data"
            start=$(date +%s%N)
            line=$(XDG_DATA_HOME="$data" "$bin/plinth-desktop" --measure | tail -1)
            echo "$cache $(( start / 1000000 )) $line"
        done
    done' bash "$runs" "$work" "$bin" > "$work/desktop.txt"
# The same render over HTTP.
"$bin/plinth" serve --plugins "$work/plugins" --data-dir "$work/serve-data" --addr 127.0.0.1:0 > "$work/serve.log" 2>&1 &
for _ in $(seq 300); do grep -q "listening on" "$work/serve.log" && break; sleep 0.1; done
address=$(grep -o "http://[0-9.:]*" "$work/serve.log" | head -1)
for _ in $(seq 300); do curl -sf "$address/healthz" > /dev/null && break; sleep 0.1; done
echo "$profile builds"
python3 - "$address" "$work/desktop.txt" <<'PY'
import http.client, json, statistics, sys, time, urllib.parse
address, results = sys.argv[1], sys.argv[2]
url = urllib.parse.urlparse(address)
connection = http.client.HTTPConnection(url.hostname, url.port)
body = json.dumps({"field_name": "bio", "value": "one two three"})
def render():
    connection.request("POST", "/api/widgets/plugin:word-count-widget:word-count/render", body, {"content-type": "application/json"})
    answer = connection.getresponse(); answer.read()
    assert answer.status == 200, answer.status
for _ in range(50): render()
start = time.perf_counter()
for _ in range(500): render()
http_us = (time.perf_counter() - start) * 1e6 / 500
rows = {"without": [], "with": []}
for line in open(results):
    cache, started_ms, report = line.split(" ", 2)
    report = json.loads(report)
    first = report["firstRender"]
    # Whole process: from launching it to the first widget rendered.
    rows[cache].append((first["epochMs"] - int(started_ms), None, first["sinceStartMs"], report["perRenderUs"]))
median = statistics.median
print("| cold start to the first WASM-rendered widget | launch to first render, median ms | of which main() to first render, median ms |")
print("|---|---|---|")
for cache in ("without", "with"):
    rows_ = rows[cache]
    print(f"| {cache} the compile cache ({len(rows_)} runs) | {median(r[0] for r in rows_):.0f} | {median(r[2] for r in rows_):.0f} |")
ratio = median(r[0] for r in rows["without"]) / median(r[0] for r in rows["with"])
print(f"\nwithout / with the cache: {ratio:.2f}x")
tauri_us = median(r[3] for r in rows["with"] + rows["without"])
print(f"\n| one widget render | µs per call |\n|---|---|\n| Tauri command (invoke) | {tauri_us:.0f} |\n| plinth serve over HTTP (keep-alive) | {http_us:.0f} |")
print(f"\nTauri / HTTP: {tauri_us / http_us:.2f}x")
PY
