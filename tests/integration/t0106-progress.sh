#!/bin/bash
# cairn build --progress (and BUILDKIT_PROGRESS): plain lines as always, quiet,
# rawjson events a line, and the live tty view on a terminal.
. "$(dirname "$0")/lib.sh"

PTYRUN="$CAIRN_SOURCE_ROOT/tests/integration/ptyrun.py"

# ptyrun ROWS COLS SCRIPT-TEXT COMMAND...: COMMAND on a terminal (ptyrun.py), its
# output in $TMP/pty.out; the exit status is the command's.
ptyrun() {
	_rows=$1 _cols=$2
	printf '%s\n' "$3" >"$TMP/pty.script"
	shift 3
	python3 "$PTYRUN" "$_rows" "$_cols" "$TMP/pty.script" -- "$@" >"$TMP/pty.out"
}

# rawjson_check MODE FILE [FRESH-FILE]: the events of FILE are JSON, one a line, in
# order (each step: start, its output, then done, cached or failed); MODE fresh:
# every step after FROM was done, step 4's output is json-out-1 and json-out-2;
# cached: every step after FROM is cached with the digest FRESH-FILE's done gave it.
cat >"$TMP/rawjson_check.py" <<'PY'
import base64, json, re, sys

def load(path):
    events = []
    for n, line in enumerate(open(path, encoding="utf-8"), 1):
        try:
            events.append(json.loads(line))
        except ValueError:
            sys.exit("%s:%d is no JSON: %r" % (path, n, line))
    return events

mode, path = sys.argv[1], sys.argv[2]
events = load(path)
time_re = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
per_step, last_step, output = {}, 0, {}
for e in events:
    assert e["event"] in ("start", "output", "done", "cached", "failed", "message"), e
    assert time_re.match(e["time"]), e
    if e["event"] == "message":
        continue
    step = e["step"]
    if e["event"] == "start":
        assert step > last_step, ("steps out of order", e)
        assert e["steps"] == 5 and e["instruction"], e
        last_step = step
    else:
        assert step == last_step, ("an event of a step not running", e)
    if e["event"] == "output":
        output[step] = output.get(step, b"") + base64.b64decode(e["data"])
    per_step.setdefault(step, []).append(e)

kinds = {s: [e["event"] for e in evs if e["event"] != "output"] for s, evs in per_step.items()}
assert sorted(kinds) == [1, 2, 3, 4, 5], kinds
assert kinds[1] == ["start", "done"], kinds[1]
if mode == "fresh":
    for s in (2, 3, 4, 5):
        assert kinds[s] == ["start", "done"], (s, kinds[s])
        done = per_step[s][-1]
        assert re.match(r"^sha256:[0-9a-f]{64}$", done["digest"]), done
        assert done["duration"] >= 0, done
    assert output.get(4) == b"json-out-1\njson-out-2\n", output
    assert per_step[4][0]["instruction"].startswith("RUN echo json-out-1"), per_step[4][0]
else:
    fresh = {e["step"]: e for e in load(sys.argv[3]) if e["event"] == "done"}
    for s in (2, 3, 4, 5):
        assert kinds[s] == ["start", "cached"], (s, kinds[s])
        assert per_step[s][-1]["digest"] == fresh[s]["digest"], (s, per_step[s][-1])
    assert not output, output
print("ok")
PY

ctx plain <<'EOF'
RUN echo plain-out-4711
EOF
test_expect_success ROOT 'plain: a line per step, the step output between, CACHED on a rebuild' '
	cairn build --progress=plain --no-cache "$TMP/plain" >"$TMP/plain.out" 2>"$TMP/plain.err" &&
	cat "$TMP/plain.err" &&
	start=$(grep -nx "\[4/4\] RUN echo plain-out-4711" "$TMP/plain.err" | cut -d: -f1) &&
	said=$(grep -nx "plain-out-4711" "$TMP/plain.err" | cut -d: -f1) &&
	done=$(grep -nEx "\[4/4\] RUN echo plain-out-4711 [0-9.ms]+" "$TMP/plain.err" | cut -d: -f1) &&
	test "$start" -lt "$said" && test "$said" -lt "$done" &&
	grep -qx "\[1/4\] FROM scratch" "$TMP/plain.err" &&
	cairn build --progress=plain "$TMP/plain" 2>"$TMP/plain2.err" >/dev/null &&
	grep -qx "\[4/4\] RUN echo plain-out-4711 CACHED" "$TMP/plain2.err" &&
	! grep -qx plain-out-4711 "$TMP/plain2.err"
'

test_expect_success ROOT 'auto off a terminal, and BUILDKIT_PROGRESS=plain, print what --progress=plain prints' '
	cairn build --progress=plain "$TMP/plain" 2>&1 >/dev/null | grep -v "^built " >"$TMP/p.plain" &&
	cairn build "$TMP/plain" 2>&1 >/dev/null | grep -v "^built " >"$TMP/p.auto" &&
	BUILDKIT_PROGRESS=plain cairn build "$TMP/plain" 2>&1 >/dev/null | grep -v "^built " >"$TMP/p.env" &&
	grep -q CACHED "$TMP/p.plain" &&
	cmp "$TMP/p.plain" "$TMP/p.auto" &&
	cmp "$TMP/p.plain" "$TMP/p.env"
'

test_expect_success ROOT,PYTHON 'BUILDKIT_PROGRESS=plain on a terminal (and TERM=dumb with auto) give plain lines, no live view' '
	ptyrun 24 100 "wait tagged" env BUILDKIT_PROGRESS=plain "$CAIRN" build -t p "$TMP/plain" &&
	grep -q "^\[4/4\] RUN echo plain-out-4711 CACHED" "$TMP/pty.out" &&
	! grep -q "Building" "$TMP/pty.out" &&
	ptyrun 24 100 "wait tagged" env TERM=dumb "$CAIRN" build -t p "$TMP/plain" &&
	grep -q "^\[4/4\] RUN echo plain-out-4711 CACHED" "$TMP/pty.out" &&
	! grep -q "Building" "$TMP/pty.out"
'

test_expect_success ROOT '--progress=quiet and -q: the digest on stdout, nothing on stderr' '
	cairn build --progress=quiet --no-cache "$TMP/plain" >"$TMP/q.out" 2>"$TMP/q.err" &&
	test ! -s "$TMP/q.err" &&
	grep -Eqx "sha256:[0-9a-f]{64}" "$TMP/q.out" && test "$(wc -l <"$TMP/q.out")" = 1 &&
	cairn build -q --progress=plain "$TMP/plain" >"$TMP/q2.out" 2>"$TMP/q2.err" &&
	test ! -s "$TMP/q2.err" &&
	cmp "$TMP/q.out" "$TMP/q2.out"
'

ctx json <<'EOF'
RUN echo json-out-1; echo json-out-2 >&2
ENV DONE=1
EOF
test_expect_success ROOT,PYTHON 'rawjson: a JSON event a line, in order, with the output; a rebuild marks steps cached' '
	cairn build --progress=rawjson --no-cache "$TMP/json" >"$TMP/j.out" 2>"$TMP/j.err" &&
	python3 "$TMP/rawjson_check.py" fresh "$TMP/j.err" &&
	grep -Eqx "sha256:[0-9a-f]{64}" "$TMP/j.out" &&
	BUILDKIT_PROGRESS=rawjson cairn build "$TMP/json" >"$TMP/j2.out" 2>"$TMP/j2.err" &&
	python3 "$TMP/rawjson_check.py" cached "$TMP/j2.err" "$TMP/j.err" &&
	cmp "$TMP/j.out" "$TMP/j2.out"
'

ctx jsonfail <<'EOF'
RUN echo fail-out-1; echo fail-out-2; exit 3
EOF
test_expect_success ROOT,PYTHON 'rawjson: a failed step has its output, then a failed event with the error' '
	test_expect_code 1 cairn build --progress=rawjson "$TMP/jsonfail" 2>"$TMP/jf.err" >/dev/null &&
	grep "^{" "$TMP/jf.err" >"$TMP/jf.json" &&
	python3 - "$TMP/jf.json" <<-\PY
	import base64, json, sys
	events = [json.loads(l) for l in open(sys.argv[1])]
	last = events[-1]
	assert last["event"] == "failed" and last["step"] == 4, last
	assert "exit status 3" in last["error"], last
	out = b"".join(base64.b64decode(e["data"]) for e in events if e["event"] == "output" and e["step"] == 4)
	assert out == b"fail-out-1\nfail-out-2\n", out
	PY
'

make_busybox_context "$TMP/stages"
cat >"$TMP/stages/Recipe" <<'EOF'
FROM scratch AS a
COPY busybox /bin/busybox
RUN ["/bin/busybox", "sh", "-c", "echo from-a-1; echo from-a-2"]
FROM scratch AS b
COPY busybox /bin/busybox
RUN ["/bin/busybox", "sh", "-c", "echo from-b-1; echo from-b-2"]
FROM scratch
COPY --from=a /bin/busybox /a
COPY --from=b /bin/busybox /b
EOF
test_expect_success ROOT,PYTHON 'rawjson: stages built at once (forked) each have their events and output' '
	cairn build --progress=rawjson --no-cache "$TMP/stages" 2>"$TMP/st.err" >/dev/null &&
	python3 - "$TMP/st.err" <<-\PY
	import base64, json, sys
	events = [json.loads(l) for l in open(sys.argv[1])]
	kinds, out = {}, {}
	for e in events:
	    if e["event"] == "output":
	        out[e["step"]] = out.get(e["step"], b"") + base64.b64decode(e["data"])
	    elif e["event"] != "message":
	        kinds.setdefault(e["step"], []).append(e["event"])
	assert sorted(kinds) == list(range(1, 10)), kinds
	for s, k in kinds.items():
	    assert k == ["start", "done"], (s, k)
	assert out == {3: b"from-a-1\nfrom-a-2\n", 6: b"from-b-1\nfrom-b-2\n"}, out
	PY
'

ctx tty <<'EOF'
RUN --mount=type=bind,target=/ctx for i in 1 2 3 4 5 6 7 8; do echo tail-$i; done; n=0; while [ ! -e /ctx/go ] && [ $n -lt 600 ]; do sleep 0.1; n=$((n+1)); done
RUN echo after
EOF
test_expect_success ROOT,PYTHON 'tty: a live view with the running step and its last lines, redrawn, ending FINISHED' '
	rm -f "$TMP/tty/go" &&
	ptyrun 40 200 "wait [+] Building
wait => => # tail-8
touch $TMP/tty/go
wait FINISHED" "$CAIRN" build --progress=tty "$TMP/tty" &&
	cat -v "$TMP/pty.out" | tail -20 &&
	grep -q " => => # tail-3" "$TMP/pty.out" &&
	grep -q "$(printf "\033")\[[0-9]*A" "$TMP/pty.out" &&
	sed -n "/FINISHED/,\$p" "$TMP/pty.out" >"$TMP/tty.final" &&
	grep -q "\[+\] Building [0-9.]*s (5/5) FINISHED" "$TMP/tty.final" &&
	grep -q " => \[4/5\] RUN --mount=type=bind,target=/ctx for i in" "$TMP/tty.final" &&
	grep -q " => \[5/5\] RUN echo after" "$TMP/tty.final" &&
	grep -q " => CACHED \[3/5\] RUN" "$TMP/tty.final" &&
	! grep -q "=> => #" "$TMP/tty.final" &&
	grep -Eq "^sha256:[0-9a-f]{64}" "$TMP/tty.final"
'

ctx ttyfail <<'EOF'
RUN echo tty-fail-1; echo tty-fail-2 >&2; exit 3
EOF
test_expect_success ROOT,PYTHON 'tty: a failed step is marked ERROR and its whole output shown' '
	test_expect_code 1 ptyrun 30 120 "wait exit status 3" "$CAIRN" build --progress=tty "$TMP/ttyfail" &&
	sed -n "/ ERROR \[4\/4\]/,\$p" "$TMP/pty.out" | tr -d "\r" >"$TMP/ttyfail.final" &&
	cat "$TMP/ttyfail.final" &&
	grep -q "^ > \[4/4\] RUN echo tty-fail-1" "$TMP/ttyfail.final" &&
	grep -qx "tty-fail-1" "$TMP/ttyfail.final" &&
	grep -qx "tty-fail-2" "$TMP/ttyfail.final" &&
	grep -q "exit status 3" "$TMP/ttyfail.final"
'

test_expect_success 'a bad --progress or BUILDKIT_PROGRESS is an error naming it' '
	test_expect_code 2 cairn build --progress=fancy "$TMP/plain" 2>"$TMP/bad.err" &&
	expect_contains "$(cat "$TMP/bad.err")" "--progress=fancy: expected auto, plain, tty, quiet or rawjson" &&
	BUILDKIT_PROGRESS=fancy test_expect_code 2 cairn build "$TMP/plain" 2>"$TMP/bad2.err" &&
	expect_contains "$(cat "$TMP/bad2.err")" "BUILDKIT_PROGRESS=fancy: expected" &&
	test_expect_code 2 cairn build --progress "$TMP/plain" 2>/dev/null
'

test_done
