#!/bin/sh
# check-install.sh BUILD_DIR WORK_DIR CONSUMER_SRC - install weft into a
# scratch prefix, then build a small consumer twice: with CMake's
# find_package(weft) and with pkg-config. Both must build and run.
set -eu
build=$1 work=$2 consumer=$3
rm -rf "$work"
mkdir -p "$work"
cmake --install "$build" --prefix "$work/prefix" >/dev/null

cmake -S "$consumer" -B "$work/cmake-consumer" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/cmake-consumer" >/dev/null
LD_LIBRARY_PATH="$work/prefix/lib" "$work/cmake-consumer/consumer"

libdir=$(ls -d "$work"/prefix/lib*/pkgconfig | head -1)
export PKG_CONFIG_PATH="$libdir"
cc -o "$work/pc-consumer" "$consumer/consumer.c" $(pkg-config --cflags --libs weft)
LD_LIBRARY_PATH="$(dirname "$libdir")" "$work/pc-consumer"
echo "find_package and pkg-config consumers built and ran"
