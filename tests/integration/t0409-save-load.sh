#!/bin/bash
# Images out of the store and back: build -o (type=image, oci, docker, tar, local,
# a directory alone, - for stdout), cairn save (docker and oci archives) and cairn
# load (both, from a file or stdin). Round trips keep the manifest digest where the
# format keeps it (oci) and the config and diff_ids always; the filesystem outputs
# hold the files with their owners and modes, what a later layer removed gone. The
# oracles are independent: skopeo reads the oci-archive, tar and stat read the
# filesystem, and a dockerd started here on a private socket loads cairn's docker
# archive (docker export shows its files) and saves an archive cairn loads.
. "$(dirname "$0")/lib.sh"

export TMPDIR="$TMP/tmpdir"
mkdir -p "$TMPDIR"
S2="$TMP/s2"
in2() { CAIRN_ROOT=$S2 "$CAIRN" "$@"; }

# ---- dockerd, on a socket of this test; stopped (with its containerd) at the end ----
DOCKERD_PID=
stop_dockerd() {
	[ -n "$DOCKERD_PID" ] || return 0
	kill "$DOCKERD_PID" 2>/dev/null
	for _ in $(seq 100); do
		kill -0 "$DOCKERD_PID" 2>/dev/null || break
		sleep 0.1
	done
	# what it started (containerd, shims) goes with it, whatever happened
	for p in $(pgrep -f "$TMP/docker" 2>/dev/null); do
		kill -9 "$p" 2>/dev/null
	done
	kill -9 "$DOCKERD_PID" 2>/dev/null
	wait "$DOCKERD_PID" 2>/dev/null
	DOCKERD_PID=
	# the mounts it made under $TMP, before $TMP is removed
	findmnt -rn -o TARGET | grep "^$TMP/" | sort -r | while read -r m; do
		umount -l "$m" 2>/dev/null
	done
	return 0
}
trap 'stop_dockerd; _cleanup' EXIT
export DOCKER_HOST="unix://$TMP/docker.sock" DOCKER_CONFIG="$TMP/docker-config"

# start_dockerd: dockerd with no network of its own (no bridge, no iptables), its
# state, runtime files and pidfile in $TMP; waits until it answers.
start_dockerd() {
	if ! command -v dockerd >/dev/null || ! command -v docker >/dev/null; then
		echo "dockerd or docker is not installed (scripts/deps installs docker.io)"
		return 1
	fi
	mkdir -p "$DOCKER_CONFIG"
	echo '{}' >"$TMP/daemon.json"
	dockerd --host "$DOCKER_HOST" --config-file "$TMP/daemon.json" --bridge=none \
		--iptables=false --ip6tables=false --userland-proxy=false \
		--data-root "$TMP/docker" --exec-root "$TMP/docker-exec" \
		--pidfile "$TMP/docker.pid" >"$TMP/dockerd.log" 2>&1 &
	DOCKERD_PID=$!
	for _ in $(seq 300); do
		docker version >/dev/null 2>&1 && return 0
		kill -0 "$DOCKERD_PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "dockerd did not start on $DOCKER_HOST; its log ends:"
	tail -n 20 "$TMP/dockerd.log"
	return 1
}

# ---- the image ----
if test_have_prereq ROOT; then
	ctx="$TMP/ctx"
	make_busybox_context "$ctx"
	{
		busybox_base
		cat <<'RECIPE'
RUN mkdir -p /data /tmp && echo hi >/data/f && chown 1000:100 /data/f && chmod 0640 /data/f && \
    ln /data/f /data/hard && ln -s f /data/sym && echo tmp >/tmp/gone
RUN rm /tmp/gone
ENV X=1
RECIPE
	} >"$ctx/Recipe"
	if ! cairn build -q -t app:1 -o type=image,name=app:extra \
		-o "type=oci,dest=$TMP/app.oci" -o "type=docker,dest=$TMP/app.docker" \
		-o "type=tar,dest=$TMP/fs.tar" -o "$TMP/local" "$ctx" >"$TMP/app.digest" 2>"$TMP/build.err"; then
		echo "Bail out! the image does not build with -o"
		cat "$TMP/build.err"
		exit 1
	fi
fi
D=$(cat "$TMP/app.digest" 2>/dev/null)
config_digest() { CAIRN_ROOT=$1 "$CAIRN" inspect "$2" | jq -r .Manifest.config.digest; }
diff_ids() { CAIRN_ROOT=$1 "$CAIRN" inspect "$2" | jq -c .Config.rootfs.diff_ids; }

test_expect_success ROOT 'build -o: -t and type=image,name= tag the store; every output is written' '
	grep -qE "^sha256:[0-9a-f]{64}$" "$TMP/app.digest" &&
	expect_eq "$(ref_digest app:1)" "$D" &&
	expect_eq "$(ref_digest app:extra)" "$D" &&
	test -s "$TMP/app.oci" && test -s "$TMP/app.docker" && test -s "$TMP/fs.tar" &&
	test -d "$TMP/local/data"
'

test_expect_success ROOT,SKOPEO 'type=oci: skopeo reads the oci-archive; it has the build digest' '
	skopeo inspect --raw "oci-archive:$TMP/app.oci" >"$TMP/oci.manifest" &&
	expect_eq "sha256:$(sha256sum <"$TMP/oci.manifest" | cut -d" " -f1)" "$D" &&
	expect_eq "$(skopeo inspect --config "oci-archive:$TMP/app.oci" | jq -c .rootfs.diff_ids)" \
		"$(diff_ids "$CAIRN_ROOT" app:1)" &&
	expect_eq "$(tar -xOf "$TMP/app.oci" index.json | jq -r ".manifests[].annotations[\"org.opencontainers.image.ref.name\"]")" app:1
'

test_expect_success ROOT,UMOCI 'type=oci: umoci lists the layout the archive holds' '
	mkdir -p "$TMP/ocidir" && tar -xf "$TMP/app.oci" -C "$TMP/ocidir" &&
	umoci ls --layout "$TMP/ocidir" >"$TMP/umoci.ls" &&
	expect_contains "$(cat "$TMP/umoci.ls")" app:1 &&
	umoci stat --image "$TMP/ocidir:app:1" >"$TMP/umoci.stat" &&
	expect_contains "$(cat "$TMP/umoci.stat")" "rm /tmp/gone"
'

# the owner, mode and type of path P in the tar listing of FILE: "uid/gid mode"
tar_entry() { tar --numeric-owner -tvf "$1" | awk -v p="$2" '$6 == p || $6 == "./" p { print $2, $1 }'; }

test_expect_success ROOT 'type=tar: the filesystem as one tar, owners and modes kept, removed files gone' '
	expect_eq "$(tar_entry "$TMP/fs.tar" data/f)" "1000/100 -rw-r-----" &&
	tar -tvf "$TMP/fs.tar" >"$TMP/fs.list" &&
	grep -qE "data/hard link to \.?/?data/f" "$TMP/fs.list" &&
	grep -qE "data/sym -> f" "$TMP/fs.list" &&
	grep -q "bin/busybox" "$TMP/fs.list" &&
	! grep -q "tmp/gone" "$TMP/fs.list" &&
	! grep -q "\.wh\." "$TMP/fs.list" &&
	expect_eq "$(tar -xOf "$TMP/fs.tar" data/f 2>/dev/null || tar -xOf "$TMP/fs.tar" ./data/f)" hi
'

test_expect_success ROOT 'type=local (a directory alone): the files with owners, modes, links; whiteouts applied' '
	expect_eq "$(stat -c "%u:%g %a" "$TMP/local/data/f")" "1000:100 640" &&
	expect_eq "$(cat "$TMP/local/data/f")" hi &&
	expect_eq "$(readlink "$TMP/local/data/sym")" f &&
	expect_eq "$(stat -c %i "$TMP/local/data/hard")" "$(stat -c %i "$TMP/local/data/f")" &&
	test -x "$TMP/local/bin/busybox" &&
	test -d "$TMP/local/tmp" && ! test -e "$TMP/local/tmp/gone"
'

test_expect_success ROOT '-o - writes a tar to stdout; the digest goes to stderr' '
	cairn build -q -o - "$ctx" >"$TMP/stdout.tar" 2>"$TMP/stdout.err" &&
	expect_eq "$(cat "$TMP/stdout.err")" "$D" &&
	expect_eq "$(tar_entry "$TMP/stdout.tar" data/f)" "1000/100 -rw-r-----" &&
	cairn build -q -o type=oci,dest=- "$ctx" >"$TMP/stdout.oci" 2>/dev/null &&
	tar -xOf "$TMP/stdout.oci" index.json | jq -e ".manifests[0].digest == \"$D\""
'

test_expect_success ROOT 'the same image gives the same oci-archive, byte for byte' '
	cairn build -q -t app:1 -o "type=oci,dest=$TMP/again.oci" "$ctx" >/dev/null 2>&1 &&
	cmp "$TMP/app.oci" "$TMP/again.oci"
'

test_expect_success ROOT 'bad -o specs are refused with status 2, naming the key or what is missing' '
	test_expect_code 2 cairn build -o type=oci,dest=x,annotation.a=b "$ctx" 2>"$TMP/e1" &&
	expect_contains "$(cat "$TMP/e1")" "\"annotation.a\"" &&
	test_expect_code 2 cairn build -o type=image,unpack=true "$ctx" 2>"$TMP/e2" &&
	expect_contains "$(cat "$TMP/e2")" "\"unpack\"" &&
	test_expect_code 2 cairn build -o type=oci "$ctx" 2>"$TMP/e3" &&
	expect_contains "$(cat "$TMP/e3")" "type=oci needs dest=" &&
	test_expect_code 2 cairn build -o type=local,dest=- "$ctx" 2>"$TMP/e4" &&
	expect_contains "$(cat "$TMP/e4")" "type=local writes a directory" &&
	test_expect_code 2 cairn build -o type=cacheonly "$ctx" 2>"$TMP/e5" &&
	expect_contains "$(cat "$TMP/e5")" "type=cacheonly" &&
	test_expect_code 2 cairn build -o dest=x,name=y "$ctx" 2>"$TMP/e6" &&
	expect_contains "$(cat "$TMP/e6")" "type is required" &&
	test_expect_code 2 cairn build -o type=docker,dest=x,compression=zstd "$ctx" 2>"$TMP/e7" &&
	expect_contains "$(cat "$TMP/e7")" "compression" &&
	test_expect_code 2 cairn build -o - -o type=oci,dest=- "$ctx" 2>"$TMP/e8" >/dev/null &&
	expect_contains "$(cat "$TMP/e8")" "only one output can go to stdout"
'

test_expect_success ROOT 'a failed output is an error naming it, status 1, and leaves no file' '
	test_expect_code 1 cairn build -q -o "type=oci,dest=$TMP/no/such/dir/x.oci" "$ctx" \
		>/dev/null 2>"$TMP/fail.err" &&
	expect_contains "$(cat "$TMP/fail.err")" "$TMP/no/such/dir/x.oci" &&
	mkdir -p "$TMP/out/isdir" &&
	test_expect_code 1 cairn build -q -o "type=docker,dest=$TMP/out/isdir" "$ctx" \
		>/dev/null 2>"$TMP/fail2.err" &&
	expect_contains "$(cat "$TMP/fail2.err")" "$TMP/out/isdir" &&
	expect_eq "$(ls -A "$TMP/out")" isdir && expect_eq "$(ls -A "$TMP/out/isdir")" ""
'

test_expect_success ROOT 'save (docker format by default): one entry per image, RepoTags, uncompressed layers with their diff_ids' '
	cairn save -o "$TMP/saved.tar" app:1 app:extra "$D" &&
	tar -xOf "$TMP/saved.tar" manifest.json >"$TMP/saved.manifest" &&
	expect_eq "$(jq length "$TMP/saved.manifest")" 1 &&
	expect_eq "$(jq -c ".[0].RepoTags" "$TMP/saved.manifest")" "[\"app:1\",\"app:extra\"]" &&
	mkdir -p "$TMP/saved" && tar -xf "$TMP/saved.tar" -C "$TMP/saved" &&
	for l in $(jq -r ".[0].Layers[]" "$TMP/saved.manifest"); do
		echo "sha256:$(sha256sum <"$TMP/saved/$l" | cut -d" " -f1)"
	done | jq -R . | jq -sc . >"$TMP/saved.diffids" &&
	expect_eq "$(cat "$TMP/saved.diffids")" "$(diff_ids "$CAIRN_ROOT" app:1)" &&
	jq -e ".app[\"1\"]" "$TMP/saved/repositories" >/dev/null &&
	cmp "$TMP/saved/$(jq -r ".[0].Config" "$TMP/saved.manifest")" \
		"$CAIRN_ROOT/blobs/sha256/$(config_digest "$CAIRN_ROOT" app:1 | cut -d: -f2)"
'

test_expect_success ROOT 'load of a docker archive: "Loaded image" lines; config and diff_ids kept' '
	rm -rf "$S2" &&
	in2 load -i "$TMP/saved.tar" >"$TMP/load.out" 2>"$TMP/load.err" &&
	expect_eq "$(cat "$TMP/load.out")" "Loaded image: app:1
Loaded image: app:extra" &&
	grep -q "^copy sha256:" "$TMP/load.err" &&
	expect_eq "$(config_digest "$S2" app:1)" "$(config_digest "$CAIRN_ROOT" app:1)" &&
	expect_eq "$(diff_ids "$S2" app:extra)" "$(diff_ids "$CAIRN_ROOT" app:1)" &&
	expect_eq "$(ls -A "$TMPDIR")" ""
'

test_expect_success ROOT 'load -i reads a file whose name has a colon' '
	cp "$TMP/saved.tar" "$TMP/saved:1.tar" &&
	rm -rf "$S2" &&
	in2 load -q -i "$TMP/saved:1.tar" >"$TMP/colon.out" &&
	expect_eq "$(head -n 1 "$TMP/colon.out")" "Loaded image: app:1"
'

test_expect_success ROOT 'load and pull docker-archive: give the same image (one reader)' '
	in2 pull -q "docker-archive:$TMP/saved.tar:app:1" >"$TMP/pulled" &&
	expect_eq "$(cat "$TMP/pulled")" "$(in2 inspect app:1 | jq -r .Digest)"
'

test_expect_success ROOT 'save --format oci | load -q from stdin keeps the manifest digest; several images' '
	cairn tag app:1 other:2 &&
	cairn save --format oci app:1 other:2 >"$TMP/saved.oci" &&
	expect_eq "$(tar -xOf "$TMP/saved.oci" index.json | jq ".manifests | length")" 2 &&
	rm -rf "$S2" &&
	in2 load -q <"$TMP/saved.oci" >"$TMP/load2.out" 2>"$TMP/load2.err" &&
	expect_eq "$(cat "$TMP/load2.out")" "Loaded image: app:1
Loaded image: other:2" &&
	expect_eq "$(cat "$TMP/load2.err")" "" &&
	expect_eq "$(in2 inspect app:1 | jq -r .Digest)" "$D" &&
	expect_eq "$(in2 inspect other:2 | jq -r .Digest)" "$D" &&
	expect_eq "$(ls -A "$TMPDIR")" ""
'

test_expect_success ROOT 'load of an oci-archive as BuildKit names it: a bare tag beside io.containerd.image.name' '
	rm -rf "$TMP/bk" && mkdir -p "$TMP/bk" && tar -xf "$TMP/app.oci" -C "$TMP/bk" &&
	jq -c ".manifests[0].annotations = {\"org.opencontainers.image.ref.name\": \"1\",
		\"io.containerd.image.name\": \"docker.io/team/bk:1\"}" "$TMP/bk/index.json" >"$TMP/bk.index" &&
	mv "$TMP/bk.index" "$TMP/bk/index.json" &&
	tar -cf "$TMP/bk.tar" -C "$TMP/bk" oci-layout index.json blobs &&
	rm -rf "$S2" &&
	in2 load -q -i "$TMP/bk.tar" >"$TMP/bk.out" &&
	expect_eq "$(cat "$TMP/bk.out")" "Loaded image: team/bk:1" &&
	expect_eq "$(in2 inspect docker.io/team/bk:1 | jq -r .Digest)" "$D"
'

test_expect_success ROOT 'save of a digest leaves the image unnamed; load says its ID' '
	cairn save -o "$TMP/bydigest.tar" "$D" &&
	expect_eq "$(tar -xOf "$TMP/bydigest.tar" manifest.json | jq -c ".[0].RepoTags")" "[]" &&
	rm -rf "$S2" &&
	in2 load -i "$TMP/bydigest.tar" -q >"$TMP/load3.out" &&
	grep -qE "^Loaded image ID: sha256:[0-9a-f]{64}$" "$TMP/load3.out"
'

test_expect_success ROOT 'save and load refuse what they cannot do, saying why' '
	test_expect_code 1 cairn save -o "$TMP/none.tar" nope:1 2>"$TMP/s1.err" &&
	expect_contains "$(cat "$TMP/s1.err")" "nope:1" && ! test -e "$TMP/none.tar" &&
	test_expect_code 2 cairn save --format qcow app:1 2>"$TMP/s2.err" &&
	expect_contains "$(cat "$TMP/s2.err")" "--format qcow" &&
	test_expect_code 2 cairn save 2>/dev/null &&
	echo "not an archive" >"$TMP/junk" &&
	test_expect_code 2 cairn load -i "$TMP/junk" 2>"$TMP/l1.err" &&
	expect_contains "$(cat "$TMP/l1.err")" "$TMP/junk" &&
	tar -cf "$TMP/empty.tar" -C "$ctx" Recipe &&
	test_expect_code 2 cairn load -i "$TMP/empty.tar" 2>"$TMP/l2.err" &&
	expect_contains "$(cat "$TMP/l2.err")" "neither manifest.json nor index.json" &&
	test_expect_code 1 cairn load </dev/null 2>"$TMP/l3.err" &&
	expect_contains "$(cat "$TMP/l3.err")" "stdin is empty" &&
	expect_eq "$(ls -A "$TMPDIR")" ""
'

test_expect_success ROOT,SCRIPT 'save and build -o - refuse to write an archive to a terminal' '
	test_expect_code 2 script -qec "$CAIRN save app:1" /dev/null >"$TMP/tty.out" 2>&1 </dev/null &&
	expect_contains "$(cat "$TMP/tty.out")" "refusing to write an archive to a terminal" &&
	test_expect_code 2 script -qec "$CAIRN build -o - $ctx" /dev/null >"$TMP/tty2.out" 2>&1 </dev/null &&
	expect_contains "$(cat "$TMP/tty2.out")" "refusing to write an archive to a terminal"
'

# ---- docker, the oracle ----
# started by this shell (a test body runs in a subshell), reported as a test: a
# dockerd that cannot start here is a failure that says why, not a skip
dockerd_ok=1
if test_have_prereq ROOT; then
	start_dockerd >"$TMP/dockerd.start" 2>&1
	dockerd_ok=$?
fi
test_expect_success ROOT 'dockerd starts on a private socket in the test directory' '
	cat "$TMP/dockerd.start" &&
	test "$dockerd_ok" = 0
'
[ "$dockerd_ok" = 0 ] && test_set_prereq DOCKER

test_expect_success ROOT,DOCKER 'docker load takes cairn'"'"'s docker archive; docker export shows its files' '
	docker load -i "$TMP/app.docker" >"$TMP/dload.out" &&
	expect_contains "$(cat "$TMP/dload.out")" "Loaded image: app:1" &&
	expect_eq "$(docker image inspect -f "{{.Id}}" app:1)" "$(config_digest "$CAIRN_ROOT" app:1)" &&
	id=$(docker create app:1 /bin/true) &&
	docker export "$id" >"$TMP/export.tar" &&
	docker rm "$id" >/dev/null &&
	expect_eq "$(tar_entry "$TMP/export.tar" data/f)" "1000/100 -rw-r-----" &&
	expect_eq "$(tar -xOf "$TMP/export.tar" data/f)" hi &&
	! tar -tf "$TMP/export.tar" | grep -q "tmp/gone"
'

test_expect_success ROOT,DOCKER 'docker save of an image docker made (docker import) and of cairn'"'"'s: cairn load takes both' '
	tar -cf "$TMP/import.tar" -C "$ctx" busybox Recipe &&
	docker import "$TMP/import.tar" imp:1 >/dev/null &&
	docker save -o "$TMP/docker-saved.tar" imp:1 app:1 &&
	rm -rf "$S2" &&
	in2 load -i "$TMP/docker-saved.tar" >"$TMP/dl.out" 2>/dev/null &&
	expect_contains "$(cat "$TMP/dl.out")" "Loaded image: imp:1" &&
	expect_contains "$(cat "$TMP/dl.out")" "Loaded image: app:1" &&
	expect_eq "$(config_digest "$S2" app:1)" "$(config_digest "$CAIRN_ROOT" app:1)" &&
	expect_eq "$(diff_ids "$S2" app:1)" "$(diff_ids "$CAIRN_ROOT" app:1)" &&
	expect_eq "$(config_digest "$S2" imp:1)" "$(docker image inspect -f "{{.Id}}" imp:1)" &&
	in2 save -o "$TMP/imp-again.tar" imp:1 &&
	docker rmi imp:1 >/dev/null && docker load -i "$TMP/imp-again.tar" >/dev/null &&
	expect_eq "$(docker image inspect -f "{{.Id}}" imp:1)" "$(config_digest "$S2" imp:1)"
'

test_expect_success ROOT,DOCKER 'docker run of the image cairn built shows its content' '
	expect_eq "$(docker run --rm --network none app:1 cat /data/f)" hi
'

stop_dockerd
test_expect_success ROOT,DOCKER 'dockerd and everything it started are gone once it is stopped' '
	expect_eq "$(pgrep -f "$TMP/docker" || true)" "" &&
	! test -S "$TMP/docker.sock"
'
test_done
