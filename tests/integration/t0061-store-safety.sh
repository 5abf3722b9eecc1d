#!/bin/bash
# What the store lets other local users and hostile steps do (issue 9): trees in
# the store keep the modes steps gave them (a setuid shell, a device node anyone
# may open), so no other user may reach them; the builder's own mounts of store
# content are nosuid and nodev; and the store can be read by whoever can only read it.
. "$(dirname "$0")/lib.sh"
require_root
unset SOURCE_DATE_EPOCH
umask 022

# Another local user: the store must keep them out by its own modes, so every
# directory above it is open to them (the test's temp dir is 0700 otherwise).
chmod 0755 "$TMP"
# setpriv keeps its capabilities until it execs COMMAND, so COMMAND is always a
# shell that then does, as nobody, what is tried.
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups sh -c "$@"; }

build_base base ''

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

test_expect_success 'a cache mount is out of other users reach: no setuid shell, no device node' '
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

test_expect_success 'a layer dir kept on disk (CAIRN_TMPFS_LIMIT=0) is out of other users reach' '
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
test_expect_success 'an older store with open folders is closed by the next cairn command' '
	chmod 0755 "$CAIRN_ROOT/cairn" "$CAIRN_ROOT/cairn/layers" "$CAIRN_ROOT/cairn/mounts" &&
	cairn images >/dev/null &&
	expect_modes 700 cairn &&
	dir="$CAIRN_ROOT/cairn/mounts/$(printf %s hostile | sha256sum | cut -d" " -f1)" &&
	cannot_reach "$dir" &&
	build cachemount -q >/dev/null &&
	expect_modes 700 cairn cairn/layers cairn/mounts
'

test_expect_success 'a store root others may write is made writable by its owner only' '
	chmod 0777 "$CAIRN_ROOT" &&
	build cachemount -q >/dev/null &&
	expect_modes 755 . &&
	chmod 1777 "$CAIRN_ROOT" &&
	test_expect_code 1 cairn build -q -t cachemount "$TMP/cachemount" 2>"$TMP/err" &&
	expect_contains "$(cat "$TMP/err")" "writable by other users" &&
	chmod 0755 "$CAIRN_ROOT"
'

test_done
