#!/bin/sh
# check-format.sh SRCDIR - every C source and header follows .clang-format.
set -eu
cd "$1"
files=$(find include src tests examples bench apps plugins -name '*.[ch]' 2>/dev/null | sort)
clang-format --dry-run --Werror $files
echo "$(echo "$files" | wc -l) files formatted"
