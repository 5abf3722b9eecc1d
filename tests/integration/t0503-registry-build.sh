#!/bin/bash
# Builds that use a registry, against Debian's docker-registry on loopback: FROM
# pulls its base (--pull=missing|always|never), build --push, cross-repository
# mounts, and the build cache shared through the registry (--cache-to and
# --cache-from). Nothing but 127.0.0.0/8 is ever contacted.
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/registry.sh"

ctx="$TMP/ctx"
make_busybox_context "$ctx"
busybox_base >"$ctx/Recipe"
export SOURCE_DATE_EPOCH=1700000000

if test_have_prereq REGISTRY; then
	start_registry open
	reg="127.0.0.1:$port"
fi

# store NAME: runs cairn with the store $TMP/NAME (created empty on first use)
in_store() {
	_s=$1
	shift
	CAIRN_ROOT="$TMP/$_s" "$CAIRN" "$@"
}

test_expect_success ROOT,REGISTRY 'an image pushed by skopeo is pulled by FROM into an empty store and used' '
	cairn build -q -t base "$ctx" >/dev/null &&
	skopeo copy -q --dest-tls-verify=false "oci:$CAIRN_ROOT:base:latest" "docker://$reg/lib/base:1" &&
	printf "FROM %s\nRUN echo from-pulled > /proof\n" "$reg/lib/base:1" >"$TMP/Recipe.app" &&
	in_store s1 build -f "$TMP/Recipe.app" -t app "$ctx" >/dev/null 2>"$TMP/log" &&
	expect_contains "$(cat "$TMP/log")" "pulling $reg/lib/base:1" &&
	grep -q "^pulled 3 blobs" "$TMP/log" &&
	CAIRN_ROOT=$TMP/s1 image_rootfs app "$TMP/app.root" &&
	expect_eq "$(cat "$TMP/app.root/proof")" from-pulled &&
	in_store s1 images | grep -q "$reg/lib/base"
'

test_expect_success ROOT,REGISTRY 'with the base in the store, a rebuild pulls nothing (--pull=missing)' '
	in_store s1 build -f "$TMP/Recipe.app" -t app "$ctx" >/dev/null 2>"$TMP/log" &&
	! grep -q "pulling" "$TMP/log"
'

test_expect_success ROOT,REGISTRY '--pull=always pulls a tag that moved; missing and never keep the old one' '
	printf "FROM base\nRUN echo v2 > /version\n" >"$TMP/Recipe.v2" &&
	cairn build -q -f "$TMP/Recipe.v2" -t base:v2 "$ctx" >/dev/null &&
	skopeo copy -q --dest-tls-verify=false "oci:$CAIRN_ROOT:base:v2" "docker://$reg/lib/base:1" &&
	printf "FROM %s\nRUN cat /version > /seen || echo none > /seen\n" "$reg/lib/base:1" >"$TMP/Recipe.seen" &&
	in_store s1 build -q --pull=never -f "$TMP/Recipe.seen" -t seen "$ctx" >/dev/null &&
	CAIRN_ROOT=$TMP/s1 image_rootfs seen "$TMP/seen1" &&
	expect_eq "$(cat "$TMP/seen1/seen")" none &&
	in_store s1 build --pull=always -f "$TMP/Recipe.seen" -t seen "$ctx" >/dev/null 2>"$TMP/log" &&
	expect_contains "$(cat "$TMP/log")" "pulling $reg/lib/base:1" &&
	CAIRN_ROOT=$TMP/s1 image_rootfs seen "$TMP/seen2" &&
	expect_eq "$(cat "$TMP/seen2/seen")" v2
'

test_expect_success ROOT,REGISTRY '--pull=never with the base missing fails without asking the registry' '
	lines=$(wc -l <"$TMP/open/log") &&
	! in_store s2 build -q --pull=never -f "$TMP/Recipe.app" "$ctx" >/dev/null 2>"$TMP/err" &&
	expect_contains "$(cat "$TMP/err")" "Recipe.app:1" &&
	expect_contains "$(cat "$TMP/err")" "--pull=never" &&
	expect_eq "$(wc -l <"$TMP/open/log")" "$lines" &&
	expect_eq "$(find "$TMP/s2/blobs" -type f 2>/dev/null | wc -l)" 0
'

test_expect_success 'a bad --pull policy is a usage error' '
	test_expect_code 2 cairn build --pull=sometimes "$ctx" 2>"$TMP/err" &&
	expect_contains "$(cat "$TMP/err")" "--pull=sometimes: expected missing, always or never"
'

test_expect_success ROOT,REGISTRY 'FROM a short name finds the docker.io tag pull made, without pulling' '
	cairn tag base docker.io/library/shortbase:latest &&
	printf "FROM shortbase\nRUN echo short > /s\n" >"$TMP/Recipe.short" &&
	cairn build -q --pull=never -f "$TMP/Recipe.short" -t short "$ctx" >/dev/null &&
	image_rootfs short "$TMP/short.root" &&
	expect_eq "$(cat "$TMP/short.root/s")" short
'

test_expect_success ROOT,REGISTRY 'inspect and rmi find a pulled image by its short name too' '
	expect_eq "$(cairn inspect shortbase | jq -r .Digest)" "$(cairn inspect base | jq -r .Digest)" &&
	expect_eq "$(cairn rmi shortbase)" "untagged docker.io/library/shortbase:latest" &&
	! cairn inspect shortbase 2>"$TMP/err" &&
	expect_contains "$(cat "$TMP/err")" "shortbase:latest is not in the store"
'

test_expect_success ROOT,REGISTRY 'COPY --from an image pulls it too' '
	printf "FROM scratch\nCOPY --from=%s /bin/busybox /bb\n" "$reg/lib/base:1" >"$TMP/Recipe.cf" &&
	in_store s3 build -q -f "$TMP/Recipe.cf" -t cf "$ctx" >/dev/null &&
	CAIRN_ROOT=$TMP/s3 image_rootfs cf "$TMP/cf.root" &&
	cmp "$TMP/cf.root/bb" /bin/busybox
'

test_expect_success ROOT,REGISTRY 'build --push pushes every tag; the base layers are mounted, not uploaded' '
	in_store s1 build --push -f "$TMP/Recipe.app" -t "$reg/team/app:1" -t "$reg/team/app:latest" "$ctx" >"$TMP/digest" 2>"$TMP/log" &&
	expect_contains "$(cat "$TMP/log")" "pushed $reg/team/app:1" &&
	expect_contains "$(cat "$TMP/log")" "pushed $reg/team/app:latest" &&
	grep -q "^mount sha256:" "$TMP/log" &&
	skopeo inspect --tls-verify=false "docker://$reg/team/app:1" | jq -r .Digest >"$TMP/remote" &&
	expect_eq "$(cat "$TMP/remote")" "$(cat "$TMP/digest")" &&
	skopeo inspect --tls-verify=false "docker://$reg/team/app:latest" | jq -r .Digest >"$TMP/remote2" &&
	expect_eq "$(cat "$TMP/remote2")" "$(cat "$TMP/digest")" &&
	grep -q "mount=sha256" "$TMP/open/log"
'

test_expect_success 'build --push without -t is a usage error' '
	test_expect_code 2 cairn build --push "$ctx" 2>"$TMP/err" &&
	expect_contains "$(cat "$TMP/err")" "--push needs a -t REF"
'

# ---- the build cache in the registry ----
cat >"$TMP/Recipe.cache" <<'RECIPE'
FROM scratch AS tools
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
RUN echo tool > /tool && head -c 200000 /dev/urandom > /noise

FROM scratch AS app
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
COPY --from=tools /tool /tool
RUN echo ran-once > /marker
ENV MODE=cached
RECIPE

test_expect_success ROOT,REGISTRY '--cache-to mode=max pushes the cache as an OCI artifact' '
	cairn build --cache-to "type=registry,ref=$reg/cache/app:max,mode=max" -f "$TMP/Recipe.cache" -t cached "$ctx" >"$TMP/digest.a" 2>"$TMP/log" &&
	expect_contains "$(cat "$TMP/log")" "exporting the cache" &&
	skopeo inspect --raw --tls-verify=false "docker://$reg/cache/app:max" >"$TMP/cache.json" &&
	expect_eq "$(jq -r .artifactType "$TMP/cache.json")" application/vnd.cairn.build-cache.v1 &&
	expect_eq "$(jq -r .config.mediaType "$TMP/cache.json")" application/vnd.cairn.build-cache.config.v1+json &&
	test "$(jq ".layers | length" "$TMP/cache.json")" -ge 5
'

test_expect_success ROOT,REGISTRY 'mode=max exports the steps of stages built side by side (forked) too' '
	cat >"$TMP/Recipe.par" <<-\EOF &&
	FROM scratch AS a
	COPY busybox /bin/busybox
	RUN ["/bin/busybox", "sh", "-c", "echo a > /a"]
	FROM scratch AS b
	COPY busybox /bin/busybox
	RUN ["/bin/busybox", "sh", "-c", "echo b > /b"]
	FROM scratch
	COPY --from=a /a /a
	COPY --from=b /b /b
	EOF
	cairn build -q --cache-to "type=registry,ref=$reg/cache/par:max,mode=max" -f "$TMP/Recipe.par" -t par "$ctx" >"$TMP/par.a" &&
	skopeo inspect --raw --tls-verify=false "docker://$reg/cache/par:max" >"$TMP/par.json" &&
	cfg=$(jq -r .config.digest "$TMP/par.json") &&
	curl -sf "http://$reg/v2/cache/par/blobs/$cfg" >"$TMP/par.cfg" &&
	# a: COPY, RUN; b: the same COPY, its RUN; the last stage: two COPYs
	expect_eq "$(jq ".records | length" "$TMP/par.cfg")" 5 &&
	in_store p1 build --cache-from "type=registry,ref=$reg/cache/par:max" -f "$TMP/Recipe.par" -t par "$ctx" >"$TMP/par.b" 2>"$TMP/log" &&
	expect_eq "$(grep -c "RUN.*CACHED" "$TMP/log")" 2 &&
	expect_eq "$(cat "$TMP/par.b")" "$(cat "$TMP/par.a")"
'

test_expect_success ROOT,REGISTRY 'a build in an empty store with --cache-from runs no RUN step, same digest' '
	in_store c1 build --cache-from "type=registry,ref=$reg/cache/app:max" -f "$TMP/Recipe.cache" -t cached "$ctx" >"$TMP/digest.b" 2>"$TMP/log" &&
	expect_eq "$(cat "$TMP/digest.b")" "$(cat "$TMP/digest.a")" &&
	! grep "RUN" "$TMP/log" | grep -v CACHED &&
	expect_eq "$(grep -c "RUN.*CACHED" "$TMP/log")" 4 &&
	CAIRN_ROOT=$TMP/c1 image_rootfs cached "$TMP/cached.root" &&
	expect_eq "$(cat "$TMP/cached.root/marker")" ran-once
'

test_expect_success ROOT,REGISTRY '--cache-from downloads only the layers the build needs' '
	in_store c2 build -q --target tools --cache-from "type=registry,ref=$reg/cache/app:max" -f "$TMP/Recipe.cache" -t tools "$ctx" >/dev/null 2>"$TMP/log" &&
	cairn inspect cached | jq -r ".Manifest.layers[-2:][].digest" >"$TMP/app-only" &&
	expect_eq "$(wc -l <"$TMP/app-only")" 2 &&
	for d in $(cat "$TMP/app-only"); do
		! test -e "$TMP/c2/blobs/sha256/${d#sha256:}" || exit 1
	done &&
	CAIRN_ROOT=$TMP/c2 "$CAIRN" inspect tools | jq -r ".Manifest.layers[].digest" >"$TMP/tools-layers" &&
	expect_eq "$(wc -l <"$TMP/tools-layers")" 3 &&
	for d in $(cat "$TMP/tools-layers"); do
		test -e "$TMP/c2/blobs/sha256/${d#sha256:}" || exit 1
	done
'

test_expect_success ROOT,REGISTRY 'a cache with mode=min has the final stage only: the other stage runs' '
	cairn build -q --cache-to "type=registry,ref=$reg/cache/app:min" -f "$TMP/Recipe.cache" -t cached "$ctx" >/dev/null &&
	in_store c3 build --cache-from "type=registry,ref=$reg/cache/app:min" -f "$TMP/Recipe.cache" -t cached "$ctx" >"$TMP/digest.c" 2>"$TMP/log" &&
	grep "echo tool" "$TMP/log" | grep -vq CACHED &&
	grep "echo ran-once" "$TMP/log" | grep -q CACHED
'

test_expect_success ROOT,REGISTRY 'buildah spelling: --cache-to REPO and --cache-from REPO' '
	cairn build -q --cache-to "$reg/cache/plain" -f "$TMP/Recipe.cache" -t cached "$ctx" >/dev/null &&
	in_store c4 build --cache-from "$reg/cache/plain" -f "$TMP/Recipe.cache" -t cached "$ctx" >/dev/null 2>"$TMP/log" &&
	expect_eq "$(grep -c "RUN.*CACHED" "$TMP/log")" 4
'

test_expect_success ROOT,REGISTRY 'a cache that is not there is a warning; the build runs' '
	in_store c5 build --cache-from "type=registry,ref=$reg/cache/none:1" -f "$TMP/Recipe.cache" -t cached "$ctx" >/dev/null 2>"$TMP/log" &&
	expect_contains "$(cat "$TMP/log")" "warning: cache $reg/cache/none:1 not used" &&
	expect_contains "$(cat "$TMP/log")" "404 Not Found" &&
	grep "echo tool" "$TMP/log" | grep -vq CACHED
'

test_expect_success ROOT,REGISTRY 'an image is not a cache: a warning, and nothing of it reused' '
	in_store c6 build --cache-from "$reg/team/app:1" -f "$TMP/Recipe.cache" -t cached "$ctx" >/dev/null 2>"$TMP/log" &&
	expect_contains "$(cat "$TMP/log")" "is not a cairn build cache"
'

test_expect_success 'bad --cache-to/--cache-from specs are usage errors' '
	test_expect_code 2 cairn build --cache-to "type=local,dest=/tmp/x" "$ctx" 2>"$TMP/err" &&
	expect_contains "$(cat "$TMP/err")" "only type=registry" &&
	test_expect_code 2 cairn build --cache-from "type=registry" "$ctx" 2>"$TMP/err" &&
	expect_contains "$(cat "$TMP/err")" "expected type=registry,ref=REF" &&
	test_expect_code 2 cairn build --cache-to "type=registry,ref=x,mode=most" "$ctx" 2>/dev/null
'

test_expect_success ROOT,PYTHON 'a failed cache export fails the build, unless ignore-error=true' '
	dead=$(free_port) &&
	! cairn build -q --cache-to "type=registry,ref=127.0.0.1:$dead/c:1" -f "$TMP/Recipe.cache" "$ctx" >/dev/null 2>"$TMP/err" &&
	expect_contains "$(cat "$TMP/err")" "exporting the cache to 127.0.0.1:$dead/c:1" &&
	cairn build --cache-to "type=registry,ref=127.0.0.1:$dead/c:1,ignore-error=true" -f "$TMP/Recipe.cache" "$ctx" >/dev/null 2>"$TMP/log" &&
	expect_contains "$(cat "$TMP/log")" "warning: exporting the cache"
'

stop_servers
test_done
