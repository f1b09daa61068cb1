#!/usr/bin/env bash
# The tests: installs the pinned tools and Debian's Chromium (for the browser
# tests), then `cargo test --workspace` (which builds every guest from
# source). Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/tools.sh --browser
cargo test --workspace "$@"
