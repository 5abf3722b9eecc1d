#!/bin/bash
# The store over months (issue 15): gc takes what nothing holds and never what a
# tag, a cache record, a container or a running build holds; prune takes build
# cache least recently used first; a build ends with a prune when the cache is
# over its budget; df says what the store holds; fsck finds damage and repairs it.
. "$(dirname "$0")/lib.sh"
unset SOURCE_DATE_EPOCH

if test_have_prereq ROOT; then
	build_base base ''
fi

blobs() { find "$CAIRN_ROOT/blobs/sha256" -type f | wc -l; }
has_blob() { test -f "$CAIRN_ROOT/blobs/sha256/${1#sha256:}"; }
# layer_digest NAME N: the blob digest of the image's Nth layer (0-based).
layer_digest() {
	_m=$(ref_digest "$1:latest")
	jq -r ".layers[$2].digest" "$CAIRN_ROOT/blobs/sha256/${_m#sha256:}"
}
# big NAME SEED: an image on base with a 1 MiB layer of its own (random, per seed).
big() {
	recipe "$1" <<EOF
FROM base
RUN head -c 1048576 /dev/urandom > /big-$2
EOF
	cairn build -q -t "$1" "$TMP/$1" >/dev/null
}
# records_of REF: the cache records whose layer is REF's last layer.
records_of() {
	_l=$(layer_digest "$1" -1)
	grep -l "$_l" "$CAIRN_ROOT"/cairn/cache/* 2>/dev/null
}

test_expect_success ROOT 'gc after rmi takes the image the tag held and keeps the base' '
	big g1 1 &&
	m=$(ref_digest g1:latest) && test -n "$m" &&
	cairn rmi g1 >/dev/null &&
	before=$(blobs) &&
	cairn gc -n >"$TMP/gc-n.out" &&
	expect_contains "$(cat "$TMP/gc-n.out")" "would remove blob" &&
	expect_contains "$(cat "$TMP/gc-n.out")" "Total reclaimable space" &&
	expect_eq "$(blobs)" "$before" &&
	cairn gc >"$TMP/gc.out" &&
	expect_contains "$(cat "$TMP/gc.out")" "removed blob" &&
	expect_contains "$(cat "$TMP/gc.out")" "$m" &&
	! has_blob "$m" &&
	cairn inspect base >/dev/null &&
	for l in $(jq -r ".layers[].digest" "$CAIRN_ROOT/blobs/sha256/$(ref_digest base:latest | sed s/sha256://)"); do
		has_blob "$l" || { echo "base lost $l"; exit 1; }
	done &&
	cairn fsck >/dev/null
'

test_expect_success ROOT 'a cache record holds its layer through gc, and the rebuild is cached' '
	big g2 2 &&
	l=$(layer_digest g2 -1) &&
	cairn rmi g2 >/dev/null &&
	cairn gc -q >/dev/null &&
	has_blob "$l" &&
	cairn build -t g2 "$TMP/g2" >"$TMP/g2.out" 2>&1 &&
	grep "RUN head" "$TMP/g2.out" | grep -q CACHED &&
	expect_eq "$(layer_digest g2 -1)" "$l"
'

test_expect_success ROOT 'prune keeps the records of tagged images, and with --all takes them' '
	recipe g3 <<-EOF &&
	FROM base
	ENV WHERE=g3
	RUN head -c 1048576 /dev/urandom > /big-3
	EOF
	cairn build -q -t g3 "$TMP/g3" >/dev/null &&
	l=$(layer_digest g3 -1) &&
	m=$(ref_digest g3:latest) &&
	cairn prune >/dev/null &&
	test -n "$(records_of g3)" &&
	cairn build -t g3 "$TMP/g3" >"$TMP/g3.out" 2>&1 &&
	grep "RUN head" "$TMP/g3.out" | grep -q CACHED &&
	grep "ENV WHERE" "$TMP/g3.out" | grep -q CACHED &&
	expect_eq "$(ref_digest g3:latest)" "$m" &&
	cairn rmi g3 >/dev/null &&
	cairn prune -n >"$TMP/p-n.out" &&
	expect_contains "$(cat "$TMP/p-n.out")" "would remove cache record" &&
	has_blob "$l" &&
	cairn prune >"$TMP/p.out" &&
	expect_contains "$(cat "$TMP/p.out")" "$l" &&
	! has_blob "$l" &&
	big g3b 33 &&
	cairn prune --all -f -q >/dev/null &&
	test -z "$(records_of g3b)" &&
	cairn inspect g3b >/dev/null &&
	cairn fsck >/dev/null
'

test_expect_success ROOT 'prune --filter until= takes only what no build used for that long' '
	big g4 4 && l=$(layer_digest g4 -1) &&
	cairn rmi g4 >/dev/null &&
	cairn prune --filter until=1h -q >/dev/null &&
	has_blob "$l" &&
	touch -d "3 days ago" "$CAIRN_ROOT"/cairn/cache/* &&
	big g4b 44 &&
	cairn prune --filter until=48h >"$TMP/until.out" &&
	expect_contains "$(cat "$TMP/until.out")" "removed cache record" &&
	! has_blob "$l" &&
	test -n "$(records_of g4b)"
'

test_expect_success ROOT 'prune --keep-storage takes the least recently used first and stops within the size' '
	cairn prune -a -q >/dev/null &&
	big old 5 && lo=$(layer_digest old -1) &&
	big new 6 && ln=$(layer_digest new -1) &&
	cairn rmi old new >/dev/null &&
	for f in $(grep -l "$lo" "$CAIRN_ROOT"/cairn/cache/*); do touch -d "2 days ago" "$f"; done &&
	cairn prune --keep-storage 1500k >"$TMP/keep.out" &&
	! has_blob "$lo" &&
	has_blob "$ln" &&
	cairn df --json | jq -e ".summary[1].size <= 1536000" >/dev/null
'

test_expect_success 'prune and gc refuse bad arguments with a message' '
	test_expect_code 2 cairn prune --keep-storage lots 2>"$TMP/e1" &&
	expect_contains "$(cat "$TMP/e1")" "--keep-storage lots: not a size" &&
	test_expect_code 2 cairn prune --filter label=x 2>"$TMP/e2" &&
	expect_contains "$(cat "$TMP/e2")" "until=DURATION" &&
	test_expect_code 2 cairn prune --filter until=soon 2>"$TMP/e3" &&
	expect_contains "$(cat "$TMP/e3")" "until=soon" &&
	test_expect_code 2 cairn gc extra
'

test_expect_success ROOT 'a build over the budget prunes; CAIRN_GC=0 does not; a bad budget fails the build' '
	big a1 7 && la=$(layer_digest a1 -1) && cairn rmi a1 >/dev/null &&
	echo "{\"gc\": {\"keep-storage\": \"1k\"}}" >"$CAIRN_ROOT/cairn/config.json" &&
	export CAIRN_GC=0 &&
	big a2 8 && la2=$(layer_digest a2 -1) && cairn rmi a2 >/dev/null &&
	unset CAIRN_GC &&
	has_blob "$la" && has_blob "$la2" &&
	recipe a4 <<-EOF &&
	FROM base
	RUN echo four >/four
	EOF
	cairn build -t a4 "$TMP/a4" >"$TMP/a4.out" 2>&1 &&
	expect_contains "$(cat "$TMP/a4.out")" "over its budget of 1.02kB" &&
	! has_blob "$la" && ! has_blob "$la2" &&
	cairn inspect a4 >/dev/null &&
	export CAIRN_GC=0 && big a7 77 && unset CAIRN_GC &&
	n=$(ls "$CAIRN_ROOT/cairn/cache" | wc -l) && test "$n" -gt 0 &&
	echo "{\"gc\": {\"keep-storage\": \"lots\"}}" >"$CAIRN_ROOT/cairn/config.json" &&
	test_expect_code 1 cairn build -q -t a5 "$TMP/a4" 2>"$TMP/a5.err" &&
	expect_contains "$(cat "$TMP/a5.err")" "cairn/config.json: gc.keep-storage \"lots\"" &&
	expect_eq "$(ls "$CAIRN_ROOT/cairn/cache" | wc -l)" "$n" &&
	echo "{\"gc\": {\"keep-storage\": \"1k\"}}" >"$CAIRN_ROOT/cairn/config.json" &&
	recipe a6 <<-EOF &&
	FROM base
	RUN echo untagged >/six
	EOF
	untagged=$(cairn build --provenance=false -q "$TMP/a6") &&
	cairn inspect "$untagged" >/dev/null &&
	echo "{\"gc\": {\"keep-storage\": \"50%\"}}" >"$CAIRN_ROOT/cairn/config.json" &&
	cairn build -q -t a5 "$TMP/a4" >/dev/null &&
	rm "$CAIRN_ROOT/cairn/config.json"
'

test_expect_success ROOT 'df shows images, shared and unique layers, the build cache; --json agrees' '
	big d1 9 && big d2 10 &&
	cairn df >"$TMP/df.out" &&
	expect_contains "$(cat "$TMP/df.out")" "Images" &&
	expect_contains "$(cat "$TMP/df.out")" "Build Cache" &&
	expect_contains "$(cat "$TMP/df.out")" "Local Volumes" &&
	cairn df -v >"$TMP/dfv.out" &&
	expect_contains "$(cat "$TMP/dfv.out")" "d1:latest" &&
	cairn df --json >"$TMP/df.json" &&
	jq -e ".images | length >= 3" "$TMP/df.json" >/dev/null &&
	jq -e "[.images[] | select(.refs | index(\"d1:latest\"))][0] | .unique >= 1048576 and .shared > 0" "$TMP/df.json" >/dev/null &&
	jq -e ".summary[0].type == \"Images\" and .summary[0].size > 2097152" "$TMP/df.json" >/dev/null &&
	recipe d3 <<-EOF &&
	FROM d1
	RUN echo three >/three
	EOF
	cairn build -q -t d3 "$TMP/d3" >/dev/null &&
	cairn df --json >"$TMP/df2.json" &&
	jq -e ".layer_summary.shared == $(jq .layer_summary.shared "$TMP/df.json") + 1" "$TMP/df2.json" >/dev/null &&
	jq -e ".layer_summary.unique == $(jq .layer_summary.unique "$TMP/df.json")" "$TMP/df2.json" >/dev/null &&
	cairn df | grep -q "^Layers: $(jq .layer_summary.shared "$TMP/df2.json") shared by several images"
'

test_expect_success ROOT 'a container holds its image through rmi and gc' '
	big c1 11 && m=$(ref_digest c1:latest) && test -n "$m" &&
	cairn run --name keeper c1 true &&
	cairn rmi c1 >/dev/null &&
	cairn gc -q >/dev/null &&
	has_blob "$m" &&
	cairn rm keeper >/dev/null &&
	cairn gc -q >/dev/null &&
	! has_blob "$m"
'

test_expect_success ROOT 'a running build keeps its base through rmi and gc (leases)' '
	big l1 12 &&
	recipe l2 <<-EOF &&
	FROM l1
	RUN sleep 2 && cat /big-12 >/dev/null
	RUN echo done >/done
	EOF
	{ cairn build -q -t l2 "$TMP/l2" >"$TMP/l2.out" 2>&1 & } &&
	pid=$! &&
	sleep 1 &&
	cairn rmi l1 >/dev/null &&
	cairn prune -a -q >/dev/null &&
	cairn gc -q >/dev/null &&
	wait $pid &&
	cairn inspect l2 >/dev/null &&
	cairn fsck >/dev/null &&
	test -n "$(image_rootfs l2 "$TMP/l2-root" && ls "$TMP/l2-root/big-12")"
'

test_expect_success ROOT 'prune leaves a cache mount a running build uses, and takes it once unused' '
	recipe cm <<-EOF &&
	FROM base
	RUN --mount=type=cache,target=/c,sharing=shared echo kept >/c/f && sleep 3
	EOF
	{ cairn build -q -t cm "$TMP/cm" >"$TMP/cm.out" 2>&1 & } &&
	pid=$! &&
	for i in $(seq 50); do test -n "$(ls -d "$CAIRN_ROOT"/cairn/mounts/*/f 2>/dev/null)" && break; sleep 0.1; done &&
	dir=$(dirname "$(ls -d "$CAIRN_ROOT"/cairn/mounts/*/f)") &&
	cairn prune -a >"$TMP/cm-prune.out" &&
	test -f "$dir/f" &&
	wait $pid &&
	cairn df -v | grep -q "cache mount" &&
	cairn prune -a >"$TMP/cm-prune2.out" &&
	expect_contains "$(cat "$TMP/cm-prune2.out")" "removed cache mount" &&
	! test -e "$dir"
'

test_expect_success ROOT 'fsck finds damaged blobs, records and trees; --repair never removes a tag'"'"'s blob' '
	big f1 13 && big f2 14 &&
	cairn fsck >"$TMP/ok.out" &&
	expect_contains "$(tail -n 1 "$TMP/ok.out")" "clean" &&
	l1=$(layer_digest f1 -1) &&
	printf x >>"$CAIRN_ROOT/blobs/sha256/${l1#sha256:}" &&
	l2=$(layer_digest f2 -1) && cairn rmi f2 >/dev/null &&
	for r in $(grep -l "$l2" "$CAIRN_ROOT"/cairn/cache/*); do rm "$r"; done &&
	printf y >>"$CAIRN_ROOT/blobs/sha256/${l2#sha256:}" &&
	rec=$(ls "$CAIRN_ROOT"/cairn/cache | head -n 1) &&
	echo "not json" >"$CAIRN_ROOT/cairn/cache/$rec" &&
	echo "{}" >"$CAIRN_ROOT/index.json.tmp.999999" &&
	test_expect_code 1 cairn fsck >"$TMP/bad.out" &&
	expect_contains "$(cat "$TMP/bad.out")" "tag f1:latest: blob $l1 is" &&
	expect_contains "$(cat "$TMP/bad.out")" "pull or build it again" &&
	expect_contains "$(cat "$TMP/bad.out")" "$l2: blob" &&
	expect_contains "$(cat "$TMP/bad.out")" "not a JSON record" &&
	expect_contains "$(cat "$TMP/bad.out")" "index.json.tmp.999999" &&
	test_expect_code 1 cairn fsck --repair >"$TMP/rep.out" &&
	has_blob "$l1" &&
	! has_blob "$l2" &&
	! test -e "$CAIRN_ROOT/cairn/cache/$rec" &&
	! test -e "$CAIRN_ROOT/index.json.tmp.999999" &&
	cairn rmi f1 >/dev/null && rm "$CAIRN_ROOT/blobs/sha256/${l1#sha256:}" &&
	cairn fsck >/dev/null
'

test_expect_success ROOT 'fsck --full finds an unpacked layer that differs from its blob and unpacks it again' '
	recipe t1 <<-EOF &&
	FROM base
	RUN echo data >/data
	RUN echo more >/more
	EOF
	cairn build -q -t t1 "$TMP/t1" >/dev/null &&
	c=$(cairn inspect t1 | jq -r .Manifest.config.digest) &&
	id= &&
	for d in $(jq -r ".rootfs.diff_ids[]" "$CAIRN_ROOT/blobs/sha256/${c#sha256:}"); do
		f="$CAIRN_ROOT/cairn/layers/${d#sha256:}/bin/busybox"
		if test -f "$f" && ! test -L "$f"; then id=$d; fi
	done &&
	test -n "$id" &&
	tree="$CAIRN_ROOT/cairn/layers/${id#sha256:}" &&
	cairn fsck --full >/dev/null &&
	cp "$tree/bin/busybox" "$TMP/busybox.orig" &&
	echo tampered >"$tree/bin/busybox" &&
	cairn fsck >/dev/null &&
	test_expect_code 1 cairn fsck --full >"$TMP/full.out" &&
	expect_contains "$(cat "$TMP/full.out")" "unpacked layer $id: differs from its blob" &&
	cairn fsck --full --repair >"$TMP/full-rep.out" &&
	expect_contains "$(cat "$TMP/full-rep.out")" "repaired: unpacked again" &&
	cmp "$tree/bin/busybox" "$TMP/busybox.orig" &&
	cairn fsck --full >/dev/null
'

test_done
