#!/bin/bash
# cairn lint and cairn build --check: problems reported with file, line and rule,
# nothing built.
. "$(dirname "$0")/lib.sh"

ctx="$TMP/ctx"
mkdir -p "$ctx"

lint_case() { # NAME RECIPE-TEXT
	printf "%b" "$2" >"$TMP/$1.Recipe"
	cairn lint "$TMP/$1.Recipe" >"$TMP/$1.out" 2>&1
}

test_expect_success 'a clean recipe passes with exit status 0 and no output' '
	lint_case clean "FROM scratch\nCOPY a /a\nCMD [\"/a\"]\n" &&
	test ! -s "$TMP/clean.out"
'

test_expect_success 'shell-form CMD is JSONArgsRecommended, with file, line and the line shown' '
	! lint_case cmd "FROM scratch\nCMD echo hi\n" &&
	grep -q "cmd.Recipe:2: warning: JSONArgsRecommended" "$TMP/cmd.out" &&
	grep -q "^    CMD echo hi$" "$TMP/cmd.out"
'

test_expect_success 'an unknown flag is an error' '
	! lint_case flag "FROM scratch\nCOPY --bogus=1 a /b\n" &&
	grep -q "flag.Recipe:2: error: UnknownFlag: COPY does not take the flag --bogus" "$TMP/flag.out"
'

test_expect_success 'stage names: casing, duplicates, reserved names' '
	! lint_case stages "FROM scratch AS Builder\nFROM scratch AS builder\nFROM scratch AS scratch\n" &&
	grep -q "StageNameCasing" "$TMP/stages.out" &&
	grep -q "stages.Recipe:2: error: DuplicateStageName" "$TMP/stages.out" &&
	grep -q "stages.Recipe:3: error: ReservedStageName" "$TMP/stages.out"
'

test_expect_success 'FROM ... as with mixed casing is FromAsCasing' '
	! lint_case fromas "FROM scratch as b\n" &&
	grep -q "FromAsCasing" "$TMP/fromas.out"
'

test_expect_success 'two CMDs in one stage are MultipleInstructionsDisallowed, across stages they are not' '
	! lint_case twice "FROM scratch\nCMD [\"a\"]\nCMD [\"b\"]\n" &&
	grep -q "twice.Recipe:2: warning: MultipleInstructionsDisallowed" "$TMP/twice.out" &&
	lint_case stages2 "FROM scratch\nCMD [\"a\"]\nFROM scratch\nCMD [\"b\"]\n"
'

test_expect_success 'secrets in ARG/ENV, legacy ENV, MAINTAINER, relative WORKDIR, mixed casing' '
	! lint_case misc "FROM scratch\nARG DB_PASSWORD\nENV a b\nMAINTAINER me\nWORKDIR rel\nrun true\n" &&
	grep -q "misc.Recipe:2: warning: SecretsUsedInArgOrEnv" "$TMP/misc.out" &&
	grep -q "misc.Recipe:3: warning: LegacyKeyValueFormat" "$TMP/misc.out" &&
	grep -q "misc.Recipe:4: warning: MaintainerDeprecated" "$TMP/misc.out" &&
	grep -q "misc.Recipe:5: warning: WorkdirRelativePath" "$TMP/misc.out" &&
	grep -q "misc.Recipe:6: warning: ConsistentInstructionCasing" "$TMP/misc.out"
'

test_expect_success '# check=skip=RULE,RULE turns those checks off, skip=all every one' '
	! lint_case skip "# check=skip=JSONArgsRecommended,MaintainerDeprecated\nFROM scratch\nCMD echo\nMAINTAINER x\nENV a b\n" &&
	! grep -q "JSONArgsRecommended\|MaintainerDeprecated" "$TMP/skip.out" &&
	grep -q "LegacyKeyValueFormat" "$TMP/skip.out" &&
	lint_case skipall "# check=skip=all\nFROM scratch\nCMD echo\n"
'

test_expect_success 'a syntax error is reported with line and column' '
	! lint_case syntax "FROM scratch\nFROB x\n" &&
	grep -q "syntax.Recipe:2:1: unknown instruction" "$TMP/syntax.out"
'

test_expect_success 'lint of a directory reads its Recipe' '
	printf "FROM scratch\nENTRYPOINT sh\n" >"$ctx/Recipe" &&
	! cairn lint "$ctx" >"$TMP/dir.out" 2>&1 &&
	grep -q "Recipe:2: warning: JSONArgsRecommended" "$TMP/dir.out"
'

# Issue 10: lint had a flag table of its own and let ADD --parents through, which
# the build refuses (--parents is COPY's in buildkit); both read one table now.
test_expect_success 'ADD --parents is an unknown flag to lint, as it is to the build' '
	! lint_case addparents "FROM scratch\nADD --parents a /b/\n" &&
	grep -q "addparents.Recipe:2: error: UnknownFlag: ADD does not take the flag --parents" \
		"$TMP/addparents.out" &&
	echo a >"$ctx/a" &&
	! cairn build -q -f "$TMP/addparents.Recipe" "$ctx" >/dev/null 2>"$TMP/addparents.build" &&
	grep -q "addparents.Recipe:2: ADD: unknown flag: --parents" "$TMP/addparents.build" &&
	lint_case copyparents "FROM scratch\nCOPY --parents a /b/\n" &&
	test ! -s "$TMP/copyparents.out" &&
	cairn build -q -f "$TMP/copyparents.Recipe" "$ctx" >/dev/null
'

test_expect_success 'MAINTAINER takes no flag, for lint as for the build' '
	! lint_case maintflag "FROM scratch\nMAINTAINER --x me\n" &&
	grep -q "maintflag.Recipe:2: error: UnknownFlag: MAINTAINER does not take the flag --x" \
		"$TMP/maintflag.out" &&
	! cairn build -q -f "$TMP/maintflag.Recipe" "$ctx" >/dev/null 2>"$TMP/maintflag.build" &&
	grep -q "maintflag.Recipe:2: MAINTAINER: unknown flag: --x" "$TMP/maintflag.build"
'

test_expect_success 'what the build refuses in an instruction is a lint error with its message' '
	! lint_case link "FROM scratch\nCOPY --link=maybe a /b\n" &&
	grep -q "link.Recipe:2: error: COPY: --link=maybe: expected true or false$" "$TMP/link.out" &&
	! lint_case hc "FROM scratch\nHEALTHCHECK --interval=5x CMD true\n" &&
	grep -q "hc.Recipe:2: error: HEALTHCHECK: --interval=5x: unknown unit" "$TMP/hc.out" &&
	! lint_case mount "FROM scratch\nRUN --mount=type=bogus,target=/x true\n" &&
	grep -q "mount.Recipe:2: error: RUN: --mount=type=bogus,target=/x: unsupported mount type" \
		"$TMP/mount.out" &&
	! lint_case net "FROM scratch\nRUN --network=bogus true\n" &&
	grep -q "net.Recipe:2: error: RUN: --network=bogus: expected default, private, none or host" \
		"$TMP/net.out"
'

test_expect_success 'a value that holds a variable is left to the build, which expands it' '
	lint_case mountvar "FROM scratch\nARG T=tmpfs\nRUN --mount=type=\$T,target=/x true\n" &&
	test ! -s "$TMP/mountvar.out"
'

test_expect_success 'build --check lints the recipe the build would use and builds nothing' '
	! cairn build --check -t checked "$ctx" >"$TMP/check.out" 2>&1 &&
	grep -q "JSONArgsRecommended" "$TMP/check.out" &&
	! cairn images -q 2>/dev/null | grep -q checked
'

test_expect_success 'a missing file is exit status 2' '
	cairn lint "$TMP/none" 2>/dev/null; test $? = 2
'

test_done
