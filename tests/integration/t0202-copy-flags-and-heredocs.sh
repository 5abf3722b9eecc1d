#!/bin/bash
# COPY/ADD beyond plain sources: --exclude, --parents, --link, symbolic --chmod,
# here-documents as files, and the errors buildkit gives for --checksum and git sources.
. "$(dirname "$0")/lib.sh"
unset SOURCE_DATE_EPOCH

# build_ctx NAME: builds $TMP/NAME as image NAME (output in $TMP/NAME.out) and unpacks
# it into $TMP/NAME.root.
build_ctx() {
	cairn build -t "$1" "$TMP/$1" >"$TMP/$1.out" 2>&1 || { cat "$TMP/$1.out"; return 1; }
	rm -rf "$TMP/$1.root" && image_rootfs "$1" "$TMP/$1.root"
}

test_expect_success 'COPY --exclude leaves out what the patterns match inside a directory source' '
	c=$(new_ctx exclude) &&
	mkdir -p "$c/src/sub/tmp" "$c/src/tmp" &&
	echo a >"$c/src/a.txt" && echo l >"$c/src/a.log" && echo l >"$c/src/sub/b.log" &&
	echo b >"$c/src/sub/b.txt" && echo t >"$c/src/tmp/t" && echo t >"$c/src/sub/tmp/t" &&
	printf "FROM scratch\nCOPY --exclude=*.log --exclude=**/tmp src /d/\n" >"$c/Recipe" &&
	build_ctx exclude &&
	expect_eq "$(tree "$TMP/exclude.root/d")" "./a.txt ./sub ./sub/b.log ./sub/b.txt "
'

test_expect_success 'COPY --exclude with ** and ! exceptions, relative to the source' '
	c=$(new_ctx exclude2) &&
	mkdir -p "$c/src/x/y" &&
	echo 1 >"$c/src/x/y/keep.log" && echo 2 >"$c/src/x/y/drop.log" && echo 3 >"$c/src/top.log" &&
	printf "FROM scratch\nCOPY --exclude=**/*.log --exclude=!**/keep.log src /d/\n" >"$c/Recipe" &&
	build_ctx exclude2 &&
	expect_eq "$(tree "$TMP/exclude2.root/d")" "./x ./x/y ./x/y/keep.log "
'

test_expect_success 'COPY --exclude=*.txt hom* drops the matched .txt files' '
	c=$(new_ctx excludewild) &&
	echo 1 >"$c/home.txt" && echo 2 >"$c/homer.bin" && echo 3 >"$c/other.bin" &&
	printf "FROM scratch\nCOPY --exclude=*.txt hom* /mydir/\n" >"$c/Recipe" &&
	build_ctx excludewild &&
	expect_eq "$(tree "$TMP/excludewild.root/mydir")" "./homer.bin "
'

test_expect_success 'a file left out by --exclude does not change the cache key' '
	c=$(new_ctx excludekey) &&
	mkdir -p "$c/src" && echo a >"$c/src/a.txt" && echo l >"$c/src/a.log" &&
	printf "FROM scratch\nCOPY --exclude=*.log src /d/\n" >"$c/Recipe" &&
	build_ctx excludekey &&
	echo changed >"$c/src/a.log" && echo new >"$c/src/b.log" &&
	build_ctx excludekey &&
	expect_contains "$(cat "$TMP/excludekey.out")" "CACHED" &&
	echo changed >"$c/src/a.txt" &&
	build_ctx excludekey &&
	! grep -q CACHED "$TMP/excludekey.out" &&
	expect_eq "$(cat "$TMP/excludekey.root/d/a.txt")" changed
'

test_expect_success 'COPY --parents keeps the parent directories of each source' '
	c=$(new_ctx parents) &&
	mkdir -p "$c/a/b" "$c/x" &&
	echo c >"$c/a/b/c.txt" && echo y >"$c/x/y.txt" && echo z >"$c/x/z.bin" &&
	printf "FROM scratch\nCOPY --parents a/b/c.txt x/*.txt /dst/\n" >"$c/Recipe" &&
	build_ctx parents &&
	expect_eq "$(tree "$TMP/parents.root/dst")" "./a ./a/b ./a/b/c.txt ./x ./x/y.txt "
'

test_expect_success 'COPY --parents with /./ keeps only the path below the pivot' '
	c=$(new_ctx pivot) &&
	mkdir -p "$c/x/y" &&
	echo 1 >"$c/x/y/one.txt" && echo 2 >"$c/x/y/two.txt" && echo 3 >"$c/x/y/no.bin" &&
	printf "FROM scratch\nCOPY --parents ./x/./y/*.txt /dst/\n" >"$c/Recipe" &&
	build_ctx pivot &&
	expect_eq "$(tree "$TMP/pivot.root/dst")" "./y ./y/one.txt ./y/two.txt "
'

test_expect_success 'COPY --parents of a directory keeps it and its contents' '
	c=$(new_ctx parentsdir) &&
	mkdir -p "$c/p/q" && echo f >"$c/p/q/f" &&
	printf "FROM scratch\nCOPY --parents p/q /dst/\n" >"$c/Recipe" &&
	build_ctx parentsdir &&
	expect_eq "$(cat "$TMP/parentsdir.root/dst/p/q/f")" f
'

test_expect_success 'COPY --link gives the same files as COPY' '
	c=$(new_ctx link) &&
	echo a >"$c/a.txt" &&
	printf "FROM scratch\nCOPY --link a.txt /a.txt\nCOPY --link=true a.txt /b.txt\nCOPY --link=false a.txt /c.txt\n" >"$c/Recipe" &&
	build_ctx link &&
	cmp "$c/a.txt" "$TMP/link.root/a.txt" && cmp "$c/a.txt" "$TMP/link.root/b.txt" &&
	cmp "$c/a.txt" "$TMP/link.root/c.txt"
'

test_expect_success 'COPY --chmod accepts symbolic modes applied to each file mode' '
	c=$(new_ctx chmodsym) &&
	mkdir -p "$c/d" && echo a >"$c/d/plain" && echo b >"$c/d/exe" &&
	chmod 0666 "$c/d/plain" && chmod 0744 "$c/d/exe" && chmod 0700 "$c/d" &&
	echo f >"$c/f" && chmod 0666 "$c/f" &&
	printf "FROM scratch\nCOPY --chmod=u+x,go-w f /f\nCOPY --chmod=go+rX d /d\n" >"$c/Recipe" &&
	build_ctx chmodsym &&
	r="$TMP/chmodsym.root" &&
	expect_eq "$(stat -c %a "$r/f")" 744 &&
	expect_eq "$(stat -c %a "$r/d/plain")" 666 &&
	expect_eq "$(stat -c %a "$r/d/exe")" 755 &&
	expect_eq "$(stat -c %a "$r/d")" 755
'

test_expect_success 'COPY --chmod with a numeric mode that is not octal fails as buildkit' '
	c=$(new_ctx chmod9) &&
	echo a >"$c/a" &&
	printf "FROM scratch\nCOPY --chmod=999 a /a\n" >"$c/Recipe" &&
	fails_with chmod9 "Recipe:2" "--chmod=999" "octal"
'

test_expect_success 'ADD --checksum of a local source fails as buildkit' '
	c=$(new_ctx checksum) &&
	echo a >"$c/a" &&
	printf "FROM scratch\nADD --checksum=sha256:%064d a /a\n" 0 >"$c/Recipe" &&
	fails_with checksum "Recipe:2" "checksum requires HTTP(S) or Git sources"
'

test_expect_success 'COPY --checksum is an unknown flag' '
	c=$(new_ctx copychecksum) &&
	echo a >"$c/a" &&
	printf "FROM scratch\nCOPY --checksum=sha256:%064d a /a\n" 0 >"$c/Recipe" &&
	fails_with copychecksum "Recipe:2" "unknown flag: --checksum"
'

test_expect_success ROOT 'COPY <<EOF writes the heredoc to the destination file, mode 644' '
	c=$(new_ctx heredoc) &&
	printf "FROM scratch\nCOPY <<EOF /etc/greeting\nhello\nworld\nEOF\n" >"$c/Recipe" &&
	build_ctx heredoc &&
	expect_eq "$(cat "$TMP/heredoc.root/etc/greeting")" "$(printf "hello\nworld")" &&
	expect_eq "$(stat -c %a:%u:%g "$TMP/heredoc.root/etc/greeting")" 644:0:0
'

test_expect_success 'COPY <<a.txt <<b.txt /dir/ writes one file per heredoc, named by it' '
	c=$(new_ctx heredocs) &&
	printf "FROM scratch\nCOPY <<a.txt <<b.txt /dir/\nfirst\na.txt\nsecond\nb.txt\n" >"$c/Recipe" &&
	build_ctx heredocs &&
	expect_eq "$(tree "$TMP/heredocs.root/dir")" "./a.txt ./b.txt " &&
	expect_eq "$(cat "$TMP/heredocs.root/dir/a.txt")" first &&
	expect_eq "$(cat "$TMP/heredocs.root/dir/b.txt")" second
'

test_expect_success 'COPY heredocs expand ARG and ENV and keep quotes, unless the delimiter is quoted' '
	c=$(new_ctx heredocexp) &&
	cat >"$c/Recipe" <<-\RECIPE &&
	FROM scratch
	ARG WHO=world
	ENV GREETING=hello
	COPY <<EOF /expanded
	$GREETING "${WHO}" '"'"'$WHO'"'"' \$HOME ${UNSET:-dflt}
	EOF
	COPY <<"EOF" /raw
	$GREETING "${WHO}"
	EOF
	RECIPE
	build_ctx heredocexp &&
	expect_eq "$(cat "$TMP/heredocexp.root/expanded")" "hello \"world\" '"'"'world'"'"' \$HOME dflt" &&
	expect_eq "$(cat "$TMP/heredocexp.root/raw")" "\$GREETING \"\${WHO}\""
'

test_expect_success ROOT 'COPY heredocs take --chown and --chmod' '
	c=$(new_ctx heredocown) &&
	printf "FROM scratch\nCOPY --chown=1000:1001 --chmod=750 <<run.sh /bin/\n#!/bin/sh\nrun.sh\n" >"$c/Recipe" &&
	build_ctx heredocown &&
	expect_eq "$(stat -c %a:%u:%g "$TMP/heredocown.root/bin/run.sh")" 750:1000:1001
'

test_expect_success 'the cache key of a heredoc COPY covers its content and its build args' '
	c=$(new_ctx heredockey) &&
	printf "FROM scratch\nARG V=1\nCOPY <<EOF /v\nv=\$V\nEOF\n" >"$c/Recipe" &&
	build_ctx heredockey && build_ctx heredockey &&
	expect_contains "$(cat "$TMP/heredockey.out")" "CACHED" &&
	cairn build -t heredockey --build-arg V=2 "$c" >"$TMP/heredockey.out" 2>&1 &&
	! grep -q "COPY.*CACHED" "$TMP/heredockey.out" &&
	rm -rf "$TMP/heredockey.root" && image_rootfs heredockey "$TMP/heredockey.root" &&
	expect_eq "$(cat "$TMP/heredockey.root/v")" v=2 &&
	printf "FROM scratch\nARG V=1\nCOPY <<EOF /v\nw=\$V\nEOF\n" >"$c/Recipe" &&
	build_ctx heredockey &&
	! grep -q "COPY.*CACHED" "$TMP/heredockey.out" &&
	expect_eq "$(cat "$TMP/heredockey.root/v")" w=1
'

test_expect_success 'COPY of a heredoc and a file into a directory writes both' '
	c=$(new_ctx heredocmix) &&
	echo f >"$c/file" &&
	printf "FROM scratch\nCOPY file <<doc /m/\nd\ndoc\n" >"$c/Recipe" &&
	build_ctx heredocmix &&
	expect_eq "$(tree "$TMP/heredocmix.root/m")" "./doc ./file "
'

test_expect_success 'COPY --from another stage takes its files, with --exclude and --parents' '
	c=$(new_ctx from) &&
	printf "*.txt\n" >"$c/.dockerignore" &&
	cat >"$c/Recipe" <<-\RECIPE &&
	FROM scratch AS one
	COPY <<x.txt <<y.log /data/
	x
	x.txt
	y
	y.log
	FROM scratch
	COPY --from=one /data/ /got/
	COPY --from=one --exclude=*.log /data /ex/
	COPY --from=one --parents /data/x.txt /par/
	RECIPE
	build_ctx from &&
	r="$TMP/from.root" &&
	expect_eq "$(tree "$r/got")" "./x.txt ./y.log " &&
	expect_eq "$(tree "$r/ex")" "./x.txt " &&
	expect_eq "$(tree "$r/par")" "./data ./data/x.txt " &&
	build_ctx from &&
	expect_eq "$(grep -c "COPY --from.*CACHED" "$TMP/from.out")" 3
'

test_done
