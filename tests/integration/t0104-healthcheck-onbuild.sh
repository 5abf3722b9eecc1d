#!/bin/bash
# HEALTHCHECK sets the config's Healthcheck as docker does (Go durations stored in
# nanoseconds, docker's checks of flags and values); ONBUILD stores its trigger in
# the config's OnBuild, and a build FROM such an image runs the triggers right after
# its FROM and leaves OnBuild empty; bad triggers are errors that name the FROM.
. "$(dirname "$0")/lib.sh"
unset SOURCE_DATE_EPOCH

if test_have_prereq ROOT; then
	build_base base:1 ""
fi

# ---- HEALTHCHECK ----

test_expect_success ROOT 'HEALTHCHECK CMD in shell form is CMD-SHELL with the line' '
	recipe hcshell <<-\EOF &&
	FROM base:1
	HEALTHCHECK CMD curl -f http://localhost/ || exit 1
	EOF
	build hcshell &&
	expect_eq "$(cfg hcshell .config.Healthcheck)" \
		"{\"Test\":[\"CMD-SHELL\",\"curl -f http://localhost/ || exit 1\"]}"
'

test_expect_success ROOT 'HEALTHCHECK CMD in JSON form keeps the words, flags in nanoseconds, history as BuildKit writes it' '
	recipe hcjson <<-\EOF &&
	FROM base:1
	HEALTHCHECK --interval=1m30s --timeout=500ms --start-period=1.5h \
		--start-interval=2s --retries=3 cmd ["/bin/check", "--deep"]
	EOF
	build hcjson &&
	expect_eq "$(cfg hcjson .config.Healthcheck)" \
		"{\"Interval\":90000000000,\"Retries\":3,\"StartInterval\":2000000000,\"StartPeriod\":5400000000000,\"Test\":[\"CMD\",\"/bin/check\",\"--deep\"],\"Timeout\":500000000}" &&
	expect_eq "$(cairn inspect hcjson | jq -r ".Config.history[-1].created_by")" \
		"HEALTHCHECK {Test:[CMD /bin/check --deep] Interval:1m30s Timeout:500ms StartPeriod:1h30m0s StartInterval:2s Retries:3}" &&
	expect_eq "$(cairn inspect hcjson | jq -r ".Config.history[-1].empty_layer")" true
'

test_expect_success ROOT 'zero durations and retries, and empty values, are left out' '
	recipe hczero <<-\EOF &&
	FROM base:1
	HEALTHCHECK --interval=0 --timeout=0s --retries=0 --start-period= CMD true
	EOF
	build hczero &&
	expect_eq "$(cfg hczero .config.Healthcheck)" "{\"Test\":[\"CMD-SHELL\",\"true\"]}"
'

test_expect_success ROOT 'HEALTHCHECK NONE disables an inherited check; the last one wins' '
	recipe hcnone <<-\EOF &&
	FROM hcjson
	HEALTHCHECK NONE
	EOF
	build hcnone &&
	expect_eq "$(cfg hcnone .config.Healthcheck)" "{\"Test\":[\"NONE\"]}" &&
	recipe hclast <<-\EOF &&
	FROM base:1
	HEALTHCHECK --retries=5 CMD first
	HEALTHCHECK CMD second
	EOF
	build hclast &&
	expect_eq "$(cfg hclast .config.Healthcheck)" "{\"Test\":[\"CMD-SHELL\",\"second\"]}"
'

test_expect_success ROOT 'bad HEALTHCHECK flags and values are errors that say which' '
	recipe hcbad <<-\EOF &&
	FROM base:1
	HEALTHCHECK --interval=10 CMD true
	EOF
	fails_with hcbad "Recipe:2: HEALTHCHECK: --interval=10: missing unit in duration" &&
	printf "FROM base:1\nHEALTHCHECK --timeout=5x CMD true\n" >"$TMP/hcbad/Recipe" &&
	fails_with hcbad "--timeout=5x: unknown unit \"x\" in duration \"5x\"" &&
	printf "FROM base:1\nHEALTHCHECK --start-period=abc CMD true\n" >"$TMP/hcbad/Recipe" &&
	fails_with hcbad "--start-period=abc: invalid duration \"abc\"" &&
	printf "FROM base:1\nHEALTHCHECK --interval=500us CMD true\n" >"$TMP/hcbad/Recipe" &&
	fails_with hcbad "--interval=500us: the duration must be 0 or at least 1ms" &&
	printf "FROM base:1\nHEALTHCHECK --interval=-5s CMD true\n" >"$TMP/hcbad/Recipe" &&
	fails_with hcbad "--interval=-5s: the duration must be 0 or at least 1ms" &&
	printf "FROM base:1\nHEALTHCHECK --retries=-1 CMD true\n" >"$TMP/hcbad/Recipe" &&
	fails_with hcbad "--retries=-1: cannot be negative" &&
	printf "FROM base:1\nHEALTHCHECK --retries=three CMD true\n" >"$TMP/hcbad/Recipe" &&
	fails_with hcbad "--retries=three: not a 32-bit integer" &&
	printf "FROM base:1\nHEALTHCHECK --retries=3000000000 CMD true\n" >"$TMP/hcbad/Recipe" &&
	fails_with hcbad "--retries=3000000000: not a 32-bit integer" &&
	printf "FROM base:1\nHEALTHCHECK --every=5s CMD true\n" >"$TMP/hcbad/Recipe" &&
	fails_with hcbad "HEALTHCHECK: unknown flag: --every" &&
	printf "FROM base:1\nHEALTHCHECK --interval CMD true\n" >"$TMP/hcbad/Recipe" &&
	fails_with hcbad "--interval needs a value" &&
	printf "FROM base:1\nHEALTHCHECK --retries=1 --retries=2 CMD true\n" >"$TMP/hcbad/Recipe" &&
	fails_with hcbad "duplicate flag --retries" &&
	printf "FROM base:1\nHEALTHCHECK --retries=1 NONE\n" >"$TMP/hcbad/Recipe" &&
	fails_with hcbad "HEALTHCHECK NONE takes no flags" &&
	printf "FROM base:1\nHEALTHCHECK CMD\n" >"$TMP/hcbad/Recipe" &&
	fails_with hcbad "Missing command after HEALTHCHECK CMD" &&
	printf "FROM base:1\nHEALTHCHECK ping localhost\n" >"$TMP/hcbad/Recipe" &&
	fails_with hcbad "Unknown type"
'

# ---- ONBUILD ----

test_expect_success ROOT 'ONBUILD stores each trigger as written, in order, and runs nothing' '
	recipe obparent <<-\EOF &&
	FROM base:1
	ONBUILD RUN echo "triggered $MODE" >/triggered
	onbuild   ENV MODE=child
	ONBUILD ARG LEVEL=3
	ONBUILD LABEL level=$LEVEL
	ONBUILD WORKDIR /app
	ONBUILD COPY data /app/data
	EOF
	build obparent &&
	expect_eq "$(cfg obparent .config.OnBuild)" \
		"[\"RUN echo \\\"triggered \$MODE\\\" >/triggered\",\"ENV MODE=child\",\"ARG LEVEL=3\",\"LABEL level=\$LEVEL\",\"WORKDIR /app\",\"COPY data /app/data\"]" &&
	expect_eq "$(cfg obparent "(.config.Env | map(select(startswith(\"MODE\"))))")" "[]" &&
	expect_eq "$(cfg obparent ".config.Labels")" "null" &&
	# as BuildKit, ONBUILD writes no history entry
	expect_eq "$(cairn inspect obparent | jq -r "[.Config.history[].created_by | select(startswith(\"ONBUILD\"))] | length")" 0 &&
	expect_eq "$(cairn inspect obparent | jq ".Config.history | length")" \
		"$(cairn inspect base:1 | jq ".Config.history | length")" &&
	image_rootfs obparent "$TMP/obparent.root" &&
	test ! -e "$TMP/obparent.root/triggered"
'

test_expect_success ROOT 'a build FROM the image runs the triggers after its FROM; OnBuild is cleared' '
	recipe obchild <<-\EOF &&
	FROM obparent
	RUN cat /app/data /triggered >/seen
	EOF
	echo context-data >"$TMP/obchild/data" &&
	build obchild >"$TMP/obchild.out" 2>&1 &&
	expect_contains "$(cat "$TMP/obchild.out")" "[1/2] ONBUILD RUN echo" &&
	expect_eq "$(cfg obchild .config.OnBuild)" "null" &&
	expect_contains "$(cfg obchild .config.Env)" "\"MODE=child\"" &&
	expect_eq "$(cfg obchild .config.Labels.level)" "\"3\"" &&
	expect_eq "$(cfg obchild .config.WorkingDir)" "\"/app\"" &&
	image_rootfs obchild "$TMP/obchild.root" &&
	expect_eq "$(cat "$TMP/obchild.root/seen")" "context-data
triggered "
'

test_expect_success ROOT 'the triggers run once: a grandchild runs none' '
	recipe obgrand <<-\EOF &&
	FROM obchild
	RUN test ! -e /grand && echo ok >/grand
	EOF
	build obgrand &&
	expect_eq "$(cfg obgrand .config.OnBuild)" "null" &&
	expect_eq "$(cairn inspect obgrand | jq ".Config.history | length")" \
		"$(($(cairn inspect obchild | jq ".Config.history | length") + 1))"
'

test_expect_success ROOT 'an unchanged child rebuild takes the trigger steps from the cache' '
	build obchild >"$TMP/obchild2.out" 2>&1 &&
	expect_contains "$(cat "$TMP/obchild2.out")" "ONBUILD RUN echo \"triggered \$MODE\" >/triggered CACHED" &&
	expect_contains "$(cat "$TMP/obchild2.out")" "ONBUILD COPY data /app/data CACHED"
'

test_expect_success ROOT 'a trigger with a heredoc is stored with its body and runs in the child' '
	recipe obheredoc <<-\EOF &&
	FROM base:1
	ONBUILD RUN <<EOT
	echo heredoc >/heredoc
	EOT
	EOF
	build obheredoc &&
	expect_eq "$(cfg obheredoc .config.OnBuild)" "[\"RUN <<EOT\\necho heredoc >/heredoc\\nEOT\"]" &&
	recipe obheredocchild <<-\EOF &&
	FROM obheredoc
	EOF
	build obheredocchild &&
	image_rootfs obheredocchild "$TMP/obheredocchild.root" &&
	expect_eq "$(cat "$TMP/obheredocchild.root/heredoc")" heredoc
'

test_expect_success ROOT 'ONBUILD ONBUILD, FROM and MAINTAINER triggers are rejected' '
	printf "FROM base:1\nONBUILD ONBUILD RUN true\n" | recipe obbad &&
	fails_with obbad "Recipe:2:" "ONBUILD ONBUILD" &&
	printf "FROM base:1\nONBUILD FROM base:1\n" | recipe obbad &&
	fails_with obbad "FROM isn'"'"'t allowed as an ONBUILD trigger" &&
	printf "FROM base:1\nONBUILD MAINTAINER me\n" | recipe obbad &&
	fails_with obbad "MAINTAINER isn'"'"'t allowed as an ONBUILD trigger" &&
	printf "FROM base:1\nONBUILD\n" | recipe obbad &&
	fails_with obbad "ONBUILD requires at least one argument"
'

test_expect_success ROOT 'a trigger that could never run is an error at ONBUILD' '
	printf "FROM base:1\nONBUILD COPY onlyone\n" | recipe obinvalid &&
	fails_with obinvalid "Recipe:2: ONBUILD: invalid trigger:" "COPY requires at least two arguments" &&
	printf "FROM base:1\nONBUILD BOGUS x\n" | recipe obinvalid &&
	fails_with obinvalid "Recipe:2: ONBUILD: invalid trigger: unknown instruction: BOGUS"
'

test_expect_success ROOT 'a failing trigger fails the child at its FROM line, naming the trigger' '
	recipe obfail <<-\EOF &&
	FROM base:1
	ONBUILD RUN exit 3
	EOF
	build obfail &&
	recipe obfailchild <<-\EOF &&
	# a comment line, so the FROM is line 2
	FROM obfail
	RUN true
	EOF
	fails_with obfailchild \
		"Recipe:2: FROM: ONBUILD trigger \`RUN exit 3\`: step 1/2 \`ONBUILD RUN exit 3\` failed: exit status 3" &&
	recipe obfail2 <<-\EOF &&
	FROM base:1
	ONBUILD COPY missing /missing
	EOF
	build obfail2 &&
	recipe obfail2child <<-\EOF &&
	FROM obfail2
	EOF
	fails_with obfail2child "Recipe:1: FROM: ONBUILD trigger \`COPY missing /missing\`: COPY:"
'

# Issue 10: a trigger's error came back with its place formatted into the message,
# which the build then parsed to strip, re-place and quote; it is a value now. A
# mount that fails inside the sandbox, two steps down, still names the child's FROM.
test_expect_success ROOT 'a trigger whose mount fails in the sandbox is reported at the FROM that ran it' '
	recipe obmount <<-\EOF &&
	FROM base:1
	ONBUILD RUN --mount=type=tmpfs,target=/bin/busybox/x true
	EOF
	build obmount &&
	recipe obmountchild <<-\EOF &&
	# two comment lines,
	# so that the FROM is line 3
	FROM obmount
	RUN true
	EOF
	fails_with obmountchild \
		"Recipe:3: FROM: ONBUILD trigger \`RUN --mount=type=tmpfs,target=/bin/busybox/x true\`: RUN: " \
		"mount target /bin/busybox/x: Not a directory" &&
	expect_eq "$(tail -n 1 "$TMP/obmountchild.err")" "    FROM obmount"
'

test_expect_success ROOT 'a stage built FROM an earlier stage with triggers runs them' '
	recipe obstage <<-\EOF &&
	FROM base:1 AS parent
	ONBUILD ENV FROM_STAGE=yes
	FROM parent
	RUN test "$FROM_STAGE" = yes
	EOF
	build obstage &&
	expect_contains "$(cfg obstage .config.Env)" "\"FROM_STAGE=yes\"" &&
	expect_eq "$(cfg obstage .config.OnBuild)" "null"
'

test_done
