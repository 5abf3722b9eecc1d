#!/bin/bash
# Shell completion in zsh and fish, held to what t0007-completion.sh holds bash to:
# with the completion the build generated loaded (zsh: _cairn on $fpath, through
# compinit; fish: cairn.fish), every command of src/main.c's table completes, every
# option of every command's --help and getopt_long table completes, and so do the
# values: stage names for --target, files for -f, the store's references (cairn images
# -q, under --root), the values of --pull=, --network... zsh is driven on a
# pseudo-terminal by complete-zsh.zsh, fish by its own `complete -C`. Needs zsh and
# fish (scripts/deps installs them); no root, no registry.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/completion-lib.sh"

HERE=$(cd "$(dirname "$0")" && pwd)
gen() { # SHELL TEMPLATE OUTPUT: generated here when the script runs by hand
	"$CAIRN_SOURCE_ROOT/contrib/completion/generate.sh" "$1" "$CAIRN" \
		"$CAIRN_SOURCE_ROOT/contrib/completion/$2" "$3"
}
ZSH_COMPLETION=${CAIRN_ZSH_COMPLETION:-}
if [ -z "$ZSH_COMPLETION" ]; then
	ZSH_COMPLETION=$TMP/_cairn
	gen zsh _cairn.in "$ZSH_COMPLETION"
fi
FISH_COMPLETION=${CAIRN_FISH_COMPLETION:-}
if [ -z "$FISH_COMPLETION" ]; then
	FISH_COMPLETION=$TMP/cairn.fish
	gen fish cairn.fish.in "$FISH_COMPLETION"
fi
# zsh finds completion functions by directory ($fpath)
mkdir -p "$TMP/zfunc" && cp "$ZSH_COMPLETION" "$TMP/zfunc/_cairn"
command -v zsh >/dev/null && test_set_prereq ZSH
command -v fish >/dev/null && test_set_prereq FISH

# the completion runs `cairn images -q` by the name typed
mkdir -p "$TMP/bin" && ln -s "$(readlink -f "$CAIRN")" "$TMP/bin/cairn"

# For each command line on stdin (the cursor at its end), what shell $1 offers, as
# "LINE<TAB>WORD" lines, WORD being the whole word the match makes. One shell serves
# every line.
replies() {
	case $1 in
	zsh)
		PATH="$TMP/bin:$PATH" zsh -f "$HERE/complete-zsh.zsh" "$TMP/zfunc"
		;;
	fish)
		PATH="$TMP/bin:$PATH" fish --no-config -c '
			source $argv[1]; or exit 1
			while read -l line
				for c in (complete -C"$line")
					printf "%s\t%s\n" $line (string split -m1 \t -- $c)[1]
				end
			end' "$FISH_COMPLETION"
		;;
	esac
}

# checks SHELL: reads "LINE<TAB>WORD" pairs on stdin and fails, naming each pair
# whose LINE does not offer WORD (or WORD/) in that shell, and what it offers instead.
checks() {
	_want=$TMP/want.$1
	cat >"$_want"
	cut -f1 "$_want" | awk '!seen[$0]++' | replies "$1" >"$TMP/got.$1" || {
		echo "$1 failed"
		return 1
	}
	_bad=0
	while IFS= read -r _pair; do
		# a directory may be offered with its "/" (fish)
		grep -qxF -e "$_pair" -e "$_pair/" "$TMP/got.$1" && continue
		_bad=1
		_line=${_pair%%	*}
		echo "$1: completing \"$_line\" does not offer \"${_pair#*	}\"; it offers:"
		awk -F '\t' -v l="$_line" '$1 == l { print "  " $2 }' "$TMP/got.$1"
	done <"$_want"
	return $_bad
}

# LINE WORD pairs as checks reads them
pair() { printf '%s\t%s\n' "$1" "$2"; }

cmds=$(commands)

# Each option $o of command $c: "cairn $c $o" offers $o itself, or "$o=" when its
# value is attached (as --pull=); either is a pair to check, so both are asked and
# the test passes on one of them.
option_pairs() {
	for c in $cmds; do
		cairn "$c" --help >"$TMP/help.$c" || return 1
		src="$CAIRN_SOURCE_ROOT/src/cmd-$c.c"
		{
			help_options <"$TMP/help.$c"
			[ -f "$src" ] && grep -q getopt_long "$src" && getopt_options "$src"
			printf '%s\n' -h --help
		} | sort -u | while read -r o; do
			pair "cairn $c $o" "$o"
		done
	done
}

for sh in zsh fish; do
	SH=$(echo $sh | tr a-z A-Z)

	test_expect_success $SH "$sh: the completion loads and offers every command of the table" '
		expect_contains " $(echo $cmds) " " build " &&
		for c in $cmds; do
			pair "cairn " "$c"
			pair "cairn ${c%?}" "$c"
			pair "cairn --root $TMP/x $c" "$c"
		done | checks $sh
	'

	test_expect_success $SH "$sh: the options of cairn --help complete" '
		opts=$(cairn --help | help_options) &&
		expect_contains " $(echo $opts) " " --root " &&
		for o in $opts; do pair "cairn $o" "$o"; done | checks $sh
	'

	test_expect_success $SH "$sh: every option of every command (--help, getopt_long) completes" '
		option_pairs >"$TMP/pairs" &&
		grep -qxF "$(pair "cairn build --tls-verify" --tls-verify)" "$TMP/pairs" &&
		# an option whose value is attached may be offered as "--opt=" alone
		cut -f1 "$TMP/pairs" | replies $sh >"$TMP/optgot.$sh" &&
		bad=0 &&
		while IFS="	" read -r line o; do
			grep -qxF -- "$(pair "$line" "$o")" "$TMP/optgot.$sh" ||
				grep -qxF -- "$(pair "$line" "$o=")" "$TMP/optgot.$sh" ||
				{ echo "$sh: \"$line\" offers neither $o nor $o="; bad=1; }
		done <"$TMP/pairs" &&
		test $bad = 0
	'

	test_expect_success $SH "$sh: an option with an attached value completes its values" '
		{
			pair "cairn build --pull=" "--pull=always"
			pair "cairn build --pull=m" "--pull=missing"
			pair "cairn build --pu" "--pull="
			pair "cairn pull --tls-verify=f" "--tls-verify=false"
			pair "cairn build --network " "host"
			pair "cairn build --compression g" "gzip"
			pair "cairn build --isolation " "rootless"
		} | checks $sh
	'
done

mkdir -p "$TMP/ctx" "$TMP/other"
printf 'FROM scratch AS base\nfrom base as Build2\nRUN true\nFROM base AS final\n' >"$TMP/ctx/Recipe"
printf 'FROM scratch AS elsewhere\n' >"$TMP/other/Dockerfile"
store_with "$CAIRN_ROOT" app:1 localhost:5000/team/app:latest
store_with "$TMP/second" only-here:2

for sh in zsh fish; do
	SH=$(echo $sh | tr a-z A-Z)

	test_expect_success $SH "$sh: build --target completes the stage names of the recipe build reads" '
		printf "cairn build %s --target \n" "$TMP/ctx" | replies $sh | cut -f2 | LC_ALL=C sort -u >"$TMP/stages" &&
		expect_eq "$(tr "\n" " " <"$TMP/stages")" "Build2 base final " &&
		{
			pair "cairn build -f $TMP/ctx/Recipe --target f" final
			pair "cairn build --file=$TMP/other/Dockerfile --target " elsewhere
			pair "cairn build $TMP/other --target e" elsewhere
		} | checks $sh
	'

	test_expect_success $SH "$sh: build -f, lint and a FILE of --help complete files, CONTEXT and a DIR directories" '
		{
			pair "cairn build -f $TMP/ctx/Rec" "$TMP/ctx/Recipe"
			pair "cairn lint $TMP/ctx/R" "$TMP/ctx/Recipe"
			pair "cairn build $TMP/ot" "$TMP/other"
			pair "cairn run --env-file $TMP/ctx/Rec" "$TMP/ctx/Recipe"
			pair "cairn diff --report-dir $TMP/ot" "$TMP/other"
			pair "cairn pull oci:$TMP/ot" "oci:$TMP/other"
		} | checks $sh &&
		printf "cairn build %s\n" "$TMP/ctx/R" | replies $sh >"$TMP/ctxfiles" &&
		! grep -q Recipe "$TMP/ctxfiles"
	'

	test_expect_success $SH "$sh: image references complete from the store, and from --root's" '
		{
			pair "cairn inspect " "app:1"
			pair "cairn history a" "app:1"
			pair "cairn build -t " "app:1"
			pair "cairn rmi app:1 " "localhost:5000/team/app:latest"
			pair "cairn push app:1 l" "localhost:5000/team/app:latest"
			pair "cairn inspect localhost:5000/te" "localhost:5000/team/app:latest"
			pair "cairn --root $TMP/second inspect " "only-here:2"
			pair "cairn --root=$TMP/second rmi o" "only-here:2"
		} | checks $sh &&
		printf "cairn inspect o\n" | replies $sh >"$TMP/noroot" &&
		! grep -q only-here "$TMP/noroot"
	'
done

test_done
