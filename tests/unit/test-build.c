/* The build module's pure parts: the context stat cache (statcache.c) — what it
 * trusts, what it refuses, and that no bytes of a cache file can crash it; which
 * file of a directory is its recipe, and how much of one is read (build.c); the
 * whole context's digest and newest mtime (context.c); and the report of a build
 * that runs no step in a sandbox (build.c). */
#include "builder/internal.h"
#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char digest_a[] =
    "sha256:1111111111111111111111111111111111111111111111111111111111111111";

static struct stat file_stat(time_t age)
{
	struct stat st = {0};
	st.st_dev = 2049;
	st.st_ino = 1234;
	st.st_size = 10;
	st.st_mode = S_IFREG | 0644;
	st.st_mtim.tv_sec = st.st_ctim.tv_sec = time(NULL) - age;
	st.st_mtim.tv_nsec = 500;
	st.st_ctim.tv_nsec = 700;
	return st;
}

static struct stat_cache *empty_cache(void)
{
	return stat_cache_parse("", 0, "/ctx");
}

/* Rewrites the trailing checksum after a test edits a cache file's bytes. */
static void reseal(struct strbuf *sb)
{
	unsigned int n = 32;
	EVP_Digest(sb->buf, sb->len - 32, (unsigned char *)sb->buf + sb->len - 32, &n, EVP_sha256(),
		   NULL);
}

static void test_trust(void)
{
	char d[DIGEST_LEN];
	struct stat old = file_stat(3600);
	struct stat_cache *c = empty_cache();
	stat_cache_record(c, "a", &old, digest_a);
	ok(stat_cache_lookup(c, "a", &old, d) && !strcmp(d, digest_a),
	   "a file left alone for an hour is served from the cache");

	struct stat changed = old;
	changed.st_size = 11;
	ok(!stat_cache_lookup(c, "a", &changed, d), "another size misses");
	changed = old;
	changed.st_mtim.tv_nsec++;
	ok(!stat_cache_lookup(c, "a", &changed, d), "another mtime (by a nanosecond) misses");
	changed = old;
	changed.st_ctim.tv_sec++;
	ok(!stat_cache_lookup(c, "a", &changed, d),
	   "another ctime misses (an mtime set back with utimes)");
	changed = old;
	changed.st_ino++;
	ok(!stat_cache_lookup(c, "a", &changed, d), "another inode misses (a file renamed over)");
	changed = old;
	changed.st_mode = S_IFREG | 0755;
	ok(!stat_cache_lookup(c, "a", &changed, d), "another mode misses");
	ok(!stat_cache_lookup(c, "b", &old, d), "another name misses");

	/* racy git: a file changed in the second the build looks at it (or just before)
	 * could change again without its stat changing; it is never remembered */
	struct stat fresh = file_stat(0);
	fresh.st_ino = 99;
	stat_cache_record(c, "fresh", &fresh, digest_a);
	ok(!stat_cache_lookup(c, "fresh", &fresh, d), "a file changed this second is not trusted");
	struct stat recent = file_stat(1);
	recent.st_ino = 98;
	stat_cache_record(c, "recent", &recent, digest_a);
	ok(!stat_cache_lookup(c, "recent", &recent, d), "nor one changed a second ago");
	struct stat future = file_stat(-100);
	stat_cache_record(c, "future", &future, digest_a);
	ok(!stat_cache_lookup(c, "future", &future, d), "nor one with an mtime in the future");
	struct stat ctime_new = file_stat(3600);
	ctime_new.st_ctim.tv_sec = time(NULL);
	stat_cache_record(c, "ctime", &ctime_new, digest_a);
	ok(!stat_cache_lookup(c, "ctime", &ctime_new, d), "nor an old mtime with a new ctime");
	is_int(stat_cache_count(c), 1, "only the old file was recorded");
	stat_cache_free(c);
}

static void test_file(void)
{
	char d[DIGEST_LEN];
	struct stat old = file_stat(3600);
	struct stat_cache *c = empty_cache();
	stat_cache_record(c, "dir/a", &old, digest_a);
	cleanup_strbuf struct strbuf sb = STRBUF_INIT;
	stat_cache_serialize(c, &sb);
	stat_cache_free(c);

	c = stat_cache_parse(sb.buf, sb.len, "/ctx");
	ok(stat_cache_lookup(c, "dir/a", &old, d) && !strcmp(d, digest_a),
	   "an entry survives a write and a read");
	stat_cache_free(c);

	c = stat_cache_parse(sb.buf, sb.len, "/other");
	is_int(stat_cache_count(c), 0, "the cache of another context is ignored");
	stat_cache_free(c);

	/* every truncation and every flipped byte: ignored, never a crash */
	size_t bad = 0;
	for (size_t len = 0; len < sb.len; len++) {
		c = stat_cache_parse(sb.buf, len, "/ctx");
		bad += stat_cache_count(c) != 0;
		stat_cache_free(c);
	}
	is_int(bad, 0, "a truncated cache is ignored");
	for (size_t i = 0; i < sb.len; i++) {
		sb.buf[i] ^= 0x5a;
		c = stat_cache_parse(sb.buf, sb.len, "/ctx");
		bad += stat_cache_count(c) != 0;
		stat_cache_free(c);
		sb.buf[i] ^= 0x5a;
	}
	is_int(bad, 0, "a cache with any byte damaged is ignored");

	/* well sealed but lying: each edit below is checksummed again */
	for (size_t i = 0; i < sb.len - 32; i++) {
		char saved = sb.buf[i];
		sb.buf[i] = (char)0xff;
		reseal(&sb);
		c = stat_cache_parse(sb.buf, sb.len, NULL);
		stat_cache_free(c);
		sb.buf[i] = saved;
	}
	reseal(&sb);
	diag("every byte of a sealed cache set to 0xff in turn");
	ok(1, "a sealed cache with any byte set to 0xff parses without a crash");

	/* written "in the future": the clock went back since; nothing is trusted */
	int64_t ref;
	memcpy(&ref, sb.buf + 8, 8);
	int64_t later = ref + 1000;
	memcpy(sb.buf + 8, &later, 8);
	reseal(&sb);
	c = stat_cache_parse(sb.buf, sb.len, "/ctx");
	is_int(stat_cache_count(c), 0, "a cache written after now is ignored");
	stat_cache_free(c);

	/* a file that claims an entry younger than its own write: forged, ignored */
	int64_t earlier = old.st_mtim.tv_sec;
	memcpy(sb.buf + 8, &earlier, 8);
	reseal(&sb);
	c = stat_cache_parse(sb.buf, sb.len, "/ctx");
	is_int(stat_cache_count(c), 0, "a cache holding entries too young for it is ignored");
	stat_cache_free(c);
}

static void test_bounds(void)
{
	struct stat_cache *c = empty_cache();
	struct stat st = file_stat(3600);
	for (int i = 0; i < 70000; i++) {
		char name[32];
		snprintf(name, sizeof name, "f%d", i);
		st.st_ino = (ino_t)i;
		stat_cache_record(c, name, &st, digest_a);
	}
	is_int(stat_cache_count(c), 65536, "a cache holds at most 65,536 entries");
	char d[DIGEST_LEN];
	st.st_ino = 12345;
	ok(stat_cache_lookup(c, "f12345", &st, d), "entries recorded before the bound are kept");
	st.st_ino = 69999;
	ok(!stat_cache_lookup(c, "f69999", &st, d), "entries beyond it are not");
	stat_cache_free(c);
}

/* Makes path (relative to dir) a file of size bytes. */
static void make_file(int dir, const char *path, off_t size)
{
	int fd = openat(dir, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || ftruncate(fd, size) < 0) {
		perror(path);
		exit(1);
	}
	close(fd);
}

static void test_recipe_files(void)
{
	char tmpl[] = "/tmp/cairn-test-build-XXXXXX";
	if (!mkdtemp(tmpl)) {
		perror("mkdtemp");
		exit(1);
	}
	cleanup_close int dir = open(tmpl, O_PATH | O_DIRECTORY | O_CLOEXEC);
	cleanup_free char *recipe = xasprintf("%s/Recipe", tmpl);
	cleanup_free char *dockerfile = xasprintf("%s/Dockerfile", tmpl);

	cleanup_free char *none = builder_recipe_in(tmpl);
	is_str(none, NULL, "a directory with neither Recipe nor Dockerfile has no recipe");
	make_file(dir, "Dockerfile", 0);
	cleanup_free char *found = builder_recipe_in(tmpl);
	is_str(found, dockerfile, "a Dockerfile alone is the recipe");
	make_file(dir, "Recipe", 0);
	free(found);
	found = builder_recipe_in(tmpl);
	is_str(found, recipe, "Recipe wins over Dockerfile");

	struct cairn_error err = CAIRN_ERROR_INIT;
	char *text = NULL;
	size_t len = 0;
	make_file(dir, "Recipe", (off_t)RECIPE_MAX_SIZE);
	ok(builder_read_recipe(recipe, &text, &len, &err) == 0 && len == RECIPE_MAX_SIZE,
	   "a recipe of 16 MiB is read whole");
	free(text);
	text = NULL;
	make_file(dir, "Recipe", (off_t)RECIPE_MAX_SIZE + 1);
	is_int(builder_read_recipe(recipe, &text, &len, &err), -EFBIG,
	       "a byte more is refused (EFBIG)");
	ok(!text, "and nothing is handed back");
	is_int(err.kind, CAIRN_ERR_INVALID, "as an invalid recipe, not a system error");
	cleanup_free char *msg = cairn_error_format(&err);
	cleanup_free char *want =
	    xasprintf("%s: a recipe is at most 16 MiB; this one is larger", recipe);
	is_str(msg, want, "located at the file, the limit in the message");
	cairn_error_clear(&err);
	ok(builder_read_recipe(tmpl, &text, &len, &err) < 0 && err.kind != CAIRN_ERR_INVALID,
	   "a directory is an unreadable file, not an invalid recipe");
	cairn_error_clear(&err);
	util_rm_rf(AT_FDCWD, tmpl, NULL);
}

/* Writes text to dir/name with the given mtime. */
static void put_file(const char *dir, const char *name, const char *text, time_t mtime)
{
	cleanup_free char *p = xasprintf("%s/%s", dir, name);
	FILE *f = fopen(p, "w");
	fputs(text, f);
	fclose(f);
	struct timespec ts[2] = {{mtime, 0}, {mtime, 0}};
	utimensat(AT_FDCWD, p, ts, 0);
}

/* The digest and newest mtime of the whole context at dir, with its .dockerignore. */
static int ctx_digest(const char *dir, char digest[DIGEST_LEN], int64_t *newest)
{
	struct build_context *c = NULL;
	struct cairn_error err = CAIRN_ERROR_INIT;
	int r = context_open(dir, &c, &err);
	if (r == 0)
		r = context_load_ignore(c, NULL, &err);
	if (r == 0)
		r = context_digest_all(c, digest, newest, &err);
	cairn_error_clear(&err);
	context_close(c);
	return r;
}

static void test_context_digest(void)
{
	char tmpl[] = "/tmp/cairn-test-ctx-XXXXXX";
	if (!mkdtemp(tmpl))
		abort();
	cleanup_free char *sub = xasprintf("%s/sub", tmpl);
	mkdir(sub, 0755);
	put_file(tmpl, "a", "one", 1000);
	put_file(tmpl, "sub/b", "two", 2000);
	char d1[DIGEST_LEN], d2[DIGEST_LEN];
	int64_t newest = 0;
	ok(ctx_digest(tmpl, d1, &newest) == 0 && digest_valid(d1), "a context has a digest");
	is_int(newest, 2000, "its newest input is the newest file (directories do not count)");
	put_file(tmpl, "a", "one", 1500);
	ok(ctx_digest(tmpl, d2, &newest) == 0 && !strcmp(d1, d2),
	   "a file's mtime is not part of the digest");
	put_file(tmpl, "a", "ONE", 1000);
	ok(ctx_digest(tmpl, d2, &newest) == 0 && strcmp(d1, d2), "its content is");
	put_file(tmpl, "a", "one", 1000);
	cleanup_free char *a = xasprintf("%s/a", tmpl);
	chmod(a, 0600);
	ok(ctx_digest(tmpl, d2, &newest) == 0 && strcmp(d1, d2), "and its mode");
	chmod(a, 0644);
	put_file(tmpl, "late", "x", 9000);
	put_file(tmpl, ".dockerignore", "late\n.dockerignore\n", 500);
	ok(ctx_digest(tmpl, d2, &newest) == 0 && !strcmp(d1, d2),
	   "what .dockerignore leaves out is not part of it");
	is_int(newest, 2000, "nor of the newest mtime");
	util_rm_rf(AT_FDCWD, tmpl, NULL);
}

static void test_report(void)
{
	char tmpl[] = "/tmp/cairn-test-report-XXXXXX";
	if (!mkdtemp(tmpl))
		abort();
	cleanup_free char *root = xasprintf("%s/store", tmpl);
	cleanup_free char *ctx = xasprintf("%s/ctx", tmpl);
	mkdir(ctx, 0755);
	struct cairn_error err = CAIRN_ERROR_INIT;
	struct store *s = NULL;
	if (store_open(root, &s, &err) < 0)
		abort();
	/* a base image with one layer (never unpacked: no step runs) */
	struct oci_image base;
	oci_image_init_scratch(&base);
	struct oci_layer l = {.size = 3, .media_type = (char *)MEDIA_TYPE_OCI_LAYER};
	if (store_put_blob(s, "abc", 3, l.digest, &err) < 0)
		abort();
	memcpy(l.diff_id, l.digest, DIGEST_LEN);
	oci_image_add_layer(&base, &l);
	oci_image_add_history(&base, "2000-01-01T00:00:00Z", "base", false);
	int64_t size = 0;
	if (oci_image_write(s, &base, &size, &err) < 0)
		abort();
	struct store_tag t = {.ref = "base:1",
			      .digest = base.digest,
			      .media_type = (char *)MEDIA_TYPE_OCI_MANIFEST,
			      .size = size};
	if (store_tag_set(s, &t, &err) < 0)
		abort();
	static const char recipe[] = "ARG TAG=1\n"
				     "FROM base:$TAG\n"
				     "ARG V\n"
				     "ENV X=$V\n"
				     "LABEL a=b\n";
	put_file(ctx, "Recipe", recipe, 3000);
	put_file(ctx, "f", "data", 4000);
	char *args[] = {"V=1", "U=2", "HTTP_PROXY=http://user:secret@proxy", NULL};
	struct builder_report rp = {0};
	struct builder_opts o = {.context_dir = ctx,
				 .build_args = args,
				 .report = &rp,
				 .timestamp_set = true,
				 .timestamp = 1234567890,
				 .source_date_epoch_from_inputs = true};
	char digest[DIGEST_LEN];
	unsetenv("SOURCE_DATE_EPOCH");
	int r = builder_run(s, &o, digest, &err);
	ok(r == 0, "a build of metadata instructions on a base image runs");
	if (r < 0) {
		cleanup_free char *msg = cairn_error_format(&err);
		printf("#   %s\n", msg);
		cairn_error_clear(&err);
	}
	cleanup_free char *rpath = xasprintf("%s/Recipe", ctx);
	is_str(rp.recipe, rpath, "the report names the recipe it found");
	char want[DIGEST_LEN];
	sha256_digest(recipe, strlen(recipe), want);
	is_str(rp.recipe_digest, want, "and the sha256 of its bytes");
	char none[DIGEST_LEN];
	sha256_digest("", 0, none);
	is_str(rp.context_digest, none, "no step read the context: the digest of nothing read");
	is_int(rp.source_date_epoch, 4000, "SOURCE_DATE_EPOCH from the newest input");
	ok(rp.build_args && rp.build_args[0] && !strcmp(rp.build_args[0], "V=1") &&
	       !rp.build_args[1],
	   "build args: only the declared one (not U, not an undeclared proxy)");
	ok(!rp.target, "no target");
	ok(rp.n_bases == 1 && !strcmp(rp.bases[0].name, "base:1") &&
	       !strcmp(rp.bases[0].digest, base.digest),
	   "the base as FROM named it (after ARG expansion), by manifest digest");
	is_int(rp.n_base_layers, 1, "one layer from the base");
	is_int(rp.n_steps, 3, "three steps after FROM");
	if (rp.n_steps == 3) {
		is_int(rp.steps[0].line, 3, "the first is the stage's ARG, line 3");
		is_str(rp.steps[1].instruction, "ENV X=$V",
		       "the second is ENV, as progress shows it");
		is_str(rp.steps[2].stage, "0", "a stage without a name is its index");
		ok(rp.steps[2].layer == -1 && !rp.steps[2].cached && digest_valid(rp.steps[2].key),
		   "LABEL made no layer, ran, and has a key");
	}
	ok(builder_report_layer_step(&rp, 0) == NULL, "layer 0 is the base's: no step made it");
	cleanup_oci_image struct oci_image img = {0};
	if (r == 0 && oci_image_load(s, digest, &img, &err) == 0)
		is_str(json_string_value(json_object_get(img.config, "created")),
		       "2009-02-13T23:31:30Z", "--timestamp is the config's created date");
	cairn_error_clear(&err);
	builder_report_release(&rp);
	oci_image_release(&base);
	store_close(s);
	util_rm_rf(AT_FDCWD, tmpl, NULL);
}

int main(void)
{
	test_recipe_files();
	test_bounds();
	test_trust();
	test_file();
	test_context_digest();
	test_report();
	return done_testing();
}
