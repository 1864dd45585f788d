#!/usr/bin/env bash
# run.sh BUILD_DIR WORK_DIR CC SANITIZE - install axon from BUILD_DIR into
# WORK_DIR/prefix, then build and run the consumer (and every example)
# against it, with CMake's find_package and with pkg-config.
set -euo pipefail
build=$1 work=$2 cc=$3 sanitize=${4:-}
here=$(cd "$(dirname "$0")" && pwd)
flags=""
if [ -n "$sanitize" ]; then
    flags="-fsanitize=$sanitize -fno-omit-frame-pointer"
fi
rm -rf "$work"
mkdir -p "$work"
cmake --install "$build" --prefix "$work/prefix" >/dev/null

# 1. CMake package
cmake -S "$here/project" -B "$work/cmake" -DCMAKE_C_COMPILER="$cc" \
    -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_C_FLAGS="$flags" \
    -DEXAMPLES_DIR="$here/../../examples" >/dev/null
cmake --build "$work/cmake" >/dev/null
"$work/cmake/consumer"
"$work/cmake/01_channel" >/dev/null

# 2. pkg-config
export PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig:$work/prefix/lib/x86_64-linux-gnu/pkgconfig"
# shellcheck disable=SC2046,SC2086
"$cc" -std=c11 $flags -o "$work/consumer-pc" "$here/project/consumer.c" \
    $(pkg-config --cflags --libs --static axon)
"$work/consumer-pc"
echo "consumer: installed package works with CMake and pkg-config"
