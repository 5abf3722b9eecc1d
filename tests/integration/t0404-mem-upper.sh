#!/bin/bash
# Upper dirs in memory: steps write to a tmpfs while the build's budget
# ($CAIRN_TMPFS_LIMIT) lasts, later steps use those trees as lower dirs, a step
# that does not fit runs again on disk, and nothing is left mounted or behind.
. "$(dirname "$0")/lib.sh"

ctx="$TMP/app"
make_busybox_context "$ctx"
head -c 100000000 /dev/zero >"$ctx/big"
{
	busybox_base
	cat <<'EOF2'
RUN echo one >/one && mkdir /d && echo two >/d/two
RUN rm /d/two && cat /one
EOF2
} >"$ctx/Recipe"

test_expect_success ROOT,UMOCI 'later steps see what earlier in-memory steps wrote and removed' '
	cairn build --compression gzip -t mem "$ctx" >"$TMP/out" 2>&1 &&
	grep -q "^one$" "$TMP/out" &&
	mkdir "$TMP/img" &&
	umoci unpack --image "$CAIRN_ROOT:mem:latest" "$TMP/img" >/dev/null &&
	test "$(cat "$TMP/img/rootfs/one")" = one &&
	test -d "$TMP/img/rootfs/d" && ! test -e "$TMP/img/rootfs/d/two"
'

test_expect_success ROOT 'in-memory trees are not kept as layer dirs; nothing stays mounted' '
	test -z "$(ls "$CAIRN_ROOT/cairn/layers")" &&
	test -z "$(ls "$CAIRN_ROOT/cairn/tmp")" &&
	! grep -q "$CAIRN_ROOT" /proc/self/mountinfo
'

test_expect_success ROOT 'a later build unpacks such a layer from its blob' '
	mkdir -p "$TMP/next" &&
	printf "FROM mem\nRUN cat /one /d/two 2>&1; test -e /bin/busybox\n" >"$TMP/next/Recipe" &&
	cairn build -t next "$TMP/next" >"$TMP/out" 2>&1 &&
	grep -q "^one$" "$TMP/out" &&
	test -n "$(ls "$CAIRN_ROOT/cairn/layers")"
'

test_expect_success ROOT 'CAIRN_TMPFS_LIMIT=0 keeps every upper dir on disk' '
	CAIRN_TMPFS_LIMIT=0 cairn --root "$TMP/disk" build -t mem "$ctx" >/dev/null 2>&1 &&
	test "$(ls -d "$TMP/disk/cairn/layers"/*/ | wc -l)" -ge 3
'

printf 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "dd", "if=/dev/zero", "of=/fill", "bs=1M", "count=100"]\n' >"$ctx/Recipe.fill"
test_expect_success ROOT,UMOCI 'a RUN that fills its in-memory upper dir runs again on disk' '
	CAIRN_TMPFS_LIMIT=83886080 cairn --root "$TMP/small" build --compression gzip -f "$ctx/Recipe.fill" -t fill "$ctx" >"$TMP/out" 2>&1 &&
	grep -q "running again on disk" "$TMP/out" &&
	mkdir "$TMP/fill" &&
	umoci unpack --image "$TMP/small:fill:latest" "$TMP/fill" >/dev/null &&
	test "$(stat -c %s "$TMP/fill/rootfs/fill")" = 104857600
'

printf 'FROM scratch\nCOPY big /big\n' >"$ctx/Recipe.copy"
test_expect_success ROOT,UMOCI 'a COPY larger than the in-memory budget is made on disk' '
	CAIRN_TMPFS_LIMIT=83886080 cairn --root "$TMP/small2" build --compression gzip -f "$ctx/Recipe.copy" -t big "$ctx" >"$TMP/out" 2>&1 &&
	mkdir "$TMP/bigimg" &&
	umoci unpack --image "$TMP/small2:big:latest" "$TMP/bigimg" >/dev/null &&
	cmp "$TMP/bigimg/rootfs/big" "$ctx/big"
'

test_done
