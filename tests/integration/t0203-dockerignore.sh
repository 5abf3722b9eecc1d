#!/bin/bash
# .dockerignore: what it excludes is not in the build context for COPY/ADD (wildcards,
# named sources, directory walks) and so never changes a cache key; a recipe's own
# RECIPE.dockerignore wins over the context's, as buildkit.
. "$(dirname "$0")/lib.sh"
unset SOURCE_DATE_EPOCH

# build_ctx NAME [ARGS...]: builds $TMP/NAME as image NAME (output in $TMP/NAME.out)
# and unpacks it into $TMP/NAME.root.
build_ctx() {
	_n=$1
	shift
	cairn build -t "$_n" "$@" "$TMP/$_n" >"$TMP/$_n.out" 2>&1 || { cat "$TMP/$_n.out"; return 1; }
	rm -rf "$TMP/$_n.root" && image_rootfs "$_n" "$TMP/$_n.root"
}

test_expect_success 'a * pattern hides the matching files from COPY .' '
	c=$(new_ctx star) &&
	echo a >"$c/a.txt" && echo l >"$c/a.log" && mkdir "$c/sub" && echo l >"$c/sub/b.log" &&
	printf "*.log\n" >"$c/.dockerignore" &&
	printf "FROM scratch\nCOPY . /app/\n" >"$c/Recipe" &&
	build_ctx star &&
	expect_eq "$(tree "$TMP/star.root/app")" "./.dockerignore ./Recipe ./a.txt ./sub ./sub/b.log "
'

test_expect_success 'a ** pattern hides matches at any depth' '
	c=$(new_ctx deep) &&
	mkdir -p "$c/x/y" && echo s >"$c/secret.key" && echo s >"$c/x/y/secret.key" && echo k >"$c/x/y/keep" &&
	printf "# comment\n**/*.key\nRecipe\n.dockerignore\n" >"$c/.dockerignore" &&
	printf "FROM scratch\nCOPY . /app/\n" >"$c/Recipe" &&
	build_ctx deep &&
	expect_eq "$(tree "$TMP/deep.root/app")" "./x ./x/y ./x/y/keep "
'

test_expect_success 'a ! exception brings a file back' '
	c=$(new_ctx except) &&
	echo r >"$c/README.md" && echo o >"$c/other.md" && echo k >"$c/keep.txt" &&
	printf "*.md\n!README.md\nRecipe\n.dockerignore\n" >"$c/.dockerignore" &&
	printf "FROM scratch\nCOPY . /app/\n" >"$c/Recipe" &&
	build_ctx except &&
	expect_eq "$(tree "$TMP/except.root/app")" "./README.md ./keep.txt "
'

test_expect_success 'an excluded directory is left out with all its contents' '
	c=$(new_ctx dir) &&
	mkdir -p "$c/build/deep" "$c/src" && echo o >"$c/build/deep/out" && echo s >"$c/src/s" &&
	printf "build\nRecipe\n.dockerignore\n" >"$c/.dockerignore" &&
	printf "FROM scratch\nCOPY . /app/\n" >"$c/Recipe" &&
	build_ctx dir &&
	expect_eq "$(tree "$TMP/dir.root/app")" "./src ./src/s "
'

test_expect_success 'an exception under an excluded directory keeps only that file' '
	c=$(new_ctx direxcept) &&
	mkdir -p "$c/docs/sub" && echo k >"$c/docs/keep.txt" && echo d >"$c/docs/drop.txt" &&
	echo s >"$c/docs/sub/x" &&
	printf "docs\n!docs/keep.txt\nRecipe\n.dockerignore\n" >"$c/.dockerignore" &&
	printf "FROM scratch\nCOPY . /app/\nCOPY docs /docs/\n" >"$c/Recipe" &&
	build_ctx direxcept &&
	expect_eq "$(tree "$TMP/direxcept.root/app")" "./docs ./docs/keep.txt " &&
	expect_eq "$(tree "$TMP/direxcept.root/docs")" "./keep.txt "
'

test_expect_success 'wildcard sources do not match ignored files' '
	c=$(new_ctx wild) &&
	echo 1 >"$c/one.txt" && echo 2 >"$c/ignored.txt" &&
	printf "ignored.txt\n" >"$c/.dockerignore" &&
	printf "FROM scratch\nCOPY *.txt /t/\n" >"$c/Recipe" &&
	build_ctx wild &&
	expect_eq "$(tree "$TMP/wild.root/t")" "./one.txt "
'

test_expect_success 'an ignored file named as a source is not found' '
	c=$(new_ctx named) &&
	echo s >"$c/secret.txt" && echo a >"$c/a.txt" &&
	printf "secret.txt\n" >"$c/.dockerignore" &&
	printf "FROM scratch\nCOPY a.txt secret.txt /t/\n" >"$c/Recipe" &&
	! cairn build -t named "$c" >"$TMP/named.err" 2>&1 &&
	expect_contains "$(cat "$TMP/named.err")" "Recipe:2" &&
	expect_contains "$(cat "$TMP/named.err")" "secret.txt" &&
	expect_contains "$(cat "$TMP/named.err")" "not found"
'

test_expect_success 'a wildcard that matches only ignored files fails' '
	c=$(new_ctx wildnone) &&
	echo l >"$c/a.log" &&
	printf "*.log\n" >"$c/.dockerignore" &&
	printf "FROM scratch\nCOPY *.log /t/\n" >"$c/Recipe" &&
	! cairn build -t wildnone "$c" >"$TMP/wildnone.err" 2>&1 &&
	expect_contains "$(cat "$TMP/wildnone.err")" "*.log"
'

test_expect_success 'Recipe.dockerignore beside the recipe wins over .dockerignore' '
	c=$(new_ctx specific) &&
	echo a >"$c/a.txt" && echo b >"$c/b.txt" &&
	printf "a.txt\n" >"$c/.dockerignore" &&
	printf "b.txt\n" >"$c/Recipe.dockerignore" &&
	printf "FROM scratch\nCOPY *.txt /t/\n" >"$c/Recipe" &&
	build_ctx specific &&
	expect_eq "$(tree "$TMP/specific.root/t")" "./a.txt "
'

test_expect_success 'with -f dir/foo.Recipe, dir/foo.Recipe.dockerignore is the ignore file' '
	c=$(new_ctx dashf) &&
	echo a >"$c/a.txt" && echo b >"$c/b.txt" && mkdir -p "$TMP/dashf-recipes" &&
	printf "a.txt\n" >"$c/.dockerignore" &&
	printf "FROM scratch\nCOPY *.txt /t/\n" >"$TMP/dashf-recipes/foo.Recipe" &&
	printf "b.txt\n" >"$TMP/dashf-recipes/foo.Recipe.dockerignore" &&
	build_ctx dashf -f "$TMP/dashf-recipes/foo.Recipe" &&
	expect_eq "$(tree "$TMP/dashf.root/t")" "./a.txt " &&
	rm "$TMP/dashf-recipes/foo.Recipe.dockerignore" &&
	build_ctx dashf -f "$TMP/dashf-recipes/foo.Recipe" &&
	expect_eq "$(tree "$TMP/dashf.root/t")" "./b.txt "
'

test_expect_success 'Dockerfile.dockerignore goes with a Dockerfile' '
	c=$(new_ctx dockerfile) &&
	echo a >"$c/a.txt" && echo b >"$c/b.txt" &&
	printf "a.txt\n" >"$c/Dockerfile.dockerignore" &&
	printf "FROM scratch\nCOPY *.txt /t/\n" >"$c/Dockerfile" &&
	build_ctx dockerfile &&
	expect_eq "$(tree "$TMP/dockerfile.root/t")" "./b.txt "
'

test_expect_success 'editing or adding an ignored file keeps the step cached' '
	c=$(new_ctx cache) &&
	mkdir -p "$c/src/logs" && echo a >"$c/src/a.txt" && echo l >"$c/src/logs/1.log" &&
	printf "src/logs\n*.tmp\n" >"$c/.dockerignore" &&
	printf "FROM scratch\nCOPY src /src/\nCOPY . /all/\n" >"$c/Recipe" &&
	build_ctx cache &&
	echo changed >"$c/src/logs/1.log" && echo new >"$c/src/logs/2.log" && echo t >"$c/x.tmp" &&
	build_ctx cache &&
	expect_eq "$(grep -c CACHED "$TMP/cache.out")" 2 &&
	echo changed >"$c/src/a.txt" &&
	build_ctx cache &&
	expect_eq "$(grep -c CACHED "$TMP/cache.out")" 0 &&
	expect_eq "$(cat "$TMP/cache.root/src/a.txt")" changed
'

# .dockerignore "d/a" with "!d/a/keep": the copy creates d/a with its source's mode, but
# the digest skipped d/a itself, so a chmod of it kept the stale layer.
test_expect_success 'the mode of a directory ignored but re-included below changes the COPY key' '
	c=$(new_ctx descend) &&
	mkdir -p "$c/d/a" && echo 1 >"$c/d/a/keep" && echo 2 >"$c/d/a/drop" &&
	printf "d/a\n!d/a/keep\n" >"$c/.dockerignore" &&
	printf "FROM scratch\nCOPY d /d\n" >"$c/Recipe" &&
	chmod 0755 "$c/d/a" &&
	cairn build -q -t descend1 "$c" >/dev/null &&
	chmod 0700 "$c/d/a" &&
	cairn build -q -t descend2 "$c" >/dev/null &&
	cairn build -q --no-cache -t descend3 "$c" >/dev/null &&
	l2=$(cairn inspect descend2 | jq -r ".Manifest.layers[-1].digest") &&
	l3=$(cairn inspect descend3 | jq -r ".Manifest.layers[-1].digest") &&
	expect_eq "$l2" "$l3" &&
	echo changed >"$c/d/a/drop" &&
	cairn build -q -t descend4 "$c" >/dev/null &&
	expect_eq "$(cairn inspect descend4 | jq -r ".Manifest.layers[-1].digest")" "$l2"
'

test_expect_success 'a malformed .dockerignore fails the build naming the file' '
	c=$(new_ctx bad) &&
	echo a >"$c/a" &&
	printf "[\n" >"$c/.dockerignore" &&
	printf "FROM scratch\nCOPY a /a\n" >"$c/Recipe" &&
	! cairn build -t bad "$c" >"$TMP/bad.err" 2>&1 &&
	expect_contains "$(cat "$TMP/bad.err")" ".dockerignore"
'

test_done
