#!/bin/bash
# The commands around a build: images, inspect, history, tag, rmi, --help, and the
# exit statuses; the store's index.json is read with jq to check what they did.
. "$(dirname "$0")/lib.sh"
unset SOURCE_DATE_EPOCH

ctx="$TMP/ctx"
make_busybox_context "$ctx"
{
	busybox_base
	printf 'RUN echo one >/one\nLABEL step=last\n'
} >"$ctx/Recipe"

# status CMD...: prints the exit status of cairn CMD (output to $TMP/status.out).
status() {
	cairn "$@" >"$TMP/status.out" 2>&1
	echo $?
}

test_expect_success ROOT 'build -q prints the manifest digest and -t app is stored as app:latest' '
	cairn build -q -t app "$ctx" >"$TMP/digest" &&
	grep -qE "^sha256:[0-9a-f]{64}$" "$TMP/digest" &&
	expect_eq "$(wc -l <"$TMP/digest")" 1 &&
	expect_eq "$(ref_digest app:latest)" "$(cat "$TMP/digest")" &&
	expect_eq "$(ref_digest app)" ""
'

test_expect_success ROOT 'several -t give the same image several references' '
	cairn build -q -t multi:1 -t multi:2 -t localhost:5000/multi "$ctx" >"$TMP/multi" &&
	for r in multi:1 multi:2 localhost:5000/multi:latest; do
		expect_eq "$(ref_digest "$r")" "$(cat "$TMP/multi")" || return 1
	done &&
	cairn rmi multi:1 multi:2 localhost:5000/multi >/dev/null &&
	expect_eq "$(ref_digest multi:1)$(ref_digest multi:2)" ""
'

test_expect_success ROOT 'the manifest digest is the sha256 of the manifest blob' '
	d=$(cat "$TMP/digest") &&
	expect_eq "sha256:$(sha256sum "$CAIRN_ROOT/blobs/sha256/${d#sha256:}" | cut -d" " -f1)" "$d" &&
	expect_eq "$(jq -r ".mediaType" "$CAIRN_ROOT/blobs/sha256/${d#sha256:}")" \
		application/vnd.oci.image.manifest.v1+json
'

test_expect_success ROOT 'inspect gives Reference, Digest, Manifest and Config; the digest is the build one' '
	cairn inspect app >"$TMP/inspect.json" &&
	expect_eq "$(jq -c "keys" "$TMP/inspect.json")" "[\"Config\",\"Digest\",\"Manifest\",\"Reference\"]" &&
	expect_eq "$(jq -r .Digest "$TMP/inspect.json")" "$(cat "$TMP/digest")" &&
	expect_eq "$(jq -r .Reference "$TMP/inspect.json")" app:latest &&
	expect_eq "$(jq -r .Config.config.Labels.step "$TMP/inspect.json")" last &&
	# the config in the output is the config blob the manifest names
	c=$(jq -r .Manifest.config.digest "$TMP/inspect.json") &&
	expect_eq "$(jq -cS . "$CAIRN_ROOT/blobs/sha256/${c#sha256:}")" "$(jq -cS .Config "$TMP/inspect.json")"
'

test_expect_success ROOT 'inspect accepts a manifest digest' '
	expect_eq "$(cairn inspect "$(cat "$TMP/digest")" | jq -r .Digest)" "$(cat "$TMP/digest")"
'

test_expect_success ROOT 'inspect of an unknown reference fails with status 1 and says why' '
	expect_eq "$(status inspect nope:1)" 1 &&
	expect_contains "$(cat "$TMP/status.out")" "nope:1" &&
	expect_eq "$(status inspect sha256:0000000000000000000000000000000000000000000000000000000000000000)" 1
'

test_expect_success ROOT 'images lists each tag with its digest, creation time and size' '
	cairn images >"$TMP/images" &&
	head -n 1 "$TMP/images" >"$TMP/header" &&
	for col in REFERENCE DIGEST CREATED SIZE; do
		grep -qw "$col" "$TMP/header" || return 1
	done &&
	expect_eq "$(wc -l <"$TMP/images")" 2 &&
	line=$(grep "^app:latest " "$TMP/images") &&
	set -- $line &&
	expect_eq "$1" app:latest &&
	expect_contains "$(cat "$TMP/digest")" "$2" &&
	expect_contains "$line" "ago" &&
	expect_contains "$line" "B"
'

test_expect_success ROOT 'images -q prints only the references' '
	expect_eq "$(cairn images -q)" app:latest &&
	expect_eq "$(cairn images --quiet)" app:latest
'

test_expect_success ROOT 'history lists the steps newest first, one per history entry' '
	cairn history app >"$TMP/history" &&
	n=$(cairn inspect app | jq ".Config.history | length") &&
	expect_eq "$(wc -l <"$TMP/history")" $((n + 1)) &&
	expect_contains "$(sed -n 2p "$TMP/history")" "LABEL step=last" &&
	expect_contains "$(sed -n 3p "$TMP/history")" "echo one >/one" &&
	expect_contains "$(tail -n 1 "$TMP/history")" "COPY" &&
	expect_contains "$(tail -n 1 "$TMP/history")" "busybox" &&
	# a metadata step has no layer
	expect_contains "$(sed -n 2p "$TMP/history")" " 0B"
'

test_expect_success ROOT 'history --no-trunc shows long instructions whole' '
	mkdir -p "$TMP/long" &&
	long=$(printf "x%.0s" $(seq 100)) &&
	printf "FROM app\nLABEL k=%s\n" "$long" >"$TMP/long/Recipe" &&
	cairn build -q -t long "$TMP/long" >/dev/null &&
	cairn history --no-trunc long | grep -q "LABEL k=$long" &&
	! cairn history long | grep -q "LABEL k=$long" &&
	cairn history long | grep -q "\.\.\."
'

test_expect_success ROOT 'tag: both references name the same digest in index.json' '
	cairn tag app:latest registry.example:5000/team/app:v2 &&
	expect_eq "$(ref_digest registry.example:5000/team/app:v2)" "$(cat "$TMP/digest")" &&
	expect_eq "$(ref_digest app:latest)" "$(cat "$TMP/digest")" &&
	expect_eq "$(cairn inspect registry.example:5000/team/app:v2 | jq -r .Digest)" "$(cat "$TMP/digest")"
'

test_expect_success ROOT 'tag without a tag in the target adds :latest' '
	cairn tag app other &&
	expect_eq "$(ref_digest other:latest)" "$(cat "$TMP/digest")"
'

test_expect_success ROOT 'tag moves an existing reference to the new image' '
	cairn tag long other &&
	expect_eq "$(ref_digest other:latest)" "$(cairn inspect long | jq -r .Digest)" &&
	expect_eq "$(jq "[.manifests[] | select(.annotations[\"org.opencontainers.image.ref.name\"] == \"other:latest\")] | length" "$CAIRN_ROOT/index.json")" 1
'

test_expect_success ROOT 'tag accepts a manifest digest as the source' '
	cairn tag "$(cat "$TMP/digest")" bydigest:1 &&
	expect_eq "$(ref_digest bydigest:1)" "$(cat "$TMP/digest")" &&
	cairn rmi bydigest:1 >/dev/null
'

test_expect_success ROOT 'tag of an unknown source fails and adds nothing' '
	cp "$CAIRN_ROOT/index.json" "$TMP/index.before" &&
	expect_eq "$(status tag nope:1 x:1)" 1 &&
	cmp "$CAIRN_ROOT/index.json" "$TMP/index.before"
'

test_expect_success ROOT 'rmi removes only the reference; the image stays under its other tags' '
	cairn rmi registry.example:5000/team/app:v2 >"$TMP/rmi.out" &&
	expect_contains "$(cat "$TMP/rmi.out")" "registry.example:5000/team/app:v2" &&
	expect_eq "$(ref_digest registry.example:5000/team/app:v2)" "" &&
	expect_eq "$(ref_digest app:latest)" "$(cat "$TMP/digest")" &&
	expect_eq "$(status inspect registry.example:5000/team/app:v2)" 1 &&
	d=$(cat "$TMP/digest") &&
	test -f "$CAIRN_ROOT/blobs/sha256/${d#sha256:}" &&
	cairn inspect app >/dev/null &&
	expect_eq "$(cairn images -q | sort | tr "\n" " ")" "app:latest long:latest other:latest "
'

test_expect_success 'rmi of an unknown reference fails with status 1' '
	expect_eq "$(status rmi nope:1)" 1 &&
	expect_contains "$(cat "$TMP/status.out")" "nope:1"
'

test_expect_success ROOT 'rmi of a digest reference fails with status 1 and says to name a tag' '
	expect_eq "$(status rmi "app@$(cat "$TMP/digest")")" 1 &&
	expect_contains "$(cat "$TMP/status.out")" "remove a tag, not a digest" &&
	expect_eq "$(ref_digest app:latest)" "$(cat "$TMP/digest")"
'

test_expect_success ROOT 'build -t with an invalid reference fails and tags nothing' '
	cp "$CAIRN_ROOT/index.json" "$TMP/index.before" &&
	for bad in UPPER "app:bad tag" "-app" "app:" "a//b"; do
		st=$(status build -q -t "$bad" "$ctx") &&
		expect_eq "$st" 1 &&
		expect_contains "$(cat "$TMP/status.out")" "$bad" || return 1
	done &&
	cmp "$CAIRN_ROOT/index.json" "$TMP/index.before"
'

test_expect_success ROOT 'tag to an invalid reference fails' '
	expect_eq "$(status tag app UPPER)" 1 &&
	expect_eq "$(ref_digest UPPER:latest)" ""
'

test_expect_success 'every command --help exits 0 and prints its usage' '
	# the commands cairn --help lists, which must include the six of the issue
	cmds=$(cairn --help | sed -n "/^Commands:/,/^\$/p" | awk "NF > 1 && \$1 != \"Commands:\" { print \$1 }") &&
	for c in build images inspect history tag rmi; do
		expect_contains " $(echo $cmds) " " $c " || return 1
	done &&
	for c in $cmds; do
		cairn "$c" --help >"$TMP/help" 2>"$TMP/help.err" || { echo "$c --help failed"; return 1; }
		grep -q "^usage: cairn $c" "$TMP/help" || { echo "no usage for $c"; cat "$TMP/help"; return 1; }
		test ! -s "$TMP/help.err" || return 1
		cairn "$c" -h | grep -q "^usage: cairn $c" || return 1
	done &&
	cairn --help | grep -q "^usage: cairn" &&
	cairn --help | grep -q "Commands:"
'

test_expect_success 'an unknown command exits 2 and names it' '
	expect_eq "$(status frobnicate)" 2 &&
	expect_contains "$(cat "$TMP/status.out")" "frobnicate"
'

test_expect_success 'commands with missing or extra arguments exit 2 with usage' '
	expect_eq "$(status inspect)" 2 && expect_contains "$(cat "$TMP/status.out")" "usage" &&
	expect_eq "$(status tag app)" 2 &&
	expect_eq "$(status rmi)" 2 &&
	expect_eq "$(status history)" 2 &&
	expect_eq "$(status build)" 2 &&
	expect_eq "$(status images --bogus)" 2 &&
	expect_eq "$(status)" 2
'

test_expect_success ROOT '--root chooses the store over $CAIRN_ROOT' '
	mkdir -p "$TMP/other-store" &&
	cairn --root "$TMP/other-store" build -q -t elsewhere "$ctx" >/dev/null &&
	test -f "$TMP/other-store/index.json" &&
	expect_eq "$(cairn --root "$TMP/other-store" images -q)" elsewhere:latest &&
	expect_eq "$(status inspect elsewhere)" 1
'

test_expect_success 'libcurl is loaded only by a command that talks to a registry' '
	! ldd "$CAIRN" | grep -q libcurl &&
	LD_DEBUG=files cairn images >/dev/null 2>"$TMP/ld.log" &&
	! grep -q "libcurl" "$TMP/ld.log"
'

test_done
