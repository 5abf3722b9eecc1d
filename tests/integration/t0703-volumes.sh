#!/bin/bash
# Volumes: created on first use and filled from the image (owners kept), shared by
# containers and outliving them, :ro enforced, refused removal while a container
# uses one, anonymous volumes for an image's VOLUME (removed by --rm and rm -v), the
# volume commands, and --mount's forms.
. "$(dirname "$0")/lib.sh"

build_base bb 'RUN mkdir -p /data && echo seed >/data/seed && chown 1000:1000 /data/seed
'
recipe vimg <<'EOF2'
FROM bb
VOLUME /data
CMD ["cat", "/data/seed"]
EOF2

volumes() { cairn volume ls -q | tr "\n" " "; }

test_expect_success ROOT 'a new named volume is filled from the image, owners kept; it outlives its container' '
	cairn run --name writer -v store1:/data bb sh -c "echo from-writer >/data/mine; stat -c %u /data/seed" >"$TMP/w.out"
	expect_eq "$(cat "$TMP/w.out")" 1000
	cairn rm writer >/dev/null
	expect_eq "$(cairn run --rm -v store1:/srv bb cat /srv/mine /srv/seed)" "from-writer
seed"
	expect_eq "$(cairn volume ls -q)" store1
'

test_expect_success ROOT 'two containers share one volume while both exist' '
	cairn run -d --name reader -v shared:/s bb sh -c "while [ ! -f /s/ping ]; do sleep 0.1; done; echo got >/s/pong; sleep 100" >/dev/null
	cairn run --rm -v shared:/s bb sh -c "echo x >/s/ping; for i in \$(seq 100); do [ -f /s/pong ] && exit 0; sleep 0.1; done; exit 1"
	cairn rm -f reader >/dev/null
'

test_expect_success ROOT ':ro volumes fail writes with EROFS; readonly in --mount too' '
	test_expect_code 1 cairn run --rm -v store1:/data:ro bb sh -c "echo no >/data/no" 2>"$TMP/ro.err"
	expect_contains "$(cat "$TMP/ro.err")" "Read-only file system"
	test_expect_code 1 cairn run --rm --mount type=volume,source=store1,target=/data,readonly bb \
		touch /data/no 2>/dev/null
	expect_eq "$(cairn run --rm --mount type=volume,src=store1,dst=/data bb cat /data/mine)" from-writer
'

test_expect_success ROOT 'volume rm is refused while a stopped container uses it; -f removes it' '
	cairn run --name holder -v held:/h bb true
	test_expect_code 1 cairn volume rm held 2>"$TMP/busy.err"
	expect_contains "$(cat "$TMP/busy.err")" "volume held is in use by container holder"
	expect_eq "$(cairn volume rm -f held)" held
	cairn rm holder >/dev/null
'

test_expect_success ROOT 'an image'"'"'s VOLUME gets an anonymous volume: kept by rm, gone with rm -v and --rm' '
	cairn build -q -t vimg "$TMP/vimg" >/dev/null
	before=$(volumes)
	expect_eq "$(cairn run --rm vimg)" seed
	expect_eq "$(volumes)" "$before"
	cairn run --name anon vimg >/dev/null
	test "$(volumes)" != "$before"
	cairn rm anon >/dev/null
	test "$(volumes)" != "$before"
	cairn volume prune >/dev/null
	expect_eq "$(volumes)" "$before"
	cairn run --name anon2 vimg >/dev/null
	cairn rm -v anon2 >/dev/null
	expect_eq "$(volumes)" "$before"
'

test_expect_success ROOT 'volume create, inspect, ls, prune -a' '
	expect_eq "$(cairn volume create made)" made
	test_expect_code 1 cairn volume create made 2>/dev/null
	cairn volume inspect made >"$TMP/inspect.json"
	expect_eq "$(jq -r ".[0].Name" "$TMP/inspect.json")" made
	test -d "$(jq -r ".[0].Mountpoint" "$TMP/inspect.json")"
	expect_contains "$(cairn volume ls)" made
	test_expect_code 1 cairn volume inspect nosuch 2>/dev/null
	test_expect_code 1 cairn volume create "bad/name" 2>/dev/null
	cairn volume prune -a >/dev/null
	expect_eq "$(volumes)" ""
'

test_expect_success ROOT 'bad -v and --mount specs exit 125 naming the spec' '
	test_expect_code 125 cairn run --rm -v "bad name:/x" bb true 2>"$TMP/bad1"
	expect_contains "$(cat "$TMP/bad1")" "bad name:/x"
	test_expect_code 125 cairn run --rm --mount type=nfs,dst=/x bb true 2>"$TMP/bad2"
	expect_contains "$(cat "$TMP/bad2")" "type nfs"
	test_expect_code 125 cairn run --rm --mount type=bind,src=/nonexistent-dir,dst=/x bb true 2>/dev/null
	test_expect_code 125 cairn run --rm --mount src=v,dst=relative bb true 2>/dev/null
'

test_done
