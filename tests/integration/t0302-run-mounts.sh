#!/bin/bash
# RUN --mount: bind mounts of the context (read-only, or writable with the writes
# thrown away), cache mounts that persist across builds, tmpfs mounts, secrets that
# never reach a layer, the history or the cache key, and precise errors for bad
# mount specs. Nothing a mount shows, nor its mount point, is in the layer.
. "$(dirname "$0")/lib.sh"

# all_layers_text REF: every layer of REF decompressed, concatenated.
all_layers_text() {
	for _l in $(cairn inspect "$1" | jq -r '.Manifest.layers[].digest'); do
		decompress "$CAIRN_ROOT/blobs/sha256/${_l#sha256:}"
	done
}

# out_file REF PATH: the content of PATH in the image REF.
out_file() { rm -rf "$TMP/of.root" && image_rootfs "$1" "$TMP/of.root" && cat "$TMP/of.root$2"; }

ctx bind <<'EOF'
RUN --mount=type=bind,source=data.txt,target=/mnt/data.txt cat /mnt/data.txt > /seen-file
RUN --mount=source=dir,target=/srcdir ls /srcdir > /seen-dir && cat /srcdir/inner > /seen-inner
WORKDIR /work
RUN --mount=target=ctx cat ctx/data.txt > /seen-rel && touch /work/made
EOF
echo bound-content-1 >"$TMP/bind/data.txt"
mkdir -p "$TMP/bind/dir" && echo inner-content >"$TMP/bind/dir/inner"
test_expect_success ROOT 'a bind mount shows a context file or directory (relative targets under WORKDIR)' '
	cairn build -q -t bind "$TMP/bind" >/dev/null &&
	image_rootfs bind "$TMP/bind.root" &&
	expect_eq "$(cat "$TMP/bind.root/seen-file")" bound-content-1 &&
	expect_eq "$(cat "$TMP/bind.root/seen-dir")" inner &&
	expect_eq "$(cat "$TMP/bind.root/seen-inner")" inner-content &&
	expect_eq "$(cat "$TMP/bind.root/seen-rel")" bound-content-1
'

test_expect_success ROOT 'neither a bind mount nor its mount point is in any layer' '
	layer_names bind >"$TMP/bind.names" &&
	! grep -E "^(mnt|srcdir|work/ctx)(/|$)" "$TMP/bind.names" &&
	grep -qx "work/made" "$TMP/bind.names" &&
	! test -e "$TMP/bind.root/mnt" &&
	! test -e "$TMP/bind.root/srcdir" &&
	! test -e "$TMP/bind.root/work/ctx" &&
	expect_no_leftovers
'

test_expect_success ROOT 'a change of the bound file is a cache miss; an unchanged rebuild is all cached' '
	cairn build -t bind "$TMP/bind" 2>"$TMP/bind.again" >/dev/null &&
	grep -q "RUN --mount=type=bind,source=data.txt.* CACHED" "$TMP/bind.again" &&
	echo bound-content-2 >"$TMP/bind/data.txt" &&
	cairn build -t bind2 "$TMP/bind" 2>"$TMP/bind.changed" >/dev/null &&
	! grep -q "RUN --mount=type=bind,source=data.txt.* CACHED" "$TMP/bind.changed" &&
	expect_eq "$(out_file bind2 /seen-file)" bound-content-2
'

ctx bindrw <<'EOF'
RUN --mount=target=/src,rw echo scribble > /src/new.txt && echo changed > /src/data.txt && cat /src/data.txt /src/new.txt > /seen
RUN --mount=target=/src cat /src/data.txt > /after && ! test -e /src/new.txt
RUN --mount=target=/src if touch /src/nope 2>/dev/null; then echo writable; else echo read-only; fi > /ro
RUN --mount=target=/src,ro=false,readonly if touch /src/nope2 2>/dev/null; then echo writable; else echo read-only; fi > /ro2
RUN --mount=target=/src,readwrite=true if touch /src/nope3 2>/dev/null; then echo writable; else echo read-only; fi > /rw3
EOF
echo original >"$TMP/bindrw/data.txt"
test_expect_success ROOT 'a read-write bind mount takes writes, which are thrown away after the step' '
	cairn build -q -t bindrw "$TMP/bindrw" >/dev/null &&
	image_rootfs bindrw "$TMP/bindrw.root" &&
	expect_eq "$(cat "$TMP/bindrw.root/seen")" "$(printf "changed\nscribble")" &&
	expect_eq "$(cat "$TMP/bindrw.root/after")" original &&
	expect_eq "$(cat "$TMP/bindrw/data.txt")" original &&
	! test -e "$TMP/bindrw/new.txt" &&
	expect_eq "$(cat "$TMP/bindrw.root/ro")" read-only &&
	expect_eq "$(cat "$TMP/bindrw.root/ro2")" read-only &&
	expect_eq "$(cat "$TMP/bindrw.root/rw3")" writable &&
	! test -e "$TMP/bindrw/nope3" &&
	! layer_names bindrw | grep -qE "^src(/|$)" &&
	expect_no_leftovers
'

mkdir -p "$TMP/outside" && echo outside-secret-9931 >"$TMP/outside/file"
ctx escape <<'EOF'
RUN --mount=source=link/file,target=/m cat /m > /seen || echo missing > /seen
EOF
ln -s "$TMP/outside" "$TMP/escape/link"
test_expect_success ROOT 'a bind source never reaches outside the context (symlinks resolved inside it)' '
	test_must_fail_build escape &&
	expect_contains "$(cat "$TMP/escape.err")" "Recipe:4" &&
	! grep -q outside-secret-9931 "$TMP/escape.err"
'

ctx cache <<'EOF'
RUN --mount=type=cache,target=/var/cache/app echo run >> /var/cache/app/log && wc -l < /var/cache/app/log > /count
EOF
test_expect_success ROOT 'a cache mount persists across builds and --no-cache, and is in no layer' '
	cairn build -q -t cache1 "$TMP/cache" >/dev/null &&
	expect_eq "$(out_file cache1 /count | tr -d " ")" 1 &&
	cairn build -q --no-cache -t cache2 "$TMP/cache" >/dev/null &&
	expect_eq "$(out_file cache2 /count | tr -d " ")" 2 &&
	! layer_names cache2 | grep -qE "^var(/|$)" &&
	test -d "$CAIRN_ROOT/cairn/mounts" &&
	expect_eq "$(cat "$CAIRN_ROOT"/cairn/mounts/*/log | wc -l)" 2 &&
	expect_no_leftovers
'

ctx cacheid <<'EOF'
RUN --mount=type=cache,id=shared-x,target=/a,mode=0700,uid=12,gid=34 echo from-a > /a/f && stat -c %a:%u:%g /a > /perm
RUN --mount=type=cache,id=shared-x,target=/b,sharing=locked cat /b/f > /seen
RUN --mount=type=cache,target=/c,sharing=private touch /c/x
EOF
test_expect_success ROOT 'cache mounts with one id share a directory; mode, uid and gid apply when created' '
	cairn build -q -t cacheid "$TMP/cacheid" >/dev/null &&
	image_rootfs cacheid "$TMP/cacheid.root" &&
	expect_eq "$(cat "$TMP/cacheid.root/perm")" 700:12:34 &&
	expect_eq "$(cat "$TMP/cacheid.root/seen")" from-a
'

test_expect_success ROOT 'the contents of a cache mount are not part of the cache key' '
	echo other > "$(dirname "$(grep -l from-a "$CAIRN_ROOT"/cairn/mounts/*/f)")/f" &&
	cairn build -t cacheid "$TMP/cacheid" 2>"$TMP/cacheid.again" >/dev/null &&
	grep -q "target=/b,sharing=locked.* CACHED" "$TMP/cacheid.again"
'

ctx tmpfs <<'EOF'
RUN --mount=type=tmpfs,target=/scratch,size=2m echo x > /scratch/f && df -k /scratch | tail -n 1 > /df && grep " /scratch " /proc/mounts > /mnt-line
EOF
test_expect_success ROOT 'a tmpfs mount has its size and is in no layer' '
	cairn build -q -t tmpfs "$TMP/tmpfs" >/dev/null &&
	image_rootfs tmpfs "$TMP/tmpfs.root" &&
	expect_contains "$(cat "$TMP/tmpfs.root/mnt-line")" tmpfs &&
	expect_eq "$(awk "{print \$2}" "$TMP/tmpfs.root/df")" 2048 &&
	! layer_names tmpfs | grep -qE "^scratch(/|$)"
'

secret_value=s3cr3t-Vf7Qp-unique-4711
printf %s "$secret_value" >"$TMP/secret.txt"
ctx secret <<'EOF'
ARG UNUSED=1
RUN --mount=type=secret,id=tok cat /run/secrets/tok > /dev/null && stat -c %a:%u:%g /run/secrets/tok > /perm && sha1sum /run/secrets/tok | cut -d" " -f1 > /sum
RUN --mount=type=secret,id=tok,target=/etc/tok,mode=0440,uid=7,gid=8 stat -c %a:%u:%g /etc/tok > /perm2
RUN --mount=type=secret,id=tok,env=TOKEN test -n "$TOKEN" && test ! -e /run/secrets/tok && printf %s "$TOKEN" | sha1sum | cut -d" " -f1 > /envsum
RUN --mount=type=secret,id=absent test ! -e /run/secrets/absent && echo skipped > /absent
EOF
test_expect_success ROOT 'a secret is readable in RUN as a file with its mode and owner, or as a variable' '
	cairn build -q --secret id=tok,src="$TMP/secret.txt" -t secret "$TMP/secret" >/dev/null &&
	image_rootfs secret "$TMP/secret.root" &&
	expect_eq "$(cat "$TMP/secret.root/perm")" 400:0:0 &&
	expect_eq "$(cat "$TMP/secret.root/perm2")" 440:7:8 &&
	expect_eq "$(cat "$TMP/secret.root/sum")" "$(sha1sum <"$TMP/secret.txt" | cut -d" " -f1)" &&
	expect_eq "$(cat "$TMP/secret.root/envsum")" "$(sha1sum <"$TMP/secret.txt" | cut -d" " -f1)" &&
	expect_eq "$(cat "$TMP/secret.root/absent")" skipped
'

test_expect_success ROOT 'a secret is in no layer, not in the config or history, not in the store' '
	! all_layers_text secret | grep -qF "$secret_value" &&
	! layer_names secret | grep -qE "^(run|etc)(/|$)" &&
	! cairn inspect secret | grep -qF "$secret_value" &&
	! grep -rqF "$secret_value" "$CAIRN_ROOT" &&
	expect_no_leftovers
'

test_expect_success ROOT 'the secret value is not part of the cache key; --secret id=ID,env=VAR works' '
	printf %s other-value >"$TMP/secret2.txt" &&
	cairn build --secret id=tok,src="$TMP/secret2.txt" -t secret "$TMP/secret" 2>"$TMP/secret.again" >/dev/null &&
	grep -q "id=tok,env=TOKEN.* CACHED" "$TMP/secret.again" &&
	SECRET_VAR=$secret_value cairn build -q --no-cache --secret id=tok,env=SECRET_VAR -t secretenv "$TMP/secret" >/dev/null &&
	expect_eq "$(out_file secretenv /envsum)" "$(sha1sum <"$TMP/secret.txt" | cut -d" " -f1)"
'

ctx secretreq <<'EOF'
RUN --mount=type=secret,id=needed,required=true true
EOF
test_expect_success ROOT 'a required secret that is not given fails the build, naming it' '
	test_must_fail_build secretreq &&
	expect_contains "$(cat "$TMP/secretreq.err")" "Recipe:4" &&
	expect_contains "$(cat "$TMP/secretreq.err")" needed &&
	expect_no_leftovers
'

test_expect_success ROOT 'a failing step with a secret does not print the secret value' '
	ctx secretfail <<-EOF &&
	RUN --mount=type=secret,id=tok,required cat /run/secrets/tok > /dev/null && exit 5
	EOF
	test_must_fail_build secretfail --secret id=tok,src="$TMP/secret.txt" &&
	expect_contains "$(cat "$TMP/secretfail.err")" "exit status 5" &&
	! grep -qF "$secret_value" "$TMP/secretfail.err" &&
	expect_no_leftovers
'

test_expect_success 'a bad --secret option is a usage error' '
	rc=0 && cairn build --secret src=/x "$TMP/secret" 2>"$TMP/badsecret.err" || rc=$? &&
	expect_eq "$rc" 2 &&
	expect_contains "$(cat "$TMP/badsecret.err")" "--secret src=/x"
'

# badmount NAME 'FLAGS' 'EXPECTED MESSAGE'
badmount() {
	ctx "$1" <<-EOF &&
	RUN $2 true
	EOF
	test_must_fail_build "$1" &&
	expect_contains "$(cat "$TMP/$1.err")" "Recipe:4: RUN: " &&
	expect_contains "$(cat "$TMP/$1.err")" "$3"
}
test_expect_success ROOT 'bad mount specs fail with the recipe line and a precise message' '
	badmount bad1 "--mount=type=nfs,target=/x" "unsupported mount type \"nfs\"" &&
	badmount bad2 "--mount=type=bind,target=/x,colour=red" "unexpected key '\''colour'\''" &&
	badmount bad3 "--mount=type=ssh,required" "ssh agent default is required but was not given (cairn build --ssh default)" &&
	badmount bad4 "--mount=type=cache" "target is required" &&
	badmount bad5 "--mount=type=tmpfs,target=/t,size=lots" "invalid value for size: lots" &&
	badmount bad6 "--mount=type=bind,target=/x,mode=0700" "mode not allowed for \"bind\" type mounts" &&
	badmount bad7 "--mount=type=bind,source=nope,target=/x" "nope" &&
	badmount bad8 "--mount=type=bind,target=/x,sharing=locked" "invalid cache sharing" &&
	badmount bad9 "--mount='\''type=bind,\"target=/x'\''" "failed to parse csv mounts" &&
	badmount bad10 "--mount=type=bind,target=/" "invalid mount target" &&
	expect_no_leftovers
'

# A stage is built for the RUN that mounts it; its failure is its own, told at its
# own line, not at the RUN that needed it.
test_expect_success ROOT 'a failing stage a RUN mounts is reported at its failing line' '
	make_busybox_context "$TMP/mountbroken" &&
	cat >"$TMP/mountbroken/Recipe" <<-\EOF &&
	FROM scratch AS broken
	COPY busybox /bin/busybox
	RUN ["/bin/busybox", "sh", "-c", "exit 3"]
	FROM scratch
	COPY busybox /bin/busybox
	RUN ["/bin/busybox", "--install", "-s", "/bin"]
	RUN --mount=from=broken,target=/m true
	EOF
	test_must_fail_build mountbroken &&
	expect_contains "$(cat "$TMP/mountbroken.err")" "Recipe:3: step " &&
	expect_contains "$(cat "$TMP/mountbroken.err")" "exit status 3" &&
	! grep -q "Recipe:7" "$TMP/mountbroken.err"
'

ctx csv <<'EOF'
RUN --mount='type=bind,"source=a,b.txt",target=/m' cat /m > /seen
EOF
echo comma-file >"$TMP/csv/a,b.txt"
test_expect_success ROOT 'mount fields are CSV: a quoted field may hold a comma' '
	cairn build -q -t csv "$TMP/csv" >/dev/null &&
	expect_eq "$(out_file csv /seen)" comma-file
'

make_busybox_context "$TMP/fromstage"
cat >"$TMP/fromstage/Recipe" <<'EOF'
FROM scratch AS files
COPY data.txt /in/data.txt
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
RUN --mount=from=files,source=/in,target=/stagefiles cat /stagefiles/data.txt > /seen
EOF
echo from-stage-data >"$TMP/fromstage/data.txt"
test_expect_success ROOT 'a bind mount from= an earlier stage shows its files, and none of them reaches the layer' '
	cairn build -q -t fromstage "$TMP/fromstage" >/dev/null &&
	expect_eq "$(out_file fromstage /seen)" from-stage-data &&
	! layer_names fromstage | grep -qE "^(stagefiles|in)(/|$)" &&
	expect_no_leftovers
'

test_done
