#!/usr/bin/env bash
# moved.sh BUILD_DIR WORK_DIR CC SANITIZE - install axon from BUILD_DIR into
# WORK_DIR/staged, move that directory to WORK_DIR/moved, and build and run
# consumers from the moved prefix only: with CMake's find_package and with
# pkg-config. The package must name no path of the build machine (libev
# and msgpack-c are found by the consumer) and no path of where it was
# installed.
set -euo pipefail
build=$1 work=$2 cc=$3 sanitize=${4:-}
here=$(cd "$(dirname "$0")" && pwd)
flags=()
if [ -n "$sanitize" ]; then
    flags=(-fsanitize="$sanitize" -fno-omit-frame-pointer)
fi
fail() {
    echo "moved: $*" >&2
    exit 1
}
rm -rf "$work"
mkdir -p "$work"
cmake --install "$build" --prefix "$work/staged" >/dev/null
mv "$work/staged" "$work/moved"
prefix=$work/moved

# 1. The installed files: no absolute path of a dependency or of the build.
targets=$(find "$prefix" -name 'axonTargets*.cmake')
[ -n "$targets" ] || fail "no axonTargets*.cmake installed"
# shellcheck disable=SC2086
if grep -nE '/[^ ";]*lib(ev|msgpackc?)[^ ";/]*\.(so|a)' $targets; then
    fail "axonTargets*.cmake names libev or msgpack-c by absolute path"
fi
# shellcheck disable=SC2086
if grep -nF -e "$build" -e "$work/staged" $targets; then
    fail "axonTargets*.cmake names the build tree or the staged prefix"
fi
pc=$(find "$prefix" -name axon.pc)
[ -n "$pc" ] || fail "no axon.pc installed"
# Only the prefix line climbs from the .pc's directory; every other path
# is ${prefix} or ${exec_prefix} and a clean relative path. (The ${...}
# below are pkg-config's, not the shell's.)
# shellcheck disable=SC2016
{
    if grep -v '^#' "$pc" | grep -v '^prefix=${pcfiledir}/\(\.\./\)*\.\.$' |
        grep -n '\.\.'; then
        fail "axon.pc has '..' outside its prefix line"
    fi
    grep -q '^prefix=${pcfiledir}/' "$pc" ||
        fail 'axon.pc: prefix is not relative to ${pcfiledir}'
    grep -q '^libdir=${exec_prefix}/' "$pc" ||
        fail 'axon.pc: libdir is not under ${exec_prefix}'
    grep -q '^includedir=${prefix}/include$' "$pc" ||
        fail 'axon.pc: includedir is not ${prefix}/include'
}
if grep -nF "$work/staged" "$pc"; then
    fail "axon.pc names the staged prefix"
fi

# 2. CMake package, from the moved prefix.
cmake -S "$here/project" -B "$work/cmake" -DCMAKE_C_COMPILER="$cc" \
    -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_FLAGS="${flags[*]}" \
    -DEXAMPLES_DIR="$here/../../examples" >/dev/null
grep -q "^axon_DIR:PATH=$prefix/" "$work/cmake/CMakeCache.txt" ||
    fail "find_package(axon) did not find the moved prefix"
cmake --build "$work/cmake" >/dev/null
"$work/cmake/consumer"
"$work/cmake/02_ping_pong" >/dev/null

# 3. pkg-config, from the moved prefix: as written, and with the prefix
# pkg-config defines from where the .pc lies (clean paths, no '..').
PKG_CONFIG_PATH="$prefix/lib/pkgconfig:$prefix/lib/x86_64-linux-gnu/pkgconfig"
export PKG_CONFIG_PATH
for mode in --dont-define-prefix --define-prefix; do
    read -ra pcflags <<<"$(pkg-config "$mode" --cflags --libs axon)"
    for f in "${pcflags[@]}"; do
        case $f in
        -I/usr/* | -L/usr/*) ;; # msgpack-c, from the system
        -I* | -L*)
            case $f in
            -?"$prefix"/*) ;;
            *) fail "pkg-config $mode: $f is not in the moved prefix" ;;
            esac
            ;;
        esac
    done
    "$cc" -std=c11 "${flags[@]}" -o "$work/consumer-pc" \
        "$here/project/consumer.c" "${pcflags[@]}"
    "$work/consumer-pc" >/dev/null
done
if pkg-config --define-prefix --cflags --libs axon | grep -F '..'; then
    fail "pkg-config --define-prefix prints '..'"
fi
echo "moved: the package works from a moved prefix (CMake and pkg-config)"
