/* The store: layout files, blobs, tags (including concurrent writers), cache records,
 * layer dirs and temp space. */
#include "store/store.h"
#include "tap.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char *make_tmpdir(void)
{
	const char *t = getenv("TMPDIR");
	char *tmpl = xasprintf("%s/cairn-test-store-XXXXXX", t && *t ? t : "/tmp");
	if (!mkdtemp(tmpl)) {
		perror("mkdtemp");
		exit(2);
	}
	return tmpl;
}

static char *read_all(const char *dir, const char *name)
{
	cleanup_free char *p = xasprintf("%s/%s", dir, name);
	char *out = NULL;
	struct cairn_error err = CAIRN_ERROR_INIT;
	if (util_read_file(AT_FDCWD, p, &out, NULL, &err) < 0) {
		cairn_error_clear(&err);
		return NULL;
	}
	return out;
}

static bool exists(const char *dir, const char *name)
{
	cleanup_free char *p = xasprintf("%s/%s", dir, name);
	struct stat st;
	return lstat(p, &st) == 0;
}

/* The number a shell command prints. */
static size_t count_of(const char *cmd)
{
	FILE *f = popen(cmd, "r");
	size_t n = 0;
	if (f) {
		if (fscanf(f, "%zu", &n) != 1)
			n = (size_t)-1;
		pclose(f);
	}
	return n;
}

static size_t count_entries(const char *dir, const char *name)
{
	cleanup_free char *cmd = xasprintf("ls -A '%s/%s' | wc -l", dir, name);
	return count_of(cmd);
}

/* Files in cairn/tmp but this process's own temp dir with its lock and leases. */
static size_t count_tmp_leftovers(const char *root)
{
	cleanup_free char *cmd =
	    xasprintf("find '%s/cairn/tmp' -mindepth 1 ! -name 'proc-*' ! -path '*/proc-*/.lock' "
		      "! -path '*/proc-*/leases' | wc -l",
		      root);
	return count_of(cmd);
}

/* Whether this process's lease file names digest. */
static bool leased(const char *root, const char *digest)
{
	cleanup_free char *cmd =
	    xasprintf("cat '%s'/cairn/tmp/proc-*/leases 2>/dev/null | grep -qx '%s'", root, digest);
	return system(cmd) == 0;
}

static void test_layout(const char *root)
{
	struct cairn_error err = CAIRN_ERROR_INIT;
	cleanup_store struct store *s = NULL;
	ok(store_open(root, &s, &err) == 0, "store_open creates a store in a missing directory");
	ok(exists(root, "blobs/sha256") && exists(root, "cairn/layers") &&
	       exists(root, "cairn/cache") && exists(root, "cairn/tmp") &&
	       exists(root, "cairn/index.lock"),
	   "store_open creates blobs/sha256, cairn/{layers,cache,tmp} and cairn/index.lock");
	cleanup_free char *layout = read_all(root, "oci-layout");
	is_str(layout, "{\"imageLayoutVersion\":\"1.0.0\"}",
	       "oci-layout has imageLayoutVersion 1.0.0");
	cleanup_free char *index = read_all(root, "index.json");
	json_t *j = index ? json_loads(index, 0, NULL) : NULL;
	ok(j && json_integer_value(json_object_get(j, "schemaVersion")) == 2 &&
	       json_array_size(json_object_get(j, "manifests")) == 0,
	   "index.json is an empty OCI index");
	is_str(json_string_value(json_object_get(j, "mediaType")), MEDIA_TYPE_OCI_INDEX,
	       "index.json carries the index media type");
	json_decref(j);
	ok(store_root(s)[0] == '/', "store_root is absolute");

	/* reopening keeps what is there */
	struct store_tag t = {
	    (char *)"keep:1",
	    (char *)"sha256:"
		    "0000000000000000000000000000000000000000000000000000000000000000",
	    (char *)MEDIA_TYPE_OCI_MANIFEST, 10};
	ok(store_tag_set(s, &t, &err) == 0, "a tag is set");
	cleanup_store struct store *s2 = NULL;
	ok(store_open(root, &s2, &err) == 0, "reopening an existing store works");
	struct store_tag got = {0};
	ok(store_tag_get(s2, "keep:1", &got, &err) == 0, "reopening does not reset index.json");
	store_tag_release(&got);
	store_tag_remove(s2, "keep:1", &err);
	cairn_error_clear(&err);
}

static void test_blobs(const char *root)
{
	struct cairn_error err = CAIRN_ERROR_INIT;
	cleanup_store struct store *s = NULL;
	store_open(root, &s, &err);
	char d[DIGEST_LEN];
	const char *hello_digest =
	    "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

	ok(!store_has_blob(s, hello_digest), "store_has_blob is false before the put");
	ok(store_put_blob(s, "hello", 5, d, &err) == 0, "store_put_blob stores a blob");
	is_str(d, hello_digest, "the blob's digest is sha256 of its content");
	ok(store_has_blob(s, d), "store_has_blob is true after the put");
	ok(exists(root,
		  "blobs/sha256/2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"),
	   "the blob is at blobs/sha256/<hex>");
	ok(store_put_blob(s, "hello", 5, d, &err) == 0, "storing the same blob twice is fine");
	cleanup_free char *buf = NULL;
	size_t len = 0;
	ok(store_read_blob(s, d, &buf, &len, &err) == 0 && len == 5 && !memcmp(buf, "hello", 5),
	   "store_read_blob returns the content");
	uint64_t size = 0;
	ok(store_blob_size(s, d, &size, &err) == 0 && size == 5, "store_blob_size is 5");
	int fd = -1;
	ok(store_open_blob(s, d, &fd, &err) == 0 && fd >= 0, "store_open_blob opens it");
	if (fd >= 0)
		close(fd);

	/* streaming writer with a correct expectation */
	struct blob_writer *w = NULL;
	ok(store_blob_begin(s, &w, &err) == 0, "store_blob_begin");
	store_blob_write(w, "hel", 3, &err);
	store_blob_write(w, "lo!", 3, &err);
	char d2[DIGEST_LEN];
	char expect[DIGEST_LEN];
	sha256_digest("hello!", 6, expect);
	ok(store_blob_commit(w, expect, d2, &size, &err) == 0 && size == 6,
	   "commit with the right expected digest stores the blob");
	is_str(d2, expect, "the streamed blob's digest");

	/* expect mismatch: nothing stored, message names both digests */
	size_t before = count_entries(root, "blobs/sha256");
	store_blob_begin(s, &w, &err);
	store_blob_write(w, "other", 5, &err);
	char other[DIGEST_LEN];
	sha256_digest("other", 5, other);
	int r = store_blob_commit(w, hello_digest, d2, NULL, &err);
	ok(r < 0, "commit with a wrong expected digest fails");
	ok(err.msg && strstr(err.msg, hello_digest) && strstr(err.msg, other),
	   "the mismatch error names both digests");
	diag("%s", err.msg ? err.msg : "");
	cairn_error_clear(&err);
	ok(!leased(root, other), "a mismatched blob is not leased");
	ok(!store_has_blob(s, other), "a mismatched blob is not stored");
	ok(leased(root, other), "asking for a blob leases it (the asker is about to use it)");
	is_int(count_entries(root, "blobs/sha256"), before, "no new file in blobs/sha256");
	is_int(count_tmp_leftovers(root), 0, "no temp file left behind in cairn/tmp");
	ok(leased(root, expect), "a committed blob is leased by the process that wrote it");

	/* abort */
	store_blob_begin(s, &w, &err);
	store_blob_write(w, "aborted", 7, &err);
	store_blob_abort(w);
	store_blob_abort(NULL);
	sha256_digest("aborted", 7, d2);
	ok(!store_has_blob(s, d2), "an aborted blob is not stored");
	is_int(count_tmp_leftovers(root), 0, "abort leaves nothing in cairn/tmp");

	/* a corrupt blob is caught on read */
	cleanup_free char *victim =
	    xasprintf("%s/blobs/sha256/%s", root, digest_hex(expect)); /* "hello!" */
	chmod(victim, 0644);
	FILE *f = fopen(victim, "w");
	if (f) {
		fputs("tampered", f);
		fclose(f);
	}
	cleanup_free char *bad = NULL;
	r = store_read_blob(s, expect, &bad, &len, &err);
	ok(r < 0 && err.msg && strstr(err.msg, expect), "store_read_blob rejects a corrupt blob");
	diag("%s", err.msg ? err.msg : "");
	cairn_error_clear(&err);
	unlink(victim);

	/* malformed digests never reach the filesystem */
	cleanup_free char *x = NULL;
	r = store_read_blob(s, "sha256:../../oci-layout", &x, &len, &err);
	ok(r == -EINVAL, "store_read_blob rejects a malformed digest");
	cairn_error_clear(&err);
	ok(!store_has_blob(s, "sha256:../../oci-layout"),
	   "store_has_blob is false for a malformed digest");
	r = store_read_blob(
	    s, "sha256:1111111111111111111111111111111111111111111111111111111111111111", &x, &len,
	    &err);
	ok(r == -ENOENT, "store_read_blob of a missing blob is -ENOENT");
	cairn_error_clear(&err);
}

static struct store_tag mktag(const char *ref, const char *content)
{
	static char d[DIGEST_LEN];
	sha256_digest(content, strlen(content), d);
	struct store_tag t = {(char *)ref, d, (char *)MEDIA_TYPE_OCI_MANIFEST,
			      (int64_t)strlen(content)};
	return t;
}

static void test_tags(const char *root)
{
	struct cairn_error err = CAIRN_ERROR_INIT;
	cleanup_store struct store *s = NULL;
	store_open(root, &s, &err);

	struct store_tag a = mktag("app:1", "a");
	ok(store_tag_set(s, &a, &err) == 0, "tag app:1 is set");
	struct store_tag b = mktag("localhost:5000/team/app:latest", "b");
	ok(store_tag_set(s, &b, &err) == 0, "tag with a registry and port is set");
	struct store_tag c = mktag("c:1", "c");
	ok(store_tag_set(s, &c, &err) == 0, "tag c:1 is set");

	struct store_tag got = {0};
	ok(store_tag_get(s, "localhost:5000/team/app:latest", &got, &err) == 0, "tag_get finds it");
	char want[DIGEST_LEN];
	sha256_digest("b", 1, want);
	is_str(got.digest, want, "tag_get returns the digest");
	is_str(got.media_type, MEDIA_TYPE_OCI_MANIFEST, "tag_get returns the media type");
	is_int(got.size, 1, "tag_get returns the size");
	store_tag_release(&got);

	struct store_tag a2 = mktag("app:1", "a2");
	ok(store_tag_set(s, &a2, &err) == 0, "setting an existing tag replaces it");
	struct store_tag *list = NULL;
	size_t n = 0;
	ok(store_tag_list(s, &list, &n, &err) == 0, "tag_list");
	is_int(n, 3, "replacing does not add an entry");
	sha256_digest("a2", 2, want);
	ok(n == 3 && !strcmp(list[0].ref, "app:1") && !strcmp(list[0].digest, want),
	   "the replaced tag keeps its place with the new digest");
	ok(n == 3 && !strcmp(list[2].ref, "c:1"), "tags are listed in index.json order");
	store_tags_free(list, n);

	ok(store_tag_remove(s, "c:1", &err) == 0, "tag_remove");
	ok(store_tag_get(s, "c:1", &got, &err) == -ENOENT && err.msg, "a removed tag is -ENOENT");
	cairn_error_clear(&err);
	ok(store_tag_remove(s, "c:1", &err) == -ENOENT, "removing a missing tag is -ENOENT");
	cairn_error_clear(&err);

	/* entries and fields cairn did not write survive a rewrite */
	cleanup_free char *index = read_all(root, "index.json");
	json_t *j = json_loads(index, 0, NULL);
	json_object_set_new(j, "x-unknown", json_string("keep me"));
	json_t *foreign =
	    json_pack("{s:s, s:s, s:i, s:{s:s}}", "mediaType", MEDIA_TYPE_OCI_MANIFEST, "digest",
		      want, "size", 2, "platform", "os", "linux");
	json_array_append_new(json_object_get(j, "manifests"), foreign);
	struct cairn_error e2 = CAIRN_ERROR_INIT;
	cleanup_free char *text = json_dumps(j, 0);
	json_decref(j);
	cleanup_close int dfd = open(root, O_RDONLY | O_DIRECTORY);
	util_write_file_atomic(dfd, "index.json", text, strlen(text), &e2);
	struct store_tag d = mktag("d:1", "d");
	ok(store_tag_set(s, &d, &err) == 0, "tag set with foreign content in index.json");
	cleanup_free char *after = read_all(root, "index.json");
	j = json_loads(after, 0, NULL);
	is_str(json_string_value(json_object_get(j, "x-unknown")), "keep me",
	       "unknown top-level fields are preserved");
	json_t *m = json_object_get(j, "manifests");
	ok(json_array_size(m) == 4 && json_object_get(json_array_get(m, 2), "platform") &&
	       !json_object_get(json_array_get(m, 2), "annotations"),
	   "a descriptor without a ref name is preserved");
	json_decref(j);
	ok(store_tag_list(s, &list, &n, &err) == 0 && n == 3,
	   "tag_list skips descriptors without a ref name");
	store_tags_free(list, n);

	/* malformed index.json: clear error, file untouched */
	const char *garbage = "{\"schemaVersion\":2,\"manifests\":[ oops";
	util_write_file_atomic(dfd, "index.json", garbage, strlen(garbage), &e2);
	int r = store_tag_set(s, &d, &err);
	ok(r < 0 && err.msg && strstr(err.msg, "index.json"),
	   "tag_set on a malformed index.json fails naming the file");
	diag("%s", err.msg ? err.msg : "");
	cairn_error_clear(&err);
	ok(store_tag_get(s, "d:1", &got, &err) < 0 && strstr(err.msg, "index.json"),
	   "tag_get on a malformed index.json fails naming the file");
	cairn_error_clear(&err);
	ok(store_tag_remove(s, "d:1", &err) < 0, "tag_remove on a malformed index.json fails");
	cairn_error_clear(&err);
	cleanup_free char *still = read_all(root, "index.json");
	is_str(still, garbage, "a malformed index.json is never overwritten");
	const char *notindex = "[1,2]";
	util_write_file_atomic(dfd, "index.json", notindex, strlen(notindex), &e2);
	ok(store_tag_set(s, &d, &err) < 0 && strstr(err.msg, "index.json"),
	   "tag_set on a JSON index.json without manifests fails");
	cairn_error_clear(&err);
	cleanup_store struct store *s2 = NULL;
	ok(store_open(root, &s2, &err) == 0, "store_open does not choke on a bad index.json");
	cleanup_free char *still2 = read_all(root, "index.json");
	is_str(still2, notindex, "and does not replace it");
	cairn_error_clear(&err);
	cairn_error_clear(&e2);

	/* invalid input */
	struct store_tag bad = {(char *)"x:1", (char *)"sha256:../../etc", (char *)"m", 1};
	ok(store_tag_set(s, &bad, &err) == -EINVAL, "tag_set rejects an invalid digest");
	cairn_error_clear(&err);
}

static void test_tags_concurrent(const char *root)
{
	enum { PROCS = 8, TAGS = 50 };
	pid_t pids[PROCS];
	for (int p = 0; p < PROCS; p++) {
		pids[p] = fork();
		if (pids[p] == 0) {
			struct cairn_error err = CAIRN_ERROR_INIT;
			struct store *s = NULL;
			/* every child opens the fresh store itself: open races too */
			if (store_open(root, &s, &err) < 0)
				_exit(3);
			for (int i = 0; i < TAGS; i++) {
				char ref[64];
				snprintf(ref, sizeof ref, "p%d:t%d", p, i);
				struct store_tag t = mktag(ref, ref);
				if (store_tag_set(s, &t, &err) < 0) {
					fprintf(stderr, "%s\n", err.msg);
					_exit(4);
				}
			}
			store_close(s);
			_exit(0);
		}
	}
	int failed = 0;
	for (int p = 0; p < PROCS; p++) {
		int st = 0;
		waitpid(pids[p], &st, 0);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			failed++;
	}
	is_int(failed, 0, "8 processes setting 50 tags each all succeed");

	struct cairn_error err = CAIRN_ERROR_INIT;
	cleanup_store struct store *s = NULL;
	store_open(root, &s, &err);
	struct store_tag *list = NULL;
	size_t n = 0;
	ok(store_tag_list(s, &list, &n, &err) == 0, "index.json is valid after concurrent writes");
	is_int(n, PROCS * TAGS, "all 400 tags are present");
	int missing = 0;
	for (int p = 0; p < PROCS; p++)
		for (int i = 0; i < TAGS; i++) {
			char ref[64];
			snprintf(ref, sizeof ref, "p%d:t%d", p, i);
			struct store_tag got = {0};
			char want[DIGEST_LEN];
			sha256_digest(ref, strlen(ref), want);
			if (store_tag_get(s, ref, &got, &err) < 0 || strcmp(got.digest, want))
				missing++;
			store_tag_release(&got);
			cairn_error_clear(&err);
		}
	is_int(missing, 0, "every tag maps to its own digest");
	store_tags_free(list, n);
}

static void test_cache(const char *root)
{
	struct cairn_error err = CAIRN_ERROR_INIT;
	cleanup_store struct store *s = NULL;
	store_open(root, &s, &err);
	char key[DIGEST_LEN];
	sha256_digest("key", 3, key);
	cleanup_free char *json = NULL;
	ok(store_cache_get(s, key, &json, &err) == -ENOENT, "a missing cache record is -ENOENT");
	cairn_error_clear(&err);
	ok(store_cache_put(s, key, "{\"a\":1}", &err) == 0, "cache_put");
	ok(store_cache_get(s, key, &json, &err) == 0, "cache_get");
	is_str(json, "{\"a\":1}", "cache_get returns what was put");
	free(json);
	json = NULL;
	ok(store_cache_put(s, key, "{\"a\":2}", &err) == 0 &&
	       store_cache_get(s, key, &json, &err) == 0,
	   "cache_put replaces a record");
	is_str(json, "{\"a\":2}", "the replaced record");
	cleanup_free char *p = xasprintf("cairn/cache/%s", digest_hex(key));
	ok(exists(root, p), "the record is cairn/cache/<hex>");
	ok(store_cache_put(s, "sha256:../../index.json", "{}", &err) == -EINVAL,
	   "cache_put rejects a malformed key");
	cairn_error_clear(&err);
	char *j2 = NULL;
	ok(store_cache_get(s, "../x", &j2, &err) == -EINVAL, "cache_get rejects a malformed key");
	cairn_error_clear(&err);
}

static void test_layer_dirs(const char *root)
{
	struct cairn_error err = CAIRN_ERROR_INIT;
	cleanup_store struct store *s = NULL;
	store_open(root, &s, &err);
	char diff_id[DIGEST_LEN];
	sha256_digest("layer", 5, diff_id);

	cleanup_free char *path = NULL;
	ok(store_layer_dir(s, diff_id, &path, &err) == -ENOENT, "a missing layer dir is -ENOENT");
	cairn_error_clear(&err);

	cleanup_free char *tmp = NULL;
	ok(store_mkdtemp(s, "unpack-", &tmp, &err) == 0, "store_mkdtemp");
	cleanup_free char *tmp_parent = xasprintf("%s/cairn/tmp/proc-", store_root(s));
	ok(tmp && !strncmp(tmp, tmp_parent, strlen(tmp_parent)) && strstr(tmp, "/unpack-"),
	   "mkdtemp makes a dir with the prefix in this process's dir under cairn/tmp");
	struct stat st;
	ok(tmp && stat(tmp, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 077) == 0,
	   "the temp dir exists and is private");
	cleanup_free char *f1 = xasprintf("%s/file", tmp);
	close(open(f1, O_CREAT | O_WRONLY, 0644));

	ok(store_layer_dir_adopt(s, diff_id, tmp, &err) == 0, "adopt moves the dir into place");
	ok(store_layer_dir(s, diff_id, &path, &err) == 0, "store_layer_dir finds it");
	cleanup_free char *want =
	    xasprintf("%s/cairn/layers/%s", store_root(s), digest_hex(diff_id));
	is_str(path, want, "the layer dir is cairn/layers/<hex>");
	cleanup_free char *f1in = xasprintf("%s/file", path);
	ok(stat(f1in, &st) == 0, "its content came along");
	ok(stat(tmp, &st) < 0, "the temp dir is gone");
	cleanup_free char *marker = xasprintf("%s.boot", want);
	cleanup_free char *boot = NULL;
	cleanup_free char *now = NULL;
	util_read_file(AT_FDCWD, marker, &boot, NULL, NULL);
	util_read_file(AT_FDCWD, "/proc/sys/kernel/random/boot_id", &now, NULL, NULL);
	ok(boot && now && !strncmp(boot, now, 36),
	   "an adopted tree carries a marker with this boot's id");

	/* lost race: another process adopted the same diff_id first */
	cleanup_free char *tmp2 = NULL;
	store_mkdtemp(s, "unpack-", &tmp2, &err);
	cleanup_free char *f2 = xasprintf("%s/other", tmp2);
	close(open(f2, O_CREAT | O_WRONLY, 0644));
	ok(store_layer_dir_adopt(s, diff_id, tmp2, &err) == 0, "adopting a second time succeeds");
	ok(stat(tmp2, &st) < 0, "the loser's temp dir is removed");
	ok(stat(f1in, &st) == 0, "the winner's tree is kept");
	cleanup_free char *f2in = xasprintf("%s/other", path);
	ok(stat(f2in, &st) < 0, "the loser's tree did not replace it");

	/* an empty existing tree is not replaced either */
	char empty_id[DIGEST_LEN];
	sha256_digest("empty", 5, empty_id);
	cleanup_free char *e1 = NULL, *e2 = NULL;
	store_mkdtemp(s, "e-", &e1, &err);
	store_mkdtemp(s, "e-", &e2, &err);
	ok(store_layer_dir_adopt(s, empty_id, e1, &err) == 0 &&
	       store_layer_dir_adopt(s, empty_id, e2, &err) == 0,
	   "adopting an empty tree twice");
	ok(stat(e2, &st) < 0, "the second empty temp dir is removed");

	/* a tree from an earlier boot may not have reached the disk whole */
	util_write_file_atomic(AT_FDCWD, marker, "0-earlier-boot", 14, NULL);
	cleanup_free char *again = NULL;
	ok(store_layer_dir(s, diff_id, &again, &err) == -ENOENT,
	   "a tree made before the machine restarted is dropped, to be unpacked again");
	cairn_error_clear(&err);
	ok(stat(want, &st) < 0 && stat(marker, &st) < 0, "the stale tree and its marker are gone");
	ok(store_layer_dir_adopt(s, "sha256:xyz", "/nonexistent", &err) == -EINVAL,
	   "adopt rejects a malformed diff_id");
	cairn_error_clear(&err);
	cleanup_free char *bad = NULL;
	ok(store_mkdtemp(s, "a/b", &bad, &err) == -EINVAL, "mkdtemp rejects a prefix with '/'");
	cairn_error_clear(&err);
}

static void test_default_root(void)
{
	setenv("CAIRN_ROOT", "/some/where", 1);
	cleanup_free char *a = store_default_root();
	is_str(a, "/some/where", "CAIRN_ROOT wins");
	unsetenv("CAIRN_ROOT");
	cleanup_free char *b = store_default_root();
	if (geteuid() == 0)
		is_str(b, "/var/lib/cairn", "root's default is /var/lib/cairn");
	else
		ok(b && strstr(b, "/cairn"), "a user's default ends in cairn");
}

static unsigned mode_of(const char *dir, const char *name)
{
	cleanup_free char *p = xasprintf("%s/%s", dir, name);
	struct stat st;
	return stat(p, &st) == 0 ? (unsigned)(st.st_mode & 07777) : 01000000;
}

/* cairn/ holds trees with the modes steps gave them (a setuid shell, a device node
 * opened to all): its folders must keep other users out, whatever the umask. */
static void test_modes(const char *dir)
{
	struct cairn_error err = CAIRN_ERROR_INIT;
	cleanup_free char *root = xasprintf("%s/modes/store", dir);
	mode_t old = umask(0);
	cleanup_store struct store *s = NULL;
	ok(store_open(root, &s, &err) == 0, "a store opens under umask 0");
	umask(old);
	is_int(mode_of(root, ""), 0755, "the root is 0755: readable, writable by its owner only");
	is_int(mode_of(root, "blobs"), 0755, "blobs is 0755");
	is_int(mode_of(root, "blobs/sha256"), 0755, "blobs/sha256 is 0755");
	static const char *const private[] = {"cairn",		"cairn/layers", "cairn/cache",
					      "cairn/contexts", "cairn/mounts", "cairn/tmp"};
	for (size_t i = 0; i < sizeof private / sizeof *private; i++)
		is_int(mode_of(root, private[i]), 0700, "%s is 0700", private[i]);
	cleanup_free char *tmp = NULL;
	ok(store_mkdtemp(s, "x-", &tmp, &err) == 0, "a temp dir");
	cleanup_free char *proc = tmp ? xstrndup(tmp, (size_t)(strrchr(tmp, '/') - tmp)) : NULL;
	is_int(mode_of(proc ? proc : "/nonexistent", ""), 0700, "the process's temp dir is 0700");
	is_int(mode_of(tmp ? tmp : "/nonexistent", ""), 0700, "a temp dir in it is 0700");
	util_rm_rf(AT_FDCWD, tmp, NULL);
	store_close(steal_pointer(&s));

	/* a store an earlier cairn made: everything 0755 */
	for (size_t i = 0; i < sizeof private / sizeof *private; i++) {
		cleanup_free char *p = xasprintf("%s/%s", root, private[i]);
		chmod(p, 0755);
	}
	ok(store_open(root, &s, &err) == 0, "an older store opens");
	for (size_t i = 0; i < sizeof private / sizeof *private; i++)
		is_int(mode_of(root, private[i]), 0700, "an older store's %s is made 0700",
		       private[i]);
	store_close(steal_pointer(&s));

	/* reading commands close an older store too: until its owner writes, it is open */
	cleanup_free char *c = xasprintf("%s/cairn", root);
	chmod(c, 0755);
	ok(store_open_readonly(root, &s, &err) == 0, "an older store opens read-only");
	is_int(mode_of(root, "cairn"), 0700, "opening it read-only makes its cairn/ 0700");
	store_close(steal_pointer(&s));

	/* a root others may write: they could replace cairn/ or index.json */
	chmod(root, 0777);
	ok(store_open(root, &s, &err) == 0, "a world-writable root the caller owns opens");
	is_int(mode_of(root, ""), 0755, "and is made writable by its owner only");
	store_close(steal_pointer(&s));
	chmod(root, 01777);
	ok(store_open(root, &s, &err) == -EPERM,
	   "a shared (sticky, world-writable) root is refused");
	ok(err.msg && strstr(err.msg, "writable by other users") && strstr(err.msg, "chmod go-w"),
	   "the message says why and what to do: %s", err.msg ? err.msg : "(none)");
	cairn_error_clear(&err);
	is_int(mode_of(root, ""), 01777, "a shared root is left as it is");
	chmod(root, 0755);
}

/* A store the caller may only read (a read-only mount, another user's): reading
 * works and creates nothing, writing fails with EROFS. */
static void test_readonly(const char *dir)
{
	struct cairn_error err = CAIRN_ERROR_INIT;
	cleanup_free char *missing = xasprintf("%s/ro/none", dir);
	cleanup_store struct store *s = NULL;
	ok(store_open_readonly(missing, &s, &err) == -ENOENT, "no store there: -ENOENT");
	ok(err.msg && strstr(err.msg, "no store at"), "saying so: %s", err.msg ? err.msg : "");
	cairn_error_clear(&err);
	struct stat st;
	ok(stat(missing, &st) < 0, "and nothing is created");

	cleanup_free char *root = xasprintf("%s/ro/store", dir);
	cleanup_store struct store *w = NULL;
	store_open(root, &w, &err);
	struct store_tag t = {
	    (char *)"ro:1",
	    (char *)"sha256:"
		    "1111111111111111111111111111111111111111111111111111111111111111",
	    (char *)MEDIA_TYPE_OCI_MANIFEST, 3};
	store_tag_set(w, &t, &err);
	char d[DIGEST_LEN];
	store_put_blob(w, "abc", 3, d, &err);
	store_close(steal_pointer(&w));
	cleanup_free char *lock = xasprintf("%s/cairn/index.lock", root);
	unlink(lock);

	ok(store_open_readonly(root, &s, &err) == 0, "an existing store opens read-only");
	ok(stat(lock, &st) < 0, "without creating its lock file");
	struct store_tag got = {0};
	ok(store_tag_get(s, "ro:1", &got, &err) == 0 && !strcmp(got.digest, t.digest),
	   "its tags read");
	store_tag_release(&got);
	cleanup_free char *text = NULL;
	size_t len = 0;
	ok(store_read_blob(s, d, &text, &len, &err) == 0 && len == 3, "its blobs read");
	t.ref = (char *)"ro:2";
	ok(store_tag_set(s, &t, &err) == -EROFS, "tagging fails with EROFS");
	ok(err.msg && strstr(err.msg, "reading only"), "saying why: %s", err.msg ? err.msg : "");
	cairn_error_clear(&err);
	ok(store_tag_remove(s, "ro:1", &err) == -EROFS, "untagging fails with EROFS");
	cairn_error_clear(&err);
	struct blob_writer *bw = NULL;
	ok(store_blob_begin(s, &bw, &err) == -EROFS, "storing a blob fails with EROFS");
	cairn_error_clear(&err);
	cleanup_free char *tmp = NULL;
	ok(store_mkdtemp(s, "x-", &tmp, &err) == -EROFS, "a temp dir fails with EROFS");
	cairn_error_clear(&err);
	ok(store_cache_put(s, d, "{}", &err) == -EROFS, "a cache record fails with EROFS");
	cairn_error_clear(&err);
	char *rec = NULL;
	ok(store_cache_get(s, d, &rec, &err) == -ENOENT, "cache records read as absent");
	cairn_error_clear(&err);
	cleanup_free char *path = NULL;
	ok(store_layer_dir(s, d, &path, &err) == -ENOENT, "layer dirs read as absent");
	cairn_error_clear(&err);
}

/* A process that dies without cleaning up leaves its temp dir; the next store_open
 * removes it, and never the dir of a process still alive. */
static void test_sweep_dead_temp_dirs(const char *root)
{
	struct cairn_error err = CAIRN_ERROR_INIT;
	cleanup_store struct store *live = NULL;
	store_open(root, &live, &err);
	cleanup_free char *mine = NULL;
	store_mkdtemp(live, "live-", &mine, &err);

	int pipefd[2];
	if (!ok(pipe(pipefd) == 0, "a pipe for the child"))
		return;
	pid_t pid = fork();
	if (pid == 0) {
		struct store *s = NULL;
		char *dead = NULL;
		if (store_open(root, &s, NULL) < 0 || store_mkdtemp(s, "dying-", &dead, NULL) < 0)
			_exit(1);
		if (write(pipefd[1], dead, strlen(dead)) < 0)
			_exit(1);
		_exit(0); /* no store_close: as if killed */
	}
	close(pipefd[1]);
	char dead[4096] = {0};
	ssize_t n = read(pipefd[0], dead, sizeof dead - 1);
	close(pipefd[0]);
	int status = 0;
	waitpid(pid, &status, 0);
	struct stat st;
	ok(n > 0 && stat(dead, &st) == 0, "a process that dies leaves its temp dir behind");
	cleanup_store struct store *again = NULL;
	ok(store_open(root, &again, &err) == 0, "the store opens again");
	ok(n > 0 && stat(dead, &st) < 0 && errno == ENOENT,
	   "store_open removed the dead process's temp dir");
	ok(mine && stat(mine, &st) == 0, "a live process's temp dir stays");
	util_rm_rf(AT_FDCWD, mine, NULL);
}

/* A dead temp dir a sweep could not delete (files of subordinate ids, swept from
 * outside the build's user namespace) is not forgotten: the next sweep takes it. */
static void test_sweep_retries_what_it_left(const char *root)
{
	struct cairn_error err = CAIRN_ERROR_INIT;
	cleanup_free char *left = xasprintf("%s/cairn/tmp/dead-Ab12Cd", root);
	cleanup_free char *inner = xasprintf("%s/sub", left);
	ok(mkdir(left, 0700) == 0 && mkdir(inner, 0700) == 0, "a dead temp dir a sweep left");
	cleanup_store struct store *s = NULL;
	ok(store_open(root, &s, &err) == 0, "the store opens");
	struct stat st;
	ok(stat(left, &st) < 0 && errno == ENOENT, "the next sweep removed it");
	cleanup_free char *tmp = xasprintf("%s/cairn/tmp", root);
	DIR *d = opendir(tmp);
	bool any_dead = false;
	for (struct dirent *de; d && (de = readdir(d));)
		any_dead = any_dead || !strncmp(de->d_name, "dead-", 5);
	if (d)
		closedir(d);
	ok(!any_dead, "and left no renamed copy of it");
	cairn_error_clear(&err);
}

int main(void)
{
	cleanup_free char *dir = make_tmpdir();
	cleanup_free char *r1 = xasprintf("%s/a/b/store", dir);
	test_layout(r1);
	test_blobs(r1);
	test_tags(r1);
	cleanup_free char *r2 = xasprintf("%s/concurrent", dir);
	test_tags_concurrent(r2);
	test_cache(r1);
	test_layer_dirs(r1);
	test_sweep_dead_temp_dirs(r1);
	test_sweep_retries_what_it_left(r1);
	test_default_root();
	test_modes(dir);
	test_readonly(dir);

	struct cairn_error err = CAIRN_ERROR_INIT;
	util_rm_rf(AT_FDCWD, dir, &err);
	cairn_error_clear(&err);
	return done_testing();
}
