#!/usr/bin/env bash
# The tests: installs the pinned tools and Debian's Chromium (browser tests)
# and PostgreSQL (a throw-away cluster per test), then `cargo test
# --workspace` (which builds every guest from source). Extra arguments go to
# `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/tools.sh --system
cargo test --workspace "$@"
