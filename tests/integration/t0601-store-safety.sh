#!/bin/bash
# What the store lets other local users and hostile steps do (issue 9): trees in
# the store keep the modes steps gave them (a setuid shell, a device node anyone
# may open), so no other user may reach them; the builder's own mounts of store
# content are nosuid and nodev; and the store can be read by whoever can only read it.
. "$(dirname "$0")/lib.sh"
unset SOURCE_DATE_EPOCH
umask 022

# Another local user: the store must keep them out by its own modes, so every
# directory above it is open to them (the test's temp dir is 0700 otherwise).
chmod 0755 "$TMP"
# setpriv keeps its capabilities until it execs COMMAND, so COMMAND is always a
# shell that then does, as nobody, what is tried.
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups sh -c "$@"; }

if test_have_prereq ROOT; then
	build_base base ''
fi

# what a hostile step leaves behind: a setuid copy of a shell and a device node
# (null's numbers: harmless to open, but opened all the same) anyone may open
hostile='cp /bin/busybox "$D/sh" && chmod 4755 "$D/sh" && mknod "$D/null" c 1 3 && chmod 666 "$D/null"'

# cannot_reach DIR: DIR holds the setuid shell and the open node, and user nobody
# can neither run the one nor open the other.
cannot_reach() {
	test -u "$1/sh" && test -c "$1/null" || { echo "no hostile files in $1"; return 1; }
	as_nobody 'ls "$1"' _ "$CAIRN_ROOT" >/dev/null || { echo "nobody cannot even list the store root"; return 1; }
	if as_nobody '"$1" -c "echo RAN"' _ "$1/sh" 2>&1 | grep -q RAN; then
		echo "nobody ran the setuid shell $1/sh"
		return 1
	fi
	if as_nobody 'exec 3<"$1"' _ "$1/null" 2>/dev/null; then
		echo "nobody opened the device node $1/null"
		return 1
	fi
}

# expect_modes MODE PATH...: each PATH (relative to the store) has MODE.
expect_modes() {
	_want=$1
	shift
	for _p in "$@"; do
		expect_eq "$(stat -c %a "$CAIRN_ROOT/$_p")" "$_want" || { echo "(mode of $_p)"; return 1; }
	done
}

test_expect_success ROOT 'a cache mount is out of other users reach: no setuid shell, no device node' '
	recipe cachemount <<-RECIPE &&
	FROM base
	RUN --mount=type=cache,id=hostile,target=/c D=/c && $hostile
	RECIPE
	build cachemount -q >/dev/null &&
	dir="$CAIRN_ROOT/cairn/mounts/$(printf %s hostile | sha256sum | cut -d" " -f1)" &&
	cannot_reach "$dir" &&
	expect_modes 755 . blobs blobs/sha256 &&
	expect_modes 700 cairn cairn/mounts cairn/layers cairn/cache cairn/contexts cairn/tmp
'

test_expect_success ROOT 'a layer dir kept on disk (CAIRN_TMPFS_LIMIT=0) is out of other users reach' '
	recipe ondisk <<-RECIPE &&
	FROM base
	RUN mkdir /x && D=/x && $hostile
	RECIPE
	CAIRN_TMPFS_LIMIT=0 build ondisk -q >/dev/null &&
	tree=$(dirname "$(find "$CAIRN_ROOT/cairn/layers" -mindepth 3 -maxdepth 3 -path "*/x/sh")") &&
	test -n "$tree" &&
	cannot_reach "$tree" &&
	expect_modes 700 cairn cairn/layers
'

# Stores made by earlier versions have every folder 0755; the owner's next command,
# a reading one too, closes them.
test_expect_success ROOT 'an older store with open folders is closed by the next cairn command' '
	chmod 0755 "$CAIRN_ROOT/cairn" "$CAIRN_ROOT/cairn/layers" "$CAIRN_ROOT/cairn/mounts" &&
	cairn images >/dev/null &&
	expect_modes 700 cairn &&
	dir="$CAIRN_ROOT/cairn/mounts/$(printf %s hostile | sha256sum | cut -d" " -f1)" &&
	cannot_reach "$dir" &&
	build cachemount -q >/dev/null &&
	expect_modes 700 cairn cairn/layers cairn/mounts
'

test_expect_success ROOT 'a store root others may write is made writable by its owner only' '
	chmod 0777 "$CAIRN_ROOT" &&
	build cachemount -q >/dev/null &&
	expect_modes 755 . &&
	chmod 1777 "$CAIRN_ROOT" &&
	test_expect_code 1 cairn build -q -t cachemount "$TMP/cachemount" 2>"$TMP/err" &&
	expect_contains "$(cat "$TMP/err")" "writable by other users" &&
	chmod 0755 "$CAIRN_ROOT"
'

# mounts_while_step_runs NAME: builds $TMP/NAME, whose last RUN waits on the fifos
# ready and go of the cache mount id=sync, and writes cairn's own mount table as
# it is while that step runs to $TMP/NAME.mounts. The build is over when it returns.
mounts_while_step_runs() {
	_sync="$CAIRN_ROOT/cairn/mounts/$(printf %s sync | sha256sum | cut -d" " -f1)"
	mkdir -p "$_sync" && rm -f "$_sync/ready" "$_sync/go" &&
		mkfifo "$_sync/ready" "$_sync/go" || return 1
	"$CAIRN" build -q -t "$1" "$TMP/$1" >"$TMP/$1.out" 2>&1 &
	_pid=$!
	# the timeout only stops a wait for a step that never came (a failed build)
	if timeout 300 sh -c 'read _ <"$1"' _ "$_sync/ready" &&
		cat "/proc/$_pid/mountinfo" >"$TMP/$1.mounts" &&
		timeout 300 sh -c 'echo >"$1"' _ "$_sync/go"; then
		wait "$_pid" || { cat "$TMP/$1.out"; return 1; }
	else
		kill "$_pid"
		wait "$_pid"
		cat "$TMP/$1.out"
		return 1
	fi
}

# The builder mounts store content in its own mount namespace: the step's upper
# dir (a tmpfs), its overlay root, the read-only view of another stage and the
# throwaway overlay of a writable bind. A device
# node there would open the host's device for whatever the builder opens
# (COPY --from reads what it names), so all are nodev, and nosuid.
test_expect_success ROOT 'what the builder mounts from the store is nosuid and nodev' '
	recipe flags <<-RECIPE &&
	FROM base AS src
	RUN echo one >/one
	RUN echo two >/two
	FROM base
	RUN --mount=type=bind,from=src,target=/src --mount=type=bind,from=src,target=/rw,rw \
	    --mount=type=cache,id=sync,target=/sync \
	    cat /src/one /rw/two && echo >/sync/ready && cat /sync/go >/dev/null
	RECIPE
	mounts_while_step_runs flags &&
	store=$(realpath "$CAIRN_ROOT") &&
	awk -v p="$store/cairn/" "index(\$5, p) == 1" "$TMP/flags.mounts" >"$TMP/flags.ours" &&
	cat "$TMP/flags.ours" &&
	grep -q "/from-[^ ]*/root " "$TMP/flags.ours" &&
	grep -q "/step-[^ ]*/merged " "$TMP/flags.ours" &&
	grep -q "/mounts-[^ ]*/rw[0-9]*/merged " "$TMP/flags.ours" &&
	awk "\$6 !~ /(^|,)nosuid(,|\$)/ || \$6 !~ /(^|,)nodev(,|\$)/ { print \"not nosuid,nodev: \" \$5; bad = 1 } END { exit bad }" "$TMP/flags.ours"
'

test_expect_success ROOT 'the in-memory upper dir of a step is nosuid and nodev' '
	recipe memflags <<-RECIPE &&
	FROM base
	RUN --mount=type=cache,id=sync,target=/sync echo >/sync/ready && cat /sync/go >/dev/null
	RECIPE
	CAIRN_TMPFS_LIMIT=$((256 << 20)) mounts_while_step_runs memflags &&
	grep " $(realpath "$CAIRN_ROOT")/cairn/tmp/proc-[^ ]*/mem-[^ ]* " "$TMP/memflags.mounts" >"$TMP/memflags.ours" &&
	cat "$TMP/memflags.ours" &&
	awk "\$6 !~ /(^|,)nosuid(,|\$)/ || \$6 !~ /(^|,)nodev(,|\$)/ { print \"not nosuid,nodev: \" \$5; bad = 1 } END { exit bad }" "$TMP/memflags.ours"
'

# A node a step makes in one stage, named by COPY --from in the next, was opened
# by the builder, with the builder's privileges: a block device's node copies
# the host's disk into the image (null's numbers here).
test_expect_success ROOT 'COPY --from does not open a device node a step made' '
	recipe copynode <<-RECIPE &&
	FROM base AS src
	RUN mknod /node c 1 3 && chmod 666 /node
	FROM base
	COPY --from=src /node /copied
	RECIPE
	test_expect_code 1 cairn build -q -t copynode "$TMP/copynode" 2>"$TMP/copynode.err" &&
	expect_contains "$(cat "$TMP/copynode.err")" "node in stage src: a device, fifo or socket cannot be copied"
'

test_expect_success ROOT 'COPY of a fifo in the context fails instead of waiting for a writer' '
	recipe copyfifo <<-RECIPE &&
	FROM base
	COPY fifo /fifo
	RECIPE
	mkfifo "$TMP/copyfifo/fifo" &&
	test_expect_code 1 timeout 300 "$CAIRN" build -q -t copyfifo "$TMP/copyfifo" 2>"$TMP/copyfifo.err" &&
	expect_contains "$(cat "$TMP/copyfifo.err")" "a device, fifo or socket cannot be copied"
'

# A secret is read whole into memory: as buildkit, at most 500 KiB of it, and
# never more than that is read (the test's writers end when cairn stops reading).
test_expect_success ROOT 'a secret larger than 500 KiB fails the build, naming it and the limit' '
	recipe secret <<-RECIPE &&
	FROM base
	RUN --mount=type=secret,id=s wc -c /run/secrets/s
	RECIPE
	head -c $((500 * 1024)) /dev/zero >"$TMP/secret.fits" &&
	cairn build -q -t secret --secret id=s,src="$TMP/secret.fits" "$TMP/secret" >/dev/null &&
	head -c $((500 * 1024 + 1)) /dev/zero >"$TMP/secret.big" &&
	test_expect_code 1 cairn build -q -t secret --no-cache --secret id=s,src="$TMP/secret.big" "$TMP/secret" 2>"$TMP/secret.err" &&
	expect_contains "$(cat "$TMP/secret.err")" "secret s: $TMP/secret.big holds more than 500 KiB"
'

test_expect_success ROOT 'a secret from a fifo that never ends is read up to the limit' '
	mkfifo "$TMP/secret.fifo" &&
	{ head -c $((64 << 20)) /dev/zero >"$TMP/secret.fifo" 2>/dev/null & } &&
	writer=$! &&
	{
		test_expect_code 1 cairn build -q -t secret --no-cache \
			--secret id=s,src="$TMP/secret.fifo" "$TMP/secret" 2>"$TMP/secret.err"
		status=$?
	}
	# the writer is gone (SIGPIPE) unless cairn never opened the fifo
	kill "$writer" 2>/dev/null || :
	wait "$writer" || :
	test "${status:-}" = 0 &&
	expect_contains "$(cat "$TMP/secret.err")" "more than 500 KiB"
'

test_expect_success ROOT 'a secret from /dev/zero fails the build instead of exhausting memory' '
	test_expect_code 1 cairn build -q -t secret --no-cache --secret id=s,src=/dev/zero "$TMP/secret" 2>"$TMP/secret.err" &&
	expect_contains "$(cat "$TMP/secret.err")" "secret s: /dev/zero holds more than 500 KiB"
'

# buildx checks its flags before it builds; a bad --cache-to ref used to show only
# at the export, after the build, and ignore-error=true made that exit 0.
test_expect_success ROOT 'an invalid --cache-to ref is a usage error, before anything is built' '
	test_expect_code 2 cairn build -t cacheto \
		--cache-to "type=registry,ref=Bad:Ref::x,ignore-error=true" "$TMP/cachemount" \
		>"$TMP/cacheto.out" 2>"$TMP/cacheto.err" &&
	expect_contains "$(cat "$TMP/cacheto.err")" "--cache-to type=registry,ref=Bad:Ref::x,ignore-error=true: invalid reference" &&
	! grep -q "exporting" "$TMP/cacheto.err" &&
	! cairn inspect cacheto >/dev/null 2>&1 &&
	test_expect_code 2 cairn build -q --cache-to "" "$TMP/cachemount" 2>"$TMP/cacheto.err" &&
	expect_contains "$(cat "$TMP/cacheto.err")" "invalid reference" &&
	test_expect_code 2 cairn build -q \
		--cache-to "127.0.0.1:9/c@sha256:$(printf %064d 0)" "$TMP/cachemount" 2>"$TMP/cacheto.err" &&
	expect_contains "$(cat "$TMP/cacheto.err")" "a cache is pushed to a tag, not a digest" &&
	test_expect_code 2 cairn build -q --cache-from "x y" "$TMP/cachemount" 2>"$TMP/cacheto.err" &&
	expect_contains "$(cat "$TMP/cacheto.err")" "--cache-from x y: invalid reference"
'

test_expect_success ROOT 'COPY --from errors name the stage or image, not the build context' '
	recipe fromerr <<-RECIPE &&
	FROM base AS builder
	FROM base
	COPY --from=builder /missing /x
	RECIPE
	fails_with fromerr "\"/missing\": no such file or directory in stage builder" &&
	! grep -q "build context" "$TMP/fromerr.err" &&
	sed -i "s|--from=builder /missing|--from=base /missing|" "$TMP/fromerr/Recipe" &&
	fails_with fromerr "\"/missing\": no such file or directory in image base" &&
	sed -i "s|--from=base /missing|--from=builder ../../x|" "$TMP/fromerr/Recipe" &&
	fails_with fromerr "forbidden path outside stage builder: ../../x" &&
	recipe fromerr0 <<-RECIPE &&
	FROM base
	FROM base
	COPY --from=0 /nope* /x
	RECIPE
	fails_with fromerr0 "\"/nope*\": no such file or directory in stage 0"
'

# An unpacked layer's root was its temp dir's 0700: a bind of a one-layer image
# (from=) was closed to a step's USER. Now that cairn/layers keeps other users out,
# the tree's root is 0755, as docker shows it.
test_expect_success ROOT 'the root of a layer unpacked from its blob is 0755' '
	recipe onelayer <<-RECIPE &&
	FROM scratch
	COPY busybox /bin/busybox
	RECIPE
	cp /bin/busybox "$TMP/onelayer/" &&
	build onelayer -q >/dev/null &&
	recipe bindone <<-RECIPE &&
	FROM base
	USER 65534
	RUN --mount=type=bind,from=onelayer,target=/m ls /m/bin/busybox
	RECIPE
	build bindone -q >/dev/null &&
	for d in "$CAIRN_ROOT"/cairn/layers/*/; do
		expect_eq "$(stat -c %a "$d")" 755 || exit 1
	done
'

# in_readonly_store CMD...: cairn CMD on the store bind-mounted read-only onto
# itself, in a mount namespace of its own that ends with it.
in_readonly_store() {
	unshare -m --propagation private sh -c \
		'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"' \
		_ "$CAIRN_ROOT" "$CAIRN" "$@"
}

test_expect_success ROOT 'a store on a read-only mount lists, inspects and shows history' '
	cairn inspect base >"$TMP/rw.inspect" &&
	in_readonly_store images >"$TMP/ro.images" &&
	expect_contains "$(cat "$TMP/ro.images")" "base:latest" &&
	in_readonly_store inspect base >"$TMP/ro.inspect" &&
	cmp "$TMP/rw.inspect" "$TMP/ro.inspect" &&
	in_readonly_store history base >"$TMP/ro.history" &&
	expect_contains "$(cat "$TMP/ro.history")" "COPY busybox /bin/busybox"
'

test_expect_success ROOT 'writing to a store on a read-only mount fails, saying so' '
	test_expect_code 1 in_readonly_store tag base base:2 2>"$TMP/ro.err" &&
	expect_contains "$(cat "$TMP/ro.err")" "Read-only file system" &&
	expect_contains "$(cat "$TMP/ro.err")" "only read it" &&
	test_expect_code 1 in_readonly_store rmi base 2>"$TMP/ro.err" &&
	expect_contains "$(cat "$TMP/ro.err")" "Read-only file system" &&
	test_expect_code 1 in_readonly_store build -q "$TMP/cachemount" 2>"$TMP/ro.err" &&
	expect_contains "$(cat "$TMP/ro.err")" "Read-only file system" &&
	cairn inspect base >/dev/null &&
	! cairn inspect base:2 >/dev/null 2>&1
'

# A store root owns, read by another user: the layout is theirs to read (0755),
# cairn/ is not, and nothing a reading command does needs it.
cp "$CAIRN" "$TMP/cairn-bin"
nobody_cairn() { as_nobody 'exec "$@"' _ "$TMP/cairn-bin" --root "$CAIRN_ROOT" "$@"; }

test_expect_success ROOT 'another user reads a store they cannot write: images, inspect, history' '
	nobody_cairn images >"$TMP/other.images" &&
	expect_contains "$(cat "$TMP/other.images")" "base:latest" &&
	nobody_cairn inspect base >"$TMP/other.inspect" &&
	cmp "$TMP/rw.inspect" "$TMP/other.inspect" &&
	nobody_cairn history base >/dev/null &&
	test_expect_code 1 nobody_cairn tag base base:3 2>"$TMP/other.err" &&
	expect_contains "$(cat "$TMP/other.err")" "Permission denied" &&
	expect_contains "$(cat "$TMP/other.err")" "only read it" &&
	! cairn inspect base:3 >/dev/null 2>&1
'

test_expect_success 'images on a store that does not exist lists nothing and creates nothing' '
	cairn --root "$TMP/nostore" images >"$TMP/none.images" &&
	expect_eq "$(wc -l <"$TMP/none.images")" 1 &&
	test ! -e "$TMP/nostore" &&
	test_expect_code 1 cairn --root "$TMP/nostore" inspect base 2>"$TMP/none.err" &&
	expect_contains "$(cat "$TMP/none.err")" "no store at" &&
	test ! -e "$TMP/nostore"
'

test_expect_success 'the store has a format version; a cairn refuses to write a format it does not know' '
	mkdir -p "$TMP/fmt/ctx" &&
	printf "FROM scratch\nLABEL a=b\n" >"$TMP/fmt/ctx/Recipe" &&
	cairn --root "$TMP/fmt/store" build -q -t fmt:1 "$TMP/fmt/ctx" >/dev/null &&
	expect_eq "$(cat "$TMP/fmt/store/cairn/version")" 1 &&
	rm "$TMP/fmt/store/cairn/version" &&
	cairn --root "$TMP/fmt/store" tag fmt:1 fmt:2 &&
	expect_eq "$(cat "$TMP/fmt/store/cairn/version")" 1 &&
	echo 2 >"$TMP/fmt/store/cairn/version" &&
	cp "$TMP/fmt/store/index.json" "$TMP/fmt/index.before" &&
	test_expect_code 1 cairn --root "$TMP/fmt/store" build -q -t fmt:3 "$TMP/fmt/ctx" 2>"$TMP/fmt/err" &&
	expect_contains "$(cat "$TMP/fmt/err")" "is of format 2, which this cairn (format 1) does not know" &&
	test_expect_code 1 cairn --root "$TMP/fmt/store" tag fmt:1 fmt:4 2>/dev/null &&
	cmp "$TMP/fmt/index.before" "$TMP/fmt/store/index.json" &&
	cairn --root "$TMP/fmt/store" images >/dev/null &&
	echo many >"$TMP/fmt/store/cairn/version" &&
	test_expect_code 1 cairn --root "$TMP/fmt/store" tag fmt:1 fmt:4 2>"$TMP/fmt/err" &&
	expect_contains "$(cat "$TMP/fmt/err")" "not a format number"
'

test_done
