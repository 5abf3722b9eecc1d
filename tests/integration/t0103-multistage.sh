#!/bin/bash
# Multi-stage recipes: FROM an earlier stage, COPY --from, --target, only the
# stages the target needs, independent stages built side by side, platform ARGs.
. "$(dirname "$0")/lib.sh"

ctx="$TMP/ctx"
make_busybox_context "$ctx"
arch=$(dpkg --print-architecture)

cat >"$ctx/Recipe" <<'RECIPE'
FROM scratch AS base
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
ENV FROM_BASE=yes

FROM base AS left
RUN echo left > /left.txt

FROM base AS right
RUN echo right > /right.txt

FROM base AS broken
RUN echo "this stage must not run" >&2; exit 7

FROM base AS final
COPY --from=left /left.txt /out/
COPY --from=right /right.txt /out/
COPY --from=0 /bin/busybox /out/busybox-from-index
RUN cat /out/left.txt /out/right.txt > /out/both.txt
RECIPE

test_expect_success ROOT 'a multi-stage recipe builds the last stage' '
	cairn build -t ms "$ctx" 2>"$TMP/log" &&
	image_rootfs ms "$TMP/ms" &&
	expect_eq "$(cat "$TMP/ms/out/both.txt")" "left
right" &&
	test -f "$TMP/ms/out/busybox-from-index"
'

test_expect_success ROOT 'stages the target does not need are not built' '
	! grep -q "must not run" "$TMP/log" &&
	! grep -q "exit 7" "$TMP/log"
'

test_expect_success ROOT 'FROM an earlier stage inherits its files and config' '
	image_rootfs ms "$TMP/ms2" &&
	test -x "$TMP/ms2/bin/busybox" &&
	cairn inspect ms | jq -e ".Config.config.Env | index(\"FROM_BASE=yes\")" >/dev/null
'

test_expect_success ROOT 'the final image holds only its own stage: files of other stages are absent' '
	test ! -e "$TMP/ms/left.txt" && test ! -e "$TMP/ms/right.txt"
'

test_expect_success ROOT '--target builds that stage and what it needs' '
	cairn build -q --target left -t left-only "$ctx" >/dev/null 2>"$TMP/log2" &&
	image_rootfs left-only "$TMP/left" &&
	test -f "$TMP/left/left.txt" && test ! -e "$TMP/left/right.txt" &&
	! grep -q "right.txt" "$TMP/log2"
'

test_expect_success ROOT '--target of a failing stage fails with its step' '
	! cairn build -q --target broken "$ctx" >/dev/null 2>"$TMP/err" &&
	grep -q "exit status 7" "$TMP/err"
'

test_expect_success '--target naming no stage is an error listing the stages' '
	! cairn build --target nosuch "$ctx" 2>"$TMP/err" &&
	grep -q "no such stage" "$TMP/err" && grep -q "left" "$TMP/err"
'

test_expect_success ROOT 'a rebuild of the multi-stage recipe is all cached' '
	cairn build -t ms "$ctx" 2>"$TMP/log3" &&
	! grep -E "^\[[0-9]+/[0-9]+\] (RUN|COPY).*[0-9]s$" "$TMP/log3"
'

test_expect_success ROOT 'independent stages build side by side: both start before either ends' '
	mkdir -p "$TMP/par" && cp "$ctx/busybox" "$TMP/par/" &&
	cat >"$TMP/par/Recipe" <<-RECIPE &&
	FROM scratch AS base
	COPY busybox /bin/busybox
	RUN ["/bin/busybox", "--install", "-s", "/bin"]
	FROM base AS one
	RUN echo one-started; sleep 1
	FROM base AS two
	RUN echo two-started; sleep 1
	FROM base
	COPY --from=one /bin/busybox /one
	COPY --from=two /bin/busybox /two
	RECIPE
	cairn build "$TMP/par" 2>"$TMP/plog" &&
	first_done=$(grep -n "sleep 1 [0-9.]*s$" "$TMP/plog" | head -n 1 | cut -d: -f1) &&
	one=$(grep -n "^one-started" "$TMP/plog" | cut -d: -f1) &&
	two=$(grep -n "^two-started" "$TMP/plog" | cut -d: -f1) &&
	test "$one" -lt "$first_done" && test "$two" -lt "$first_done"
'

test_expect_success ROOT 'stages built in child processes leave no temp dir behind' '
	mkdir -p "$TMP/fork" && cp "$ctx/busybox" "$TMP/fork/" &&
	cat >"$TMP/fork/Recipe" <<-RECIPE &&
	FROM scratch AS one
	COPY busybox /bin/busybox
	RUN ["/bin/busybox", "sh", "-c", "echo one >/one"]
	FROM scratch AS two
	COPY busybox /bin/busybox
	RUN ["/bin/busybox", "sh", "-c", "echo two >/two"]
	FROM scratch
	COPY --from=one /one /one
	COPY --from=two /two /two
	RECIPE
	cairn build --no-cache -q "$TMP/fork" >/dev/null &&
	ls -A "$CAIRN_ROOT/cairn/tmp" >"$TMP/tmp-left" &&
	! test -s "$TMP/tmp-left"
'

test_expect_success 'duplicate stage names are an error' '
	printf "FROM scratch AS x\nFROM scratch AS X\n" >"$TMP/dup" &&
	! cairn build -f "$TMP/dup" "$ctx" 2>"$TMP/err" &&
	grep -q "duplicate stage name" "$TMP/err"
'

test_expect_success ROOT 'COPY --from an image in the store' '
	cairn build -q -t donor --target base "$ctx" >/dev/null &&
	printf "FROM scratch\nCOPY --from=donor /bin/busybox /donated\n" >"$TMP/donor.Recipe" &&
	cairn build -q -t took -f "$TMP/donor.Recipe" "$ctx" >/dev/null &&
	image_rootfs took "$TMP/took" && test -f "$TMP/took/donated"
'

test_expect_success 'COPY --from a name that is neither a stage nor an image is an error' '
	printf "FROM scratch\nCOPY --from=nowhere /x /y\n" >"$TMP/bad.Recipe" &&
	! cairn build -f "$TMP/bad.Recipe" "$ctx" 2>"$TMP/err" &&
	grep -q "bad.Recipe:2" "$TMP/err" && grep -q "nowhere" "$TMP/err"
'

test_expect_success ROOT 'a stage a RUN mounts with a quoted from= field is built first' '
	# the planner reads --mount as RUN does, a CSV record: "from=tools" is the
	# field from=tools (it once split on commas and missed it, so the stage was
	# never built and the RUN failed: "--from=tools: stage not built")
	cat >"$TMP/quoted.Recipe" <<-\RECIPE &&
	FROM scratch AS tools
	COPY busybox /bin/busybox
	RUN ["/bin/busybox", "sh", "-c", "echo from-tools > /marker"]
	FROM scratch
	COPY busybox /bin/busybox
	RUN ["/bin/busybox", "--install", "-s", "/bin"]
	RUN --mount=type=bind,\"from=tools\",target=/t cp /t/marker /copied
	RECIPE
	cairn build -q -t quoted -f "$TMP/quoted.Recipe" "$ctx" >/dev/null &&
	image_rootfs quoted "$TMP/quoted" &&
	expect_eq "$(cat "$TMP/quoted/copied")" from-tools
'

test_expect_success ROOT 'the platform ARGs are usable in FROM and, once declared, in a stage' '
	cat >"$TMP/plat.Recipe" <<-RECIPE &&
	ARG BASE=base
	FROM scratch AS base
	COPY busybox /bin/busybox
	RUN ["/bin/busybox", "--install", "-s", "/bin"]
	FROM \${BASE}
	ARG TARGETARCH
	ARG TARGETPLATFORM
	RUN echo "\$TARGETARCH \$TARGETPLATFORM" > /platform
	RECIPE
	cairn build -q -t plat -f "$TMP/plat.Recipe" "$ctx" >/dev/null &&
	image_rootfs plat "$TMP/plat" &&
	expect_eq "$(cat "$TMP/plat/platform")" "$arch linux/$arch"
'

test_expect_success 'FROM --platform of another architecture is refused' '
	printf "FROM --platform=linux/s390x scratch\n" >"$TMP/p.Recipe" &&
	! cairn build -f "$TMP/p.Recipe" "$ctx" 2>"$TMP/err" &&
	grep -q "only linux/$arch" "$TMP/err"
'

test_done
