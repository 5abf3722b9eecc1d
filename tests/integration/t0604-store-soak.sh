#!/bin/bash
# The store under load (issue 15): builds side by side with gc and prune, builds,
# pulls, pushes and collections SIGKILLed at random moments, and a disk that
# fills up. Through all of it every tag stays readable, every blob hashes to its
# name, cairn fsck finds nothing wrong, and the next build or pull works.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/registry.sh"
unset SOURCE_DATE_EPOCH

# The small tmpfs of the full-disk tests, unmounted however the script ends.
full="$TMP/full"
full_umount() {
	if mountpoint -q "$full" 2>/dev/null; then
		umount "$full" || umount -l "$full"
	fi
}
trap 'full_umount; stop_servers; _cleanup' EXIT

if test_have_prereq ROOT; then
	build_base base ''
fi
if test_have_prereq ROOT,REGISTRY; then
	start_registry reg
	reg="127.0.0.1:$port"
fi

# every_tag_readable: cairn inspect and skopeo read each tag of index.json.
every_tag_readable() {
	_tags=$(jq -r '.manifests[].annotations["org.opencontainers.image.ref.name"] // empty' \
		"$CAIRN_ROOT/index.json") || return 1
	for _t in $_tags; do
		cairn inspect "$_t" >/dev/null || { echo "cairn inspect $_t fails"; return 1; }
		skopeo inspect "oci:$CAIRN_ROOT:$_t" >/dev/null || { echo "skopeo cannot read $_t"; return 1; }
	done
}

# blobs_match_names: every file of blobs/sha256 hashes to its name.
blobs_match_names() {
	for _f in "$CAIRN_ROOT"/blobs/sha256/*; do
		test -e "$_f" || continue
		_sum=$(sha256sum <"$_f" | cut -d" " -f1)
		if [ "$_sum" != "${_f##*/}" ]; then
			echo "blobs/sha256/${_f##*/} hashes to $_sum"
			return 1
		fi
	done
}

# fsck_clean: cairn fsck exits 0 and its last line says clean.
fsck_clean() {
	cairn fsck >"$TMP/fsck.out" 2>&1
	_rc=$?
	if [ "$_rc" != 0 ] || ! tail -n 1 "$TMP/fsck.out" | grep -q "clean\$"; then
		echo "cairn fsck exited $_rc:"
		cat "$TMP/fsck.out"
		return 1
	fi
}

# ---- 1. builds while gc and prune run ----

# collector_start: cairn gc -q and cairn prune -a -q, one after the other, until
# collector_stop; each failure of either is written to $TMP/collector.fail.
collector_start() {
	rm -f "$TMP/collector.stop"
	: >"$TMP/collector.fail"
	(
		n=0
		while ! test -e "$TMP/collector.stop"; do
			"$CAIRN" gc -q >/dev/null 2>"$TMP/collector.err" ||
				{ echo "cairn gc -q: exit $?" && cat "$TMP/collector.err"; } >>"$TMP/collector.fail"
			"$CAIRN" prune -a -q >/dev/null 2>"$TMP/collector.err" ||
				{ echo "cairn prune -a -q: exit $?" && cat "$TMP/collector.err"; } >>"$TMP/collector.fail"
			n=$((n + 1))
		done
		echo "$n" >"$TMP/collector.runs"
	) &
	collector=$!
}
collector_stop() {
	touch "$TMP/collector.stop"
	wait "$collector"
}

# soak_ctx N: the context $TMP/soakN: a file every round shares (its COPY is the
# same step each round, so its cache record and blob are what prune and gc take
# while the next build wants them) and a RUN of its own.
soak_ctx() {
	mkdir -p "$TMP/soak$1" &&
		cp "$TMP/shared" "$TMP/soak$1/shared" &&
		printf 'FROM base\nCOPY shared /shared\nRUN echo "round %s" >/round && cat /shared >/dev/null\n' "$1" \
			>"$TMP/soak$1/Recipe"
}

# soak ROUNDS: in each round, a new image soak:N is built while gc and prune run;
# the tag of round N-2 is removed when N-2 is even, and every third round the
# context of a removed tag is built again at once (as again:N-2); odd tags stay.
soak() {
	head -c 262144 /dev/urandom >"$TMP/shared"
	collector_start
	_bad=0
	for _i in $(seq 1 "$1"); do
		soak_ctx "$_i" || { _bad=1; break; }
		"$CAIRN" build -q -t "soak:$_i" "$TMP/soak$_i" >"$TMP/soak$_i.out" 2>&1 &
		_b=$!
		_again=
		_o=$((_i - 2))
		if [ "$_o" -ge 2 ] && [ $((_o % 2)) = 0 ]; then
			cairn rmi "soak:$_o" >/dev/null || { echo "round $_i: cairn rmi soak:$_o failed"; _bad=1; }
			if [ $((_i % 3)) = 0 ]; then
				"$CAIRN" build -q -t "again:$_o" "$TMP/soak$_o" >"$TMP/again$_o.out" 2>&1 &
				_again=$!
			fi
		fi
		if ! wait "$_b"; then
			echo "round $_i: the build of soak:$_i failed:"
			cat "$TMP/soak$_i.out"
			_bad=1
		fi
		if [ -n "$_again" ] && ! wait "$_again"; then
			echo "round $_i: the build of again:$_o failed:"
			cat "$TMP/again$_o.out"
			_bad=1
		fi
		[ "$_bad" = 0 ] || break
	done
	collector_stop
	if [ -s "$TMP/collector.fail" ]; then
		echo "gc or prune failed beside the builds:"
		cat "$TMP/collector.fail"
		_bad=1
	fi
	echo "# gc and prune ran $(cat "$TMP/collector.runs" 2>/dev/null) times each"
	return "$_bad"
}

test_expect_success ROOT,SKOPEO 'thirty builds beside a loop of gc and prune -a all succeed, and keep what they made' '
	soak 30 &&
	for i in $(seq 1 30); do
		if [ $i -ge 2 ] && [ $i -le 28 ] && [ $((i % 2)) = 0 ]; then
			! cairn inspect soak:$i >/dev/null 2>&1 || { echo "soak:$i is still tagged"; exit 1; }
			continue
		fi
		expect_eq "$(out soak:$i /round)" "round $i" || exit 1
		cmp "$TMP/rootfs.out/shared" "$TMP/shared" || exit 1
	done &&
	for i in 4 10 16 22 28; do
		expect_eq "$(out again:$i /round)" "round $i" || exit 1
	done &&
	every_tag_readable &&
	blobs_match_names &&
	fsck_clean &&
	expect_no_leftovers
'

# ---- 2. SIGKILL at random moments ----

# no_process_left: no cairn and no slirp4netns of a killed build is still running.
# Only in the script's own pid namespace (lib.sh), where no one else's show.
no_process_left() {
	[ "${CAIRN_TEST_PIDNS:-}" = 1 ] || return 0
	_bins=" $(readlink -f "$CAIRN") $(command -v slirp4netns 2>/dev/null | xargs -r readlink -f) "
	for _try in $(seq 100); do
		_left=
		for _p in /proc/[0-9]*; do
			_e=$(readlink "$_p/exe" 2>/dev/null) || continue
			case "$_bins" in *" $_e "*) _left="$_left ${_p#/proc/}:$_e" ;; esac
		done
		[ -z "$_left" ] && return 0
		sleep 0.1
	done
	echo "still running after SIGKILL:$_left"
	return 1
}

# now_ms: the time in milliseconds.
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# How long each kind of operation last took to its end, in ms (a first guess until
# redo_op has measured it): kill_op kills at a random moment within that time.
ms_build=300 ms_pull=300 ms_push=300 ms_collect=50

# kill_op I KIND: starts operation KIND (build, pull, push or collect) of
# iteration I in the background and SIGKILLs it after a random delay.
kill_op() {
	case "$2" in
	build)
		head -c 8M /dev/urandom >"$TMP/kbuild/big"
		"$CAIRN" build -q -t kbuild "$TMP/kbuild" >"$TMP/kill.out" 2>&1 &
		;;
	pull)
		"$CAIRN" pull -q "$reg/soak/kpull:1" >"$TMP/kill.out" 2>&1 &
		;;
	push)
		"$CAIRN" push -q kpush "$reg/soak/push$1:1" >"$TMP/kill.out" 2>&1 &
		;;
	collect)
		# garbage for it to take: the image of the last build
		cairn rmi kbuild >/dev/null 2>&1
		"$CAIRN" prune -a -q >"$TMP/kill.out" 2>&1 &
		;;
	esac
	_pid=$!
	eval "_max=\$ms_$2"
	_ms=$((RANDOM % (_max + 1)))
	sleep "$((_ms / 1000)).$(printf %03d $((_ms % 1000)))"
	if kill -9 "$_pid" 2>/dev/null; then
		echo "# $2 $1: SIGKILL after ${_ms}ms (of ${_max}ms)"
		kills=$((kills + 1))
	else
		echo "# $2 $1: over before ${_ms}ms (of ${_max}ms)"
	fi
	wait "$_pid" 2>/dev/null
	return 0
}

# redo_op I KIND: the operation kill_op I KIND started, now to its end; its time
# is kept for the next kill of its kind.
redo_op() {
	_t0=$(now_ms)
	case "$2" in
	build)
		cairn build -q -t kbuild "$TMP/kbuild" >/dev/null || return 1
		ms_build=$(($(now_ms) - _t0))
		expect_eq "$(out kbuild /built)" built
		;;
	pull)
		cairn pull -q "$reg/soak/kpull:1" >"$TMP/pulled" || return 1
		ms_pull=$(($(now_ms) - _t0))
		expect_eq "$(cat "$TMP/pulled")" "$kpull_digest" &&
			# away again, so that the next pull has its blobs to fetch
			cairn rmi "$reg/soak/kpull:1" >/dev/null && cairn gc -q >/dev/null
		;;
	push)
		cairn push -q kpush "$reg/soak/push$1:1" >"$TMP/pushed" || return 1
		ms_push=$(($(now_ms) - _t0))
		expect_eq "$(cat "$TMP/pushed")" "$(cairn inspect kpush | jq -r .Digest)" &&
			expect_eq "$(skopeo inspect --tls-verify=false "docker://$reg/soak/push$1:1" | jq -r .Digest)" \
				"$(cat "$TMP/pushed")"
		;;
	collect)
		cairn prune -a -q >/dev/null || return 1
		ms_collect=$(($(now_ms) - _t0))
		;;
	esac
}

test_expect_success ROOT,REGISTRY 'builds, pulls, pushes and prunes SIGKILLed at random leave fsck clean, and run again' '
	c=$(new_ctx kbuild) &&
	printf "FROM base\nCOPY big /big\nRUN cat /big >/dev/null && echo built >/built\n" >"$c/Recipe" &&
	c=$(new_ctx kpush) &&
	head -c 6M /dev/urandom >"$c/big" &&
	printf "FROM base\nCOPY big /big\n" >"$c/Recipe" &&
	build kpush -q >/dev/null &&
	c=$(new_ctx kpull) &&
	head -c 6M /dev/urandom >"$c/big" &&
	printf "FROM base\nCOPY big /big\n" >"$c/Recipe" &&
	build kpull -q >/dev/null &&
	kpull_digest=$(cairn push -q kpull "$reg/soak/kpull:1") &&
	cairn rmi kpull >/dev/null &&
	cairn prune -a -q >/dev/null &&
	i=0 && kills=0 &&
	for kind in build pull push collect build pull push collect build pull push collect \
		build pull push collect build pull push collect; do
		i=$((i + 1))
		kill_op $i $kind
		no_process_left || exit 1
		fsck_clean || { echo "after $kind $i was killed"; exit 1; }
		redo_op $i $kind || { echo "$kind $i did not work again after its kill"; exit 1; }
	done &&
	echo "# $kills of 20 killed before their end" &&
	every_tag_readable &&
	blobs_match_names &&
	fsck_clean &&
	expect_no_leftovers
'

# ---- 3. a full disk ----

# full_store SIZE: a tmpfs of SIZE at $full (mounted again if it was) whose
# store/ is where $CAIRN_ROOT points after it; base built into it.
full_store() {
	full_umount
	mkdir -p "$full" &&
		mount -t tmpfs -o "size=$1,mode=0755" cairn-full "$full" &&
		CAIRN_ROOT="$full/store" &&
		cairn build -q -t base "$TMP/base" >/dev/null
}

# store_intact TAG...: blobs hash to their names, index.json parses and lists each
# TAG, each tag is readable, fsck is clean, no temp dir or mount of cairn's is left.
store_intact() {
	blobs_match_names || return 1
	_tags=$(jq -r '.manifests[].annotations["org.opencontainers.image.ref.name"] // empty' \
		"$CAIRN_ROOT/index.json") || { echo "index.json does not parse"; return 1; }
	for _t in "$@"; do
		case " $(echo $_tags) " in
		*" $_t "*) ;;
		*) echo "index.json lost $_t: $_tags"; return 1 ;;
		esac
	done
	every_tag_readable && fsck_clean || return 1
	# expect_no_leftovers, but for the tmpfs the store is on
	_left=$(find "$CAIRN_ROOT/cairn/tmp" -mindepth 1 -maxdepth 1)
	[ -z "$_left" ] || { echo "left in cairn/tmp: $_left"; return 1; }
	! grep -F "$CAIRN_ROOT/" /proc/self/mountinfo || { echo "mounts under $CAIRN_ROOT remain"; return 1; }
}

# A 24 MiB store: base (about 3 MiB with its unpacked layers), then fill (12 MiB)
# leaves about 9 MiB. A 30 MiB COPY or RUN fails writing its layer's blob when
# the step's upper dir is in memory, and copying into the upper dir when that is
# on the store's disk; a 12 MiB COPY fails until fill is removed and pruned.
test_expect_success ROOT,SKOPEO 'a build that fills the disk fails naming what it could not write; the store stays whole' '
	full_store 24m &&
	c=$(new_ctx fill) &&
	head -c 12M /dev/urandom >"$c/big" &&
	printf "FROM base\nCOPY big /big\n" >"$c/Recipe" &&
	build fill -q >/dev/null &&
	c=$(new_ctx huge) &&
	head -c 30M /dev/urandom >"$c/big" &&
	printf "FROM base\nCOPY big /big\n" >"$c/Recipe" &&
	test_expect_code 1 env CAIRN_TMPFS_LIMIT=$((256 << 20)) "$CAIRN" build -q -t huge "$c" 2>"$TMP/huge.err" &&
	cat "$TMP/huge.err" &&
	expect_contains "$(cat "$TMP/huge.err")" "writing layer blob: writing a blob to $CAIRN_ROOT/cairn/tmp: No space left on device" &&
	! cairn inspect huge >/dev/null 2>&1 &&
	store_intact base:latest fill:latest &&
	test_expect_code 1 env CAIRN_TMPFS_LIMIT=0 "$CAIRN" build -q -t huge "$c" 2>"$TMP/huge-disk.err" &&
	cat "$TMP/huge-disk.err" &&
	expect_contains "$(cat "$TMP/huge-disk.err")" "copying big to /big: copying big: No space left on device" &&
	! cairn inspect huge >/dev/null 2>&1 &&
	store_intact base:latest fill:latest &&
	recipe huge <<-EOF &&
	FROM base
	RUN head -c 31457280 /dev/urandom >/big
	EOF
	test_expect_code 1 env CAIRN_TMPFS_LIMIT=$((256 << 20)) "$CAIRN" build -q -t huge "$TMP/huge" \
		2>"$TMP/huge-run.err" &&
	cat "$TMP/huge-run.err" &&
	expect_contains "$(cat "$TMP/huge-run.err")" "RUN: writing layer blob: writing a blob to $CAIRN_ROOT/cairn/tmp: No space left on device" &&
	store_intact base:latest fill:latest &&
	rm -rf "$TMP/huge" &&
	c=$(new_ctx after) &&
	head -c 12M /dev/urandom >"$c/big" &&
	printf "FROM base\nCOPY big /after\n" >"$c/Recipe" &&
	test_expect_code 1 cairn build -q -t after "$c" 2>"$TMP/after.err" &&
	expect_contains "$(cat "$TMP/after.err")" "No space left on device" &&
	store_intact base:latest fill:latest &&
	cairn rmi fill >/dev/null &&
	cairn prune -a -q >/dev/null &&
	build after -q >/dev/null &&
	expect_eq "$(out after:latest /after | sha256sum)" "$(sha256sum <"$c/big")" &&
	store_intact base:latest after:latest &&
	full_umount
'

# With no byte left, a command that only tags fails writing index.json, and the
# index.json it leaves is the one before.
test_expect_success ROOT,SKOPEO 'on a disk with no byte left, tag and rmi fail and index.json stays as it was' '
	full_store 8m &&
	cp "$CAIRN_ROOT/index.json" "$TMP/index.before" &&
	{ head -c 16M /dev/zero >"$full/filler" 2>/dev/null || :; } &&
	test_expect_code 1 cairn tag base base:2 2>"$TMP/tag.err" &&
	expect_contains "$(cat "$TMP/tag.err")" "writing index.json: No space left on device" &&
	test_expect_code 1 cairn rmi base 2>"$TMP/rmi.err" &&
	expect_contains "$(cat "$TMP/rmi.err")" "writing index.json: No space left on device" &&
	cmp "$TMP/index.before" "$CAIRN_ROOT/index.json" &&
	store_intact base:latest &&
	rm "$full/filler" &&
	cairn tag base base:2 &&
	store_intact base:latest base:2 &&
	full_umount
'

test_expect_success ROOT,REGISTRY 'a pull bigger than the disk fails naming what it could not write; a smaller one then works' '
	c=$(new_ctx hugepull) &&
	head -c 30M /dev/urandom >"$c/big" &&
	printf "FROM base\nCOPY big /big\n" >"$c/Recipe" &&
	build hugepull -q >/dev/null &&
	cairn push -q hugepull "$reg/soak/hugepull:1" >/dev/null &&
	cairn push -q base "$reg/soak/base:1" >/dev/null &&
	kpush=$(cairn push -q kpush "$reg/soak/kpush:1") &&
	full_store 24m &&
	test_expect_code 1 cairn pull -q "$reg/soak/hugepull:1" 2>"$TMP/pull.err" &&
	cat "$TMP/pull.err" &&
	expect_contains "$(cat "$TMP/pull.err")" "pulling $reg/soak/hugepull:1: " &&
	expect_contains "$(cat "$TMP/pull.err")" "writing a blob to $CAIRN_ROOT/cairn/tmp: No space left on device" &&
	! cairn inspect "$reg/soak/hugepull:1" >/dev/null 2>&1 &&
	store_intact base:latest &&
	expect_eq "$(cairn pull -q "$reg/soak/kpush:1")" "$kpush" &&
	cairn pull -q "$reg/soak/base:1" >/dev/null &&
	store_intact base:latest "$reg/soak/kpush:1" "$reg/soak/base:1" &&
	full_umount
'

test_done
