#!/usr/bin/env bash
# Checks that the runtime-only plinth-host (no compiler, no bundled SQLite:
# the application supplies its database through the backend seam) compiles
# for iOS and Android: `cargo check` of every Rust crate in it for
# aarch64-apple-ios and aarch64-linux-android. Run by .ci/run.
#
# What it cannot check here: there is no Apple SDK or Android NDK on Linux,
# so nothing is linked and no C is built for those platforms with their own
# headers. wasmtime's one C file (src/runtime/vm/helpers.c, which only asks
# whether libunwind is present) is compiled by Debian's clang for the target
# against a folder holding the single definition it takes from <stdlib.h>
# (NULL); an app build on macOS or with the NDK compiles it with the real
# headers. docs/platforms.md says what is and is not tested.
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target add aarch64-apple-ios aarch64-linux-android
command -v clang > /dev/null || {
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends clang
}
headers=target/mobile/headers/usr/include
mkdir -p "$headers"
printf '#include <stddef.h>\n' > "$headers/stdlib.h"
export SDKROOT="$PWD/target/mobile/headers"
export CC_aarch64_apple_ios=clang CC_aarch64_linux_android=clang
export CFLAGS_aarch64_apple_ios="--target=arm64-apple-ios -isystem $PWD/$headers"
export CFLAGS_aarch64_linux_android="--target=aarch64-linux-android --sysroot=$SDKROOT -isystem $PWD/$headers"
export AR_aarch64_apple_ios=llvm-ar AR_aarch64_linux_android=llvm-ar
command -v llvm-ar > /dev/null || export AR_aarch64_apple_ios=ar AR_aarch64_linux_android=ar
# Both targets in one cargo run: it schedules their crates together.
echo "checking the runtime-only plinth-host for aarch64-apple-ios and aarch64-linux-android"
cargo check -p plinth-host --no-default-features --features legacy \
    --target aarch64-apple-ios --target aarch64-linux-android --target-dir target/mobile
echo "mobile check: plinth-host (runtime-only, legacy) compiles for aarch64-apple-ios and aarch64-linux-android"
