#!/bin/sh
# Every C file of the project is as clang-format (with the root's .clang-format)
# writes it. To fix: clang-format -i FILE... (or: git clang-format for a change).
set -u
cd "$1" || exit 1
clang_format=$2
files=$(git ls-files '*.c' '*.h' 2>/dev/null || find parser src tests -name '*.[ch]')
# shellcheck disable=SC2086
if "$clang_format" --dry-run --Werror $files >/dev/null 2>&1; then
	echo "ok 1 - $(echo "$files" | wc -l) C files are formatted"
	echo "1..1"
	exit 0
fi
echo "not ok 1 - these C files are not formatted (fix: $clang_format -i FILE):"
for f in $files; do
	"$clang_format" --dry-run --Werror "$f" >/dev/null 2>&1 || echo "#   $f"
done
echo "1..1"
exit 1
