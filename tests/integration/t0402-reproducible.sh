#!/bin/bash
# Reproducible layers: SOURCE_DATE_EPOCH gives the same digest in any store; tar
# entries are normalized (sorted, numeric owners, clamped mtimes, no atime/ctime);
# compression and media types; digests checked by sha256sum and read by skopeo; a
# base whose layers cairn never unpacked is re-extracted from its blobs.
. "$(dirname "$0")/lib.sh"

SDE=1700000000
SDE_TIME=2023-11-14T22:13:20Z

# blob DIGEST: the path of a blob in the store.
blob() { echo "$CAIRN_ROOT/blobs/sha256/${1#sha256:}"; }


magic() { head -c 4 "$1" | od -An -tx1 | tr -d ' '; }

make_busybox_context "$TMP/ctx"
mkdir -p "$TMP/ctx/files/sub" && echo copied >"$TMP/ctx/files/sub/f" && echo top >"$TMP/ctx/files/a-b"
touch -d "2030-01-01" "$TMP/ctx/files/sub/f"
{
	busybox_base
	cat <<'EOF'
COPY files /files
RUN mkdir -p /data/a /data/a-b /etc && echo x > /data/a/x && echo y > /data/a-b/y \
 && echo z > /data/a.z && touch /data/Z /data/_u \
 && echo 1234:5678 > /data/owned && chown 1234:5678 /data/owned \
 && echo "app:x:1234:5678::/:/bin/sh" > /etc/passwd && echo "app:x:5678:" > /etc/group
RUN touch -d "2040-01-01 00:00:00" /data/future && ln /data/a/x /data/hardlink && ln -s a/x /data/symlink
RUN rm /data/Z && echo more >> /data/a/x
EOF
} >"$TMP/ctx/Recipe"

# sde_build STORE COMPRESSION TAG: builds the recipe with SOURCE_DATE_EPOCH into STORE.
sde_build() {
	SOURCE_DATE_EPOCH=$SDE CAIRN_ROOT=$1 "$CAIRN" build -q --compression "$2" -t "$3" "$TMP/ctx"
}

for comp in zstd gzip none; do
	test_expect_success ROOT "with SOURCE_DATE_EPOCH two empty stores give the same digest ($comp)" '
		d1=$(sde_build "$TMP/s1-$comp" $comp r) &&
		sleep 1 &&
		d2=$(sde_build "$TMP/s2-$comp" $comp r) &&
		expect_eq "$d1" "$d2" &&
		cmp "$TMP/s1-$comp/index.json" "$TMP/s2-$comp/index.json" &&
		(cd "$TMP/s1-$comp/blobs" && find . -type f | sort) >"$TMP/b1" &&
		(cd "$TMP/s2-$comp/blobs" && find . -type f | sort) >"$TMP/b2" &&
		diff "$TMP/b1" "$TMP/b2"
	'
	test_expect_success ROOT "with SOURCE_DATE_EPOCH the config and history created are the epoch ($comp)" '
		CAIRN_ROOT="$TMP/s1-$comp" cairn inspect r >"$TMP/r.json" &&
		expect_eq "$(jq -r .Config.created "$TMP/r.json")" "$SDE_TIME" &&
		expect_eq "$(jq -r "[.Config.history[].created] | unique | join(\" \")" "$TMP/r.json")" "$SDE_TIME" &&
		expect_eq "$(jq ".Config.history | length" "$TMP/r.json")" 6
	'
	test_expect_success ROOT "with SOURCE_DATE_EPOCH no tar entry has an mtime after it ($comp)" '
		n=0 &&
		for l in $(CAIRN_ROOT="$TMP/s1-$comp" cairn inspect r | jq -r ".Manifest.layers[].digest"); do
			decompress "$TMP/s1-$comp/blobs/sha256/${l#sha256:}" >"$TMP/l.tar" &&
			TZ=UTC tar --full-time -tvf "$TMP/l.tar" >"$TMP/l.list" &&
			n=$((n + $(wc -l <"$TMP/l.list"))) &&
			awk -v max="2023-11-14 22:13:20" "{ t = \$4 \" \" \$5; if (t > max) { print \"late: \" \$0; bad = 1 } } END { exit bad }" "$TMP/l.list" ||
				return 1
		done &&
		test "$n" -gt 10 &&
		grep -q "^-.* 2023-11-14 22:13:20 data/future$" <(for l in $(CAIRN_ROOT="$TMP/s1-$comp" cairn inspect r | jq -r ".Manifest.layers[].digest"); do decompress "$TMP/s1-$comp/blobs/sha256/${l#sha256:}" | TZ=UTC tar --full-time -tvf -; done)
	'
done

test_expect_success ROOT 'with SOURCE_DATE_EPOCH a store holding a build without it still gives the same digest' '
	CAIRN_ROOT="$TMP/s3" "$CAIRN" build -q -t r "$TMP/ctx" >"$TMP/plain.digest" &&
	d3=$(sde_build "$TMP/s3" zstd r) &&
	expect_eq "$d3" "$(CAIRN_ROOT="$TMP/s1-zstd" cairn inspect r | jq -r .Digest)" &&
	test "$d3" != "$(cat "$TMP/plain.digest")"
'

test_expect_success ROOT 'the default build stores zstd layers with the zstd media type' '
	cairn build -q -t z "$TMP/ctx" >/dev/null &&
	cairn inspect z >"$TMP/z.json" &&
	expect_eq "$(jq -r "[.Manifest.layers[].mediaType] | unique | join(\" \")" "$TMP/z.json")" \
		application/vnd.oci.image.layer.v1.tar+zstd &&
	for l in $(jq -r ".Manifest.layers[].digest" "$TMP/z.json"); do
		expect_eq "$(magic "$(blob "$l")")" 28b52ffd || return 1
	done
'

test_expect_success ROOT '--compression gzip stores gzip layers with the gzip media type' '
	cairn build -q --compression gzip -t g "$TMP/ctx" >/dev/null &&
	cairn inspect g >"$TMP/g.json" &&
	expect_eq "$(jq -r "[.Manifest.layers[].mediaType] | unique | join(\" \")" "$TMP/g.json")" \
		application/vnd.oci.image.layer.v1.tar+gzip &&
	for l in $(jq -r ".Manifest.layers[].digest" "$TMP/g.json"); do
		gzip -t "$(blob "$l")" &&
		expect_eq "$(magic "$(blob "$l")" | cut -c1-4)" 1f8b || return 1
	done
'

test_expect_success ROOT '--compression none stores plain tar layers with the tar media type' '
	cairn build -q --compression none -t n "$TMP/ctx" >/dev/null &&
	cairn inspect n >"$TMP/n.json" &&
	expect_eq "$(jq -r "[.Manifest.layers[].mediaType] | unique | join(\" \")" "$TMP/n.json")" \
		application/vnd.oci.image.layer.v1.tar &&
	for l in $(jq -r ".Manifest.layers[].digest" "$TMP/n.json"); do
		tar -tf "$(blob "$l")" >/dev/null || return 1
	done
'

test_expect_success ROOT 'every blob is named by its sha256 and every diff_id is the sha256 of the tar' '
	for ref in z g n; do
		cairn inspect $ref >"$TMP/i.json" &&
		m=$(jq -r .Digest "$TMP/i.json") &&
		expect_eq "sha256:$(sha256sum <"$(blob "$m")" | cut -d" " -f1)" "$m" &&
		c=$(jq -r .Manifest.config.digest "$TMP/i.json") &&
		expect_eq "sha256:$(sha256sum <"$(blob "$c")" | cut -d" " -f1)" "$c" &&
		jq -r ".Manifest.layers[].digest" "$TMP/i.json" >"$TMP/digests" &&
		jq -r ".Config.rootfs.diff_ids[]" "$TMP/i.json" >"$TMP/diffids" &&
		expect_eq "$(wc -l <"$TMP/digests")" "$(wc -l <"$TMP/diffids")" &&
		: >"$TMP/got.digests" && : >"$TMP/got.diffids" &&
		while read -r l; do
			echo "sha256:$(sha256sum <"$(blob "$l")" | cut -d" " -f1)" >>"$TMP/got.digests" &&
			echo "sha256:$(decompress "$(blob "$l")" | sha256sum | cut -d" " -f1)" >>"$TMP/got.diffids" &&
			expect_eq "$(stat -c %s "$(blob "$l")")" \
				"$(jq -r --arg d "$l" ".Manifest.layers[] | select(.digest == \$d) | .size" "$TMP/i.json")" ||
				return 1
		done <"$TMP/digests" &&
		diff "$TMP/digests" "$TMP/got.digests" &&
		diff "$TMP/diffids" "$TMP/got.diffids" || return 1
	done
'

# all_layers REF OUT: the tars of all layers of REF, decompressed, as OUT.N.tar.
all_layers() {
	_i=0
	for _l in $(cairn inspect "$1" | jq -r ".Manifest.layers[].digest"); do
		decompress "$(blob "$_l")" >"$2.$_i.tar" || return 1
		_i=$((_i + 1))
	done
}

test_expect_success ROOT 'tar entries come sorted: each directory before its children, siblings in byte order' '
	all_layers z "$TMP/z" &&
	for t in "$TMP"/z.*.tar; do
		tar -tf "$t" | sed "s,/\$,," >"$TMP/names" &&
		tr "/" "\001" <"$TMP/names" | LC_ALL=C sort -c ||
			{ cat "$TMP/names"; return 1; }
	done &&
	tar -tf "$TMP/z.3.tar" | sed "s,/\$,," >"$TMP/names" &&
	grep -qx data/a-b/y "$TMP/names" && grep -qx data/a/x "$TMP/names"
'

test_expect_success ROOT,PYTHON 'tar entries have numeric owners only (no user or group names)' '
	for t in "$TMP"/z.*.tar; do
		tar -tvf "$t" >"$TMP/named" &&
		tar --numeric-owner -tvf "$t" >"$TMP/numeric" &&
		diff "$TMP/named" "$TMP/numeric" || return 1
	done &&
	grep -q " 1234/5678 .* data/owned$" <(tar --numeric-owner -tvf "$TMP/z.3.tar") &&
	python3 -c "
import sys, tarfile
for p in sys.argv[1:]:
    for m in tarfile.open(p):
        assert m.uname == \"\" and m.gname == \"\", (p, m.name, m.uname, m.gname)
" "$TMP"/z.*.tar
'

test_expect_success ROOT,PYTHON 'tar entries carry no atime or ctime (no pax time records)' '
	for t in "$TMP"/z.*.tar; do
		! grep -aE "[0-9]+ (atime|ctime)=" "$t" || return 1
	done &&
	python3 -c "
import sys, tarfile
for p in sys.argv[1:]:
    for m in tarfile.open(p):
        assert not set(m.pax_headers) & {\"atime\", \"ctime\"}, (p, m.name, m.pax_headers)
" "$TMP"/z.*.tar
'

test_expect_success ROOT 'hard links and symlinks are kept in the layer as links' '
	tar -tvf "$TMP/z.4.tar" >"$TMP/links" &&
	grep -q "^h.* data/hardlink link to data/a/x$\|^h.* data/a/x link to data/hardlink$" "$TMP/links" &&
	grep -q "^l.* data/symlink -> a/x$" "$TMP/links"
'

test_expect_success ROOT,SKOPEO 'skopeo reads the store: skopeo inspect sees the digest cairn reports' '
	skopeo inspect "oci:$CAIRN_ROOT:z:latest" >"$TMP/sk.json" &&
	expect_eq "$(jq -r .Digest "$TMP/sk.json")" "$(cairn inspect z | jq -r .Digest)" &&
	expect_eq "$(jq -r ".Layers | length" "$TMP/sk.json")" "$(cairn inspect z | jq -r ".Manifest.layers | length")"
'

test_expect_success ROOT,SKOPEO 'skopeo copy to another layout keeps the digest (zstd and gzip)' '
	for ref in z g; do
		skopeo copy -q "oci:$CAIRN_ROOT:$ref:latest" "oci:$TMP/copy:$ref" &&
		expect_eq "$(skopeo inspect "oci:$TMP/copy:$ref" | jq -r .Digest)" "$(cairn inspect $ref | jq -r .Digest)" ||
			return 1
	done
'

# skopeo writes the ref name as given ("b"); cairn reads it as b:latest.
test_expect_success ROOT,SKOPEO 'a base tagged "b" by skopeo in the store, with no unpacked layers, is extracted from its blobs' '
	make_busybox_context "$TMP/a" &&
	{ busybox_base && echo "RUN echo from-a > /from-a"; } >"$TMP/a/Recipe" &&
	cairn build -q --compression gzip -t a "$TMP/a" >/dev/null &&
	skopeo copy -q "oci:$CAIRN_ROOT:a:latest" "oci:$CAIRN_ROOT:b" &&
	jq -e ".manifests[] | select(.annotations[\"org.opencontainers.image.ref.name\"] == \"b\")" "$CAIRN_ROOT/index.json" >/dev/null &&
	expect_eq "$(cairn inspect b | jq -r .Digest)" "$(cairn inspect a | jq -r .Digest)" &&
	rm -rf "$CAIRN_ROOT"/cairn/layers/* &&
	mkdir -p "$TMP/onb" &&
	printf "%s\n" "FROM b" "RUN cat /from-a > /seen && /bin/busybox true" >"$TMP/onb/Recipe" &&
	cairn build -q -t onb "$TMP/onb" >/dev/null &&
	rm -rf "$TMP/onb.root" && image_rootfs onb "$TMP/onb.root" &&
	expect_eq "$(cat "$TMP/onb.root/seen")" from-a &&
	test -n "$(ls "$CAIRN_ROOT/cairn/layers")"
'

# ---- --source-date-epoch and --timestamp ----

test_expect_success ROOT '--source-date-epoch overrides the environment and gives the digest SOURCE_DATE_EPOCH gives' '
	d1=$(SOURCE_DATE_EPOCH=1 CAIRN_ROOT="$TMP/sde-opt" "$CAIRN" build -q --source-date-epoch $SDE -t r "$TMP/ctx") &&
	expect_eq "$d1" "$(CAIRN_ROOT="$TMP/s1-zstd" cairn inspect r | jq -r .Digest)"
'

test_expect_success '--source-date-epoch and --timestamp refuse what is not a number of seconds' '
	for v in -1 x 12x ""; do
		test_expect_code 2 cairn build --source-date-epoch "$v" "$TMP/ctx" 2>"$TMP/e1" &&
		grep -q "not a number of seconds since 1970" "$TMP/e1" &&
		test_expect_code 2 cairn build --timestamp "$v" "$TMP/ctx" 2>"$TMP/e2" &&
		grep -q "not a number of seconds since 1970" "$TMP/e2" || return 1
	done
'

TS=1234567890
TS_TAR="2009-02-13 23:31:30"
TS_TIME=2009-02-13T23:31:30Z

# ts_build STORE TAG: builds the recipe with --timestamp $TS (no SOURCE_DATE_EPOCH).
ts_build() {
	env -u SOURCE_DATE_EPOCH CAIRN_ROOT=$1 "$CAIRN" build -q --timestamp $TS -t "$2" "$TMP/ctx"
}

test_expect_success ROOT '--timestamp sets every tar entry of every layer to EPOCH (not a clamp: later and earlier files too)' '
	ts_build "$TMP/ts1" t >/dev/null &&
	n=0 &&
	for l in $(CAIRN_ROOT="$TMP/ts1" cairn inspect t | jq -r ".Manifest.layers[].digest"); do
		decompress "$TMP/ts1/blobs/sha256/${l#sha256:}" | TZ=UTC tar --full-time -tvf - >"$TMP/ts.list" &&
		n=$((n + $(wc -l <"$TMP/ts.list"))) &&
		awk -v t="$TS_TAR" "{ if (\$4 \" \" \$5 != t) { print \"not EPOCH: \" \$0; bad = 1 } } END { exit bad }" "$TMP/ts.list" ||
			return 1
	done &&
	test "$n" -gt 10
'

test_expect_success ROOT '--timestamp sets the config created and every history created to EPOCH' '
	CAIRN_ROOT="$TMP/ts1" cairn inspect t >"$TMP/t.json" &&
	expect_eq "$(jq -r .Config.created "$TMP/t.json")" "$TS_TIME" &&
	expect_eq "$(jq -r "[.Config.history[].created] | unique | join(\" \")" "$TMP/t.json")" "$TS_TIME"
'

test_expect_success ROOT '--timestamp: two builds at different times in different stores give the same digest' '
	d1=$(CAIRN_ROOT="$TMP/ts1" cairn inspect t | jq -r .Digest) &&
	sleep 1 &&
	touch "$TMP/ctx/files/a-b" &&
	d2=$(ts_build "$TMP/ts2" t) &&
	expect_eq "$d1" "$d2"
'

test_expect_success ROOT '--timestamp is part of the cache keys: another EPOCH builds again, in the same store' '
	d1=$(CAIRN_ROOT="$TMP/ts1" cairn inspect t | jq -r .Digest) &&
	d3=$(env -u SOURCE_DATE_EPOCH CAIRN_ROOT="$TMP/ts1" "$CAIRN" build -q --timestamp 1300000000 -t t3 "$TMP/ctx") &&
	test "$d1" != "$d3" &&
	expect_eq "$(CAIRN_ROOT="$TMP/ts1" cairn inspect t3 | jq -r .Config.created)" 2011-03-13T07:06:40Z &&
	d4=$(ts_build "$TMP/ts1" t4) &&
	expect_eq "$d4" "$d1"
'

test_expect_success ROOT '--timestamp leaves the layers of the base image as they are' '
	ts_build "$TMP/ts5" tb >/dev/null &&
	mkdir -p "$TMP/onts" &&
	printf "%s\n" "FROM tb" "RUN echo on > /on" >"$TMP/onts/Recipe" &&
	env -u SOURCE_DATE_EPOCH CAIRN_ROOT="$TMP/ts5" "$CAIRN" build -q --timestamp 1500000000 -t on "$TMP/onts" >/dev/null &&
	CAIRN_ROOT="$TMP/ts5" cairn inspect tb | jq -c ".Manifest.layers" >"$TMP/base.layers" &&
	CAIRN_ROOT="$TMP/ts5" cairn inspect on | jq -c ".Manifest.layers[:-1]" >"$TMP/on.layers" &&
	diff "$TMP/base.layers" "$TMP/on.layers" &&
	expect_eq "$(CAIRN_ROOT="$TMP/ts5" cairn inspect on | jq -r "[.Config.history[].created] | unique | join(\" \")")" \
		"$TS_TIME 2017-07-14T02:40:00Z"
'

test_done
