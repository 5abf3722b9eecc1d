#!/bin/bash
# The recipe language end to end: directives, BOM and CRLF, every ${} form in the
# config it makes, JSON fallback, predefined proxy args, and precise errors.
. "$(dirname "$0")/lib.sh"

ctx="$TMP/ctx"
make_busybox_context "$ctx"
icfg() { cairn inspect "$1" | jq -r "$2"; }

test_expect_success ROOT 'directives syntax, check and escape=` are honoured' '
	cat >"$TMP/esc.Recipe" <<-"RECIPE" &&
	# syntax=docker/dockerfile:1
	# check=skip=JSONArgsRecommended
	# escape=`
	FROM scratch
	COPY busybox /bin/busybox
	RUN ["/bin/busybox", "--install", "-s", "/bin"]
	RUN echo one `
	    two > /joined
	ENV WIN=C:\path
	RECIPE
	cairn build -q -t esc -f "$TMP/esc.Recipe" "$ctx" >/dev/null &&
	image_rootfs esc "$TMP/esc" &&
	expect_eq "$(cat "$TMP/esc/joined")" "one two" &&
	expect_eq "$(icfg esc ".Config.config.Env[1]")" "WIN=C:\\path"
'

test_expect_success 'a recipe with a BOM and CRLF line endings builds' '
	printf "\357\273\277FROM scratch\r\nCOPY busybox /bb\r\nLABEL a=b \\\\\r\n  c=d\r\n" >"$TMP/bom.Recipe" &&
	cairn build -q -t bom -f "$TMP/bom.Recipe" "$ctx" >/dev/null &&
	expect_eq "$(icfg bom ".Config.config.Labels.c")" "d"
'

test_expect_success 'every ${} form expands as docker expands it' '
	cat >"$TMP/exp.Recipe" <<-"RECIPE" &&
	FROM scratch
	ARG V=foo.tar.gz
	ARG EMPTY=
	ENV A=${V:-x} B=${UNSET:-dflt} C=${EMPTY:-dflt} D=${EMPTY-set} E=${V:+yes} F=${UNSET:+no}
	ENV G=${V#*.} H=${V##*.} I=${V%.*} J=${V%%.*} K=${V/foo/bar} L=\$V M="$V" N='"'"'$V'"'"'
	RECIPE
	cairn build -q -t exp -f "$TMP/exp.Recipe" "$ctx" >/dev/null &&
	icfg exp ".Config.config.Env[]" >"$TMP/env" &&
	grep -qx "A=foo.tar.gz" "$TMP/env" && grep -qx "B=dflt" "$TMP/env" &&
	grep -qx "C=dflt" "$TMP/env" && grep -qx "D=" "$TMP/env" &&
	grep -qx "E=yes" "$TMP/env" && grep -qx "F=" "$TMP/env" &&
	grep -qx "G=tar.gz" "$TMP/env" && grep -qx "H=gz" "$TMP/env" &&
	grep -qx "I=foo.tar" "$TMP/env" && grep -qx "J=foo" "$TMP/env" &&
	grep -qx "K=bar.tar.gz" "$TMP/env" && grep -qx "L=\$V" "$TMP/env" &&
	grep -qx "M=foo.tar.gz" "$TMP/env" && grep -qx "N=\$V" "$TMP/env"
'

test_expect_success '${V:?msg} on an unset variable fails with the message and line' '
	printf "FROM scratch\nENV X=\${NOPE:?needs-NOPE}\n" >"$TMP/q.Recipe" &&
	! cairn build -f "$TMP/q.Recipe" "$ctx" 2>"$TMP/err" &&
	grep -q "q.Recipe:2" "$TMP/err" && grep -q "needs-NOPE" "$TMP/err"
'

test_expect_success 'an invalid JSON array falls back to the shell form' '
	printf "FROM scratch\nCMD [\"a\", b]\n" >"$TMP/j.Recipe" &&
	cairn build -q -t j -f "$TMP/j.Recipe" "$ctx" >/dev/null &&
	expect_eq "$(icfg j ".Config.config.Cmd | join(\"|\")")" "/bin/sh|-c|[\"a\", b]"
'

test_expect_success 'an ARG before FROM is seen in the stage once declared again' '
	printf "ARG VER=1.2\nFROM scratch\nARG VER\nENV V=\$VER\n" >"$TMP/meta.Recipe" &&
	cairn build -q -t meta -f "$TMP/meta.Recipe" "$ctx" >/dev/null &&
	icfg meta ".Config.config.Env[]" | grep -qx "V=1.2"
'

proxy_recipe() {
	cat >"$TMP/proxy.Recipe" <<-"RECIPE"
	FROM scratch
	COPY busybox /bin/busybox
	RUN ["/bin/busybox", "--install", "-s", "/bin"]
	RUN echo "proxy=$HTTP_PROXY" > /proxy
	RECIPE
}

test_expect_success ROOT 'a predefined proxy build arg reaches RUN without an ARG, and not the history' '
	proxy_recipe &&
	cairn build -q -t px --build-arg HTTP_PROXY=http://proxy.invalid:3128 -f "$TMP/proxy.Recipe" "$ctx" >/dev/null 2>"$TMP/log" &&
	image_rootfs px "$TMP/px" &&
	expect_eq "$(cat "$TMP/px/proxy")" "proxy=http://proxy.invalid:3128" &&
	! cairn inspect px | grep -q proxy.invalid &&
	! grep -q "not used" "$TMP/log"
'

test_expect_success ROOT 'changing a proxy build arg does not invalidate the cache' '
	cairn build --build-arg HTTP_PROXY=http://other.invalid:1 -f "$TMP/proxy.Recipe" "$ctx" 2>"$TMP/log2" >/dev/null &&
	grep -q "RUN echo \"proxy=\$HTTP_PROXY\" > /proxy CACHED" "$TMP/log2"
'

test_expect_success 'a parse error names file, line and column' '
	printf "FROM scratch\n  BOGUS x\n" >"$TMP/bad.Recipe" &&
	! cairn build -f "$TMP/bad.Recipe" "$ctx" 2>"$TMP/err" &&
	grep -q "bad.Recipe:2:3: unknown instruction" "$TMP/err"
'

test_expect_success 'instructions are case-insensitive' '
	printf "from scratch\ncopy busybox /bb\nlabel x=y\n" >"$TMP/lc.Recipe" &&
	cairn build -q -t lc -f "$TMP/lc.Recipe" "$ctx" >/dev/null &&
	expect_eq "$(icfg lc ".Config.config.Labels.x")" "y"
'

test_done
