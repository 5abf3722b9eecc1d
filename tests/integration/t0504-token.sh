#!/bin/bash
# The bearer-token flow against a real registry: Debian's docker-registry with
# `auth: token`, in front of it a token server in python (tokenserver.py) that
# signs JWTs. Anonymous pulls, pushes with credentials, a cross-repository mount
# (a token for two repositories), a refused password. Loopback only.
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/registry.sh"

ctx="$TMP/ctx"
make_busybox_context "$ctx"
busybox_base >"$ctx/Recipe"
export REGISTRY_AUTH_FILE="$TMP/auth.json"

if test_have_prereq REGISTRY; then
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=cairn-test-token \
		-keyout "$TMP/token.key" -out "$TMP/token.crt" >"$TMP/openssl.log" 2>&1

	tport=$(free_port)
	TOKEN_DENY="$TMP/deny" python3 "$CAIRN_SOURCE_ROOT/tests/integration/tokenserver.py" "$tport" "$TMP/token.key" \
		"$TMP/token.crt" cairn-test "ci:t0ken-pw" >"$TMP/token.log" 2>&1 &
	echo $! >>"$pidfile"

	# the registry, its auth delegated to the token server
	port=$(free_port)
	mkdir -p "$TMP/reg"
	cat >"$TMP/reg/config.yml" <<CFG
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $TMP/reg/data}}
http: {addr: 127.0.0.1:$port}
auth:
  token:
    realm: http://127.0.0.1:$tport/token
    service: cairn-test
    issuer: cairn-test-issuer
    rootcertbundle: $TMP/token.crt
CFG
	env -u REGISTRY_AUTH_FILE docker-registry serve "$TMP/reg/config.yml" >"$TMP/reg/log" 2>&1 &
	echo $! >>"$pidfile"
	wait_port "$port"
	reg="127.0.0.1:$port"
fi

test_expect_success ROOT,REGISTRY 'push without credentials: the token allows pull only, a clear 401' '
	cairn build -q -t img "$ctx" >"$TMP/local" &&
	! cairn push -q img "$reg/team/base:1" 2>"$TMP/err" &&
	expect_contains "$(cat "$TMP/err")" "401" &&
	grep -Eq "scope=repository%3Ateam%2Fbase%3A(pull%2Cpush|push%2Cpull)" "$TMP/token.log"
'

test_expect_success ROOT,REGISTRY 'with login, push gets a pull,push token and the registry has our digest' '
	printf "t0ken-pw\n" | cairn login -u ci --password-stdin "$reg" >/dev/null &&
	cairn push img "$reg/team/base:1" >"$TMP/pushed" 2>"$TMP/log" &&
	expect_eq "$(cat "$TMP/pushed")" "$(cat "$TMP/local")" &&
	grep -q "\[basic ci\]" "$TMP/token.log" &&
	! grep -q "t0ken-pw" "$TMP/log" &&
	token=$(curl -s -u ci:t0ken-pw "http://127.0.0.1:$tport/token?service=cairn-test&scope=repository:team/base:pull" | jq -r .token) &&
	curl -sf -H "Authorization: Bearer $token" -H "Accept: application/vnd.oci.image.manifest.v1+json" \
		"http://$reg/v2/team/base/manifests/1" | sha256sum | sed "s/^/sha256:/; s/ .*//" >"$TMP/remote" &&
	expect_eq "$(cat "$TMP/remote")" "$(cat "$TMP/local")"
'

test_expect_success ROOT,REGISTRY 'an anonymous pull into an empty store gets a token and the same digest' '
	CAIRN_ROOT=$TMP/store2 env -u REGISTRY_AUTH_FILE XDG_RUNTIME_DIR=$TMP/none HOME=$TMP/none \
		"$CAIRN" pull -q "$reg/team/base:1" >"$TMP/pulled" &&
	expect_eq "$(cat "$TMP/pulled")" "$(cat "$TMP/local")"
'

test_expect_success ROOT,REGISTRY 'build FROM the pulled base and push elsewhere: base layers are mounted' '
	CAIRN_ROOT=$TMP/store3 "$CAIRN" pull -q "$reg/team/base:1" >/dev/null &&
	printf "FROM %s\nRUN echo app > /app\n" "$reg/team/base:1" >"$TMP/Recipe.app" &&
	CAIRN_ROOT=$TMP/store3 "$CAIRN" build --push -f "$TMP/Recipe.app" -t "$reg/team/app:1" "$ctx" >"$TMP/app.digest" 2>"$TMP/log" &&
	expect_eq "$(grep -c "^mount sha256:" "$TMP/log")" 2 &&
	# one token request for both repositories (scopes and actions in the order the
	# registry lists them, which varies)
	grep "scope=repository%3Ateam%2Fapp%3A" "$TMP/token.log" |
		grep -q "scope=repository%3Ateam%2Fbase%3Apull" &&
	skopeo inspect --tls-verify=false --creds ci:t0ken-pw "docker://$reg/team/app:1" | jq -r .Digest >"$TMP/app.remote" &&
	expect_eq "$(cat "$TMP/app.remote")" "$(cat "$TMP/app.digest")"
'

test_expect_success ROOT,REGISTRY 'a mount the token does not allow falls back to an upload' '
	echo team/base >"$TMP/deny" &&
	printf "FROM %s\nRUN echo app2 > /app2\n" "$reg/team/base:1" >"$TMP/Recipe.app2" &&
	CAIRN_ROOT=$TMP/store3 "$CAIRN" build --push -f "$TMP/Recipe.app2" -t "$reg/team/app2:1" "$ctx" >"$TMP/app2.digest" 2>"$TMP/log2" &&
	rm "$TMP/deny" &&
	! grep -q "^mount sha256:" "$TMP/log2" &&
	expect_eq "$(grep -c "^push sha256:" "$TMP/log2")" 4 &&
	skopeo inspect --tls-verify=false --creds ci:t0ken-pw "docker://$reg/team/app2:1" | jq -r .Digest >"$TMP/app2.remote" &&
	expect_eq "$(cat "$TMP/app2.remote")" "$(cat "$TMP/app2.digest")"
'

test_expect_success ROOT,REGISTRY 'a wrong password: the token server refuses, login fails and stores nothing' '
	cp "$REGISTRY_AUTH_FILE" "$TMP/auth.before" &&
	! printf "wrong\n" | cairn login -u ci --password-stdin "$reg" >/dev/null 2>"$TMP/err" &&
	expect_contains "$(cat "$TMP/err")" "401" &&
	! grep -q wrong "$TMP/err" &&
	cmp "$REGISTRY_AUTH_FILE" "$TMP/auth.before"
'

stop_servers
test_done
