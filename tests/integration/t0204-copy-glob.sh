#!/bin/bash
# COPY and ADD sources match with Go's filepath.Match, as buildkit matches them and
# as .dockerignore checks its patterns: one glob (parser/glob.c). Before issue 10
# the sources went through fnmatch(3), whose dialect differs: "[!a]" negated there
# (in Go it is the class of '!' and 'a'), and a malformed pattern such as "[" was
# taken as a literal name instead of being an error.
. "$(dirname "$0")/lib.sh"
unset SOURCE_DATE_EPOCH

# glob_ctx NAME RECIPE-LINE: a context $TMP/NAME holding a1, b1, !1 and a file
# named "[", with the recipe FROM scratch + RECIPE-LINE.
glob_ctx() {
	recipe "$1" <<-RECIPE
	FROM scratch
	$2
	RECIPE
	for f in a1 b1 '!1' '['; do echo "$f" >"$TMP/$1/$f"; done
}

test_expect_success 'COPY [!a]1 is the class of ! and a, as in Go, not a negation' '
	glob_ctx bang "COPY [!a]1 /out/" &&
	build bang >/dev/null &&
	image_rootfs bang "$TMP/bang.root" &&
	expect_eq "$(tree "$TMP/bang.root/out")" "./!1 ./a1 "
'

test_expect_success 'COPY [^a]1 negates' '
	glob_ctx caret "COPY [^a]1 /out/" &&
	build caret >/dev/null &&
	image_rootfs caret "$TMP/caret.root" &&
	expect_eq "$(tree "$TMP/caret.root/out")" "./!1 ./b1 "
'

test_expect_success 'COPY [[] names the file [ (as docker documents) and COPY [ is malformed' '
	glob_ctx escaped "COPY [[] /out/" &&
	build escaped >/dev/null &&
	image_rootfs escaped "$TMP/escaped.root" &&
	expect_eq "$(tree "$TMP/escaped.root/out")" "./[ " &&
	glob_ctx unclosed "COPY [ /out/" &&
	fails_with unclosed "\"[\": syntax error in pattern"
'

test_expect_success 'a malformed pattern fails even where nothing could match it' '
	glob_ctx nomatch "COPY nothing-here/a[ /out/" &&
	fails_with nomatch "\"nothing-here/a[\": syntax error in pattern"
'

# .dockerignore always read its patterns Go's way; a COPY source now does too, so
# one pattern names the same files in both.
test_expect_success 'a pattern names the same files as a COPY source and in .dockerignore' '
	glob_ctx picked "COPY [!a]1 /out/" &&
	build picked >/dev/null &&
	image_rootfs picked "$TMP/picked.root" &&
	glob_ctx ignored "COPY . /all/" &&
	printf "[!a]1\nRecipe\n.dockerignore\n" >"$TMP/ignored/.dockerignore" &&
	build ignored >/dev/null &&
	image_rootfs ignored "$TMP/ignored.root" &&
	expect_eq "$(tree "$TMP/ignored.root/all")" "./[ ./b1 " &&
	expect_eq "$(tree "$TMP/picked.root/out")" "./!1 ./a1 "
'

test_done
