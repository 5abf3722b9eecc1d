#!/bin/bash
# cairn inside an unprivileged CI container (GitLab's docker executor, a GitHub
# Actions container job, a Kubernetes pod): a dockerd of the test's own, on a private
# socket and data root, runs an image holding cairn, busybox and uidmap's newuidmap
# in each setting of the isolation ladder; every setting that can build gives the
# digest the same recipe gets outside, and the one that cannot says both ways out.
. "$(dirname "$0")/lib.sh"

docker_prereq() {
	[ "$(id -u)" = 0 ] && command -v dockerd >/dev/null && command -v docker >/dev/null &&
		command -v newuidmap >/dev/null && command -v setcap >/dev/null && [ -x /bin/busybox ]
}
docker_prereq && test_set_prereq DOCKER

export SOURCE_DATE_EPOCH=1700000000

# The recipe: files added, changed and deleted, a directory replaced, a chown, a
# symlink, a heredoc, a user of the image, and metadata.
ctx app <<'EOF'
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
COPY hello.txt /data/hello.txt
RUN mkdir -p /etc /home/app /var/lib/x && echo 'app:x:1001:1001::/home/app:/bin/sh' > /etc/passwd && \
	echo 'app:x:1001:' > /etc/group && echo a > /var/lib/x/a && echo b > /var/lib/x/b && \
	ln -s /data/hello.txt /link
RUN echo changed >> /data/hello.txt && rm /var/lib/x/a && chown 1001:1001 /home/app && \
	rm -rf /var/lib/x && mkdir /var/lib/x && echo c > /var/lib/x/c && chmod 0700 /home/app
RUN <<EOS
set -e
echo from a heredoc > /heredoc.txt
test -c /dev/null && echo quiet > /dev/null
EOS
USER app
RUN mkdir /home/app/t && id -u > /home/app/t/id && touch /home/app/f
ENV A=1
LABEL org.example.ci=yes
CMD ["/bin/sh"]
EOF
cp /bin/busybox "$TMP/app/busybox"
echo hello >"$TMP/app/hello.txt"

# A root filesystem with cairn and what it links, busybox, and newuidmap/newgidmap
# (setuid root, as Debian installs them), a user ci (1000) with subordinate ids.
make_image_rootfs() {
	root=$TMP/rootfs
	mkdir -p "$root/usr/local/bin" "$root/bin" "$root/etc" "$root/tmp" "$root/usr/bin" \
		"$root/home/ci" "$root/proc" "$root/dev" "$root/sys"
	chmod 1777 "$root/tmp"
	chown 1000:1000 "$root/home/ci"
	cp "$CAIRN" "$root/usr/local/bin/cairn"
	cp /bin/busybox "$root/bin/busybox"
	for t in sh id env cat ls; do ln -s busybox "$root/bin/$t"; done
	# as podman's images install them: with file capabilities instead of setuid, so
	# that they run as the user who owns the new namespace (setuid root would need
	# CAP_SYS_ADMIN, which the container has not, to write its map)
	cp /usr/bin/newuidmap /usr/bin/newgidmap "$root/usr/bin/" &&
		chmod 0755 "$root/usr/bin/newuidmap" "$root/usr/bin/newgidmap" &&
		setcap cap_setuid+ep "$root/usr/bin/newuidmap" &&
		setcap cap_setgid+ep "$root/usr/bin/newgidmap"
	for f in "$CAIRN" /usr/bin/newuidmap /usr/bin/newgidmap; do
		ldd "$f" | sed -n 's/.*=> \(\/[^ ]*\).*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) .*/\1/p'
	done | sort -u | while read -r lib; do
		mkdir -p "$root$(dirname "$lib")"
		cp -L "$lib" "$root$lib"
	done
	printf 'root:x:0:0::/root:/bin/sh\nci:x:1000:1000::/home/ci:/bin/sh\n' >"$root/etc/passwd"
	printf 'root:x:0:\nci:x:1000:\n' >"$root/etc/group"
	echo ci:100000:65536 >"$root/etc/subuid"
	echo ci:100000:65536 >"$root/etc/subgid"
}

dockerd_pid=
start_dockerd() {
	D=$TMP/docker
	mkdir -p "$D"
	dockerd --bridge=none --iptables=false --ip6tables=false --data-root "$D/data" \
		--exec-root "$D/exec" --pidfile "$D/dockerd.pid" -H "unix://$D/sock" \
		>"$D/log" 2>&1 &
	dockerd_pid=$!
	for _ in $(seq 300); do
		docker -H "unix://$D/sock" version >/dev/null 2>&1 && return 0
		kill -0 "$dockerd_pid" 2>/dev/null || break
		sleep 0.2
	done
	echo "# dockerd did not start:"
	sed 's/^/# /' "$D/log" | tail -n 20
	return 1
}
stop_dockerd() {
	[ -n "$dockerd_pid" ] || return 0
	kill "$dockerd_pid" 2>/dev/null
	wait "$dockerd_pid" 2>/dev/null
	dockerd_pid=
}
trap 'stop_dockerd; _cleanup' EXIT

d() { docker -H "unix://$TMP/docker/sock" "$@"; }

# incontainer NAME [docker run options...]: builds the recipe in a fresh container,
# its store in the container's own filesystem; the digest in $TMP/NAME.out
incontainer() {
	name=$1
	shift
	d run --rm --network none -e SOURCE_DATE_EPOCH -e CAIRN_ROOT=/tmp/store \
		-v "$TMP/app:/ctx:ro" "$@" cairn-ci:test cairn build -q /ctx \
		>"$TMP/$name.out" 2>"$TMP/$name.err"
}

if test_have_prereq DOCKER; then
	make_image_rootfs
	if start_dockerd && tar --xattrs --xattrs-include='security.capability' -C "$TMP/rootfs" -c . | d import - cairn-ci:test >/dev/null; then
		test_set_prereq DOCKERD
	fi
	outside=$(cairn build -q "$TMP/app" 2>"$TMP/outside.err")
fi

test_expect_success DOCKERD 'outside the container the recipe builds' '
	test -n "$outside"
'

test_expect_success DOCKERD 'root with default capabilities and seccomp: chroot isolation, same digest' '
	incontainer root || { cat "$TMP/root.err"; false; } &&
	expect_eq "$(cat "$TMP/root.out")" "$outside" &&
	grep -q "isolation chroot" "$TMP/root.err"
'

test_expect_success DOCKERD 'uid 1000 with user namespaces allowed: rootless, same digest' '
	incontainer rootless --user 1000:1000 --security-opt seccomp=unconfined \
		--security-opt apparmor=unconfined || { cat "$TMP/rootless.err"; false; } &&
	expect_eq "$(cat "$TMP/rootless.out")" "$outside"
'

test_expect_success DOCKERD 'root with CAP_SYS_ADMIN (no CAP_NET_ADMIN): builds, same digest' '
	incontainer sysadmin --cap-add SYS_ADMIN --security-opt seccomp=unconfined \
		--security-opt apparmor=unconfined || { cat "$TMP/sysadmin.err"; false; } &&
	expect_eq "$(cat "$TMP/sysadmin.out")" "$outside"
'

test_expect_success DOCKERD 'uid 1000 with neither: fails at once, naming both ways out' '
	! incontainer nothing --user 1000:1000 &&
	grep -q "seccomp=unconfined" "$TMP/nothing.err" &&
	grep -q "as root" "$TMP/nothing.err" &&
	! grep -q "^\[" "$TMP/nothing.err"
'

test_expect_success DOCKERD 'a chroot step gets /dev nodes and resolv.conf, and neither lands in the layer' '
	ctx chk <<-\EOF &&
	FROM scratch
	COPY busybox /bin/busybox
	RUN ["/bin/busybox", "--install", "-s", "/bin"]
	RUN mkdir -p /etc /dev
	RUN test -c /dev/null && echo x > /dev/null && cat /etc/resolv.conf > /seen
	EOF
	cp /bin/busybox "$TMP/chk/busybox" &&
	echo "nameserver 192.0.2.53" >"$TMP/resolv.conf" &&
	d run --rm --network none -v "$TMP/chk:/ctx:ro" -v "$TMP/resolv.conf:/etc/resolv.conf:ro" \
		-v "$TMP/chkout:/out" cairn-ci:test \
		sh -c "CAIRN_ROOT=/tmp/store cairn build -q -t chk /ctx && cp -r /tmp/store /out/store" \
		>"$TMP/chk.out" 2>"$TMP/chk.err" || { cat "$TMP/chk.err"; false; } &&
	CAIRN_ROOT=$TMP/chkout/store cairn inspect chk | jq -r ".Manifest.layers[-1].digest" >"$TMP/chk.layer" &&
	blob=$TMP/chkout/store/blobs/sha256/$(sed "s/^sha256://" "$TMP/chk.layer") &&
	zstd -dc "$blob" | tar -t >"$TMP/chk.list" &&
	grep -qx seen "$TMP/chk.list" &&
	! grep -q "resolv.conf\|^dev/.\|null" "$TMP/chk.list" &&
	expect_eq "$(zstd -dc "$blob" | tar -xO seen)" "nameserver 192.0.2.53"
'

stop_dockerd
test_expect_success DOCKERD 'no process of the test outlives dockerd' '
	! pgrep -x dockerd && ! pgrep -x containerd && ! pgrep -f containerd-shim
'

test_done
