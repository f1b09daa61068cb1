#!/usr/bin/env bash
# The tests: installs the pinned tools, then `cargo test --workspace` (which
# builds every guest from source). Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/tools.sh
cargo test --workspace "$@"
