#!/bin/bash
# RUN: shell and exec forms, what a step sees (ENV, ARG, USER, WORKDIR), the
# layers it leaves (whiteouts), failure and interruption leaving nothing behind,
# and the sandbox's isolation (network, pid, fds, hostname).
. "$(dirname "$0")/lib.sh"

# expect_no_tag REF
expect_no_tag() {
	if jq -e --arg r "$1" '.manifests[]? | select(.annotations["org.opencontainers.image.ref.name"] == $r)' \
		"$CAIRN_ROOT/index.json" >/dev/null 2>&1; then
		echo "tag $1 exists"
		return 1
	fi
	if cairn inspect "$1" >/dev/null 2>&1; then
		echo "cairn inspect $1 succeeded"
		return 1
	fi
}

ctx forms <<'EOF'
RUN echo shell-form > /shell && echo "$0" > /shell0
RUN ["/bin/sh", "-c", "echo exec-form > /exec; echo \"$0\" > /exec0"]
RUN ["/bin/busybox", "touch", "/direct"]
EOF
test_expect_success ROOT 'RUN shell form runs through /bin/sh -c, exec form runs argv as given' '
	cairn build -q -t forms "$TMP/forms" >/dev/null &&
	image_rootfs forms "$TMP/forms.root" &&
	expect_eq "$(cat "$TMP/forms.root/shell")" shell-form &&
	expect_eq "$(cat "$TMP/forms.root/shell0")" /bin/sh &&
	expect_eq "$(cat "$TMP/forms.root/exec")" exec-form &&
	test -f "$TMP/forms.root/direct" &&
	cairn inspect forms | jq -r ".Config.history[].created_by" >"$TMP/forms.hist" &&
	grep -qxF "RUN /bin/sh -c echo shell-form > /shell && echo \"\$0\" > /shell0 # buildkit" "$TMP/forms.hist" &&
	grep -qxF "RUN /bin/busybox touch /direct # buildkit" "$TMP/forms.hist"
'

ctx output <<'EOF'
RUN echo to-stdout-4711; echo to-stderr-4712 >&2
EOF
test_expect_success ROOT 'the output of a step (stdout and stderr) reaches the stderr of cairn build' '
	cairn build -t output "$TMP/output" >"$TMP/output.out" 2>"$TMP/output.err" &&
	grep -q to-stdout-4711 "$TMP/output.err" &&
	grep -q to-stderr-4712 "$TMP/output.err" &&
	! grep -q to-std "$TMP/output.out"
'

ctx env <<'EOF'
ENV GREETING="hello world" OTHER=x
ARG COLOR=red
ARG SIZE
RUN echo "$GREETING|$OTHER|$COLOR|$SIZE" > /seen
EOF
test_expect_success ROOT 'RUN sees ENV values and ARG values, defaults overridden by --build-arg' '
	cairn build -q -t env "$TMP/env" >/dev/null &&
	expect_eq "$(out env /seen)" "hello world|x|red|" &&
	cairn build -q --build-arg COLOR=blue --build-arg SIZE=9 -t env2 "$TMP/env" >/dev/null &&
	expect_eq "$(out env2 /seen)" "hello world|x|blue|9"
'

test_expect_success ROOT 'ARG values are not persisted into the image config Env' '
	image_config env2 | jq -r ".config.Env[]" >"$TMP/env2.env" &&
	grep -qx "GREETING=hello world" "$TMP/env2.env" &&
	! grep -q "^COLOR=" "$TMP/env2.env" &&
	! grep -q "^SIZE=" "$TMP/env2.env"
'

ctx user <<'EOF'
RUN mkdir -p /etc /home/app && echo "root:x:0:0:root:/root:/bin/sh" > /etc/passwd \
 && echo "app:x:1234:2345:app:/home/app:/bin/sh" >> /etc/passwd \
 && echo "root:x:0:" > /etc/group && echo "app:x:2345:" >> /etc/group \
 && chown 1234:2345 /home/app
USER app
RUN id -u > /home/app/uid && id -g > /home/app/gid && echo "$HOME" > /home/app/home
USER 0
RUN id -u > /rootuid
EOF
test_expect_success ROOT 'RUN runs as the USER, resolved through an /etc/passwd written by an earlier RUN' '
	cairn build -q -t user "$TMP/user" >/dev/null &&
	image_rootfs user "$TMP/user.root" &&
	expect_eq "$(cat "$TMP/user.root/home/app/uid")" 1234 &&
	expect_eq "$(cat "$TMP/user.root/home/app/gid")" 2345 &&
	expect_eq "$(stat -c %u:%g "$TMP/user.root/home/app/uid")" 1234:2345 &&
	expect_eq "$(cat "$TMP/user.root/rootuid")" 0
'

# As docker (runc, crun): HOME, when the ENV does not set it, is the USER's home in
# /etc/passwd.
test_expect_success ROOT 'RUN as a USER has HOME set to the home dir from /etc/passwd' '
	expect_eq "$(cat "$TMP/user.root/home/app/home")" /home/app
'

ctx unknownuser <<'EOF'
USER nobody-here
RUN true
EOF
test_expect_success ROOT 'a USER name missing from /etc/passwd fails the RUN with a message naming it' '
	test_must_fail_build unknownuser &&
	expect_contains "$(cat "$TMP/unknownuser.err")" nobody-here
'

ctx workdir <<'EOF'
WORKDIR /srv/app
RUN pwd > /pwd1 && touch here
WORKDIR sub
RUN pwd > /pwd2
EOF
test_expect_success ROOT 'RUN runs in the WORKDIR, which is created when missing (relative WORKDIR joins)' '
	cairn build -q -t workdir "$TMP/workdir" >/dev/null &&
	image_rootfs workdir "$TMP/workdir.root" &&
	expect_eq "$(cat "$TMP/workdir.root/pwd1")" /srv/app &&
	expect_eq "$(cat "$TMP/workdir.root/pwd2")" /srv/app/sub &&
	test -f "$TMP/workdir.root/srv/app/here" &&
	test -d "$TMP/workdir.root/srv/app/sub"
'

ctx whiteout <<'EOF'
RUN mkdir -p /d /keep && touch /d/a /d/b /f /keep/k
RUN rm /d/a && rm -rf /d && mkdir /d && touch /d/c
RUN rm /f
EOF
test_expect_success ROOT 'deletions in RUN become whiteouts: .wh.NAME for a file, .wh..wh..opq for a recreated dir' '
	cairn build -q -t whiteout "$TMP/whiteout" >/dev/null &&
	expect_eq "$(cairn inspect whiteout | jq ".Manifest.layers | length")" 5 &&
	layer_tar whiteout 3 "$TMP/wh3.tar" &&
	layer_tar whiteout 4 "$TMP/wh4.tar" &&
	tar -tf "$TMP/wh3.tar" | sed "s,^\./,," >"$TMP/wh3.list" &&
	tar -tf "$TMP/wh4.tar" | sed "s,^\./,," >"$TMP/wh4.list" &&
	cat "$TMP/wh3.list" "$TMP/wh4.list" &&
	grep -qx "d/.wh..wh..opq" "$TMP/wh3.list" &&
	grep -qx "d/c" "$TMP/wh3.list" &&
	! grep -q "d/.wh.a" "$TMP/wh3.list" &&
	! grep -q "d/b" "$TMP/wh3.list" &&
	grep -qx ".wh.f" "$TMP/wh4.list" &&
	! grep -qv "^\.wh\.f$" "$TMP/wh4.list"
'

test_expect_success ROOT 'a file removed in a later RUN is a .wh. entry when its dir stays' '
	ctx whiteout2 <<-EOF &&
	RUN mkdir -p /d && touch /d/a /d/b
	RUN rm /d/a
	EOF
	cairn build -q -t whiteout2 "$TMP/whiteout2" >/dev/null &&
	layer_tar whiteout2 3 "$TMP/wh2.tar" &&
	tar -tf "$TMP/wh2.tar" | sed "s,^\./,," >"$TMP/wh2.list" &&
	grep -qx "d/.wh.a" "$TMP/wh2.list" &&
	! grep -qx "d/b" "$TMP/wh2.list"
'

test_expect_success ROOT 'the rootfs of the whiteout image holds exactly the expected files' '
	image_rootfs whiteout "$TMP/wh.root" &&
	(cd "$TMP/wh.root" && find d f keep 2>/dev/null | sort) >"$TMP/wh.files" &&
	expect_eq "$(cat "$TMP/wh.files")" "$(printf "%s\n" d d/c keep keep/k)" &&
	! find "$TMP/wh.root" -name ".wh.*" | grep -q .
'

ctx fail <<'EOF'
RUN touch /partial
RUN echo before-fail && touch /more && exit 3
RUN echo never-reached
EOF
test_expect_success ROOT 'a failing RUN fails the build, naming the step, the exit status and the recipe line' '
	test_must_fail_build fail &&
	err=$(cat "$TMP/fail.err") &&
	expect_contains "$err" "exit status 3" &&
	expect_contains "$err" "Recipe:5" &&
	expect_contains "$err" "5/6" &&
	expect_contains "$err" "exit 3" &&
	! grep -q never-reached "$TMP/fail.err"
'

test_expect_success ROOT 'a failed build creates no tag and leaves no temp dir and no mount' '
	expect_no_tag fail:latest &&
	expect_no_leftovers
'

ctx nope <<'EOF'
RUN ["/nope"]
EOF
test_expect_success ROOT 'a RUN of a missing command fails with a message naming the command' '
	test_must_fail_build nope &&
	expect_contains "$(cat "$TMP/nope.err")" /nope &&
	grep -qiE "not found|no such file" "$TMP/nope.err" &&
	expect_no_tag nope:latest &&
	expect_no_leftovers
'

# The network: (no wget -T: busybox 1.35's wget crashes with it) a web server on the
# host's loopback that only --network host reaches (t0305: the private network).
mkdir -p "$TMP/www" && echo served-4713 >"$TMP/www/index.html"
port=$((20000 + $$ % 20000))
httpd_pid=
if test_have_prereq ROOT; then
	busybox httpd -f -p "127.0.0.1:$port" -h "$TMP/www" &
	httpd_pid=$!
	for _ in $(seq 50); do
		env -u http_proxy busybox wget -q -O /dev/null "http://127.0.0.1:$port/" 2>/dev/null && break
		sleep 0.1
	done
fi
ctx net <<EOF
RUN wget -O /got http://127.0.0.1:$port/
EOF
test_expect_success ROOT,SLIRP 'by default (private) RUN cannot reach the host loopback' '
	env -u http_proxy busybox wget -q -O - "http://127.0.0.1:$port/" | grep -q served-4713 &&
	test_must_fail_build net &&
	grep -q "exit status 1\$" "$TMP/net.err" &&
	grep -qiE "can.t connect|unreachable|refused" "$TMP/net.err" &&
	expect_no_tag net:latest
'

test_expect_success ROOT 'with --network host RUN reaches a server on the host loopback' '
	cairn build -q --network host -t net "$TMP/net" >/dev/null &&
	expect_eq "$(out net /got)" served-4713
'

test_expect_success ROOT '--network none is accepted and cannot reach it either' '
	test_must_fail_build net --network none &&
	grep -q "exit status 1 (the step ran without a network: --network none)$" "$TMP/net.err"
'
if [ -n "$httpd_pid" ]; then
	kill "$httpd_pid" 2>/dev/null
	wait "$httpd_pid" 2>/dev/null
fi

ctx iso <<'EOF'
RUN cat /proc/net/dev > /netdev && echo $$ > /pid && ps -o pid,comm > /ps \
 && ls /proc/self/fd > /fds && hostname > /hostname
EOF
test_expect_success ROOT,SLIRP 'RUN is isolated: only lo and tap0 (private), its own pid namespace, only fds 0-2, its own hostname' '
	cairn build -q -t iso "$TMP/iso" >/dev/null 5</dev/null 7</dev/null 8>"$TMP/iso.leak" &&
	image_rootfs iso "$TMP/iso.root" &&
	cat "$TMP/iso.root/netdev" "$TMP/iso.root/ps" "$TMP/iso.root/fds" &&
	expect_eq "$(sed -n "3,\$p" "$TMP/iso.root/netdev" | cut -d: -f1 | tr -d " " | sort | paste -sd " ")" "lo tap0" &&
	test "$(cat "$TMP/iso.root/pid")" -le 2 &&
	test "$(sed 1d "$TMP/iso.root/ps" | wc -l)" -le 3 &&
	! grep -qw httpd "$TMP/iso.root/ps" &&
	expect_eq "$(grep -cvE "^[012]$" "$TMP/iso.root/fds")" 1 &&
	! grep -qE "^([4-9]|[1-9][0-9]+)$" "$TMP/iso.root/fds" &&
	test "$(cat "$TMP/iso.root/hostname")" != "$(hostname)" &&
	test -n "$(cat "$TMP/iso.root/hostname")"
'

# 5: where the child keeps the private network's socket when it has one
test_expect_success ROOT '--network none: no fd of cairn reaches the step either' '
	cairn build -q --no-cache --network none -t iso "$TMP/iso" >/dev/null 5</dev/null 7</dev/null &&
	image_rootfs iso "$TMP/iso.none" &&
	cat "$TMP/iso.none/fds" &&
	expect_eq "$(grep -cvE "^[012]$" "$TMP/iso.none/fds")" 1 &&
	! grep -qE "^([4-9]|[1-9][0-9]+)$" "$TMP/iso.none/fds"
'

ctx nochange <<'EOF'
RUN echo nothing > /dev/null && ls /proc > /dev/null
EOF
# BuildKit records a layer for every RUN, even one that changes nothing: an empty
# tar, whose diff_id is the digest of 1024 zero bytes
test_expect_success ROOT 'a RUN that changes nothing adds an empty layer, as BuildKit' '
	cairn build -q -t nochange "$TMP/nochange" >/dev/null &&
	cairn inspect nochange >"$TMP/nochange.json" &&
	expect_eq "$(jq ".Manifest.layers | length" "$TMP/nochange.json")" 3 &&
	expect_eq "$(jq -r ".Config.rootfs.diff_ids[-1]" "$TMP/nochange.json")" \
		"sha256:$(head -c 1024 /dev/zero | sha256sum | cut -d" " -f1)" &&
	expect_eq "$(jq -c "[.Config.history[] | .empty_layer // false]" "$TMP/nochange.json")" "[false,false,false]"
'

ctx sleep <<'EOF'
RUN sleep 60
EOF

# step_sleep PID: the pid of the "sleep" among the descendants of PID (the step).
step_sleep() {
	ps -eo pid=,ppid=,comm= | awk -v root="$1" '
		{ parent[$1] = $2; comm[$1] = $3 }
		END {
			for (p in parent) {
				if (comm[p] != "sleep") continue
				for (a = parent[p]; a > 1; a = parent[a])
					if (a == root) { print p; exit }
			}
		}'
}
test_expect_success ROOT 'Ctrl-C during a RUN stops the build: non-zero, no tag, no temp dir, no mount, no process' '
	"$CAIRN" build -t sleep "$TMP/sleep" >"$TMP/sleep.out" 2>"$TMP/sleep.err" &
	pid=$! &&
	for _ in $(seq 100); do
		grep -q "RUN sleep 60" "$TMP/sleep.err" && step=$(step_sleep "$pid") && test -n "$step" && break
		sleep 0.1
	done &&
	grep -q "RUN sleep 60" "$TMP/sleep.err" &&
	test -n "$step" &&
	kill -INT "$pid" &&
	for _ in $(seq 300); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done &&
	if kill -0 "$pid" 2>/dev/null; then
		echo "cairn still running 30 s after SIGINT"
		kill -KILL "$pid"
		false
	fi &&
	rc=0 && wait "$pid" || rc=$? &&
	cat "$TMP/sleep.err" &&
	test "$rc" -ne 0 &&
	! kill -0 "$step" 2>/dev/null &&
	expect_no_tag sleep:latest &&
	expect_no_leftovers
'

# wait_gone PID: waits up to 30 s for PID to end.
wait_gone() {
	for _ in $(seq 300); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.1
	done
	return 1
}

test_expect_success ROOT 'when cairn is killed (SIGKILL) during a RUN, the step dies with it' '
	"$CAIRN" build -t sleep "$TMP/sleep" >"$TMP/kill.out" 2>"$TMP/kill.err" &
	pid=$! &&
	for _ in $(seq 100); do
		step=$(step_sleep "$pid") && test -n "$step" && break
		sleep 0.1
	done &&
	test -n "$step" &&
	kill -KILL "$pid" &&
	{ wait "$pid" || :; } &&
	if ! wait_gone "$step"; then
		echo "the step (pid $step) outlived cairn"
		kill -KILL "$step"
		false
	fi &&
	expect_no_tag sleep:latest &&
	! grep -F "$TMP" /proc/self/mountinfo
'

test_done
