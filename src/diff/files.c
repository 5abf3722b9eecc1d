/* Tar entries compared: pairs matched by name, field by field; entries on one side
 * only; the order of the entries both sides have. And a stack of layers merged into
 * the filesystem it makes (whiteouts applied, later layers winning), for images whose
 * layer counts differ. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#include <archive.h>
#include <archive_entry.h>

#define WHITEOUT_PREFIX ".wh."
#define WHITEOUT_OPAQUE ".wh..wh..opq"
#define WHITEOUT_META_PREFIX ".wh..wh."

/* ---- key sets ---- */

void diff_keyset_add(struct diff_keyset *k, const char *key)
{
	if (k->n == k->alloc) {
		k->alloc = k->alloc ? k->alloc * 2 : 16;
		k->keys = xrealloc(k->keys, k->alloc * sizeof *k->keys);
	}
	k->keys[k->n++] = xstrdup(key);
}

void diff_keyset_sort(struct diff_keyset *k)
{
	if (k->n)
		qsort(k->keys, k->n, sizeof *k->keys, strv_cmp);
}

bool diff_keyset_has(const struct diff_keyset *k, const char *key)
{
	return k->n && bsearch(&key, k->keys, k->n, sizeof *k->keys, strv_cmp);
}

void diff_keyset_release(struct diff_keyset *k)
{
	for (size_t i = 0; i < k->n; i++)
		free(k->keys[i]);
	free(k->keys);
	memset(k, 0, sizeof *k);
}

/* ---- sorting and merging ---- */

static int cmp_entry(const void *x, const void *y)
{
	const struct diff_entry *a = x, *b = y;
	int c = strcmp(a->key, b->key);
	if (c)
		return c;
	if (a->layer != b->layer)
		return a->layer < b->layer ? -1 : 1;
	return a->pos < b->pos ? -1 : a->pos > b->pos;
}

void diff_entries_sort(struct diff_entries *e)
{
	if (e->n)
		qsort(e->v, e->n, sizeof *e->v, cmp_entry);
}

static const char *base_name(const char *key)
{
	const char *slash = strrchr(key, '/');
	return slash ? slash + 1 : key;
}

/* The first place in the sorted view m whose key is not below key. */
static size_t lower_bound(const struct diff_entries *m, const char *key)
{
	size_t lo = 0, hi = m->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (strcmp(m->v[mid].key, key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Marks gone what lies below dir ("/a": "/a/..."; "/": everything but "/") in the
 * sorted view m; with self, dir itself too. */
static void remove_below(struct diff_entries *m, const char *dir, bool self)
{
	if (self)
		for (size_t i = lower_bound(m, dir); i < m->n && !strcmp(m->v[i].key, dir); i++)
			m->v[i].gone = true;
	bool root = !strcmp(dir, "/");
	cleanup_free char *prefix = root ? xstrdup("/") : xasprintf("%s/", dir);
	size_t plen = strlen(prefix);
	for (size_t i = lower_bound(m, prefix); i < m->n; i++) {
		const char *k = m->v[i].key;
		if (strncmp(k, prefix, plen))
			break;
		if (root && !strcmp(k, "/"))
			continue;
		m->v[i].gone = true;
	}
}

/* The directory part of a canonical key ("/a/b" → "/a", "/a" → "/"); caller frees. */
static char *dir_of(const char *key)
{
	const char *slash = strrchr(key, '/');
	if (!slash || slash == key)
		return xstrdup("/");
	return xstrndup(key, (size_t)(slash - key));
}

void diff_merge_layers(struct diff_entries *layers, size_t n, struct diff_entries *out)
{
	struct diff_entries m = {0};
	for (size_t l = 0; l < n; l++) {
		struct diff_entries *L = &layers[l];
		/* what this layer removes from the ones below it */
		for (size_t i = 0; i < L->n; i++) {
			struct diff_entry *e = &L->v[i];
			const char *base = base_name(e->key);
			if (!strcmp(base, WHITEOUT_OPAQUE)) {
				cleanup_free char *dir = dir_of(e->key);
				remove_below(&m, dir, false);
				e->gone = true;
			} else if (!strncmp(base, WHITEOUT_META_PREFIX,
					    strlen(WHITEOUT_META_PREFIX))) {
				e->gone = true;
			} else if (!strncmp(base, WHITEOUT_PREFIX, strlen(WHITEOUT_PREFIX))) {
				cleanup_free char *dir = dir_of(e->key);
				cleanup_free char *target =
				    !strcmp(dir, "/")
					? xasprintf("/%s", base + strlen(WHITEOUT_PREFIX))
					: xasprintf("%s/%s", dir, base + strlen(WHITEOUT_PREFIX));
				remove_below(&m, target, true);
				e->gone = true;
			} else if (e->type != AE_IFDIR || e->hardlink) {
				/* a file where a directory was hides what was in it */
				remove_below(&m, e->key, false);
			}
		}
		/* the survivors and this layer, later winning */
		struct diff_entries next = {0};
		next.alloc = m.n + L->n + 1;
		next.v = xmalloc(next.alloc * sizeof *next.v);
		for (size_t i = 0; i < m.n; i++) {
			if (m.v[i].gone) {
				diff_entry_release(&m.v[i]);
				continue;
			}
			next.v[next.n++] = m.v[i];
		}
		for (size_t i = 0; i < L->n; i++) {
			if (L->v[i].gone) {
				diff_entry_release(&L->v[i]);
				continue;
			}
			next.v[next.n++] = L->v[i];
		}
		free(m.v);
		free(L->v);
		memset(L, 0, sizeof *L);
		diff_entries_sort(&next);
		/* one entry per key: the last (the highest layer, the latest in it) */
		size_t w = 0;
		for (size_t i = 0; i < next.n; i++) {
			if (i + 1 < next.n && !strcmp(next.v[i].key, next.v[i + 1].key)) {
				diff_entry_release(&next.v[i]);
				continue;
			}
			next.v[w++] = next.v[i];
		}
		next.n = w;
		m = next;
	}
	*out = m;
}

/* ---- comparing ---- */

static const char *type_name(const struct diff_entry *e)
{
	if (e->hardlink)
		return "hardlink";
	switch (e->type) {
	case AE_IFREG:
		return "file";
	case AE_IFDIR:
		return "dir";
	case AE_IFLNK:
		return "symlink";
	case AE_IFCHR:
		return "char";
	case AE_IFBLK:
		return "block";
	case AE_IFIFO:
		return "fifo";
	case AE_IFSOCK:
		return "socket";
	default:
		return "unknown";
	}
}

static const char *format_name(int f)
{
	switch (f) {
	case ARCHIVE_FORMAT_TAR_USTAR:
		return "ustar";
	case ARCHIVE_FORMAT_TAR_PAX_INTERCHANGE:
		return "pax";
	case ARCHIVE_FORMAT_TAR_PAX_RESTRICTED:
		return "pax-restricted";
	case ARCHIVE_FORMAT_TAR_GNUTAR:
		return "gnu";
	default:
		return "v7";
	}
}

static char *time_text(int64_t s, long ns)
{
	cleanup_free char *t = util_rfc3339(s);
	if (!ns)
		return steal_pointer(&t);
	/* "…:05Z" → "…:05.000000001Z" */
	size_t len = strlen(t);
	return xasprintf("%.*s.%09ldZ", (int)(len - 1), t, ns);
}

/* What one field compares: the two values as text; ignored: an option leaves it out. */
struct field_cmp {
	struct differ *d;
	long layer;
	const char *key;
	int found;
};

static int field(struct field_cmp *f, const char *name, const char *a, const char *b, bool ignored)
{
	bool same = (!a && !b) || (a && b && !strcmp(a, b));
	if (same)
		return 0;
	if (ignored) {
		f->d->suppressed++;
		return 0;
	}
	f->found++;
	return diff_emit(f->d, "file", f->layer, a, b, "%s %s", f->key, name);
}

static int field_num(struct field_cmp *f, const char *name, uint64_t a, uint64_t b, bool ignored)
{
	if (a == b)
		return 0;
	char ta[32], tb[32];
	snprintf(ta, sizeof ta, "%llu", (unsigned long long)a);
	snprintf(tb, sizeof tb, "%llu", (unsigned long long)b);
	return field(f, name, ta, tb, ignored);
}

static int field_time(struct field_cmp *f, const char *name, bool aset, int64_t as, long ans,
		      bool bset, int64_t bs, long bns, bool ignored)
{
	if (aset == bset && (!aset || (as == bs && ans == bns)))
		return 0;
	cleanup_free char *ta = aset ? time_text(as, ans) : NULL;
	cleanup_free char *tb = bset ? time_text(bs, bns) : NULL;
	return field(f, name, ta, tb, ignored);
}

static int compare_xattrs(struct field_cmp *f, const struct diff_entry *a,
			  const struct diff_entry *b)
{
	size_t i = 0, j = 0;
	int r = 0;
	while (r >= 0 && (i < a->n_xattrs || j < b->n_xattrs)) {
		int c = i == a->n_xattrs   ? 1
			: j == b->n_xattrs ? -1
					   : strcmp(a->xattrs[i].name, b->xattrs[j].name);
		const struct diff_xattr *xa = c <= 0 ? &a->xattrs[i] : NULL;
		const struct diff_xattr *xb = c >= 0 ? &b->xattrs[j] : NULL;
		cleanup_free char *name = xasprintf("xattr/%s", xa ? xa->name : xb->name);
		r = field(f, name, xa ? xa->value : NULL, xb ? xb->value : NULL, false);
		i += c <= 0;
		j += c >= 0;
	}
	return r;
}

static int compare_pair(struct differ *d, const struct diff_entry *a, const struct diff_entry *b,
			int *found)
{
	const struct diff_opts *o = d->o;
	struct field_cmp f = {d, a->layer, a->key, 0};
	/* matched by their canonical names: that the names differ was left out */
	if (strcmp(a->name, b->name))
		d->suppressed++;
	int r = field(&f, "type", type_name(a), type_name(b), false);
	if (r >= 0)
		r = field(&f, "link", a->link, b->link, false);
	if (r >= 0 && a->mode != b->mode) {
		char ta[16], tb[16];
		snprintf(ta, sizeof ta, "0%03o", a->mode);
		snprintf(tb, sizeof tb, "0%03o", b->mode);
		bool ign =
		    o->ignore_file_mode_redundant_bits && (a->mode & 07777) == (b->mode & 07777);
		r = field(&f, "mode", ta, tb, ign);
	}
	if (r >= 0)
		r = field_num(&f, "uid", (uint64_t)a->uid, (uint64_t)b->uid, false);
	if (r >= 0)
		r = field_num(&f, "gid", (uint64_t)a->gid, (uint64_t)b->gid, false);
	if (r >= 0)
		r = field(&f, "uname", a->uname, b->uname, false);
	if (r >= 0)
		r = field(&f, "gname", a->gname, b->gname, false);
	if (r >= 0 && (a->devmajor != b->devmajor || a->devminor != b->devminor)) {
		char ta[32], tb[32];
		snprintf(ta, sizeof ta, "%u:%u", a->devmajor, a->devminor);
		snprintf(tb, sizeof tb, "%u:%u", b->devmajor, b->devminor);
		r = field(&f, "device", ta, tb, false);
	}
	if (r >= 0)
		r = field_num(&f, "size", a->size, b->size, false);
	if (r >= 0)
		r = field(&f, "sha256", *a->sha256 ? a->sha256 : NULL,
			  *b->sha256 ? b->sha256 : NULL, false);
	if (r >= 0)
		r = field_time(&f, "mtime", true, a->mtime, a->mtime_ns, true, b->mtime,
			       b->mtime_ns, o->ignore_file_timestamps);
	if (r >= 0)
		r = field_time(&f, "atime", a->atime_set, a->atime, a->atime_ns, b->atime_set,
			       b->atime, b->atime_ns, o->ignore_file_timestamps);
	if (r >= 0)
		r = field_time(&f, "ctime", a->ctime_set, a->ctime, a->ctime_ns, b->ctime_set,
			       b->ctime, b->ctime_ns, o->ignore_file_timestamps);
	if (r >= 0)
		r = compare_xattrs(&f, a, b);
	if (r >= 0)
		r = field(&f, "format", format_name(a->format), format_name(b->format),
			  o->ignore_tar_format);
	*found = f.found;
	return r;
}

struct pair {
	size_t pos_a, pos_b;
	size_t rank_b;
	const struct diff_entry *a;
};

static int cmp_pair_b(const void *x, const void *y)
{
	const struct pair *p = *(struct pair *const *)x, *q = *(struct pair *const *)y;
	return p->pos_b < q->pos_b ? -1 : p->pos_b > q->pos_b;
}

static int cmp_pair_a(const void *x, const void *y)
{
	const struct pair *p = x, *q = y;
	return p->pos_a < q->pos_a ? -1 : p->pos_a > q->pos_a;
}

/* The first entry (in a's order) of those both sides have whose place among them
 * differs; later ones follow from it and are not listed. */
static int compare_order(struct differ *d, struct pair *pairs, size_t n)
{
	if (!n)
		return 0;
	qsort(pairs, n, sizeof *pairs, cmp_pair_a);
	struct pair **by_b = xmalloc(n * sizeof *by_b);
	for (size_t i = 0; i < n; i++)
		by_b[i] = &pairs[i];
	qsort(by_b, n, sizeof *by_b, cmp_pair_b);
	for (size_t i = 0; i < n; i++)
		by_b[i]->rank_b = i;
	free(by_b);
	for (size_t i = 0; i < n; i++) {
		if (pairs[i].rank_b == i)
			continue;
		if (d->o->ignore_file_order) {
			d->suppressed++;
			return 0;
		}
		char ta[32], tb[32];
		snprintf(ta, sizeof ta, "%zu", pairs[i].pos_a + 1);
		snprintf(tb, sizeof tb, "%zu", pairs[i].pos_b + 1);
		return diff_emit(d, "file", pairs[i].a->layer, ta, tb, "%s order", pairs[i].a->key);
	}
	return 0;
}

int diff_compare_entries(struct differ *d, struct diff_entries *a, struct diff_entries *b,
			 bool merged, struct diff_keyset *ka, struct diff_keyset *kb)
{
	struct pair *pairs = xmalloc((a->n < b->n ? a->n : b->n) * sizeof *pairs + 1);
	size_t np = 0;
	size_t i = 0, j = 0;
	int r = 0;
	while (r >= 0 && (i < a->n || j < b->n)) {
		int c = i == a->n ? 1 : j == b->n ? -1 : strcmp(a->v[i].key, b->v[j].key);
		const struct diff_entry *ea = c <= 0 ? &a->v[i] : NULL;
		const struct diff_entry *eb = c >= 0 ? &b->v[j] : NULL;
		int found = 0;
		if (ea && eb) {
			r = compare_pair(d, ea, eb, &found);
			pairs[np++] = (struct pair){ea->pos, eb->pos, 0, ea};
		} else {
			long layer = ea ? ea->layer : merged ? -1 : eb->layer;
			r = diff_emit(d, "file", layer, ea ? type_name(ea) : NULL,
				      eb ? type_name(eb) : NULL, "%s", ea ? ea->key : eb->key);
			found = 1;
		}
		if (found && ea && ka)
			diff_keyset_add(&ka[ea->layer], ea->key);
		if (found && eb && kb)
			diff_keyset_add(&kb[eb->layer], eb->key);
		i += c <= 0;
		j += c >= 0;
	}
	/* a merged view has no order: its entries come from several layers */
	if (r >= 0 && !merged)
		r = compare_order(d, pairs, np);
	free(pairs);
	return r;
}
