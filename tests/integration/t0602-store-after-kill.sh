#!/bin/bash
# A build killed (SIGKILL) in the middle of a COPY, its upper dir on disk or in
# memory, leaves the store as it was: every tag readable, no mount and no temp dir
# behind once the next cairn has opened the store, and the same build then works.
. "$(dirname "$0")/lib.sh"
unset SOURCE_DATE_EPOCH

if test_have_prereq ROOT; then
	build_base base ''
fi

# kill_during_copy NAME: starts a build of $TMP/NAME with its upper dirs on disk,
# SIGKILLs it once its step dir has data in it.
kill_during_copy() {
	CAIRN_TMPFS_LIMIT=0 "$CAIRN" build -t "$1" "$TMP/$1" >"$TMP/$1.out" 2>&1 &
	_pid=$!
	for _i in $(seq 1 200); do
		if [ -n "$(find "$CAIRN_ROOT/cairn/tmp" -path "*/upper/big" -size +1M 2>/dev/null)" ]; then
			break
		fi
		sleep 0.05
	done
	kill -9 "$_pid"
	wait "$_pid" 2>/dev/null || true
}

# kill_during_mem_copy NAME: the same with the upper dir in memory (a tmpfs in
# cairn's own mount namespace, so not visible here): killed soon after its
# mount point appears.
kill_during_mem_copy() {
	"$CAIRN" build -t "$1" "$TMP/$1" >"$TMP/$1.out" 2>&1 &
	_pid=$!
	for _i in $(seq 1 200); do
		if [ -n "$(find "$CAIRN_ROOT/cairn/tmp" -name "mem-*" 2>/dev/null)" ]; then
			break
		fi
		sleep 0.01
	done
	kill -9 "$_pid"
	wait "$_pid" 2>/dev/null || true
}

test_expect_success ROOT,SKOPEO 'a build SIGKILLed during COPY leaves every tag readable and no mount behind' '
	c=$(new_ctx killed) &&
	head -c 400M /dev/zero >"$c/big" &&
	printf "FROM base\nCOPY big /big\n" >"$c/Recipe" &&
	kill_during_copy killed &&
	! findmnt -rn -o TARGET | grep -qF "$CAIRN_ROOT" &&
	! cairn inspect killed >/dev/null 2>&1 &&
	for t in $(jq -r ".manifests[].annotations[\"org.opencontainers.image.ref.name\"] // empty" "$CAIRN_ROOT/index.json"); do
		skopeo inspect "oci:$CAIRN_ROOT:$t" >/dev/null || { echo "tag $t unreadable"; exit 1; }
	done &&
	cairn build -q -t killed "$c" >/dev/null &&
	skopeo inspect "oci:$CAIRN_ROOT:killed:latest" >/dev/null
'

# A SIGKILLed build cannot clean up; its temp dir (its own cairn/tmp/proc-*, whose
# lock died with it) is reclaimed by the next cairn that opens the store.
test_expect_success ROOT 'the temp dirs of a SIGKILLed build are reclaimed by a later cairn' '
	c=$(new_ctx killed2) &&
	head -c 100M /dev/zero >"$c/big" &&
	printf "FROM base\nCOPY big /big\n" >"$c/Recipe" &&
	kill_during_copy killed2 &&
	test -n "$(find "$CAIRN_ROOT/cairn/tmp" -mindepth 1 -maxdepth 1)" &&
	cairn images >/dev/null &&
	expect_eq "$(find "$CAIRN_ROOT/cairn/tmp" -mindepth 1 -maxdepth 1)" ""
'

test_expect_success ROOT,SKOPEO 'a build SIGKILLed during an in-memory COPY leaves no mount or temp dir' '
	c=$(new_ctx killed3) &&
	{ head -c 400M /dev/zero && echo killed3; } >"$c/big" &&
	printf "FROM base\nCOPY big /big\n" >"$c/Recipe" &&
	kill_during_mem_copy killed3 &&
	! grep -q "^killed3" "$TMP/killed3.out" &&
	! findmnt -rn -o TARGET | grep -qF "$CAIRN_ROOT" &&
	! cairn inspect killed3 >/dev/null 2>&1 &&
	cairn images >/dev/null &&
	expect_eq "$(find "$CAIRN_ROOT/cairn/tmp" -mindepth 1 -maxdepth 1)" "" &&
	cairn build -q -t killed3 "$c" >/dev/null &&
	skopeo inspect "oci:$CAIRN_ROOT:killed3:latest" >/dev/null
'

test_done
