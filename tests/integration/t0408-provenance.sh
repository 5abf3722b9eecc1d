#!/bin/bash
# Provenance: every build attaches an SLSA v1 statement (in-toto) to its image as an
# OCI artifact in the store; push sends it with the image (the referrers tag schema
# on Debian's docker-registry, which has no referrers API); cairn verify rebuilds an
# image from it, from the store or from a loopback registry, and compares digests.
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/registry.sh"

unset SOURCE_DATE_EPOCH
export REGISTRY_AUTH_FILE="$TMP/auth.json"
INTOTO=application/vnd.in-toto+json

ctx="$TMP/ctx"
make_busybox_context "$ctx"
busybox_base >"$TMP/Recipe.base"
echo hello >"$ctx/hello.txt"
echo "s3cr3t-value-$$" >"$TMP/secret"
# the app's recipe on base image $1
app_recipe() {
	cat <<EOF
FROM $1
ARG GREETING=hi
COPY hello.txt /hello.txt
RUN --mount=type=secret,id=tok cat /run/secrets/tok >/dev/null && echo "\$GREETING" >/greeting
EOF
}
app_recipe base >"$ctx/Recipe"

# artifact DIGEST: the provenance artifact index.json records about image DIGEST.
artifact() {
	jq -r --arg d "$1" '.manifests[] | select(.artifactType == "'$INTOTO'" and
		.annotations["dev.cairn.referrer.subject"] == $d) | .digest' "$CAIRN_ROOT/index.json"
}
blob() { echo "$CAIRN_ROOT/blobs/sha256/${1#sha256:}"; }
hex() { echo "${1#sha256:}"; }

build_app() {
	cairn build -q --source-date-epoch 1700000000 --build-arg GREETING=hello \
		--secret id=tok,src="$TMP/secret" "$@"
}

test_expect_success ROOT 'a build attaches a provenance artifact whose subject is the image' '
	cairn build -q --source-date-epoch 1700000000 -f "$TMP/Recipe.base" -t base "$ctx" >"$TMP/base" &&
	build_app -t app:1 "$ctx" >"$TMP/app" &&
	d=$(cat "$TMP/app") &&
	a=$(artifact "$d") &&
	expect_eq "$(echo "$a" | wc -w)" 1 &&
	m=$(blob "$a") &&
	expect_eq "$(jq -r .artifactType "$m")" $INTOTO &&
	expect_eq "$(jq -r .subject.digest "$m")" "$d" &&
	expect_eq "$(jq -r .config.mediaType "$m")" application/vnd.oci.empty.v1+json &&
	expect_eq "$(jq -r .config.size "$m")" 2 &&
	expect_eq "$(cat "$(blob "$(jq -r .config.digest "$m")")")" "{}" &&
	expect_eq "$(jq -r ".layers | length" "$m")" 1 &&
	expect_eq "$(jq -r ".layers[0].mediaType" "$m")" $INTOTO &&
	expect_eq "$(jq -r ".layers[0].annotations[\"in-toto.io/predicate-type\"]" "$m")" \
		https://slsa.dev/provenance/v1 &&
	blob "$(jq -r ".layers[0].digest" "$m")" >"$TMP/stmt.path"
'

st() { jq -r "$1" "$(cat "$TMP/stmt.path")"; }

test_expect_success ROOT 'the statement holds what a rebuild needs' '
	d=$(cat "$TMP/app") &&
	expect_eq "$(st ._type)" https://in-toto.io/Statement/v1 &&
	expect_eq "$(st .predicateType)" https://slsa.dev/provenance/v1 &&
	expect_eq "$(st ".subject[0].digest.sha256")" "$(hex "$d")" &&
	ext=".predicate.buildDefinition.externalParameters" &&
	expect_eq "$(st "$ext.recipe.path")" Recipe &&
	expect_eq "$(st "$ext.recipe.digest.sha256")" "$(sha256sum <"$ctx/Recipe" | cut -d" " -f1)" &&
	expect_eq "$(st "$ext.context.digest.sha256" | wc -c)" 65 &&
	expect_eq "$(st "$ext.buildArgs.GREETING")" hello &&
	expect_eq "$(st "$ext.sourceDateEpoch")" 1700000000 &&
	expect_eq "$(st "$ext.platform")" "linux/$(cairn inspect app:1 | jq -r .Config.architecture)" &&
	expect_eq "$(st ".predicate.buildDefinition.buildType")" urn:cairn:build-type:recipe:v1 &&
	expect_eq "$(st ".predicate.buildDefinition.resolvedDependencies[0].name")" base &&
	expect_eq "$(st ".predicate.buildDefinition.resolvedDependencies[0].digest.sha256")" \
		"$(hex "$(cat "$TMP/base")")" &&
	expect_eq "$(st ".predicate.runDetails.builder.version.cairn")" \
		"$(cairn --version | cut -d" " -f2)" &&
	st ".predicate.runDetails.byproducts[] | .annotations.instruction" >"$TMP/instrs" &&
	expect_eq "$(cat "$TMP/instrs" | head -1)" "ARG GREETING=hi" &&
	expect_eq "$(wc -l <"$TMP/instrs")" 3 &&
	st ".predicate.runDetails.byproducts[].digest.sha256" >"$TMP/keys" &&
	expect_eq "$(grep -cE "^[0-9a-f]{64}$" "$TMP/keys")" 3 &&
	expect_eq "$(sort -u "$TMP/keys" | wc -l)" 3 &&
	expect_eq "$(st ".predicate.runDetails.metadata | has(\"startedOn\")")" false
'

# ctxdigest DIR: the context digest the statement of a build of DIR records
ctxdigest() {
	d=$(CAIRN_ROOT="$TMP/ctxd" cairn build -q --source-date-epoch 1 "$1") &&
	CAIRN_ROOT="$TMP/ctxd" artifact "$d" >"$TMP/ctxd.a" &&
	m=$(CAIRN_ROOT="$TMP/ctxd" blob "$(cat "$TMP/ctxd.a")") &&
	jq -r .predicate.buildDefinition.externalParameters.context.digest.sha256 \
		"$(CAIRN_ROOT="$TMP/ctxd" blob "$(jq -r ".layers[0].digest" "$m")")"
}

test_expect_success ROOT 'the context digest covers what the build reads, not the rest' '
	mkdir -p "$TMP/cd" &&
	printf "FROM scratch\nCOPY hello.txt /hello.txt\n" >"$TMP/cd/Recipe" &&
	echo one >"$TMP/cd/hello.txt" &&
	c1=$(ctxdigest "$TMP/cd") &&
	expect_eq "$(echo "$c1" | wc -c)" 65 &&
	echo unread >"$TMP/cd/other.txt" &&
	expect_eq "$(ctxdigest "$TMP/cd")" "$c1" &&
	echo two >"$TMP/cd/hello.txt" &&
	c2=$(ctxdigest "$TMP/cd") &&
	test "$c2" != "$c1"
'

test_expect_success ROOT 'secrets are not in the statement; cairn verify --print shows it' '
	! grep -q "s3cr3t-value" "$(cat "$TMP/stmt.path")" &&
	cairn verify --print app:1 >"$TMP/printed" &&
	expect_eq "$(jq -c . "$TMP/printed")" "$(jq -c . "$(cat "$TMP/stmt.path")")"
'

test_expect_success ROOT 'a rebuild of the same definition keeps its statement, writing nothing' '
	a=$(artifact "$(cat "$TMP/app")") &&
	cp "$CAIRN_ROOT/index.json" "$TMP/index.before" &&
	build_app -t app:1 "$ctx" >"$TMP/app.again" &&
	expect_eq "$(cat "$TMP/app.again")" "$(cat "$TMP/app")" &&
	expect_eq "$(artifact "$(cat "$TMP/app")")" "$a" &&
	cmp "$CAIRN_ROOT/index.json" "$TMP/index.before"
'

test_expect_success ROOT '--provenance=false attaches none; buildx spellings are taken' '
	printf "FROM base\nRUN echo other >/other\n" >"$TMP/Recipe.nop" &&
	cairn build -q --provenance=false -f "$TMP/Recipe.nop" -t nop "$ctx" >"$TMP/nop" &&
	expect_eq "$(artifact "$(cat "$TMP/nop")")" "" &&
	test_expect_code 2 cairn verify nop "$ctx" 2>"$TMP/nop.err" &&
	expect_contains "$(cat "$TMP/nop.err")" "has no provenance" &&
	cairn build -q --provenance=mode=max -f "$TMP/Recipe.nop" -t nop "$ctx" >/dev/null &&
	expect_eq "$(artifact "$(cat "$TMP/nop")" | wc -w)" 1 &&
	test_expect_code 2 cairn build --provenance=maybe -f "$TMP/Recipe.nop" "$ctx" 2>"$TMP/bad" &&
	expect_contains "$(cat "$TMP/bad")" "--provenance=maybe"
'

test_expect_success ROOT 'cairn images lists no artifact' '
	cairn images >"$TMP/images" &&
	expect_eq "$(tail -n +2 "$TMP/images" | wc -l)" 3 &&
	! grep -q "<none>" "$TMP/images"
'

test_expect_success ROOT,SKOPEO 'skopeo still reads the store layout' '
	skopeo inspect "oci:$CAIRN_ROOT:app:1" | jq -r .Digest >"$TMP/skopeo" &&
	expect_eq "$(cat "$TMP/skopeo")" "$(cat "$TMP/app")"
'

test_expect_success ROOT,UMOCI 'umoci still lists the store layout' '
	umoci ls --layout "$CAIRN_ROOT" | sort >"$TMP/umoci" &&
	grep -qx "app:1" "$TMP/umoci"
'

test_expect_success ROOT 'a build not pinned in time records when it ran; rmi drops the statement' '
	a=$(artifact "$(cat "$TMP/nop")") &&
	stmt=$(blob "$(jq -r ".layers[0].digest" "$(blob "$a")")") &&
	jq -e ".predicate.runDetails.metadata.startedOn | test(\"^[0-9-]+T[0-9:]+Z$\")" "$stmt" >/dev/null &&
	cairn rmi nop >/dev/null &&
	expect_eq "$(artifact "$(cat "$TMP/nop")")" "" &&
	expect_eq "$(artifact "$(cat "$TMP/app")" | wc -w)" 1
'

test_expect_success ROOT 'cairn verify of a store image rebuilds it to its digest' '
	cairn verify --secret id=tok,src="$TMP/secret" app:1 "$ctx" >"$TMP/v.out" 2>"$TMP/v.err" &&
	expect_eq "$(cat "$TMP/v.out")" "verified: app:1 rebuilds to $(cat "$TMP/app") (match)"
'

test_expect_success ROOT 'an image built with the host network is rebuilt with it only when asked' '
	mkdir -p "$TMP/hostnet" &&
	printf "FROM scratch\nCOPY f /f\n" >"$TMP/hostnet/Recipe" &&
	echo f >"$TMP/hostnet/f" &&
	cairn build -q --network host --source-date-epoch 1 -t hostnet "$TMP/hostnet" >"$TMP/hostnet.d" &&
	test_expect_code 2 cairn verify hostnet "$TMP/hostnet" 2>"$TMP/hostnet.err" &&
	expect_contains "$(cat "$TMP/hostnet.err")" "cairn verify --network host" &&
	cairn verify --network host hostnet "$TMP/hostnet" >"$TMP/hostnet.out" 2>/dev/null &&
	expect_contains "$(cat "$TMP/hostnet.out")" "(match)" &&
	test_expect_code 2 cairn verify --network bogus hostnet "$TMP/hostnet" 2>/dev/null
'

test_expect_success ROOT 'a recipe whose digest changed is refused, both digests named' '
	cp -a "$ctx" "$TMP/ctx-recipe" &&
	echo "# changed" >>"$TMP/ctx-recipe/Recipe" &&
	now=$(sha256sum <"$TMP/ctx-recipe/Recipe" | cut -d" " -f1) &&
	was=$(sha256sum <"$ctx/Recipe" | cut -d" " -f1) &&
	test_expect_code 2 cairn verify --secret id=tok,src="$TMP/secret" app:1 "$TMP/ctx-recipe" \
		2>"$TMP/recipe.err" &&
	expect_contains "$(cat "$TMP/recipe.err")" "sha256:$now" &&
	expect_contains "$(cat "$TMP/recipe.err")" "sha256:$was"
'

if test_have_prereq ROOT,REGISTRY; then
	start_registry open
	reg="127.0.0.1:$port"
fi

test_expect_success ROOT,REGISTRY 'build --push sends the provenance under the fallback tag' '
	cairn tag base "$reg/test/base:1" &&
	cairn push -q "$reg/test/base:1" >/dev/null &&
	app_recipe "$reg/test/base:1" >"$ctx/Recipe" &&
	cairn build --source-date-epoch 1700000000 --build-arg GREETING=hello \
		--secret id=tok,src="$TMP/secret" -t "$reg/test/app:1" --push "$ctx" \
		>"$TMP/rapp" 2>"$TMP/rapp.err" &&
	d=$(cat "$TMP/rapp") &&
	a=$(artifact "$d") &&
	expect_contains "$(cat "$TMP/rapp.err")" "pushed provenance $a (the referrers tag schema)" &&
	expect_eq "$(echo "$a" | wc -w)" 1 &&
	# the image app:1 is, from another recipe: its statement is the newest build'"'"'s
	expect_eq "$d" "$(cat "$TMP/app")" &&
	cairn verify --print "$d" | jq -r ".predicate.buildDefinition.resolvedDependencies[0].name" >"$TMP/rbase" &&
	expect_eq "$(cat "$TMP/rbase")" "$reg/test/base:1" &&
	curl -s -o /dev/null -w "%{http_code}" "http://$reg/v2/test/app/referrers/$d" >"$TMP/api" &&
	expect_eq "$(cat "$TMP/api")" 404 &&
	curl -sf -H "Accept: application/vnd.oci.image.index.v1+json" \
		"http://$reg/v2/test/app/manifests/sha256-$(hex "$d")" >"$TMP/fallback" &&
	expect_eq "$(jq -r .mediaType "$TMP/fallback")" application/vnd.oci.image.index.v1+json &&
	expect_eq "$(jq -r ".manifests | length" "$TMP/fallback")" 1 &&
	expect_eq "$(jq -r ".manifests[0].digest" "$TMP/fallback")" "$a" &&
	expect_eq "$(jq -r ".manifests[0].artifactType" "$TMP/fallback")" $INTOTO &&
	curl -sf -H "Accept: application/vnd.oci.image.manifest.v1+json" \
		"http://$reg/v2/test/app/manifests/$a" | jq -r .subject.digest >"$TMP/subject" &&
	expect_eq "$(cat "$TMP/subject")" "$d"
'

test_expect_success ROOT,REGISTRY 'pushing again keeps one entry under the fallback tag' '
	d=$(cat "$TMP/rapp") &&
	cairn push "$reg/test/app:1" >/dev/null 2>"$TMP/push.err" &&
	expect_contains "$(cat "$TMP/push.err")" "pushed provenance" &&
	curl -sf -H "Accept: application/vnd.oci.image.index.v1+json" \
		"http://$reg/v2/test/app/manifests/sha256-$(hex "$d")" >"$TMP/fallback2" &&
	expect_eq "$(jq -r ".manifests | length" "$TMP/fallback2")" 1
'

test_expect_success ROOT,REGISTRY 'an image without provenance is pushed alone' '
	printf "FROM base\nRUN echo alone >/alone\n" >"$TMP/Recipe.alone" &&
	cairn build -q --provenance=false -f "$TMP/Recipe.alone" -t "$reg/test/nop:1" "$ctx" >"$TMP/alone" &&
	d=$(cat "$TMP/alone") &&
	cairn push "$reg/test/nop:1" >/dev/null 2>"$TMP/nop.push" &&
	! grep -q provenance "$TMP/nop.push" &&
	curl -s -o /dev/null -w "%{http_code}" "http://$reg/v2/test/nop/manifests/sha256-$(hex "$d")" >"$TMP/nopcode" &&
	expect_eq "$(cat "$TMP/nopcode")" 404
'

test_expect_success ROOT,REGISTRY 'cairn verify of a registry image with an empty store passes' '
	CAIRN_ROOT="$TMP/empty" cairn verify --secret id=tok,src="$TMP/secret" "$reg/test/app:1" "$ctx" \
		>"$TMP/rv.out" 2>"$TMP/rv.err" &&
	expect_eq "$(cat "$TMP/rv.out")" "verified: $reg/test/app:1 rebuilds to $(cat "$TMP/rapp") (match)" &&
	expect_eq "$(CAIRN_ROOT="$TMP/empty" cairn images | tail -n +2 | wc -l)" 0 &&
	expect_eq "$(find "$TMP/empty/cairn/tmp" -mindepth 2 -name "verify-*" | wc -l)" 0
'

test_expect_success ROOT,REGISTRY 'after a context file changed, verify fails and names it' '
	cp -a "$ctx" "$TMP/ctx-changed" &&
	echo changed >"$TMP/ctx-changed/hello.txt" &&
	rc=0 &&
	CAIRN_ROOT="$TMP/empty" cairn verify --secret id=tok,src="$TMP/secret" "$reg/test/app:1" \
		"$TMP/ctx-changed" >"$TMP/bad.out" 2>"$TMP/bad.err" || rc=$? &&
	cat "$TMP/bad.err" "$TMP/bad.out" &&
	expect_eq "$rc" 1 &&
	expect_contains "$(cat "$TMP/bad.out")" "hello.txt" &&
	expect_contains "$(cat "$TMP/bad.err")" "is not what" &&
	expect_contains "$(cat "$TMP/bad.err")" "COPY hello.txt /hello.txt"
'

test_expect_success ROOT,REGISTRY 'a registry with the referrers API: no fallback tag, found through the API' '
	fake="$TMP/fake-referrers" &&
	mkdir -p "$fake" &&
	start_fake "$fake" referrers &&
	d=$(cat "$TMP/rapp") &&
	cairn push "$reg/test/app:1" "127.0.0.1:$fport/test/app:1" >/dev/null 2>"$TMP/api.push" &&
	expect_contains "$(cat "$TMP/api.push")" "pushed provenance $(artifact "$d") (the referrers API)" &&
	! grep -q "manifests/sha256-" "$fake.log" &&
	CAIRN_ROOT="$TMP/empty-api" cairn verify -q --secret id=tok,src="$TMP/secret" \
		"127.0.0.1:$fport/test/app:1" "$ctx" >"$TMP/api.out" &&
	expect_contains "$(cat "$TMP/api.out")" "(match)" &&
	grep -q "^GET /v2/test/app/referrers/$d?artifactType=application/vnd.in-toto%2Bjson" "$fake.log" &&
	! grep -q "manifests/sha256-" "$fake.log"
'

test_expect_success ROOT,REGISTRY 'docker://REF reads the registry even when the store has the image' '
	cairn verify -q --secret id=tok,src="$TMP/secret" "docker://$reg/test/app:1" "$ctx" >"$TMP/dv.out" &&
	expect_contains "$(cat "$TMP/dv.out")" "(match)"
'

test_done
