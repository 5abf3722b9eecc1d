#!/bin/bash
# A RUN step is hostile: it must not reach the host through a file descriptor of the
# builder (runc CVE-2024-21626), type into the user's terminal (bubblewrap
# CVE-2017-5226), read the builder's memory or environment (runc CVE-2016-9962), use
# the host's kernel keyring, create namespaces, read what containerd masks, open a
# host device through a node it makes (or one an archive or a cache mount holds), or
# write the host's kernel settings.
. "$(dirname "$0")/lib.sh"
unset SOURCE_DATE_EPOCH

# the probe (tests/fixtures/probe/sandbox-probe.c) in an image of its own
probe_src="$FIXTURES/probe/sandbox-probe.c"
if test_have_prereq ROOT; then
	make_busybox_context "$TMP/base"
	if ! cc -static -O1 -o "$TMP/base/probe" "$probe_src" >"$TMP/cc.out" 2>&1; then
		echo "Bail out! the probe does not build"
		cat "$TMP/cc.out"
		exit 1
	fi
	build_base base 'COPY probe /bin/probe
'
fi

# run_step NAME RECIPE-LINES [BUILD-OPTIONS...]: builds FROM base + the lines.
run_step() {
	_n=$1
	_lines=$2
	shift 2
	mkdir -p "$TMP/$_n"
	printf 'FROM base\n%s\n' "$_lines" >"$TMP/$_n/Recipe"
	cairn build --no-cache -t "$_n" "$@" "$TMP/$_n"
}

# ---- runc CVE-2024-21626: a working directory through a leaked fd ----

for wd in /proc/self/fd/3 /proc/self/fd/4 /proc/self/fd/5 /proc/self/fd/6 \
	/proc/self/fd/7 /proc/self/fd/8 /proc/self/fd/9 /proc/self/fd/10 \
	/proc/self/fd/11 /proc/self/fd/12 /dev/fd/3 /proc/thread-self/fd/4; do
	test_expect_success ROOT "WORKDIR $wd cannot lead a RUN step to the host" '
		rm -f "$TMP/pwned" &&
		mkdir -p "$TMP/wd" &&
		printf "FROM base\nWORKDIR %s\nRUN echo pwned >../../../../../../../../../..$TMP/pwned; head -1 ../../../../../../../../../../etc/shadow\n" "$wd" >"$TMP/wd/Recipe" &&
		! cairn build --no-cache -t wd "$TMP/wd" >"$TMP/wd.out" 2>&1 &&
		test ! -e "$TMP/pwned" &&
		expect_contains "$(cat "$TMP/wd.out")" "working directory $wd" &&
		! grep -q "^root:" "$TMP/wd.out"
	'
done

test_expect_success ROOT 'an image whose config WorkingDir is /proc/self/fd/3 cannot reach the host' '
	rm -f "$TMP/pwned" &&
	mkdir -p "$TMP/evil" "$TMP/victim" &&
	printf "FROM base\nWORKDIR /proc/self/fd/3\n" >"$TMP/evil/Recipe" &&
	cairn build -q -t evil "$TMP/evil" >/dev/null &&
	expect_eq "$(cfg evil .config.WorkingDir)" "\"/proc/self/fd/3\"" &&
	printf "FROM evil\nRUN echo pwned >../../../../../../../../../..$TMP/pwned\n" >"$TMP/victim/Recipe" &&
	! cairn build --no-cache -t victim "$TMP/victim" >"$TMP/victim.out" 2>&1 &&
	test ! -e "$TMP/pwned" &&
	expect_contains "$(cat "$TMP/victim.out")" "working directory /proc/self/fd/3"
'

test_expect_success ROOT 'a RUN step holds no fd but 0, 1 and 2' '
	run_step fds "RUN probe fds"
'

test_expect_success ROOT 'a WORKDIR that does not exist yet is still created for the step' '
	run_step wdnew "WORKDIR /a/b/c
RUN test \"\$(pwd)\" = /a/b/c && touch made"
'

test_expect_success ROOT 'a working directory behind a symlink stays inside the root' '
	run_step wdlink "RUN ln -s ../../../../.. /up && mkdir -p /up/inside
WORKDIR /up/inside
RUN test \"\$(pwd -P)\" = /inside && test -d /inside"
'

# ---- bubblewrap CVE-2017-5226: TIOCSTI into the user's terminal ----

test_expect_success ROOT,SCRIPT 'a step run from a terminal cannot push input into it' '
	mkdir -p "$TMP/tty" &&
	printf "FROM base\nRUN probe tiocsti\n" >"$TMP/tty/Recipe" &&
	script -qec "\"$CAIRN\" build --no-cache -t tty \"$TMP/tty\"; echo \"status=\$?\"" /dev/null \
		</dev/null >"$TMP/tty.out" 2>&1 &&
	cat "$TMP/tty.out" &&
	grep -q "status=0" "$TMP/tty.out" &&
	! grep -q pushed "$TMP/tty.out"
'

test_expect_success ROOT,SCRIPT 'the output of a step run from a terminal still reaches it' '
	mkdir -p "$TMP/ttyout" &&
	printf "FROM base\nRUN echo from-the-step; echo to-stderr >&2\n" >"$TMP/ttyout/Recipe" &&
	script -qec "\"$CAIRN\" build --no-cache -t ttyout \"$TMP/ttyout\"" /dev/null \
		</dev/null >"$TMP/ttyout.out" 2>&1 &&
	grep -q from-the-step "$TMP/ttyout.out" &&
	grep -q to-stderr "$TMP/ttyout.out"
'

# ---- runc CVE-2016-9962: the builder's memory and environment ----

test_expect_success ROOT 'PID 1 of a step holds nothing of the builder: environ, cmdline, mem' '
	export CAIRN_PROBE_TOKEN=tok-4f1e9c2a &&
	run_step proc1 "RUN probe proc1 tok-4f1e9c2a arg-77c1d0 CAIRN_PROBE" \
		--secret id=npm,env=CAIRN_PROBE_TOKEN --build-arg UNUSED=arg-77c1d0 &&
	unset CAIRN_PROBE_TOKEN
'

# ---- the kernel keyring, namespaces, masked paths ----

test_expect_success ROOT 'a key in the host user keyring is out of reach of a step' '
	desc=cairn-test-key-$$ &&
	"$TMP/base/probe" addkey "$desc" &&
	"$TMP/base/probe" findkey "$desc" >/dev/null; test $? = 1 &&
	run_step keyring "RUN probe findkey $desc" >"$TMP/keyring.out" 2>&1; st=$?;
	"$TMP/base/probe" delkey "$desc";
	cat "$TMP/keyring.out" && test $st = 0
'

test_expect_success ROOT 'a step cannot create a user namespace (seccomp)' '
	run_step userns "RUN probe unshare" >"$TMP/userns.out" 2>&1 &&
	expect_contains "$(cat "$TMP/userns.out")" "Operation not permitted"
'

test_expect_success ROOT 'keyctl is refused (seccomp) and the step has a session keyring of its own' '
	run_step keyctl "RUN probe findkey anything" >"$TMP/keyctl.out" 2>&1 &&
	expect_contains "$(cat "$TMP/keyctl.out")" "Operation not permitted"
'

test_expect_success ROOT 'containerd'"'"'s masked paths read as empty' '
	run_step masked "RUN probe masked /proc/keys /proc/timer_list /proc/kcore /proc/sched_debug /proc/acpi /proc/scsi /sys/firmware"
'

test_expect_success ROOT '/proc/sys, /proc/bus, /proc/fs and /proc/irq are read-only' '
	run_step procro "RUN for d in /proc/sys /proc/bus /proc/fs /proc/irq; do test ! -d \$d || grep -q \" \$d .*ro,\" /proc/self/mountinfo || { echo \$d writable; exit 1; }; done"
'

test_expect_success ROOT '/proc/self/mountinfo of a step shows no path of the store' '
	run_step mountinfo "RUN cat /proc/self/mountinfo" >"$TMP/mountinfo.out" 2>&1 &&
	cat "$TMP/mountinfo.out" &&
	! grep -F "$CAIRN_ROOT" "$TMP/mountinfo.out"
'

test_expect_success ROOT 'ordinary steps still work under the filter: fork, threads, sockets, chroot' '
	run_step ordinary "RUN sh -c \"echo a | cat\" && (sleep 0 & wait) && mkdir -p /jail/bin && cp /bin/busybox /jail/bin/ && chroot /jail /bin/busybox true && nc -h 2>&1 | head -1 >/dev/null"
'

# ---- host devices and the host's kernel settings ----

# A host device that exists here and that the sandbox does not hand to a step
# (/dev/null, zero, full, random, urandom, tty are bound on purpose): HOST_DEVICE.
host_dev=
for d in /dev/kvm /dev/fuse /dev/loop-control /dev/vda /dev/sda /dev/nvme0n1; do
	if [ -c "$d" -o -b "$d" ] && (exec 3<"$d") 2>/dev/null; then
		host_dev=$d
		dev_type=$([ -b "$host_dev" ] && echo b || echo c)
		dev_nums="$((0x$(stat -c %t "$host_dev"))) $((0x$(stat -c %T "$host_dev")))"
		test_set_prereq HOST_DEVICE
		break
	fi
done

# docker keeps CAP_MKNOD but its device cgroup stops the open; cairn has no device
# cgroup and the root is not nodev, so a node a step makes opens the host's device
# (a block device: the host's disk).
test_expect_success ROOT,HOST_DEVICE "a RUN step cannot open a host device${host_dev:+ ($host_dev)} through a node it makes" '
	c=$(new_ctx mknod) &&
	cat >"$c/Recipe" <<-RECIPE &&
	FROM base
	RUN mknod /node $dev_type $dev_nums && mkdir -p /tmp && mknod /tmp/node $dev_type $dev_nums
	RUN if dd if=/node of=/dev/null count=0; then echo OPENED /node; exit 1; fi
	RUN if dd if=/tmp/node of=/dev/null count=0; then echo OPENED /tmp/node; exit 1; fi
	RUN mknod /dev/node2 $dev_type $dev_nums && if dd if=/dev/node2 of=/dev/null count=0; then echo OPENED /dev/node2; exit 1; fi
	RECIPE
	cairn build -t mknod "$c"
'

test_expect_success ROOT,HOST_DEVICE "a device node from an ADDed archive cannot open a host device${host_dev:+ ($host_dev)}" '
	c=$(new_ctx adddev) &&
	mkdir "$TMP/adddev.tree" &&
	mknod "$TMP/adddev.tree/node" $dev_type $dev_nums &&
	tar -C "$TMP/adddev.tree" -cf "$c/dev.tar" node &&
	cat >"$c/Recipe" <<-RECIPE &&
	FROM base
	ADD dev.tar /x/
	RUN if dd if=/x/node of=/dev/null count=0; then echo OPENED; exit 1; fi
	RECIPE
	cairn build -t adddev "$c"
'

test_expect_success ROOT,HOST_DEVICE "a device node in a cache mount cannot open a host device${host_dev:+ ($host_dev)}" '
	c=$(new_ctx cachedev) &&
	cat >"$c/Recipe" <<-RECIPE &&
	FROM base
	RUN --mount=type=cache,target=/c mknod /c/node $dev_type $dev_nums
	RUN --mount=type=cache,target=/c if dd if=/c/node of=/dev/null count=0; then echo OPENED; exit 1; fi
	RECIPE
	cairn build -t cachedev "$c"
'

# /proc was mounted read-write as a whole: a root step wrote the host's sysctls (the
# same value back here; kernel.core_pattern would run a program on the host).
test_expect_success ROOT 'a RUN step cannot write the host kernel settings in /proc/sys' '
	c=$(new_ctx procsys) &&
	cat >"$c/Recipe" <<-\RECIPE &&
	FROM base
	RUN v=$(cat /proc/sys/kernel/printk_ratelimit) && if echo "$v" >/proc/sys/kernel/printk_ratelimit; then echo WROTE; exit 1; fi
	RUN cat /proc/sys/kernel/printk_ratelimit /proc/self/status >/dev/null
	RECIPE
	cairn build -t procsys "$c"
'

test_done
