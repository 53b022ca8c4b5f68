#!/usr/bin/env bash
# Tally's developer entry point: the README's "run it" and "test it" commands.
#
#   bash scripts/dev.sh run     build Tally and run `tally start` (a single-node cluster on
#                               127.0.0.1:7100, data in ./tally-data); extra arguments go to it
#   bash scripts/dev.sh test    build and run the whole test suite
#   bash scripts/dev.sh clippy  lint every crate and target (warnings are errors)
#   bash scripts/dev.sh build   build the release binaries (tally, apply, ...) and nothing else
#
# It installs what a fresh machine lacks (libclang, for RocksDB's bindings; for `test`, also
# promtool and prometheus, which the metrics tests run) and keeps build
# output in a persistent CARGO_TARGET_DIR outside the clone when none is set, because RocksDB's
# C++ takes ~17 minutes to compile on two cores and should compile once per machine. Everything
# (tests, benchmarks, the binary) uses the release profile so that RocksDB compiles only once.
set -euo pipefail
cd "$(dirname "$0")/.."

# bindgen loads libclang.so or libclang-N.so (the C API). libclang-cpp.so, which some other
# packages bring in, is the C++ library and does not count.
have_libclang() {
    local d f
    for d in ${LIBCLANG_PATH:+"$LIBCLANG_PATH"} /usr/lib/llvm-*/lib /usr/lib/*-linux-gnu /usr/lib64; do
        for f in "$d"/libclang.so* "$d"/libclang-[0-9]*.so*; do
            [ -e "$f" ] && return 0
        done
    done
    return 1
}

ensure_libclang() {
    have_libclang && return 0
    echo "dev.sh: libclang not found; installing libclang-dev and clang (RocksDB bindings need it)" >&2
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq libclang-dev clang >/dev/null
    have_libclang || { echo "dev.sh: libclang still missing after install" >&2; exit 1; }
}

# The metrics tests (server/tests/process_metrics.rs) check the exposition and the alert rules
# with promtool and have a real Prometheus scrape a cluster; both come from Debian's
# `prometheus` package. The package also brings a system service, which the tests do not use:
# it is stopped and disabled when this script installed it.
ensure_prometheus() {
    command -v promtool >/dev/null && command -v prometheus >/dev/null && return 0
    echo "dev.sh: promtool/prometheus not found; installing Debian's prometheus package" >&2
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
        prometheus >/dev/null
    if command -v systemctl >/dev/null; then
        $sudo systemctl disable --now prometheus >/dev/null 2>&1 || true
    fi
    command -v promtool >/dev/null && command -v prometheus >/dev/null ||
        { echo "dev.sh: promtool/prometheus still missing after install" >&2; exit 1; }
}

ensure_target_dir() {
    if [ -z "${CARGO_TARGET_DIR:-}" ]; then
        local dir="${HOME:-/tmp}/.cache/tally-target"
        if mkdir -p "$dir" 2>/dev/null; then
            export CARGO_TARGET_DIR="$dir"
            prune_target_dir "$dir"
        fi
    fi
    echo "dev.sh: CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}" >&2
}

# A persistent target dir only grows: every rebuild of a test or binary leaves a new ~450 MB
# executable in deps/ beside the old ones (one machine reached 66 GB and filled its disk), and
# incremental/ keeps the state of every crate version ever built. Delete executables built
# more than two hours before the newest of the same name (tests of different crates may share
# a name, and are built together), and drop incremental/ past 8 GB (the next build of the workspace's own crates
# is then a few minutes slower; RocksDB is not rebuilt).
prune_target_dir() {
    local release="$1/release"
    [ -d "$release/deps" ] || return 0
    find "$release/deps" -maxdepth 1 -type f -perm -u+x -regextype posix-extended \
        -regex '.*/[^./]+-[0-9a-f]{16}' -printf '%T@ %p\n' | sort -rn |
        awk '{ name = $2; sub(/-[0-9a-f]+$/, "", name)
               if (!(name in newest)) newest[name] = $1
               else if (newest[name] - $1 > 7200) print $2 }' |
        xargs -r rm -f
    if [ -d "$release/incremental" ] &&
        [ "$(du -sk "$release/incremental" | cut -f1)" -gt $((8 * 1024 * 1024)) ]; then
        rm -rf "$release/incremental"
    fi
    # A build of the whole suite writes ~25 GB of new executables and incremental state. With
    # less than 30 GB free, drop every executable and incremental/ (all are rebuilt from the
    # kept libraries, RocksDB included) rather than fail the build on a full disk.
    local free_kb
    free_kb="$(df -Pk "$1" | awk 'NR == 2 { print $4 }')"
    if [ -n "$free_kb" ] && [ "$free_kb" -lt $((30 * 1024 * 1024)) ]; then
        echo "dev.sh: $((free_kb / 1024 / 1024)) GB free; deleting built executables in $1" >&2
        find "$release/deps" -maxdepth 1 -type f -perm -u+x -regextype posix-extended \
            -regex '.*/[^./]+-[0-9a-f]{16}' -delete
        rm -rf "$release/incremental"
    fi
}

cmd="${1:-}"
[ $# -gt 0 ] && shift
case "$cmd" in
    run)
        ensure_libclang
        ensure_target_dir
        # Build the whole workspace (not `-p tally-server`): the same feature set as the tests,
        # so RocksDB is not compiled a second time.
        cargo build --release --workspace
        exec "${CARGO_TARGET_DIR:-target}/release/tally" start "$@"
        ;;
    test)
        ensure_libclang
        ensure_prometheus
        ensure_target_dir
        exec cargo test --release --workspace "$@"
        ;;
    build)
        ensure_libclang
        ensure_target_dir
        exec cargo build --release --workspace "$@"
        ;;
    clippy)
        ensure_libclang
        ensure_target_dir
        exec cargo clippy --release --workspace --all-targets "$@" -- -D warnings
        ;;
    *)
        echo "usage: bash scripts/dev.sh run|test|clippy|build [args...]" >&2
        exit 2
        ;;
esac
