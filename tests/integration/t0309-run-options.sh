#!/bin/bash
# RUN's sandbox options, as docker buildx build has them: every step gets
# /etc/hosts, /etc/hostname and /etc/resolv.conf whatever its network, and none of
# them reaches a layer; --hostname, --add-host, --shm-size, --ulimit, --memory and
# --cpu-quota (a cgroup v2 group, or an error naming the flag); RUN
# --security=insecure only with --allow security.insecure; RUN --network=host with
# --allow network.host; RUN --mount=type=ssh with --ssh (an ssh-agent the test
# starts, asked by ssh-add inside the step); a step that failed without a network
# says so.
. "$(dirname "$0")/lib.sh"

agent_pid=
stop_agent() {
	[ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null
	agent_pid=
}
trap 'stop_agent; _cleanup' EXIT

if test_have_prereq ROOT; then
	build_base base ""
fi

# out REF PATH: the content of PATH in image REF
out() {
	rm -rf "$TMP/rootfs.out" && image_rootfs "$1" "$TMP/rootfs.out" && cat "$TMP/rootfs.out$2"
}

recipe names <<'EOF'
FROM base
RUN cat /etc/hosts > /hosts && cat /etc/hostname > /hostname && cat /etc/resolv.conf > /resolv && hostname -f > /fqdn
EOF
test_expect_success ROOT '--network none: hosts (localhost, ::1, the hostname), hostname, resolv.conf; hostname -f works; none in the layer' '
	build names --network none -q >/dev/null &&
	grep -q "^127.0.0.1[[:space:]]*localhost$" "$(out names /hosts >/dev/null; echo "$TMP/rootfs.out/hosts")" &&
	grep -q "^::1[[:space:]]*localhost" "$TMP/rootfs.out/hosts" &&
	grep -q "^127.0.0.1[[:space:]]*cairn$" "$TMP/rootfs.out/hosts" &&
	expect_eq "$(cat "$TMP/rootfs.out/hostname")" cairn &&
	expect_eq "$(cat "$TMP/rootfs.out/fqdn")" cairn &&
	expect_eq "$(grep -v "^nameserver 127\." /etc/resolv.conf)" "$(cat "$TMP/rootfs.out/resolv")" &&
	test ! -e "$TMP/rootfs.out/etc" &&
	! layer_names names | grep -q "^etc" &&
	expect_no_leftovers
'

test_expect_success ROOT '--network host: the same files, this system'"'"'s resolv.conf, none in the layer' '
	build names --network host --no-cache -q >/dev/null &&
	out names /resolv >/dev/null &&
	expect_eq "$(cat "$TMP/rootfs.out/resolv")" "$(cat /etc/resolv.conf)" &&
	expect_eq "$(cat "$TMP/rootfs.out/fqdn")" cairn &&
	test ! -e "$TMP/rootfs.out/etc" &&
	! layer_names names | grep -q "^etc"
'

recipe imagehosts <<'EOF'
FROM base
COPY hosts /etc/hosts
RUN cat /etc/hosts > /seen && ! echo x >> /etc/hosts && touch /after
EOF
echo "10.9.9.9 fromimage" >"$TMP/imagehosts/hosts"
test_expect_success ROOT 'an image'"'"'s /etc/hosts is covered for the step, read-only (as BuildKit binds it), and stays as it was' '
	build imagehosts --network none -q >/dev/null &&
	out imagehosts /seen >/dev/null &&
	! grep -q fromimage "$TMP/rootfs.out/seen" &&
	grep -q localhost "$TMP/rootfs.out/seen" &&
	test -e "$TMP/rootfs.out/after" &&
	expect_eq "$(cat "$TMP/rootfs.out/etc/hosts")" "10.9.9.9 fromimage" &&
	expect_eq "$(cairn inspect imagehosts | jq -r ".Manifest.layers[-1].digest" | xargs -I{} sh -c "zstd -qdc $CAIRN_ROOT/blobs/sha256/\$(echo {} | cut -d: -f2) | tar -t" | sort | paste -sd " ")" "after seen"
'

test_expect_success ROOT '--hostname and --add-host reach /etc/hosts and /etc/hostname' '
	build names --no-cache --network none --hostname box.example --add-host db:192.0.2.7 \
		--add-host "v6=[2001:db8::1]" -q >/dev/null &&
	out names /hosts >/dev/null &&
	grep -q "^192.0.2.7[[:space:]]db$" "$TMP/rootfs.out/hosts" &&
	grep -q "^2001:db8::1[[:space:]]v6$" "$TMP/rootfs.out/hosts" &&
	grep -q "[[:space:]]box.example$" "$TMP/rootfs.out/hosts" &&
	expect_eq "$(cat "$TMP/rootfs.out/hostname")" box.example &&
	expect_eq "$(cat "$TMP/rootfs.out/fqdn")" box.example
'

test_expect_success ROOT '--hostname is part of the RUN steps'"'"' keys, as in BuildKit'"'"'s exec op' '
	build names --network none --hostname one.example >/dev/null 2>&1 &&
	build names --network none --hostname one.example >"$TMP/names.again" 2>&1 &&
	grep -q CACHED "$TMP/names.again" &&
	build names --network none --hostname two.example >"$TMP/names.two" 2>&1 &&
	! grep -q CACHED "$TMP/names.two" &&
	out names /hostname >/dev/null &&
	expect_eq "$(cat "$TMP/rootfs.out/hostname")" two.example
'

test_expect_success ROOT,SLIRP '--add-host NAME:host-gateway is the private network'"'"'s gateway' '
	build names --no-cache --add-host gw:host-gateway -q >/dev/null &&
	out names /hosts >/dev/null &&
	grep -q "^10.0.2.2[[:space:]]gw$" "$TMP/rootfs.out/hosts"
'

test_expect_success ROOT '--add-host is part of the step'"'"'s key: another address runs it again' '
	cairn build --network none --add-host db:192.0.2.8 -t names "$TMP/names" 2>"$TMP/key.err" >/dev/null &&
	out names /hosts >/dev/null &&
	grep -q "^192.0.2.8[[:space:]]db$" "$TMP/rootfs.out/hosts"
'

test_expect_success ROOT '--add-host host-gateway without a network is an error naming the flag' '
	! cairn build --no-cache --network none --add-host gw:host-gateway -t names "$TMP/names" 2>"$TMP/gw.err" &&
	grep -q -- "--add-host gw:host-gateway: host-gateway needs a network" "$TMP/gw.err"
'

recipe limits <<'EOF'
FROM base
RUN df -k /dev/shm | tail -1 > /shm && ulimit -n > /soft && ulimit -Hn > /hard && ulimit -c > /core
EOF
test_expect_success ROOT '--shm-size sizes /dev/shm, --ulimit sets the step'"'"'s limits (a type repeated: the last)' '
	build limits --network none --shm-size 96m --ulimit nofile=512:1024 --ulimit core=0 \
		--ulimit nofile=700:1400 -q >/dev/null &&
	out limits /shm >/dev/null &&
	expect_eq "$(awk "{print \$2}" "$TMP/rootfs.out/shm")" 98304 &&
	expect_eq "$(cat "$TMP/rootfs.out/soft")" 700 &&
	expect_eq "$(cat "$TMP/rootfs.out/hard")" 1400 &&
	expect_eq "$(cat "$TMP/rootfs.out/core")" 0
'

test_expect_success ROOT 'bad values of the options are errors naming the flag' '
	for o in "--shm-size 12q" "--shm-size 0" "--ulimit nofile" "--ulimit bogus=1" "--ulimit nofile=9:3" \
		"--memory 1k" "--memory lots" "--cpu-quota 0" "--cpu-quota x" "--add-host nohost" \
		"--add-host h:999.1.1.1" "--hostname -bad" "--allow everything" "--ssh x=$TMP/nosuch"; do
		set -- $o
		test_expect_code 2 cairn build "$@" "$TMP/limits" 2>"$TMP/bad.err" &&
		expect_contains "$(cat "$TMP/bad.err")" "$1" || return 1
	done
'

recipe mem <<'EOF'
FROM base
RUN cat /sys/fs/cgroup/memory.max > /mem && cat /sys/fs/cgroup/cpu.max > /cpu
EOF
test_expect_success ROOT '--memory and --cpu-quota: the step'"'"'s cgroup limits, or an error naming the flag and why' '
	if cairn build --network none --memory 64m --cpu-quota 50000 -q -t mem "$TMP/mem" >/dev/null 2>"$TMP/mem.err"; then
		out mem /mem >/dev/null &&
		expect_eq "$(cat "$TMP/rootfs.out/mem")" 67108864 &&
		expect_eq "$(cat "$TMP/rootfs.out/cpu")" "50000 100000"
	else
		cat "$TMP/mem.err" &&
		grep -q -- "--memory .*cgroup\|--memory: .*cgroup" "$TMP/mem.err" &&
		! cairn build --network none --cpu-quota 50000 -q -t mem "$TMP/mem" 2>"$TMP/cpu.err" &&
		grep -q -- "--cpu-quota" "$TMP/cpu.err"
	fi &&
	! find /sys/fs/cgroup -maxdepth 3 -name "cairn-step-*" | grep -q . &&
	expect_no_leftovers
'

recipe insecure <<'EOF'
FROM base
RUN --security=insecure grep -E "^(CapEff|Seccomp):" /proc/self/status > /status
EOF
test_expect_success ROOT 'RUN --security=insecure is refused without --allow security.insecure' '
	fails_with insecure "--allow security.insecure" "Recipe:2"
'

test_expect_success ROOT 'with --allow security.insecure: every capability, no seccomp filter' '
	build insecure --network none --allow security.insecure -q >/dev/null &&
	out insecure /status >/dev/null &&
	grep -q "^Seccomp:[[:space:]]*0$" "$TMP/rootfs.out/status" &&
	expect_eq "$(awk "/CapEff/ {print \$2}" "$TMP/rootfs.out/status")" "$(awk "/CapEff/ {print \$2}" /proc/self/status)"
'

recipe secure <<'EOF'
FROM base
RUN grep -E "^(CapEff|Seccomp):" /proc/self/status > /status
EOF
test_expect_success ROOT 'a sandboxed step keeps docker'"'"'s capabilities and the filter, and keys apart from an insecure one' '
	build secure --network none --allow security.insecure -q >/dev/null &&
	out secure /status >/dev/null &&
	grep -q "^Seccomp:[[:space:]]*2$" "$TMP/rootfs.out/status" &&
	expect_eq "$(awk "/CapEff/ {print \$2}" "$TMP/rootfs.out/status")" 00000000a80425fb &&
	test "$(cairn inspect secure | jq -r ".Manifest.layers[-1].digest")" != \
		"$(cairn inspect insecure | jq -r ".Manifest.layers[-1].digest")"
'

recipe hostnet <<'EOF'
FROM base
RUN --network=host echo ok > /ok
EOF
test_expect_success ROOT 'RUN --network=host needs --allow network.host (or --network host)' '
	fails_with hostnet "--allow network.host" &&
	build hostnet --network none --allow network.host -q >/dev/null &&
	expect_eq "$(out hostnet /ok)" ok
'

recipe nonet <<'EOF'
FROM base
RUN exit 100
EOF
recipe nonetrun <<'EOF'
FROM base
RUN --network=none exit 100
EOF
test_expect_success ROOT 'a step that fails without a network says so, and which flag took it' '
	! cairn build --network none -t nonet "$TMP/nonet" 2>"$TMP/nonet.err" &&
	grep -q "exit status 100 (the step ran without a network: --network none)" "$TMP/nonet.err" &&
	! cairn build --network host -t nonetrun "$TMP/nonetrun" 2>"$TMP/nonetrun.err" &&
	grep -q "exit status 100 (the step ran without a network: RUN --network=none)" "$TMP/nonetrun.err" &&
	! cairn build --network host -t nonet "$TMP/nonet" 2>"$TMP/hostnet.err" &&
	! grep -q "without a network" "$TMP/hostnet.err"
'

# ssh-add and what it links, copied into the image at the same paths
if test_have_prereq ROOT && command -v ssh-agent >/dev/null && command -v ssh-add >/dev/null &&
	command -v ssh-keygen >/dev/null && command -v ldd >/dev/null; then
	test_set_prereq SSH
	mkdir -p "$TMP/ssh/files" &&
		for f in /usr/bin/ssh-add $(ldd /usr/bin/ssh-add | grep -o "/[^ ]*"); do
			cp --parents -L "$f" "$TMP/ssh/files/"
		done
	cat >"$TMP/ssh/Recipe" <<'EOF'
FROM base
COPY files /
RUN --mount=type=ssh echo "$SSH_AUTH_SOCK" > /sock && test -S "$SSH_AUTH_SOCK" && ssh-add -l > /keys
EOF
	ssh-keygen -q -t ed25519 -N "" -C cairn-test-key -f "$TMP/id" &&
		eval "$(ssh-agent -s -a "$TMP/agent.sock")" >/dev/null &&
		agent_pid=$SSH_AGENT_PID &&
		ssh-add -q "$TMP/id" 2>/dev/null
fi

test_expect_success SSH 'RUN --mount=type=ssh: the agent of --ssh default answers ssh-add -l in the step' '
	build ssh --network none --ssh default -q >/dev/null &&
	expect_eq "$(out ssh /sock)" /run/buildkit/ssh_agent.0 &&
	grep -q "cairn-test-key" "$TMP/rootfs.out/keys" &&
	! layer_names ssh | grep -q "^run" &&
	! cairn inspect ssh | grep -q "agent.sock" &&
	expect_no_leftovers
'

test_expect_success SSH 'the socket is not in the key: another path for the agent reuses the step' '
	ln "$TMP/agent.sock" "$TMP/agent2.sock" &&
	cairn build --network none --ssh "default=$TMP/agent2.sock" -t ssh "$TMP/ssh" 2>"$TMP/ssh2.err" >/dev/null &&
	grep -q "cached\|CACHED" "$TMP/ssh2.err" || { cat "$TMP/ssh2.err"; false; }
'

recipe sshreq <<'EOF'
FROM base
RUN --mount=type=ssh,id=deploy,required=true,target=/agent test -S /agent && echo "$SSH_AUTH_SOCK" > /sock
EOF
test_expect_success SSH 'a required ssh mount without its --ssh is an error saying what to add; with it, at its target' '
	fails_with sshreq "ssh agent deploy is required" "--ssh deploy=SOCKET" &&
	build sshreq --network none --ssh "deploy=$TMP/agent.sock" -q >/dev/null &&
	expect_eq "$(out sshreq /sock)" /agent
'

test_done
