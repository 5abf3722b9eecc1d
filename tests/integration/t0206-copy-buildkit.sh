#!/bin/bash
# COPY and ADD where buildkit's semantics are the reference (issue 14): here, ADD's
# --unpack flag and the owners COPY --from keeps.
. "$(dirname "$0")/lib.sh"
unset SOURCE_DATE_EPOCH

if test_have_prereq ROOT; then
	build_base base "RUN mkdir -p /etc
"
fi

# build_ctx NAME: builds $TMP/NAME as image NAME and unpacks it into $TMP/NAME.root.
build_ctx() {
	cairn build -t "$1" "$TMP/$1" &&
		rm -rf "$TMP/$1.root" &&
		image_rootfs "$1" "$TMP/$1.root"
}

# mk_tar CTX: CTX/t.tar holding one file "inner" (content "in").
mk_tar() {
	mkdir -p "$TMP/tarsrc" && echo in >"$TMP/tarsrc/inner" &&
		tar -cf "$1/t.tar" -C "$TMP/tarsrc" inner
}

test_expect_success ROOT 'ADD --unpack=false copies a local archive as it is' '
	c=$(new_ctx nounpack) && mk_tar "$c" &&
	printf "FROM base\nADD --unpack=false t.tar /opt/\n" >"$c/Recipe" &&
	build_ctx nounpack &&
	cmp "$c/t.tar" "$TMP/nounpack.root/opt/t.tar" &&
	test ! -e "$TMP/nounpack.root/opt/inner"
'

test_expect_success ROOT 'ADD --unpack and --unpack=true extract a local archive, as without the flag' '
	c=$(new_ctx unpack) && mk_tar "$c" &&
	printf "FROM base\nADD --unpack t.tar /a/\nADD --unpack=true t.tar /b/\nADD t.tar /c/\n" >"$c/Recipe" &&
	build_ctx unpack &&
	expect_eq "$(cat "$TMP/unpack.root/a/inner")" in &&
	expect_eq "$(cat "$TMP/unpack.root/b/inner")" in &&
	expect_eq "$(cat "$TMP/unpack.root/c/inner")" in &&
	test ! -e "$TMP/unpack.root/a/t.tar"
'

test_expect_success ROOT 'ADD --unpack=false after an unpacking ADD is not served from its cache' '
	c=$(new_ctx unpackcache) && mk_tar "$c" &&
	printf "FROM base\nADD t.tar /opt/\n" >"$c/Recipe" &&
	build_ctx unpackcache &&
	test -e "$TMP/unpackcache.root/opt/inner" &&
	printf "FROM base\nADD --unpack=false t.tar /opt/\n" >"$c/Recipe" &&
	build_ctx unpackcache &&
	test -e "$TMP/unpackcache.root/opt/t.tar" &&
	test ! -e "$TMP/unpackcache.root/opt/inner"
'

test_expect_success 'ADD --unpack with a value other than true/false is refused, naming the flag' '
	c=$(new_ctx badunpack) &&
	printf "FROM scratch\nADD --unpack=maybe t.tar /opt/\n" >"$c/Recipe" &&
	test_must_fail_build badunpack &&
	grep "unpack" "$TMP/badunpack.err"
'

test_expect_success 'COPY --unpack is an unknown flag, as in buildkit' '
	c=$(new_ctx copyunpack) && echo x >"$c/t.tar" &&
	printf "FROM scratch\nCOPY --unpack=false t.tar /opt/\n" >"$c/Recipe" &&
	test_must_fail_build copyunpack &&
	grep "unknown flag: --unpack" "$TMP/copyunpack.err"
'

test_expect_success ROOT 'COPY --from keeps the owners the files have in the stage, as buildkit' '
	c=$(new_ctx fromowner) &&
	cat >"$c/Recipe" <<-\EOF &&
	FROM base AS src
	RUN mkdir -p /d/sub && echo f >/file && echo g >/d/sub/g && chown 1001:1002 /file && chown -R 1003:1004 /d
	FROM base
	COPY --from=src /file /file
	COPY --from=src /d /out/
	EOF
	build_ctx fromowner &&
	expect_eq "$(stat -c %u:%g "$TMP/fromowner.root/file")" 1001:1002 &&
	expect_eq "$(stat -c %u:%g "$TMP/fromowner.root/out/sub")" 1003:1004 &&
	expect_eq "$(stat -c %u:%g "$TMP/fromowner.root/out/sub/g")" 1003:1004
'

test_expect_success ROOT 'COPY --from --chown sets the owner given, and context files stay 0:0' '
	c=$(new_ctx fromchown) && echo x >"$c/ctxfile" && chown 1005:1006 "$c/ctxfile" &&
	cat >"$c/Recipe" <<-\EOF &&
	FROM base AS src
	RUN echo f >/file && chown 1001:1002 /file
	FROM base
	COPY --from=src --chown=7:8 /file /file
	COPY ctxfile /ctxfile
	EOF
	build_ctx fromchown &&
	expect_eq "$(stat -c %u:%g "$TMP/fromchown.root/file")" 7:8 &&
	expect_eq "$(stat -c %u:%g "$TMP/fromchown.root/ctxfile")" 0:0
'

test_done
