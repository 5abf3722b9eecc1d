/* store: what the store holds and why (census), and taking back what nothing holds
 * (collect: gc, and prune of the build cache before it).
 *
 * Reach is by one rule, whatever the document: every string in a JSON blob that is a
 * digest holds the blob and the unpacked layer tree of that name, and so on through
 * the JSON blobs those name. So an index holds its manifests, a manifest its config
 * and layers, a config (its rootfs.diff_ids) its unpacked trees, a cache record its
 * layer and tree, a provenance artifact what it names; nothing here needs to know
 * the documents' schemas. What holds:
 *   - index.json: every descriptor in it (tags and referrers);
 *   - the roots the caller gives (the containers' images);
 *   - the build-cache records, unless a prune removes them first;
 *   - the leases of running processes (lease.c).
 * Everything is read under the gc lock held exclusively, leases first: a process
 * that leased a digest before is seen; one that leases after waits, and finds gone
 * what the gc took. The garbage is only renamed aside under the lock, and deleted
 * once it is released. */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* a blob larger than this is never a document that holds others */
#define DOC_MAX (4u << 20)
/* a temp file of util_write_file_atomic older than this belonged to a dead process */
#define LEFTOVER_AGE 3600

struct census_state {
	struct store *s;
	struct store_census *c;
	size_t alloc;
	json_t *blobs;	    /* digest -> item index */
	json_t *trees;	    /* digest -> item index */
	json_t *docs;	    /* digest -> array of the digests the blob names (its refs) */
	json_t *records;    /* item index (as text) -> refs array */
	unsigned *rec_refs; /* per item: how many kept records reach it */
	uint64_t cache;	    /* the build cache's bytes, as prune takes records */
};

static bool is_hex64(const char *s)
{
	if (strlen(s) != 64)
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

static size_t add_item(struct census_state *st, enum store_item_kind kind, const char *name,
		       uint64_t bytes, int64_t used)
{
	struct store_census *c = st->c;
	if (c->n == st->alloc) {
		st->alloc = st->alloc ? st->alloc * 2 : 256;
		c->items = xrealloc(c->items, st->alloc * sizeof *c->items);
	}
	c->items[c->n] =
	    (struct store_item){.kind = kind, .name = xstrdup(name), .bytes = bytes, .used = used};
	return c->n++;
}

static json_t *index_of(json_t *map, const char *digest)
{
	return json_object_get(map, digest);
}

/* The digests a document names: every string in it that is one. */
static void collect_digests(json_t *j, json_t *out)
{
	if (json_is_string(j)) {
		if (digest_valid(json_string_value(j)))
			json_array_append(out, j);
	} else if (json_is_object(j)) {
		const char *k;
		json_t *v;
		json_object_foreach(j, k, v) collect_digests(v, out);
	} else if (json_is_array(j)) {
		size_t i;
		json_t *v;
		json_array_foreach(j, i, v) collect_digests(v, out);
	}
}

/* The refs of the blob digest (cached): empty unless it is a JSON document. Read
 * without a lease: the gc lock is held. */
static json_t *doc_refs(struct census_state *st, const char *digest)
{
	json_t *refs = json_object_get(st->docs, digest);
	if (refs)
		return refs;
	refs = json_array();
	json_object_set_new(st->docs, digest, refs);
	if (!index_of(st->blobs, digest))
		return refs;
	cleanup_close int fd =
	    openat(st->s->blobs_fd, digest_hex(digest), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat sb;
	if (fd < 0 || fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_size > DOC_MAX ||
	    sb.st_size < 2)
		return refs;
	char head[64];
	ssize_t got = pread(fd, head, sizeof head, 0);
	ssize_t k = 0;
	while (k < got && strchr(" \t\r\n", head[k]))
		k++;
	if (k >= got || head[k] != '{')
		return refs;
	cleanup_free char *buf = NULL;
	size_t len = 0;
	if (util_read_fd(fd, &buf, &len) < 0)
		return refs;
	cleanup_json json_t *doc = json_loadb(buf, len, JSON_ALLOW_NUL, NULL);
	if (doc) {
		st->c->items[json_integer_value(index_of(st->blobs, digest))].document = true;
		collect_digests(doc, refs);
	}
	return refs;
}

/* Calls visit on every item digest reaches (its blob, its tree, and through the
 * documents on), once each; seen is the walk's own set. */
static void walk(struct census_state *st, const char *digest, json_t *seen,
		 void (*visit)(struct census_state *, size_t, void *), void *ctx)
{
	if (!digest_valid(digest) || json_object_get(seen, digest))
		return;
	json_object_set_new(seen, digest, json_true());
	json_t *b = index_of(st->blobs, digest), *t = index_of(st->trees, digest);
	if (b)
		visit(st, (size_t)json_integer_value(b), ctx);
	if (t)
		visit(st, (size_t)json_integer_value(t), ctx);
	if (!b)
		return;
	json_t *refs = doc_refs(st, digest);
	size_t i;
	json_t *v;
	json_array_foreach(refs, i, v) walk(st, json_string_value(v), seen, visit, ctx);
}

static void visit_held(struct census_state *st, size_t i, void *ctx)
{
	struct store_census_image *img = ctx;
	st->c->items[i].held++;
	img->items = xrealloc(img->items, (img->n_items + 1) * sizeof *img->items);
	img->items[img->n_items++] = i;
}

static void visit_leased(struct census_state *st, size_t i, void *ctx)
{
	(void)ctx;
	st->c->items[i].leased = true;
}

static void visit_record(struct census_state *st, size_t i, void *ctx)
{
	(void)ctx;
	st->rec_refs[i]++;
}

/* A record is taken: what only it held is free now. */
static void visit_unrecord(struct census_state *st, size_t i, void *ctx)
{
	(void)ctx;
	struct store_item *it = &st->c->items[i];
	if (--st->rec_refs[i] == 0 && it->cache && !it->leased) {
		it->cache = false;
		st->cache -= it->bytes;
	}
}

/* ---- listing the folders ---- */

static bool old_temp_any(const struct stat *sb)
{
	return sb->st_mtime < time(NULL) - LEFTOVER_AGE;
}

static void list_blobs(struct census_state *st)
{
	DIR *d = store_dir_stream(st->s->blobs_fd);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		struct stat sb;
		if (de->d_name[0] == '.' ||
		    fstatat(st->s->blobs_fd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		bool blob = is_hex64(de->d_name) && S_ISREG(sb.st_mode);
		/* anything else is another tool's (a temp file of one writing the layout),
		 * left alone until it is old */
		if (!blob && !old_temp_any(&sb))
			continue;
		cleanup_free char *digest = xasprintf("sha256:%s", de->d_name);
		size_t i =
		    add_item(st, blob ? STORE_ITEM_BLOB : STORE_ITEM_LEFTOVER,
			     blob ? digest : de->d_name, (uint64_t)sb.st_blocks * 512, sb.st_mtime);
		st->c->items[i].where = "blobs/sha256";
		if (blob)
			json_object_set_new(st->blobs, digest, json_integer((json_int_t)i));
	}
	if (d)
		closedir(d);
}

/* A util_write_file_atomic temp (NAME.tmp.PID) old enough to be a dead process's. */
static bool old_temp(const char *name, const struct stat *sb, time_t now)
{
	return strstr(name, ".tmp.") && sb->st_mtime < now - LEFTOVER_AGE;
}

/* The disk usage of the tree hex, remembered in <hex>.du: a tree never changes once
 * adopted, and walking every tree at every build's end would cost what a cached
 * rebuild costs many times over. */
static uint64_t tree_size(struct store *s, const char *hex);

/* tree_size for folder_bytes, on the layers fd alone */
static uint64_t tree_size_cached(int layers_fd, const char *hex)
{
	cleanup_free char *name = xasprintf("%s.du", hex);
	cleanup_free char *text = NULL;
	size_t len = 0;
	if (util_read_file(layers_fd, name, &text, &len, NULL) == 0)
		return strtoull(text, NULL, 10);
	return util_disk_usage(layers_fd, hex);
}

static uint64_t tree_size(struct store *s, const char *hex)
{
	cleanup_free char *name = xasprintf("%s.du", hex);
	cleanup_free char *text = NULL;
	size_t len = 0;
	if (util_read_file(s->layers_fd, name, &text, &len, NULL) == 0) {
		char *end = NULL;
		unsigned long long v = strtoull(text, &end, 10);
		if (end != text && *end == '\n')
			return v;
	}
	uint64_t bytes = util_disk_usage(s->layers_fd, hex);
	if (!s->readonly) {
		char buf[32];
		int n = snprintf(buf, sizeof buf, "%llu\n", (unsigned long long)bytes);
		(void)store_write_file(s, s->layers_fd, name, buf, (size_t)n, NULL);
	}
	return bytes;
}

/* name in where, when it is a temp file a dead process left */
static void add_leftover(struct census_state *st, const char *name, const struct stat *sb,
			 time_t now, const char *where)
{
	if (!old_temp(name, sb, now))
		return;
	size_t i =
	    add_item(st, STORE_ITEM_LEFTOVER, name, (uint64_t)sb->st_blocks * 512, sb->st_mtime);
	st->c->items[i].where = where;
}

static void list_trees(struct census_state *st, bool sizes)
{
	int fd = st->s->layers_fd;
	DIR *d = fd < 0 ? NULL : store_dir_stream(fd);
	struct dirent *de;
	time_t now = time(NULL);
	char **markers = NULL;
	while (d && (de = readdir(d))) {
		struct stat sb;
		if (de->d_name[0] == '.' || fstatat(fd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		const char *dot = strchr(de->d_name, '.');
		if (dot && (!strcmp(dot, ".boot") || !strcmp(dot, ".du")) &&
		    dot - de->d_name == 64) {
			strv_push(&markers, de->d_name);
			continue;
		}
		if (is_hex64(de->d_name) && S_ISDIR(sb.st_mode)) {
			cleanup_free char *digest = xasprintf("sha256:%s", de->d_name);
			size_t i = add_item(st, STORE_ITEM_TREE, digest,
					    sizes ? tree_size(st->s, de->d_name) : 0, sb.st_mtime);
			st->c->items[i].where = "cairn/layers";
			json_object_set_new(st->trees, digest, json_integer((json_int_t)i));
		} else {
			add_leftover(st, de->d_name, &sb, now, "cairn/layers");
		}
	}
	if (d)
		closedir(d);
	/* a marker whose tree is gone (a crash between the two) */
	for (size_t m = 0; markers && markers[m]; m++) {
		cleanup_free char *digest = xasprintf("sha256:%.64s", markers[m]);
		struct stat mb;
		/* young: an adopt writes it just before its tree is renamed in */
		if (index_of(st->trees, digest) ||
		    fstatat(st->s->layers_fd, markers[m], &mb, AT_SYMLINK_NOFOLLOW) < 0 ||
		    mb.st_mtime >= now - LEFTOVER_AGE)
			continue;
		size_t i = add_item(st, STORE_ITEM_LEFTOVER, markers[m], 4096, now);
		st->c->items[i].where = "cairn/layers";
	}
	strv_free(markers);
}

static void list_records(struct census_state *st)
{
	int fd = st->s->cache_fd;
	DIR *d = fd < 0 ? NULL : store_dir_stream(fd);
	struct dirent *de;
	time_t now = time(NULL);
	while (d && (de = readdir(d))) {
		struct stat sb;
		if (de->d_name[0] == '.' || fstatat(fd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (!is_hex64(de->d_name)) {
			add_leftover(st, de->d_name, &sb, now, "cairn/cache");
			continue;
		}
		cleanup_free char *key = xasprintf("sha256:%s", de->d_name);
		size_t i =
		    add_item(st, STORE_ITEM_RECORD, key, (uint64_t)sb.st_blocks * 512, sb.st_mtime);
		st->c->items[i].where = "cairn/cache";
		json_t *refs = json_array();
		cleanup_free char *text = NULL;
		size_t len = 0;
		if (util_read_file(fd, de->d_name, &text, &len, NULL) == 0) {
			/* one that is not JSON names nothing (fsck reports it) */
			cleanup_json json_t *rec = json_loadb(text, len, 0, NULL);
			collect_digests(rec, refs);
		}
		cleanup_free char *k = xasprintf("%zu", i);
		json_object_set_new(st->records, k, refs);
	}
	if (d)
		closedir(d);
}

/* Folder name of cairn/ whose entries are <hex> (and, for mounts, <hex>.lock). */
static void list_plain(struct census_state *st, const char *folder, enum store_item_kind kind)
{
	cleanup_close int fd = openat(st->s->cairn_fd, folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : store_dir_stream(fd);
	struct dirent *de;
	time_t now = time(NULL);
	while (d && (de = readdir(d))) {
		struct stat sb;
		if (de->d_name[0] == '.' || fstatat(fd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (!is_hex64(de->d_name)) {
			add_leftover(st, de->d_name, &sb, now,
				     kind == STORE_ITEM_MOUNT ? "cairn/mounts" : "cairn/contexts");
			continue;
		}
		int64_t used = sb.st_mtime;
		bool busy = false;
		if (kind == STORE_ITEM_MOUNT) {
			/* a build stamps and holds the lock while it mounts the dir */
			cleanup_free char *lock = xasprintf("%s.lock", de->d_name);
			cleanup_close int lfd = openat(fd, lock, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
			struct stat ls;
			if (lfd >= 0 && fstat(lfd, &ls) == 0 && ls.st_mtime > used)
				used = ls.st_mtime;
			busy = lfd >= 0 && flock(lfd, LOCK_EX | LOCK_NB) < 0;
		}
		size_t i = add_item(st, kind, de->d_name, util_disk_usage(fd, de->d_name), used);
		st->c->items[i].where =
		    kind == STORE_ITEM_MOUNT ? "cairn/mounts" : "cairn/contexts";
		st->c->items[i].busy = busy;
	}
	if (d)
		closedir(d);
}

/* The leases of the other live processes: every digest in their lease files. */
static void read_leases(struct census_state *st, json_t *out)
{
	int tfd = st->s->tmp_fd;
	DIR *d = tfd < 0 ? NULL : store_dir_stream(tfd);
	struct dirent *de;
	const char *own = st->s->proc_dir ? strrchr(st->s->proc_dir, '/') + 1 : "";
	while (d && (de = readdir(d))) {
		if (strncmp(de->d_name, "proc-", 5) || !strcmp(de->d_name, own))
			continue;
		cleanup_free char *lock = xasprintf("%s/.lock", de->d_name);
		cleanup_close int lfd = openat(tfd, lock, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		/* a lock nobody holds: the process is gone, and its leases with it */
		if (lfd < 0 || flock(lfd, LOCK_SH | LOCK_NB) == 0)
			continue;
		cleanup_free char *path = xasprintf("%s/leases", de->d_name);
		cleanup_free char *text = NULL;
		size_t len = 0;
		if (util_read_file(tfd, path, &text, &len, NULL) < 0)
			continue;
		for (char *line = text, *nl; line && *line; line = nl ? nl + 1 : NULL) {
			nl = strchr(line, '\n');
			if (nl)
				*nl = '\0';
			if (digest_valid(line))
				json_array_append_new(out, json_string(line));
		}
	}
	if (d)
		closedir(d);
}

static void census_free_state(struct census_state *st)
{
	json_decref(st->blobs);
	json_decref(st->trees);
	json_decref(st->docs);
	json_decref(st->records);
	free(st->rec_refs);
}

/* Fills st->c: lists everything, then who holds what. Under the gc lock. */
static int census_fill(struct census_state *st, const struct store_roots *roots, bool sizes,
		       struct cairn_error *err)
{
	struct store *s = st->s;
	st->blobs = json_object();
	st->trees = json_object();
	st->docs = json_object();
	st->records = json_object();
	/* leases first (see the top of this file) */
	cleanup_json json_t *leases = json_array();
	read_leases(st, leases);

	cleanup_free char *index = NULL;
	size_t len = 0;
	int r = util_read_file(s->dirfd, "index.json", &index, &len, err);
	if (r < 0)
		return cairn_error_wrap(err, "reading the tags of %s", s->root);
	cleanup_json json_t *idx = json_loadb(index, len, 0, NULL);
	if (!json_is_array(json_object_get(idx, "manifests")))
		return cairn_error_set(err, EBADMSG,
				       "%s/index.json is damaged: refusing to collect garbage "
				       "without knowing the tags (see cairn fsck)",
				       s->root);
	cleanup_strv char **extra = NULL;
	if (roots && roots->get && (r = roots->get(roots->ctx, &extra, err)) < 0)
		return r;

	list_blobs(st);
	list_trees(st, sizes);
	list_records(st);
	list_plain(st, "mounts", STORE_ITEM_MOUNT);
	list_plain(st, "contexts", STORE_ITEM_CONTEXT);
	struct store_census *c = st->c;
	st->rec_refs = xcalloc(c->n + 1, sizeof *st->rec_refs);

	/* images: every descriptor of index.json, then the extra roots */
	size_t i;
	json_t *desc;
	size_t n_desc = json_array_size(json_object_get(idx, "manifests"));
	size_t n_extra = 0;
	while (extra && extra[n_extra])
		n_extra++;
	c->images = xcalloc(n_desc + n_extra + 1, sizeof *c->images);
	json_array_foreach(json_object_get(idx, "manifests"), i, desc)
	{
		const char *digest = json_string_value(json_object_get(desc, "digest"));
		const char *ref = json_string_value(json_object_get(
		    json_object_get(desc, "annotations"), "org.opencontainers.image.ref.name"));
		struct store_census_image *img = &c->images[c->n_images++];
		img->ref = ref ? xstrdup(ref) : NULL;
		img->digest = xstrdup(digest ? digest : "");
		cleanup_json json_t *seen = json_object();
		walk(st, digest, seen, visit_held, img);
	}
	for (size_t e = 0; e < n_extra; e++) {
		struct store_census_image *img = &c->images[c->n_images++];
		img->digest = xstrdup(extra[e]);
		img->container = true;
		cleanup_json json_t *seen = json_object();
		walk(st, extra[e], seen, visit_held, img);
	}
	/* leases */
	cleanup_json json_t *seen = json_object();
	json_t *v;
	json_array_foreach(leases, i, v) walk(st, json_string_value(v), seen, visit_leased, NULL);
	/* records */
	const char *k;
	json_object_foreach(st->records, k, v)
	{
		cleanup_json json_t *rseen = json_object();
		size_t j;
		json_t *ref;
		json_array_foreach(v, j, ref)
		    walk(st, json_string_value(ref), rseen, visit_record, NULL);
	}
	/* the build cache: records, mounts, stat caches, and the content only records
	 * (or a running build) hold; what nothing holds is garbage, not cache */
	for (size_t j = 0; j < c->n; j++) {
		struct store_item *it = &c->items[j];
		if (it->kind == STORE_ITEM_BLOB || it->kind == STORE_ITEM_TREE)
			/* leased content no prune can free: not counted against the budget */
			it->cache = !it->held && !it->leased && st->rec_refs[j] > 0;
		else
			it->cache = it->kind != STORE_ITEM_LEFTOVER;
		if (it->cache)
			c->cache_bytes += it->bytes;
	}
	return 0;
}

/* Sums st_blocks of the folder's entries (not into subfolders). */
static uint64_t folder_bytes(int fd, bool trees)
{
	DIR *d = fd < 0 ? NULL : store_dir_stream(fd);
	struct dirent *de;
	uint64_t sum = 0;
	while (d && (de = readdir(d))) {
		struct stat sb;
		if (de->d_name[0] == '.' || fstatat(fd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		sum += (uint64_t)sb.st_blocks * 512;
		if (trees && S_ISDIR(sb.st_mode) && is_hex64(de->d_name))
			sum += tree_size_cached(fd, de->d_name);
	}
	if (d)
		closedir(d);
	return sum;
}

static uint64_t store_bound(struct store *s)
{
	return folder_bytes(s->blobs_fd, false) + folder_bytes(s->layers_fd, true) +
	       folder_bytes(s->cache_fd, false) + folder_bytes(s->contexts_fd, false);
}

/* Keeps the build cache's size a census found, for store_cache_estimate. */
static void census_remember(struct store *s, uint64_t cache)
{
	if (s->readonly)
		return;
	char buf[64];
	int n = snprintf(buf, sizeof buf, "%llu %llu\n", (unsigned long long)cache,
			 (unsigned long long)store_bound(s));
	(void)store_write_file(s, s->cairn_fd, "gc.census", buf, (size_t)n, NULL);
}

void store_cache_estimate(struct store *s, uint64_t *bytes, int64_t *last)
{
	uint64_t bound = store_bound(s);
	*bytes = bound;
	*last = 0;
	/* cairn/gc.census: "<cache bytes> <bound>" of the last census, at its mtime */
	cleanup_free char *text = NULL;
	size_t len = 0;
	struct stat sb;
	if (s->cairn_fd < 0 || fstatat(s->cairn_fd, "gc.census", &sb, 0) < 0 ||
	    util_read_file(s->cairn_fd, "gc.census", &text, &len, NULL) < 0)
		return;
	unsigned long long cache = 0, then = 0;
	if (sscanf(text, "%llu %llu", &cache, &then) != 2)
		return;
	*last = (int64_t)sb.st_mtime;
	*bytes = cache + (bound > then ? bound - then : 0);
}

int store_census(struct store *s, const struct store_roots *roots, struct store_census *out,
		 struct cairn_error *err)
{
	memset(out, 0, sizeof *out);
	struct census_state st = {.s = s, .c = out};
	/* shared: a gc waits, builds go on (this process leases nothing meanwhile) */
	int r = s->readonly ? 0 : store_gc_lock(s, LOCK_SH, err);
	if (r < 0)
		return r;
	s->collecting = true;
	r = census_fill(&st, roots, true, err);
	s->collecting = false;
	if (!s->readonly)
		store_gc_unlock(s);
	if (r == 0)
		census_remember(s, out->cache_bytes);
	census_free_state(&st);
	if (r < 0)
		store_census_release(out);
	return r;
}

void store_census_release(struct store_census *c)
{
	for (size_t i = 0; c->items && i < c->n; i++)
		free(c->items[i].name);
	free(c->items);
	for (size_t i = 0; c->images && i < c->n_images; i++) {
		free(c->images[i].ref);
		free(c->images[i].digest);
		free(c->images[i].items);
	}
	free(c->images);
	memset(c, 0, sizeof *c);
}

/* ---- collecting ---- */

static int cmp_used(const void *a, const void *b, void *arg)
{
	const struct store_item *items = arg;
	const struct store_item *x = &items[*(const size_t *)a], *y = &items[*(const size_t *)b];
	if (x->used != y->used)
		return x->used < y->used ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* Whether the build-cache entry i is one the prune options take. */
static bool prune_takes(struct census_state *st, size_t i, const struct store_collect_opts *o)
{
	const struct store_item *it = &st->c->items[i];
	if (it->busy || (o->until && it->used >= o->until))
		return false;
	if (o->all || it->kind != STORE_ITEM_RECORD)
		return true;
	/* without --all only what no image uses: a record whose layer an image holds
	 * stays, so that the image's rebuild stays cached */
	cleanup_free char *k = xasprintf("%zu", i);
	json_t *refs = json_object_get(st->records, k), *v;
	/* a step that made no layer (ENV, say) names nothing: it may be a tagged
	 * image's, whose history time it keeps, so only --all takes it */
	if (!json_array_size(refs))
		return false;
	size_t j;
	json_array_foreach(refs, j, v)
	{
		json_t *b = index_of(st->blobs, json_string_value(v));
		json_t *t = index_of(st->trees, json_string_value(v));
		if ((b && st->c->items[json_integer_value(b)].held) ||
		    (t && st->c->items[json_integer_value(t)].held))
			return false;
	}
	return true;
}

/* Moves item it out of its folder into the trash dir (an fd in cairn/tmp); false
 * when it could not. */
static bool take(struct store *s, const struct store_item *it, int trash, size_t n)
{
	int fd = -1;
	cleanup_close int own = -1;
	const char *name = it->name;
	switch (it->kind) {
	case STORE_ITEM_BLOB:
		fd = s->blobs_fd;
		name = digest_hex(it->name);
		break;
	case STORE_ITEM_TREE:
		fd = s->layers_fd;
		name = digest_hex(it->name);
		break;
	case STORE_ITEM_RECORD:
		return unlinkat(s->cache_fd, digest_hex(it->name), 0) == 0;
	case STORE_ITEM_CONTEXT:
		return unlinkat(s->contexts_fd, it->name, 0) == 0;
	case STORE_ITEM_MOUNT:
		fd = own = openat(s->cairn_fd, "mounts", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		break;
	case STORE_ITEM_LEFTOVER:
		fd = own = openat(s->dirfd, it->where, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		break;
	}
	if (fd < 0)
		return false;
	char dst[32];
	snprintf(dst, sizeof dst, "%zu", n);
	if (it->kind == STORE_ITEM_MOUNT) {
		/* taken only while its lock is ours: no build mounts it meanwhile */
		cleanup_free char *lock = xasprintf("%s.lock", name);
		cleanup_close int lfd =
		    openat(fd, lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (lfd < 0 || flock(lfd, LOCK_EX | LOCK_NB) < 0)
			return false;
		return renameat(fd, name, trash, dst) == 0;
	}
	if (renameat(fd, name, trash, dst) == 0) {
		if (it->kind == STORE_ITEM_TREE) {
			cleanup_free char *marker = xasprintf("%s.boot", name);
			cleanup_free char *du = xasprintf("%s.du", name);
			unlinkat(fd, marker, 0);
			unlinkat(fd, du, 0);
		}
		return true;
	}
	/* another filesystem (a blobs/ mounted apart): removed in place */
	return errno == EXDEV && util_rm_rf(fd, name, NULL) == 0;
}

static void report_add(struct store_collect_report *rep, const struct store_item *it)
{
	if (rep->n % 64 == 0)
		rep->items = xrealloc(rep->items, (rep->n + 64) * sizeof *rep->items);
	rep->items[rep->n] = *it;
	rep->items[rep->n].name = xstrdup(it->name);
	rep->n++;
	rep->bytes += it->bytes;
}

int store_collect(struct store *s, const struct store_collect_opts *o,
		  struct store_collect_report *rep, struct cairn_error *err)
{
	memset(rep, 0, sizeof *rep);
	int r = store_need_write(s, "collecting garbage", err);
	if (r < 0)
		return r;
	cleanup_free char *trash_path = NULL;
	if (!o->dry_run && (r = store_mkdtemp(s, "trash-", &trash_path, err)) < 0)
		return r;
	cleanup_close int trash =
	    trash_path ? open(trash_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
	if (trash_path && trash < 0)
		return cairn_error_errno(err, errno, "opening %s", trash_path);

	struct store_census c = {0};
	struct census_state st = {.s = s, .c = &c};
	if ((r = store_gc_lock(s, LOCK_EX, err)) < 0)
		return r;
	s->collecting = true;
	r = census_fill(&st, &o->roots, true, err);
	if (r < 0)
		goto out;

	/* what gc takes anyway: content nothing holds */
	st.cache = c.cache_bytes;
	size_t n_taken = 0;
	if (o->prune) {
		size_t *order = xcalloc(c.n + 1, sizeof *order);
		size_t n = 0;
		for (size_t i = 0; i < c.n; i++) {
			enum store_item_kind k = c.items[i].kind;
			if ((k == STORE_ITEM_RECORD || k == STORE_ITEM_MOUNT ||
			     k == STORE_ITEM_CONTEXT) &&
			    prune_takes(&st, i, o))
				order[n++] = i;
		}
		qsort_r(order, n, sizeof *order, cmp_used, c.items);
		for (size_t j = 0; j < n; j++) {
			if (o->keep_storage && st.cache <= o->keep_storage)
				break;
			struct store_item *it = &c.items[order[j]];
			if (!o->dry_run && !take(s, it, trash, n_taken++))
				continue;
			it->taken = true;
			st.cache -= it->bytes;
			report_add(rep, it);
			if (it->kind != STORE_ITEM_RECORD)
				continue;
			cleanup_free char *k = xasprintf("%zu", order[j]);
			json_t *refs = json_object_get(st.records, k), *v;
			cleanup_json json_t *seen = json_object();
			size_t x;
			json_array_foreach(refs, x, v)
			    walk(&st, json_string_value(v), seen, visit_unrecord, NULL);
		}
		free(order);
	}
	/* gc: content nothing holds, and dead processes' leftovers */
	for (size_t i = 0; i < c.n; i++) {
		struct store_item *it = &c.items[i];
		bool garbage = ((it->kind == STORE_ITEM_BLOB || it->kind == STORE_ITEM_TREE) &&
				!it->held && !it->leased && st.rec_refs[i] == 0) ||
			       it->kind == STORE_ITEM_LEFTOVER;
		if (!garbage || it->taken)
			continue;
		if (!o->dry_run && !take(s, it, trash, n_taken++))
			continue;
		it->taken = true;
		report_add(rep, it);
	}
	rep->remaining = st.cache;
out:
	s->collecting = false;
	store_gc_unlock(s);
	census_free_state(&st);
	store_census_release(&c);
	if (r == 0 && !o->dry_run)
		census_remember(s, rep->remaining);
	/* deleted outside the lock: builds wait for nobody's rm -rf */
	if (trash_path) {
		close(steal_fd(&trash));
		util_rm_rf(AT_FDCWD, trash_path, NULL);
	}
	return r;
}

void store_collect_report_release(struct store_collect_report *rep)
{
	for (size_t i = 0; rep->items && i < rep->n; i++)
		free(rep->items[i].name);
	free(rep->items);
	memset(rep, 0, sizeof *rep);
}
