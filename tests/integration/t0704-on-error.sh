#!/bin/bash
# cairn build --on-error: keep makes a container of the failed RUN step's state
# (what it wrote, its env, user and workdir); shell opens a shell in the failed
# step's sandbox on a terminal and the build still fails with the step's status;
# without a terminal shell says so and fails as usual.
. "$(dirname "$0")/lib.sh"

build_base bb 'RUN echo "app:x:1000:1000::/home/app:/bin/sh" >>/etc/passwd
'
recipe fail <<'EOF2'
FROM bb
ENV STAGE=two
WORKDIR /w
RUN chown 1000 /w
USER app
RUN echo partial >/w/out && exit 3
EOF2

test_expect_success ROOT '--on-error=keep: a container of the failed state; the build fails, untagged' '
	test_expect_code 1 cairn build --on-error=keep -t fail "$TMP/fail" 2>"$TMP/keep.err"
	expect_contains "$(cat "$TMP/keep.err")" "exit status 3"
	expect_contains "$(cat "$TMP/keep.err")" "kept as container"
	name=$(sed -n "s/.*kept as container \\([^ ]*\\) .*/\\1/p" "$TMP/keep.err")
	test -n "$name"
	test_expect_code 1 cairn inspect fail 2>/dev/null
	expect_contains "$(cairn ps -a)" "$name"
	cairn commit "$name" kept:1 >/dev/null
	expect_eq "$(cairn run --rm kept:1 sh -c "cat /w/out; echo \$STAGE; pwd; id -un")" \
		"partial
two
/w
app"
	expect_eq "$(cairn inspect kept:1 | jq -r ".Config.config.Cmd | join(\" \")")" /bin/sh
	cairn rm "$name" >/dev/null
'

test_expect_success ROOT '--on-error=shell without a terminal: says so, fails as usual' '
	test_expect_code 1 cairn build --on-error=shell "$TMP/fail" </dev/null 2>"$TMP/noterm.err"
	expect_contains "$(cat "$TMP/noterm.err")" "no terminal for a shell"
	expect_contains "$(cat "$TMP/noterm.err")" "exit status 3"
	test_expect_code 2 cairn build --on-error=bogus "$TMP/fail" 2>/dev/null
'

test_expect_success ROOT,PYTHON '--on-error=shell: a shell in the failed step, then the step'"'"'s failure' '
	cat >"$TMP/shell.script" <<-\SCRIPT
	wait a shell in its sandbox
	send cat /w/out; echo st=$STAGE; id -un; pwd\r
	wait st=two
	send exit\r
	SCRIPT
	test_expect_code 1 python3 "$CAIRN_SOURCE_ROOT/tests/integration/ptyrun.py" 24 80 \
		"$TMP/shell.script" -- "$CAIRN" build -q --on-error=shell "$TMP/fail" >"$TMP/shell.out"
	expect_contains "$(cat "$TMP/shell.out")" "partial"
	expect_contains "$(cat "$TMP/shell.out")" "app"
	expect_contains "$(cat "$TMP/shell.out")" "exit status 3"
'

test_done
