#!/bin/bash
# A hostile recipe cannot crash cairn, hang it or eat the machine's memory: deep
# nesting, exponential patterns, values that double, huge files and long matches
# end in an error that names the limit (exit status 1, never a signal), or finish,
# and SIGTERM stops an expansion in progress (issue 9, items 6 and 7). The big
# inputs are made here, in $TMP.
. "$(dirname "$0")/lib.sh"

ctx="$TMP/ctx"
mkdir -p "$ctx"

# The background build of the last test, killed if the script ends before it does.
trap '[ -s "$TMP/bg.pid" ] && kill -KILL "$(cat "$TMP/bg.pid")" 2>/dev/null; _cleanup' EXIT

# build_status NAME RECIPE [ARGS...]: builds RECIPE as NAME; the exit status in
# $TMP/NAME.rc, stderr in $TMP/NAME.err.
build_status() {
	_rc=0
	cairn build -q -t "$1" -f "$2" "$ctx" >"$TMP/$1.out" 2>"$TMP/$1.err" || _rc=$?
	echo "$_rc" >"$TMP/$1.rc"
}

# s REPEAT TEXT: TEXT repeated.
s() {
	_i=0
	while [ "$_i" -lt "$1" ]; do
		printf '%s' "$2"
		_i=$((_i + 1))
	done
}

test_expect_success '${a:-...} nested 20,000 deep fails with the limit, not a crash' '
	{
		printf "FROM scratch\nARG x="
		s 20000 "\${a:-"
		printf x
		s 20000 "}"
		printf "\n"
	} >"$TMP/deep.Recipe" &&
	build_status deep "$TMP/deep.Recipe" &&
	expect_eq "$(cat "$TMP/deep.rc")" 1 &&
	expect_contains "$(cat "$TMP/deep.err")" \
		"deep.Recipe:2: ARG: failed to process" &&
	expect_contains "$(cat "$TMP/deep.err")" "variable expansion nested more than 100 levels"
'

test_expect_success 'so does cairn parse, whose heredoc search lexes a RUN line' '
	{
		printf "FROM scratch\nRUN <<EOF "
		s 100000 "\${a:-"
		printf "\nEOF\n"
	} >"$TMP/deep-run.Recipe" &&
	rc=0 && cairn parse "$TMP/deep-run.Recipe" >/dev/null 2>&1 || rc=$? &&
	test "$rc" -lt 128
'

test_expect_success '${v#*a*a...*ab} on 40,000 a finishes: no match, v unchanged' '
	{
		printf "FROM scratch\nARG v="
		s 40000 a
		printf "\nARG w=\${v#"
		s 15000 "*a"
		printf "b}\nLABEL w=\$w shorter=\${v##*a*a} suffix=\${v%%%%a*a*b}\n"
	} >"$TMP/stars.Recipe" &&
	build_status stars "$TMP/stars.Recipe" &&
	cat "$TMP/stars.err" &&
	expect_eq "$(cat "$TMP/stars.rc")" 0 &&
	expect_eq "$(cfg stars ".config.Labels.w | length")" 40000 &&
	expect_eq "$(cfg stars ".config.Labels.shorter")" "\"\"" &&
	expect_eq "$(cfg stars ".config.Labels.suffix | length")" 40000
'

test_expect_success 'ARGs that double 40 times fail at 16 MiB, with the limit' '
	{
		printf "FROM scratch\nARG A0=xxxxxxxx\n"
		for i in $(seq 1 40); do
			printf "ARG A%d=\$A%d\$A%d\n" "$i" $((i - 1)) $((i - 1))
		done
	} >"$TMP/double.Recipe" &&
	build_status double "$TMP/double.Recipe" &&
	expect_eq "$(cat "$TMP/double.rc")" 1 &&
	expect_contains "$(cat "$TMP/double.err")" "double.Recipe:24: ARG:" &&
	expect_contains "$(cat "$TMP/double.err")" \
		"variable expansion makes a word larger than 16 MiB"
'

# big FILE SIZE: a recipe of SIZE bytes, all but 34 a COPY heredoc of 64-byte lines.
big() {
	{
		printf "FROM scratch\nCOPY <<EOF /big\n"
		yes "$(s 63 x)" | head -c "$(($2 - 34))"
		printf "\nEOF\n"
	} >"$1" &&
	expect_eq "$(stat -c %s "$1")" "$2"
}

test_expect_success 'a recipe of 16 MiB builds, its heredoc whole' '
	big "$TMP/16m.Recipe" $((16 << 20)) &&
	build_status 16m "$TMP/16m.Recipe" &&
	cat "$TMP/16m.err" &&
	expect_eq "$(cat "$TMP/16m.rc")" 0 &&
	image_rootfs 16m "$TMP/16m.root" &&
	cmp "$TMP/16m.root/big" <(sed -e 1,2d -e \$d "$TMP/16m.Recipe")
'

test_expect_success 'one byte more is refused before it is read, from a file or a pipe' '
	printf "#" >>"$TMP/16m.Recipe" &&
	build_status 16m-file "$TMP/16m.Recipe" &&
	expect_eq "$(cat "$TMP/16m-file.rc")" 1 &&
	expect_contains "$(cat "$TMP/16m-file.err")" \
		"$TMP/16m.Recipe: a recipe is at most 16 MiB; this one is larger" &&
	rc=0 &&
	cat "$TMP/16m.Recipe" | cairn build -q -t pipe -f /dev/stdin "$ctx" >/dev/null \
		2>"$TMP/pipe.err" || rc=$? &&
	expect_eq "$rc" 1 &&
	expect_contains "$(cat "$TMP/pipe.err")" "/dev/stdin: a recipe is at most 16 MiB"
'

test_expect_success 'cairn parse and cairn lint refuse it as the build does' '
	msg="a recipe is at most 16 MiB; this one is larger" &&
	{ rc=0; cairn parse "$TMP/16m.Recipe" >/dev/null 2>"$TMP/parse.err" || rc=$?; } &&
	expect_eq "$rc" 1 &&
	expect_eq "$(cat "$TMP/parse.err")" "cairn: $TMP/16m.Recipe: $msg" &&
	{ rc=0; cairn lint "$TMP/16m.Recipe" >/dev/null 2>"$TMP/lint.err" || rc=$?; } &&
	expect_eq "$rc" 1 &&
	expect_eq "$(cat "$TMP/lint.err")" "cairn: $TMP/16m.Recipe: $msg" &&
	{ rc=0; cat "$TMP/16m.Recipe" | cairn parse - >/dev/null 2>"$TMP/stdin.err" || rc=$?; } &&
	expect_eq "$rc" 1 &&
	expect_eq "$(cat "$TMP/stdin.err")" "cairn: /dev/stdin: $msg"
'

test_expect_success 'SIGTERM stops a long match: exit status 143, "interrupted"' '
	{
		printf "FROM scratch\nARG A0=aaaaaaaa P0=a?\n"
		for i in $(seq 1 20); do
			printf "ARG A%d=\$A%d\$A%d P%d=\$P%d\$P%d\n" \
				"$i" $((i - 1)) $((i - 1)) "$i" $((i - 1)) $((i - 1))
		done
		# 8 MiB of a against a 2 MiB segment mixing ? and a: hours of Shift-And
		printf "ARG MARK=reached\nARG W=\${A20##*\$P20}\n"
	} >"$TMP/long.Recipe" &&
	{ "$CAIRN" build -t long -f "$TMP/long.Recipe" "$ctx" >"$TMP/long.out" 2>"$TMP/long.err" & } &&
	bg=$! &&
	echo "$bg" >"$TMP/bg.pid" &&
	until grep -qs "ARG MARK=reached" "$TMP/long.err"; do
		kill -0 "$bg" || break
		sleep 0.2
	done &&
	grep -q "ARG MARK=reached" "$TMP/long.err" &&
	kill -TERM "$bg" &&
	rc=0 && wait "$bg" || rc=$? &&
	rm "$TMP/bg.pid" &&
	cat "$TMP/long.err" &&
	expect_eq "$rc" 143 &&
	expect_eq "$(tail -n 1 "$TMP/long.err")" "cairn: interrupted" &&
	! cairn inspect long >/dev/null 2>&1
'

test_done
