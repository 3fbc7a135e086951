#!/bin/sh
# check-binary-exports.sh BIN LIB - the weft command exports the API its
# plugins call (weft/plugin.h): every symbol libweft.so exports, a few named
# ones for certain, and nothing else of its own. Copies of libc's data that
# the binary holds (copy relocations: "stdout@GLIBC_2.2.5", a sanitizer's
# "__asan_option_...") are not its own.
set -eu
bin=$1
lib=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
syms() { nm -D --defined-only "$1" | awk '{print $3}' | grep -v -e '@' -e '^__[a-z]*san' | sort; }
syms "$bin" >"$tmp/bin"
syms "$lib" >"$tmp/lib"
for s in weft_app_route weft_response_header weft_app_plugin_state weft_app_before; do
    grep -qx "$s" "$tmp/bin" || { echo "$bin does not export $s" >&2; exit 1; }
done
missing=$(comm -23 "$tmp/lib" "$tmp/bin")
if [ -n "$missing" ]; then
    echo "exported by $lib but not by $bin:" >&2
    printf '  %s\n' $missing >&2
    exit 1
fi
bad=$(grep -v '^weft_' "$tmp/bin" || true)
internal=$(grep '^weft__' "$tmp/bin" | grep -v '^weft__scoped_' || true)
if [ -n "$bad$internal" ]; then
    echo "$bin exports symbols that are not weft's API:" >&2
    printf '  %s\n' $bad $internal >&2
    exit 1
fi
echo "$(wc -l <"$tmp/bin") symbols exported, the whole weft_ API"
