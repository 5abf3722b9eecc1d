#!/bin/bash
# cairn run: the command and its exit status, what the image and the options give
# it (env, --env-file, -w, -u, --entrypoint, --hostname), stdin with -i, binds and
# tmpfs mounts (:ro is EROFS), --read-only, --network none, --rm leaving nothing,
# signals forwarded to the command, and clear errors with docker's exit statuses.
. "$(dirname "$0")/lib.sh"

build_base bb 'RUN echo "app:x:1000:1000::/home/app:/bin/sh" >>/etc/passwd && mkdir -p /srv
ENV GREETING=hello
WORKDIR /srv
CMD ["sh", "-c", "echo default $GREETING"]
'

containers() { find "$CAIRN_ROOT/cairn/containers" -mindepth 1 -maxdepth 1 -name '[0-9a-f]*' | wc -l; }

# wait_for FILE TEXT: until FILE holds TEXT (at most 10 seconds).
wait_for() {
	for _i in $(seq 100); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "$1 never got \"$2\""
	cat "$1"
	return 1
}

test_expect_success ROOT 'the image'"'"'s cmd runs with its env and workdir; the exit status is the command'"'"'s' '
	expect_eq "$(cairn run --rm bb)" "default hello" &&
	expect_eq "$(cairn run --rm bb pwd)" /srv &&
	test_expect_code 3 cairn run --rm bb sh -c "exit 3"
'

test_expect_success ROOT '-e, --env-file, -w, -u, --hostname and --entrypoint' '
	printf "# a comment\nFROM_FILE=one\n\nGREETING=file\n" >"$TMP/env" &&
	export FROM_HOST=host &&
	out=$(cairn run --rm -e A=1 -e FROM_HOST --env-file "$TMP/env" -w /work -u app \
		--hostname box bb sh -c "echo \$A \$FROM_HOST \$FROM_FILE \$GREETING; pwd; id -u; hostname") &&
	expect_eq "$(echo $out)" "1 host one file /work 1000 box" &&
	expect_eq "$(cairn run --rm --entrypoint echo bb via entrypoint)" "via entrypoint" &&
	expect_eq "$(cairn run --rm --entrypoint "" bb echo cleared)" cleared
'

test_expect_success ROOT '-i passes stdin; without it the command reads nothing' '
	expect_eq "$(echo piped | cairn run -i --rm bb cat)" piped &&
	expect_eq "$(echo piped | cairn run --rm bb cat)" ""
'

test_expect_success ROOT '-v binds a host directory (written through), :ro fails writes with EROFS' '
	mkdir -p "$TMP/host" && echo from-host >"$TMP/host/in" &&
	expect_eq "$(cairn run --rm -v "$TMP/host:/data" bb sh -c "cat /data/in; echo back >/data/out")" from-host &&
	expect_eq "$(cat "$TMP/host/out")" back &&
	test_expect_code 1 cairn run --rm -v "$TMP/host:/data:ro" bb sh -c "echo x >/data/ro" 2>"$TMP/ro.err" &&
	expect_contains "$(cat "$TMP/ro.err")" "Read-only file system" &&
	test ! -e "$TMP/host/ro"
'

test_expect_success ROOT '--tmpfs is writable and empty; --read-only makes the root EROFS, not the tmpfs' '
	cairn run --rm --read-only --tmpfs /scratch:size=1m bb sh -c "touch /scratch/ok && ! touch /nope 2>/dev/null" &&
	test_expect_code 1 cairn run --rm --read-only bb touch /nope 2>"$TMP/rootro.err" &&
	expect_contains "$(cat "$TMP/rootro.err")" "Read-only file system"
'

test_expect_success ROOT '--network none: only loopback' '
	expect_eq "$(cairn run --rm --network none bb ls /sys/class/net)" lo
'

test_expect_success ROOT '--rm leaves no container; without it the container stays' '
	before=$(containers) &&
	cairn run --rm bb true &&
	expect_eq "$(containers)" "$before" &&
	cairn run --name kept bb true &&
	expect_eq "$(containers)" "$((before + 1))" &&
	cairn rm kept >/dev/null &&
	expect_eq "$(containers)" "$before"
'

# (the binary itself in the background, not the cairn function: its subshell would
# take the signal)
test_expect_success ROOT 'SIGTERM and SIGINT to cairn run reach the command' '
	"$CAIRN" run --rm bb sh -c "trap \"echo got-term; exit 42\" TERM; echo ready; while :; do sleep 0.1; done" \
		>"$TMP/sig.out" 2>&1 &
	pid=$!
	wait_for "$TMP/sig.out" ready
	kill -TERM $pid
	status=0
	wait $pid || status=$?
	expect_eq "$status" 42
	expect_contains "$(cat "$TMP/sig.out")" got-term
	"$CAIRN" run --rm bb sh -c "echo ready; exec sleep 100" >"$TMP/int.out" 2>&1 &
	pid=$!
	wait_for "$TMP/int.out" ready
	kill -INT $pid
	status=0
	wait $pid || status=$?
	expect_eq "$status" 130
'

test_expect_success ROOT,SLIRP '-p publishes a port: the host reaches it on loopback; ps shows it' '
	port=$((20000 + $$ % 20000))
	cairn run -d --name web -p 127.0.0.1:$port:8080 bb sh -c \
		"mkdir -p /www && echo from-the-container >/www/index.html && exec httpd -f -p 8080 -h /www" >/dev/null
	got=""
	for i in $(seq 100); do
		got=$(exec 3<>"/dev/tcp/127.0.0.1/$port" && printf "GET / HTTP/1.0\r\n\r\n" >&3 &&
			sed -n "\$p" <&3) 2>/dev/null && [ -n "$got" ] && break
		sleep 0.1
	done
	expect_eq "$got" from-the-container
	expect_contains "$(cairn ps)" "127.0.0.1:$port->8080/tcp"
	cairn rm -f web >/dev/null
	test_expect_code 125 cairn run --rm --network none -p 8080 bb true 2>"$TMP/p.err"
	expect_contains "$(cat "$TMP/p.err")" "-p publishes ports on the private network"
	test_expect_code 125 cairn run --rm -p 70000 bb true 2>/dev/null
	test_expect_code 125 cairn run --rm -p 1:2:3:4 bb true 2>/dev/null
'

test_expect_success ROOT 'errors: 125 for cairn'"'"'s own, 127 not found, 126 not executable' '
	test_expect_code 125 cairn run --rm nosuch:image true 2>"$TMP/e1" &&
	expect_contains "$(cat "$TMP/e1")" "nosuch" &&
	test_expect_code 125 cairn run --bogus bb true 2>/dev/null &&
	test_expect_code 125 cairn run --rm -v ./relative:/x bb true 2>"$TMP/e2" &&
	expect_contains "$(cat "$TMP/e2")" "-v ./relative:/x" &&
	test_expect_code 125 cairn run --rm --tmpfs /t:size=lots bb true 2>/dev/null &&
	test_expect_code 125 cairn run --rm -v /tmp:/ bb true 2>/dev/null &&
	test_expect_code 127 cairn run --rm bb no-such-command 2>"$TMP/e3" &&
	expect_contains "$(cat "$TMP/e3")" "no-such-command" &&
	test_expect_code 126 cairn run --rm bb /etc/passwd 2>/dev/null &&
	cairn run --name taken bb true &&
	test_expect_code 125 cairn run --name taken bb true 2>"$TMP/e4" &&
	expect_contains "$(cat "$TMP/e4")" "name taken is in use" &&
	cairn rm taken >/dev/null &&
	test_expect_code 1 cairn run -i -t --rm bb true </dev/null 2>"$TMP/e5" &&
	expect_contains "$(cat "$TMP/e5")" "not a TTY"
'

test_done
