#!/bin/sh
# deps.sh GROUP... - make sure the Debian packages a make target needs are
# installed. As root, installs the missing ones (apt-get update only when
# something is missing); otherwise names them and fails.
#
# Groups: build (the library and the weft binary), test (make check),
# asan/tsan (sanitizer suites), bench (peers and tools for make bench),
# fuzz (clang and libFuzzer).
set -eu

pkgs_build="cmake make gcc g++ pkg-config libuv1-dev node-llhttp"
pkgs_test="libcmocka-dev curl python3 clang-format nghttp2-client slowhttptest wrk haproxy chromium"
pkgs_sanitize="libasan8 libubsan1 libtsan2"
pkgs_bench="libglib2.0-dev valgrind python3 nginx-light h2o wrk gnuplot-nox"
pkgs_fuzz="clang libclang-rt-14-dev"

wanted=""
for group in "$@"; do
    case "$group" in
    build) wanted="$wanted $pkgs_build" ;;
    test) wanted="$wanted $pkgs_build $pkgs_test $pkgs_sanitize" ;;
    asan | tsan) wanted="$wanted $pkgs_build $pkgs_test $pkgs_sanitize" ;;
    bench) wanted="$wanted $pkgs_build $pkgs_bench" ;;
    fuzz) wanted="$wanted $pkgs_build $pkgs_test $pkgs_fuzz" ;;
    *) echo "deps.sh: unknown group '$group'" >&2; exit 2 ;;
    esac
done

missing=""
for p in $wanted; do
    case " $missing " in *" $p "*) continue ;; esac
    status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [ "$status" = installed ] || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "weft: missing Debian packages:$missing" >&2
    echo "weft: install them with: sudo apt-get install$missing" >&2
    exit 1
fi
echo "weft: installing missing Debian packages:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >&2
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing >&2
