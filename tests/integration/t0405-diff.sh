#!/bin/bash
# cairn diff: images that differ in exactly one thing each, and the diff names that
# thing and nothing else (the whole output is compared, so an extra row fails);
# the same image against itself and against a copy compressed another way; each
# ignore option leaves out its own difference; --json, --report-dir, -q and the
# exit statuses. Images come from cairn build (COPY of prepared files) and, where a
# build cannot make the difference alone (an owner, an xattr, entry order, a tar
# format, header mode bits, a history line), from layers written by python's
# tarfile straight into the store's OCI layout.
. "$(dirname "$0")/lib.sh"

# Every file time below is before it, so the clamp leaves them as they are.
export SOURCE_DATE_EPOCH=2000000000

# mkimage TAG JSON: an image written into the store's layout by python alone.
# JSON: {"layers": [[ENTRY...]...], "env": [...], "history": [...], "created": T,
# "trailing": N (zero bytes after the tar), "garbage": TEXT (each layer that text, no tar),
# "format": "pax"|"ustar"|"gnu", "annotations": {...}, "index": true or [ARCH...]
# (the manifest under each; true: this machine's), "index_annotations": {...}}; ENTRY:
# {"name", "type": file|dir|symlink|hardlink, "data", "mode", "uid", "gid",
# "uname", "gname", "mtime", "link", "xattrs": {...}, "rawmode": "0100644"}.
cat >"$TMP/mkimage.py" <<'PY'
import hashlib, io, json, os, sys, tarfile
root, tag, spec = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
blobs = os.path.join(root, "blobs", "sha256")
os.makedirs(blobs, exist_ok=True)
if not os.path.exists(os.path.join(root, "oci-layout")):
    with open(os.path.join(root, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
def put(data):
    d = hashlib.sha256(data).hexdigest()
    with open(os.path.join(blobs, d), "wb") as f:
        f.write(data)
    return "sha256:" + d, len(data)
fmt = {"pax": tarfile.PAX_FORMAT, "ustar": tarfile.USTAR_FORMAT,
       "gnu": tarfile.GNU_FORMAT}[spec.get("format", "pax")]
def patch_mode(data, name, raw):
    data = bytearray(data)
    off = 0
    while off + 512 <= len(data) and any(data[off:off + 512]):
        h = data[off:off + 512]
        size = int(h[124:136].strip(b"\0 ") or b"0", 8)
        if h[0:100].rstrip(b"\0").decode() == name and h[156:157] in (b"0", b"\0"):
            data[off + 100:off + 108] = raw.encode().rjust(7, b"0") + b"\0"
            data[off + 148:off + 156] = b"        "
            s = sum(data[off:off + 512])
            data[off + 148:off + 156] = b"%06o\0 " % s
        off += 512 + (size + 511) // 512 * 512
    return bytes(data)
layers, diff_ids = [], []
for entries in spec["layers"]:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for e in entries:
            typ = e.get("type", "file")
            ti = tarfile.TarInfo(e["name"])
            ti.mode = e.get("mode", 0o755 if typ == "dir" else 0o644)
            ti.uid, ti.gid = e.get("uid", 0), e.get("gid", 0)
            ti.uname, ti.gname = e.get("uname", ""), e.get("gname", "")
            ti.mtime = e.get("mtime", 1000000000)
            if e.get("xattrs"):
                ti.pax_headers = {"SCHILY.xattr." + k: v for k, v in e["xattrs"].items()}
            data = e.get("data", "").encode()
            if typ == "dir":
                ti.type = tarfile.DIRTYPE
            elif typ == "symlink":
                ti.type, ti.linkname = tarfile.SYMTYPE, e["link"]
            elif typ == "hardlink":
                ti.type, ti.linkname = tarfile.LNKTYPE, e["link"]
            else:
                ti.size = len(data)
            t.addfile(ti, io.BytesIO(data) if typ == "file" else None)
    tar = buf.getvalue() + b"\0" * spec.get("trailing", 0)
    if spec.get("garbage"):
        tar = spec["garbage"].encode()
    for e in entries:
        if "rawmode" in e:
            tar = patch_mode(tar, e["name"], e["rawmode"])
    diff_ids.append("sha256:" + hashlib.sha256(tar).hexdigest())
    dg, size = put(tar)
    layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": dg, "size": size})
arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)
config = {"architecture": arch, "os": "linux",
          "config": {"Env": spec.get("env", ["PATH=/bin"])},
          "rootfs": {"type": "layers", "diff_ids": diff_ids},
          "history": spec.get("history", [])}
if "created" in spec:
    config["created"] = spec["created"]
cdg, csize = put(json.dumps(config, sort_keys=True).encode())
manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cdg, "size": csize},
            "layers": layers}
if "annotations" in spec:
    manifest["annotations"] = spec["annotations"]
mdg, msize = put(json.dumps(manifest, sort_keys=True).encode())
top = {"mediaType": manifest["mediaType"], "digest": mdg, "size": msize}
if spec.get("index"):
    arches = spec["index"] if isinstance(spec["index"], list) else [arch]
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": [dict(top, platform={"os": "linux", "architecture": a}) for a in arches]}
    if "index_annotations" in spec:
        index["annotations"] = spec["index_annotations"]
    idg, isize = put(json.dumps(index, sort_keys=True).encode())
    top = {"mediaType": index["mediaType"], "digest": idg, "size": isize}
path = os.path.join(root, "index.json")
ix = json.load(open(path)) if os.path.exists(path) else {"schemaVersion": 2, "manifests": []}
ref = tag if ":" in tag else tag + ":latest"
ix["manifests"] = [m for m in ix["manifests"]
                   if m.get("annotations", {}).get("org.opencontainers.image.ref.name") != ref]
ix["manifests"].append(dict(top, annotations={"org.opencontainers.image.ref.name": ref}))
with open(path, "w") as f:
    json.dump(ix, f)
PY
mkimage() { python3 "$TMP/mkimage.py" "$CAIRN_ROOT" "$1" "$2"; }

# expect_diff WANT CAIRN-DIFF-ARGS...: cairn diff exits 1 and prints exactly WANT.
expect_diff() {
	_want=$1
	shift
	_rc=0
	cairn diff "$@" >"$TMP/diff.out" 2>"$TMP/diff.err" || _rc=$?
	cat "$TMP/diff.err"
	expect_eq "$_rc" 1 &&
		expect_eq "$(cat "$TMP/diff.out")" "$_want"
}

# expect_same CAIRN-DIFF-ARGS...: cairn diff exits 0 and prints nothing.
expect_same() {
	_rc=0
	cairn diff "$@" >"$TMP/diff.out" 2>"$TMP/diff.err" || _rc=$?
	cat "$TMP/diff.out" "$TMP/diff.err"
	expect_eq "$_rc" 0 &&
		expect_eq "$(cat "$TMP/diff.out" "$TMP/diff.err")" ""
}

# built NAME: a context $TMP/NAME whose files/ are copied into the image; its
# files made as the base has them (the caller then changes one thing).
built() {
	rm -rf "${TMP:?}/$1"
	mkdir -p "$TMP/$1/files/d"
	printf 'hello\n' >"$TMP/$1/files/a"
	printf 'x\n' >"$TMP/$1/files/b"
	printf 'e\n' >"$TMP/$1/files/d/e"
	chmod 644 "$TMP/$1/files/a" "$TMP/$1/files/b" "$TMP/$1/files/d/e"
	chmod 755 "$TMP/$1/files/d"
	touch -d @1000000000 "$TMP/$1/files/a" "$TMP/$1/files/b" "$TMP/$1/files/d/e" \
		"$TMP/$1/files/d"
	printf 'FROM scratch\nCOPY files/ /\nENV X=1\n' >"$TMP/$1/Recipe"
}

# (no cache: COPY's cache key leaves out mtimes, as docker's)
build_ctx() { cairn build -q --no-cache -t "$1" "$TMP/$1" >/dev/null; }

test_expect_success ROOT 'an image against itself: exit 0 and no output' '
	built base && build_ctx base &&
	expect_same base base &&
	expect_same base "$(ref_digest base:latest)"
'

test_expect_success ROOT 'a file mode: the file and its mode, nothing else' '
	built mode && chmod 600 "$TMP/mode/files/b" && build_ctx mode &&
	expect_diff "TYPE  NAME    A     B
file  b mode  0644  0600" base mode
'

test_expect_success ROOT 'a file content: its sha256, nothing else' '
	built content && printf "y\n" >"$TMP/content/files/b" &&
	touch -d @1000000000 "$TMP/content/files/b" && build_ctx content &&
	a=$(printf "x\n" | sha256sum | cut -c1-12) && b=$(printf "y\n" | sha256sum | cut -c1-12) &&
	expect_diff "TYPE  NAME      A                    B
file  b sha256  sha256:$a  sha256:$b" base content
'

test_expect_success ROOT 'a file mtime: its mtime, nothing else' '
	built mtime && touch -d @1100000000 "$TMP/mtime/files/d/e" && build_ctx mtime &&
	expect_diff "TYPE  NAME       A                     B
file  d/e mtime  2001-09-09T01:46:40Z  2004-11-09T11:33:20Z" base mtime
'

test_expect_success ROOT 'a deleted file: the file, on one side' '
	built deleted && rm "$TMP/deleted/files/a" && build_ctx deleted &&
	expect_diff "TYPE  NAME  A     B
file  a     file  -" base deleted
'

test_expect_success ROOT 'an ENV line: the variable and the history line that set it' '
	built env && printf "FROM scratch\nCOPY files/ /\nENV X=2\n" >"$TMP/env/Recipe" &&
	build_ctx env &&
	expect_diff "TYPE     NAME          A        B
config   Env/X         1        2
history  1/created_by  ENV X=1  ENV X=2" base env
'

test_expect_success ROOT 'one image compressed two ways: the layer descriptors only; --semantic: nothing' '
	cairn build -q --compression gzip -t gz "$TMP/base" >/dev/null &&
	da=$(cairn inspect base | jq -r ".Manifest.layers[0].digest" | cut -c1-19) &&
	db=$(cairn inspect gz | jq -r ".Manifest.layers[0].digest" | cut -c1-19) &&
	sa=$(cairn inspect base | jq -r ".Manifest.layers[0].size") &&
	sb=$(cairn inspect gz | jq -r ".Manifest.layers[0].size") &&
	expect_diff "TYPE   NAME         A                                         B
layer  0 digest     $da                       $db
layer  0 mediaType  application/vnd.oc...e.layer.v1.tar+zstd  application/vnd.oc...e.layer.v1.tar+gzip
layer  0 size       $(printf "%-40s" "$sa")  $sb" base gz &&
	expect_same --semantic base gz &&
	expect_same --ignore-tar-format base gz
'

test_expect_success ROOT '--ignore-file-timestamps leaves out the mtime' '
	expect_same --ignore-file-timestamps base mtime
'

test_expect_success ROOT,PYTHON '--json is one document with every difference and a summary' '
	cairn diff --json base env >"$TMP/j.json"; test $? = 1 &&
	python3 -c "
import json, sys
d = json.load(open(sys.argv[1]))
assert d[\"a\"][\"name\"] == \"base:latest\" and d[\"b\"][\"name\"] == \"env:latest\", d
assert d[\"differences\"] == [
    {\"type\": \"config\", \"name\": \"Env/X\", \"a\": \"1\", \"b\": \"2\", \"layer\": None},
    {\"type\": \"history\", \"name\": \"1/created_by\", \"a\": \"ENV X=1\", \"b\": \"ENV X=2\", \"layer\": None}], d
assert d[\"summary\"] == {\"same\": False, \"count\": 2, \"by_type\": {\"config\": 1, \"history\": 1}}, d
" "$TMP/j.json" &&
	cairn diff --json base base >"$TMP/j2.json" &&
	expect_eq "$(jq -c .summary "$TMP/j2.json")" "{\"same\":true,\"count\":0,\"by_type\":{}}" &&
	cairn diff --json base mode >"$TMP/j3.json"; test $? = 1 &&
	expect_eq "$(jq -c ".differences[0]" "$TMP/j3.json")" \
		"{\"type\":\"file\",\"name\":\"b mode\",\"a\":\"0644\",\"b\":\"0600\",\"layer\":0}"
'

test_expect_success ROOT '--report-dir holds exactly the differing files of each side' '
	cairn diff -q --report-dir "$TMP/rep" base content; test $? = 1 &&
	expect_eq "$(cd "$TMP/rep" && find . | sort | tr "\n" " ")" ". ./a ./a/b ./b ./b/b " &&
	expect_eq "$(cat "$TMP/rep/a/b")" x &&
	expect_eq "$(cat "$TMP/rep/b/b")" y &&
	cairn diff -q --report-dir "$TMP/rep2" base deleted; test $? = 1 &&
	expect_eq "$(cd "$TMP/rep2" && find . | sort | tr "\n" " ")" ". ./a ./a/a ./b "
'

test_expect_success ROOT '-q prints nothing; the status tells' '
	cairn diff -q base mode >"$TMP/q.out" 2>&1; test $? = 1 &&
	expect_eq "$(cat "$TMP/q.out")" "" &&
	cairn diff -q base base >"$TMP/q.out" 2>&1 &&
	expect_eq "$(cat "$TMP/q.out")" ""
'

# ---- hand-made images ----

A='{"name": "a", "data": "hello\n"}'
B='{"name": "b", "data": "x\n"}'

test_expect_success PYTHON 'hand-made: the same image twice is the same' '
	mkimage h-base "{\"layers\": [[$A, $B]]}" &&
	mkimage h-base2 "{\"layers\": [[$A, $B]]}" &&
	expect_same h-base h-base2
'

test_expect_success PYTHON 'an owner: uid and user name, nothing else' '
	mkimage h-owner "{\"layers\": [[$A, {\"name\": \"b\", \"data\": \"x\n\", \"uid\": 1000, \"uname\": \"me\"}]]}" &&
	expect_diff "TYPE  NAME     A  B
file  b uid    0  1000
file  b uname  -  me" h-base h-owner
'

test_expect_success PYTHON 'an xattr: its name and values' '
	mkimage h-x1 "{\"layers\": [[$A, {\"name\": \"b\", \"data\": \"x\n\", \"xattrs\": {\"user.k\": \"one\"}}]]}" &&
	mkimage h-x2 "{\"layers\": [[$A, {\"name\": \"b\", \"data\": \"x\n\", \"xattrs\": {\"user.k\": \"two\"}}]]}" &&
	expect_diff "TYPE  NAME            A    B
file  b xattr/user.k  one  two" h-x1 h-x2 &&
	# a ustar header cannot carry an xattr: adding one makes the entry pax
	expect_diff "TYPE  NAME            A      B
file  b xattr/user.k  -      one
file  b format        ustar  pax" h-base h-x1
'

test_expect_success PYTHON 'entry order: the first entry out of place; --ignore-file-order: nothing' '
	mkimage h-order "{\"layers\": [[$B, $A]]}" &&
	expect_diff "TYPE  NAME     A  B
file  a order  1  2" h-base h-order &&
	expect_same --ignore-file-order h-base h-order
'

test_expect_success PYTHON 'an env var alone: Env/NAME' '
	mkimage h-env "{\"layers\": [[$A, $B]], \"env\": [\"PATH=/bin\", \"LANG=C\"]}" &&
	expect_diff "TYPE    NAME      A  B
config  Env/LANG  -  C" h-base h-env
'

test_expect_success PYTHON 'a history line: the entry and field; --ignore-history: nothing' '
	mkimage h-h1 "{\"layers\": [[$A, $B]], \"history\": [{\"created_by\": \"COPY . /\"}]}" &&
	mkimage h-h2 "{\"layers\": [[$A, $B]], \"history\": [{\"created_by\": \"COPY ./ /\"}]}" &&
	expect_diff "TYPE     NAME          A         B
history  0/created_by  COPY . /  COPY ./ /" h-h1 h-h2 &&
	expect_same --ignore-history h-h1 h-h2
'

test_expect_success PYTHON 'created times; --ignore-timestamps: nothing' '
	mkimage h-t1 "{\"layers\": [[$A, $B]], \"created\": \"2020-01-01T00:00:00Z\", \"history\": [{\"created\": \"2020-01-01T00:00:00Z\", \"created_by\": \"x\"}]}" &&
	mkimage h-t2 "{\"layers\": [[$A, $B]], \"created\": \"2021-01-01T00:00:00Z\", \"history\": [{\"created\": \"2021-01-01T00:00:00Z\", \"created_by\": \"x\"}]}" &&
	expect_diff "TYPE     NAME       A                     B
config   created    2020-01-01T00:00:00Z  2021-01-01T00:00:00Z
history  0/created  2020-01-01T00:00:00Z  2021-01-01T00:00:00Z" h-t1 h-t2 &&
	expect_same --ignore-timestamps h-t1 h-t2
'

test_expect_success PYTHON 'a tar format: each entry'"'"'s format; --ignore-tar-format: nothing' '
	mkimage h-gnu "{\"layers\": [[$A, $B]], \"format\": \"gnu\"}" &&
	mkimage h-ustar "{\"layers\": [[$A, $B]], \"format\": \"ustar\"}" &&
	expect_diff "TYPE  NAME      A      B
file  a format  ustar  gnu
file  b format  ustar  gnu" h-ustar h-gnu &&
	expect_same --ignore-tar-format h-ustar h-gnu
'

test_expect_success PYTHON 'a pax header makes its own entry pax, not the ones after it' '
	mkimage h-px0 "{\"layers\": [[$B, $A]]}" &&
	mkimage h-px1 "{\"layers\": [[{\"name\": \"b\", \"data\": \"x\n\", \"xattrs\": {\"user.k\": \"one\"}}, $A]]}" &&
	expect_diff "TYPE  NAME            A      B
file  b xattr/user.k  -      one
file  b format        ustar  pax" h-px0 h-px1
'

test_expect_success PYTHON 'file type bits in the header mode; --ignore-file-mode-redundant-bits: nothing' '
	mkimage h-raw "{\"layers\": [[$A, {\"name\": \"b\", \"data\": \"x\n\", \"rawmode\": \"100644\"}]]}" &&
	expect_diff "TYPE  NAME    A     B
file  b mode  0644  0100644" h-base h-raw &&
	expect_same --ignore-file-mode-redundant-bits h-base h-raw
'

test_expect_success PYTHON '"./a" and "a": two names; --treat-canonical-paths-equal: one' '
	mkimage h-dot "{\"layers\": [[{\"name\": \"./a\", \"data\": \"hello\n\"}, {\"name\": \"./b\", \"data\": \"x\n\"}]]}" &&
	expect_diff "TYPE  NAME  A     B
file  ./a   -     file
file  ./b   -     file
file  a     file  -
file  b     file  -" h-base h-dot &&
	expect_same --treat-canonical-paths-equal h-base h-dot
'

test_expect_success PYTHON 'image name annotations; --ignore-image-name: nothing' '
	mkimage h-n1 "{\"layers\": [[$A, $B]], \"annotations\": {\"org.opencontainers.image.ref.name\": \"one\"}}" &&
	mkimage h-n2 "{\"layers\": [[$A, $B]], \"annotations\": {\"org.opencontainers.image.ref.name\": \"two\"}}" &&
	expect_diff "TYPE      NAME                                           A    B
manifest  annotations/org.opencontainers.image.ref.name  one  two" h-n1 h-n2 &&
	expect_same --ignore-image-name h-n1 h-n2
'

test_expect_success PYTHON '--semantic leaves out each of those' '
	expect_same --semantic h-base h-order &&
	expect_same --semantic h-h1 h-h2 &&
	expect_same --semantic h-t1 h-t2 &&
	expect_same --semantic h-ustar h-gnu &&
	expect_same --semantic h-base h-raw &&
	expect_same --semantic h-base h-dot &&
	expect_same --semantic h-n1 h-n2
'

test_expect_success PYTHON 'a layer count: the count; the merged filesystems are the same' '
	mkimage h-two "{\"layers\": [[$A], [$B]]}" &&
	expect_diff "TYPE      NAME    A  B
manifest  layers  1  2" h-base h-two
'

test_expect_success PYTHON 'different layer counts: a whiteout applied in the merged filesystem' '
	mkimage h-wh "{\"layers\": [[$A, $B], [{\"name\": \".wh.b\"}]]}" &&
	expect_diff "TYPE      NAME    A     B
manifest  layers  1     2
file      /b      file  -" h-base h-wh &&
	mkimage h-opq "{\"layers\": [[{\"name\": \"d\", \"type\": \"dir\"}, {\"name\": \"d/x\"}], [{\"name\": \"d/.wh..wh..opq\"}, {\"name\": \"d/y\"}]]}" &&
	mkimage h-opq1 "{\"layers\": [[{\"name\": \"d\", \"type\": \"dir\"}, {\"name\": \"d/y\"}]]}" &&
	expect_diff "TYPE      NAME    A  B
manifest  layers  2  1" h-opq h-opq1
'

test_expect_success PYTHON 'tars that differ in no entry: the diff_ids, whatever is ignored' '
	mkimage h-pad "{\"layers\": [[$A, $B]], \"trailing\": 10240}" &&
	da=$(cairn inspect h-base | jq -r ".Config.rootfs.diff_ids[0]" | cut -c1-19) &&
	db=$(cairn inspect h-pad | jq -r ".Config.rootfs.diff_ids[0]" | cut -c1-19) &&
	expect_diff "TYPE   NAME       A                    B
layer  0 diff_id  $da  $db" h-base h-pad &&
	expect_diff "TYPE   NAME       A                    B
layer  0 diff_id  $da  $db" --semantic h-base h-pad
'

test_expect_success PYTHON 'layers with the same diff_id are never read' '
	mkimage h-g1 "{\"layers\": [[]], \"garbage\": \"not a tar\"}" &&
	mkimage h-g2 "{\"layers\": [[]], \"garbage\": \"not a tar\", \"env\": [\"A=1\"]}" &&
	mkimage h-g3 "{\"layers\": [[]], \"garbage\": \"not a tar either\"}" &&
	expect_diff "TYPE    NAME      A     B
config  Env/A     -     1
config  Env/PATH  /bin  -" h-g1 h-g2 &&
	test_expect_code 2 cairn diff h-g1 h-g3 2>"$TMP/g.err" &&
	expect_contains "$(cat "$TMP/g.err")" "reading layer"
'

test_expect_success PYTHON 'an index: the manifest of the platform is compared; another platform is an error' '
	mkimage h-ix "{\"layers\": [[$A, $B]], \"index\": true}" &&
	expect_diff "TYPE   NAME   A                                        B
index  index  application/vnd.oci.image.index.v1+json  -" h-ix h-base &&
	test_expect_code 2 cairn diff --platform linux/s390x h-ix h-ix 2>"$TMP/plat.err" &&
	expect_contains "$(cat "$TMP/plat.err")" "no manifest for linux/s390x"
'

test_expect_success PYTHON 'two indexes: their fields, and the platforms one side lacks' '
	arch=$(cairn inspect h-base | jq -r .Config.architecture) &&
	mkimage h-ix1 "{\"layers\": [[$A, $B]], \"index\": [\"$arch\", \"riscv64\"]}" &&
	mkimage h-ix2 "{\"layers\": [[$A, $B]], \"index\": [\"$arch\", \"s390x\"], \"index_annotations\": {\"k\": \"v\"}}" &&
	m=$(jq -r .manifests[0].digest "$CAIRN_ROOT/blobs/sha256/$(ref_digest h-ix1:latest | cut -d: -f2)" | cut -c1-19) &&
	expect_diff "TYPE   NAME                     A                    B
index  annotations/k            -                    v
index  manifests/linux/riscv64  $m  -
index  manifests/linux/s390x    -                    $m" h-ix1 h-ix2 &&
	expect_same --platform linux/$arch h-ix1 h-ix1 &&
	test_expect_code 2 cairn diff --platform linux/riscv64 h-ix1 h-ix2 2>/dev/null
'

test_expect_success PYTHON '--report-dir never writes outside itself' '
	mkimage h-evil1 "{\"layers\": [[{\"name\": \"l\", \"type\": \"symlink\", \"link\": \"/\"}, {\"name\": \"../../esc\", \"data\": \"a\"}, {\"name\": \"l/pwn\", \"data\": \"a\"}]]}" &&
	mkimage h-evil2 "{\"layers\": [[{\"name\": \"l\", \"type\": \"symlink\", \"link\": \"/../\"}, {\"name\": \"../../esc\", \"data\": \"b\"}, {\"name\": \"l/pwn\", \"data\": \"b\"}]]}" &&
	mkdir -p "$TMP/deep/er" &&
	cairn diff -q --report-dir "$TMP/deep/er/rep" h-evil1 h-evil2; test $? = 1 &&
	expect_eq "$(cd "$TMP/deep" && find . | sort | tr "\n" " ")" \
		". ./er ./er/rep ./er/rep/a ./er/rep/a/esc ./er/rep/a/l ./er/rep/a/pwn ./er/rep/b ./er/rep/b/esc ./er/rep/b/l ./er/rep/b/pwn " &&
	expect_eq "$(readlink "$TMP/deep/er/rep/b/l")" /../ &&
	expect_eq "$(cat "$TMP/deep/er/rep/b/pwn")" b &&
	test ! -e /pwn && test ! -e "$TMP/esc"
'

test_expect_success PYTHON 'usage and errors exit 2' '
	test_expect_code 2 cairn diff 2>/dev/null &&
	test_expect_code 2 cairn diff h-base 2>/dev/null &&
	test_expect_code 2 cairn diff h-base h-base h-base 2>/dev/null &&
	test_expect_code 2 cairn diff --no-such-option h-base h-base 2>/dev/null &&
	test_expect_code 2 cairn diff --platform 2>/dev/null &&
	test_expect_code 2 cairn diff --platform linux h-base h-base 2>/dev/null &&
	test_expect_code 2 cairn diff h-base no-such-image 2>"$TMP/e.err" &&
	expect_contains "$(cat "$TMP/e.err")" "no-such-image" &&
	mkdir -p "$TMP/full" && touch "$TMP/full/x" &&
	test_expect_code 2 cairn diff --report-dir "$TMP/full" h-base h-owner 2>"$TMP/e.err" &&
	expect_contains "$(cat "$TMP/e.err")" "not empty" &&
	cairn diff --help >"$TMP/help.out" &&
	expect_contains "$(cat "$TMP/help.out")" "usage: cairn diff"
'

test_done
