#!/bin/bash
# ADD of a URL, as BuildKit: the file (mode 0600, mtime from Last-Modified) named
# after the URL's path, keyed by its content; a rebuild asks again with the ETag and
# Last-Modified kept and a 304 costs no download; --checksum is checked, and a
# store that has that content asks nothing; errors name the URL and the recipe line.
# And ADD of a git repository (URL#REF:SUBDIR, --keep-git-dir), keyed by the commit.
# The servers, httpfiles.py and git daemon, listen on loopback and stop with the test.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/registry.sh"
unset SOURCE_DATE_EPOCH

if test_have_prereq ROOT,PYTHON; then
	build_base base:1 ""
	mkdir -p "$TMP/www/dir"
	echo "remote one" >"$TMP/www/file.txt"
	touch -d @1600000000 "$TMP/www/file.txt"
	echo "no validators" >"$TMP/www/bare.noheaders"
	echo "index" >"$TMP/www/dir/index.noheaders"
	echo "root index" >"$TMP/www/index.noheaders"
	hport=$(free_port)
	python3 "$CAIRN_SOURCE_ROOT/tests/integration/httpfiles.py" "$hport" "$TMP/www" \
		"$TMP/www.log" >"$TMP/www.err" 2>&1 &
	echo $! >>"$pidfile"
	wait_port "$hport"
	URL=http://127.0.0.1:$hport
fi

# requests STATUS: how many requests the server answered with STATUS so far
requests() { grep -c " $1 " "$TMP/www.log" || true; }

test_expect_success ROOT,PYTHON 'ADD URL dir/ writes the file named after the URL: mode 0600, mtime from Last-Modified' '
	recipe addurl <<-EOF &&
	FROM base:1
	ADD $URL/file.txt /dst/
	RUN stat -c "%a %Y" /dst/file.txt >/meta
	EOF
	build addurl >/dev/null 2>&1 &&
	expect_eq "$(out addurl /dst/file.txt)" "remote one" &&
	expect_eq "$(out addurl /meta)" "600 1600000000" &&
	expect_eq "$(cairn inspect addurl | jq -r ".Config.history[-2].created_by")" \
		"ADD $URL/file.txt /dst/ # buildkit"
'

test_expect_success ROOT,PYTHON 'a rebuild revalidates: a 304 downloads nothing and the step is cached' '
	before=$(requests 200) &&
	build addurl >"$TMP/addurl.2" 2>&1 &&
	grep "ADD $URL/file.txt" "$TMP/addurl.2" | grep -q CACHED &&
	expect_eq "$(requests 200)" "$before" &&
	tail -n 1 "$TMP/www.log" | grep -q "GET /file.txt 304 conditional"
'

test_expect_success ROOT,PYTHON 'a changed file is downloaded again and the step runs' '
	echo "remote two" >"$TMP/www/file.txt" &&
	touch -d @1700000000 "$TMP/www/file.txt" &&
	build addurl >"$TMP/addurl.3" 2>&1 &&
	! grep "ADD $URL/file.txt" "$TMP/addurl.3" | grep -q CACHED &&
	expect_eq "$(out addurl /dst/file.txt)" "remote two" &&
	tail -n 1 "$TMP/www.log" | grep -q "GET /file.txt 200 conditional"
'

test_expect_success ROOT,PYTHON 'a destination without / is the file; names as Go'"'"'s path.Base, __unnamed__ without one' '
	recipe addnamed <<-EOF &&
	FROM base:1
	ADD $URL/file.txt /named
	ADD $URL/dir/ /u/
	ADD $URL/ /u/
	EOF
	build addnamed >/dev/null 2>&1 &&
	expect_eq "$(out addnamed /named)" "remote two" &&
	expect_eq "$(cat "$TMP/rootfs.out/u/dir")" index &&
	expect_eq "$(cat "$TMP/rootfs.out/u/__unnamed__")" "root index"
'

test_expect_success ROOT,PYTHON 'without validators every build downloads, and the same content stays cached' '
	recipe addbare <<-EOF &&
	FROM base:1
	ADD $URL/bare /bare
	EOF
	build addbare >/dev/null 2>&1 &&
	before=$(requests 200) &&
	build addbare >"$TMP/addbare.2" 2>&1 &&
	expect_eq "$(requests 200)" "$((before + 1))" &&
	grep "ADD $URL/bare" "$TMP/addbare.2" | grep -q CACHED
'

test_expect_success ROOT,PYTHON '--checksum: checked; with the content in the store nothing is asked' '
	sum=$(sha256sum "$TMP/www/file.txt" | cut -d" " -f1) &&
	recipe addsum <<-EOF &&
	FROM base:1
	ADD --checksum=sha256:$sum $URL/file.txt /sum
	EOF
	build addsum >/dev/null 2>&1 &&
	expect_eq "$(out addsum /sum)" "remote two" &&
	n=$(wc -l <"$TMP/www.log") &&
	build addsum >/dev/null 2>&1 &&
	expect_eq "$(wc -l <"$TMP/www.log")" "$n" &&
	bad=$(printf %064d 7) &&
	recipe addbadsum <<-EOF &&
	FROM base:1
	ADD --checksum=sha256:$bad $URL/file.txt /sum
	EOF
	fails_with addbadsum "Recipe:2" "$URL/file.txt" "sha256:$sum" "sha256:$bad"
'

test_expect_success ROOT,PYTHON 'a 404 fails naming the URL and the line; COPY of a URL is refused' '
	recipe add404 <<-EOF &&
	FROM base:1
	ADD $URL/nosuch /x
	EOF
	fails_with add404 "Recipe:2" "$URL/nosuch" "404" &&
	recipe copyurl <<-EOF &&
	FROM base:1
	COPY $URL/file.txt /x
	EOF
	fails_with copyurl "Recipe:2" "source can'"'"'t be a URL for COPY"
'

test_expect_success ROOT,PYTHON 'a URL archive is not unpacked, unless --unpack=true' '
	mkdir -p "$TMP/arc" && echo inside >"$TMP/arc/in.txt" &&
	tar -C "$TMP/arc" -czf "$TMP/www/a.tar.gz" in.txt &&
	recipe addarc <<-EOF &&
	FROM base:1
	ADD $URL/a.tar.gz /kept/
	ADD --unpack=true $URL/a.tar.gz /unpacked/
	EOF
	build addarc >/dev/null 2>&1 &&
	image_rootfs addarc "$TMP/addarc.root" &&
	test -f "$TMP/addarc.root/kept/a.tar.gz" &&
	expect_eq "$(cat "$TMP/addarc.root/unpacked/in.txt")" inside
'

test_expect_success ROOT,PYTHON 'the download goes through the proxy a build arg names' '
	recipe addproxy <<-\EOF &&
	FROM base:1
	ADD http://cairn-test.invalid/file.txt /p
	EOF
	{ build addproxy --build-arg "http_proxy=$URL" 2>"$TMP/addproxy.err"; test $? = 1; } &&
	grep -q "GET http://cairn-test.invalid/file.txt 404" "$TMP/www.log" &&
	expect_contains "$(cat "$TMP/addproxy.err")" "http://cairn-test.invalid/file.txt"
'

if test_have_prereq ROOT,PYTHON && command -v git >/dev/null; then
	mkdir -p "$TMP/git/src/sub"
	(
		cd "$TMP/git/src" && git init -q -b main &&
			echo one >top.txt && echo insub >sub/in.txt && git add . &&
			git -c user.email=t@t -c user.name=t commit -qm one && git tag v1 &&
			echo two >top.txt && git -c user.email=t@t -c user.name=t commit -qam two
	) >"$TMP/git.log" 2>&1 &&
		git clone -q --bare "$TMP/git/src" "$TMP/git/repo.git" >>"$TMP/git.log" 2>&1
	gport=$(free_port)
	git daemon --export-all --base-path="$TMP/git" --listen=127.0.0.1 --port="$gport" \
		--reuseaddr >>"$TMP/git.log" 2>&1 &
	echo $! >>"$pidfile"
	for _ in $(seq 50); do
		git ls-remote "git://127.0.0.1:$gport/repo.git" >/dev/null 2>&1 && break
		sleep 0.1
	done
	GIT=git://127.0.0.1:$gport/repo.git
fi

test_expect_success ROOT,PYTHON 'ADD of a git repository: HEAD, a tag with a subdir, a branch with --keep-git-dir' '
	recipe addgit <<-EOF &&
	FROM base:1
	ADD $GIT /r1
	ADD $GIT#v1:sub /r2
	ADD --keep-git-dir=true $GIT#main /r3
	EOF
	build addgit >/dev/null 2>&1 &&
	image_rootfs addgit "$TMP/addgit.root" &&
	expect_eq "$(cat "$TMP/addgit.root/r1/top.txt")" two &&
	test ! -e "$TMP/addgit.root/r1/.git" &&
	expect_eq "$(ls "$TMP/addgit.root/r2")" in.txt &&
	test -d "$TMP/addgit.root/r3/.git" &&
	expect_eq "$(cat "$TMP/addgit.root/r3/top.txt")" two
'

test_expect_success ROOT,PYTHON 'a git source is resolved each build; an unchanged commit fetches nothing, a new one does' '
	build addgit >"$TMP/addgit.2" 2>&1 &&
	! grep -q "^fetching" "$TMP/addgit.2" &&
	expect_eq "$(grep -c CACHED "$TMP/addgit.2")" 3 &&
	(cd "$TMP/git/src" && echo three >top.txt &&
		git -c user.email=t@t -c user.name=t commit -qam three &&
		git push -q "$TMP/git/repo.git" main) >>"$TMP/git.log" 2>&1 &&
	build addgit >"$TMP/addgit.3" 2>&1 &&
	grep -q "^fetching $GIT at" "$TMP/addgit.3" &&
	image_rootfs addgit "$TMP/addgit3.root" &&
	expect_eq "$(cat "$TMP/addgit3.root/r1/top.txt")" three
'

# git's dumb HTTP protocol from the file server: no shallow fetch by commit there,
# so the fetch of everything is what gets the commit
test_expect_success ROOT,PYTHON 'ADD of a git repository over HTTP (dumb protocol: the full fetch)' '
	git clone -q --bare "$TMP/git/src" "$TMP/www/web.git" >>"$TMP/git.log" 2>&1 &&
	git -C "$TMP/www/web.git" update-server-info &&
	recipe addgithttp <<-EOF &&
	FROM base:1
	ADD $URL/web.git#main:sub /w
	EOF
	build addgithttp >/dev/null 2>&1 &&
	expect_eq "$(out addgithttp /w/in.txt)" insub
'

test_expect_success ROOT,PYTHON 'git errors: a missing ref names it; COPY of a git source is refused' '
	recipe gitnoref <<-EOF &&
	FROM base:1
	ADD $GIT#nosuch /x
	EOF
	fails_with gitnoref "Recipe:2" "no ref nosuch" &&
	recipe gitcopy <<-EOF &&
	FROM base:1
	COPY $GIT /x
	EOF
	fails_with gitcopy "Recipe:2" "source can'"'"'t be a git ref for COPY"
'

test_done
