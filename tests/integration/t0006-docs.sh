#!/bin/bash
# The man pages match the CLI: every command of the command table in src/main.c
# has man/cairn-CMD.1, its --help works, the long options its --help lists are
# in its page and the options its page's OPTIONS section lists are in its --help;
# every option (long or short) of the page's SYNOPSIS and OPTIONS is in --help's
# usage and option lines and back; the same for cairn(1) and `cairn --help`; and
# every page renders cleanly. Then the docs' statements about behaviour, each
# checked against what cairn does (a build, a registry on loopback) and against
# the docs, which must not say the opposite (the phrases they once had).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/registry.sh"

MAN_DIR="$CAIRN_SOURCE_ROOT/man"

# The command names of the command table in src/main.c, one a line.
commands() {
	sed -n 's/^[[:space:]]*{ *"\([a-z][a-z0-9-]*\)", *cmd_[a-z0-9_]* *},.*$/\1/p' \
		"$CAIRN_SOURCE_ROOT/src/main.c"
}

# The long options (--name) in standard input, sorted, one a line.
long_opts() { grep -oE -- '--[a-z][a-z0-9-]*' | sort -u; }

# A page's roff source as plain text: \- made -, font and no-break escapes dropped.
man_text() {
	sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' -e 's/\\f(..//g' -e 's/\\[&%]//g' "$1"
}

# The long options in the .TP tags of section $2 (as written after .SH) of page $1.
section_opts() {
	man_text "$1" | awk -v sec="$2" '
		/^\.SH/ { insec = ($0 == ".SH " sec || $0 == ".SH \"" sec "\""); next }
		insec && /^\.TP/ { tag = 1; next }
		insec && tag { print; tag = 0 }
	' | long_opts
}

# Fails naming each long option of the help text in file $1 that page $2 lacks.
help_opts_in_page() {
	_missing=""
	for _o in $(long_opts <"$1"); do
		man_text "$2" | grep -qE -- "(^|[^a-z0-9-])$_o([^a-z0-9-]|\$)" ||
			_missing="$_missing $_o"
	done
	[ -z "$_missing" ] && return 0
	echo "${2##*/} does not mention:$_missing (listed by --help)"
	return 1
}

# Fails naming each long option of section $3 of page $2 that the help text in file
# $1 lacks. --help is exempt: every command takes it, not every usage lists it.
page_opts_in_help() {
	_missing=""
	for _o in $(section_opts "$2" "$3"); do
		[ "$_o" = --help ] && continue
		grep -qE -- "(^|[^a-z0-9-])$_o([^a-z0-9-]|\$)" "$1" || _missing="$_missing $_o"
	done
	[ -z "$_missing" ] && return 0
	echo "${2##*/} $3 lists what --help does not:$_missing"
	return 1
}

# The page's .TH names it: ".TH CAIRN\-BUILD 1" for cairn-build.1.
th_matches() {
	_base=${1##*/}
	_want=$(echo "${_base%.*} ${_base##*.}" | tr '[:lower:]' '[:upper:]')
	_got=$(man_text "$1" | sed -n 's/^\.TH \([^ ]*\) \([^ ]*\).*/\1 \2/p' | head -n 1)
	expect_eq "$_got" "$_want"
}

# The options (long and short) in standard input, one a line.
opt_words() {
	grep -oE -- '(^|[^A-Za-z0-9-])--?[A-Za-z][A-Za-z0-9-]*' | sed 's/^[^-]*//' |
		grep -vE '^-[A-Z]' | sort -u
}

# The options of a help text (standard input): its usage synopsis (from "usage:" to
# the first empty line) and its option lines (the flags before the description).
help_all_opts() {
	awk '
		/^usage:/ { syn = 1 }
		syn && /^[ \t]*$/ { syn = 0; next }
		syn { print; next }
		/^[ \t]+-/ { sub(/^[ \t]+/, ""); sub(/  .*/, ""); print }
	' | opt_words
}

# The options of page $1 for command $2: its SYNOPSIS forms that are of cairn $2
# (between .br; "cairn build --check" in cairn-lint.1 is build's) and the .TP tags
# of its OPTIONS section.
page_all_opts() {
	man_text "$1" | awk -v cmd="$2" '
		function flush() { if (mine) printf "%s", form; form = ""; mine = 0 }
		/^\.SH/ { if (sec) flush(); sec = ($0 == ".SH SYNOPSIS"); opts = ($0 == ".SH OPTIONS"); next }
		sec && /^\.br/ { flush(); next }
		sec {
			form = form $0 "\n"
			if ($0 ~ "^\\.B (cairn )?" cmd "( |$)") mine = 1
			next
		}
		opts && /^\.TP/ { tag = 1; next }
		opts && tag { print; tag = 0 }
		END { flush() }
	' | opt_words
}

cmds=$(commands)

test_expect_success 'the command table of src/main.c is found' '
	test -n "$cmds" &&
	expect_contains " $(echo $cmds) " " build "
'

test_expect_success 'cairn --help exits 0; its options are in cairn.1 and back' '
	cairn --help >"$TMP/help.main" &&
	test -f "$MAN_DIR/cairn.1" &&
	th_matches "$MAN_DIR/cairn.1" &&
	help_opts_in_page "$TMP/help.main" "$MAN_DIR/cairn.1" &&
	page_opts_in_help "$TMP/help.main" "$MAN_DIR/cairn.1" "GLOBAL OPTIONS"
'

# The .TP tags of the COMMANDS section of cairn.1 (".B build"...).
cairn --help | help_all_opts >"$TMP/gopts"

page_cmds=$(man_text "$MAN_DIR/cairn.1" | awk '
	/^\.SH/ { insec = ($0 == ".SH COMMANDS"); next }
	insec && /^\.TP/ { tag = 1; next }
	insec && tag { print; tag = 0 }
')

test_expect_success 'cairn.1 and cairn --help list every command' '
	for c in $cmds; do
		expect_contains "$page_cmds" ".B $c" &&
		man_text "$MAN_DIR/cairn.1" | grep -qF "cairn-$c (1)" ||
			{ echo "cairn.1 COMMANDS lacks $c or cairn-$c(1)"; exit 1; }
		grep -qE "^  $c " "$TMP/help.main" ||
			{ echo "cairn --help does not list $c"; exit 1; }
	done
'

for cmd in $cmds; do
	page="$MAN_DIR/cairn-$cmd.1"
	test_expect_success "cairn $cmd: man/cairn-$cmd.1 exists and its .TH names it" '
		test -f "$page" &&
		th_matches "$page"
	'
	test_expect_success "cairn $cmd --help exits 0 and prints the usage" '
		cairn "$cmd" --help >"$TMP/help.$cmd" &&
		expect_contains "$(cat "$TMP/help.$cmd")" "usage: cairn $cmd"
	'
	test_expect_success "cairn $cmd: the options of --help are in its page and back" '
		help_opts_in_page "$TMP/help.$cmd" "$page" &&
		page_opts_in_help "$TMP/help.$cmd" "$page" OPTIONS
	'
	# -h/--help: every command takes them; the global options: the page may show them
	test_expect_success "cairn $cmd: its page's SYNOPSIS and OPTIONS list the options of --help, no other" '
		help_all_opts <"$TMP/help.$cmd" | { grep -vxE -- "-h|--help" || :; } >"$TMP/hopts.$cmd" &&
		page_all_opts "$page" "$cmd" | { grep -vxF -f "$TMP/gopts" || :; } |
			{ grep -vxE -- "-h|--help" || :; } >"$TMP/popts.$cmd" &&
		diff "$TMP/hopts.$cmd" "$TMP/popts.$cmd" >"$TMP/optdiff" || {
			sed -n "s/^< /  only in --help: /p; s/^> /  only in ${page##*/}: /p" "$TMP/optdiff"
			exit 1
		}
	'
done

test_expect_success 'every cairn-*.1 page is for a command of the table' '
	for p in "$MAN_DIR"/cairn-*.1; do
		c=${p##*/cairn-}
		c=${c%.1}
		expect_contains " $(echo $cmds) " " $c " ||
			{ echo "${p##*/}: no such command"; exit 1; }
	done
'

pages=$(ls "$MAN_DIR"/*.[0-9])

test_expect_success MAN 'man -l renders every page without an error or warning' '
	for p in $pages; do
		MANWIDTH=80 MAN_DISABLE_SECCOMP=1 man -l "$p" >"$TMP/render" 2>"$TMP/render.err" ||
			{ echo "man -l ${p##*/} failed"; cat "$TMP/render.err"; exit 1; }
		if [ -s "$TMP/render.err" ]; then
			echo "man -l ${p##*/}:"
			cat "$TMP/render.err"
			exit 1
		fi
		grep -q "^NAME" "$TMP/render" ||
			{ echo "man -l ${p##*/}: no NAME section"; exit 1; }
	done
'

test_expect_success MAN 'groff -ww finds nothing to warn about in any page' '
	for p in $pages; do
		out=$(groff -man -Tutf8 -ww -z "$p" 2>&1)
		[ -z "$out" ] || { echo "${p##*/}: $out"; exit 1; }
	done
'

# ---- statements the docs make, checked against behaviour ----
# Each statement: what cairn does, run here, and the phrases that said the opposite,
# which no page, README.md or docs/design.md may hold again. The phrases are those
# the docs had when they contradicted the code.
docs="$MAN_DIR/*.[0-9] $CAIRN_SOURCE_ROOT/README.md $CAIRN_SOURCE_ROOT/docs/design.md"

# Fails naming each file of the docs that holds the phrase $1 (a grep -E pattern,
# matched on text whose roff escapes are dropped and whose lines are joined).
docs_never_say() {
	_bad=0
	for _f in $docs; do
		man_text "$_f" | grep -v '^\.\\"' | tr '\n' ' ' | sed 's/ \.[A-Z][A-Z]* / /g' |
			grep -qiE -- "$1" || continue
		echo "${_f#"$CAIRN_SOURCE_ROOT"/} says \"$1\", which is false"
		_bad=1
	done
	return $_bad
}

# Fails unless the docs (those of $2..., under $CAIRN_SOURCE_ROOT) say $1 somewhere.
docs_say() {
	_want=$1
	shift
	for _f in "$@"; do
		man_text "$CAIRN_SOURCE_ROOT/$_f" | tr '\n' ' ' | sed 's/ \.[A-Z][A-Z]* / /g' |
			grep -qiE -- "$_want" && continue
		echo "$_f does not say \"$_want\""
		return 1
	done
}

ctx="$TMP/ctx"
mkdir -p "$ctx"
echo hello >"$ctx/hello"
printf 'FROM scratch\nCOPY hello /hello\n' >"$ctx/Recipe"
export SOURCE_DATE_EPOCH=1700000000

test_expect_success REGISTRY 'statement: FROM pulls an image the store lacks (--pull=missing, the default)' '
	start_registry open &&
	reg=127.0.0.1:$port &&
	cairn build -q -t base "$ctx" >/dev/null &&
	skopeo copy -q --dest-tls-verify=false "oci:$CAIRN_ROOT:base:latest" "docker://$reg/docs/base:1" &&
	printf "FROM %s\nCOPY hello /again\n" "$reg/docs/base:1" >"$TMP/Recipe.pull" &&
	CAIRN_ROOT=$TMP/empty cairn build -f "$TMP/Recipe.pull" -t app "$ctx" >/dev/null 2>"$TMP/log" &&
	expect_contains "$(cat "$TMP/log")" "pulling $reg/docs/base:1" &&
	CAIRN_ROOT=$TMP/empty cairn images -q | grep -qxF "$reg/docs/base:1" &&
	docs_never_say "images are not pulled" &&
	docs_never_say "not pulled from registries" &&
	docs_never_say "does not pull by itself" &&
	docs_never_say "FROM (of )?an image (that is )?not in the store" &&
	docs_say "pulled from its registry" man/cairn-build.1 man/cairn-recipe.5 &&
	docs_say "missing \(the default\)" man/cairn-build.1
'

test_expect_success 'statement: --pull=never makes an image the store lacks an error' '
	printf "FROM 127.0.0.1:9/nowhere/base:1\n" >"$TMP/Recipe.never" &&
	! cairn build --pull=never -f "$TMP/Recipe.never" "$ctx" >/dev/null 2>"$TMP/err" &&
	expect_contains "$(cat "$TMP/err")" "--pull=never" &&
	docs_say "pull=never it is an error" man/cairn-build.1
'

test_expect_success 'statement: --target builds only the stages the target needs' '
	printf "FROM scratch AS base\nCOPY hello /hello\nFROM base AS good\nCOPY hello /twice\nFROM scratch AS broken\nCOPY no-such-file /\n" >"$TMP/Recipe.stages" &&
	{ ! cairn build -q -f "$TMP/Recipe.stages" "$ctx" >/dev/null 2>&1 ||
		{ echo "the broken stage does not break the build of the last stage"; exit 1; }; } &&
	cairn build -q -f "$TMP/Recipe.stages" --target good -t good "$ctx" >/dev/null &&
	docs_never_say "every stage is built" &&
	docs_say "only the stages (the|its) target( \([^)]*\))? needs" man/cairn-build.1 README.md docs/design.md
'

test_expect_success 'statement: ADD --checksum of a git repository is refused, and named among what is not supported' '
	printf "FROM scratch\nADD --checksum=sha256:%064d https://127.0.0.1:9/repo.git /src\n" 0 >"$TMP/Recipe.git" &&
	! cairn build -f "$TMP/Recipe.git" "$ctx" >/dev/null 2>"$TMP/err" &&
	expect_contains "$(cat "$TMP/err")" "--checksum of a git source is not supported yet" &&
	docs_say "ADD --checksum of a git repository" man/cairn-build.1
'

test_done
