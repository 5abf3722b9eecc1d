#!/bin/bash
# The example recipe builds, and the store it lands in is read by skopeo and umoci.
. "$(dirname "$0")/lib.sh"

ctx="$TMP/ctx"
cp -r "$CAIRN_SOURCE_ROOT/recipes/busybox" "$ctx"
make_busybox_context "$ctx"

test_expect_success ROOT 'the busybox example builds and is tagged' '
	cairn build -q -t example "$ctx" >"$TMP/digest" &&
	grep -qE "^sha256:[0-9a-f]{64}$" "$TMP/digest" &&
	cairn images | grep -q "^example:latest "
'

test_expect_success ROOT,SKOPEO 'skopeo reads the tag from the store directly' '
	skopeo inspect "oci:$CAIRN_ROOT:example:latest" >"$TMP/skopeo.json" &&
	expect_eq "$(jq -r .Digest "$TMP/skopeo.json")" "$(cat "$TMP/digest")"
'

test_expect_success ROOT,UMOCI 'umoci unpacks a gzip build from the store directly' '
	cairn build -q --compression gzip -t example-gz "$ctx" >/dev/null &&
	umoci unpack --image "$CAIRN_ROOT:example-gz:latest" "$TMP/bundle" &&
	test -x "$TMP/bundle/rootfs/bin/busybox" &&
	grep -q GREETING "$TMP/bundle/rootfs/app/hello.sh"
'

test_expect_success ROOT 'the rootfs-tar example: its prepare script and its recipe build offline' '
	cp -r "$CAIRN_SOURCE_ROOT/recipes/rootfs-tar" "$TMP/rt" &&
	rm -f "$TMP/rt/rootfs.tar.gz" &&
	"$TMP/rt/prepare" >/dev/null &&
	cairn build -q -t rootfs-example "$TMP/rt" >/dev/null &&
	image_rootfs rootfs-example "$TMP/rt-root" &&
	grep -q "^app:x:1000:1000:" "$TMP/rt-root/etc/passwd" &&
	test -L "$TMP/rt-root/bin/sh" &&
	expect_eq "$(stat -c %u "$TMP/rt-root/home/app")" 1000
'

test_done
