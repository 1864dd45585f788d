#!/usr/bin/env bash
# cxx.sh BUILD_DIR WORK_DIR CXX SANITIZE - install axon from BUILD_DIR into
# WORK_DIR/prefix; compile every installed public header alone as C++17,
# then build cxx/consumer.cpp (spawn, call, answer) with
# CXX -std=c++17 -Wall -Wextra -Wpedantic -Werror against the installed
# package, with pkg-config and with find_package(axon) in a C++-only
# project, and run both.
set -euo pipefail
build=$1 work=$2 cxx=$3 sanitize=${4:-}
here=$(cd "$(dirname "$0")" && pwd)
flags=()
if [ -n "$sanitize" ]; then
    flags=(-fsanitize="$sanitize" -fno-omit-frame-pointer)
fi
strict=(-std=c++17 -Wall -Wextra -Wpedantic -Werror)
rm -rf "$work"
mkdir -p "$work"
prefix=$work/prefix
cmake --install "$build" --prefix "$prefix" >/dev/null
PKG_CONFIG_PATH="$prefix/lib/pkgconfig:$prefix/lib/x86_64-linux-gnu/pkgconfig"
export PKG_CONFIG_PATH
read -ra cflags <<<"$(pkg-config --cflags axon)"
read -ra libs <<<"$(pkg-config --libs axon)"

# 1. Each header on its own: every one must stand alone in C++ too.
headers=(axon.h)
for h in "$prefix"/include/axon/*.h; do
    headers+=("axon/$(basename "$h")")
done
for h in "${headers[@]}"; do
    printf '#include <%s>\nint main() { return 0; }\n' "$h" >"$work/one.cpp"
    if ! "$cxx" "${strict[@]}" "${cflags[@]}" -fsyntax-only \
        "$work/one.cpp"; then
        echo "cxx: <$h> does not compile as C++17" >&2
        exit 1
    fi
done

# 2. A C++17 program that runs actors, built with pkg-config.
"$cxx" "${strict[@]}" "${flags[@]}" -o "$work/consumer-cxx" \
    "$here/cxx/consumer.cpp" "${cflags[@]}" "${libs[@]}"
"$work/consumer-cxx"

# 3. The same program from a C++-only CMake project.
cmake -S "$here/cxx" -B "$work/cmake" -DCMAKE_CXX_COMPILER="$cxx" \
    -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_CXX_FLAGS="${flags[*]}" >/dev/null
cmake --build "$work/cmake" >/dev/null
"$work/cmake/consumer-cxx" >/dev/null
echo "cxx: ${#headers[@]} headers and an actor program build as C++17"
