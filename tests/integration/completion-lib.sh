# shellcheck shell=bash
# Shared by the completion tests (t0007-completion.sh: bash; t0008-completion-shells.sh:
# zsh and fish): what the sources and the --help texts say the commands and options
# are, read independently of contrib/completion/generate.sh.

# The command names of the command table in src/main.c, one a line (as t0006-docs.sh reads it).
commands() {
	sed -n 's/^[[:space:]]*{ *"\([a-z][a-z0-9-]*\)", *cmd_[a-z0-9_]* *},.*$/\1/p' \
		"$CAIRN_SOURCE_ROOT/src/main.c"
}

# The options a help text (standard input) lists: those that open a [bracket] of its
# synopsis (from "usage:" to the first empty line) and those of its option lines (an
# indented line that starts with -), one a line.
help_options() {
	awk '
		/^usage:/ { syn = 1 }
		syn && /^[ \t]*$/ { syn = 0 }
		syn { print; next }
		/^[ \t]+-/ { sub(/^[ \t]+/, ""); sub(/  .*/, ""); print }
	' | grep -oE -- '(^|[[ ,])--?[A-Za-z][A-Za-z0-9-]*' | sed 's/^[[ ,]*//' |
		grep -vE '^-[A-Z]' | sort -u
}

# The long options of the getopt_long table in file $1 (struct option entries, and those
# of the macros of src/commands.h it names), then its short options ("-f"), one a line.
getopt_options() {
	_h="$CAIRN_SOURCE_ROOT/src/commands.h"
	{
		sed -n 's/.*{"\([a-z][a-z0-9-]*\)", *[a-z_]*_argument.*/--\1/p' "$1"
		for _m in $(grep -oE 'CMD_[A-Z_]+_OPTIONS?\b' "$1" | sort -u); do
			awk -v m="$_m" '
				$0 ~ "^#define " m "( |$)" { on = 1 }
				on { print }
				on && !/\\$/ { on = 0 }
			' "$_h" | sed -n 's/.*{"\([a-z][a-z0-9-]*\)", *[a-z_]*_argument.*/--\1/p'
		done
		sed -n 's/.*getopt_long([^"]*"+\{0,1\}\([^"]*\)".*/\1/p' "$1" | tr -d ':' | fold -w1 |
			sed 's/^/-/'
	} | sort -u
}

# store_with DIR REF...: a store whose index.json tags each REF (cairn images -q
# reads nothing else), for the completion of image references.
store_with() {
	_dir=$1
	shift
	mkdir -p "$_dir/blobs/sha256" &&
	printf '{"imageLayoutVersion":"1.0.0"}' >"$_dir/oci-layout" || return 1
	_d="sha256:$(printf '%064d' 0)"
	_m=""
	for _r in "$@"; do
		_m="$_m${_m:+,}{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"$_d\",\"size\":2,\"annotations\":{\"org.opencontainers.image.ref.name\":\"$_r\"}}"
	done
	printf '{"schemaVersion":2,"manifests":[%s]}' "$_m" >"$_dir/index.json"
}
