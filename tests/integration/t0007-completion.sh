#!/bin/bash
# Shell completion: with bash and the completion the build generated sourced, every
# command of the command table in src/main.c completes, and so does every option a
# command's --help lists (its synopsis and its option lines) and every option of its
# getopt_long table (src/cmd-NAME.c): a new command or option that does not complete
# fails here. Then what options and operands take: stage names for --target, files for
# -f, the store's references (cairn images -q), the values of --pull=, --network...
# Needs no root and no registry.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/completion-lib.sh"

# The file meson generated (contrib/completion/generate.sh); when the script runs by
# hand, one generated here the same way.
COMPLETION=${CAIRN_BASH_COMPLETION:-}
if [ -z "$COMPLETION" ]; then
	COMPLETION=$TMP/cairn.bash
	"$CAIRN_SOURCE_ROOT/contrib/completion/generate.sh" bash "$CAIRN" \
		"$CAIRN_SOURCE_ROOT/contrib/completion/cairn.bash.in" "$COMPLETION"
fi

# the completion runs `cairn images -q` by the name typed
mkdir -p "$TMP/bin" && ln -s "$(readlink -f "$CAIRN")" "$TMP/bin/cairn"

# The replies of the completion for the command line $1, the cursor at its end, one a
# line, as bash would get them from _cairn.
completions() {
	PATH="$TMP/bin:$PATH" bash -c '
		. "$1" || exit 1
		COMP_LINE=$2
		COMP_POINT=${#2}
		_cairn cairn
		printf "%s\n" "${COMPREPLY[@]}"
	' completion "$COMPLETION" "$1"
}

# Fails naming the reply $2 when the completion of line $1 does not offer it.
offers() {
	_got=$(completions "$1")
	printf '%s\n' "$_got" | grep -qxF -- "$2" && return 0
	echo "completing \"$1\" does not offer \"$2\"; it offers:"
	printf '%s\n' "$_got" | sed 's/^/  /'
	return 1
}

cmds=$(commands)

test_expect_success 'the completion sources cleanly in bash and completes cairn' '
	test -s "$COMPLETION" &&
	out=$(bash -c ". \"$COMPLETION\" && complete -p cairn" 2>&1) &&
	expect_eq "$out" "complete -F _cairn cairn"
'

test_expect_success 'the command table of src/main.c is found' '
	expect_contains " $(echo $cmds) " " build "
'

test_expect_success 'every command of the table completes, alone and from its first letters' '
	all=$(completions "cairn ") &&
	for c in $cmds; do
		printf "%s\n" "$all" | grep -qx "$c" || { echo "cairn <TAB> lacks $c"; exit 1; }
		offers "cairn ${c%?}" "$c" || exit 1
		offers "cairn --root /tmp/x $c" "$c" || exit 1
	done
'

test_expect_success 'the options of cairn --help complete' '
	opts=$(cairn --help | help_options) &&
	expect_contains " $(echo $opts) " " --root " &&
	for o in $opts; do
		offers "cairn $o" "$o" || exit 1
	done
'

for cmd in $cmds; do
	test_expect_success "cairn $cmd: every option its --help lists completes" '
		cairn "$cmd" --help >"$TMP/help.$cmd" &&
		for o in $(help_options <"$TMP/help.$cmd") -h --help; do
			completions "cairn $cmd $o" >"$TMP/got" &&
			grep -qxF -- "$o" "$TMP/got" || grep -qxF -- "$o=" "$TMP/got" ||
				{ echo "cairn $cmd $o<TAB> offers neither $o nor $o=:"; cat "$TMP/got"; exit 1; }
		done
	'
done

for src in "$CAIRN_SOURCE_ROOT"/src/cmd-*.c; do
	cmd=${src##*/cmd-}
	cmd=${cmd%.c}
	grep -q getopt_long "$src" || continue
	test_expect_success "cairn $cmd: every option of its getopt_long table completes" '
		opts=$(getopt_options "$src") &&
		test -n "$opts" &&
		for o in $opts; do
			completions "cairn $cmd $o" >"$TMP/got" &&
			grep -qxF -- "$o" "$TMP/got" || grep -qxF -- "$o=" "$TMP/got" ||
				{ echo "cairn $cmd $o<TAB> offers neither $o nor $o=:"; cat "$TMP/got"; exit 1; }
		done
	'
done

test_expect_success 'the getopt tables are read: build has --tls-verify, --quiet and -f' '
	opts=" $(echo $(getopt_options "$CAIRN_SOURCE_ROOT/src/cmd-build.c")) " &&
	expect_contains "$opts" " --tls-verify " &&
	expect_contains "$opts" " --quiet " &&
	expect_contains "$opts" " --target " &&
	expect_contains "$opts" " -f "
'

test_expect_success 'an option with an attached value completes its values' '
	offers "cairn build --pull=" "always" &&
	offers "cairn build --pull=m" "missing" &&
	offers "cairn build --pu" "--pull=" &&
	offers "cairn pull --tls-verify=f" "false" &&
	offers "cairn build --network " "host" &&
	offers "cairn build --compression g" "gzip" &&
	offers "cairn build --progress r" "rawjson" &&
	offers "cairn build --progress=" "tty"
'

mkdir -p "$TMP/ctx" "$TMP/other"
printf 'FROM scratch AS base\nfrom base as Build2\nRUN true\nFROM base AS final\n' >"$TMP/ctx/Recipe"
printf 'FROM scratch AS elsewhere\n' >"$TMP/other/Dockerfile"

test_expect_success 'build --target completes the stage names of the recipe build reads' '
	expect_eq "$(completions "cairn build $TMP/ctx --target " | LC_ALL=C sort | tr "\n" " ")" "Build2 base final " &&
	offers "cairn build -f $TMP/ctx/Recipe --target f" "final" &&
	offers "cairn build --file=$TMP/other/Dockerfile --target " "elsewhere" &&
	offers "cairn build $TMP/other --target e" "elsewhere"
'

test_expect_success 'build -f, lint and a FILE of --help complete files, CONTEXT and a DIR directories' '
	offers "cairn build -f $TMP/ctx/Rec" "$TMP/ctx/Recipe" &&
	offers "cairn lint $TMP/ctx/R" "$TMP/ctx/Recipe" &&
	offers "cairn build $TMP/ot" "$TMP/other" &&
	offers "cairn run --env-file $TMP/ctx/Rec" "$TMP/ctx/Recipe" &&
	offers "cairn diff --report-dir $TMP/ot" "$TMP/other" &&
	! completions "cairn build $TMP/ctx/R" | grep -q Recipe
'

test_expect_success 'image references complete from the store (cairn images -q)' '
	store_with "$CAIRN_ROOT" app:1 localhost:5000/team/app:latest &&
	expect_eq "$(cairn images -q | tr "\n" " ")" "app:1 localhost:5000/team/app:latest " &&
	offers "cairn inspect " "app:1" &&
	offers "cairn history a" "app:1" &&
	offers "cairn build -t " "app:1" &&
	offers "cairn rmi app:1 " "localhost:5000/team/app:latest" &&
	offers "cairn push app:1 l" "localhost:5000/team/app:latest"
'

test_expect_success 'a reference with colons is completed past what bash keeps of the word' '
	offers "cairn inspect localhost:5000/te" "5000/team/app:latest" &&
	offers "cairn tag app:" "1"
'

test_expect_success 'references come from the store --root names' '
	store_with "$TMP/second" only-here:2 &&
	offers "cairn --root $TMP/second inspect " "only-here:2" &&
	offers "cairn --root=$TMP/second rmi o" "only-here:2" &&
	! completions "cairn inspect o" | grep -q only-here
'

test_done
