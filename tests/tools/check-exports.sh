#!/bin/sh
# check-exports.sh LIB - fail if the shared library exports any symbol whose
# name does not start with weft_ (-fvisibility=hidden plus WEFT_API).
set -eu
lib=$1
all=$(nm -D --defined-only "$lib" | awk '{print $3}')
[ -n "$all" ] || { echo "no exported symbols in $lib" >&2; exit 1; }
bad=$(printf '%s\n' "$all" | grep -v '^weft_' || true)
if [ -n "$bad" ]; then
    echo "symbols exported from $lib without the weft_ prefix:" >&2
    printf '  %s\n' $bad >&2
    exit 1
fi
# Internal weft__ helpers stay hidden unless a public macro needs them.
internal=$(printf '%s\n' "$all" | grep '^weft__' | grep -v '^weft__scoped_' || true)
if [ -n "$internal" ]; then
    echo "internal weft__ symbols exported from $lib:" >&2
    printf '  %s\n' $internal >&2
    exit 1
fi
echo "$(printf '%s\n' "$all" | wc -l) symbols, all weft_"
