#!/bin/bash
# COPY and ADD: which context files they take, where they land in the image, with
# what owner, mode and mtime, and that nothing outside the context is ever read nor
# anything outside the image written.
. "$(dirname "$0")/lib.sh"
unset SOURCE_DATE_EPOCH

# A base image every test builds on: busybox, a user "app" (uid 1001, gid 1002, so
# that a name lookup cannot be confused with 1000:1000) and a directory /existing.
if test_have_prereq ROOT; then
	build_base base "RUN mkdir -p /etc /existing && echo 'root:x:0:0:root:/root:/bin/sh' >/etc/passwd && echo 'app:x:1001:1002:app:/home/app:/bin/sh' >>/etc/passwd && echo 'root:x:0:' >/etc/group && echo 'app:x:1002:' >>/etc/group
"
fi

# build_ctx NAME: builds $TMP/NAME as image NAME and unpacks it into $TMP/NAME.root.
build_ctx() {
	cairn build -t "$1" "$TMP/$1" &&
		rm -rf "$TMP/$1.root" &&
		image_rootfs "$1" "$TMP/$1.root"
}


test_expect_success ROOT 'COPY of one file copies its content and mode' '
	c=$(new_ctx one) &&
	printf "hello\n" >"$c/a.txt" && chmod 0751 "$c/a.txt" &&
	printf "FROM base\nCOPY a.txt /a.txt\n" >"$c/Recipe" &&
	build_ctx one &&
	cmp "$c/a.txt" "$TMP/one.root/a.txt" &&
	expect_eq "$(stat -c %a "$TMP/one.root/a.txt")" 751
'

test_expect_success ROOT 'COPY of several sources into a directory copies each of them' '
	c=$(new_ctx several) &&
	echo a >"$c/a.txt" && echo b >"$c/b.bin" && echo c >"$c/c.txt" &&
	printf "FROM base\nCOPY a.txt b.bin /dst/\n" >"$c/Recipe" &&
	build_ctx several &&
	expect_eq "$(cat "$TMP/several.root/dst/a.txt")" a &&
	expect_eq "$(cat "$TMP/several.root/dst/b.bin")" b &&
	test ! -e "$TMP/several.root/dst/c.txt"
'

test_expect_success ROOT 'COPY *.txt copies exactly the .txt files' '
	c=$(new_ctx star) &&
	echo 1 >"$c/one.txt" && echo 2 >"$c/two.txt" && echo x >"$c/three.md" &&
	mkdir "$c/sub" && echo s >"$c/sub/four.txt" &&
	printf "FROM base\nCOPY *.txt /w/\n" >"$c/Recipe" &&
	build_ctx star &&
	expect_eq "$(ls "$TMP/star.root/w" | tr "\n" " ")" "one.txt two.txt "
'

test_expect_success ROOT 'COPY with ? matches exactly one character' '
	c=$(new_ctx qmark) &&
	echo 1 >"$c/f1" && echo 2 >"$c/f2" && echo 3 >"$c/f10" &&
	printf "FROM base\nCOPY f? /q/\n" >"$c/Recipe" &&
	build_ctx qmark &&
	expect_eq "$(ls "$TMP/qmark.root/q" | tr "\n" " ")" "f1 f2 "
'

test_expect_success ROOT 'COPY with [ab] matches only the listed characters' '
	c=$(new_ctx brackets) &&
	echo a >"$c/xa" && echo b >"$c/xb" && echo c >"$c/xc" &&
	printf "FROM base\nCOPY x[ab] /b/\n" >"$c/Recipe" &&
	build_ctx brackets &&
	expect_eq "$(ls "$TMP/brackets.root/b" | tr "\n" " ")" "xa xb "
'

test_expect_success ROOT 'COPY with a wildcard matching nothing fails' '
	c=$(new_ctx nomatch) &&
	echo a >"$c/a.txt" &&
	printf "FROM base\nCOPY *.nope /n/\n" >"$c/Recipe" &&
	fails_with nomatch "Recipe:2" "*.nope"
'

test_expect_success ROOT 'COPY dir/ copies the contents of the directory, not the directory' '
	c=$(new_ctx dircontents) &&
	mkdir -p "$c/dir/sub" && echo top >"$c/dir/top" && echo deep >"$c/dir/sub/deep" &&
	printf "FROM base\nCOPY dir/ /target/\nCOPY dir /plain\n" >"$c/Recipe" &&
	build_ctx dircontents &&
	r="$TMP/dircontents.root" &&
	expect_eq "$(cat "$r/target/top")" top &&
	expect_eq "$(cat "$r/target/sub/deep")" deep &&
	test ! -e "$r/target/dir" &&
	expect_eq "$(cat "$r/plain/sub/deep")" deep &&
	test ! -e "$r/plain/dir"
'

test_expect_success ROOT 'COPY to a relative destination lands under WORKDIR' '
	c=$(new_ctx relative) &&
	echo a >"$c/a.txt" && echo b >"$c/b.txt" &&
	printf "FROM base\nWORKDIR /app/src\nCOPY a.txt .\nCOPY b.txt sub/\nCOPY a.txt named\n" >"$c/Recipe" &&
	build_ctx relative &&
	r="$TMP/relative.root" &&
	expect_eq "$(cat "$r/app/src/a.txt")" a &&
	expect_eq "$(cat "$r/app/src/sub/b.txt")" b &&
	expect_eq "$(cat "$r/app/src/named")" a &&
	test ! -e "$r/a.txt" && test ! -e "$r/sub"
'

test_expect_success ROOT 'COPY creates the missing parents of the destination' '
	c=$(new_ctx parents) &&
	echo a >"$c/a.txt" &&
	printf "FROM base\nCOPY a.txt /new/deep/dir/\nCOPY a.txt /other/deep/file\n" >"$c/Recipe" &&
	build_ctx parents &&
	r="$TMP/parents.root" &&
	expect_eq "$(cat "$r/new/deep/dir/a.txt")" a &&
	test -f "$r/other/deep/file" &&
	expect_eq "$(stat -c %a "$r/new/deep")" 755
'

test_expect_success ROOT 'a destination ending in / is a directory, one without is the file name' '
	c=$(new_ctx slash) &&
	echo a >"$c/a.txt" &&
	printf "FROM base\nCOPY a.txt /x/\nCOPY a.txt /y\n" >"$c/Recipe" &&
	build_ctx slash &&
	r="$TMP/slash.root" &&
	test -d "$r/x" && expect_eq "$(cat "$r/x/a.txt")" a &&
	test -f "$r/y" && expect_eq "$(cat "$r/y")" a
'

test_expect_success ROOT 'COPY onto a directory that exists in the image puts the file inside it' '
	c=$(new_ctx existing) &&
	echo a >"$c/a.txt" &&
	printf "FROM base\nCOPY a.txt /existing\n" >"$c/Recipe" &&
	build_ctx existing &&
	test -d "$TMP/existing.root/existing" &&
	expect_eq "$(cat "$TMP/existing.root/existing/a.txt")" a
'

test_expect_success ROOT 'COPY --chown=1000:1000 owns the files and the directories it copies' '
	c=$(new_ctx chownnum) &&
	echo a >"$c/a.txt" && mkdir -p "$c/d/e" && echo f >"$c/d/e/f" &&
	printf "FROM base\nCOPY --chown=1000:1000 a.txt /o/a.txt\nCOPY --chown=1000:1000 d /dd\n" >"$c/Recipe" &&
	build_ctx chownnum &&
	r="$TMP/chownnum.root" &&
	expect_eq "$(stat -c %u:%g "$r/o/a.txt")" 1000:1000 &&
	expect_eq "$(stat -c %u:%g "$r/dd/e")" 1000:1000 &&
	expect_eq "$(stat -c %u:%g "$r/dd/e/f")" 1000:1000 &&
	# docker: without --chown, files are root-owned whatever their owner in the context
	expect_eq "$(stat -c %u:%g "$r/bin/busybox")" 0:0
'

test_expect_success ROOT 'COPY --chown=app resolves the name in the image /etc/passwd' '
	c=$(new_ctx chownname) &&
	echo a >"$c/a.txt" &&
	printf "FROM base\nCOPY --chown=app a.txt /a.txt\nCOPY --chown=app:root a.txt /b.txt\n" >"$c/Recipe" &&
	build_ctx chownname &&
	expect_eq "$(stat -c %u:%g "$TMP/chownname.root/a.txt")" 1001:1002 &&
	expect_eq "$(stat -c %u:%g "$TMP/chownname.root/b.txt")" 1001:0
'

# buildkit: a numeric uid alone is also the gid, whether the image knows it or not
test_expect_success ROOT 'COPY --chown=UID alone uses the uid as the gid' '
	c=$(new_ctx chownuid) &&
	echo a >"$c/a.txt" &&
	printf "FROM base\nCOPY --chown=1001 a.txt /a.txt\nCOPY --chown=4242 a.txt /b.txt\nCOPY --chown=4242:app a.txt /c.txt\n" >"$c/Recipe" &&
	build_ctx chownuid &&
	expect_eq "$(stat -c %u:%g "$TMP/chownuid.root/a.txt")" 1001:1001 &&
	expect_eq "$(stat -c %u:%g "$TMP/chownuid.root/b.txt")" 4242:4242 &&
	expect_eq "$(stat -c %u:%g "$TMP/chownuid.root/c.txt")" 4242:1002
'

test_expect_success ROOT 'COPY --chown with a user the image does not know fails' '
	c=$(new_ctx chownunknown) &&
	echo a >"$c/a.txt" &&
	printf "FROM base\nCOPY --chown=nobody-here a.txt /a.txt\n" >"$c/Recipe" &&
	fails_with chownunknown "Recipe:2" "nobody-here" &&
	# the message shows the recipe line under it, as a syntax error does
	expect_eq "$(tail -n 1 "$TMP/chownunknown.err")" "    COPY --chown=nobody-here a.txt /a.txt"
'

test_expect_success ROOT 'files in the context owned by another user are copied as root' '
	c=$(new_ctx ctxowner) &&
	echo a >"$c/a.txt" && chown 4321:4321 "$c/a.txt" &&
	printf "FROM base\nCOPY a.txt /a.txt\n" >"$c/Recipe" &&
	build_ctx ctxowner &&
	expect_eq "$(stat -c %u:%g "$TMP/ctxowner.root/a.txt")" 0:0
'

test_expect_success ROOT 'COPY --chmod=640 sets the mode of the copied file' '
	c=$(new_ctx chmod) &&
	echo a >"$c/a.txt" && chmod 0777 "$c/a.txt" &&
	printf "FROM base\nCOPY --chmod=640 a.txt /a.txt\n" >"$c/Recipe" &&
	build_ctx chmod &&
	expect_eq "$(stat -c %a "$TMP/chmod.root/a.txt")" 640
'

test_expect_success ROOT 'COPY --chmod with a non-octal mode fails' '
	c=$(new_ctx chmodbad) &&
	echo a >"$c/a.txt" &&
	printf "FROM base\nCOPY --chmod=9z9 a.txt /a.txt\n" >"$c/Recipe" &&
	fails_with chmodbad "Recipe:2" "9z9"
'

test_expect_success ROOT 'symlinks inside a copied directory stay symlinks' '
	c=$(new_ctx links) &&
	mkdir -p "$c/d" && echo t >"$c/d/target" &&
	ln -s target "$c/d/rel" && ln -s /etc/passwd "$c/d/abs" && ln -s ../nowhere "$c/d/dangling" &&
	printf "FROM base\nCOPY d /d\n" >"$c/Recipe" &&
	build_ctx links &&
	r="$TMP/links.root" &&
	test -L "$r/d/rel" && expect_eq "$(readlink "$r/d/rel")" target &&
	test -L "$r/d/abs" && expect_eq "$(readlink "$r/d/abs")" /etc/passwd &&
	test -L "$r/d/dangling" && expect_eq "$(readlink "$r/d/dangling")" ../nowhere &&
	# the host file the link names is not in the layer
	layer=$(cairn inspect links | jq -r ".Manifest.layers[-1].digest") &&
	zstd -dc "$CAIRN_ROOT/blobs/sha256/${layer#sha256:}" | tar -tvf - >"$TMP/links.list" &&
	grep -q "d/abs -> /etc/passwd\$" "$TMP/links.list" &&
	expect_eq "$(grep -c "^-" "$TMP/links.list")" 1
'

test_expect_success ROOT 'COPY preserves the mtimes of files and directories' '
	c=$(new_ctx mtime) &&
	mkdir -p "$c/d/e" && echo a >"$c/d/a" && echo b >"$c/b" &&
	touch -d @1500000000 "$c/d/a" && touch -d @1400000000 "$c/b" &&
	touch -d @1200000000 "$c/d/e" && touch -d @1300000000 "$c/d" &&
	printf "FROM base\nCOPY d /d\nCOPY b /b\n" >"$c/Recipe" &&
	build_ctx mtime &&
	expect_eq "$(stat -c %Y "$TMP/mtime.root/d/a")" 1500000000 &&
	expect_eq "$(stat -c %Y "$TMP/mtime.root/b")" 1400000000 &&
	expect_eq "$(stat -c %Y "$TMP/mtime.root/d/e")" 1200000000 &&
	expect_eq "$(stat -c %Y "$TMP/mtime.root/d")" 1300000000
'

test_expect_success ROOT 'a directory COPY creates takes the source mode; an existing one keeps its own' '
	c=$(new_ctx dirmode) &&
	mkdir -p "$c/d" && echo a >"$c/d/a" && chmod 0750 "$c/d" &&
	printf "FROM base\nCOPY d /newdir\nCOPY d /existing\n" >"$c/Recipe" &&
	build_ctx dirmode &&
	expect_eq "$(stat -c %a "$TMP/dirmode.root/newdir")" 750 &&
	expect_eq "$(stat -c %a "$TMP/dirmode.root/existing")" 755 &&
	test -f "$TMP/dirmode.root/existing/a"
'

test_expect_success ROOT 'a missing source fails, naming the file and the recipe line' '
	c=$(new_ctx missing) &&
	echo a >"$c/a.txt" &&
	printf "FROM base\n\nCOPY a.txt /a\nCOPY missing.txt /m\n" >"$c/Recipe" &&
	fails_with missing "Recipe:4" "missing.txt"
'

test_expect_success ROOT 'COPY ../outside fails and does not read outside the context' '
	c=$(new_ctx escape/ctx) &&
	echo "outside secret" >"$TMP/escape/outside" &&
	printf "FROM base\nCOPY ../outside /o\n" >"$c/Recipe" &&
	fails_with escape/ctx "Recipe:2" "outside" &&
	printf "FROM base\nCOPY sub/../../outside /o\n" >"$c/Recipe" &&
	fails_with escape/ctx "Recipe:2" "outside"
'

test_expect_success ROOT 'a context symlink to a host file never copies the host file' '
	c=$(new_ctx hostlink) &&
	ln -s /etc/passwd "$c/link" &&
	printf "FROM base\nCOPY link /x\n" >"$c/Recipe" &&
	if cairn build -t hostlink "$c" >"$TMP/hostlink.out" 2>&1; then
		rm -rf "$TMP/hostlink.root" && image_rootfs hostlink "$TMP/hostlink.root" &&
		! cmp -s /etc/passwd "$TMP/hostlink.root/x" &&
		! grep -rqF "$(head -n 1 /etc/passwd)" "$TMP/hostlink.root/x"
	else
		expect_contains "$(cat "$TMP/hostlink.out")" "Recipe:2"
	fi
'

test_expect_success ROOT 'a context symlink with an absolute target resolves inside the context' '
	c=$(new_ctx rootedlink) &&
	mkdir -p "$c/etc" && echo "from the context" >"$c/etc/passwd" &&
	ln -s /etc/passwd "$c/link" &&
	ln -s ../../../../../../etc/passwd "$c/uplink" &&
	printf "FROM base\nCOPY link /x\nCOPY uplink /y\n" >"$c/Recipe" &&
	build_ctx rootedlink &&
	expect_eq "$(cat "$TMP/rootedlink.root/x")" "from the context" &&
	expect_eq "$(cat "$TMP/rootedlink.root/y")" "from the context" &&
	test ! -L "$TMP/rootedlink.root/x"
'

# mkdir_in_root used to chmod 0755 whatever a dangling symlink of the image named,
# following it on the host: COPY to /d/sub/ with /d -> /etc/shadow (absent in the
# image) made the host's /etc/shadow 0755. Now, as BuildKit, the link is followed
# inside the root and its target made there; the host is never touched.
test_expect_success ROOT 'COPY through a dangling symlink to a host path writes inside the root, the host file alone' '
	c=$(new_ctx dangling) &&
	echo secret >"$TMP/victim-file" && chmod 0600 "$TMP/victim-file" &&
	mkdir "$TMP/victim-dir" && chmod 0700 "$TMP/victim-dir" &&
	echo hi >"$c/f" &&
	cat >"$c/Recipe" <<-RECIPE &&
	FROM base
	RUN ln -s $TMP/victim-file /d && ln -s $TMP/victim-dir /e
	COPY f /d/sub/
	COPY f /e/sub/
	WORKDIR /e/sub2
	RECIPE
	build_ctx dangling &&
	expect_eq "$(cat "$TMP/dangling.root$TMP/victim-file/sub/f")" hi &&
	expect_eq "$(cat "$TMP/dangling.root$TMP/victim-dir/sub/f")" hi &&
	test -d "$TMP/dangling.root$TMP/victim-dir/sub2" &&
	expect_eq "$(stat -c %a "$TMP/victim-file")" 600 &&
	expect_eq "$(cat "$TMP/victim-file")" secret &&
	expect_eq "$(stat -c %a "$TMP/victim-dir")" 700 &&
	test ! -e "$TMP/victim-dir/sub" && test ! -e "$TMP/victim-dir/sub2"
'

# make_tree DIR: a small tree to archive: top, sub/deep, and a link.
make_tree() {
	mkdir -p "$1/sub" && echo top >"$1/top" && echo deep >"$1/sub/deep" &&
		ln -s top "$1/sub/link"
}

# check_tree DIR: what make_tree made, extracted at DIR.
check_tree() {
	expect_eq "$(cat "$1/top")" top &&
		expect_eq "$(cat "$1/sub/deep")" deep &&
		expect_eq "$(readlink "$1/sub/link")" top
}

test_expect_success ROOT 'ADD of a local tar extracts it into the destination directory' '
	c=$(new_ctx addtar) &&
	make_tree "$TMP/addtar.src" &&
	tar -cf "$c/t.tar" -C "$TMP/addtar.src" . &&
	printf "FROM base\nADD t.tar /opt/x/\nADD t.tar /opt/noslash\n" >"$c/Recipe" &&
	build_ctx addtar &&
	check_tree "$TMP/addtar.root/opt/x" &&
	check_tree "$TMP/addtar.root/opt/noslash" &&
	test ! -e "$TMP/addtar.root/opt/x/t.tar"
'

test_expect_success ROOT 'ADD of a .tar.gz extracts it' '
	c=$(new_ctx addgz) &&
	make_tree "$TMP/addgz.src" &&
	tar -czf "$c/t.tar.gz" -C "$TMP/addgz.src" top sub &&
	printf "FROM base\nADD t.tar.gz /opt/\n" >"$c/Recipe" &&
	build_ctx addgz &&
	check_tree "$TMP/addgz.root/opt"
'

test_expect_success ROOT 'ADD of a .tar.zst extracts it' '
	c=$(new_ctx addzst) &&
	make_tree "$TMP/addzst.src" &&
	tar -cf - -C "$TMP/addzst.src" top sub | zstd -q >"$c/t.tar.zst" &&
	printf "FROM base\nADD t.tar.zst /z/\n" >"$c/Recipe" &&
	build_ctx addzst &&
	check_tree "$TMP/addzst.root/z"
'

test_expect_success ROOT 'ADD of a tar keeps the owners of its entries' '
	c=$(new_ctx addowner) &&
	make_tree "$TMP/addowner.src" &&
	tar -cf "$c/t.tar" --owner=1234 --group=2345 --numeric-owner -C "$TMP/addowner.src" top sub &&
	printf "FROM base\nADD t.tar /o/\n" >"$c/Recipe" &&
	build_ctx addowner &&
	expect_eq "$(stat -c %u:%g "$TMP/addowner.root/o/top")" 1234:2345 &&
	expect_eq "$(stat -c %u:%g "$TMP/addowner.root/o/sub/deep")" 1234:2345
'

# buildkit >= 0.23 (moby/buildkit#1547): --chown applies to the extracted entries
test_expect_success ROOT 'ADD --chown of a tar owns every extracted entry' '
	c=$(new_ctx addchown) &&
	make_tree "$TMP/addchown.src" &&
	tar -cf "$c/t.tar" --owner=1234 --group=2345 --numeric-owner -C "$TMP/addchown.src" top sub &&
	printf "FROM base\nADD --chown=app t.tar /o/\n" >"$c/Recipe" &&
	build_ctx addchown &&
	r="$TMP/addchown.root/o" &&
	for f in top sub sub/deep sub/link; do
		expect_eq "$(stat -c %u:%g "$r/$f")" 1001:1002 || return 1
	done
'

test_expect_success ROOT 'ADD of a tar never writes outside the image root' '
	c=$(new_ctx addevil) &&
	mkdir -p "$TMP/addevil.src" && echo x >"$TMP/addevil.src/f" &&
	tar -cf "$c/evil.tar" -C "$TMP/addevil.src" --transform "s|^f|$(printf "../%.0s" $(seq 30))tmp/cairn-t0201-escaped-$$|" f &&
	tar -tf "$c/evil.tar" | grep -q "^\.\./" &&
	printf "FROM base\nADD evil.tar /e/\n" >"$c/Recipe" &&
	cairn build -t addevil "$c" >"$TMP/addevil.out" 2>&1 || true
	test ! -e "/tmp/cairn-t0201-escaped-$$" &&
	test -z "$(find "$TMP" -name "cairn-t0201-escaped-*" -not -path "$CAIRN_ROOT/cairn/*")"
'

test_expect_success ROOT 'ADD of a file that is not an archive copies it' '
	c=$(new_ctx addplain) &&
	echo plain >"$c/notes.txt" &&
	echo "not a tar" | gzip >"$c/data.gz" &&
	printf "FROM base\nADD notes.txt /n/\nADD data.gz /g/\n" >"$c/Recipe" &&
	build_ctx addplain &&
	expect_eq "$(cat "$TMP/addplain.root/n/notes.txt")" plain &&
	cmp "$c/data.gz" "$TMP/addplain.root/g/data.gz"
'

test_expect_success ROOT 'COPY of a tar copies it without extracting' '
	c=$(new_ctx copytar) &&
	make_tree "$TMP/copytar.src" &&
	tar -cf "$c/t.tar" -C "$TMP/copytar.src" . &&
	printf "FROM base\nCOPY t.tar /c/\n" >"$c/Recipe" &&
	build_ctx copytar &&
	cmp "$c/t.tar" "$TMP/copytar.root/c/t.tar" &&
	test ! -e "$TMP/copytar.root/c/top"
'

# as BuildKit, the source words count: one wildcard matching several makes the
# destination a directory
test_expect_success ROOT 'several source words with a destination that is not a directory fail' '
	c=$(new_ctx multinondir) &&
	echo a >"$c/a.txt" && echo b >"$c/b.txt" &&
	printf "FROM base\nCOPY a.txt b.txt /dest\n" >"$c/Recipe" &&
	fails_with multinondir "Recipe:2" "must be a directory" &&
	printf "FROM base\nCOPY *.txt /dest\n" >"$c/Recipe" &&
	build_ctx multinondir &&
	expect_eq "$(cat "$TMP/multinondir.root/dest/a.txt" "$TMP/multinondir.root/dest/b.txt")" "$(printf "a\nb")"
'

test_expect_success ROOT 'COPY with an unknown flag fails naming the flag' '
	c=$(new_ctx badflag) &&
	echo a >"$c/a.txt" &&
	printf "FROM base\nCOPY --bogus=1 a.txt /a\n" >"$c/Recipe" &&
	fails_with badflag "Recipe:2" "--bogus"
'

test_expect_success ROOT 'each COPY step adds one layer with only its files' '
	c=$(new_ctx layers) &&
	echo a >"$c/a.txt" && echo b >"$c/b.txt" &&
	printf "FROM base\nCOPY a.txt /la/\nCOPY b.txt /lb/\n" >"$c/Recipe" &&
	cairn build -q -t layers "$c" >/dev/null &&
	nbase=$(cairn inspect base | jq ".Manifest.layers | length") &&
	expect_eq "$(cairn inspect layers | jq ".Manifest.layers | length")" $((nbase + 2)) &&
	layer=$(cairn inspect layers | jq -r ".Manifest.layers[-1].digest") &&
	expect_eq "$(zstd -dc "$CAIRN_ROOT/blobs/sha256/${layer#sha256:}" | tar -tf - | sort | tr "\n" " ")" "lb/ lb/b.txt "
'

test_expect_success ROOT 'COPY --chown also owns the parent directories it creates' '
	c=$(new_ctx chownparents) &&
	echo a >"$c/a.txt" &&
	printf "FROM base\nCOPY --chown=1000:1000 a.txt /newp/q/a.txt\nCOPY --chown=1000:1000 a.txt /existing/a.txt\n" >"$c/Recipe" &&
	build_ctx chownparents &&
	r="$TMP/chownparents.root" &&
	expect_eq "$(stat -c %u:%g "$r/newp")" 1000:1000 &&
	expect_eq "$(stat -c %u:%g "$r/newp/q")" 1000:1000 &&
	expect_eq "$(stat -c %u:%g "$r/existing")" 0:0
'

test_expect_success ROOT 'a wildcard matching directories copies the contents of each' '
	c=$(new_ctx wilddirs) &&
	mkdir -p "$c/dir1" "$c/dir2/sub" && echo a >"$c/dir1/a" && echo b >"$c/dir2/sub/b" &&
	printf "FROM base\nCOPY dir* /x/\n" >"$c/Recipe" &&
	build_ctx wilddirs &&
	r="$TMP/wilddirs.root" &&
	expect_eq "$(cat "$r/x/a")" a &&
	expect_eq "$(cat "$r/x/sub/b")" b &&
	test ! -e "$r/x/dir1"
'

test_expect_success ROOT 'a named source that is a symlink to a directory copies the directory' '
	c=$(new_ctx linkeddir) &&
	mkdir -p "$c/real" && echo r >"$c/real/f" && ln -s real "$c/alias" &&
	printf "FROM base\nCOPY alias /x\n" >"$c/Recipe" &&
	build_ctx linkeddir &&
	test -d "$TMP/linkeddir.root/x" && test ! -L "$TMP/linkeddir.root/x" &&
	expect_eq "$(cat "$TMP/linkeddir.root/x/f")" r
'

test_expect_success ROOT 'COPY replaces a file that exists in the image' '
	c=$(new_ctx replace) &&
	echo new >"$c/passwd" &&
	printf "FROM base\nCOPY passwd /etc/passwd\n" >"$c/Recipe" &&
	build_ctx replace &&
	expect_eq "$(cat "$TMP/replace.root/etc/passwd")" new
'

test_expect_success ROOT 'a rebuild after a change of content copies the new content' '
	c=$(new_ctx rebuild) &&
	mkdir -p "$c/d" && echo aaaa >"$c/f" && echo one >"$c/d/one" &&
	printf "FROM base\nCOPY f /f\nCOPY d /d\n" >"$c/Recipe" &&
	build_ctx rebuild &&
	echo bbbb >"$c/f" && echo two >"$c/d/two" &&
	build_ctx rebuild &&
	expect_eq "$(cat "$TMP/rebuild.root/f")" bbbb &&
	expect_eq "$(cat "$TMP/rebuild.root/d/two")" two &&
	chmod 0700 "$c/f" &&
	build_ctx rebuild &&
	expect_eq "$(stat -c %a "$TMP/rebuild.root/f")" 700
'

test_done
