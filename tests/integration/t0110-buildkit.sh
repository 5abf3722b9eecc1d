#!/bin/bash
# BuildKit's Dockerfile semantics, case by case: cases read from moby/buildkit's
# frontend/dockerfile tests (dockerfile_test.go, dockerfile_history_test.go,
# dockerfile_args_test.go, convert_test.go) and written anew for cairn. BuildKit is
# the reference: where cairn deliberately differs, the list at the end says so.
. "$(dirname "$0")/lib.sh"
unset SOURCE_DATE_EPOCH

if test_have_prereq ROOT; then
	build_base base:1 ""
fi

# hist NAME: the image's history, one "created_by<TAB>empty_layer" line per entry.
hist() {
	cairn inspect "$1" | jq -r '.Config.history[] | "\(.created_by)\t\(.empty_layer // false)"'
}

# ---- build args ----

test_expect_success ROOT 'a given --build-arg wins before the default is expanded (${A:?msg})' '
	recipe argreq <<-\EOF &&
	FROM base:1
	ARG FOO=${FOO:?"FOO must be given"}
	RUN echo "$FOO" >/foo
	EOF
	fails_with argreq "Recipe:2" "FOO must be given" &&
	build argreq --build-arg FOO=bar >/dev/null 2>&1 &&
	expect_eq "$(out argreq /foo)" bar
'

test_expect_success ROOT 'TARGETSTAGE is the --target stage, else "default"' '
	recipe tstage <<-\EOF &&
	FROM base:1 AS first
	ARG TARGETSTAGE
	RUN echo "$TARGETSTAGE" >/stage
	FROM first AS second
	EOF
	cairn build -q -t tstage-t --target first "$TMP/tstage" >/dev/null &&
	expect_eq "$(out tstage-t /stage)" first &&
	build tstage >/dev/null 2>&1 &&
	expect_eq "$(out tstage /stage)" default
'

test_expect_success ROOT 'a proxy build arg in either spelling gives RUN both, and stays out of the image' '
	recipe proxy <<-\EOF &&
	FROM base:1
	RUN echo "$http_proxy|$HTTP_PROXY|$no_proxy|$NO_PROXY" >/seen
	EOF
	build proxy --build-arg http_proxy=http://p:3128 --build-arg NO_PROXY=.lan >/dev/null 2>&1 &&
	expect_eq "$(out proxy /seen)" "http://p:3128|http://p:3128|.lan|.lan" &&
	! cairn inspect proxy | grep -q "p:3128"
'

test_expect_success ROOT '--build-arg SOURCE_DATE_EPOCH sets the build epoch; a bad one names the flag' '
	recipe sdearg <<-\EOF &&
	FROM base:1
	RUN touch /x
	EOF
	build sdearg --build-arg SOURCE_DATE_EPOCH=1700000000 >"$TMP/sdearg.out" 2>&1 &&
	! grep -q "SOURCE_DATE_EPOCH" "$TMP/sdearg.out" &&
	expect_eq "$(cfg sdearg .created)" "\"2023-11-14T22:13:20Z\"" &&
	{ build sdearg --build-arg SOURCE_DATE_EPOCH=soon 2>"$TMP/sdearg.err"; test $? = 1; } &&
	expect_contains "$(cat "$TMP/sdearg.err")" "--build-arg"
'

# ---- layers and history ----

test_expect_success ROOT 'the same COPY twice, then another, builds (a layer dir is not mounted twice)' '
	recipe copytwice <<-\EOF &&
	FROM base:1
	COPY a a
	COPY a a
	COPY b b
	RUN cat /a /b >/ab
	EOF
	echo one >"$TMP/copytwice/a" &&
	echo two >"$TMP/copytwice/b" &&
	build copytwice >/dev/null 2>&1 &&
	expect_eq "$(out copytwice /ab)" "$(printf "one\ntwo")"
'

test_expect_success ROOT 'every RUN, COPY, ADD and WORKDIR has a layer, even an empty one; the rest none' '
	recipe layers <<-\EOF &&
	FROM base:1
	ENV A=1
	RUN true
	WORKDIR /w
	WORKDIR /w
	COPY f /f
	ADD f /g
	LABEL l=1
	WORKDIR /
	EOF
	echo f >"$TMP/layers/f" &&
	build layers >/dev/null 2>&1 &&
	hist layers | tail -n 8 | cut -f2 | tr "\n" " " >"$TMP/layers.empty" &&
	expect_eq "$(cat "$TMP/layers.empty")" "true false false false false false true true " &&
	expect_eq "$(cairn inspect layers | jq "[.Config.history[] | select(.empty_layer | not)] | length")" \
		"$(cairn inspect layers | jq ".Config.rootfs.diff_ids | length")" &&
	# RUN true and the second WORKDIR /w changed nothing: the empty tar
	expect_eq "$(cairn inspect layers | jq -r ".Config.rootfs.diff_ids[-5]")" \
		"sha256:$(head -c 1024 /dev/zero | sha256sum | cut -d" " -f1)"
'

test_expect_success ROOT 'history text as BuildKit writes it' '
	recipe histtext <<-\EOF &&
	FROM base:1 AS src
	RUN echo x >/foo2
	FROM base:1
	ARG UNSET
	ARG SET=v
	COPY --from=src /foo2 /foo3
	COPY --chmod=0644 f /f
	EXPOSE 5000 1234/udp 2375
	VOLUME /a /b
	SHELL ["/bin/sh", "-c"]
	CMD ["echo", "a b"]
	ENTRYPOINT ["/bin/sh", "-c"]
	RUN true
	ONBUILD RUN true
	STOPSIGNAL SIGTERM
	USER 0
	EOF
	echo f >"$TMP/histtext/f" &&
	build histtext >/dev/null 2>&1 &&
	hist histtext | tail -n 12 | cut -f1 >"$TMP/histtext.got" &&
	cat >"$TMP/histtext.want" <<-\EOF &&
	ARG UNSET
	ARG SET=v
	COPY /foo2 /foo3 # buildkit
	COPY --chmod=0644 f /f # buildkit
	EXPOSE [1234/udp 2375/tcp 5000/tcp]
	VOLUME [/a /b]
	SHELL [/bin/sh -c]
	CMD ["echo" "a b"]
	ENTRYPOINT ["/bin/sh" "-c"]
	RUN |2 UNSET= SET=v /bin/sh -c true # buildkit
	STOPSIGNAL SIGTERM
	USER 0
	EOF
	diff -u "$TMP/histtext.want" "$TMP/histtext.got"
'

test_expect_success ROOT 'an unset ARG is in the RUN history text but not the step key' '
	recipe argkey <<-\EOF &&
	FROM base:1
	ARG UNSET
	RUN echo keyed >/k
	EOF
	recipe argkey2 <<-\EOF &&
	FROM base:1
	RUN echo keyed >/k
	EOF
	build argkey2 >/dev/null 2>&1 &&
	build argkey >"$TMP/argkey.out" 2>&1 &&
	grep -q "CACHED" "$TMP/argkey.out"
'

test_expect_success ROOT 'RUN --mount=from and COPY --from key on the files they take, not the whole stage' '
	recipe fromkey <<-\EOF &&
	FROM base:1 AS build
	ARG N
	RUN mkdir /out && echo stable >/out/f && echo "$N" >/other
	FROM base:1
	RUN --mount=from=build,src=/out,target=/m cat /m/f >/got
	COPY --from=build /out/f /copied
	EOF
	build fromkey --build-arg N=1 >/dev/null 2>&1 &&
	build fromkey --build-arg N=2 >"$TMP/fromkey.2" 2>&1 &&
	grep "RUN --mount=from=build" "$TMP/fromkey.2" | grep -q CACHED &&
	grep "COPY --from=build" "$TMP/fromkey.2" | grep -q CACHED &&
	! grep "echo stable" "$TMP/fromkey.2" | grep -q CACHED &&
	sed -i "s/echo stable/echo changed/" "$TMP/fromkey/Recipe" &&
	build fromkey --build-arg N=2 >"$TMP/fromkey.3" 2>&1 &&
	! grep "RUN --mount=from=build" "$TMP/fromkey.3" | grep -q CACHED &&
	! grep "COPY --from=build" "$TMP/fromkey.3" | grep -q CACHED &&
	expect_eq "$(out fromkey /got)" changed &&
	expect_eq "$(out fromkey /copied)" changed
'

test_expect_success ROOT 'COPY --chmod gives its mode to the directories it makes (testCopyChmod)' '
	recipe chmodparent <<-\EOF &&
	FROM base:1
	COPY --chmod=777 foo /parent/foo
	COPY --chmod=770 foo /parent/sub/foo
	RUN stat -c %a /parent /parent/sub | tr "\\n" " " >/modes
	EOF
	echo foo >"$TMP/chmodparent/foo" &&
	build chmodparent >/dev/null 2>&1 &&
	expect_eq "$(out chmodparent /modes)" "777 770 "
'

test_expect_success ROOT 'COPY to a dangling symlink/ makes its target, inside the root' '
	recipe dangling <<-\EOF &&
	FROM base:1
	RUN ln -s ../tmp/target /symlink && ln -s ../../../../../../outside /up
	COPY foo /symlink/
	COPY foo /up/
	EOF
	echo foo >"$TMP/dangling/foo" &&
	build dangling >/dev/null 2>&1 &&
	expect_eq "$(out dangling /tmp/target/foo)" foo &&
	expect_eq "$(cat "$TMP/rootfs.out/outside/foo")" foo &&
	test ! -e /outside
'

test_expect_success ROOT 'one wildcard source matching several needs no trailing slash; two words do (exclude_patterns_test)' '
	recipe wildmany <<-\EOF &&
	FROM base:1
	ADD --exclude=*.txt dir* /5
	EOF
	mkdir -p "$TMP/wildmany/dir1" "$TMP/wildmany/dir2" &&
	echo a >"$TMP/wildmany/dir1/a" && echo b >"$TMP/wildmany/dir2/b" &&
	echo skip >"$TMP/wildmany/dir2/skip.txt" &&
	build wildmany >/dev/null 2>&1 &&
	image_rootfs wildmany "$TMP/wildmany.root" &&
	expect_eq "$(cd "$TMP/wildmany.root/5" && ls | tr "\n" " ")" "a b " &&
	recipe twowords <<-\EOF &&
	FROM base:1
	COPY a b /7
	EOF
	echo a >"$TMP/twowords/a" && echo b >"$TMP/twowords/b" &&
	fails_with twowords "Recipe:2" "must be a directory and end with a /"
'

test_expect_success ROOT 'a scratch image works in / and says so' '
	recipe scratchwd <<-\EOF &&
	FROM scratch
	COPY f /f
	EOF
	echo f >"$TMP/scratchwd/f" &&
	build scratchwd >/dev/null 2>&1 &&
	expect_eq "$(cfg scratchwd .config.WorkingDir)" "\"/\""
'

# BuildKit behaviours cairn deliberately does not follow (each said in its man page):
# - history entries carry no "comment": BuildKit writes "buildkit.dockerfile.v0",
#   a producer mark that would say BuildKit made the image.
# - RUN --mount=type=ssh: mode, uid and gid are checked and keyed, but the socket
#   is the agent's own, bound in, with its owner and mode (BuildKit serves a
#   socket of its own with them).
# - ADD --checksum of a git source is refused (BuildKit checks the commit).
# - --platform takes this system's platform only; --annotation only manifest
#   annotations (no index is made for one platform).
# - --metadata-file's image.name lists the tags as cairn stores them ("app:1"),
#   not made full.
# - a named --build-context that is a directory applies no .dockerignore.
test_done
