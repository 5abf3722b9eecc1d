#!/bin/bash
# A normal user builds rootless: with subordinate ids (/etc/subuid, /etc/subgid)
# the user namespace maps them after the user's own uid, so an ADD of a rootfs with
# files of several owners and device nodes, chown, and a USER other than root work,
# and the layers hold the image's ids, never the host's; without them the build says
# once what is missing, and what needs only root still builds; the user runs
# containers of what it built too. The script, as root,
# makes the users (removed at the end, and their /etc/subuid and /etc/subgid lines
# with them) and runs cairn as them.
. "$(dirname "$0")/lib.sh"

export SOURCE_DATE_EPOCH=1700000000

suffix=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
ranged=cairn-rl-$suffix
plain=cairn-np-$suffix
made_users=
rootless_cleanup() {
	for _u in $made_users; do
		userdel -r "$_u" >/dev/null 2>&1 || userdel "$_u" >/dev/null 2>&1
	done
	_cleanup
}
trap rootless_cleanup EXIT

# Makes user $1 with no subordinate ids of its own (useradd would give some).
make_user() {
	useradd -m -K SUB_UID_COUNT=0 -K SUB_GID_COUNT=0 "$1" && made_users="$made_users $1"
}
if test_have_prereq UIDMAP; then
	if ! make_user "$ranged" || ! make_user "$plain" ||
		! usermod --add-subuids 200000-265535 --add-subgids 200000-265535 "$ranged"; then
		echo "Bail out! cannot make the test users"
		exit 1
	fi
	chmod 755 "$TMP"
	mkdir "$TMP/$ranged" "$TMP/$plain"
	chown "$ranged:" "$TMP/$ranged"
	chown "$plain:" "$TMP/$plain"
fi

# as USER STORE COMMAND...: runs cairn as USER on the store $TMP/USER/STORE.
as() {
	_user=$1 _store=$2
	shift 2
	runuser -u "$_user" -- env CAIRN_ROOT="$TMP/$_user/$_store" "$CAIRN" "$@"
}

# layer_of USER REF N: layer N (from 0) of REF in USER's store, uncompressed, as a
# file (python's tarfile reads no zstd).
layer_of() {
	_digest=$(cairn --root "$TMP/$1/store" inspect "$2" | jq -r ".Manifest.layers[$3].digest") &&
		decompress "$TMP/$1/store/blobs/sha256/${_digest#sha256:}" >"$TMP/$2.$3.tar" &&
		echo "$TMP/$2.$3.tar"
}

# A rootfs as a distribution ships it: files of root, www-data (33), a user (1000)
# and nobody (65534), a setgid dir, and device nodes.
if test_have_prereq UIDMAP; then
	rf=$TMP/rootfs
	mkdir -p "$rf/bin" "$rf/dev" "$rf/etc" "$rf/var/www" "$rf/home/u" "$rf/var/nobody" "$rf/tmp"
	cp /bin/busybox "$rf/bin/busybox"
	ln -s busybox "$rf/bin/sh"
	for _t in id touch mkdir chown cat; do ln -s busybox "$rf/bin/$_t"; done
	echo 'root:x:0:0::/root:/bin/sh' >"$rf/etc/passwd"
	echo 'root:x:0:' >"$rf/etc/group"
	echo hello >"$rf/var/www/index.html"
	echo notes >"$rf/home/u/notes"
	echo x >"$rf/var/nobody/x"
	chown -R 33:33 "$rf/var/www"
	chown -R 1000:1000 "$rf/home/u"
	chown -R 65534:65534 "$rf/var/nobody"
	chmod 1777 "$rf/tmp"
	mknod -m 620 "$rf/dev/console" c 5 1 && chown 0:5 "$rf/dev/console"
	mknod -m 666 "$rf/dev/null" c 1 3
	mkdir "$TMP/app"
	tar -C "$rf" --numeric-owner -cf "$TMP/app/rootfs.tar" .
	cat >"$TMP/app/Recipe" <<'EOF'
FROM scratch
ADD rootfs.tar /
RUN echo 'app:x:1001:1001::/home/app:/bin/sh' >> /etc/passwd && echo 'app:x:1001:' >> /etc/group && \
	mkdir -p /home/app && chown 1001:1001 /home/app && chown 33:33 /var/www/index.html && \
	cat /home/u/notes
USER app
RUN id -u > /tmp/id; touch /home/app/f
EOF
	chmod -R a+rX "$TMP/app"
fi

test_expect_success UIDMAP 'with subordinate ids a normal user builds chown, USER and a rootfs of many owners' '
	as "$ranged" store build -t app "$TMP/app" 2>"$TMP/app.err" &&
	cat "$TMP/app.err" &&
	! grep -q "subordinate" "$TMP/app.err"
'

test_expect_success UIDMAP 'a normal user runs containers: run, a volume, exec into its user namespace, stop, rm' '
	expect_eq "$(as "$ranged" store run --rm --network none app id -u)" 1001 &&
	as "$ranged" store run -d --network none --name bg -v data:/data app busybox sleep 100 >/dev/null &&
	for i in $(seq 100); do as "$ranged" store ps | grep -q " bg\$" && break; sleep 0.1; done &&
	expect_eq "$(as "$ranged" store exec -u 0 bg sh -c "echo hi >/data/f; cat /data/f; id -u")" "hi
0" &&
	as "$ranged" store stop -t 1 bg >/dev/null &&
	as "$ranged" store rm bg >/dev/null &&
	expect_eq "$(as "$ranged" store run --rm --network none -v data:/data app cat /data/f)" hi
'

test_expect_success UIDMAP,PYTHON 'the layers hold the image ids, never the subordinate ids of the host' '
	for n in 0 1 2; do layer_of "$ranged" app $n || return 1; done >"$TMP/layers" &&
	python3 - "$TMP/layers" <<-EOF
	import sys, tarfile
	layers = [tarfile.open(p.strip()) for p in open(sys.argv[1])]
	owners = {}
	for t in layers:
	    for m in t.getmembers():
	        assert m.uid < 65536 and m.gid < 65536, (m.name, m.uid, m.gid)
	        owners[m.name.lstrip("./")] = (m.uid, m.gid)
	want = {"var/www/index.html": (33, 33), "home/u/notes": (1000, 1000),
	        "var/nobody/x": (65534, 65534), "home/app": (1001, 1001),
	        "home/app/f": (1001, 1001), "tmp/id": (1001, 1001), "dev/console": (0, 5)}
	for name, ids in want.items():
	    assert owners.get(name) == ids, (name, owners.get(name), ids)
	idf = layers[2].extractfile("tmp/id")
	assert idf.read() == b"1001\n"
	EOF
'

test_expect_success UIDMAP,PYTHON 'the ADD layer keeps the device nodes of the rootfs' '
	python3 - "$(layer_of "$ranged" app 0)" <<-EOF
	import sys, tarfile
	t = tarfile.open(sys.argv[1])
	c, n = t.getmember("dev/console"), t.getmember("dev/null")
	assert c.ischr() and (c.devmajor, c.devminor) == (5, 1) and c.mode == 0o620, c
	assert n.ischr() and (n.devmajor, n.devminor) == (1, 3) and n.mode == 0o666, n
	EOF
'

test_expect_success UIDMAP 'the ADD layer is the one root builds from the same rootfs' '
	cairn --root "$TMP/rootstore" build -q -t app "$TMP/app" >/dev/null &&
	as_root=$(cairn --root "$TMP/rootstore" inspect app | jq -r ".Manifest.layers[0].digest") &&
	rootless=$(as "$ranged" store inspect app | jq -r ".Manifest.layers[0].digest") &&
	expect_eq "$rootless" "$as_root"
'

test_expect_success UIDMAP 'an image FROM it unpacks its layers in the store, and deletes there' '
	mkdir -p "$TMP/child" &&
	printf "%s\n" "FROM app" "USER root" "RUN rm /home/u/notes && cat /var/www/index.html" \
		>"$TMP/child/Recipe" &&
	chmod -R a+rX "$TMP/child" &&
	as "$ranged" store build -t child "$TMP/child" &&
	layer_of "$ranged" child 3 >/dev/null &&
	tar -tf "$TMP/child.3.tar" >"$TMP/child.names" &&
	grep -qx "home/u/.wh.notes" "$TMP/child.names"
'

test_expect_success UIDMAP 'the store holds files of subordinate ids: rm -rf fails, unshare --map-auto removes it' '
	store=$TMP/$ranged/store &&
	find "$store" -uid +65535 >"$TMP/subids" &&
	test -s "$TMP/subids" &&
	! runuser -u "$ranged" -- rm -rf "$store" 2>/dev/null &&
	runuser -u "$ranged" -- unshare --map-root-user --map-auto rm -rf "$store" &&
	! test -e "$store"
'

test_expect_success UIDMAP 'without subordinate ids the build says so once, and what needs only root builds' '
	mkdir -p "$TMP/small" &&
	cp /bin/busybox "$TMP/small/busybox" &&
	printf "%s\n" "FROM scratch" "COPY busybox /bin/busybox" \
		"RUN [\"/bin/busybox\", \"mkdir\", \"/made\"]" >"$TMP/small/Recipe" &&
	chmod -R a+rX "$TMP/small" &&
	as "$plain" store build -t small "$TMP/small" 2>"$TMP/small.err" &&
	cat "$TMP/small.err" &&
	test "$(grep -c "no subordinate ids for $plain in /etc/subuid and /etc/subgid" "$TMP/small.err")" = 1 &&
	expect_contains "$(cat "$TMP/small.err")" "usermod --add-subuids" &&
	expect_contains "$(cat "$TMP/small.err")" "uidmap"
'

test_expect_success UIDMAP 'without subordinate ids a chown to another owner fails' '
	mkdir -p "$TMP/chown" &&
	cp /bin/busybox "$TMP/chown/busybox" &&
	printf "%s\n" "FROM scratch" "COPY busybox /bin/busybox" \
		"RUN [\"/bin/busybox\", \"chown\", \"33\", \"/bin/busybox\"]" >"$TMP/chown/Recipe" &&
	chmod -R a+rX "$TMP/chown" &&
	! as "$plain" store build -t chown "$TMP/chown" 2>"$TMP/chown.err" &&
	cat "$TMP/chown.err" &&
	expect_contains "$(cat "$TMP/chown.err")" "no subordinate ids"
'

test_expect_success UIDMAP 'a range newuidmap refuses is an error that quotes it' '
	uid=$(id -u "$plain") &&
	usermod --add-subuids "$uid-$uid" --add-subgids "$uid-$uid" "$plain" &&
	! as "$plain" store build -t small "$TMP/small" 2>"$TMP/bad.err" &&
	usermod --del-subuids "$uid-$uid" --del-subgids "$uid-$uid" "$plain" &&
	cat "$TMP/bad.err" &&
	expect_contains "$(cat "$TMP/bad.err")" "mapping subordinate ids with newuidmap failed: newuidmap:"
'

test_done
