#!/bin/bash
# The isolation ladder on this machine: --isolation oci, chroot (with mounts, and
# without: CAP_SYS_ADMIN taken away as a container without privileges has it) and
# the snapshot roots they use give the same digest for a recipe that adds, changes,
# deletes, replaces, links and chowns; what a chroot step is lent never lands in a
# layer; what chroot cannot do is refused with the reason. (One difference is
# known and left out: a file with two names written through one of them; overlay
# copies up only that name, breaking the link, a directory tree keeps both.)
. "$(dirname "$0")/lib.sh"

export SOURCE_DATE_EPOCH=1700000000
# chroot without mounts: root without CAP_SYS_ADMIN (in no bounding set, so in no
# program cairn runs either), as in a container with docker's default capabilities
nomount() { setpriv --bounding-set -sys_admin --inh-caps -sys_admin "$CAIRN" "$@"; }
command -v setpriv >/dev/null && test_have_prereq ROOT && test_set_prereq SETPRIV

ctx app <<'EOF'
COPY hello.txt /data/hello.txt
COPY hosts /etc/hosts
RUN mkdir -p /etc /home/app /var/lib/x /var/lib/y /keep && \
	echo 'app:x:1001:1001::/home/app:/bin/sh' > /etc/passwd && echo 'app:x:1001:' > /etc/group && \
	echo a > /var/lib/x/a && echo b > /var/lib/x/b && echo y > /var/lib/y/y && echo k > /keep/k && \
	ln -s /data/hello.txt /link && ln /keep/k /keep/hard && mkfifo /fifo
RUN echo changed >> /data/hello.txt && rm /var/lib/x/a /fifo && chown 1001:1001 /home/app && \
	rm -rf /var/lib/y && mkdir /var/lib/y && echo new > /var/lib/y/new && chmod 0700 /home/app && \
	rm /link && ln -s /keep/k /link && rm -rf /var/lib/x && echo now-a-file > /var/lib/x && touch /keep
RUN <<EOS
set -e
echo from a heredoc > /heredoc.txt
echo quiet > /dev/null
EOS
USER app
RUN mkdir /home/app/t && id -u > /home/app/t/id
ENV A=1
CMD ["/bin/sh"]
EOF
echo hello >"$TMP/app/hello.txt"
echo "127.0.0.1 image-hosts" >"$TMP/app/hosts"

# out STORE REF PATH: the content of PATH in the image REF of STORE (lib.sh's out,
# with a store)
out() {
	rm -rf "$TMP/rootfs.out" && CAIRN_ROOT=$1 image_rootfs "$2" "$TMP/rootfs.out" &&
		cat "$TMP/rootfs.out$3"
}

test_expect_success ROOT 'oci and chroot (with mounts) give the same digest' '
	CAIRN_ROOT=$TMP/s-oci cairn build -q --isolation oci "$TMP/app" >"$TMP/oci.digest" &&
	CAIRN_ROOT=$TMP/s-chroot cairn build -q --isolation chroot "$TMP/app" >"$TMP/chroot.digest" &&
	test -s "$TMP/oci.digest" && expect_eq "$(cat "$TMP/chroot.digest")" "$(cat "$TMP/oci.digest")"
'

test_expect_success SETPRIV 'chroot without mounts gives the same digest' '
	CAIRN_ROOT=$TMP/s-nomount nomount build -q --isolation chroot -t app "$TMP/app" \
		>"$TMP/nomount.digest" 2>"$TMP/nomount.err" || { cat "$TMP/nomount.err"; false; } &&
	expect_eq "$(cat "$TMP/nomount.digest")" "$(cat "$TMP/oci.digest")"
'

test_expect_success SETPRIV 'the layers are what overlay records: whiteouts, an opaque dir, links' '
	CAIRN_ROOT=$TMP/s-nomount layer_names app >"$TMP/names" &&
	grep -qx "var/lib/x" "$TMP/names" &&
	grep -qx "var/lib/y/.wh..wh..opq" "$TMP/names" &&
	grep -qx ".wh.fifo" "$TMP/names" &&
	! grep -q "resolv.conf\|^dev/.\|cairn-heredoc" "$TMP/names"
'

test_expect_success ROOT 'where overlayfs refuses the store, snapshot roots: said once, same digest' '
	mkdir -p "$TMP/ovl/lower" "$TMP/ovl/upper" "$TMP/ovl/work" "$TMP/ovl/merged" &&
	mount -t overlay overlay -o "lowerdir=$TMP/ovl/lower,upperdir=$TMP/ovl/upper,workdir=$TMP/ovl/work" \
		"$TMP/ovl/merged" &&
	CAIRN_TMPFS_LIMIT=0 CAIRN_ROOT=$TMP/ovl/merged/store cairn build "$TMP/app" \
		>"$TMP/ovl.digest" 2>"$TMP/ovl.err"; st=$?
	umount "$TMP/ovl/merged" && test $st = 0 &&
	expect_eq "$(cat "$TMP/ovl.digest")" "$(cat "$TMP/oci.digest")" &&
	expect_eq "$(grep -c "overlayfs refuses" "$TMP/ovl.err")" 1
'

ctx lent <<'EOF'
COPY hosts /etc/hosts
RUN cat /etc/resolv.conf > /seen-resolv && cat /etc/hosts > /seen-hosts && test -c /dev/null && \
	(sleep 1000 >/dev/null 2>&1 &) && echo started
RUN echo another > /another
EOF
echo "127.0.0.1 image-hosts" >"$TMP/lent/hosts"
test_expect_success SETPRIV 'a chroot step without mounts is lent resolv.conf, hosts and /dev nodes, all put back' '
	CAIRN_ROOT=$TMP/s-lent nomount build -q --isolation chroot -t lent "$TMP/lent" >/dev/null 2>"$TMP/lent.err" ||
		{ cat "$TMP/lent.err"; false; } &&
	s=$TMP/s-lent &&
	expect_eq "$(out "$s" lent /seen-hosts)" "$(cat /etc/hosts)" &&
	expect_eq "$(out "$s" lent /seen-resolv)" "$(cat /etc/resolv.conf)" &&
	expect_eq "$(out "$s" lent /etc/hosts)" "127.0.0.1 image-hosts" &&
	CAIRN_ROOT=$s layer_names lent >"$TMP/lent.names" &&
	! grep -q "resolv.conf\|^dev/" "$TMP/lent.names" &&
	expect_eq "$(grep -c "^etc/hosts$" "$TMP/lent.names")" 1 &&
	expect_eq "$(grep -c "^etc/$" "$TMP/lent.names")" 1
'

test_expect_success SETPRIV 'what a chroot step leaves running is killed with it' '
	! pgrep -x sleep
'

ctx mnt <<'EOF'
RUN --mount=type=cache,target=/cache echo hi > /cache/x
EOF
test_expect_success SETPRIV 'RUN --mount where nothing can be mounted: refused, located' '
	! CAIRN_ROOT=$TMP/s-mnt nomount build -q --isolation chroot "$TMP/mnt" 2>"$TMP/mnt.err" &&
	grep -q "Recipe:4" "$TMP/mnt.err" &&
	grep -q "RUN --mount needs mounts" "$TMP/mnt.err"
'

ctx multi <<'EOF'
RUN echo built > /artifact
FROM scratch
COPY --from=0 /artifact /bin/busybox /
EOF
test_expect_success SETPRIV 'COPY --from another stage without mounts' '
	CAIRN_ROOT=$TMP/s-multi nomount build -q --isolation chroot -t multi "$TMP/multi" >/dev/null 2>"$TMP/multi.err" ||
		{ cat "$TMP/multi.err"; false; } &&
	CAIRN_ROOT=$TMP/s-multi layer_names multi | grep -qx artifact
'

test_expect_success SETPRIV 'a rebuild reuses cached steps and runs the changed one on their tree' '
	cp -r "$TMP/app" "$TMP/app2" &&
	echo "RUN cat /var/lib/y/new /data/hello.txt > /home/app/seen" >>"$TMP/app2/Recipe" &&
	CAIRN_ROOT=$TMP/s-nomount nomount build --isolation chroot -t app2 "$TMP/app2" \
		>"$TMP/re.digest" 2>"$TMP/re.err" &&
	grep -q CACHED "$TMP/re.err" &&
	expect_eq "$(out "$TMP/s-nomount" app2 /home/app/seen)" "$(printf "new\nhello\nchanged")" &&
	expect_eq "$(CAIRN_ROOT=$TMP/s-oci cairn build -q --isolation oci "$TMP/app2")" "$(cat "$TMP/re.digest")"
'

ctx failing <<'EOF'
RUN echo one > /one
RUN echo half > /half && false
EOF
test_expect_success SETPRIV 'after a failed step the tree is made again: the change is not kept' '
	! CAIRN_ROOT=$TMP/s-fail nomount build -q --isolation chroot "$TMP/failing" 2>/dev/null &&
	sed -i "s/ && false//; s/half > \/half/ok > \/ok; test ! -e \/half/" "$TMP/failing/Recipe" &&
	CAIRN_ROOT=$TMP/s-fail nomount build -q --isolation chroot -t failing "$TMP/failing" >/dev/null &&
	expect_eq "$(out "$TMP/s-fail" failing /ok)" ok
'

test_expect_success ROOT 'auto as root on this machine: oci, and nothing said about it' '
	CAIRN_ROOT=$TMP/s-auto cairn build "$TMP/app" >/dev/null 2>"$TMP/auto.err" &&
	! grep -q "isolation\|namespace" "$TMP/auto.err"
'

test_expect_success ROOT 'chroot cannot give a step a network of its own: --network none is refused' '
	! CAIRN_ROOT=$TMP/s-net cairn build --isolation chroot --network none "$TMP/mnt" 2>"$TMP/net.err" &&
	grep -q "network namespace for each step, which isolation chroot has not" "$TMP/net.err"
'

test_expect_success 'a bad --isolation is a usage error' '
	test_expect_code 2 cairn build --isolation jail "$TMP/app" 2>"$TMP/bad.err" &&
	grep -q "expected auto, oci, rootless or chroot" "$TMP/bad.err" &&
	CAIRN_ISOLATION=jail test_expect_code 2 cairn build "$TMP/app" 2>/dev/null
'

test_done
