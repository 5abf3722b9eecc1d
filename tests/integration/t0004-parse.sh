#!/bin/bash
# cairn parse prints the syntax tree (text and JSON) and reports syntax errors as
# FILE:LINE:COLUMN with the line; no root needed, nothing is built.
. "$(dirname "$0")/lib.sh"

R="$FIXTURES/recipes"

test_expect_success 'continuation lines: one instruction with its line range' '
	cairn parse --json "$R/continuation.Dockerfile" >"$TMP/c.json" &&
	expect_eq "$(jq -c ".instructions[1] | [.instruction, .line, .end_line]" "$TMP/c.json")" \
		"[\"RUN\",5,8]" &&
	expect_eq "$(jq -r ".instructions[1].args | length" "$TMP/c.json")" 1 &&
	expect_contains "$(jq -r ".instructions[1].args[0]" "$TMP/c.json")" "&& echo two" &&
	expect_eq "$(jq -r .syntax "$TMP/c.json")" "docker/dockerfile:1" &&
	expect_eq "$(jq -c ".instructions[2].flags" "$TMP/c.json")" "[\"--chown=1:1\"]"
'

test_expect_success 'JSON form: json is true and the elements are the args' '
	cairn parse --json "$R/json-form.Dockerfile" >"$TMP/j.json" &&
	expect_eq "$(jq -c ".instructions[1] | [.instruction, .json, .args]" "$TMP/j.json")" \
		"[\"CMD\",true,[\"/bin/sh\",\"-c\",\"echo \\\"hi\\\"\"]]" &&
	expect_eq "$(jq -c ".instructions[4] | [.json, .args]" "$TMP/j.json")" \
		"[false,[\"[ \\\"not\\\", \\\"json\\\"\"]]"
'

test_expect_success 'ENV and LABEL: name, value, separator triples' '
	cairn parse --json "$R/env.Dockerfile" >"$TMP/e.json" &&
	expect_eq "$(jq -c ".instructions[1].args" "$TMP/e.json")" \
		"[\"A\",\"1\",\"=\",\"B\",\"\\\"two words\\\"\",\"=\",\"C\",\"3\",\"=\"]" &&
	expect_eq "$(jq -c ".instructions[2].args" "$TMP/e.json")" \
		"[\"LEGACY\",\"value with spaces\",\"\"]" &&
	expect_eq "$(jq -r ".instructions[3].instruction" "$TMP/e.json")" LABEL
'

test_expect_success 'heredocs: name, content, expand and chomp' '
	cairn parse --json "$R/heredoc.Dockerfile" >"$TMP/h.json" &&
	expect_eq "$(jq -c ".instructions[1].heredocs" "$TMP/h.json")" \
		"[{\"name\":\"EOF\",\"content\":\"echo hello\\necho \$HOME\\n\",\"expand\":true,\"chomp\":false}]" &&
	expect_eq "$(jq -c ".instructions[2].heredocs[0] | [.name, .expand, .chomp, .content]" "$TMP/h.json")" \
		"[\"END\",false,true,\"no expansion of \$HOME here\\n\"]" &&
	expect_eq "$(jq -c "[.instructions[] | [.line, .end_line]]" "$TMP/h.json")" \
		"[[2,2],[3,6],[7,9]]"
'

test_expect_success 'ONBUILD: the wrapped instruction is in sub; escape directive' '
	cairn parse --json "$R/onbuild-healthcheck.Dockerfile" >"$TMP/o.json" &&
	expect_eq "$(jq -r .escape "$TMP/o.json")" "\`" &&
	expect_eq "$(jq -c ".instructions[1].sub | [.instruction, .args]" "$TMP/o.json")" \
		"[\"RUN\",[\"echo     onbuild\"]]" &&
	expect_eq "$(jq -c ".instructions[0].sub" "$TMP/o.json")" null
'

test_expect_success 'text output: one line per instruction with its line range' '
	cairn parse "$R/continuation.Dockerfile" >"$TMP/c.txt" &&
	expect_eq "$(sed -n 1p "$TMP/c.txt")" "# syntax=docker/dockerfile:1" &&
	expect_eq "$(sed -n 3p "$TMP/c.txt")" "5-8 RUN [\"echo one     && echo two     && make\"]" &&
	expect_eq "$(sed -n 4p "$TMP/c.txt")" "9 COPY [\"--chown=1:1\"] [\"a\",\"b\",\"/dst/\"]" &&
	cairn parse "$R/json-form.Dockerfile" | grep -qx "2 CMD json \[\"/bin/sh\",\"-c\",\"echo \\\\\"hi\\\\\"\"\]"
'

test_expect_success 'a syntax error: FILE:LINE:COLUMN, the line, exit status 1' '
	st=0 &&
	cairn parse "$R/bad-unknown-instruction.Dockerfile" >"$TMP/out" 2>"$TMP/err" || st=$? &&
	expect_eq "$st" 1 &&
	test ! -s "$TMP/out" &&
	expect_eq "$(sed -n 1p "$TMP/err")" \
		"$R/bad-unknown-instruction.Dockerfile:3:1: unknown instruction: FROBNICATE" &&
	expect_eq "$(sed -n 2p "$TMP/err")" "    FROBNICATE all the things" &&
	expect_eq "$(sed -n 3p "$TMP/err")" "    ^"
'

test_expect_success 'the column of an indented error and a CRLF file' '
	printf "FROM a\r\n  COPY x\r\n" >"$TMP/crlf" &&
	st=0 && cairn parse "$TMP/crlf" 2>"$TMP/err" || st=$? &&
	expect_eq "$st" 1 &&
	expect_contains "$(sed -n 1p "$TMP/err")" "$TMP/crlf:2:3: " &&
	expect_eq "$(sed -n 2p "$TMP/err")" "      COPY x" &&
	expect_eq "$(sed -n 3p "$TMP/err")" "      ^"
'

test_expect_success '--tree-only keeps an unknown instruction' '
	cairn parse --json --tree-only "$R/bad-unknown-instruction.Dockerfile" >"$TMP/t.json" &&
	expect_eq "$(jq -c ".instructions[2] | [.instruction, .args]" "$TMP/t.json")" \
		"[\"FROBNICATE\",[\"all the things\"]]"
'

test_expect_success 'standard input with -' '
	printf "FROM scratch\nCMD [\"x\"]\n" | cairn parse --json - >"$TMP/s.json" &&
	expect_eq "$(jq -c "[.instructions[].instruction]" "$TMP/s.json")" "[\"FROM\",\"CMD\"]" &&
	st=0 && printf "RUN x\n" | cairn parse - 2>"$TMP/err" || st=$? &&
	expect_eq "$st" 1 &&
	expect_contains "$(cat "$TMP/err")" "<stdin>:1:"
'

test_expect_success 'usage errors and unreadable files exit with 2' '
	st=0 && cairn parse >/dev/null 2>&1 || st=$? && expect_eq "$st" 2 &&
	st=0 && cairn parse --bogus x >/dev/null 2>&1 || st=$? && expect_eq "$st" 2 &&
	st=0 && cairn parse a b >/dev/null 2>&1 || st=$? && expect_eq "$st" 2 &&
	st=0 && cairn parse "$TMP/missing" 2>"$TMP/err" || st=$? && expect_eq "$st" 2 &&
	expect_contains "$(cat "$TMP/err")" "missing" &&
	cairn parse --help | grep -q "^usage: cairn parse"
'

fx="$CAIRN_SOURCE_ROOT/tests/fixtures/recipes"

test_expect_success 'every fixture recipe parses, and the bad-* ones fail with exit status 1' '
	for f in "$fx"/*.Dockerfile; do
		case "${f##*/}" in
		bad-*) cairn parse "$f" >/dev/null 2>&1; test $? = 1 || { echo "$f parsed"; exit 1; } ;;
		*) cairn parse "$f" >/dev/null || { echo "$f failed"; exit 1; } ;;
		esac
	done
'

test_expect_success 'fixture: BOM, CRLF, escape=` and a comment inside a continuation' '
	cairn parse --json "$fx/bom-crlf-escape.Dockerfile" >"$TMP/bce.json" &&
	expect_eq "$(jq -r .escape "$TMP/bce.json")" "\`" &&
	expect_eq "$(jq -r ".instructions[1].args[0]" "$TMP/bce.json")" "echo a     b" &&
	expect_eq "$(jq -r ".instructions[1].end_line" "$TMP/bce.json")" 6
'

test_expect_success 'fixture: empty continuation lines and an escape at the end of the file' '
	cairn parse --json "$fx/escape-at-eof.Dockerfile" >"$TMP/eof.json" &&
	expect_eq "$(jq -r ".instructions[1].args[0]" "$TMP/eof.json")" "echo one      two" &&
	expect_eq "$(jq -c ".instructions[2].args" "$TMP/eof.json")" "[\"A\",\"1\",\"=\"]"
'

test_expect_success 'fixture: a continuation on a heredoc line, and a quoted <<- heredoc in COPY' '
	cairn parse --json "$fx/heredoc-continuation.Dockerfile" >"$TMP/hc.json" &&
	expect_eq "$(jq -r ".instructions[1].heredocs[0].content" "$TMP/hc.json")" "cat x \\
  y" &&
	expect_eq "$(jq -r ".instructions[2].heredocs[0] | \"\(.expand) \(.chomp) \(.content)\"" "$TMP/hc.json")" "false true line \$NOEXPAND"
'

test_done
