#!/bin/bash
# The build cache: what hits (nothing changed, mtime only) and what misses (content,
# mode, --build-arg, ENV, --no-cache), and builds sharing one store at once.
. "$(dirname "$0")/lib.sh"

# step_status ERRFILE N: "CACHED" when step N reported CACHED in the progress
# output, "ran" when it reported a duration, "none" when it never finished.
step_status() {
	_l=$(grep "^\[$2/[0-9]*\] " "$1" | tail -n 1)
	case "$_l" in
	"") echo none ;;
	*" CACHED") echo CACHED ;;
	*) echo ran ;;
	esac
}

# expect_steps ERRFILE FIRST LAST STATUS: steps FIRST..LAST all have STATUS.
expect_steps() {
	for _i in $(seq "$2" "$3"); do
		_s=$(step_status "$1" "$_i")
		if [ "$_s" != "$4" ]; then
			echo "step $_i: expected $4, got $_s"
			cat "$1"
			return 1
		fi
	done
}

# build NAME [ARGS...]: cairn build of $TMP/NAME tagged NAME; digest in
# $TMP/NAME.digest, progress in $TMP/NAME.err.
build() {
	_n=$1
	shift
	cairn build "$@" -t "$_n" "$TMP/$_n" >"$TMP/$_n.digest" 2>"$TMP/$_n.err" || {
		cat "$TMP/$_n.err"
		return 1
	}
	grep -qE "^sha256:[0-9a-f]{64}$" "$TMP/$_n.digest"
}

blobs_list() { find "$CAIRN_ROOT/blobs" -type f | sort; }

make_busybox_context "$TMP/app"
printf 'one\n' >"$TMP/app/a"
printf 'two\n' >"$TMP/app/b"
printf 'three\n' >"$TMP/app/c"
{
	busybox_base
	cat <<'EOF'
COPY a /a
COPY b /b
COPY c /c
RUN cat /a /b /c > /all
ENV DONE=1
EOF
} >"$TMP/app/Recipe"
# steps: 1 FROM, 2 COPY busybox, 3 RUN install, 4 COPY a, 5 COPY b, 6 COPY c,
# 7 RUN cat, 8 ENV

test_expect_success ROOT 'a first build runs every step' '
	build app &&
	expect_steps "$TMP/app.err" 2 8 ran &&
	cp "$TMP/app.digest" "$TMP/app.digest.0"
'

test_expect_success ROOT 'a rebuild with nothing changed is all CACHED, same digest, no new blob' '
	blobs_list >"$TMP/blobs.before" &&
	build app &&
	expect_steps "$TMP/app.err" 2 8 CACHED &&
	expect_eq "$(cat "$TMP/app.digest")" "$(cat "$TMP/app.digest.0")" &&
	blobs_list >"$TMP/blobs.after" &&
	diff "$TMP/blobs.before" "$TMP/blobs.after"
'

test_expect_success ROOT 'an unchanged rebuild writes nothing in the store: index.json and blobs untouched' '
	touch -d "2 seconds ago" "$CAIRN_ROOT/index.json" "$CAIRN_ROOT"/blobs/sha256/* &&
	index_before=$(stat -c "%i %y" "$CAIRN_ROOT/index.json") &&
	build app &&
	expect_eq "$(stat -c "%i %y" "$CAIRN_ROOT/index.json")" "$index_before" &&
	expect_eq "$(find "$CAIRN_ROOT/blobs" -type f -newer "$CAIRN_ROOT/index.json" | wc -l)" 0
'

test_expect_success ROOT 'touching a COPY source (mtime only, same content) still hits the cache' '
	touch -d "2001-02-03 04:05:06" "$TMP/app/b" &&
	build app &&
	expect_steps "$TMP/app.err" 2 8 CACHED &&
	expect_eq "$(cat "$TMP/app.digest")" "$(cat "$TMP/app.digest.0")"
'

test_expect_success ROOT 'changing the second of three COPY inputs misses from that step on' '
	printf "TWO\n" >"$TMP/app/b" &&
	build app &&
	expect_steps "$TMP/app.err" 2 4 CACHED &&
	expect_steps "$TMP/app.err" 5 8 ran &&
	test "$(cat "$TMP/app.digest")" != "$(cat "$TMP/app.digest.0")" &&
	rm -rf "$TMP/app.root" && image_rootfs app "$TMP/app.root" &&
	expect_eq "$(cat "$TMP/app.root/all")" "$(printf "one\nTWO\nthree")" &&
	cp "$TMP/app.digest" "$TMP/app.digest.1"
'

test_expect_success ROOT 'changing only the mode of a COPY input misses that step' '
	chmod 0600 "$TMP/app/b" &&
	build app &&
	expect_steps "$TMP/app.err" 2 4 CACHED &&
	expect_steps "$TMP/app.err" 5 8 ran &&
	test "$(cat "$TMP/app.digest")" != "$(cat "$TMP/app.digest.1")" &&
	rm -rf "$TMP/app.root" && image_rootfs app "$TMP/app.root" &&
	expect_eq "$(stat -c %a "$TMP/app.root/b")" 600
'

test_expect_success ROOT 'going back to earlier inputs hits the cache of the earlier build' '
	printf "two\n" >"$TMP/app/b" && chmod 0644 "$TMP/app/b" &&
	build app &&
	expect_steps "$TMP/app.err" 2 8 CACHED &&
	expect_eq "$(cat "$TMP/app.digest")" "$(cat "$TMP/app.digest.0")"
'

test_expect_success ROOT '--no-cache runs every step and reports none CACHED' '
	build app --no-cache &&
	expect_steps "$TMP/app.err" 2 8 ran &&
	! grep -q CACHED "$TMP/app.err"
'

make_busybox_context "$TMP/args"
{
	busybox_base
	cat <<'EOF'
ARG FLAVOR=plain
RUN echo first > /first
RUN echo "$FLAVOR" > /flavor
ARG UNUSED_IN_RUN=x
EOF
} >"$TMP/args/Recipe"
# steps: 4 ARG, 5 RUN first, 6 RUN flavor, 7 ARG

# As docker: every RUN after the ARG has it in its environment, so all of them miss.
test_expect_success ROOT 'changing a --build-arg misses the RUN steps after its ARG' '
	build args --build-arg FLAVOR=mint &&
	build args --build-arg FLAVOR=mint &&
	expect_steps "$TMP/args.err" 2 7 CACHED &&
	build args --build-arg FLAVOR=lemon &&
	expect_steps "$TMP/args.err" 2 3 CACHED &&
	expect_steps "$TMP/args.err" 5 6 ran &&
	rm -rf "$TMP/args.root" && image_rootfs args "$TMP/args.root" &&
	expect_eq "$(cat "$TMP/args.root/flavor")" lemon
'

test_expect_success ROOT 'a --build-arg declared only after the RUN steps does not miss them' '
	build args --build-arg FLAVOR=lemon --build-arg UNUSED_IN_RUN=y &&
	expect_steps "$TMP/args.err" 2 6 CACHED
'

make_busybox_context "$TMP/env"
write_env_recipe() {
	{
		busybox_base
		echo "RUN echo before > /before"
		echo "ENV MODE=$1"
		echo 'RUN echo "$MODE" > /mode'
	} >"$TMP/env/Recipe"
}

test_expect_success ROOT 'changing an ENV before a RUN misses the ENV and the RUN' '
	write_env_recipe slow &&
	build env &&
	write_env_recipe fast &&
	build env &&
	expect_steps "$TMP/env.err" 2 4 CACHED &&
	expect_steps "$TMP/env.err" 5 6 ran &&
	rm -rf "$TMP/env.root" && image_rootfs env "$TMP/env.root" &&
	expect_eq "$(cat "$TMP/env.root/mode")" fast
'

# Two recipes that share their first steps, for builds at the same time.
for n in par1 par2; do
	make_busybox_context "$TMP/$n"
	{
		busybox_base
		echo "RUN echo shared > /shared && sleep 1"
		echo "RUN echo $n > /name"
	} >"$TMP/$n/Recipe"
done

test_expect_success ROOT 'two builds of different recipes into one store at once both succeed and are both tagged' '
	rm -rf "$CAIRN_ROOT"
	(build par1) &
	p1=$!
	(build par2) &
	p2=$!
	r1=0 && wait "$p1" || r1=$? &&
	r2=0 && wait "$p2" || r2=$? &&
	cat "$TMP/par1.err" "$TMP/par2.err" &&
	expect_eq "$r1:$r2" 0:0 &&
	jq -e . "$CAIRN_ROOT/index.json" >/dev/null &&
	jq -r ".manifests[].annotations[\"org.opencontainers.image.ref.name\"] // empty" "$CAIRN_ROOT/index.json" | sort >"$TMP/par.tags" &&
	expect_eq "$(cat "$TMP/par.tags")" "$(printf "par1:latest\npar2:latest")" &&
	expect_eq "$(jq -r ".manifests[] | select(.annotations[\"org.opencontainers.image.ref.name\"] == \"par1:latest\") | .digest" "$CAIRN_ROOT/index.json")" "$(cat "$TMP/par1.digest")" &&
	expect_eq "$(jq -r ".manifests[] | select(.annotations[\"org.opencontainers.image.ref.name\"] == \"par2:latest\") | .digest" "$CAIRN_ROOT/index.json")" "$(cat "$TMP/par2.digest")" &&
	rm -rf "$TMP/p1.root" "$TMP/p2.root" &&
	image_rootfs par1 "$TMP/p1.root" && image_rootfs par2 "$TMP/p2.root" &&
	expect_eq "$(cat "$TMP/p1.root/name" "$TMP/p2.root/shared")" "$(printf "par1\nshared")"
'

test_expect_success ROOT 'the same recipe built twice at once: both succeed, both tags, same digest' '
	cp -r "$TMP/par1" "$TMP/twin" &&
	echo "RUN echo twin > /twin && sleep 1" >>"$TMP/twin/Recipe"
	SOURCE_DATE_EPOCH=1700000000 "$CAIRN" build -q -t twin:a "$TMP/twin" >"$TMP/twin.a" 2>"$TMP/twin.a.err" &
	p1=$!
	SOURCE_DATE_EPOCH=1700000000 "$CAIRN" build -q -t twin:b "$TMP/twin" >"$TMP/twin.b" 2>"$TMP/twin.b.err" &
	p2=$!
	r1=0 && wait "$p1" || r1=$? &&
	r2=0 && wait "$p2" || r2=$? &&
	cat "$TMP/twin.a" "$TMP/twin.b" "$TMP/twin.a.err" "$TMP/twin.b.err" &&
	expect_eq "$r1:$r2" 0:0 &&
	jq -e . "$CAIRN_ROOT/index.json" >/dev/null &&
	expect_eq "$(cairn inspect twin:a | jq -r .Digest)" "$(cat "$TMP/twin.a")" &&
	expect_eq "$(cairn inspect twin:b | jq -r .Digest)" "$(cat "$TMP/twin.b")" &&
	expect_eq "$(cat "$TMP/twin.a")" "$(cat "$TMP/twin.b")" &&
	expect_eq "$(cairn images | grep -cE "^(par1|par2|twin):")" 4 &&
	test -z "$(find "$CAIRN_ROOT/cairn/tmp" -mindepth 1 -maxdepth 1)"
'

test_done
