#!/bin/bash
# Found in review: ways a recipe or an image layer reached the host, each with the
# behaviour the charter requires ("nothing from a recipe, a build context or an image
# layer can write outside its root or reach the host from a RUN step").
. "$(dirname "$0")/lib.sh"
require_root
unset SOURCE_DATE_EPOCH

base="$TMP/base"
make_busybox_context "$base"
busybox_base >"$base/Recipe"
if ! cairn build -q -t base "$base" >"$TMP/base.out" 2>&1; then
	echo "Bail out! the base image does not build"
	cat "$TMP/base.out"
	exit 1
fi

# mkdir_in_root used to chmod 0755 whatever a dangling symlink of the image named,
# following it on the host: COPY to /d/sub/ with /d -> /etc/shadow (absent in the
# image) made the host's /etc/shadow 0755.
test_expect_success 'COPY through a dangling symlink to a host path leaves the host file alone' '
	c=$(new_ctx dangling) &&
	echo secret >"$TMP/victim-file" && chmod 0600 "$TMP/victim-file" &&
	mkdir "$TMP/victim-dir" && chmod 0700 "$TMP/victim-dir" &&
	echo hi >"$c/f" &&
	cat >"$c/Recipe" <<-RECIPE &&
	FROM base
	RUN ln -s $TMP/victim-file /d && ln -s $TMP/victim-dir /e
	COPY f /d/sub/
	RECIPE
	! cairn build -t dangling "$c" &&
	sed -i "s|COPY f /d/sub/|COPY f /e/sub/|" "$c/Recipe" &&
	! cairn build -t dangling "$c" &&
	sed -i "s|COPY f /e/sub/|WORKDIR /e/sub|" "$c/Recipe" &&
	! cairn build -t dangling "$c" &&
	expect_eq "$(stat -c %a "$TMP/victim-file")" 600 &&
	expect_eq "$(stat -c %a "$TMP/victim-dir")" 700 &&
	test ! -e "$TMP/victim-dir/sub"
'

# A host device that exists here and that the sandbox does not hand to a step
# (/dev/null, zero, full, random, urandom, tty are bound on purpose).
host_dev=
for d in /dev/kvm /dev/fuse /dev/loop-control /dev/vda /dev/sda /dev/nvme0n1; do
	if [ -c "$d" -o -b "$d" ] && (exec 3<"$d") 2>/dev/null; then
		host_dev=$d
		break
	fi
done

# docker keeps CAP_MKNOD but its device cgroup stops the open; cairn has no device
# cgroup and the root is not nodev, so a node a step makes opens the host's device
# (a block device: the host's disk).
if [ -n "$host_dev" ]; then
	dev_type=$([ -b "$host_dev" ] && echo b || echo c)
	dev_nums="$((0x$(stat -c %t "$host_dev"))) $((0x$(stat -c %T "$host_dev")))"
	test_expect_success "a RUN step cannot open a host device ($host_dev) through a node it makes" '
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

	test_expect_success "a device node from an ADDed archive cannot open a host device ($host_dev)" '
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

	test_expect_success "a device node in a cache mount cannot open a host device ($host_dev)" '
		c=$(new_ctx cachedev) &&
		cat >"$c/Recipe" <<-RECIPE &&
		FROM base
		RUN --mount=type=cache,target=/c mknod /c/node $dev_type $dev_nums
		RUN --mount=type=cache,target=/c if dd if=/c/node of=/dev/null count=0; then echo OPENED; exit 1; fi
		RECIPE
		cairn build -t cachedev "$c"
	'
else
	test_skip "a RUN step cannot open a host device through a node it makes" "no host device to try"
	test_skip "a device node in a cache mount cannot open a host device" "no host device to try"
	test_skip "a device node from an ADDed archive cannot open a host device" "no host device to try"
fi

# /proc was mounted read-write as a whole: a root step wrote the host's sysctls (the
# same value back here; kernel.core_pattern would run a program on the host).
test_expect_success 'a RUN step cannot write the host kernel settings in /proc/sys' '
	c=$(new_ctx procsys) &&
	cat >"$c/Recipe" <<-\RECIPE &&
	FROM base
	RUN v=$(cat /proc/sys/kernel/printk_ratelimit) && if echo "$v" >/proc/sys/kernel/printk_ratelimit; then echo WROTE; exit 1; fi
	RUN cat /proc/sys/kernel/printk_ratelimit /proc/self/status >/dev/null
	RECIPE
	cairn build -t procsys "$c"
'

# .dockerignore "d/a" with "!d/a/keep": the copy creates d/a with its source's mode, but
# the digest skipped d/a itself, so a chmod of it kept the stale layer.
test_expect_success 'the mode of a directory ignored but re-included below changes the COPY key' '
	c=$(new_ctx descend) &&
	mkdir -p "$c/d/a" && echo 1 >"$c/d/a/keep" && echo 2 >"$c/d/a/drop" &&
	printf "d/a\n!d/a/keep\n" >"$c/.dockerignore" &&
	printf "FROM base\nCOPY d /d\n" >"$c/Recipe" &&
	chmod 0755 "$c/d/a" &&
	cairn build -q -t descend1 "$c" >/dev/null &&
	chmod 0700 "$c/d/a" &&
	cairn build -q -t descend2 "$c" >/dev/null &&
	cairn build -q --no-cache -t descend3 "$c" >/dev/null &&
	l2=$(cairn inspect descend2 | jq -r ".Manifest.layers[-1].digest") &&
	l3=$(cairn inspect descend3 | jq -r ".Manifest.layers[-1].digest") &&
	expect_eq "$l2" "$l3" &&
	echo changed >"$c/d/a/drop" &&
	cairn build -q -t descend4 "$c" >/dev/null &&
	expect_eq "$(cairn inspect descend4 | jq -r ".Manifest.layers[-1].digest")" "$l2"
'

# kill_during_copy NAME: starts a build of $TMP/NAME with its upper dirs on disk,
# SIGKILLs it once its step dir has data in it.
kill_during_copy() {
	CAIRN_TMPFS_LIMIT=0 "$CAIRN" build -t "$1" "$TMP/$1" >"$TMP/$1.out" 2>&1 &
	_pid=$!
	for _i in $(seq 1 200); do
		if [ -n "$(find "$CAIRN_ROOT/cairn/tmp" -path "*/upper/big" -size +1M 2>/dev/null)" ]; then
			break
		fi
		sleep 0.05
	done
	kill -9 "$_pid"
	wait "$_pid" 2>/dev/null || true
}

# kill_during_mem_copy NAME: the same with the upper dir in memory (a tmpfs in
# cairn's own mount namespace, so not visible here): killed soon after its
# mount point appears.
kill_during_mem_copy() {
	"$CAIRN" build -t "$1" "$TMP/$1" >"$TMP/$1.out" 2>&1 &
	_pid=$!
	for _i in $(seq 1 200); do
		if [ -n "$(find "$CAIRN_ROOT/cairn/tmp" -name "mem-*" 2>/dev/null)" ]; then
			break
		fi
		sleep 0.01
	done
	kill -9 "$_pid"
	wait "$_pid" 2>/dev/null || true
}

test_expect_success 'a build SIGKILLed during COPY leaves every tag readable and no mount behind' '
	c=$(new_ctx killed) &&
	head -c 400M /dev/zero >"$c/big" &&
	printf "FROM base\nCOPY big /big\n" >"$c/Recipe" &&
	kill_during_copy killed &&
	! findmnt -rn -o TARGET | grep -qF "$CAIRN_ROOT" &&
	! cairn inspect killed >/dev/null 2>&1 &&
	for t in $(jq -r ".manifests[].annotations[\"org.opencontainers.image.ref.name\"]" "$CAIRN_ROOT/index.json"); do
		skopeo inspect "oci:$CAIRN_ROOT:$t" >/dev/null || { echo "tag $t unreadable"; exit 1; }
	done &&
	cairn build -q -t killed "$c" >/dev/null &&
	skopeo inspect "oci:$CAIRN_ROOT:killed:latest" >/dev/null
'

# A SIGKILLed build cannot clean up; its temp dir (its own cairn/tmp/proc-*, whose
# lock died with it) is reclaimed by the next cairn that opens the store.
test_expect_success 'the temp dirs of a SIGKILLed build are reclaimed by a later cairn' '
	c=$(new_ctx killed2) &&
	head -c 100M /dev/zero >"$c/big" &&
	printf "FROM base\nCOPY big /big\n" >"$c/Recipe" &&
	kill_during_copy killed2 &&
	test -n "$(find "$CAIRN_ROOT/cairn/tmp" -mindepth 1 -maxdepth 1)" &&
	cairn images >/dev/null &&
	expect_eq "$(find "$CAIRN_ROOT/cairn/tmp" -mindepth 1 -maxdepth 1)" ""
'

test_expect_success 'a build SIGKILLed during an in-memory COPY leaves no mount or temp dir' '
	c=$(new_ctx killed3) &&
	{ head -c 400M /dev/zero && echo killed3; } >"$c/big" &&
	printf "FROM base\nCOPY big /big\n" >"$c/Recipe" &&
	kill_during_mem_copy killed3 &&
	! grep -q "^killed3" "$TMP/killed3.out" &&
	! findmnt -rn -o TARGET | grep -qF "$CAIRN_ROOT" &&
	! cairn inspect killed3 >/dev/null 2>&1 &&
	cairn images >/dev/null &&
	expect_eq "$(find "$CAIRN_ROOT/cairn/tmp" -mindepth 1 -maxdepth 1)" "" &&
	cairn build -q -t killed3 "$c" >/dev/null &&
	skopeo inspect "oci:$CAIRN_ROOT:killed3:latest" >/dev/null
'

test_done
