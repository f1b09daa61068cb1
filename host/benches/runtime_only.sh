#!/usr/bin/env bash
# What leaving the compiler out saves: builds `plinth-runtime-only` in release
# twice, as shipped (no compiler) and with the `compiler` feature (the same
# code with Cranelift linked), then runs both on the Rust, Python and
# JavaScript examples and a legacy job from precompiled Pulley artifacts, and
# prints each binary's size and peak resident memory (/usr/bin/time -v).
# Run from the repository root after the tests built the guests:
#   bash host/benches/runtime_only.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v /usr/bin/time >/dev/null || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
target="${CARGO_TARGET_DIR:-target}"
cargo build -q -p plinth
cargo build -q --release -p plinth-runtime-only --target-dir "$target/runtime-only"
cargo build -q --release -p plinth-runtime-only --features compiler --target-dir "$target/runtime-only-compiler"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
args=()
for name in character-stats word-count-widget audit-trail character-stats-py word-count-widget-js; do
    mkdir -p "$work/$name"
    module=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['wasm']['module'])" "example-plugins/$name/plugin.json")
    cp "example-plugins/$name/$module" "$work/$name/plugin.wasm"
    python3 -c "import json,sys; m=json.load(open(sys.argv[1])); m['wasm']['module']='plugin.wasm'; m.pop('build',None); json.dump(m,open(sys.argv[2],'w'))" \
        "example-plugins/$name/plugin.json" "$work/$name/plugin.json"
    cp -r "example-plugins/$name/tests" "$work/$name/"
    [ -d "example-plugins/$name/ui" ] && cp -r "example-plugins/$name/ui" "$work/$name/"
    "$target/debug/plinth" precompile "$work/$name" --target pulley64 >/dev/null
    args+=("$work/$name")
done
cp "$target/wasm32-wasip1/release/math.wasm" "$work/math.wasm"
"$target/debug/plinth" precompile "$work/math.wasm" --target pulley64 >/dev/null
args+=(--legacy "$work/math.wasm" '{"fn":"add","args":[3,5]}')

printf '| build | binary size | peak resident memory | cases |\n|---|---|---|---|\n'
for build in runtime-only runtime-only-compiler; do
    binary="$target/$build/release/plinth-runtime-only"
    /usr/bin/time -v "$binary" "${args[@]}" >"$work/$build.out" 2>"$work/$build.time"
    size=$(stat -c %s "$binary")
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/$build.time")
    passed=$(grep -c ' passed, 0 failed' "$work/$build.out")
    linked=$(sed -n 's/^compiler linked: //p' "$work/$build.out")
    awk -v b="$build" -v l="$linked" -v s="$size" -v r="$rss" -v p="$passed" \
        'BEGIN { printf "| %s (compiler linked: %s) | %.1f MiB | %.1f MiB | %s plugins passed |\n", b, l, s / 1048576, r / 1024, p }'
done
