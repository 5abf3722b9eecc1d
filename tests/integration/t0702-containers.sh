#!/bin/bash
# Containers after cairn run: ps and its states (a killed runner shows exited),
# rm (refused while running, -f kills), commit (then run of the new image sees the
# change; history and -c), diff NAME (A/C/D as docker diff), and run -t on a pty:
# a terminal of the container's own that follows the size of the user's, Ctrl-C,
# and the exit status.
. "$(dirname "$0")/lib.sh"

build_base bb 'CMD ["sh"]
'

# wait_ps NAME TEXT: until cairn ps -a shows TEXT on NAME's line (10 seconds at most).
wait_ps() {
	for _i in $(seq 100); do
		cairn ps -a | grep " $1\$" | grep -q "$2" && return 0
		sleep 0.1
	done
	echo "ps never showed $2 for $1:"
	cairn ps -a
	return 1
}

test_expect_success ROOT 'ps -a lists an exited container with its status; ps alone does not' '
	cairn run --name done bb sh -c "exit 7" ;
	expect_eq "$?" 7 &&
	line=$(cairn ps -a | grep " done\$") &&
	expect_contains "$line" "Exited (7)" &&
	expect_contains "$line" "bb:latest" &&
	expect_contains "$line" "\"sh -c exit 7\"" &&
	! cairn ps | grep -q " done\$" &&
	id=$(cairn ps -aq --no-trunc | head -n 1) &&
	expect_eq "${#id}" 64 &&
	test -d "$CAIRN_ROOT/cairn/containers/$id"
'

test_expect_success ROOT 'a running container: ps shows it Up; rm refuses it, rm -f kills it' '
	"$CAIRN" run --name busy bb sleep 100 >/dev/null 2>&1 &
	pid=$!
	wait_ps busy "Up "
	cairn ps | grep -q " busy\$"
	test_expect_code 1 cairn rm busy 2>"$TMP/rm.err"
	expect_contains "$(cat "$TMP/rm.err")" "busy is running"
	cairn rm -f busy >/dev/null
	status=0
	wait $pid || status=$?
	expect_eq "$status" 137
	if cairn ps -a | grep -q " busy\$"; then echo "busy is still there"; false; fi
'

test_expect_success ROOT 'a container whose cairn run was killed (-9) shows as exited' '
	"$CAIRN" run --name orphan bb sleep 100 >/dev/null 2>&1 &
	pid=$!
	wait_ps orphan "Up "
	kill -9 $pid
	wait $pid || true
	wait_ps orphan "Exited (unknown)"
	cairn rm orphan >/dev/null
'

test_expect_success ROOT 'run -d prints the id and returns while it runs; logs (-f follows to the end); stop sends SIGTERM' '
	id=$(cairn run -d --name bg bb sh -c "trap \"echo stopping; exit 5\" TERM; echo started; while :; do sleep 0.1; done")
	expect_eq "${#id}" 64
	wait_ps bg "Up "
	for i in $(seq 100); do cairn logs bg | grep -q started && break; sleep 0.1; done
	expect_eq "$(cairn logs bg)" started
	expect_eq "$(cairn stop bg)" bg
	wait_ps bg "Exited (5)"
	expect_eq "$(cairn logs bg)" "started
stopping"
	cairn run -d --name follow bb sh -c "echo one; sleep 0.3; echo two" >/dev/null
	expect_eq "$(timeout 20 "$CAIRN" logs -f follow)" "one
two"
	cairn rm follow >/dev/null
'

test_expect_success ROOT 'start runs it again on the same writable layer; start -a attaches; stop -t kills' '
	cairn run --name again bb sh -c "echo x >>/count; wc -l </count" >"$TMP/first.out"
	expect_eq "$(cat "$TMP/first.out")" 1
	test_expect_code 0 cairn start -a again >"$TMP/second.out"
	expect_eq "$(cat "$TMP/second.out")" 2
	expect_eq "$(cairn start bg)" bg
	wait_ps bg "Up "
	cairn stop -s KILL -t 0 bg >/dev/null
	wait_ps bg "Exited (137)"
	test_expect_code 127 cairn run -d bb no-such-command 2>"$TMP/d.err"
	expect_contains "$(cat "$TMP/d.err")" no-such-command
	test_expect_code 1 cairn stop nosuch 2>/dev/null
	test_expect_code 2 cairn stop -s BOGUS bg 2>/dev/null
	cairn rm bg again >/dev/null
'

test_expect_success ROOT 'exec joins a running container: its files, hostname and pid namespace; -u -w -e; status' '
	cairn run -d --name host bb sh -c "echo made >/made; exec sleep 100" >/dev/null
	wait_ps host "Up "
	out=$(cairn exec host sh -c "cat /made; hostname; cat /proc/1/comm")
	expect_eq "$(echo $out)" "made $(cairn ps --no-trunc | sed -n "s/^\(............\).* host\$/\1/p") cairn-init"
	expect_eq "$(cairn exec -u 1000 -w /tmp -e X=1 host sh -c "echo \$(id -u) \$(pwd) \$X")" "1000 /tmp 1"
	test_expect_code 9 cairn exec host sh -c "exit 9"
	expect_eq "$(echo in | cairn exec -i host cat)" in
	test_expect_code 127 cairn exec host no-such-command 2>/dev/null
	cairn stop -t 1 host >/dev/null
	test_expect_code 1 cairn exec host true 2>"$TMP/exec.err"
	expect_contains "$(cat "$TMP/exec.err")" "host is not running"
	cairn rm host >/dev/null
'

test_expect_success ROOT 'rm of no such container fails naming it; an id prefix names a container' '
	test_expect_code 1 cairn rm nosuch 2>"$TMP/rm2.err" &&
	expect_contains "$(cat "$TMP/rm2.err")" "no such container: nosuch" &&
	cairn run --name pre bb true &&
	id=$(cairn ps -a | sed -n "s/^\([0-9a-f]*\) .* pre\$/\1/p") &&
	expect_eq "${#id}" 12 &&
	cairn rm "${id%????}" >/dev/null &&
	! cairn ps -a | grep -q " pre\$"
'

test_expect_success ROOT 'diff NAME lists what the container added, changed and deleted' '
	cairn run --name changer bb sh -c "mkdir -p /etc && echo a >/etc/new && rm /bin/ls && touch /bin/sh.note" &&
	cairn diff changer >"$TMP/diff.out" &&
	printf "%s\n" "C /bin" "D /bin/ls" "A /bin/sh.note" "A /etc" "A /etc/new" >"$TMP/diff.want" &&
	expect_eq "$(cat "$TMP/diff.out")" "$(cat "$TMP/diff.want")" &&
	test_expect_code 2 cairn diff nosuch 2>"$TMP/diff.err" &&
	expect_contains "$(cat "$TMP/diff.err")" "no such container: nosuch"
'

test_expect_success ROOT 'commit makes the changes an image: run of it sees them; history and -c' '
	digest=$(cairn commit -a "A. Author" -m "made by hand" -c "CMD [\"cat\", \"/etc/new\"]" \
		-c "ENV MODE=committed" changer snap:1) &&
	expect_contains "$digest" "sha256:" &&
	expect_eq "$(cairn run --rm snap:1)" a &&
	expect_eq "$(cairn run --rm snap:1 sh -c "echo \$MODE; ls /bin/ls 2>&1 || true")" \
		"committed
ls: /bin/ls: No such file or directory" &&
	expect_eq "$(cairn inspect snap:1 | jq -r ".Config.history[-1].comment")" "made by hand" &&
	expect_eq "$(cairn inspect snap:1 | jq -r ".Config.author")" "A. Author" &&
	expect_eq "$(cairn inspect snap:1 | jq -r ".Config.history[-1].created_by")" \
		"sh -c mkdir -p /etc && echo a >/etc/new && rm /bin/ls && touch /bin/sh.note" &&
	expect_eq "$(cairn inspect snap:1 | jq ".Manifest.layers | length")" \
		"$(( $(cairn inspect bb | jq ".Manifest.layers | length") + 1 ))" &&
	test_expect_code 1 cairn commit -c "FROBNICATE x" changer 2>"$TMP/c.err" &&
	expect_contains "$(cat "$TMP/c.err")" "FROBNICATE x" &&
	cairn rm changer >/dev/null
'

test_expect_success ROOT 'diff and commit of a running container leave out its mount points, as docker'"'"'s init layer' '
	cairn run -d --name live bb sh -c "echo x >/live.txt; exec sleep 100" >/dev/null
	wait_ps live "Up "
	cairn diff live >"$TMP/live.diff" &&
	expect_eq "$(cat "$TMP/live.diff")" "A /live.txt" &&
	cairn commit live snap:live >/dev/null &&
	layer_tar snap:live -1 "$TMP/live.tar" &&
	expect_eq "$(tar -tf "$TMP/live.tar")" live.txt
	cairn rm -f live >/dev/null
'

test_expect_success ROOT,PYTHON 'run -it: a pty of its own that follows the terminal size; Ctrl-C; exit status' '
	cat >"$TMP/tty.script" <<-\SCRIPT &&
	wait # 
	send tty; stty size\r
	wait 33 101
	resize 40 120
	send stty size\r
	wait 40 120
	send sh -c "echo re''ady; exec sleep 100"\r
	wait ready\r\n
	send \x03
	send echo rc=$?\r
	wait rc=130
	send exit 4\r
	SCRIPT
	test_expect_code 4 python3 "$CAIRN_SOURCE_ROOT/tests/integration/ptyrun.py" 33 101 \
		"$TMP/tty.script" -- "$CAIRN" run -it --rm bb sh >"$TMP/tty.out" &&
	expect_contains "$(cat "$TMP/tty.out")" "/dev/pts/0"
'

test_expect_success ROOT,PYTHON 'exec -it: a terminal in the running container, of its size' '
	cairn run -d --name term bb sleep 100 >/dev/null
	cat >"$TMP/exec.script" <<-\SCRIPT
	wait # 
	send tty; stty size\r
	wait 25 90
	send exit 6\r
	SCRIPT
	test_expect_code 6 python3 "$CAIRN_SOURCE_ROOT/tests/integration/ptyrun.py" 25 90 \
		"$TMP/exec.script" -- "$CAIRN" exec -it term sh >"$TMP/exec.out"
	expect_contains "$(cat "$TMP/exec.out")" "/dev/pts/"
	cairn rm -f term >/dev/null
'

test_done
