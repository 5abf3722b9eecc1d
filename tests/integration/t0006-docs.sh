#!/bin/bash
# The man pages match the CLI: every command of the command table in src/main.c
# has man/cairn-CMD.1, its --help works, the long options its --help lists are
# in its page and the options its page's OPTIONS section lists are in its --help;
# the same for cairn(1) and `cairn --help`; and every page renders cleanly.
# Needs no root and no store: only --help is run.
. "$(dirname "$0")/lib.sh"

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

test_done
