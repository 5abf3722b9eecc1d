/* util: string buffers, string vectors, digests, time, fs helpers, errors and JSON. */
#include "util/util.h"
#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

static void test_strbuf(void)
{
	cleanup_strbuf struct strbuf sb = STRBUF_INIT;
	is_str(strbuf_str(&sb), "", "an empty strbuf reads as \"\"");
	strbuf_addstr(&sb, "abc");
	strbuf_addch(&sb, '-');
	strbuf_addf(&sb, "%d/%s", 42, "x");
	is_str(strbuf_str(&sb), "abc-42/x", "addstr, addch and addf append");
	is_int(sb.len, 8, "len counts the bytes");
	strbuf_add(&sb, "\0z", 2);
	is_int(sb.len, 10, "add appends binary data with NULs");
	ok(sb.buf[10] == '\0', "the buffer stays NUL-terminated");
	strbuf_reset(&sb);
	is_str(strbuf_str(&sb), "", "reset empties it");
	for (int i = 0; i < 10000; i++)
		strbuf_addch(&sb, 'a' + i % 26);
	ok(sb.len == 10000 && sb.alloc > 10000 && sb.buf[9999] == 'a' + 9999 % 26,
	   "growing over many appends keeps the content");
	char *s = strbuf_detach(&sb);
	ok(s && strlen(s) == 10000 && sb.buf == NULL && sb.len == 0,
	   "detach hands over the buffer");
	free(s);
	char *e = strbuf_detach(&sb);
	is_str(e, "", "detach of an empty strbuf gives \"\"");
	free(e);
}

static void test_strv(void)
{
	cleanup_strv char **v = NULL;
	is_int(strv_len(v), 0, "strv_len(NULL) is 0");
	strv_push(&v, "a");
	strv_push(&v, "b");
	strv_push_take(&v, xstrdup("c"));
	ok(strv_len(v) == 3 && !strcmp(v[0], "a") && !strcmp(v[2], "c") && v[3] == NULL,
	   "push and push_take append and keep the NULL terminator");
	cleanup_strv char **d = strv_dup(v);
	ok(strv_len(d) == 3 && d[1] != v[1] && !strcmp(d[1], "b"), "strv_dup copies the strings");
	cleanup_strv char **empty = strv_dup(NULL);
	ok(empty && empty[0] == NULL, "strv_dup(NULL) is an empty vector");
	uint64_t size = 0;
	ok(util_parse_size("4096", &size) == 0 && size == 4096, "parse_size: plain bytes");
	ok(util_parse_size("512k", &size) == 0 && size == 512u << 10, "parse_size: k");
	ok(util_parse_size("64M", &size) == 0 && size == 64u << 20, "parse_size: M");
	ok(util_parse_size("2g", &size) == 0 && size == 2ull << 30, "parse_size: g");
	ok(util_parse_size("10GB", &size) == 0 && size == 10ull << 30 &&
	       util_parse_size("10GiB", &size) == 0 && size == 10ull << 30 &&
	       util_parse_size("512mb", &size) == 0 && size == 512ull << 20 &&
	       util_parse_size("100b", &size) == 0 && size == 100 &&
	       util_parse_size("1t", &size) == 0 && size == 1ull << 40,
	   "parse_size: docker's spellings (10GB, 10GiB, 512mb, 100b, 1t)");
	ok(util_parse_size("", &size) < 0 && util_parse_size("12x", &size) < 0 &&
	       util_parse_size("12kbb", &size) < 0 && util_parse_size("12ib", &size) < 0 &&
	       util_parse_size("-1", &size) < 0 && util_parse_size("99999999999999999G", &size) < 0,
	   "parse_size: empty, bad unit, negative and overflow are errors");
	ok(strv_contains(v, "b") && !strv_contains(v, "bb") && !strv_contains(NULL, "a"),
	   "strv_contains finds equal strings only");
}

static void test_sha256(void)
{
	char d[DIGEST_LEN];
	sha256_digest("", 0, d);
	is_str(d, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	       "sha256 of the empty string");
	sha256_digest("abc", 3, d);
	is_str(d, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
	       "sha256 of abc (FIPS 180-2 vector)");
	const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	struct sha256 h;
	sha256_init(&h);
	for (const char *p = two; *p; p++)
		sha256_update(&h, p, 1);
	sha256_final(&h, d);
	is_str(d, "sha256:248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
	       "sha256 fed one byte at a time (FIPS 180-2 vector 2)");
	sha256_init(&h);
	for (int i = 0; i < 1000; i++) {
		char a[1000];
		memset(a, 'a', sizeof a);
		sha256_update(&h, a, sizeof a);
	}
	sha256_final(&h, d);
	is_str(d, "sha256:cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
	       "sha256 of a million 'a' (FIPS 180-2 vector 3)");
	sha256_init(&h);
	sha256_abort(&h);
	sha256_abort(&h);
	ok(h.ctx == NULL, "sha256_abort releases and is idempotent");
	is_str(digest_hex("sha256:abc"), "abc", "digest_hex skips the algorithm");
}

static void test_digest_valid(void)
{
	const char *good =
	    "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
	ok(digest_valid(good), "a sha256 digest is valid");
	ok(!digest_valid(NULL), "NULL is not");
	ok(!digest_valid(""), "\"\" is not");
	ok(!digest_valid(good + 7), "a bare hex string is not");
	ok(!digest_valid("sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"),
	   "upper-case hex is not");
	ok(!digest_valid("sha512:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
	   "another algorithm is not");
	ok(!digest_valid("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85"),
	   "63 hex digits are not");
	ok(!digest_valid(
	       "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b8555"),
	   "65 hex digits are not");
	ok(!digest_valid("sha256:../../../../../../../../../../../../../../../../etc/passwd12345"),
	   "a path is not");
	ok(!digest_valid("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85g"),
	   "a non-hex letter is not");
}

static void test_time(void)
{
	cleanup_free char *a = util_rfc3339(0);
	is_str(a, "1970-01-01T00:00:00Z", "rfc3339 of 0");
	cleanup_free char *b = util_rfc3339(1704164645);
	is_str(b, "2024-01-02T03:04:05Z", "rfc3339 of 2024-01-02T03:04:05Z");
	cleanup_free char *c = util_rfc3339(951782400);
	is_str(c, "2000-02-29T00:00:00Z", "rfc3339 on a leap day");

	struct cairn_error err = CAIRN_ERROR_INIT;
	int64_t v = 0;
	unsetenv("SOURCE_DATE_EPOCH");
	ok(util_source_date_epoch(&v, &err) == 0 && v == -1, "unset SOURCE_DATE_EPOCH is -1");
	setenv("SOURCE_DATE_EPOCH", "1700000000", 1);
	ok(util_source_date_epoch(&v, &err) == 0 && v == 1700000000, "SOURCE_DATE_EPOCH is read");
	setenv("SOURCE_DATE_EPOCH", "12abc", 1);
	ok(util_source_date_epoch(&v, &err) == -EINVAL && strstr(err.msg, "12abc"),
	   "an invalid SOURCE_DATE_EPOCH is an error naming it");
	unsetenv("SOURCE_DATE_EPOCH");
	cairn_error_clear(&err);
}

static bool is_dir(int dfd, const char *p)
{
	struct stat st;
	return fstatat(dfd, p, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

static void test_files(const char *dir)
{
	struct cairn_error err = CAIRN_ERROR_INIT;
	cleanup_close int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	ok(util_mkdir_p(dfd, "a/b/c", 0755, &err) == 0 && is_dir(dfd, "a/b/c"),
	   "mkdir_p creates nested dirs");
	ok(util_mkdir_p(dfd, "a/b/c", 0755, &err) == 0, "mkdir_p of an existing dir is fine");
	ok(util_mkdir_p(dfd, "a/b//d/", 0755, &err) == 0 && is_dir(dfd, "a/b/d"),
	   "mkdir_p copes with doubled and trailing slashes");
	close(openat(dfd, "file", O_CREAT | O_WRONLY, 0644));
	ok(util_mkdir_p(dfd, "file/x", 0755, &err) < 0 && err.msg && strstr(err.msg, "file/x"),
	   "mkdir_p through a file fails naming the path");
	cairn_error_clear(&err);
	cleanup_free char *abs = xasprintf("%s/abs/olute", dir);
	ok(util_mkdir_p(AT_FDCWD, abs, 0755, &err) == 0 && is_dir(AT_FDCWD, abs),
	   "mkdir_p of an absolute path");
	ok(util_mkdir_p(dfd, "", 0755, &err) < 0, "mkdir_p of \"\" is an error");
	cairn_error_clear(&err);

	ok(util_write_file_atomic(dfd, "w.json", "{}", 2, &err) == 0, "write_file_atomic");
	cleanup_free char *got = NULL;
	size_t len = 0;
	ok(util_read_file(dfd, "w.json", &got, &len, &err) == 0 && len == 2 && !strcmp(got, "{}"),
	   "read_file reads back what was written");
	free(got);
	got = NULL;
	ok(util_write_file_atomic(dfd, "w.json", "[1]", 3, &err) == 0 &&
	       util_read_file(dfd, "w.json", &got, &len, &err) == 0 && !strcmp(got, "[1]"),
	   "write_file_atomic replaces a file");
	cleanup_free char *tmpname = xasprintf("w.json.tmp.%d", (int)getpid());
	ok(faccessat(dfd, tmpname, F_OK, 0) < 0, "no temp file is left behind");
	char *none = NULL;
	ok(util_read_file(dfd, "missing", &none, NULL, &err) == -ENOENT &&
	       strstr(err.msg, "missing"),
	   "read_file of a missing file is -ENOENT naming it");
	cairn_error_clear(&err);
	ok(util_write_file_atomic(dfd, "nodir/x", "x", 1, &err) < 0 && strstr(err.msg, "nodir/x"),
	   "write_file_atomic into a missing dir fails naming the file");
	cairn_error_clear(&err);

	/* rm_rf: nested tree, unreadable dir, symlink pointing outside */
	util_mkdir_p(dfd, "rm/x/y/z", 0755, &err);
	close(openat(dfd, "rm/x/y/z/f", O_CREAT | O_WRONLY, 0644));
	util_mkdir_p(dfd, "rm/locked/inner", 0755, &err);
	fchmodat(dfd, "rm/locked", 0, 0);
	util_mkdir_p(dfd, "outside", 0755, &err);
	close(openat(dfd, "outside/keep", O_CREAT | O_WRONLY, 0644));
	cleanup_free char *target = xasprintf("%s/outside", dir);
	if (symlinkat(target, dfd, "rm/link") < 0)
		diag("symlink: %s", strerror(errno));
	ok(util_rm_rf(dfd, "rm", &err) == 0, "rm_rf removes a tree");
	if (err.msg)
		diag("%s", err.msg);
	ok(faccessat(dfd, "rm", F_OK, AT_SYMLINK_NOFOLLOW) < 0, "the tree is gone");
	ok(faccessat(dfd, "outside/keep", F_OK, 0) == 0, "rm_rf does not follow symlinks");
	ok(util_rm_rf(dfd, "rm", &err) == 0, "rm_rf of a missing path is fine");
	ok(util_rm_rf(dfd, "file", &err) == 0 && faccessat(dfd, "file", F_OK, 0) < 0,
	   "rm_rf removes a plain file");
	cairn_error_clear(&err);
}

static void test_errors(void)
{
	struct cairn_error err = CAIRN_ERROR_INIT;
	int r = cairn_error_set(&err, ENOENT, "opening %s", "/x");
	ok(r == -ENOENT && err.code == ENOENT, "error_set returns -code");
	is_str(err.msg, "opening /x", "error_set formats the message");
	r = cairn_error_errno(&err, EACCES, "reading %s", "/y");
	is_str(err.msg, "reading /y: Permission denied", "error_errno appends strerror");
	ok(r == -EACCES, "error_errno returns -code");
	r = cairn_error_wrap(&err, "extracting layer %s", "sha256:ab12");
	is_str(err.msg, "extracting layer sha256:ab12: reading /y: Permission denied",
	       "error_wrap prefixes context");
	ok(r == -EACCES && err.code == EACCES, "error_wrap keeps the code");
	r = cairn_error_set(&err, -EPERM, "negative code");
	ok(r == -EPERM && err.code == EPERM, "a negative code is normalised");
	r = cairn_error_set(&err, 0, "no code");
	ok(r == -EIO, "code 0 becomes EIO");
	cairn_error_clear(&err);
	ok(err.msg == NULL && err.code == 0, "clear empties the error");
	cairn_error_clear(&err);
	ok(cairn_error_set(NULL, ENOENT, "x") == -ENOENT, "a NULL error is allowed");
	struct cairn_error fresh = CAIRN_ERROR_INIT;
	r = cairn_error_wrap(&fresh, "context");
	ok(r == -EIO && fresh.msg && strstr(fresh.msg, "context"), "wrap of an empty error");
	cairn_error_clear(&fresh);
}

/* The kind and the location are values: a caller decides on them without reading
 * the message, and only the command formats them. */
static void test_error_kind_and_location(void)
{
	struct cairn_error err = CAIRN_ERROR_INIT;
	cairn_error_set(&err, ENOENT, "no such stage");
	ok(err.kind == CAIRN_ERR_NOT_FOUND, "ENOENT is a not-found error");
	cairn_error_set(&err, EINVAL, "bad flag");
	ok(err.kind == CAIRN_ERR_INVALID, "EINVAL from a check is an invalid-input error");
	cairn_error_errno(&err, EINVAL, "mount");
	ok(err.kind == CAIRN_ERR_SYSTEM, "EINVAL from the system is a system error");
	cairn_error_set(&err, EINTR, "interrupted");
	ok(err.kind == CAIRN_ERR_INTERRUPTED, "EINTR is an interruption");
	cairn_error_kind(&err, CAIRN_ERR_STEP);
	cairn_error_wrap(&err, "RUN");
	ok(err.kind == CAIRN_ERR_STEP, "wrap keeps an explicit kind");

	cairn_error_set(&err, EINVAL, "RUN: unknown flag: --x");
	cairn_error_locate(&err, "Recipe", 3, 5, "RUN --x \xc3\xa9\ttrue");
	cairn_error_locate(&err, "Outer", 9, 0, "FROM x");
	ok(err.loc.line == 3 && !strcmp(err.loc.file, "Recipe"), "the innermost location stays");
	cleanup_free char *shown = cairn_error_format(&err);
	is_str(shown, "Recipe:3:5: RUN: unknown flag: --x\n    RUN --x \xc3\xa9\ttrue\n        ^",
	       "format: file, line, column, the line and a caret");
	/* a long line: a window of UTIL_SHOWN_LINE_MAX bytes around the column */
	char long_line[1001];
	memset(long_line, 'a', 1000);
	long_line[1000] = '\0';
	long_line[500] = 'X';
	cleanup_free char *mid = util_located_message("R", 2, 501, long_line, "bad");
	cleanup_strbuf struct strbuf want = STRBUF_INIT;
	strbuf_addf(&want, "R:2:501: bad\n    ...%.80sX%.79s...\n    %83s^", long_line, long_line,
		    "");
	is_str(mid, want.buf, "a long line is cut around the column, the caret under it");
	cleanup_free char *start = util_located_message("R", 2, 1, long_line, "bad");
	ok(strlen(start) == strlen("R:2:1: bad\n    ") + 160 + 3 + strlen("\n    ^") &&
	       strstr(start, "a...\n    ^"),
	   "at its start: the first bytes, cut at the end");
	cairn_error_wrap(&err, "stage 1");
	is_str(err.msg, "stage 1: RUN: unknown flag: --x", "the message holds no location");
	struct cairn_error moved = CAIRN_ERROR_INIT;
	cairn_error_move(&moved, &err);
	ok(!err.msg && !err.loc.file && moved.loc.line == 3,
	   "move hands message and location over");
	cairn_error_set(&moved, EIO, "plain");
	ok(!moved.loc.file, "set forgets the old location");
	cleanup_free char *plain = cairn_error_format(&moved);
	is_str(plain, "plain", "format without a location is the message");
	cairn_error_clear(&moved);
}

static void test_json(void)
{
	json_t *a = json_loads("{\"b\":1,\"a\":{\"d\":[1,2],\"c\":\"x\"}}", 0, NULL);
	json_t *b = json_loads("{ \"a\" : { \"c\" : \"x\", \"d\" : [1, 2] }, \"b\" : 1 }", 0, NULL);
	cleanup_free char *ca = util_json_canonical(a);
	cleanup_free char *cb = util_json_canonical(b);
	is_str(ca, "{\"a\":{\"c\":\"x\",\"d\":[1,2]},\"b\":1}",
	       "canonical JSON sorts keys, compact");
	is_str(ca, cb, "equal values give equal bytes");
	json_decref(a);
	json_decref(b);
	cleanup_free char *h = util_human_size(1234567);
	is_str(h, "1.23MB", "human size");
	cleanup_free char *h0 = util_human_size(999);
	is_str(h0, "999B", "human size in bytes");
}

int main(void)
{
	test_strbuf();
	test_strv();
	test_sha256();
	test_digest_valid();
	test_time();
	test_errors();
	test_error_kind_and_location();
	test_json();

	const char *t = getenv("TMPDIR");
	cleanup_free char *dir = xasprintf("%s/cairn-test-util-XXXXXX", t && *t ? t : "/tmp");
	if (!mkdtemp(dir))
		return 2;
	test_files(dir);
	struct cairn_error err = CAIRN_ERROR_INIT;
	util_rm_rf(AT_FDCWD, dir, &err);
	cairn_error_clear(&err);
	return done_testing();
}
