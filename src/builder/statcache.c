/* The build context's stat cache, as git's index: for each file of a context it
 * remembers the stat identity (device, inode, size, mode, mtime and ctime to the
 * nanosecond) it had when its content was hashed, so that a rebuild stats files and
 * hashes only those that changed.
 *
 * Never stale: an entry is recorded only for a file whose mtime and ctime are
 * at least STAT_CACHE_MARGIN seconds older than the moment this process started
 * looking at the context (ref_time, read before any stat). A write to the file
 * after we looked gives it an mtime (and ctime) no older than ref_time minus the
 * filesystem's timestamp granularity, so it can never match the recorded one; a
 * write in the same second as an earlier build (the racy-git case) makes the file
 * too young to record, and it is hashed again next time. Setting an old mtime
 * with utimes moves ctime to now, which nobody can set back.
 *
 * The file, cairn/contexts/<sha256 of "context:" + the context's real path>:
 *   "CAIRNSC1", u64 ref_time (seconds), u32 path length, u32 entry count,
 *   the context path, then per entry:
 *   u64 dev, ino, size, i64 mtime s, u32 mtime ns, i64 ctime s, u32 ctime ns,
 *   u32 mode, u16 name length, 64 hex digits of the content's sha256, the name;
 *   then the sha256 of everything before it (32 bytes).
 * Native byte order: a cache belongs to the machine whose inodes it names. A file
 * that is short, long, damaged, of another context or from the future is ignored as
 * a whole; the worst a bad cache does is cost a hash. */
#include "internal.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define STAT_CACHE_MAGIC "CAIRNSC1"
/* seconds a file must have been left alone before its digest is remembered */
#define STAT_CACHE_MARGIN 2
/* bounds, so that a cache never costs much memory (an entry is ~130 bytes and its
 * name in memory, ~120 bytes and its name in the file): at most ~30 MiB at load */
#define STAT_CACHE_MAX_ENTRIES 65536
#define STAT_CACHE_MAX_BYTES (12u << 20)
#define STAT_CACHE_MAX_NAME 4096

struct stat_cache_entry {
	char *name; /* context-relative path */
	uint64_t dev, ino, size;
	int64_t mtime_s, ctime_s;
	uint32_t mtime_ns, ctime_ns, mode;
	char hex[65];
	bool used; /* looked up or recorded by this build */
};

struct stat_cache {
	struct store *store; /* NULL: not saved (a parsed cache in a test) */
	char *key;	     /* the cache file's name, a digest string */
	char *dir;	     /* the context's real path */
	int64_t ref_time;    /* when this process began looking at the context */
	/* entries, dense, and an open-addressing index of them by name (entry
	 * number + 1; 0 is a free slot; a power-of-two size at most 3/4 full) */
	struct stat_cache_entry *entries;
	size_t n, alloc;
	uint32_t *index;
	size_t n_index;
	bool dirty;
};

static uint64_t hash_name(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static uint32_t *find_slot(struct stat_cache *c, const char *name)
{
	size_t mask = c->n_index - 1;
	for (size_t i = hash_name(name) & mask;; i = (i + 1) & mask)
		if (!c->index[i] || !strcmp(c->entries[c->index[i] - 1].name, name))
			return &c->index[i];
}

static struct stat_cache_entry *find(struct stat_cache *c, const char *name)
{
	uint32_t v = *find_slot(c, name);
	return v ? &c->entries[v - 1] : NULL;
}

static void grow_index(struct stat_cache *c)
{
	free(c->index);
	c->n_index = c->n_index ? c->n_index * 2 : 1024;
	c->index = xcalloc(c->n_index, sizeof *c->index);
	for (size_t i = 0; i < c->n; i++)
		*find_slot(c, c->entries[i].name) = (uint32_t)(i + 1);
}

/* Adds or replaces e (taking its name). */
static void put(struct stat_cache *c, struct stat_cache_entry *e)
{
	uint32_t *slot = find_slot(c, e->name);
	if (*slot) {
		struct stat_cache_entry *old = &c->entries[*slot - 1];
		free(old->name);
		*old = *e;
		return;
	}
	if (c->n == c->alloc) {
		c->alloc = c->alloc ? c->alloc * 2 : 256;
		c->entries = xrealloc(c->entries, c->alloc * sizeof *c->entries);
	}
	c->entries[c->n++] = *e;
	if (c->n * 4 > c->n_index * 3)
		grow_index(c);
	else
		*slot = (uint32_t)c->n;
}

static bool old_enough(const struct stat_cache *c, int64_t mtime_s, int64_t ctime_s)
{
	return mtime_s + STAT_CACHE_MARGIN < c->ref_time &&
	       ctime_s + STAT_CACHE_MARGIN < c->ref_time;
}

static int64_t now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec;
}

static struct stat_cache *cache_new(void)
{
	struct stat_cache *c = xcalloc(1, sizeof *c);
	c->ref_time = now_seconds();
	grow_index(c);
	return c;
}

/* ---- reading ---- */

struct reader {
	const unsigned char *p, *end;
};

static bool take(struct reader *r, void *out, size_t n)
{
	if ((size_t)(r->end - r->p) < n)
		return false;
	memcpy(out, r->p, n);
	r->p += n;
	return true;
}

static bool is_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static void sha256_raw(const void *data, size_t len, unsigned char out[32])
{
	unsigned int n = 32;
	if (EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) != 1)
		memset(out, 0, 32);
}

/* Fills c from data when it is a sound cache of dir; false (c untouched but for
 * entries it may have to drop again) otherwise. */
static bool parse_into(struct stat_cache *c, const void *data, size_t len, const char *dir)
{
	if (len < 8 + 16 + 32 || len > STAT_CACHE_MAX_BYTES)
		return false;
	unsigned char sum[32];
	sha256_raw(data, len - 32, sum);
	if (memcmp(sum, (const unsigned char *)data + len - 32, 32) != 0)
		return false;
	struct reader r = {data, (const unsigned char *)data + len - 32};
	char magic[8];
	uint64_t ref_time;
	uint32_t path_len, count;
	if (!take(&r, magic, 8) || memcmp(magic, STAT_CACHE_MAGIC, 8) != 0 ||
	    !take(&r, &ref_time, 8) || !take(&r, &path_len, 4) || !take(&r, &count, 4) ||
	    count > STAT_CACHE_MAX_ENTRIES || path_len > STAT_CACHE_MAX_NAME ||
	    (size_t)(r.end - r.p) < path_len)
		return false;
	/* a cache written "in the future" means the clock went back: trust nothing */
	if (ref_time > (uint64_t)c->ref_time)
		return false;
	if (dir && (strlen(dir) != path_len || memcmp(r.p, dir, path_len) != 0))
		return false;
	r.p += path_len;
	for (uint32_t i = 0; i < count; i++) {
		struct stat_cache_entry e = {0};
		uint16_t name_len;
		if (!take(&r, &e.dev, 8) || !take(&r, &e.ino, 8) || !take(&r, &e.size, 8) ||
		    !take(&r, &e.mtime_s, 8) || !take(&r, &e.mtime_ns, 4) ||
		    !take(&r, &e.ctime_s, 8) || !take(&r, &e.ctime_ns, 4) ||
		    !take(&r, &e.mode, 4) || !take(&r, &name_len, 2) || !take(&r, e.hex, 64) ||
		    !is_hex(e.hex, 64) || name_len == 0 || (size_t)(r.end - r.p) < name_len ||
		    memchr(r.p, '\0', name_len))
			return false;
		e.hex[64] = '\0';
		/* only what was old enough when it was written, seen from then */
		if (e.mtime_s + STAT_CACHE_MARGIN >= (int64_t)ref_time ||
		    e.ctime_s + STAT_CACHE_MARGIN >= (int64_t)ref_time)
			return false;
		e.name = xstrndup((const char *)r.p, name_len);
		r.p += name_len;
		put(c, &e);
	}
	return r.p == r.end;
}

static void drop_entries(struct stat_cache *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->entries[i].name);
	free(c->entries);
	free(c->index);
	c->entries = NULL;
	c->index = NULL;
	c->n = c->alloc = c->n_index = 0;
	grow_index(c);
}

struct stat_cache *stat_cache_parse(const void *data, size_t len, const char *dir)
{
	struct stat_cache *c = cache_new();
	c->dir = dir ? xstrdup(dir) : NULL;
	if (!parse_into(c, data, len, dir))
		drop_entries(c);
	return c;
}

struct stat_cache *stat_cache_load(struct store *s, const char *dir)
{
	struct stat_cache *c = cache_new();
	c->store = s;
	c->dir = xstrdup(dir);
	cleanup_free char *id = xasprintf("context:%s", dir);
	c->key = xmalloc(DIGEST_LEN);
	sha256_digest(id, strlen(id), c->key);
	cleanup_free char *data = NULL;
	size_t len = 0;
	struct cairn_error e = CAIRN_ERROR_INIT;
	if (store_stat_cache_read(s, c->key, STAT_CACHE_MAX_BYTES, &data, &len, &e) < 0) {
		cairn_error_clear(&e);
		return c;
	}
	if (!parse_into(c, data, len, dir)) {
		drop_entries(c);
		c->dirty = true; /* replace the bad file */
	}
	return c;
}

size_t stat_cache_count(const struct stat_cache *c)
{
	return c->n;
}

/* ---- use ---- */

static bool same_file(const struct stat_cache_entry *e, const struct stat *st)
{
	return e->dev == (uint64_t)st->st_dev && e->ino == (uint64_t)st->st_ino &&
	       e->size == (uint64_t)st->st_size && e->mode == (uint32_t)st->st_mode &&
	       e->mtime_s == (int64_t)st->st_mtim.tv_sec &&
	       e->mtime_ns == (uint32_t)st->st_mtim.tv_nsec &&
	       e->ctime_s == (int64_t)st->st_ctim.tv_sec &&
	       e->ctime_ns == (uint32_t)st->st_ctim.tv_nsec;
}

bool stat_cache_lookup(struct stat_cache *c, const char *name, const struct stat *st,
		       char digest[DIGEST_LEN])
{
	if (!c || !S_ISREG(st->st_mode))
		return false;
	struct stat_cache_entry *e = find(c, name);
	if (!e || !same_file(e, st) ||
	    !old_enough(c, (int64_t)st->st_mtim.tv_sec, (int64_t)st->st_ctim.tv_sec))
		return false;
	e->used = true; /* kept first when a save has to trim */
	memcpy(digest, "sha256:", 7);
	memcpy(digest + 7, e->hex, 65);
	return true;
}

void stat_cache_record(struct stat_cache *c, const char *name, const struct stat *st,
		       const char *digest)
{
	size_t name_len = strlen(name);
	if (!c || !S_ISREG(st->st_mode) || !digest_valid(digest) || name_len == 0 ||
	    name_len > STAT_CACHE_MAX_NAME ||
	    !old_enough(c, (int64_t)st->st_mtim.tv_sec, (int64_t)st->st_ctim.tv_sec))
		return;
	struct stat_cache_entry *old = find(c, name);
	if (old && same_file(old, st) && !strcmp(old->hex, digest_hex(digest))) {
		old->used = true;
		return;
	}
	if (!old && c->n >= STAT_CACHE_MAX_ENTRIES)
		return;
	struct stat_cache_entry e = {
	    .name = xstrdup(name),
	    .dev = (uint64_t)st->st_dev,
	    .ino = (uint64_t)st->st_ino,
	    .size = (uint64_t)st->st_size,
	    .mtime_s = (int64_t)st->st_mtim.tv_sec,
	    .mtime_ns = (uint32_t)st->st_mtim.tv_nsec,
	    .ctime_s = (int64_t)st->st_ctim.tv_sec,
	    .ctime_ns = (uint32_t)st->st_ctim.tv_nsec,
	    .mode = (uint32_t)st->st_mode,
	    .used = true,
	};
	memcpy(e.hex, digest_hex(digest), 65);
	put(c, &e);
	c->dirty = true;
}

/* ---- writing ---- */

static void add_entry(struct strbuf *sb, const struct stat_cache_entry *e)
{
	uint16_t name_len = (uint16_t)strlen(e->name);
	strbuf_add(sb, &e->dev, 8);
	strbuf_add(sb, &e->ino, 8);
	strbuf_add(sb, &e->size, 8);
	strbuf_add(sb, &e->mtime_s, 8);
	strbuf_add(sb, &e->mtime_ns, 4);
	strbuf_add(sb, &e->ctime_s, 8);
	strbuf_add(sb, &e->ctime_ns, 4);
	strbuf_add(sb, &e->mode, 4);
	strbuf_add(sb, &name_len, 2);
	strbuf_add(sb, e->hex, 64);
	strbuf_add(sb, e->name, name_len);
}

void stat_cache_serialize(const struct stat_cache *c, struct strbuf *sb)
{
	/* entries this build used first; others fill what room the bound leaves */
	uint32_t count = 0;
	size_t dir_len = c->dir ? strlen(c->dir) : 0;
	uint32_t path_len = (uint32_t)dir_len;
	uint64_t ref_time = (uint64_t)c->ref_time;
	strbuf_add(sb, STAT_CACHE_MAGIC, 8);
	strbuf_add(sb, &ref_time, 8);
	strbuf_add(sb, &path_len, 4);
	size_t count_at = sb->len;
	strbuf_add(sb, &count, 4);
	strbuf_add(sb, c->dir ? c->dir : "", dir_len);
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < c->n; i++) {
			const struct stat_cache_entry *e = &c->entries[i];
			if (e->used != (pass == 0) || count >= STAT_CACHE_MAX_ENTRIES ||
			    sb->len + 200 + strlen(e->name) > STAT_CACHE_MAX_BYTES)
				continue;
			add_entry(sb, e);
			count++;
		}
	memcpy(sb->buf + count_at, &count, 4);
	unsigned char sum[32];
	sha256_raw(sb->buf, sb->len, sum);
	strbuf_add(sb, sum, 32);
}

int stat_cache_save(struct stat_cache *c, struct cairn_error *err)
{
	if (!c || !c->store || !c->dirty)
		return 0;
	cleanup_strbuf struct strbuf sb = STRBUF_INIT;
	stat_cache_serialize(c, &sb);
	int r = store_stat_cache_write(c->store, c->key, sb.buf, sb.len, err);
	if (r == 0)
		c->dirty = false;
	return r;
}

void stat_cache_free(struct stat_cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		free(c->entries[i].name);
	free(c->entries);
	free(c->index);
	free(c->key);
	free(c->dir);
	free(c);
}
