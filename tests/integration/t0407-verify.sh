#!/bin/bash
# cairn build --verify: the build, then rebuilds from nothing in temporary stores
# under varied conditions; tags (and pushes) only when every digest agrees; on a
# mismatch the differences, the step whose layer differs first, exit 1, no tag.
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/registry.sh"

unset SOURCE_DATE_EPOCH

# RUN nproc differs only where there is more than one CPU to take away
if [ "$(nproc)" -ge 2 ]; then
	test_set_prereq CPUS
fi

# no_temp_stores: no rebuild's store is left in the store, and no mount under $TMP.
no_temp_stores() {
	_left=$(find "$CAIRN_ROOT/cairn/tmp" -name "verify-*" 2>/dev/null)
	if [ -n "$_left" ]; then
		echo "left: $_left"
		return 1
	fi
	if grep -F "$TMP" /proc/self/mountinfo; then
		echo "mounts under $TMP remain"
		return 1
	fi
}

# verify NAME [OPTIONS...]: cairn build --verify of $TMP/NAME tagged NAME; exit
# status in $rc, stdout in $TMP/NAME.out, stderr in $TMP/NAME.err.
verify() {
	_n=$1
	shift
	rc=0
	cairn build --verify "$@" -t "$_n" "$TMP/$_n" >"$TMP/$_n.out" 2>"$TMP/$_n.err" || rc=$?
	cat "$TMP/$_n.err"
}

ctx good <<'EOF'
COPY files /files
RUN mkdir -p /data && echo fixed > /data/f && ln -s f /data/l && chmod 0640 /data/f
RUN ls -R /files > /data/listing
ENV A=1
CMD ["/bin/sh"]
EOF
mkdir -p "$TMP/good/files/sub" && echo one >"$TMP/good/files/sub/one" && echo two >"$TMP/good/files/two"

test_expect_success ROOT 'a deterministic recipe passes --verify, is tagged afterwards and exits 0' '
	verify good &&
	expect_eq "$rc" 0 &&
	d=$(cat "$TMP/good.out") &&
	expect_eq "$(ref_digest good:latest)" "$d" &&
	grep -q "^verified: 1 rebuild gave $d\$" "$TMP/good.err" &&
	grep -q "^rebuild 1: store .*TZ=.*umask .*hostname cairn-rebuild-1" "$TMP/good.err" &&
	grep -q "^tagged good:latest\$" "$TMP/good.err" &&
	no_temp_stores
'

test_expect_success ROOT 'without SOURCE_DATE_EPOCH --verify derives it from the newest input and says so' '
	touch -d "2021-02-03 04:05:06 UTC" "$TMP/good/files/two" &&
	touch -d "2001-01-01 UTC" "$TMP/good/Recipe" "$TMP/good/busybox" "$TMP/good/files/sub/one" &&
	verify good &&
	expect_eq "$rc" 0 &&
	grep -q "^SOURCE_DATE_EPOCH=1612325106: the newest mtime" "$TMP/good.err" &&
	cairn inspect good >"$TMP/good.json" &&
	expect_eq "$(jq -r .Config.created "$TMP/good.json")" 2021-02-03T04:05:06Z
'

test_expect_success ROOT 'a file .dockerignore leaves out is no input: its mtime does not count' '
	echo ignored >"$TMP/good/later" && touch -d "2030-01-01 UTC" "$TMP/good/later" &&
	echo later >"$TMP/good/.dockerignore" && touch -d "2001-01-01 UTC" "$TMP/good/.dockerignore" &&
	verify good &&
	expect_eq "$rc" 0 &&
	grep -q "^SOURCE_DATE_EPOCH=1612325106:" "$TMP/good.err" &&
	rm "$TMP/good/later" "$TMP/good/.dockerignore"
'

test_expect_success ROOT 'SOURCE_DATE_EPOCH or --source-date-epoch given: --verify uses it and derives nothing' '
	verify good --source-date-epoch 1700000000 &&
	expect_eq "$rc" 0 &&
	! grep -q "the newest mtime" "$TMP/good.err" &&
	expect_eq "$(cairn inspect good | jq -r .Config.created)" 2023-11-14T22:13:20Z &&
	SOURCE_DATE_EPOCH=1600000000 verify good &&
	expect_eq "$rc" 0 &&
	! grep -q "the newest mtime" "$TMP/good.err" &&
	expect_eq "$(cairn inspect good | jq -r .Config.created)" 2020-09-13T12:26:40Z
'

test_expect_success ROOT '--verify=2 rebuilds twice, under other conditions each time' '
	verify good --verify=2 &&
	expect_eq "$rc" 0 &&
	grep -q "^rebuild 1: " "$TMP/good.err" &&
	grep -q "^rebuild 2: " "$TMP/good.err" &&
	! grep -q "^rebuild 3: " "$TMP/good.err" &&
	test "$(grep "^rebuild 1: " "$TMP/good.err" | sed "s/^rebuild 1: store [^ ]* //")" != \
		"$(grep "^rebuild 2: " "$TMP/good.err" | sed "s/^rebuild 2: store [^ ]* //")" &&
	grep -q "^verified: 2 rebuilds gave sha256:" "$TMP/good.err" &&
	no_temp_stores
'

test_expect_success ROOT 'a bad --verify count is refused before anything is built' '
	for n in 0 -1 x 1x; do
		test_expect_code 2 cairn build --verify=$n -t nope "$TMP/good" 2>"$TMP/bad.err" &&
		grep -q "expected a number of rebuilds" "$TMP/bad.err" || return 1
	done &&
	expect_eq "$(ref_digest nope:latest)" ""
'

ctx stamp <<'EOF'
RUN echo fixed > /fixed
RUN date > /stamp
RUN echo after > /after
EOF

test_expect_success ROOT 'RUN date > /stamp fails --verify: exit 1, the step named, nothing tagged' '
	verify stamp &&
	expect_eq "$rc" 1 &&
	grep -q "^verify: rebuild 1 gave sha256:[0-9a-f]*, not sha256:" "$TMP/stamp.err" &&
	grep -q "step 4 of 5, $TMP/stamp/Recipe:5: RUN date > /stamp\$" "$TMP/stamp.err" &&
	grep -q "nothing was tagged or pushed" "$TMP/stamp.err" &&
	! grep -q "^verified" "$TMP/stamp.err" &&
	expect_eq "$(ref_digest stamp:latest)" "" &&
	no_temp_stores
'

test_expect_success ROOT 'the differences --verify prints (cairn diff'"'"'s rows) name /stamp and nothing else' '
	verify stamp &&
	expect_eq "$rc" 1 &&
	head -n 1 "$TMP/stamp.out" | grep -q "^TYPE  *NAME  *A (build)  *B (rebuild)\$" &&
	grep -q "^file  *\(/\|\./\)\?stamp " "$TMP/stamp.out" &&
	test -z "$(tail -n +2 "$TMP/stamp.out" | grep -v "^file  *\(/\|\./\)\?stamp ")"
'

test_expect_success ROOT 'a mismatch with -q still names the step, and tags nothing' '
	verify stamp -q &&
	expect_eq "$rc" 1 &&
	grep -q "RUN date > /stamp\$" "$TMP/stamp.err" &&
	expect_eq "$(ref_digest stamp:latest)" ""
'

ctx cpus <<'EOF'
RUN nproc > /n
EOF

test_expect_success ROOT,CPUS 'a rebuild sees fewer CPUs: RUN nproc > /n fails --verify' '
	verify cpus &&
	expect_eq "$rc" 1 &&
	grep -q "^rebuild 1: .*, 1 of [0-9]* CPUs" "$TMP/cpus.err" &&
	grep -q "Recipe:4: RUN nproc > /n\$" "$TMP/cpus.err" &&
	grep -q "^file  *n " "$TMP/cpus.out"
'

ctx host <<'EOF'
RUN hostname > /h
EOF

test_expect_success ROOT 'a rebuild'"'"'s RUN steps see another hostname: RUN hostname > /h fails --verify' '
	verify host &&
	expect_eq "$rc" 1 &&
	grep -q "Recipe:4: RUN hostname > /h\$" "$TMP/host.err" &&
	grep -q "^file  *h " "$TMP/host.out" &&
	cairn build -q -t host2 "$TMP/host" >/dev/null &&
	rm -rf "$TMP/host.root" && image_rootfs host2 "$TMP/host.root" &&
	expect_eq "$(cat "$TMP/host.root/h")" cairn
'

test_expect_success ROOT 'RUN steps under --verify have no network unless --network says so' '
	ctx net <<-\EOF &&
	RUN tail -n +3 /proc/net/dev | wc -l > /links
	EOF
	verify net &&
	expect_eq "$rc" 0 &&
	rm -rf "$TMP/net.root" && image_rootfs net "$TMP/net.root" &&
	expect_eq "$(tr -d " " <"$TMP/net.root/links")" 1
'

test_expect_success ROOT 'a rebuild uses the very base image of the store, copied by digest, never pulled' '
	cairn build -q -t localhost:5999/team/base:1 "$TMP/good" >"$TMP/base.digest" &&
	recipe frombase <<-\EOF &&
	FROM localhost:5999/team/base:1
	RUN cat /data/f > /copy
	COPY --from=localhost:5999/team/base:1 /data/listing /listing
	EOF
	verify frombase &&
	expect_eq "$rc" 0 &&
	grep -q "^verified: 1 rebuild gave" "$TMP/frombase.err" &&
	no_temp_stores
'

test_expect_success ROOT 'multi-stage: the step named is in the stage that made the layer' '
	make_busybox_context "$TMP/multi" &&
	cat >"$TMP/multi/Recipe" <<-\EOF &&
	FROM scratch AS a
	COPY busybox /bin/busybox
	RUN ["/bin/busybox", "--install", "-s", "/bin"]
	RUN date > /stamp
	FROM scratch AS b
	COPY busybox /bin/busybox
	FROM a
	COPY --from=b /bin/busybox /bb
	RUN echo x > /x
	EOF
	verify multi &&
	expect_eq "$rc" 1 &&
	grep -q "step 3 of 5, $TMP/multi/Recipe:4: RUN date > /stamp\$" "$TMP/multi.err" &&
	no_temp_stores
'

ctx slow <<'EOF'
RUN sleep 5 && echo slept > /slept
EOF

test_expect_success ROOT 'an interrupted --verify removes the rebuild'"'"'s store and tags nothing' '
	"$CAIRN" build --verify -t slow "$TMP/slow" >"$TMP/slow.out" 2>"$TMP/slow.err" &
	pid=$! &&
	i=0 &&
	until sed -n "/^rebuild 1: /,\$p" "$TMP/slow.err" | grep -q "^\[4/4\] RUN sleep"; do
		i=$((i + 1)) && test $i -lt 600 && sleep 0.1 || { kill $pid; return 1; }
	done &&
	test -n "$(find "$CAIRN_ROOT/cairn/tmp" -name "verify-*")" &&
	kill -INT $pid &&
	{ rc=0 && wait $pid || rc=$?; } &&
	cat "$TMP/slow.err" &&
	expect_eq "$rc" 130 &&
	expect_eq "$(ref_digest slow:latest)" "" &&
	no_temp_stores
'

# A normal user with subordinate ids: --verify rootless (removed at the end).
rl_user=cairn-vr-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
verify_cleanup() {
	# the test made it in a subshell: whether it exists is the only record
	if id "$rl_user" >/dev/null 2>&1; then
		userdel -r "$rl_user" >/dev/null 2>&1 || userdel "$rl_user" >/dev/null 2>&1
	fi
	stop_servers
	_cleanup
}
trap verify_cleanup EXIT

test_expect_success UIDMAP 'rootless: --verify passes a deterministic recipe and fails RUN date, tagging only the first' '
	useradd -m -K SUB_UID_COUNT=0 -K SUB_GID_COUNT=0 "$rl_user" &&
	usermod --add-subuids 300000-365535 --add-subgids 300000-365535 "$rl_user" &&
	chmod 755 "$TMP" &&
	mkdir "$TMP/rl" && cp -r "$TMP/good" "$TMP/stamp" "$TMP/rl/" && chown -R "$rl_user:" "$TMP/rl" &&
	runuser -u "$rl_user" -- env CAIRN_ROOT="$TMP/rl/store" "$CAIRN" build --verify -t good "$TMP/rl/good" >"$TMP/rl.out" 2>"$TMP/rl.err" &&
	grep -q "^verified: 1 rebuild gave $(cat "$TMP/rl.out")\$" "$TMP/rl.err" &&
	rc=0 &&
	{ runuser -u "$rl_user" -- env CAIRN_ROOT="$TMP/rl/store" "$CAIRN" build --verify -t stamp "$TMP/rl/stamp" >/dev/null 2>"$TMP/rl2.err" || rc=$?; } &&
	cat "$TMP/rl2.err" &&
	expect_eq "$rc" 1 &&
	grep -q "Recipe:5: RUN date > /stamp\$" "$TMP/rl2.err" &&
	CAIRN_ROOT="$TMP/rl/store" ref_digest good:latest | grep -q "^sha256:" &&
	expect_eq "$(CAIRN_ROOT="$TMP/rl/store" ref_digest stamp:latest)" "" &&
	test -z "$(find "$TMP/rl/store/cairn/tmp" -name "verify-*")"
'

if test_have_prereq REGISTRY; then
	start_registry open
	reg="127.0.0.1:$port"
fi

test_expect_success ROOT,REGISTRY '--verify --push pushes only when the rebuilds agree' '
	cairn build --verify --push --tls-verify=false -t "$reg/v/good:1" "$TMP/good" >"$TMP/pg.out" 2>"$TMP/pg.err" &&
	expect_eq "$(skopeo inspect --tls-verify=false "docker://$reg/v/good:1" | jq -r .Digest)" "$(cat "$TMP/pg.out")" &&
	test_expect_code 1 cairn build --verify --push --tls-verify=false -t "$reg/v/stamp:1" "$TMP/stamp" >/dev/null 2>"$TMP/ps.err" &&
	! skopeo inspect --tls-verify=false "docker://$reg/v/stamp:1" >/dev/null 2>&1
'

test_done
