#!/bin/bash
# One reference grammar (docker's distribution/reference) for every command: build -t,
# tag, FROM, pull and push take and refuse the same names. Before issue 10, -t and tag
# (util_ref_normalize) and pull (registry_ref_parse) each had a grammar of their own,
# and these four names passed one and failed the other. Pulls never leave loopback
# (lib.sh sends everything else to a proxy where nothing listens).
. "$(dirname "$0")/lib.sh"
unset SOURCE_DATE_EPOCH

ctx="$TMP/ctx"
mkdir -p "$ctx"
echo hello >"$ctx/hello"
printf 'FROM scratch\nCOPY hello /hello\n' >"$ctx/Recipe"

# refused NAME WHY: build -t, tag, pull and push all refuse NAME with WHY in the
# message, before doing anything.
refused() {
	cp "$CAIRN_ROOT/index.json" "$TMP/index.before" &&
	test_expect_code 1 cairn build -q -t "$1" "$ctx" >/dev/null 2>"$TMP/build.err" &&
	expect_contains "$(cat "$TMP/build.err")" "invalid reference \"$1\": $2" &&
	test_expect_code 1 cairn tag base "$1" 2>"$TMP/tag.err" &&
	expect_contains "$(cat "$TMP/tag.err")" "invalid reference \"$1\": $2" &&
	test_expect_code 1 cairn pull "$1" >/dev/null 2>"$TMP/pull.err" &&
	expect_contains "$(cat "$TMP/pull.err")" "invalid reference \"$1\": $2" &&
	test_expect_code 1 cairn push base "$1" >/dev/null 2>"$TMP/push.err" &&
	expect_contains "$(cat "$TMP/push.err")" "invalid reference \"$1\": $2" &&
	cmp "$CAIRN_ROOT/index.json" "$TMP/index.before"
}

test_expect_success 'a base image to tag' '
	cairn build -q -t base "$ctx" >"$TMP/base" &&
	grep -qE "^sha256:[0-9a-f]{64}$" "$TMP/base"
'

test_expect_success 'host:99999999/app is a name for build -t, tag and FROM; pull and push need a real port' '
	cairn build -q -t host:99999999/app "$ctx" >/dev/null &&
	expect_eq "$(ref_digest host:99999999/app:latest)" "$(cat "$TMP/base")" &&
	cairn tag base host:99999999/app:2 &&
	expect_eq "$(ref_digest host:99999999/app:2)" "$(cat "$TMP/base")" &&
	printf "FROM host:99999999/app:2\nLABEL x=1\n" >"$TMP/Recipe.from" &&
	cairn build -q -f "$TMP/Recipe.from" -t from-port "$ctx" >/dev/null &&
	test_expect_code 1 cairn pull host:99999999/app 2>"$TMP/pull.err" &&
	expect_contains "$(cat "$TMP/pull.err")" "the port of host:99999999 is above 65535" &&
	test_expect_code 1 cairn push base host:99999999/app 2>"$TMP/push.err" &&
	expect_contains "$(cat "$TMP/push.err")" "the port of host:99999999 is above 65535"
'

test_expect_success 'a..b/c is refused by build -t, tag, pull and push alike' '
	refused a..b/c "bad registry host \"a..b\""
'

test_expect_success 'a 300-character name is refused by build -t, tag, pull and push alike' '
	refused "$(printf "%0300d" 0 | tr 0 a)" "the repository name is longer than 255 characters"
'

test_expect_success 'Foo/bar is bar on the host Foo for build -t, tag, FROM, pull and push' '
	cairn build -q -t Foo/bar "$ctx" >/dev/null &&
	expect_eq "$(ref_digest Foo/bar:latest)" "$(cat "$TMP/base")" &&
	cairn tag base Foo/bar:2 &&
	expect_eq "$(ref_digest Foo/bar:2)" "$(cat "$TMP/base")" &&
	printf "FROM Foo/bar:2\nLABEL x=1\n" >"$TMP/Recipe.from" &&
	cairn build -q -f "$TMP/Recipe.from" -t from-upper "$ctx" >/dev/null &&
	test_expect_code 1 cairn pull Foo/bar 2>"$TMP/pull.err" &&
	! grep -q "invalid reference" "$TMP/pull.err" &&
	expect_contains "$(cat "$TMP/pull.err")" "https://Foo/v2/" &&
	test_expect_code 1 cairn push Foo/bar 2>"$TMP/push.err" &&
	! grep -q "invalid reference" "$TMP/push.err" &&
	expect_contains "$(cat "$TMP/push.err")" "https://Foo/v2/"
'

test_done
