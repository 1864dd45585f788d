# tools/deps.sh - sourced by tools/demo, tools/test and .ci/run.
# axon_ensure_packages PKG...: install the Debian packages that are missing,
# with apt-get as root or through passwordless sudo; otherwise print the
# exact install line and fail.

axon_missing_packages() {
    local p missing=()
    for p in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
            grep -q "install ok installed"; then
            missing+=("$p")
        fi
    done
    echo "${missing[@]}"
}

axon_ensure_packages() {
    local missing sudo=""
    missing=$(axon_missing_packages "$@")
    [ -z "$missing" ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            sudo="sudo"
        else
            echo "axon: missing packages. Install them with:" >&2
            echo "  sudo apt-get install -y $missing" >&2
            return 1
        fi
    fi
    echo "axon: installing $missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq >&2 || return 1
    # shellcheck disable=SC2086
    $sudo apt-get install -y -qq --no-install-recommends $missing >&2
}

# What building and testing axon needs.
AXON_BUILD_PACKAGES="build-essential cmake pkg-config libev-dev libmsgpack-dev"
AXON_TEST_PACKAGES="libcmocka-dev python3 python3-msgpack"
