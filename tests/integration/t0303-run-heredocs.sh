#!/bin/bash
# RUN heredocs, as buildkit: a lone heredoc is the script (run by the SHELL, or
# executed through its #! line from a file that never reaches the layer); otherwise
# the shell gets the line, the bodies and their delimiters, and so `cat <<EOF >
# /file`, `<<-` tab stripping, quoted delimiters and several heredocs work as in sh.
. "$(dirname "$0")/lib.sh"

ctx script <<'RECIPE'
ENV WHO=world
RUN <<EOT
set -e
echo "hello $WHO" > /script-out
echo "$0" > /script-0
mkdir -p /made/by/script
EOT
RECIPE
test_expect_success ROOT 'a lone heredoc is a script run by the SHELL, its variables expanded by the shell' '
	cairn build -q -t script "$TMP/script" >/dev/null &&
	image_rootfs script "$TMP/script.root" &&
	expect_eq "$(cat "$TMP/script.root/script-out")" "hello world" &&
	expect_eq "$(cat "$TMP/script.root/script-0")" /bin/sh &&
	test -d "$TMP/script.root/made/by/script"
'

test_expect_success ROOT 'the history of a heredoc script holds its body, as buildkit' '
	cairn inspect script | jq -r ".Config.history[-1].created_by" >"$TMP/script.hist" &&
	expect_eq "$(head -n 1 "$TMP/script.hist")" "RUN /bin/sh -c set -e" &&
	grep -qxF "echo \"hello \$WHO\" > /script-out" "$TMP/script.hist"
'

test_expect_success ROOT 'a change of the heredoc body is a cache miss' '
	cairn build -t script "$TMP/script" 2>"$TMP/script.again" >/dev/null &&
	grep -q "RUN <<EOT CACHED" "$TMP/script.again" &&
	sed -i "s,hello ,bye ," "$TMP/script/Recipe" &&
	cairn build -t script2 "$TMP/script" 2>"$TMP/script.changed" >/dev/null &&
	! grep -q "RUN <<EOT CACHED" "$TMP/script.changed" &&
	rm -rf "$TMP/s2.root" && image_rootfs script2 "$TMP/s2.root" &&
	expect_eq "$(cat "$TMP/s2.root/script-out")" "bye world"
'

ctx shebang <<'RECIPE'
RUN <<EOF
#!/bin/awk -f
BEGIN { print "awk ran" > "/awk-out"; print ARGV[0] > "/awk-argv0" }
EOF
RUN <<SH
#!/bin/sh
echo "$0" > /sh-0
SH
RECIPE
test_expect_success ROOT 'a heredoc with #! runs with that interpreter, from a file that leaves no trace' '
	cairn build -q -t shebang "$TMP/shebang" >/dev/null &&
	image_rootfs shebang "$TMP/shebang.root" &&
	expect_eq "$(cat "$TMP/shebang.root/awk-out")" "awk ran" &&
	expect_eq "$(cat "$TMP/shebang.root/sh-0")" /run/cairn-heredoc/SH &&
	! layer_names shebang | grep -qE "^run(/|$)" &&
	! test -e "$TMP/shebang.root/run" &&
	cairn inspect shebang | jq -r ".Config.history[-1].created_by" >"$TMP/shebang.hist" &&
	expect_eq "$(cat "$TMP/shebang.hist")" "RUN /bin/sh -c /run/cairn-heredoc/SH # buildkit"
'

test_expect_success ROOT 'a shebang script body is part of the cache key' '
	sed -i "s,awk ran,awk ran again," "$TMP/shebang/Recipe" &&
	cairn build -q -t shebang2 "$TMP/shebang" >/dev/null &&
	rm -rf "$TMP/sb2.root" && image_rootfs shebang2 "$TMP/sb2.root" &&
	expect_eq "$(cat "$TMP/sb2.root/awk-out")" "awk ran again"
'

ctx catfile <<'RECIPE'
ARG NAME=builder
RUN cat <<EOF > /greeting
hello $NAME
  indented stays
EOF
RUN mkdir -p /etc && cat <<'EOF' > /etc/literal
$NAME and $(echo not-run) stay literal
EOF
RUN tr a-z A-Z <<EOF > /upper
shouted
EOF
RECIPE
test_expect_success ROOT 'cat <<EOF > /file writes the file; the shell expands, a quoted delimiter does not' '
	cairn build -q -t catfile "$TMP/catfile" >/dev/null &&
	image_rootfs catfile "$TMP/catfile.root" &&
	expect_eq "$(cat "$TMP/catfile.root/greeting")" "$(printf "hello builder\n  indented stays")" &&
	expect_eq "$(cat "$TMP/catfile.root/etc/literal")" "\$NAME and \$(echo not-run) stay literal" &&
	expect_eq "$(cat "$TMP/catfile.root/upper")" SHOUTED
'

test_expect_success ROOT 'the history of a heredoc given to a command holds the line, the body and the delimiter' '
	cairn inspect catfile | jq -r ".Config.history[-3].created_by" >"$TMP/catfile.hist" &&
	expect_eq "$(cat "$TMP/catfile.hist")" "$(printf "RUN |1 NAME=builder /bin/sh -c cat <<EOF > /greeting\nhello \$NAME\n  indented stays\nEOF # buildkit")"
'

printf 'RUN cat <<-EOF > /tabs\n\t\tone\n\ttwo\n\tEOF\n' | ctx chomp
test_expect_success ROOT '<<- strips leading tabs from the body and the delimiter line' '
	cairn build -q -t chomp "$TMP/chomp" >/dev/null &&
	image_rootfs chomp "$TMP/chomp.root" &&
	expect_eq "$(cat "$TMP/chomp.root/tabs")" "$(printf "one\ntwo")"
'

ctx two <<'RECIPE'
RUN cat <<A > /a && cat <<B > /b
first
A
second
B
RUN 3<<X cat /dev/fd/3 > /fd3 ; cat <<"Y" >> /fd3
via fd 3
X
$literal
Y
RECIPE
test_expect_success ROOT 'several heredocs in one RUN each go where the shell sends them' '
	cairn build -q -t two "$TMP/two" >/dev/null &&
	image_rootfs two "$TMP/two.root" &&
	expect_eq "$(cat "$TMP/two.root/a")" first &&
	expect_eq "$(cat "$TMP/two.root/b")" second &&
	expect_eq "$(cat "$TMP/two.root/fd3")" "$(printf "via fd 3\n\$literal")"
'

ctx interp <<'RECIPE'
RUN <<'EOF' sh -s -- arg1
echo "script got $1" > /interp
EOF
RECIPE
test_expect_success ROOT 'a heredoc fed to an interpreter on the line reaches its stdin (quoted: $1 is the interpreter'\''s)' '
	cairn build -q -t interp "$TMP/interp" >/dev/null &&
	image_rootfs interp "$TMP/interp.root" &&
	expect_eq "$(cat "$TMP/interp.root/interp")" "script got arg1"
'

ctx hdfail <<'RECIPE'
RUN <<EOF
echo about to fail
exit 7
EOF
RECIPE
test_expect_success ROOT 'a failing heredoc script fails the build with its status and recipe line' '
	rc=0 && cairn build -t hdfail "$TMP/hdfail" >/dev/null 2>"$TMP/hdfail.err" || rc=$? &&
	test "$rc" -ne 0 && test "$rc" -lt 128 &&
	expect_contains "$(cat "$TMP/hdfail.err")" "Recipe:4" &&
	expect_contains "$(cat "$TMP/hdfail.err")" "exit status 7"
'

ctx hdmount <<'RECIPE'
RUN --mount=type=bind,source=in.txt,target=/in.txt <<EOF
cp /in.txt /copied
EOF
RECIPE
echo mounted-input >"$TMP/hdmount/in.txt"
test_expect_success ROOT 'a heredoc script can use --mount' '
	cairn build -q -t hdmount "$TMP/hdmount" >/dev/null &&
	image_rootfs hdmount "$TMP/hdmount.root" &&
	expect_eq "$(cat "$TMP/hdmount.root/copied")" mounted-input &&
	! test -e "$TMP/hdmount.root/in.txt"
'

test_done
