#!/bin/bash
# docker buildx build's flags for the image and where the result is recorded:
# --label, --annotation, --platform, --iidfile, --metadata-file, --load,
# --no-cache-filter, -f - (the recipe on stdin), a context given as - or as a tar
# file, and the buildx flags cairn refuses, each with why.
. "$(dirname "$0")/lib.sh"
unset SOURCE_DATE_EPOCH

if test_have_prereq ROOT; then
	build_base base:1 ""
fi

test_expect_success ROOT '--label sets labels after the recipe'"'"'s, without running a step again' '
	recipe labels <<-\EOF &&
	FROM base:1
	LABEL a=recipe keep=yes
	RUN echo x >/x
	EOF
	build labels >/dev/null 2>&1 &&
	build labels --label a=cli --label "b=two words" >"$TMP/labels.out" 2>&1 &&
	grep "RUN echo x" "$TMP/labels.out" | grep -q CACHED &&
	expect_eq "$(cfg labels .config.Labels)" "{\"a\":\"cli\",\"b\":\"two words\",\"keep\":\"yes\"}"
'

test_expect_success ROOT '--annotation (and manifest:) annotates the manifest; index types are refused' '
	recipe annot <<-\EOF &&
	FROM base:1
	EOF
	build annot --annotation org.opencontainers.image.source=https://example.test/x \
		--annotation "manifest:k=v" >/dev/null 2>&1 &&
	expect_eq "$(cairn inspect annot | jq -c .Manifest.annotations)" \
		"{\"k\":\"v\",\"org.opencontainers.image.source\":\"https://example.test/x\"}" &&
	{ build annot --annotation index:k=v 2>"$TMP/annot.err"; test $? = 2; } &&
	expect_contains "$(cat "$TMP/annot.err")" "--annotation index:k=v" &&
	{ build annot --annotation novalue 2>"$TMP/annot.err"; test $? = 2; } &&
	expect_contains "$(cat "$TMP/annot.err")" "expected KEY=VALUE"
'

test_expect_success ROOT '--platform: this system'"'"'s builds; another, or a list, is refused naming the flag' '
	recipe plat <<-\EOF &&
	FROM base:1
	ARG TARGETPLATFORM
	RUN echo "$TARGETPLATFORM" >/p
	EOF
	arch=$(cairn inspect base:1 | jq -r .Config.architecture) &&
	build plat --platform "linux/$arch" >/dev/null 2>&1 &&
	expect_eq "$(out plat /p)" "linux/$arch" &&
	build plat --platform local >/dev/null 2>&1 &&
	other=arm64 && if [ "$arch" = arm64 ]; then other=amd64; fi &&
	{ build plat --platform "linux/$other" 2>"$TMP/plat.err"; test $? = 2; } &&
	expect_contains "$(cat "$TMP/plat.err")" "--platform linux/$other" &&
	expect_contains "$(cat "$TMP/plat.err")" "multi-platform" &&
	{ build plat --platform "linux/$arch,linux/$other" 2>"$TMP/plat.err"; test $? = 2; } &&
	expect_contains "$(cat "$TMP/plat.err")" "one platform at a time"
'

test_expect_success ROOT '--iidfile holds the config digest; --metadata-file buildx'"'"'s keys' '
	recipe meta <<-\EOF &&
	FROM base:1
	RUN echo m >/m
	EOF
	digest=$(cairn build -q -t meta:1 -t meta:2 --iidfile "$TMP/iid" \
		--metadata-file "$TMP/md.json" "$TMP/meta") &&
	config=$(cairn inspect meta:1 | jq -r .Manifest.config.digest) &&
	expect_eq "$(cat "$TMP/iid")" "$config" &&
	expect_eq "$(jq -r ".\"containerimage.digest\"" "$TMP/md.json")" "$digest" &&
	expect_eq "$(jq -r ".\"containerimage.config.digest\"" "$TMP/md.json")" "$config" &&
	expect_eq "$(jq -r ".\"containerimage.descriptor\".digest" "$TMP/md.json")" "$digest" &&
	expect_eq "$(jq -r ".\"containerimage.descriptor\".size" "$TMP/md.json")" \
		"$(wc -c <"$CAIRN_ROOT/blobs/sha256/${digest#sha256:}")" &&
	expect_eq "$(jq -r ".\"image.name\"" "$TMP/md.json")" "meta:1,meta:2" &&
	{ cairn build -q --iidfile "$TMP/no/such/dir/iid" "$TMP/meta" 2>"$TMP/iid.err"; test $? = 1; } &&
	expect_contains "$(cat "$TMP/iid.err")" "--iidfile $TMP/no/such/dir/iid"
'

test_expect_success ROOT '--load is accepted (the store is where images go)' '
	recipe load <<-\EOF &&
	FROM base:1
	EOF
	build load --load >/dev/null 2>&1 &&
	cairn inspect load >/dev/null
'

test_expect_success ROOT '--no-cache-filter runs that stage'"'"'s steps again, and only those' '
	recipe ncf <<-\EOF &&
	FROM base:1 AS first
	RUN echo one >/one
	FROM base:1 AS second
	COPY --from=first /one /one
	RUN echo two >/two
	EOF
	build ncf >/dev/null 2>&1 &&
	build ncf --no-cache-filter first >"$TMP/ncf.out" 2>&1 &&
	! grep "RUN echo one" "$TMP/ncf.out" | grep -q CACHED &&
	grep "RUN echo two" "$TMP/ncf.out" | grep -q CACHED &&
	grep "COPY --from=first" "$TMP/ncf.out" | grep -q CACHED &&
	{ build ncf --no-cache-filter nosuch 2>"$TMP/ncf.err"; test $? = 1; } &&
	expect_contains "$(cat "$TMP/ncf.err")" "--no-cache-filter nosuch: no such stage"
'

test_expect_success ROOT '-f - reads the recipe from stdin; its errors say stdin and the line' '
	mkdir -p "$TMP/stdinctx" && echo hello >"$TMP/stdinctx/f" &&
	printf "FROM base:1\nCOPY f /f\n" | cairn build -q -t fromstdin -f - "$TMP/stdinctx" >/dev/null &&
	expect_eq "$(out fromstdin /f)" hello &&
	{ printf "FROM base:1\nRUN --bogus x\n" | cairn build -f - "$TMP/stdinctx" 2>"$TMP/stdin.err"; test $? = 1; } &&
	expect_contains "$(cat "$TMP/stdin.err")" "stdin:2" &&
	{ cairn build -f - - </dev/null 2>"$TMP/stdin.err"; test $? = 2; } &&
	expect_contains "$(cat "$TMP/stdin.err")" "cannot both be stdin"
'

test_expect_success ROOT 'a tar file, or - (a tar on stdin), is the context; -f names a recipe in it' '
	mkdir -p "$TMP/tarctx" &&
	echo tarred >"$TMP/tarctx/f" &&
	printf "FROM base:1\nCOPY f /f\n" >"$TMP/tarctx/Dockerfile" &&
	printf "FROM base:1\nCOPY f /g\n" >"$TMP/tarctx/other.rec" &&
	tar -C "$TMP/tarctx" -czf "$TMP/ctx.tgz" . &&
	cairn build -q -t tarfile "$TMP/ctx.tgz" >/dev/null &&
	expect_eq "$(out tarfile /f)" tarred &&
	cairn build -q -t tarstdin - <"$TMP/ctx.tgz" >/dev/null &&
	expect_eq "$(out tarstdin /f)" tarred &&
	cairn build -q -t tarother -f other.rec - <"$TMP/ctx.tgz" >/dev/null &&
	expect_eq "$(out tarother /g)" tarred &&
	{ cairn build -f nosuch "$TMP/ctx.tgz" 2>"$TMP/tar.err"; test $? = 1; } &&
	expect_contains "$(cat "$TMP/tar.err")" "nosuch in the context archive" &&
	{ cairn build "$TMP/tarctx/f" 2>"$TMP/tar.err"; test $? = 1; } &&
	expect_contains "$(cat "$TMP/tar.err")" "not a tar archive" &&
	test -z "$(ls "$CAIRN_ROOT/cairn/tmp")"
'

test_expect_success ROOT '- with a recipe on stdin builds it with an empty context' '
	printf "FROM base:1\nRUN echo alone >/alone\n" | cairn build -q -t alone - >/dev/null &&
	expect_eq "$(out alone /alone)" alone &&
	{ printf "FROM base:1\nCOPY f /f\n" | cairn build - 2>"$TMP/alone.err"; test $? = 1; } &&
	expect_contains "$(cat "$TMP/alone.err")" "stdin:2"
'

test_expect_success ROOT 'a symlink in a tar context cannot make the recipe a host file' '
	mkdir -p "$TMP/evilctx" &&
	ln -s /etc/passwd "$TMP/evilctx/Dockerfile" &&
	tar -C "$TMP/evilctx" -cf "$TMP/evil.tar" . &&
	{ cairn build "$TMP/evil.tar" 2>"$TMP/evil.err"; test $? = 1; } &&
	expect_contains "$(cat "$TMP/evil.err")" "neither Recipe nor Dockerfile" &&
	! grep -q "root:" "$TMP/evil.err"
'

test_expect_success ROOT 'FROM finds a stored tag by any spelling of its name (full, familiar)' '
	cairn tag base:1 shortname:1 &&
	cairn tag base:1 docker.io/library/fullname:1 &&
	recipe spell <<-\EOF &&
	FROM docker.io/library/shortname:1 AS a
	FROM fullname:1 AS b
	FROM docker.io/library/fullname:1
	COPY --from=a /bin/busybox /a
	COPY --from=b /bin/busybox /b
	EOF
	build spell --pull=never >/dev/null 2>&1 &&
	cairn inspect docker.io/library/shortname:1 >/dev/null &&
	cairn inspect fullname:1 >/dev/null
'

test_expect_success ROOT '--build-context: a directory, docker-image:// and oci-layout:// (by tag or digest)' '
	mkdir -p "$TMP/named/dir" && echo fromdir >"$TMP/named/dir/file" &&
	cairn save --format oci -o "$TMP/named/lay.tar" base:1 &&
	mkdir -p "$TMP/named/lay" && tar -C "$TMP/named/lay" -xf "$TMP/named/lay.tar" &&
	digest=$(jq -r ".manifests[0].digest" "$TMP/named/lay/index.json") &&
	recipe namedctx <<-\EOF &&
	FROM base AS base
	RUN echo from-the-stage >/stage
	FROM base
	COPY --from=extra /file /file
	COPY --from=img /bin/busybox /bb
	RUN --mount=from=extra,target=/m cat /m/file >/mounted
	EOF
	build namedctx --build-context "base=oci-layout://$TMP/named/lay@$digest" \
		--build-context "extra=$TMP/named/dir" \
		--build-context img=docker-image://base:1 >/dev/null 2>&1 &&
	expect_eq "$(out namedctx /file)" fromdir &&
	expect_eq "$(out namedctx /mounted)" fromdir &&
	test -x "$TMP/rootfs.out/bb" &&
	test ! -e "$TMP/rootfs.out/stage" &&
	build namedctx --build-context "base=oci-layout://$TMP/named/lay:base:1" \
		--build-context "extra=$TMP/named/dir" \
		--build-context img=docker-image://base:1 >/dev/null 2>&1 &&
	echo changed >"$TMP/named/dir/file" &&
	build namedctx --build-context "base=oci-layout://$TMP/named/lay@$digest" \
		--build-context "extra=$TMP/named/dir" \
		--build-context img=docker-image://base:1 >/dev/null 2>&1 &&
	expect_eq "$(out namedctx /file)" changed
'

test_expect_success ROOT '--build-context refusals name the flag' '
	{ build namedctx --build-context "extra=$TMP/named/dir/file" 2>"$TMP/nc.err"; test $? = 1; } &&
	expect_contains "$(cat "$TMP/nc.err")" "--build-context extra=$TMP/named/dir/file: $TMP/named/dir/file is not a directory" &&
	{ build namedctx --build-context base=https://example.test/x.git 2>"$TMP/nc.err"; test $? = 1; } &&
	expect_contains "$(cat "$TMP/nc.err")" "no URLs" &&
	{ build namedctx --build-context noequals 2>"$TMP/nc.err"; test $? = 2; } &&
	expect_contains "$(cat "$TMP/nc.err")" "expected NAME=VALUE" &&
	{ build namedctx --build-context "base=$TMP/named/dir" 2>"$TMP/nc.err"; test $? = 1; } &&
	expect_contains "$(cat "$TMP/nc.err")" "FROM needs an image" &&
	{ build namedctx --build-context "base=oci-layout://$TMP/named/lay@sha256:$(printf %064d 0)" 2>"$TMP/nc.err"; test $? = 1; } &&
	expect_contains "$(cat "$TMP/nc.err")" "has no image"
'

test_expect_success ROOT '--squash makes the new layers one: files, deletions and replaced directories' '
	recipe squash <<-\EOF &&
	FROM base:1
	RUN mkdir /d && echo 1 >/d/a && echo x >/gone
	ENV A=1
	RUN echo 2 >/d/b && rm /gone /bin/vi
	RUN rm -rf /d && mkdir /d && echo new >/d/c
	EOF
	build squash --squash >/dev/null 2>&1 &&
	base=$(cairn inspect base:1 | jq ".Manifest.layers | length") &&
	expect_eq "$(cairn inspect squash | jq ".Manifest.layers | length")" "$((base + 1))" &&
	expect_eq "$(cairn inspect squash | jq ".Config.rootfs.diff_ids | length")" "$((base + 1))" &&
	expect_eq "$(cairn inspect squash | jq "[.Config.history[] | select(.empty_layer | not)] | length")" "$((base + 1))" &&
	expect_eq "$(cairn inspect squash | jq -r ".Config.history[-1].empty_layer // false")" false &&
	layer_tar squash -1 "$TMP/squash.tar" &&
	expect_eq "$(tar -tf "$TMP/squash.tar" | sort | tr "\n" " ")" "bin/ bin/.wh.vi d/ d/c " &&
	image_rootfs squash "$TMP/squash.root" &&
	expect_eq "$(ls "$TMP/squash.root/d")" c &&
	test ! -e "$TMP/squash.root/gone" && test ! -e "$TMP/squash.root/bin/vi" &&
	build squash >/dev/null 2>&1 &&
	expect_eq "$(cairn inspect squash | jq ".Manifest.layers | length")" "$((base + 3))"
'

test_expect_success ROOT 'the buildx flags cairn does not have are refused with why' '
	for flag in "--sbom true" "--attest type=sbom" "--builder x" "--cgroup-parent x" "--call outline"; do
		{ cairn build $flag "$TMP/load" 2>"$TMP/refused.err"; test $? = 2; } &&
		expect_contains "$(cat "$TMP/refused.err")" "${flag%% *} is not supported: " || return 1
	done
'

test_done
