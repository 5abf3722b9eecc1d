#!/bin/bash
# cairn push, login and logout against Debian's docker-registry on loopback
# (anonymous and htpasswd). Nothing but 127.0.0.0/8 is ever contacted.
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/registry.sh"

ctx="$TMP/ctx"
make_busybox_context "$ctx"
busybox_base >"$ctx/Recipe"
export REGISTRY_AUTH_FILE="$TMP/auth.json"

if test_have_prereq REGISTRY; then
	start_registry open
	reg="127.0.0.1:$port"
fi

test_expect_success ROOT,REGISTRY 'a built image pushed to a loopback registry keeps its digest' '
	cairn build -q -f "$ctx/Recipe" -t img "$ctx" >/dev/null &&
	cairn inspect img | jq -r .Digest >"$TMP/local" &&
	cairn push img "$reg/test/img:1" >"$TMP/pushed" 2>"$TMP/progress" &&
	expect_eq "$(cat "$TMP/pushed")" "$(cat "$TMP/local")" &&
	skopeo inspect --tls-verify=false "docker://$reg/test/img:1" | jq -r .Digest >"$TMP/remote" &&
	expect_eq "$(cat "$TMP/remote")" "$(cat "$TMP/local")" &&
	expect_eq "$(grep -c "^push sha256:" "$TMP/progress")" 3 &&
	grep -q "^pushed 3 blobs" "$TMP/progress"
'

test_expect_success ROOT,REGISTRY 'pushing again uploads nothing: every blob exists' '
	cairn push img "$reg/test/img:1" >/dev/null 2>"$TMP/progress2" &&
	! grep -q "^push sha256:" "$TMP/progress2" &&
	expect_eq "$(grep -c "^exists sha256:" "$TMP/progress2")" 3 &&
	grep -q "^pushed 0 blobs" "$TMP/progress2"
'

test_expect_success ROOT,REGISTRY 'push with REF alone uses the tag it names; by digest works too' '
	cairn tag img "$reg/test/other:2" &&
	cairn push -q "$reg/test/other:2" >"$TMP/self" &&
	expect_eq "$(cat "$TMP/self")" "$(cat "$TMP/local")" &&
	cairn push -q "$(cat "$TMP/local")" "$reg/test/bydigest:3" >/dev/null &&
	skopeo inspect --tls-verify=false "docker://$reg/test/bydigest:3" | jq -r .Digest >"$TMP/r3" &&
	expect_eq "$(cat "$TMP/r3")" "$(cat "$TMP/local")"
'

test_expect_success ROOT,REGISTRY 'push then pull into an empty store gives the same digest' '
	CAIRN_ROOT=$TMP/store2 cairn pull -q "$reg/test/img:1" >"$TMP/pulled" &&
	expect_eq "$(cat "$TMP/pulled")" "$(cat "$TMP/local")" &&
	expect_eq "$(CAIRN_ROOT=$TMP/store2 cairn inspect "$reg/test/img:1" | jq -r .Digest)" "$(cat "$TMP/local")"
'

test_expect_success ROOT,REGISTRY 'an image missing from the store is a clear error' '
	! cairn push -q nope "$reg/test/nope:1" 2>"$TMP/errnope" &&
	expect_contains "$(cat "$TMP/errnope")" "nope"
'

test_expect_success ROOT,REGISTRY 'a large blob goes up in chunks (PATCH with Content-Range) and keeps its digest' '
	printf "FROM img\nRUN head -c 300000 /dev/urandom > /big\n" >"$TMP/Recipe.big" &&
	cairn build -q -f "$TMP/Recipe.big" -t big "$ctx" >"$TMP/big.local" &&
	cairn push --chunk-size 64k big "$reg/test/big:1" >"$TMP/big.pushed" 2>"$TMP/big.progress" &&
	expect_eq "$(cat "$TMP/big.pushed")" "$(cat "$TMP/big.local")" &&
	test "$(grep -c "PATCH /v2/test/big/blobs/uploads/" "$TMP/open/log")" -ge 4 &&
	CAIRN_ROOT=$TMP/store-big cairn pull -q "$reg/test/big:1" >"$TMP/big.pulled" &&
	expect_eq "$(cat "$TMP/big.pulled")" "$(cat "$TMP/big.local")"
'

test_expect_success 'a bad --chunk-size is a usage error' '
	test_expect_code 2 cairn push --chunk-size 12q big 127.0.0.1:5000/test/big:1 2>"$TMP/err" &&
	expect_contains "$(cat "$TMP/err")" "--chunk-size 12q"
'

test_expect_success ROOT,REGISTRY 'a chunk cut off mid-upload: push asks what the registry kept and resumes' '
	fake="$TMP/fake-upload" &&
	mkdir -p "$fake" &&
	start_fake "$fake" upload &&
	cairn push --chunk-size 64k big "127.0.0.1:$fport/test/big:1" >"$TMP/resumed" 2>"$TMP/resumed.log" &&
	expect_eq "$(cat "$TMP/resumed")" "$(cat "$TMP/big.local")" &&
	grep -q "^GET /v2/test/big/blobs/uploads/" "$fake.log" &&
	layer=$(cairn inspect big | jq -r ".Manifest.layers[-1].digest") &&
	cmp "$fake/blobs/${layer#sha256:}" "$CAIRN_ROOT/blobs/sha256/${layer#sha256:}"
'

test_expect_success ROOT,REGISTRY 'a registry that drops the session after a broken chunk: the blob goes up again' '
	fake="$TMP/fake-cancel" &&
	mkdir -p "$fake" &&
	start_fake "$fake" upload-cancel &&
	cairn push --chunk-size 64k big "127.0.0.1:$fport/test/big:1" >"$TMP/cancel.out" 2>"$TMP/cancel.log" &&
	expect_eq "$(cat "$TMP/cancel.out")" "$(cat "$TMP/big.local")" &&
	layer=$(cairn inspect big | jq -r ".Manifest.layers[-1].digest") &&
	cmp "$fake/blobs/${layer#sha256:}" "$CAIRN_ROOT/blobs/sha256/${layer#sha256:}" &&
	test "$(grep -c "^POST /v2/test/big/blobs/uploads/" "$fake.log")" -ge 2
'

test_expect_success ROOT,REGISTRY,NETNS 'a registry off loopback: plain HTTP refused, allowed by registries.conf insecure' '
	cat >"$TMP/insecure.conf" <<-EOF &&
	[[registry]]
	location = "10.231.0.1:5000"
	insecure = true
	EOF
	printf "version: 0.1\nlog: {level: error}\nstorage: {filesystem: {rootdirectory: %s}}\nhttp: {addr: 10.231.0.1:5000}\n" "$TMP/netns-data" >"$TMP/netns.yml" &&
	# a network namespace of its own: the address exists only there
	unshare --net bash -c "
		ip link set lo up && ip addr add 10.231.0.1/32 dev lo &&
		env -u REGISTRY_AUTH_FILE docker-registry serve $TMP/netns.yml >$TMP/netns.log 2>&1 &
		reg=\$!
		trap \"kill \$reg; wait \$reg\" EXIT
		for i in \$(seq 50); do curl -s -o /dev/null --noproxy \"*\" http://10.231.0.1:5000/v2/ && break; sleep 0.1; done
		export no_proxy=10.231.0.1 NO_PROXY=10.231.0.1
		! $CAIRN push -q img 10.231.0.1:5000/test/img:1 2>$TMP/insecure.err || exit 1
		CONTAINERS_REGISTRIES_CONF=$TMP/insecure.conf $CAIRN push -q img 10.231.0.1:5000/test/img:1 >$TMP/insecure.out || exit 1
	" &&
	expect_contains "$(cat "$TMP/insecure.err")" "https://10.231.0.1:5000/v2/" &&
	expect_contains "$(cat "$TMP/insecure.err")" "insecure = true for it in registries.conf" &&
	expect_eq "$(cat "$TMP/insecure.out")" "$(cat "$TMP/local")"
'

# ---- basic auth (htpasswd) ----
if test_have_prereq REGISTRY; then
	htpasswd -Bbn user s3cret-pw >"$TMP/htpasswd"
	start_registry auth "$TMP/htpasswd"
	areg="127.0.0.1:$port"
fi

test_expect_success ROOT,REGISTRY 'push without credentials is refused with a 401' '
	! cairn push -q img "$areg/team/app:1" 2>"$TMP/err401" &&
	expect_contains "$(cat "$TMP/err401")" "401 Unauthorized"
'

test_expect_success REGISTRY 'a wrong password: login fails clearly and writes nothing' '
	printf "{\"auths\": {\"other.example\": {\"auth\": \"eDp5\"}}}\n" >"$REGISTRY_AUTH_FILE" &&
	cp "$REGISTRY_AUTH_FILE" "$TMP/auth.before" &&
	! printf "wr0ng-pw\n" | cairn login -u user --password-stdin "$areg" >/dev/null 2>"$TMP/errlogin" &&
	expect_contains "$(cat "$TMP/errlogin")" "401" &&
	! grep -q "wr0ng-pw" "$TMP/errlogin" &&
	cmp "$REGISTRY_AUTH_FILE" "$TMP/auth.before"
'

test_expect_success ROOT,REGISTRY 'login stores the credentials (0600, other entries kept); push then works' '
	printf "s3cret-pw\n" | cairn login -u user --password-stdin "$areg" >/dev/null &&
	expect_eq "$(stat -c %a "$REGISTRY_AUTH_FILE")" 600 &&
	expect_eq "$(jq -r --arg r "$areg" ".auths[\$r].auth" "$REGISTRY_AUTH_FILE" | base64 -d)" "user:s3cret-pw" &&
	expect_eq "$(jq -r ".auths[\"other.example\"].auth" "$REGISTRY_AUTH_FILE")" "eDp5" &&
	cairn push img "$areg/team/app:1" >"$TMP/apushed" 2>"$TMP/aprogress" &&
	expect_eq "$(cat "$TMP/apushed")" "$(cat "$TMP/local")" &&
	skopeo inspect --tls-verify=false --creds user:s3cret-pw "docker://$areg/team/app:1" | jq -r .Digest >"$TMP/aremote" &&
	expect_eq "$(cat "$TMP/aremote")" "$(cat "$TMP/local")" &&
	CAIRN_ROOT=$TMP/store3 cairn pull -q "$areg/team/app:1" >"$TMP/apulled" &&
	expect_eq "$(cat "$TMP/apulled")" "$(cat "$TMP/local")"
'

test_expect_success ROOT,REGISTRY 'logout removes the entry and keeps the others' '
	cairn logout "$areg" >/dev/null &&
	expect_eq "$(jq -r --arg r "$areg" ".auths[\$r] // \"gone\"" "$REGISTRY_AUTH_FILE")" gone &&
	expect_eq "$(jq -r ".auths[\"other.example\"].auth" "$REGISTRY_AUTH_FILE")" "eDp5" &&
	! cairn logout "$areg" 2>"$TMP/errlogout" &&
	expect_contains "$(cat "$TMP/errlogout")" "not logged in"
'

test_expect_success REGISTRY 'without REGISTRY_AUTH_FILE login writes XDG_RUNTIME_DIR/containers/auth.json' '
	printf "s3cret-pw\n" | env -u REGISTRY_AUTH_FILE XDG_RUNTIME_DIR=$TMP/run "$CAIRN" login -u user --password-stdin "$areg" >/dev/null &&
	expect_eq "$(stat -c %a "$TMP/run/containers/auth.json")" 600 &&
	env -u REGISTRY_AUTH_FILE XDG_RUNTIME_DIR=$TMP/run "$CAIRN" logout "$areg" >/dev/null &&
	expect_eq "$(jq -c .auths "$TMP/run/containers/auth.json")" "{}"
'

stop_servers
test_done
