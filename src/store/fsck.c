/* store: checking a store (cairn fsck): blobs against their names and the sizes
 * descriptors give them, tags and records against the blobs they name, unpacked
 * trees against the blobs they come from, and what killed processes left. */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

struct fsck {
	struct store *s;
	const struct store_fsck_opts *o;
	struct store_fsck_result *res;
	json_t *blob_ok;  /* digest -> true (hashes to its name) / false */
	json_t *checked;  /* documents walked */
	json_t *tree_src; /* diff_id -> blob digest */
	json_t *tag_held; /* digest -> true: a tag reaches it */
};

static void problem(struct fsck *f, const char *name, bool repaired, const char *fix,
		    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void problem(struct fsck *f, const char *name, bool repaired, const char *fix,
		    const char *fmt, ...)
{
	struct store_fsck_result *r = f->res;
	if (r->n % 32 == 0)
		r->problems = xrealloc(r->problems, (r->n + 32) * sizeof *r->problems);
	va_list ap;
	va_start(ap, fmt);
	r->problems[r->n++] = (struct store_problem){.name = xstrdup(name),
						     .what = xvasprintf(fmt, ap),
						     .fix = xstrdup(fix),
						     .repaired = repaired};
	va_end(ap);
}

/* Whether the blob digest is there and hashes to its name (hashed once). */
static bool blob_sound(struct fsck *f, const char *digest, uint64_t *size)
{
	struct stat st;
	if (!digest_valid(digest) ||
	    fstatat(f->s->blobs_fd, digest_hex(digest), &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    !S_ISREG(st.st_mode))
		return false;
	if (size)
		*size = (uint64_t)st.st_size;
	json_t *known = json_object_get(f->blob_ok, digest);
	return known ? json_is_true(known) : true;
}

static void hash_blobs(struct fsck *f)
{
	DIR *d = store_dir_stream(f->s->blobs_fd);
	struct dirent *de;
	static char buf[1 << 16];
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		cleanup_free char *digest = xasprintf("sha256:%s", de->d_name);
		if (!digest_valid(digest))
			continue; /* not a blob: cairn gc's business once old */
		cleanup_close int fd =
		    openat(f->s->blobs_fd, de->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			continue;
		struct sha256 h;
		sha256_init(&h);
		ssize_t n;
		while ((n = read(fd, buf, sizeof buf)) > 0)
			sha256_update(&h, buf, (size_t)n);
		char got[DIGEST_LEN];
		sha256_final(&h, got);
		json_object_set_new(f->blob_ok, digest,
				    json_boolean(n == 0 && !strcmp(got, digest)));
		f->res->n_blobs++;
	}
	if (d)
		closedir(d);
}

/* Walks the document digest (whose descriptor said size, -1: unknown) from root (a
 * tag's name, or "cache record K"): every descriptor in it must name a sound blob of
 * its size. Returns whether everything it reaches is sound. */
static bool check_doc(struct fsck *f, const char *root, const char *digest, int64_t size, bool held)
{
	uint64_t got = 0;
	bool sound = blob_sound(f, digest, &got);
	if (held && digest_valid(digest))
		json_object_set_new(f->tag_held, digest, json_true());
	if (!sound) {
		bool there = json_object_get(f->blob_ok, digest) != NULL;
		problem(f, root, false,
			held ? "pull or build it again, or remove it with cairn rmi"
			     : "cairn fsck --repair removes the record",
			"blob %s is %s", digest,
			there ? "damaged (its content has another digest)" : "missing");
		return false;
	}
	if (size >= 0 && (uint64_t)size != got) {
		problem(f, root, false,
			held ? "pull or build it again, or remove it with cairn rmi"
			     : "cairn fsck --repair removes the record",
			"blob %s is %llu bytes, but a descriptor says %lld", digest,
			(unsigned long long)got, (long long)size);
		return false;
	}
	if (json_object_get(f->checked, digest))
		return true;
	json_object_set_new(f->checked, digest, json_true());
	if (got > (4u << 20))
		return true;
	cleanup_free char *text = NULL;
	size_t len = 0;
	cleanup_close int fd =
	    openat(f->s->blobs_fd, digest_hex(digest), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || util_read_fd(fd, &text, &len) < 0 || len < 2 || text[0] != '{')
		return true;
	cleanup_json json_t *doc = json_loadb(text, len, 0, NULL);
	if (!doc)
		return true;
	bool ok = true;
	/* a manifest: its config and layers; an index: its manifests */
	const char *arrays[] = {"layers", "manifests", "blobs"};
	for (size_t a = 0; a < 3; a++) {
		size_t i;
		json_t *desc;
		json_array_foreach(json_object_get(doc, arrays[a]), i, desc)
		{
			const char *d = json_string_value(json_object_get(desc, "digest"));
			json_t *sz = json_object_get(desc, "size");
			ok &= check_doc(f, root, d,
					json_is_integer(sz) ? json_integer_value(sz) : -1, held);
		}
	}
	json_t *config = json_object_get(doc, "config");
	const char *cd = json_string_value(json_object_get(config, "digest"));
	if (cd) {
		json_t *sz = json_object_get(config, "size");
		ok &=
		    check_doc(f, root, cd, json_is_integer(sz) ? json_integer_value(sz) : -1, held);
		/* which blob each unpacked tree comes from */
		json_t *layers = json_object_get(doc, "layers");
		cleanup_free char *ctext = NULL;
		size_t clen = 0;
		cleanup_close int cfd = digest_valid(cd) ? openat(f->s->blobs_fd, digest_hex(cd),
								  O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
							 : -1;
		if (cfd >= 0 && util_read_fd(cfd, &ctext, &clen) == 0) {
			cleanup_json json_t *cfg = json_loadb(ctext, clen, 0, NULL);
			json_t *ids = json_object_get(json_object_get(cfg, "rootfs"), "diff_ids");
			for (size_t i = 0; i < json_array_size(ids) && i < json_array_size(layers);
			     i++) {
				const char *id = json_string_value(json_array_get(ids, i));
				const char *ld = json_string_value(
				    json_object_get(json_array_get(layers, i), "digest"));
				if (digest_valid(id) && digest_valid(ld))
					json_object_set_new(f->tree_src, id, json_string(ld));
			}
		}
	}
	return ok;
}

static void check_tags(struct fsck *f)
{
	cleanup_free char *text = NULL;
	size_t len = 0;
	cleanup_json json_t *idx = NULL;
	if (util_read_file(f->s->dirfd, "index.json", &text, &len, NULL) == 0)
		idx = json_loadb(text, len, 0, NULL);
	if (!json_is_array(json_object_get(idx, "manifests"))) {
		problem(f, "index.json", false, "restore index.json from a backup",
			"not an OCI index: the tags cannot be read");
		return;
	}
	size_t i;
	json_t *desc;
	json_array_foreach(json_object_get(idx, "manifests"), i, desc)
	{
		const char *ref = json_string_value(json_object_get(
		    json_object_get(desc, "annotations"), "org.opencontainers.image.ref.name"));
		const char *d = json_string_value(json_object_get(desc, "digest"));
		json_t *sz = json_object_get(desc, "size");
		cleanup_free char *root =
		    ref ? xasprintf("tag %s", ref) : xasprintf("index.json entry %zu", i);
		check_doc(f, root, d, json_is_integer(sz) ? json_integer_value(sz) : -1, true);
	}
}

static void check_records(struct fsck *f)
{
	int fd = f->s->cache_fd;
	DIR *d = store_dir_stream(fd);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (strlen(de->d_name) != 64)
			continue;
		cleanup_free char *root = xasprintf("cache record sha256:%s", de->d_name);
		cleanup_free char *text = NULL;
		size_t len = 0;
		cleanup_json json_t *rec = NULL;
		if (util_read_file(fd, de->d_name, &text, &len, NULL) == 0)
			rec = json_loadb(text, len, 0, NULL);
		bool bad = !json_is_object(rec);
		json_t *layer = json_object_get(rec, "layer");
		const char *ld = json_string_value(json_object_get(layer, "digest"));
		const char *id = json_string_value(json_object_get(layer, "diff_id"));
		json_t *sz = json_object_get(layer, "size");
		if (!bad && layer) {
			uint64_t got = 0;
			bad = !blob_sound(f, ld, &got) ||
			      (json_is_integer(sz) && (uint64_t)json_integer_value(sz) != got);
			if (!bad && digest_valid(id))
				json_object_set_new(f->tree_src, id, json_string(ld));
		}
		if (!bad)
			continue;
		bool fixed = f->o->repair && unlinkat(fd, de->d_name, 0) == 0;
		problem(f, root, fixed, "cairn fsck --repair removes it (the step runs again)",
			"%s",
			!json_is_object(rec) ? "not a JSON record"
					     : "its layer's blob is missing, damaged or of "
					       "another size");
	}
	if (d)
		closedir(d);
}

/* Blobs that do not hash to their names: removed by --repair when no tag reaches
 * them (a tag's are reported by check_tags, and kept). */
static void check_blob_names(struct fsck *f)
{
	const char *digest;
	json_t *ok;
	json_object_foreach(f->blob_ok, digest, ok)
	{
		if (json_is_true(ok) || json_object_get(f->tag_held, digest))
			continue;
		bool fixed = f->o->repair && unlinkat(f->s->blobs_fd, digest_hex(digest), 0) == 0;
		problem(f, digest, fixed, "cairn fsck --repair removes it (no tag reaches it)",
			"blob's content has another digest than its name");
	}
}

static void check_trees(struct fsck *f)
{
	int fd = f->s->layers_fd;
	DIR *d = store_dir_stream(fd);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		size_t len = strlen(de->d_name);
		if ((len == 69 && !strcmp(de->d_name + 64, ".boot")) ||
		    (len == 67 && !strcmp(de->d_name + 64, ".du"))) {
			struct stat st, mst;
			cleanup_free char *tree = xstrndup(de->d_name, 64);
			/* a young one may be an adopt's, written just before its tree */
			if (fstatat(fd, tree, &st, AT_SYMLINK_NOFOLLOW) == 0 ||
			    (fstatat(fd, de->d_name, &mst, AT_SYMLINK_NOFOLLOW) == 0 &&
			     mst.st_mtime >= time(NULL) - 3600))
				continue;
			bool fixed = f->o->repair && unlinkat(fd, de->d_name, 0) == 0;
			problem(f, de->d_name, fixed,
				"cairn fsck --repair (or cairn gc) removes it",
				"a marker of an unpacked layer that is not there");
			continue;
		}
		if (len != 64)
			continue;
		cleanup_free char *id = xasprintf("sha256:%s", de->d_name);
		const char *src = json_string_value(json_object_get(f->tree_src, id));
		if (src) {
			if (f->res->n_trees % 32 == 0)
				f->res->trees = xrealloc(f->res->trees, (f->res->n_trees + 33) * 2 *
									    sizeof(char *));
			f->res->trees[2 * f->res->n_trees] = xstrdup(id);
			f->res->trees[2 * f->res->n_trees + 1] = xstrdup(src);
			f->res->n_trees++;
			continue;
		}
		problem(f, id, false, "cairn gc removes it",
			"an unpacked layer no image or cache record names (its blob is unknown)");
	}
	if (d)
		closedir(d);
}

/* Temp files of util_write_file_atomic and dead processes' temp dirs. */
static void check_leftovers(struct fsck *f)
{
	struct {
		int fd;
		const char *where;
	} dirs[] = {{f->s->cache_fd, "cairn/cache"},
		    {f->s->contexts_fd, "cairn/contexts"},
		    {f->s->layers_fd, "cairn/layers"},
		    {f->s->dirfd, "."},
		    {f->s->tmp_fd, "cairn/tmp"}};
	const char *own = f->s->proc_dir ? strrchr(f->s->proc_dir, '/') + 1 : "";
	for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
		DIR *d = dirs[i].fd < 0 ? NULL : store_dir_stream(dirs[i].fd);
		struct dirent *de;
		while (d && (de = readdir(d))) {
			bool tmpdir = dirs[i].fd == f->s->tmp_fd;
			/* a live process's dir, or one being made (see store_sweep_tmp) */
			if (tmpdir ? (!strncmp(de->d_name, "proc-", 5) || de->d_name[0] == '.' ||
				      !strcmp(de->d_name, own) ||
				      (!strncmp(de->d_name, "new-", 4) &&
				       !store_tmp_abandoned(f->s, de->d_name)))
				   : !strstr(de->d_name, ".tmp."))
				continue;
			/* a live writer's temp file has a pid that runs */
			const char *pid = strrchr(de->d_name, '.');
			if (!tmpdir && pid && kill(atoi(pid + 1), 0) == 0)
				continue;
			cleanup_free char *name = xasprintf("%s/%s", dirs[i].where, de->d_name);
			bool fixed = f->o->repair && util_rm_rf(dirs[i].fd, de->d_name, NULL) == 0;
			problem(f, name, fixed,
				"cairn fsck --repair (or the next cairn) removes it",
				"left by a process that was killed");
		}
		if (d)
			closedir(d);
	}
}

int store_fsck(struct store *s, const struct store_fsck_opts *o, struct store_fsck_result *res,
	       struct cairn_error *err)
{
	memset(res, 0, sizeof *res);
	if (o->repair) {
		int r = store_need_write(s, "repairing", err);
		if (r < 0)
			return r;
	}
	struct fsck f = {.s = s,
			 .o = o,
			 .res = res,
			 .blob_ok = json_object(),
			 .checked = json_object(),
			 .tree_src = json_object(),
			 .tag_held = json_object()};
	/* shared: no gc takes blobs from under the check; builds go on */
	bool locked = !s->readonly && store_gc_lock(s, LOCK_SH, NULL) == 0;
	s->collecting = true;
	hash_blobs(&f);
	check_tags(&f);
	check_records(&f);
	check_blob_names(&f);
	check_trees(&f);
	check_leftovers(&f);
	s->collecting = false;
	if (locked)
		store_gc_unlock(s);
	json_decref(f.blob_ok);
	json_decref(f.checked);
	json_decref(f.tree_src);
	json_decref(f.tag_held);
	return 0;
}

void store_fsck_result_release(struct store_fsck_result *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->problems[i].name);
		free(r->problems[i].what);
		free(r->problems[i].fix);
	}
	free(r->problems);
	for (size_t i = 0; i < 2 * r->n_trees; i++)
		free(r->trees[i]);
	free(r->trees);
	memset(r, 0, sizeof *r);
}

int store_layer_dir_drop(struct store *s, const char *diff_id, struct cairn_error *err)
{
	int r = store_check_digest(diff_id, "dropping layer dir", err);
	if (r < 0 || (r = store_need_write(s, "dropping a layer dir", err)) < 0)
		return r;
	cleanup_free char *tmp = NULL;
	if ((r = store_mkdtemp(s, "drop-", &tmp, err)) < 0)
		return r;
	cleanup_free char *dst = xasprintf("%s/tree", tmp);
	if (renameat(s->layers_fd, digest_hex(diff_id), AT_FDCWD, dst) < 0 && errno != ENOENT) {
		r = cairn_error_errno(err, errno, "moving the unpacked layer %s aside", diff_id);
		util_rm_rf(AT_FDCWD, tmp, NULL);
		return r;
	}
	cleanup_free char *marker = xasprintf("%s.boot", digest_hex(diff_id));
	cleanup_free char *du = xasprintf("%s.du", digest_hex(diff_id));
	unlinkat(s->layers_fd, marker, 0);
	unlinkat(s->layers_fd, du, 0);
	return util_rm_rf(AT_FDCWD, tmp, err);
}
