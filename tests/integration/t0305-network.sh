#!/bin/bash
# RUN's network. private, the default: a step reaches what the builder reaches
# off loopback, not the builder's loopback (as 127.0.0.1 or as slirp's 10.0.2.2),
# resolves through slirp's forwarder and leaves no resolv.conf, hosts or etc/ in its
# layer; none reaches nothing, for a whole build or one step; no slirp4netns
# outlives a build, a failed step or SIGINT; without slirp4netns, private is an
# error that says what to install. The same in a user namespace (rootless).
#
# cairn runs in a network namespace the test makes (nsenter into one that a
# sleeping `unshare --net` holds): servers listen there on 10.232.0.1, on
# 169.254.169.254 and on its 127.0.0.1, and slirp4netns, which connects from
# cairn's namespace, meets them there. No traffic leaves the test's namespaces.
. "$(dirname "$0")/lib.sh"

expect_no_tag() {
	[ -z "$(ref_digest "$1")" ] && return 0
	echo "tag $1 exists"
	return 1
}

netns_pid=
server_pids=
stop_net() {
	for p in $server_pids $netns_pid; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	server_pids=
	netns_pid=
}
trap 'stop_net; _cleanup' EXIT

innet() { nsenter --net="/proc/$netns_pid/ns/net" "$@"; }

# http_up URL: true once URL answers from inside the namespace
http_up() {
	for _ in $(seq 100); do
		innet env -u http_proxy busybox wget -q -O /dev/null "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "nothing answers at $1"
	return 1
}

# serve ADDR:PORT TEXT: busybox httpd in the namespace, serving TEXT at /
serve() {
	_dir="$TMP/www-${1%%:*}"
	mkdir -p "$_dir" && echo "$2" >"$_dir/index.html"
	innet busybox httpd -f -p "$1" -h "$_dir" &
	server_pids="$server_pids $!"
}

if test_have_prereq ROOT,NETNS,SLIRP; then
	unshare --net sleep 100000 &
	netns_pid=$!
	# the namespace is the holder's only once unshare has made it
	for _ in $(seq 100); do
		[ "$(readlink "/proc/$netns_pid/ns/net")" != "$(readlink /proc/self/ns/net)" ] && break
		sleep 0.05
	done
	if [ "$(readlink "/proc/$netns_pid/ns/net")" = "$(readlink /proc/self/ns/net)" ]; then
		echo "Bail out! no network namespace for the servers"
		exit 1
	fi
	innet ip link set lo up &&
		innet ip addr add 10.232.0.1/32 dev lo &&
		innet ip addr add 169.254.169.254/32 dev lo || {
		echo "Bail out! cannot set up the test's network namespace"
		exit 1
	}
	serve 10.232.0.1:8080 outside-8233
	serve 127.0.0.1:8080 loopback-8233
	serve 169.254.169.254:80 metadata-8233
	for u in http://10.232.0.1:8080/ http://127.0.0.1:8080/ http://169.254.169.254/; do
		http_up "$u" || exit 1
	done
fi

# incairn ARGS...: cairn in the test's namespace
incairn() { innet "$CAIRN" "$@"; }

ctx reach <<'EOF'
RUN wget -O /outside http://10.232.0.1:8080/
RUN (wget -O- http://127.0.0.1:8080/ || echo refused) > /lo; \
    (wget -O- http://10.0.2.2:8080/ || echo refused) > /gw
EOF
test_expect_success ROOT,NETNS,SLIRP 'private (the default): a step reaches a server off loopback, not the loopback, as 127.0.0.1 or as 10.0.2.2' '
	incairn build -q -t reach "$TMP/reach" >/dev/null &&
	expect_eq "$(out reach /outside)" outside-8233 &&
	expect_eq "$(out reach /lo)" refused &&
	expect_eq "$(out reach /gw)" refused
'

test_expect_success ROOT,NETNS,SLIRP 'private in a user namespace (--isolation rootless as root): the same network' '
	incairn build -q --no-cache --isolation rootless -t reach-rl "$TMP/reach" >/dev/null &&
	expect_eq "$(out reach-rl /outside)" outside-8233 &&
	expect_eq "$(out reach-rl /lo)" refused
'

ctx meta <<'EOF'
RUN wget -O /meta http://169.254.169.254/
EOF
test_expect_success ROOT,NETNS,SLIRP 'private does not block the link-local metadata address: what the host reaches, a step does' '
	incairn build -q -t meta "$TMP/meta" >/dev/null &&
	expect_eq "$(out meta /meta)" metadata-8233
'

ctx cut <<'EOF'
RUN (wget -O- http://10.232.0.1:8080/ || echo cut) > /outside; \
    (wget -O- http://127.0.0.1:8080/ || echo cut) > /lo
EOF
test_expect_success ROOT,NETNS,SLIRP '--network none reaches neither' '
	incairn build -q --network none -t cut "$TMP/cut" >/dev/null &&
	expect_eq "$(out cut /outside)" cut &&
	expect_eq "$(out cut /lo)" cut
'

ctx onestep <<'EOF'
RUN wget -O /a http://10.232.0.1:8080/
RUN --network=none (wget -O- http://10.232.0.1:8080/ || echo cut) > /b
RUN --network=private wget -O /c http://10.232.0.1:8080/
EOF
test_expect_success ROOT,NETNS,SLIRP 'RUN --network=none cuts one step of a private build; --network=private gives it back' '
	incairn build -q -t onestep "$TMP/onestep" >/dev/null &&
	expect_eq "$(out onestep /a)" outside-8233 &&
	expect_eq "$(out onestep /b)" cut &&
	expect_eq "$(out onestep /c)" outside-8233
'

test_expect_success ROOT,NETNS,SLIRP 'RUN --network=private in a build with --network none' '
	incairn build -q --network none -t onestep "$TMP/onestep" >/dev/null &&
	expect_eq "$(out onestep /c)" outside-8233
'

ctx names <<'EOF'
RUN cat /etc/resolv.conf > /resolv && cat /etc/hosts > /hosts
COPY etc /etc
RUN cat /etc/resolv.conf > /resolv2 && ! echo x >> /etc/resolv.conf && touch /after
EOF
mkdir -p "$TMP/names/etc" && echo "nameserver 192.0.2.1" >"$TMP/names/etc/resolv.conf" &&
	echo "keep" >"$TMP/names/etc/keep"
test_expect_success ROOT,SLIRP 'private: resolv.conf names slirp'"'"'s forwarder, hosts the step'"'"'s name; bound read-only, never in a layer' '
	cairn build -q -t names "$TMP/names" >/dev/null &&
	expect_eq "$(out names /resolv)" "nameserver 10.0.2.3" &&
	grep -q "^10.0.2.100.cairn$" "$TMP/rootfs.out/hosts" &&
	grep -q "^::1.*localhost" "$TMP/rootfs.out/hosts" &&
	expect_eq "$(cat "$TMP/rootfs.out/resolv2")" "nameserver 10.0.2.3" &&
	expect_eq "$(cat "$TMP/rootfs.out/etc/resolv.conf")" "nameserver 192.0.2.1" &&
	layer_names names >"$TMP/names.list" &&
	cat "$TMP/names.list" &&
	expect_eq "$(grep "^etc" "$TMP/names.list" | sort | paste -sd " ")" "etc/ etc/keep etc/resolv.conf" &&
	! grep -q "^etc/hosts$" "$TMP/names.list" &&
	expect_no_leftovers
'

ctx plain <<'EOF'
RUN echo ok > /ok
EOF
test_expect_success ROOT,SLIRP 'without slirp4netns on PATH: --network private fails saying what to install, and so does the default' '
	mkdir -p "$TMP/nobin" &&
	! PATH=$TMP/nobin "$CAIRN" build -q --network private -t names "$TMP/names" 2>"$TMP/noslirp.err" &&
	cat "$TMP/noslirp.err" &&
	grep -q "apt-get install slirp4netns" "$TMP/noslirp.err" &&
	grep -q -- "--network host" "$TMP/noslirp.err" &&
	grep -q -- "--network none" "$TMP/noslirp.err" &&
	! PATH=$TMP/nobin "$CAIRN" build -q --no-cache -t names "$TMP/names" 2>"$TMP/noslirp2.err" &&
	grep -q "by default.*apt-get install slirp4netns" "$TMP/noslirp2.err" &&
	! grep -q "^\[" "$TMP/noslirp2.err" &&
	PATH=$TMP/nobin "$CAIRN" build -q --no-cache --network none -t plain "$TMP/plain" >/dev/null
'

ctx probe <<'EOF'
RUN grep : /proc/net/dev | cut -d: -f1 | tr -d " " | sort | paste -sd " " > /ifaces; \
    (wget -O- http://127.0.0.1:8080/ || echo cut) > /lo
EOF
test_expect_success ROOT,NETNS,SLIRP 'without /dev/net/tun (a container) the default is the host network, said once' '
	innet unshare --mount sh -c "mount -t tmpfs none /dev/net && exec \"\$@\"" sh \
		"$CAIRN" build -q --no-cache -t probe "$TMP/probe" >/dev/null 2>"$TMP/notun.err" &&
	cat "$TMP/notun.err" &&
	expect_eq "$(grep -c "no /dev/net/tun here: RUN steps use this container.s network (--network host); --network none to cut it" "$TMP/notun.err")" 1 &&
	expect_eq "$(out probe /ifaces)" lo &&
	expect_eq "$(out probe /lo)" loopback-8233
'

ctx keyed <<'EOF'
RUN echo built once > /once
EOF
test_expect_success ROOT,NETNS,SLIRP 'a build whose default fell back to the host network shares the private steps cache' '
	"$CAIRN" build -q -t keyed "$TMP/keyed" >/dev/null 2>&1 &&
	innet unshare --mount sh -c "mount -t tmpfs none /dev/net && exec \"\$@\"" sh \
		"$CAIRN" build -t keyed2 "$TMP/keyed" >/dev/null 2>"$TMP/keyed.err" &&
	grep -q "RUN echo built once > /once.*CACHED" "$TMP/keyed.err" &&
	expect_eq "$(cairn inspect keyed2 | jq -r .Digest)" "$(cairn inspect keyed | jq -r .Digest)" &&
	"$CAIRN" build --network host -t keyed3 "$TMP/keyed" >/dev/null 2>"$TMP/keyed3.err" &&
	! grep -q "/once.*CACHED" "$TMP/keyed3.err"
'

test_expect_success ROOT,SLIRP 'where /dev/net/tun cannot be opened the default is none, said once; an explicit private fails' '
	unshare --mount sh -c "mount -t tmpfs -o nodev none /dev/net && mknod /dev/net/tun c 10 200 && exec \"\$@\"" sh \
		"$CAIRN" build -q --no-cache -t probe "$TMP/probe" >/dev/null 2>"$TMP/eacces.err" &&
	cat "$TMP/eacces.err" &&
	expect_eq "$(grep -c "/dev/net/tun cannot be opened here (Permission denied): RUN steps have no network (--network none)" "$TMP/eacces.err")" 1 &&
	expect_eq "$(out probe /ifaces)" lo &&
	expect_eq "$(out probe /lo)" cut &&
	! unshare --mount sh -c "mount -t tmpfs -o nodev none /dev/net && mknod /dev/net/tun c 10 200 && exec \"\$@\"" sh \
		"$CAIRN" build -q --no-cache --network private -t probe "$TMP/probe" 2>"$TMP/eacces2.err" &&
	grep -q "needs /dev/net/tun (usually mode 0666), which cairn cannot open" "$TMP/eacces2.err"
'

ctx fail <<'EOF'
RUN echo failing; exit 3
EOF
ctx slow <<'EOF'
RUN echo started; sleep 100
EOF
# (statements, not a chain: the & of a chain would put all of it in the background)
test_expect_success ROOT,SLIRP 'no slirp4netns outlives a build, a failed step or SIGINT' '
	cairn build -q --no-cache -t names "$TMP/names" >/dev/null
	test -z "$(pgrep -x slirp4netns)"
	test_must_fail_build fail
	test -z "$(pgrep -x slirp4netns)"
	"$CAIRN" build -t slow "$TMP/slow" >"$TMP/slow.out" 2>&1 &
	pid=$!
	for _ in $(seq 300); do
		grep -q "^started" "$TMP/slow.out" && break
		sleep 0.1
	done
	grep -q "^started" "$TMP/slow.out"
	test -n "$(pgrep -x slirp4netns)"
	kill -INT "$pid"
	rc=0
	wait "$pid" || rc=$?
	cat "$TMP/slow.out"
	expect_eq "$rc" 130
	test -z "$(pgrep -x slirp4netns)"
	test -z "$(pgrep -x sleep)"
	expect_no_tag slow:latest
	expect_no_leftovers
'

test_expect_success '--network takes private, none, host or default' '
	test_expect_code 2 cairn build --network bogus "$TMP/names" 2>"$TMP/bogus.err" &&
	grep -q "expected private, none, host or default" "$TMP/bogus.err"
'

stop_net
test_done
