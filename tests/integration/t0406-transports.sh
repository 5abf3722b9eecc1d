#!/bin/bash
# Images named as skopeo names them: an image built by cairn, copied by skopeo into an
# OCI layout (oci:), a tar of one (oci-archive:) and a docker archive
# (docker-archive:), pulled from each into another store keeps its config and
# diff_ids (and its manifest digest where the format keeps it); docker://REF from a
# loopback registry. cairn diff takes the same names: an image against its copies is
# the same, and docker:// goes into a temporary store, never the store. Malformed input (an ambiguous layout, a tampered blob, a path
# that leaves the archive, no manifest.json, an unknown transport) is refused with
# exit status 2 and a message naming the file. Temporary stores go under $TMPDIR and
# nothing is left there, on success or on error.
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/registry.sh"

export TMPDIR="$TMP/tmpdir"
mkdir -p "$TMPDIR"
S2="$TMP/s2"

# Nothing may be left in $TMPDIR by a command that has ended.
expect_tmpdir_empty() {
	_left=$(ls -A "$TMPDIR")
	[ -z "$_left" ] && return 0
	echo "left in \$TMPDIR: $_left"
	return 1
}

# in2 ARGS...: cairn on the second store.
in2() { CAIRN_ROOT=$S2 "$CAIRN" "$@"; }

# manifest_of STORE-ROOT REF: the manifest document of REF in that store.
config_of() { CAIRN_ROOT=$1 "$CAIRN" inspect "$2" | jq -c .Config; }
diff_ids_of() { CAIRN_ROOT=$1 "$CAIRN" inspect "$2" | jq -c .Config.rootfs.diff_ids; }

if test_have_prereq ROOT,SKOPEO; then
	ctx="$TMP/ctx"
	mkdir -p "$ctx/dir"
	echo one >"$ctx/a"
	echo two >"$ctx/dir/b"
	printf 'FROM scratch\nCOPY a /a\nCOPY dir /dir\nENV X=1\nLABEL l=v\n' >"$ctx/Recipe"
	if ! cairn build -q -t img "$ctx" >"$TMP/img.digest" 2>"$TMP/build.err" ||
		! cairn build -q --compression gzip -t gz "$ctx" >"$TMP/gz.digest" 2>>"$TMP/build.err"; then
		echo "Bail out! the images do not build"
		cat "$TMP/build.err"
		exit 1
	fi
	# skopeo 1.9 writes no zstd layers into a docker archive: gz is the gzip build
	skopeo copy -q "oci:$CAIRN_ROOT:img:latest" "oci:$TMP/layout:img:1" &&
		skopeo copy -q "oci:$CAIRN_ROOT:img:latest" "oci-archive:$TMP/img.tar:img:1" &&
		skopeo copy -q "oci:$CAIRN_ROOT:gz:latest" "docker-archive:$TMP/gz.tar:gz:1" || {
		echo "Bail out! skopeo copy failed"
		exit 1
	}
fi

test_expect_success ROOT,SKOPEO 'oci:DIR:REF pulled into another store keeps the manifest digest and its name' '
	in2 pull -q "oci:$TMP/layout:img:1" >"$TMP/p1" &&
	expect_eq "$(cat "$TMP/p1")" "$(cat "$TMP/img.digest")" &&
	expect_eq "$(in2 inspect img:1 | jq -r .Digest)" "$(cat "$TMP/img.digest")" &&
	expect_eq "$(config_of "$S2" img:1)" "$(config_of "$CAIRN_ROOT" img)" &&
	expect_tmpdir_empty
'

test_expect_success ROOT,SKOPEO 'oci:DIR with one image needs no REF; progress names each blob' '
	rm -rf "$S2" &&
	in2 pull "oci:$TMP/layout" >"$TMP/p2" 2>"$TMP/p2.err" &&
	expect_eq "$(cat "$TMP/p2")" "$(cat "$TMP/img.digest")" &&
	expect_eq "$(grep -c "^copy sha256:" "$TMP/p2.err")" \
		"$(( $(cairn inspect img | jq ".Manifest.layers | length") + 1 ))" &&
	in2 pull "oci:$TMP/layout" >/dev/null 2>"$TMP/p2b.err" &&
	! grep -q "^copy" "$TMP/p2b.err" && grep -q "^have sha256:" "$TMP/p2b.err"
'

test_expect_success ROOT,SKOPEO 'oci-archive:FILE pulled into another store keeps the manifest digest' '
	rm -rf "$S2" &&
	in2 pull -q "oci-archive:$TMP/img.tar" >"$TMP/p3" &&
	expect_eq "$(cat "$TMP/p3")" "$(cat "$TMP/img.digest")" &&
	expect_eq "$(in2 inspect img:1 | jq -r .Digest)" "$(cat "$TMP/img.digest")" &&
	expect_eq "$(diff_ids_of "$S2" img:1)" "$(diff_ids_of "$CAIRN_ROOT" img)" &&
	expect_tmpdir_empty
'

test_expect_success ROOT,SKOPEO 'docker-archive:FILE keeps config and diff_ids, tagged by its RepoTags made full' '
	in2 pull -q "docker-archive:$TMP/gz.tar" >"$TMP/p4" &&
	expect_eq "$(in2 inspect docker.io/library/gz:1 | jq -r .Digest)" "$(cat "$TMP/p4")" &&
	expect_eq "$(config_of "$S2" docker.io/library/gz:1)" "$(config_of "$CAIRN_ROOT" gz)" &&
	expect_eq "$(in2 inspect docker.io/library/gz:1 | jq -r .Manifest.config.digest)" \
		"$(cairn inspect gz | jq -r .Manifest.config.digest)" &&
	expect_eq "$(diff_ids_of "$S2" docker.io/library/gz:1)" "$(diff_ids_of "$CAIRN_ROOT" gz)" &&
	in2 inspect docker.io/library/gz:1 | jq -r ".Manifest.mediaType, .Manifest.layers[].mediaType" |
		sort -u >"$TMP/types" &&
	printf "%s\n" application/vnd.docker.distribution.manifest.v2+json \
		application/vnd.docker.image.rootfs.diff.tar >"$TMP/types.want" &&
	cmp "$TMP/types" "$TMP/types.want" &&
	in2 pull -q "docker-archive:$TMP/gz.tar:gz:1" >"$TMP/p4b" &&
	expect_eq "$(cat "$TMP/p4b")" "$(cat "$TMP/p4")" &&
	expect_tmpdir_empty
'

# The same archive in the layouts docker save writes: before docker 25 each layer
# as ID/layer.tar (here the links skopeo writes beside the files), from 25 on, an
# OCI layout with every file under blobs/sha256 and manifest.json naming them.
relayout() {
	python3 - "$@" <<-'EOF'
	import hashlib, io, json, sys, tarfile
	src, dst, mode = sys.argv[1:4]
	files, links = {}, {}
	with tarfile.open(src) as t:
	    for m in t.getmembers():
	        if m.issym():
	            links[m.name] = m.linkname
	        elif m.isfile():
	            files[m.name] = t.extractfile(m).read()
	man = json.loads(files["manifest.json"])
	out = {}
	if mode == "old":
	    # Layers named by the ID/layer.tar links that point at them
	    back = {v.split("/")[-1]: k for k, v in links.items()}
	    for img in man:
	        img["Layers"] = [back[p] for p in img["Layers"]]
	    out = dict(files)
	    out["manifest.json"] = json.dumps(man).encode()
	else:
	    def blob(name):
	        data = files[name]
	        path = "blobs/sha256/" + hashlib.sha256(data).hexdigest()
	        out[path] = data
	        return path
	    for img in man:
	        img["Config"] = blob(img["Config"])
	        img["Layers"] = [blob(p) for p in img["Layers"]]
	    out["manifest.json"] = json.dumps(man).encode()
	with tarfile.open(dst, "w") as t:
	    for name, data in sorted(out.items()):
	        i = tarfile.TarInfo(name)
	        i.size = len(data)
	        t.addfile(i, io.BytesIO(data))
	    if mode == "old":
	        for name, target in links.items():
	            i = tarfile.TarInfo(name)
	            i.type = tarfile.SYMTYPE
	            i.linkname = target
	            t.addfile(i)
	EOF
}

test_expect_success ROOT,SKOPEO,PYTHON 'docker-archive in the layouts of docker save, old (ID/layer.tar links) and new (blobs/sha256)' '
	relayout "$TMP/gz.tar" "$TMP/gz-old.tar" old &&
	relayout "$TMP/gz.tar" "$TMP/gz-new.tar" new &&
	tar -xOf "$TMP/gz-old.tar" manifest.json | grep -q "/layer.tar" &&
	tar -xOf "$TMP/gz-new.tar" manifest.json | grep -q "blobs/sha256/" &&
	in2 pull -q "docker-archive:$TMP/gz-old.tar" >"$TMP/p5" &&
	in2 pull -q "docker-archive:$TMP/gz-new.tar" >"$TMP/p6" &&
	expect_eq "$(cat "$TMP/p5")" "$(cat "$TMP/p4")" &&
	expect_eq "$(cat "$TMP/p6")" "$(cat "$TMP/p4")"
'

test_expect_success ROOT,SKOPEO 'a ref name that is only a tag is put after the layout name' '
	skopeo copy -q "oci:$CAIRN_ROOT:img:latest" "oci:$TMP/myapp:v2" &&
	in2 pull -q "oci:$TMP/myapp:v2" >/dev/null &&
	expect_eq "$(in2 inspect myapp:v2 | jq -r .Digest)" "$(cat "$TMP/img.digest")"
'

test_expect_success ROOT,SKOPEO 'a layout of two images without REF is an error listing them; REF and @N choose' '
	skopeo copy -q "oci:$CAIRN_ROOT:gz:latest" "oci:$TMP/layout:gz:1" &&
	test_expect_code 2 in2 pull -q "oci:$TMP/layout" 2>"$TMP/two.err" &&
	expect_contains "$(cat "$TMP/two.err")" "oci:$TMP/layout: the layout holds 2 images" &&
	expect_contains "$(cat "$TMP/two.err")" "img:1, gz:1" &&
	expect_eq "$(in2 pull -q "oci:$TMP/layout:gz:1")" "$(cat "$TMP/gz.digest")" &&
	expect_eq "$(in2 pull -q "oci:$TMP/layout:@0")" "$(cat "$TMP/img.digest")" &&
	test_expect_code 1 in2 pull -q "oci:$TMP/layout:nope" 2>"$TMP/nope.err" &&
	expect_contains "$(cat "$TMP/nope.err")" "has no image nope (it has: img:1, gz:1)"
'

# tamper FILE: one byte of FILE changed.
tamper() {
	chmod u+w "$1" && printf X | dd of="$1" bs=1 seek=40 conv=notrunc 2>/dev/null
}

test_expect_success ROOT 'a cairn store of one image and its provenance is a layout of one image' '
	CAIRN_ROOT="$TMP/one" cairn build -q -t one "$ctx" >"$TMP/one.digest" &&
	expect_eq "$(jq "[.manifests[] | select(.artifactType)] | length" "$TMP/one/index.json")" 1 &&
	cairn diff --ignore-timestamps "oci:$TMP/one" img &&
	cairn diff --ignore-timestamps "oci:$TMP/one:@0" img &&
	test_expect_code 2 cairn diff "oci:$TMP/one:@1" img 2>"$TMP/one.err"
'

test_expect_success ROOT,SKOPEO 'a tampered layer of a layout or an OCI archive is refused, nothing tagged' '
	rm -rf "$TMP/bad" "$TMP/badx" "$TMP/s3" && cp -r "$TMP/layout" "$TMP/bad" &&
	layer=$(cairn inspect img | jq -r ".Manifest.layers[0].digest") &&
	tamper "$TMP/bad/blobs/sha256/${layer#sha256:}" &&
	test_expect_code 2 env CAIRN_ROOT="$TMP/s3" "$CAIRN" pull -q "oci:$TMP/bad:img:1" 2>"$TMP/t1.err" &&
	expect_contains "$(cat "$TMP/t1.err")" "oci:$TMP/bad:img:1: copying blob $layer" &&
	expect_contains "$(cat "$TMP/t1.err")" "expected $layer" &&
	expect_eq "$(jq ".manifests | length" "$TMP/s3/index.json")" 0 &&
	! test -e "$TMP/s3/blobs/sha256/${layer#sha256:}" &&
	mkdir "$TMP/badx" && tar -xf "$TMP/img.tar" -C "$TMP/badx" &&
	tamper "$TMP/badx/blobs/sha256/${layer#sha256:}" &&
	tar -cf "$TMP/bad.tar" -C "$TMP/badx" . &&
	test_expect_code 2 env CAIRN_ROOT="$TMP/s3" "$CAIRN" pull -q "oci-archive:$TMP/bad.tar" 2>"$TMP/t2.err" &&
	expect_contains "$(cat "$TMP/t2.err")" "oci-archive:$TMP/bad.tar: blobs/sha256/${layer#sha256:}" &&
	expect_contains "$(cat "$TMP/t2.err")" "expected $layer" &&
	expect_tmpdir_empty
'

# redo SRC DST JQ: the docker archive SRC with its manifest.json through JQ, as DST.
redo() {
	rm -rf "$TMP/redo" && mkdir "$TMP/redo" && tar -xf "$1" -C "$TMP/redo" &&
		jq -c "$3" "$TMP/redo/manifest.json" >"$TMP/redo/m" &&
		mv "$TMP/redo/m" "$TMP/redo/manifest.json" &&
		tar -cf "$2" -C "$TMP/redo" .
}

test_expect_success ROOT,SKOPEO 'a docker archive whose layer path leaves the archive is refused' '
	redo "$TMP/gz.tar" "$TMP/esc.tar" ".[0].Layers[0] = \"../../../etc/passwd\"" &&
	test_expect_code 2 in2 pull -q "docker-archive:$TMP/esc.tar" 2>"$TMP/esc.err" &&
	expect_contains "$(cat "$TMP/esc.err")" \
		"docker-archive:$TMP/esc.tar: manifest.json: the layer 0 path '\''../../../etc/passwd'\'' leaves the archive" &&
	redo "$TMP/gz.tar" "$TMP/esc2.tar" ".[0].Config = \"a/../../x.json\"" &&
	test_expect_code 2 in2 pull -q "docker-archive:$TMP/esc2.tar" 2>"$TMP/esc2.err" &&
	expect_contains "$(cat "$TMP/esc2.err")" "the config path '\''a/../../x.json'\'' leaves the archive" &&
	expect_tmpdir_empty
'

test_expect_success ROOT,SKOPEO,PYTHON 'an archive entry named outside the archive, or a link out of it, is refused' '
	python3 -c "
import io, sys, tarfile
with tarfile.open(sys.argv[1], \"w\") as t:
    i = tarfile.TarInfo(\"../evil\"); i.size = 1; t.addfile(i, io.BytesIO(b\"x\"))
" "$TMP/evil.tar" &&
	test_expect_code 2 in2 pull -q "docker-archive:$TMP/evil.tar" 2>"$TMP/evil.err" &&
	expect_contains "$(cat "$TMP/evil.err")" "the entry '\''../evil'\'' leaves the archive" &&
	test_expect_code 2 in2 pull -q "oci-archive:$TMP/evil.tar" 2>"$TMP/evil2.err" &&
	expect_contains "$(cat "$TMP/evil2.err")" "the entry '\''../evil'\'' leaves the archive" &&
	relayout "$TMP/gz.tar" "$TMP/gz-old.tar" old &&
	rm -rf "$TMP/lk" && mkdir "$TMP/lk" && tar -xf "$TMP/gz-old.tar" -C "$TMP/lk" &&
	first=$(jq -r ".[0].Layers[0]" "$TMP/lk/manifest.json") &&
	ln -sfn ../../../etc/passwd "$TMP/lk/$first" &&
	tar -cf "$TMP/lk.tar" -C "$TMP/lk" . &&
	test_expect_code 2 in2 pull -q "docker-archive:$TMP/lk.tar" 2>"$TMP/lk.err" &&
	expect_contains "$(cat "$TMP/lk.err")" "is a link that leads out of the archive" &&
	expect_tmpdir_empty
'

test_expect_success ROOT,SKOPEO 'a docker archive layer that does not match its diff_id, or its name, is refused' '
	rm -rf "$TMP/dl" && mkdir "$TMP/dl" && tar -xf "$TMP/gz.tar" -C "$TMP/dl" &&
	first=$(jq -r ".[0].Layers[0]" "$TMP/dl/manifest.json") &&
	tamper "$TMP/dl/$first" &&
	tar -cf "$TMP/dl.tar" -C "$TMP/dl" . &&
	test_expect_code 2 in2 pull -q "docker-archive:$TMP/dl.tar" 2>"$TMP/dl.err" &&
	expect_contains "$(cat "$TMP/dl.err")" "$first has digest" &&
	expect_contains "$(cat "$TMP/dl.err")" "not the one its name says" &&
	mv "$TMP/dl/$first" "$TMP/dl/renamed.tar" &&
	jq -c ".[0].Layers[0] = \"renamed.tar\"" "$TMP/dl/manifest.json" >"$TMP/dl/m" &&
	mv "$TMP/dl/m" "$TMP/dl/manifest.json" &&
	tar -cf "$TMP/dl2.tar" -C "$TMP/dl" . &&
	test_expect_code 2 in2 pull -q "docker-archive:$TMP/dl2.tar" 2>"$TMP/dl2.err" &&
	expect_contains "$(cat "$TMP/dl2.err")" "the layer renamed.tar has diff_id" &&
	expect_contains "$(cat "$TMP/dl2.err")" "the config says sha256:${first%.tar}" &&
	expect_tmpdir_empty
'

test_expect_success ROOT,SKOPEO 'an archive without manifest.json or index.json, and an unknown transport, are errors' '
	rm -rf "$TMP/nm" && mkdir "$TMP/nm" && tar -xf "$TMP/gz.tar" -C "$TMP/nm" &&
	rm "$TMP/nm/manifest.json" && tar -cf "$TMP/nm.tar" -C "$TMP/nm" . &&
	test_expect_code 2 in2 pull -q "docker-archive:$TMP/nm.tar" 2>"$TMP/nm.err" &&
	expect_contains "$(cat "$TMP/nm.err")" "docker-archive:$TMP/nm.tar: no manifest.json in it" &&
	test_expect_code 2 in2 pull -q "oci-archive:$TMP/nm.tar" 2>"$TMP/ni.err" &&
	expect_contains "$(cat "$TMP/ni.err")" "oci-archive:$TMP/nm.tar: no index.json in it" &&
	test_expect_code 2 in2 pull -q "dir:$TMP/layout" 2>"$TMP/dir.err" &&
	expect_contains "$(cat "$TMP/dir.err")" "cairn does not read the transport \"dir:\"" &&
	test_expect_code 2 in2 pull -q "ftp://x/y" 2>"$TMP/ftp.err" &&
	expect_contains "$(cat "$TMP/ftp.err")" "unknown transport" &&
	test_expect_code 2 in2 pull -q "oci-archive:" &&
	test_expect_code 2 in2 pull -q "oci-archive:/etc/passwd" 2>"$TMP/nt.err" &&
	expect_contains "$(cat "$TMP/nt.err")" "oci-archive:/etc/passwd: not a tar archive" &&
	expect_tmpdir_empty
'

test_expect_success ROOT,SKOPEO 'cairn diff: an image against its copies in a layout and an OCI archive is the same' '
	cairn diff img "oci:$TMP/layout:img:1" &&
	cairn diff img "oci-archive:$TMP/img.tar" &&
	cairn diff --semantic "oci-archive:$TMP/img.tar" "oci:$TMP/layout:img:1" &&
	test_expect_code 1 cairn diff -q img "oci:$TMP/layout:gz:1" &&
	expect_tmpdir_empty
'

test_expect_success ROOT,SKOPEO 'cairn diff: a skopeo copy compressed another way differs in descriptors only; --semantic: the same' '
	skopeo copy -q --dest-compress --dest-compress-format gzip \
		"oci:$CAIRN_ROOT:img:latest" "oci:$TMP/regz:img" &&
	test_expect_code 1 cairn diff img "oci:$TMP/regz:img" >"$TMP/rz" &&
	grep -q "^layer .*mediaType" "$TMP/rz" &&
	! grep -qE "^(config|history|file|index) " "$TMP/rz" &&
	cairn diff --semantic img "oci:$TMP/regz:img" >"$TMP/rz.sem" &&
	! test -s "$TMP/rz.sem" &&
	cairn diff img img >"$TMP/self" &&
	! test -s "$TMP/self"
'

test_expect_success ROOT,SKOPEO 'cairn diff: a docker archive differs from its source only in descriptors' '
	test_expect_code 1 cairn diff gz "docker-archive:$TMP/gz.tar" >"$TMP/d1" &&
	grep -q "^layer " "$TMP/d1" &&
	! grep -qE "^(config|history|file|index) " "$TMP/d1" &&
	cairn diff --semantic "docker-archive:$TMP/gz.tar" "docker-archive:$TMP/gz-new.tar" &&
	expect_tmpdir_empty
'

test_expect_success ROOT,SKOPEO 'cairn diff needs no store when neither side is in one, and writes none' '
	CAIRN_ROOT="$TMP/no-store" "$CAIRN" diff "oci:$TMP/layout:img:1" "oci-archive:$TMP/img.tar" &&
	! test -e "$TMP/no-store" &&
	test_expect_code 2 env CAIRN_ROOT="$TMP/no-store" "$CAIRN" diff img "oci:$TMP/layout:img:1" &&
	! test -e "$TMP/no-store"
'

test_expect_success ROOT,SKOPEO 'cairn diff refuses a layout whose layer does not match its digest, and unknown transports' '
	layer=$(cairn inspect img | jq -r ".Manifest.layers[0].digest") &&
	test_expect_code 2 cairn diff img "oci:$TMP/bad:img:1" 2>"$TMP/db.err" &&
	expect_contains "$(cat "$TMP/db.err")" "oci:$TMP/bad:img:1: blob $layer has digest" &&
	test_expect_code 2 cairn diff img "dir:$TMP/layout" 2>"$TMP/dd.err" &&
	expect_contains "$(cat "$TMP/dd.err")" "does not read the transport" &&
	test_expect_code 2 cairn diff img "docker-archive:$TMP/esc.tar" &&
	expect_tmpdir_empty
'

# The replies of the bash completion for the command line $1, one a line.
completions() {
	_comp=${CAIRN_BASH_COMPLETION:-}
	if [ -z "$_comp" ]; then
		_comp=$TMP/cairn.bash
		[ -f "$_comp" ] || "$CAIRN_SOURCE_ROOT/contrib/completion/generate.sh" "$CAIRN" \
			"$CAIRN_SOURCE_ROOT/contrib/completion/cairn.bash.in" "$_comp"
	fi
	mkdir -p "$TMP/bin" && ln -sf "$(readlink -f "$CAIRN")" "$TMP/bin/cairn"
	PATH="$TMP/bin:$PATH" bash -c '
		. "$1" || exit 1
		COMP_LINE=$2
		COMP_POINT=${#2}
		_cairn cairn
		printf "%s\n" "${COMPREPLY[@]}"
	' completion "$_comp" "$1"
}

test_expect_success 'pull completes the transports, and the file after one' '
	touch "$TMP/some-archive.tar" &&
	completions "cairn pull oci-a" >"$TMP/c1" &&
	grep -qxF "oci-archive:" "$TMP/c1" &&
	completions "cairn pull " >"$TMP/c2" &&
	grep -qxF "docker://" "$TMP/c2" && grep -qxF "docker-archive:" "$TMP/c2" &&
	completions "cairn pull docker-archive:$TMP/some-ar" >"$TMP/c3" &&
	grep -qxF "$TMP/some-archive.tar" "$TMP/c3" &&
	completions "cairn diff img oci-ar" >"$TMP/c4" &&
	grep -qxF "oci-archive:" "$TMP/c4"
'

if test_have_prereq ROOT,SKOPEO,REGISTRY; then
	start_registry open
	reg="127.0.0.1:$port"
fi

test_expect_success ROOT,SKOPEO,REGISTRY 'docker://REF pulls from the registry as a plain reference does' '
	cairn push -q img "$reg/test/img:1" >/dev/null &&
	rm -rf "$S2" &&
	in2 pull -q "docker://$reg/test/img:1" >"$TMP/r1" &&
	expect_eq "$(cat "$TMP/r1")" "$(cat "$TMP/img.digest")" &&
	expect_eq "$(in2 inspect "$reg/test/img:1" | jq -r .Digest)" "$(cat "$TMP/img.digest")" &&
	expect_tmpdir_empty
'

test_expect_success ROOT,SKOPEO,REGISTRY 'cairn diff of docker://REF pulls into a temporary store, never the store' '
	find "$CAIRN_ROOT/blobs" -type f | sort >"$TMP/blobs.before" &&
	cp "$CAIRN_ROOT/index.json" "$TMP/index.before" &&
	cairn diff img "docker://$reg/test/img:1" 2>"$TMP/dr.err" &&
	find "$CAIRN_ROOT/blobs" -type f | sort >"$TMP/blobs.after" &&
	cmp "$TMP/blobs.before" "$TMP/blobs.after" &&
	cmp "$TMP/index.before" "$CAIRN_ROOT/index.json" &&
	expect_tmpdir_empty &&
	test_expect_code 1 cairn diff -q gz "docker://$reg/test/img:1" &&
	test_expect_code 2 cairn diff img "docker://$reg/test/nope:1" 2>"$TMP/dn.err" &&
	expect_contains "$(cat "$TMP/dn.err")" "test/nope" &&
	expect_tmpdir_empty
'

test_done
