#!/bin/bash
# The context stat cache (cairn/contexts/): a rebuild trusts it only for files
# whose stat is unchanged and old enough; a change (even in the same second, even
# with the mtime set back) is seen; a damaged or planted cache file is ignored and
# replaced, never followed or trusted.
. "$(dirname "$0")/lib.sh"

ctx="$TMP/app"
make_busybox_context "$ctx"
mkdir -p "$ctx/tree/sub"
printf 'alpha\n' >"$ctx/tree/a"
printf 'bravo\n' >"$ctx/tree/sub/b"
printf 'kilo\n' >"$ctx/single"
touch -d '1 hour ago' "$ctx/busybox" "$ctx/tree/a" "$ctx/tree/sub/b" "$ctx/single"
for i in $(seq 1 40); do
	mkdir -p "$TMP/c$i" && printf "FROM scratch\nCOPY f /f\n" >"$TMP/c$i/Recipe" &&
		printf "$i\n" >"$TMP/c$i/f"
done
# only files whose ctime (which touch cannot set back) is a few seconds old are
# remembered
sleep 3
{
	busybox_base
	cat <<'EOF2'
COPY tree /tree
COPY single /single
RUN cat /tree/a /tree/sub/b /single
EOF2
} >"$ctx/Recipe"

# build: cairn build of $ctx; progress (with the RUN's output) in $TMP/out
build() {
	cairn build -t app "$ctx" >"$TMP/digest" 2>"$TMP/out" || {
		cat "$TMP/out"
		return 1
	}
}
cache_files() { find "$CAIRN_ROOT/cairn/contexts" -type f | wc -l; }

test_expect_success ROOT 'a build leaves one stat cache for its context' '
	build &&
	grep -q "^alpha$" "$TMP/out" &&
	test "$(cache_files)" = 1
'

test_expect_success ROOT 'a rebuild with nothing changed is cached throughout' '
	cp "$TMP/digest" "$TMP/digest.1" &&
	build &&
	cmp "$TMP/digest" "$TMP/digest.1" &&
	! grep -q "^alpha$" "$TMP/out"
'

test_expect_success ROOT 'a change of the same size with the mtime set back is seen' '
	touch -r "$ctx/tree/a" "$TMP/stamp" &&
	printf "ALPHA\n" >"$ctx/tree/a" &&
	touch -r "$TMP/stamp" "$ctx/tree/a" &&
	build &&
	grep -q "^ALPHA$" "$TMP/out"
'

test_expect_success ROOT 'a single-file source changed with the mtime set back is seen' '
	touch -r "$ctx/single" "$TMP/stamp" &&
	printf "KILO\n" >"$ctx/single" &&
	touch -r "$TMP/stamp" "$ctx/single" &&
	build &&
	grep -q "^KILO$" "$TMP/out"
'

test_expect_success ROOT 'changes in the same second as the build are seen (racy git)' '
	printf "one\n" >"$ctx/tree/sub/b" &&
	build && grep -q "^one$" "$TMP/out" &&
	printf "two\n" >"$ctx/tree/sub/b" &&
	build && grep -q "^two$" "$TMP/out" &&
	printf "thr\n" >"$ctx/tree/sub/b" &&
	build && grep -q "^thr$" "$TMP/out"
'

test_expect_success ROOT 'a file replaced by another with the same stat times is seen' '
	printf "other\n" >"$TMP/b.new" &&
	touch -r "$ctx/tree/sub/b" "$TMP/b.new" &&
	mv "$TMP/b.new" "$ctx/tree/sub/b" &&
	build &&
	grep -q "^other$" "$TMP/out"
'

for damage in empty truncated garbage flipped; do
	test_expect_success ROOT "a $damage cache file is ignored and replaced" '
		f=$(find "$CAIRN_ROOT/cairn/contexts" -type f) &&
		case '"$damage"' in
		empty) : >"$f" ;;
		truncated) truncate -s 100 "$f" ;;
		garbage) head -c 5000 /dev/urandom >"$f" ;;
		flipped) printf "\377" | dd of="$f" bs=1 seek=40 conv=notrunc 2>/dev/null ;;
		esac &&
		cp "$f" "$TMP/damaged" &&
		printf "'"$damage"'\n" >"$ctx/tree/a" &&
		touch -d "1 hour ago" "$ctx/tree/a" &&
		build &&
		grep -q "^'"$damage"'$" "$TMP/out" &&
		! cmp -s "$f" "$TMP/damaged"
	'
done

test_expect_success ROOT 'a symlink planted as the cache file is not followed' '
	f=$(find "$CAIRN_ROOT/cairn/contexts" -type f) &&
	printf "precious\n" >"$TMP/outside" &&
	ln -sf "$TMP/outside" "$f" &&
	printf "echo\n" >"$ctx/tree/a" &&
	build &&
	grep -q "^echo$" "$TMP/out" &&
	test "$(cat "$TMP/outside")" = precious &&
	test -f "$f" && ! test -L "$f"
'

test_expect_success 'the number of stat caches in a store is bounded' '
	for i in $(seq 1 40); do
		cairn build -q -t c "$TMP/c$i" >/dev/null || return 1
	done &&
	test "$(cache_files)" -le 32
'

test_done
