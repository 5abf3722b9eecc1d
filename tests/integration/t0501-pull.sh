#!/bin/bash
# cairn pull against registries on loopback: Debian's docker-registry (anonymous
# and htpasswd), and a fake registry in python for what a real one will not do
# (corrupt blobs, dying mid-pull, bearer tokens with a blob-storage redirect).
# Nothing but 127.0.0.0/8 is ever contacted.
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/registry.sh"

# A fake registry's content: DIR/manifests/TAG and DIR/manifests/DIGEST, DIR/blobs/HEX.
# fake_image STORE REF DIR: the image REF of STORE, as a fake registry serves it.
fake_image() {
	mkdir -p "$3/manifests" "$3/blobs"
	_m=$(jq -r --arg r "$2" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $r) | .digest' "$1/index.json")
	cp "$1/blobs/sha256/${_m#sha256:}" "$3/manifests/1"
	cp "$3/manifests/1" "$3/manifests/$_m"
	for _d in $(jq -r '.config.digest, .layers[].digest' "$3/manifests/1"); do
		cp "$1/blobs/sha256/${_d#sha256:}" "$3/blobs/"
	done
}

ctx="$TMP/ctx"
make_busybox_context "$ctx"
busybox_base >"$ctx/Recipe"
store2="$TMP/store2"

if test_have_prereq REGISTRY; then
	start_registry open
	reg="127.0.0.1:$port"
fi

test_expect_success ROOT,REGISTRY 'a busybox image built by cairn is pushed to the loopback registry' '
	cairn build -q -f "$ctx/Recipe" -t img "$ctx" >"$TMP/built" &&
	skopeo copy -q --dest-tls-verify=false "oci:$CAIRN_ROOT:img:latest" "docker://$reg/test/img:1" &&
	skopeo inspect --tls-verify=false "docker://$reg/test/img:1" | jq -r .Digest >"$TMP/remote" &&
	grep -qE "^sha256:[0-9a-f]{64}$" "$TMP/remote"
'

test_expect_success ROOT,REGISTRY 'pull into an empty store tags the image under its full reference' '
	CAIRN_ROOT=$store2 cairn pull "$reg/test/img:1" >"$TMP/pulled" 2>"$TMP/progress" &&
	expect_eq "$(cat "$TMP/pulled")" "$(cat "$TMP/remote")" &&
	CAIRN_ROOT=$store2 cairn images | grep -q "^$reg/test/img:1 " &&
	grep -q "^pull sha256:" "$TMP/progress" &&
	grep -q "^pulled 3 blobs" "$TMP/progress"
'

test_expect_success ROOT,REGISTRY 'the pulled store is an OCI layout skopeo reads, with the same digest' '
	skopeo inspect "oci:$store2:$reg/test/img:1" | jq -r .Digest >"$TMP/local" &&
	expect_eq "$(cat "$TMP/local")" "$(cat "$TMP/remote")"
'

test_expect_success ROOT,REGISTRY 'a build FROM the pulled tag runs busybox from the pulled layers' '
	printf "FROM %s\nRUN echo pulled > /proof && /bin/sh -c \"test -x /bin/busybox\"\n" "$reg/test/img:1" >"$TMP/Recipe.from" &&
	CAIRN_ROOT=$store2 cairn build -q -f "$TMP/Recipe.from" -t from-pulled "$ctx" >/dev/null &&
	CAIRN_ROOT=$store2 image_rootfs from-pulled "$TMP/rootfs" &&
	expect_eq "$(cat "$TMP/rootfs/proof")" pulled
'

test_expect_success ROOT,REGISTRY 'pulling again downloads nothing' '
	CAIRN_ROOT=$store2 cairn pull "$reg/test/img:1" >/dev/null 2>"$TMP/progress2" &&
	! grep -q "^pull sha256:" "$TMP/progress2" &&
	grep -q "^pulled 0 blobs" "$TMP/progress2"
'

test_expect_success ROOT,REGISTRY 'pull by digest into a third store tags nothing and returns the digest' '
	d=$(cat "$TMP/remote") &&
	CAIRN_ROOT=$TMP/store3 cairn pull -q "$reg/test/img@$d" >"$TMP/bydigest" &&
	expect_eq "$(cat "$TMP/bydigest")" "$d" &&
	test -f "$TMP/store3/blobs/sha256/${d#sha256:}" &&
	expect_eq "$(CAIRN_ROOT=$TMP/store3 cairn images | tail -n +2 | wc -l)" 0 &&
	CAIRN_ROOT=$TMP/store3 cairn inspect "$d" | jq -e ".Manifest.layers | length == 2" >/dev/null
'

test_expect_success ROOT,REGISTRY 'a missing tag is a clear error naming the URL and 404' '
	! CAIRN_ROOT=$TMP/store4 cairn pull -q "$reg/test/img:nope" 2>"$TMP/err404" &&
	expect_contains "$(cat "$TMP/err404")" "GET http://$reg/v2/test/img/manifests/nope: 404"
'

# ---- basic auth (htpasswd) ----
if test_have_prereq REGISTRY; then
	htpasswd -Bbn user s3cret-pw >"$TMP/htpasswd"
	start_registry auth "$TMP/htpasswd"
	areg="127.0.0.1:$port"
	good=$(printf "user:s3cret-pw" | base64)
	bad=$(printf "user:wr0ng-pw" | base64)
	printf '{"auths": {"%s": {"auth": "%s"}}}\n' "$areg" "$good" >"$TMP/auth-good.json"
	printf '{"auths": {"%s": {"auth": "%s"}}}\n' "$areg" "$bad" >"$TMP/auth-bad.json"
fi

test_expect_success ROOT,REGISTRY 'pull from an htpasswd registry with credentials from REGISTRY_AUTH_FILE' '
	skopeo copy -q --dest-tls-verify=false --dest-creds user:s3cret-pw \
		"oci:$CAIRN_ROOT:img:latest" "docker://$areg/team/app:1" &&
	REGISTRY_AUTH_FILE=$TMP/auth-good.json CAIRN_ROOT=$TMP/store5 cairn pull -q "$areg/team/app:1" >"$TMP/authd" &&
	expect_eq "$(cat "$TMP/authd")" "$(cat "$TMP/remote")" &&
	CAIRN_ROOT=$TMP/store5 cairn images | grep -q "^$areg/team/app:1 "
'

test_expect_success ROOT,REGISTRY 'a wrong password is a clear 401 error without the credentials' '
	! REGISTRY_AUTH_FILE=$TMP/auth-bad.json CAIRN_ROOT=$TMP/store6 cairn pull -q "$areg/team/app:1" 2>"$TMP/err401" &&
	expect_contains "$(cat "$TMP/err401")" "401 Unauthorized" &&
	! grep -q "wr0ng-pw" "$TMP/err401" &&
	! grep -qF "$bad" "$TMP/err401" &&
	expect_eq "$(ls "$TMP/store6/blobs/sha256" | wc -l)" 0
'

test_expect_success ROOT,REGISTRY 'no credentials at all is a clear error too' '
	! REGISTRY_AUTH_FILE=$TMP/none.json HOME=$TMP/nohome XDG_RUNTIME_DIR=$TMP/nohome CAIRN_ROOT=$TMP/store6 cairn pull -q "$areg/team/app:1" 2>"$TMP/err-nocred" &&
	expect_contains "$(cat "$TMP/err-nocred")" "401 Unauthorized"
'

# ---- TLS with a CA of our own ----
certs="$TMP/certs"
if test_have_prereq REGISTRY; then
	mkdir -p "$certs"
	(
		cd "$certs" &&
		openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 \
			-subj /CN=cairn-test-ca &&
		openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj /CN=127.0.0.1 &&
		printf "subjectAltName=IP:127.0.0.1\n" >san.ext &&
		openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out srv.pem \
			-days 2 -extfile san.ext &&
		mkdir trust && cp ca.crt trust/
	) >"$TMP/openssl.log" 2>&1
	start_registry tls "" "$certs/srv.pem" "$certs/srv.key"
	treg="127.0.0.1:$port"
fi

test_expect_success ROOT,REGISTRY 'an HTTPS registry signed by a CA from --cert-dir' '
	skopeo copy -q --dest-cert-dir "$certs/trust" "oci:$CAIRN_ROOT:img:latest" "docker://$treg/test/img:1" &&
	CAIRN_ROOT=$TMP/store11 cairn pull -q --cert-dir "$certs/trust" "$treg/test/img:1" >"$TMP/tls.out" &&
	expect_eq "$(cat "$TMP/tls.out")" "$(cat "$TMP/remote")"
'

test_expect_success ROOT,REGISTRY 'without the CA the certificate is refused, with no fallback to HTTP' '
	! CAIRN_ROOT=$TMP/store12 cairn pull -q "$treg/test/img:1" 2>"$TMP/errtls" &&
	expect_contains "$(cat "$TMP/errtls")" "https://$treg/v2/" &&
	expect_contains "$(cat "$TMP/errtls")" "certificate"
'

test_expect_success ROOT,REGISTRY '--tls-verify=false pulls without checking the certificate' '
	CAIRN_ROOT=$TMP/store12 cairn pull -q --tls-verify=false "$treg/test/img:1" >"$TMP/tls2" &&
	expect_eq "$(cat "$TMP/tls2")" "$(cat "$TMP/remote")"
'

# ---- the fake registry ----
test_expect_success ROOT,REGISTRY 'a blob whose bytes do not match its digest is not stored' '
	fake="$TMP/fake-corrupt" &&
	fake_image "$CAIRN_ROOT" img:latest "$fake" &&
	m="$fake/manifests/1" &&
	layer=$(jq -r ".layers[0].digest" "$m") &&
	printf "tampered" >"$TMP/tampered" &&
	head -c "$(jq -r ".layers[0].size" "$m")" /dev/zero >>"$TMP/tampered" &&
	head -c "$(jq -r ".layers[0].size" "$m")" "$TMP/tampered" >"$fake/blobs/${layer#sha256:}" &&
	start_fake "$fake" plain &&
	! CAIRN_ROOT=$TMP/store7 cairn pull -q "127.0.0.1:$fport/test/bad:1" 2>"$TMP/errbad" &&
	expect_contains "$(cat "$TMP/errbad")" "expected $layer" &&
	actual=$(sha256sum "$fake/blobs/${layer#sha256:}" | cut -d" " -f1) &&
	expect_contains "$(cat "$TMP/errbad")" "sha256:$actual" &&
	test ! -e "$TMP/store7/blobs/sha256/${layer#sha256:}" &&
	expect_eq "$(CAIRN_ROOT=$TMP/store7 cairn images | tail -n +2 | wc -l)" 0
'

test_expect_success ROOT,REGISTRY 'an index is resolved to this machine'"'"'s platform; another platform is a clear error' '
	fake="$TMP/fake-index" &&
	fake_image "$CAIRN_ROOT" img:latest "$fake" &&
	md=$(sha256sum "$fake/manifests/1" | cut -d" " -f1) &&
	ms=$(stat -c %s "$fake/manifests/1") &&
	arch=$(CAIRN_ROOT=$store2 cairn inspect "$reg/test/img:1" | jq -r .Config.architecture) &&
	jq -cn --arg d "sha256:$md" --argjson s "$ms" --arg a "$arch" "{schemaVersion: 2, mediaType: \"application/vnd.oci.image.index.v1+json\", manifests: [{mediaType: \"application/vnd.oci.image.manifest.v1+json\", digest: (\"sha256:\" + (\"0\" * 64)), size: 1, platform: {os: \"linux\", architecture: \"s390x\"}}, {mediaType: \"application/vnd.oci.image.manifest.v1+json\", digest: \$d, size: \$s, platform: {os: \"linux\", architecture: \$a}}]}" >"$fake/manifests/multi" &&
	start_fake "$fake" plain &&
	CAIRN_ROOT=$TMP/store8 cairn pull -q "127.0.0.1:$fport/test/multi:multi" >"$TMP/multi" &&
	expect_eq "$(cat "$TMP/multi")" "sha256:$md" &&
	CAIRN_ROOT=$TMP/store8 cairn images | grep -q "^127.0.0.1:$fport/test/multi:multi " &&
	! CAIRN_ROOT=$TMP/store8 cairn pull -q --platform linux/riscv64 "127.0.0.1:$fport/test/multi:multi" 2>"$TMP/errplat" &&
	expect_contains "$(cat "$TMP/errplat")" "no manifest for linux/riscv64 (it has: linux/s390x, linux/$arch)"
'

test_expect_success ROOT,REGISTRY 'a bearer token from the realm, and no Authorization on the storage redirect' '
	fake="$TMP/fake-bearer" &&
	fake_image "$CAIRN_ROOT" img:latest "$fake" &&
	printf "tok:secret-tok-pw" >"$fake/htpasswd-plain" &&
	start_fake "$fake" bearer &&
	printf "{\"auths\": {\"127.0.0.1:%s\": {\"auth\": \"%s\"}}}\n" "$fport" "$(printf tok:secret-tok-pw | base64)" >"$TMP/auth-tok.json" &&
	REGISTRY_AUTH_FILE=$TMP/auth-tok.json CAIRN_ROOT=$TMP/store9 cairn pull -q "127.0.0.1:$fport/test/img:1" >"$TMP/bearer" &&
	expect_eq "$(cat "$TMP/bearer")" "$(cat "$TMP/remote")" &&
	! REGISTRY_AUTH_FILE=$TMP/none.json HOME=$TMP/nohome CAIRN_ROOT=$TMP/store10 cairn pull -q "127.0.0.1:$fport/test/img:1" 2>"$TMP/errtok" &&
	expect_contains "$(cat "$TMP/errtok")" "getting an anonymous token" &&
	expect_contains "$(cat "$TMP/errtok")" "401"
'

test_expect_success ROOT,REGISTRY 'a token that expires mid-pull is asked for again' '
	fake="$TMP/fake-expire" &&
	fake_image "$CAIRN_ROOT" img:latest "$fake" &&
	start_fake "$fake" bearer-expire &&
	CAIRN_ROOT=$TMP/store-expire cairn pull "127.0.0.1:$fport/test/img:1" >"$TMP/expire.digest" 2>"$TMP/expire.log" &&
	expect_eq "$(cat "$TMP/expire.digest")" "$(sha256sum <"$fake/manifests/1" | sed "s/^/sha256:/; s/ .*//")" &&
	test "$(grep -c "^GET /token" "$fake.log")" -ge 2 &&
	grep -q "^pulled 3 blobs" "$TMP/expire.log"
'

test_expect_success ROOT,REGISTRY 'a registry that dies mid-pull: a clear error, the store still consistent' '
	printf "FROM img\nRUN head -c 300000 /dev/urandom > /big\n" >"$TMP/Recipe.big" &&
	cairn build -q -f "$TMP/Recipe.big" -t big "$ctx" >/dev/null &&
	fake="$TMP/fake-die" &&
	fake_image "$CAIRN_ROOT" big:latest "$fake" &&
	start_fake "$fake" die &&
	! CAIRN_ROOT=$store2 cairn pull -q "127.0.0.1:$fport/test/big:1" 2>"$TMP/errdie" &&
	expect_contains "$(cat "$TMP/errdie")" "GET http://127.0.0.1:$fport/v2/test/big/blobs/sha256:" &&
	expect_contains "$(cat "$TMP/errdie")" "tries" &&
	! kill -0 "$fpid" 2>/dev/null &&
	skopeo inspect "oci:$store2:$reg/test/img:1" >/dev/null &&
	! CAIRN_ROOT=$store2 cairn images | grep -q "test/big" &&
	expect_eq "$(find "$store2/cairn/tmp" -type f | wc -l)" 0
'

test_expect_success ROOT,REGISTRY 'a download cut off mid-blob resumes with a Range request' '
	fake="$TMP/fake-flaky" &&
	fake_image "$CAIRN_ROOT" big:latest "$fake" &&
	start_fake "$fake" flaky &&
	CAIRN_ROOT=$TMP/store-flaky cairn pull "127.0.0.1:$fport/test/big:1" >"$TMP/flaky.digest" 2>"$TMP/flaky.log" &&
	expect_eq "$(cat "$TMP/flaky.digest")" "$(cat "$fake/manifests/1" | sha256sum | sed "s/^/sha256:/; s/ .*//")" &&
	grep -q "Range: bytes=[1-9][0-9]*-" "$fake.log" &&
	for d in $(jq -r ".layers[].digest" "$fake/manifests/1"); do
		cmp "$fake/blobs/${d#sha256:}" "$TMP/store-flaky/blobs/sha256/${d#sha256:}" || exit 1
	done
'

test_expect_success ROOT,REGISTRY 'an image whose diff_id lies about its layer cannot be built FROM' '
	fake="$TMP/fake-diffid" &&
	fake_image "$CAIRN_ROOT" img:latest "$fake" &&
	m="$fake/manifests/1" &&
	cfg=$(jq -r .config.digest "$m") &&
	liar=sha256:$(printf other | sha256sum | cut -d" " -f1) &&
	jq -c --arg d "$liar" ".rootfs.diff_ids[-1] = \$d" "$fake/blobs/${cfg#sha256:}" >"$TMP/cfg.json" &&
	newcfg=$(sha256sum "$TMP/cfg.json" | cut -d" " -f1) &&
	cp "$TMP/cfg.json" "$fake/blobs/$newcfg" &&
	jq -c --arg d "sha256:$newcfg" --argjson s "$(stat -c %s "$TMP/cfg.json")" ".config.digest = \$d | .config.size = \$s" "$m" >"$TMP/m.json" &&
	cp "$TMP/m.json" "$m" &&
	start_fake "$fake" plain &&
	printf "FROM 127.0.0.1:%s/test/liar:1\nRUN true\n" "$fport" >"$TMP/Recipe.liar" &&
	! CAIRN_ROOT=$TMP/store-liar cairn build -q -f "$TMP/Recipe.liar" "$ctx" >/dev/null 2>"$TMP/errliar" &&
	expect_contains "$(cat "$TMP/errliar")" "Recipe.liar:2: RUN: extracting sha256:" &&
	expect_contains "$(cat "$TMP/errliar")" "not the diff_id $liar" &&
	! test -e "$TMP/store-liar/cairn/layers/${liar#sha256:}" &&
	expect_eq "$(ls "$TMP/store-liar/cairn/tmp" | grep -v "^proc-" | wc -l)" 0
'

test_expect_success ROOT,REGISTRY,SCRIPT 'progress: lines redrawn in place on a terminal, one line per blob elsewhere' '
	TERM=xterm script -qec "CAIRN_ROOT=$TMP/store-tty $CAIRN pull $reg/test/img:1" /dev/null >"$TMP/tty.out" &&
	grep -q "$(printf "\033")\[" "$TMP/tty.out" &&
	grep -q "done    sha256:" "$TMP/tty.out" &&
	grep -q "^pulled 3 blobs, .* in .* (.*/s)" "$TMP/tty.out" &&
	CAIRN_ROOT=$TMP/store-plain cairn pull "$reg/test/img:1" >/dev/null 2>"$TMP/plain.out" &&
	! grep -q "$(printf "\033")" "$TMP/plain.out" &&
	expect_eq "$(grep -c "^pull sha256:" "$TMP/plain.out")" 3
'

stop_servers
test_done
