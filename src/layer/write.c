/* layer writer: walk a tree → normalized tar (libarchive, pax restricted) → sha256 (diff_id)
 * → zstd / gzip / nothing → the store's blob writer, in one streaming pass. */
#include "layer.h"
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <search.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <zstd.h>

/* Every buffer of the pipeline; the memory of a layer write is a few of these plus
 * zstd's own windows, whatever the size of the tree. */
#define LAYER_BUF_SIZE (1024 * 1024)
/* 2, not zstd's default 3: on a 330 MB tree of text and incompressible data it
 * compresses ~1.6x faster for blobs ~1.5% larger, and compression was the largest
 * single cost of a big COPY or RUN layer */
#define LAYER_ZSTD_LEVEL 2
#define LAYER_ZSTD_JOB_SIZE (2 * 1024 * 1024)

#define WHITEOUT_PREFIX ".wh."
#define WHITEOUT_OPAQUE ".wh..wh..opq"
#define XATTR_CAPS "security.capability"

int layer_compression_parse(const char *name, enum layer_compression *out)
{
	if (!strcmp(name, "zstd"))
		*out = LAYER_ZSTD;
	else if (!strcmp(name, "gzip"))
		*out = LAYER_GZIP;
	else if (!strcmp(name, "none"))
		*out = LAYER_NONE;
	else
		return -EINVAL;
	return 0;
}

const char *layer_compression_name(enum layer_compression c)
{
	switch (c) {
	case LAYER_ZSTD:
		return "zstd";
	case LAYER_GZIP:
		return "gzip";
	case LAYER_NONE:
		return "none";
	}
	return "unknown";
}

const char *layer_media_type(enum layer_compression c)
{
	switch (c) {
	case LAYER_ZSTD:
		return MEDIA_TYPE_OCI_LAYER_ZSTD;
	case LAYER_GZIP:
		return MEDIA_TYPE_OCI_LAYER_GZIP;
	case LAYER_NONE:
		return MEDIA_TYPE_OCI_LAYER;
	}
	return MEDIA_TYPE_OCI_LAYER;
}

/* ---- the output side: tar bytes in, blob out ---- */

struct pipeline {
	enum layer_compression compression;
	struct sha256 diff;
	bool diff_live;
	ZSTD_CCtx *zstd;
	struct archive *gzip; /* raw format + gzip filter: libarchive's deflate, no zlib here */
	char *out;	      /* zstd output buffer */
	struct blob_writer *blob;
	struct cairn_error *err;
	int rc; /* first error; once set, the callbacks refuse everything */
};

static int pipeline_sink(struct pipeline *p, const void *data, size_t len)
{
	if (p->rc < 0)
		return p->rc;
	int r = store_blob_write(p->blob, data, len, p->err);
	if (r < 0)
		p->rc = cairn_error_wrap(p->err, "writing layer blob");
	return p->rc;
}

static la_ssize_t gzip_write_cb(struct archive *a, void *data, const void *buf, size_t len)
{
	struct pipeline *p = data;
	if (pipeline_sink(p, buf, len) < 0)
		return -1;
	return (la_ssize_t)len;
}

static int pipeline_fail_archive(struct pipeline *p, struct archive *a, const char *doing)
{
	if (p->rc < 0)
		return p->rc;
	p->rc =
	    cairn_error_set(p->err, archive_errno(a) > 0 ? archive_errno(a) : EIO, "%s: %s", doing,
			    archive_error_string(a) ? archive_error_string(a) : "failed");
	return p->rc;
}

static int pipeline_init(struct pipeline *p, struct store *s, enum layer_compression c,
			 struct cairn_error *err)
{
	*p = (struct pipeline){.compression = c, .err = err};
	sha256_init(&p->diff);
	p->diff_live = true;
	if (c == LAYER_ZSTD) {
		p->zstd = ZSTD_createCCtx();
		if (!p->zstd)
			return p->rc = cairn_error_set(err, ENOMEM, "creating zstd context");
		long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		if (ncpu < 1)
			ncpu = 1;
		size_t r =
		    ZSTD_CCtx_setParameter(p->zstd, ZSTD_c_compressionLevel, LAYER_ZSTD_LEVEL);
		if (!ZSTD_isError(r))
			r = ZSTD_CCtx_setParameter(p->zstd, ZSTD_c_checksumFlag, 1);
		/* The frame does not depend on the number of workers (any value >= 1), so the
		 * digest does not depend on the machine. Small jobs with a full-window overlap:
		 * measured on /usr/bin, a smaller blob than zstd's default 8 MiB jobs at the
		 * same speed, and a third of the memory (the workers' buffers are most of a
		 * layer write's memory). A libzstd without threads refuses nbWorkers and
		 * compresses in this thread. */
		if (!ZSTD_isError(r) &&
		    !ZSTD_isError(ZSTD_CCtx_setParameter(p->zstd, ZSTD_c_nbWorkers, (int)ncpu))) {
			r = ZSTD_CCtx_setParameter(p->zstd, ZSTD_c_jobSize, LAYER_ZSTD_JOB_SIZE);
			if (!ZSTD_isError(r))
				r = ZSTD_CCtx_setParameter(p->zstd, ZSTD_c_overlapLog, 9);
		}
		if (ZSTD_isError(r))
			return p->rc = cairn_error_set(err, EINVAL, "setting up zstd: %s",
						       ZSTD_getErrorName(r));
		p->out = xmalloc(LAYER_BUF_SIZE);
	} else if (c == LAYER_GZIP) {
		p->gzip = archive_write_new();
		if (!p->gzip)
			return p->rc = cairn_error_set(err, ENOMEM, "creating gzip writer");
		if (archive_write_add_filter_gzip(p->gzip) != ARCHIVE_OK ||
		    archive_write_set_format_raw(p->gzip) != ARCHIVE_OK ||
		    /* no mtime in the gzip header: the same tar gives the same blob */
		    archive_write_set_options(p->gzip, "gzip:!timestamp") != ARCHIVE_OK ||
		    archive_write_set_bytes_per_block(p->gzip, LAYER_BUF_SIZE) != ARCHIVE_OK ||
		    archive_write_set_bytes_in_last_block(p->gzip, 1) != ARCHIVE_OK)
			return pipeline_fail_archive(p, p->gzip, "setting up gzip");
	}
	int r = store_blob_begin(s, &p->blob, err);
	if (r < 0)
		return p->rc = cairn_error_wrap(err, "writing layer blob");
	if (p->gzip) {
		if (archive_write_open(p->gzip, p, NULL, gzip_write_cb, NULL) != ARCHIVE_OK)
			return pipeline_fail_archive(p, p->gzip, "starting gzip stream");
		struct archive_entry *e = archive_entry_new();
		archive_entry_set_pathname(e, "layer.tar");
		archive_entry_set_filetype(e, AE_IFREG);
		int ar = archive_write_header(p->gzip, e);
		archive_entry_free(e);
		if (ar != ARCHIVE_OK)
			return pipeline_fail_archive(p, p->gzip, "starting gzip stream");
	}
	return 0;
}

static int zstd_drive(struct pipeline *p, ZSTD_inBuffer *in, ZSTD_EndDirective mode)
{
	for (;;) {
		ZSTD_outBuffer out = {p->out, LAYER_BUF_SIZE, 0};
		size_t left = ZSTD_compressStream2(p->zstd, &out, in, mode);
		if (ZSTD_isError(left))
			return p->rc = cairn_error_set(p->err, EIO, "compressing layer: %s",
						       ZSTD_getErrorName(left));
		if (out.pos && pipeline_sink(p, p->out, out.pos) < 0)
			return p->rc;
		if (mode == ZSTD_e_end ? left == 0 : in->pos == in->size)
			return 0;
	}
}

/* Takes tar bytes: hashes them and sends them on, compressed or not. */
static int pipeline_push(struct pipeline *p, const void *data, size_t len)
{
	if (p->rc < 0)
		return p->rc;
	sha256_update(&p->diff, data, len);
	switch (p->compression) {
	case LAYER_NONE:
		return pipeline_sink(p, data, len);
	case LAYER_ZSTD: {
		ZSTD_inBuffer in = {data, len, 0};
		return zstd_drive(p, &in, ZSTD_e_continue);
	}
	case LAYER_GZIP: {
		const char *c = data;
		while (len) {
			la_ssize_t n = archive_write_data(p->gzip, c, len);
			if (n <= 0)
				return pipeline_fail_archive(p, p->gzip, "compressing layer");
			c += n;
			len -= (size_t)n;
		}
		return 0;
	}
	}
	return 0;
}

/* Flushes the compressor and commits the blob. */
static int pipeline_finish(struct pipeline *p, struct layer_info *out)
{
	if (p->rc < 0)
		return p->rc;
	if (p->zstd) {
		ZSTD_inBuffer in = {NULL, 0, 0};
		if (zstd_drive(p, &in, ZSTD_e_end) < 0)
			return p->rc;
	}
	if (p->gzip && archive_write_close(p->gzip) != ARCHIVE_OK)
		return pipeline_fail_archive(p, p->gzip, "finishing gzip stream");
	sha256_final(&p->diff, out->diff_id);
	p->diff_live = false;
	struct blob_writer *w = steal_pointer(&p->blob);
	int r = store_blob_commit(w, NULL, out->digest, &out->size, p->err);
	if (r < 0)
		return p->rc = cairn_error_wrap(p->err, "storing layer blob");
	return 0;
}

static void pipeline_release(struct pipeline *p)
{
	if (p->rc == 0)
		p->rc = -ECANCELED; /* callbacks run by the frees below must not write */
	if (p->gzip)
		archive_write_free(p->gzip);
	if (p->zstd)
		ZSTD_freeCCtx(p->zstd);
	store_blob_abort(p->blob);
	if (p->diff_live)
		sha256_abort(&p->diff);
	free(p->out);
	*p = (struct pipeline){0};
}

static void cleanup_pipelinep(struct pipeline *p)
{
	pipeline_release(p);
}

static void cleanup_archive_writep(struct archive **a)
{
	if (*a)
		archive_write_free(*a);
}

static void cleanup_entryp(struct archive_entry **e)
{
	if (*e)
		archive_entry_free(*e);
}

static la_ssize_t tar_write_cb(struct archive *a, void *data, const void *buf, size_t len)
{
	if (pipeline_push(data, buf, len) < 0)
		return -1;
	return (la_ssize_t)len;
}

/* ---- the input side: the tree walk ---- */

struct seen_inode {
	dev_t dev;
	ino_t ino;
	char *path; /* the first tar name of this inode */
};

struct walker {
	struct archive *tar;
	struct pipeline *p;
	const struct layer_write_opts *opts;
	void *inodes; /* tsearch tree of struct seen_inode: hard links */
	char *buf;    /* file data */
	struct strbuf path;
	uint64_t entries;
	struct cairn_error *err;
	/* opts->since: below a new directory, where everything is written */
	bool all_new;
	/* the directories above the current entry, written only once something below
	 * them is (as overlay copies up the parents of what it copies up) */
	struct pending_dir *pending;
	size_t n_pending, alloc_pending;
};

struct pending_dir {
	char *path; /* "a/b/" */
	struct stat st;
	bool written;
};

struct child {
	char *key;  /* the name in the tar, the sort key */
	char *name; /* the name in the directory */
	bool whiteout;
	bool gone; /* opts->since: in the snapshot, no longer in the tree */
};

static int seen_cmp(const void *a, const void *b)
{
	const struct seen_inode *x = a, *y = b;
	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	return 0;
}

static void seen_free(void *p)
{
	struct seen_inode *s = p;
	free(s->path);
	free(s);
}

static int child_cmp(const void *a, const void *b)
{
	return strcmp(((const struct child *)a)->key, ((const struct child *)b)->key);
}

static void children_free(struct child *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(c[i].key);
		free(c[i].name);
	}
	free(c);
}

static int walk_fail(struct walker *w, int code, const char *doing)
{
	return cairn_error_errno(w->err, code, "writing layer: %s: %s", strbuf_str(&w->path),
				 doing);
}

static int walk_fail_archive(struct walker *w)
{
	if (w->p->rc < 0)
		return w->p->rc;
	int code = archive_errno(w->tar) > 0 ? archive_errno(w->tar) : EIO;
	return cairn_error_set(w->err, code, "writing layer: %s: %s", strbuf_str(&w->path),
			       archive_error_string(w->tar) ? archive_error_string(w->tar)
							    : "tar writer failed");
}

static bool is_whiteout_dev(const struct stat *st)
{
	return S_ISCHR(st->st_mode) && st->st_rdev == makedev(0, 0);
}

struct gone_names {
	struct child *c;
	size_t len, alloc;
	size_t present; /* c[0..present) are the tree's entries, sorted */
};

/* A name of the snapshot that the directory no longer has becomes a whiteout. */
static void add_if_gone(const char *name, void *ctx)
{
	struct gone_names *g = ctx;
	struct child key = {.key = (char *)name};
	if (g->present && bsearch(&key, g->c, g->present, sizeof *g->c, child_cmp))
		return;
	if (g->len == g->alloc) {
		g->alloc = g->alloc ? g->alloc * 2 : 8;
		g->c = xrealloc(g->c, g->alloc * sizeof *g->c);
	}
	g->c[g->len++] = (struct child){.key = xasprintf(WHITEOUT_PREFIX "%s", name),
					.name = xstrdup(name),
					.whiteout = true,
					.gone = true};
}

/* Reads a directory's names, with the tar name of each as its sort key. */
/* Whether dir/name is one of opts->ignore (dir is the first dir_len bytes of the
 * walker's path). */
static bool ignored(struct walker *w, const char *name, size_t dir_len)
{
	for (const char *const *p = w->opts->ignore; p && *p; p++)
		if (!strncmp(*p, w->path.buf, dir_len) && !strcmp(*p + dir_len, name))
			return true;
	return false;
}

static int read_children(struct walker *w, int dfd, struct child **out, size_t *n)
{
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return walk_fail(w, errno, "opening directory");
	DIR *d = fdopendir(fd);
	if (!d) {
		int e = errno;
		close(fd);
		return walk_fail(w, e, "reading directory");
	}
	struct child *c = NULL;
	size_t len = 0, alloc = 0;
	int r = 0;
	for (;;) {
		errno = 0;
		struct dirent *de = readdir(d);
		if (!de) {
			if (errno)
				r = walk_fail(w, errno, "reading directory");
			break;
		}
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		/* with since, an ignored path is compared as unchanged (change_of) */
		if (!w->opts->since && ignored(w, de->d_name, w->path.len))
			continue;
		bool whiteout = false;
		if (w->opts->overlay_upper && (de->d_type == DT_CHR || de->d_type == DT_UNKNOWN)) {
			struct stat st;
			if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0)
				whiteout = is_whiteout_dev(&st);
		}
		if (len == alloc) {
			alloc = alloc ? alloc * 2 : 32;
			c = xrealloc(c, alloc * sizeof(*c));
		}
		c[len].name = xstrdup(de->d_name);
		c[len].key =
		    whiteout ? xasprintf(WHITEOUT_PREFIX "%s", de->d_name) : xstrdup(de->d_name);
		c[len].whiteout = whiteout;
		c[len].gone = false;
		len++;
	}
	closedir(d);
	if (r < 0) {
		children_free(c, len);
		return r;
	}
	if (len)
		qsort(c, len, sizeof(*c), child_cmp);
	if (w->opts->since && !w->all_new) {
		struct gone_names g = {.c = c, .len = len, .alloc = alloc, .present = len};
		snapshot_children(w->opts->since, strbuf_str(&w->path), add_if_gone, &g);
		c = g.c;
		if (g.len > len)
			qsort(c, g.len, sizeof(*c), child_cmp);
		len = g.len;
	}
	*out = c;
	*n = len;
	return 0;
}

static void entry_set_path_common(struct walker *w, struct archive_entry *e, const char *path,
				  const struct stat *st)
{
	archive_entry_set_pathname(e, path);
	archive_entry_set_uid(e, st->st_uid);
	archive_entry_set_gid(e, st->st_gid);
	int64_t mtime = st->st_mtim.tv_sec;
	if (w->opts->source_date_epoch >= 0 && mtime > w->opts->source_date_epoch)
		mtime = w->opts->source_date_epoch;
	if (w->opts->timestamp_set)
		mtime = w->opts->timestamp;
	/* whole seconds: sub-second times would cost a pax header per entry */
	archive_entry_set_mtime(e, mtime, 0);
}

static void entry_set_common(struct walker *w, struct archive_entry *e, const struct stat *st)
{
	entry_set_path_common(w, e, strbuf_str(&w->path), st);
}

static int write_header(struct walker *w, struct archive_entry *e)
{
	/* ARCHIVE_WARN: a name that is not UTF-8 went out as bytes (hdrcharset=BINARY) */
	if (archive_write_header(w->tar, e) < ARCHIVE_WARN)
		return walk_fail_archive(w);
	w->entries++;
	return 0;
}

/* The value of the xattr `name` on fd, or NULL (*len 0) when it has none. */
static int get_xattr(struct walker *w, int fd, const char *name, char **out, size_t *len)
{
	*out = NULL;
	*len = 0;
	for (;;) {
		ssize_t n = fgetxattr(fd, name, NULL, 0);
		if (n < 0) {
			if (errno == ENODATA || errno == ENOTSUP)
				return 0;
			return walk_fail(w, errno, "reading xattrs");
		}
		char *v = xmalloc((size_t)n + 1);
		ssize_t m = fgetxattr(fd, name, v, (size_t)n);
		if (m < 0) {
			int e = errno;
			free(v);
			if (e == ERANGE)
				continue; /* grew in between */
			if (e == ENODATA)
				return 0;
			return walk_fail(w, e, "reading xattrs");
		}
		*out = v;
		*len = (size_t)m;
		return 0;
	}
}

static bool has_opaque_xattr(int fd)
{
	char v[2];
	ssize_t n = fgetxattr(fd, "trusted.overlay.opaque", v, sizeof(v));
	if (n < 0)
		n = fgetxattr(fd, "user.overlay.opaque", v, sizeof(v));
	return n == 1 && v[0] == 'y';
}

static int copy_data(struct walker *w, int fd, uint64_t size)
{
	while (size) {
		size_t want = size < LAYER_BUF_SIZE ? (size_t)size : LAYER_BUF_SIZE;
		ssize_t n = read(fd, w->buf, want);
		if (n < 0) {
			if (errno == EINTR && !util_interrupted)
				continue;
			return walk_fail(w, errno, "reading");
		}
		if (n == 0)
			return cairn_error_set(w->err, EIO,
					       "writing layer: %s: file shrank while being read",
					       strbuf_str(&w->path));
		if (archive_write_data(w->tar, w->buf, (size_t)n) != n)
			return walk_fail_archive(w);
		size -= (uint64_t)n;
	}
	return 0;
}

static int readlink_alloc(struct walker *w, int dfd, const char *name, size_t hint, char **out)
{
	size_t size = hint + 1 > 256 ? hint + 1 : 256;
	for (;;) {
		char *b = xmalloc(size);
		ssize_t n = readlinkat(dfd, name, b, size);
		if (n < 0) {
			int e = errno;
			free(b);
			return walk_fail(w, e, "reading symlink");
		}
		if ((size_t)n < size) {
			b[n] = '\0';
			*out = b;
			return 0;
		}
		free(b);
		size *= 2;
	}
}

static int walk_dir(struct walker *w, int dfd);

/* An empty file that stands for a device node extraction could not make
 * (UTIL_XATTR_DEVICE) is written as that node: the layer says what the image has. */
static int device_stand_in(struct walker *w, int fd, struct archive_entry *e, bool *device)
{
	*device = false;
	cleanup_free char *v = NULL;
	size_t len;
	int r = get_xattr(w, fd, UTIL_XATTR_DEVICE, &v, &len);
	if (r < 0 || !v)
		return r;
	char type;
	unsigned maj, min;
	int n = 0;
	cleanup_free char *text = xstrndup(v, len);
	if (sscanf(text, "%c %u %u%n", &type, &maj, &min, &n) != 3 || text[n] ||
	    (type != 'c' && type != 'b'))
		return walk_fail(w, EINVAL, "reading " UTIL_XATTR_DEVICE);
	archive_entry_set_filetype(e, type == 'b' ? AE_IFBLK : AE_IFCHR);
	archive_entry_set_rdevmajor(e, maj);
	archive_entry_set_rdevminor(e, min);
	*device = true;
	return 0;
}

/* A second sighting of an inode becomes a hard link to the first; the first is recorded. */
static bool as_hardlink(struct walker *w, const struct stat *st, struct archive_entry *e)
{
	struct seen_inode key = {.dev = st->st_dev, .ino = st->st_ino};
	struct seen_inode **found = tfind(&key, &w->inodes, seen_cmp);
	if (found) {
		archive_entry_set_hardlink(e, (*found)->path);
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, st->st_mode & 07777);
		archive_entry_set_size(e, 0);
		return true;
	}
	struct seen_inode *s = xmalloc(sizeof(*s));
	*s = key;
	s->path = xstrdup(strbuf_str(&w->path));
	if (!tsearch(s, &w->inodes, seen_cmp))
		abort();
	return false;
}

static int write_dir_header(struct walker *w, struct archive_entry *e, const char *path,
			    const struct stat *st)
{
	entry_set_path_common(w, e, path, st);
	archive_entry_set_filetype(e, AE_IFDIR);
	archive_entry_set_perm(e, st->st_mode & 07777);
	return write_header(w, e);
}

/* Writes the directories above the current entry that are not written yet. */
static int flush_pending(struct walker *w)
{
	for (size_t i = 0; i < w->n_pending; i++) {
		struct pending_dir *pd = &w->pending[i];
		if (pd->written)
			continue;
		__attribute__((cleanup(cleanup_entryp))) struct archive_entry *e =
		    archive_entry_new();
		if (!e)
			return walk_fail(w, ENOMEM, "allocating tar entry");
		int r = write_dir_header(w, e, pd->path, &pd->st);
		if (r < 0)
			return r;
		pd->written = true;
	}
	return 0;
}

/* A directory the snapshot has as it is now: entered, written only when something
 * below it is. */
static int walk_unchanged_dir(struct walker *w, int fd, const struct stat *st)
{
	if (w->n_pending == w->alloc_pending) {
		w->alloc_pending = w->alloc_pending ? w->alloc_pending * 2 : 16;
		w->pending = xrealloc(w->pending, w->alloc_pending * sizeof *w->pending);
	}
	w->pending[w->n_pending++] =
	    (struct pending_dir){.path = xstrdup(strbuf_str(&w->path)), .st = *st};
	int r = walk_dir(w, fd);
	free(w->pending[--w->n_pending].path);
	return r;
}

/* opts->since: how the entry at the walker's path compares with the snapshot. */
enum change { CHANGE_NONE, CHANGE_MODIFIED, CHANGE_NEW, CHANGE_REPLACED };

static enum change change_of(struct walker *w, int dfd, const char *name, const struct stat *st)
{
	if (w->all_new)
		return CHANGE_NEW;
	if (ignored(w, name, w->path.len - strlen(name)))
		return CHANGE_NONE;
	const struct snapshot_entry *e = snapshot_find(w->opts->since, strbuf_str(&w->path));
	if (!e)
		return CHANGE_NEW;
	if (e->ino != st->st_ino || (e->mode & S_IFMT) != (st->st_mode & S_IFMT))
		return CHANGE_REPLACED;
	if (S_ISDIR(st->st_mode)) {
		struct timespec bt = snapshot_dir_btime(dfd, name);
		if (bt.tv_sec != e->btime.tv_sec || bt.tv_nsec != e->btime.tv_nsec)
			return CHANGE_REPLACED;
	}
	if (snapshot_changed(e, st))
		return CHANGE_MODIFIED;
	char now[DIGEST_LEN];
	if (e->racy_digest && S_ISREG(st->st_mode) &&
	    (!snapshot_file_digest(dfd, name, now) || strcmp(now, e->racy_digest)))
		return CHANGE_MODIFIED;
	return CHANGE_NONE;
}

/* A whiteout for what the snapshot had and the tree has not: owned by root and made
 * now, as overlay makes one. */
static int write_gone(struct walker *w, struct archive_entry *e)
{
	struct stat st = {0};
	clock_gettime(CLOCK_REALTIME, &st.st_mtim);
	entry_set_common(w, e, &st);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0);
	archive_entry_set_size(e, 0);
	return write_header(w, e);
}

static int walk_child(struct walker *w, int dfd, const struct child *c)
{
	__attribute__((cleanup(cleanup_entryp))) struct archive_entry *e = archive_entry_new();
	if (!e)
		return walk_fail(w, ENOMEM, "allocating tar entry");
	if (c->gone && ignored(w, c->name, w->path.len - strlen(c->key)))
		return 0;
	if (c->gone) {
		int r = flush_pending(w);
		return r < 0 ? r : write_gone(w, e);
	}
	struct stat st;
	if (fstatat(dfd, c->name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return walk_fail(w, errno, "stat");
	if (S_ISSOCK(st.st_mode))
		return 0; /* sockets do not travel in layers */
	enum change change = CHANGE_MODIFIED;
	if (w->opts->since) {
		change = change_of(w, dfd, c->name, &st);
		if (change == CHANGE_NONE && !S_ISDIR(st.st_mode))
			return 0;
		if (change != CHANGE_NONE) {
			int r = flush_pending(w);
			if (r < 0)
				return r;
		}
	}

	if (c->whiteout) {
		entry_set_common(w, e, &st);
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0);
		archive_entry_set_size(e, 0);
		return write_header(w, e);
	}

	if (S_ISDIR(st.st_mode)) {
		cleanup_close int fd =
		    openat(dfd, c->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return walk_fail(w, errno, "opening directory");
		strbuf_addch(&w->path, '/');
		if (change == CHANGE_NONE)
			return walk_unchanged_dir(w, fd, &st);
		int r = write_dir_header(w, e, strbuf_str(&w->path), &st);
		if (r < 0)
			return r;
		if (change == CHANGE_REPLACED || (w->opts->overlay_upper && has_opaque_xattr(fd))) {
			size_t len = w->path.len;
			strbuf_addstr(&w->path, WHITEOUT_OPAQUE);
			archive_entry_clear(e);
			entry_set_common(w, e, &st);
			archive_entry_set_filetype(e, AE_IFREG);
			archive_entry_set_perm(e, 0);
			archive_entry_set_size(e, 0);
			r = write_header(w, e);
			if (r < 0)
				return r;
			strbuf_setlen(&w->path, len);
		}
		if (change != CHANGE_NEW && change != CHANGE_REPLACED)
			return walk_dir(w, fd);
		bool all_new = w->all_new;
		w->all_new = true;
		r = walk_dir(w, fd);
		w->all_new = all_new;
		return r;
	}

	entry_set_common(w, e, &st);
	if (st.st_nlink > 1 && as_hardlink(w, &st, e))
		return write_header(w, e);

	if (S_ISREG(st.st_mode)) {
		cleanup_close int fd =
		    openat(dfd, c->name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME);
		if (fd < 0 && errno == EPERM)
			fd = openat(dfd, c->name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return walk_fail(w, errno, "opening");
		struct stat fst;
		if (fstat(fd, &fst) < 0)
			return walk_fail(w, errno, "stat");
		if (!S_ISREG(fst.st_mode) || fst.st_ino != st.st_ino)
			return cairn_error_set(w->err, EAGAIN,
					       "writing layer: %s: file replaced while being read",
					       strbuf_str(&w->path));
		archive_entry_set_perm(e, fst.st_mode & 07777);
		if (fst.st_size == 0) {
			bool device;
			int r = device_stand_in(w, fd, e, &device);
			if (r < 0 || device)
				return r < 0 ? r : write_header(w, e);
		}
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_size(e, fst.st_size);
		cleanup_free char *caps = NULL;
		size_t caps_len;
		int r = get_xattr(w, fd, XATTR_CAPS, &caps, &caps_len);
		if (r < 0)
			return r;
		if (caps)
			archive_entry_xattr_add_entry(e, XATTR_CAPS, caps, caps_len);
		r = write_header(w, e);
		if (r < 0)
			return r;
		return copy_data(w, fd, (uint64_t)fst.st_size);
	}

	archive_entry_set_perm(e, st.st_mode & 07777);
	if (S_ISLNK(st.st_mode)) {
		cleanup_free char *target = NULL;
		int r = readlink_alloc(w, dfd, c->name, (size_t)st.st_size, &target);
		if (r < 0)
			return r;
		archive_entry_set_filetype(e, AE_IFLNK);
		archive_entry_set_symlink(e, target);
	} else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
		archive_entry_set_filetype(e, S_ISCHR(st.st_mode) ? AE_IFCHR : AE_IFBLK);
		archive_entry_set_rdevmajor(e, major(st.st_rdev));
		archive_entry_set_rdevminor(e, minor(st.st_rdev));
	} else if (S_ISFIFO(st.st_mode)) {
		archive_entry_set_filetype(e, AE_IFIFO);
	} else {
		return walk_fail(w, EINVAL, "unsupported file type");
	}
	return write_header(w, e);
}

/* Depth first, names in byte order, each directory before what it holds. */
static int walk_dir(struct walker *w, int dfd)
{
	if (util_interrupted)
		return cairn_error_set(w->err, EINTR, "writing layer: interrupted");
	struct child *c = NULL;
	size_t n = 0;
	int r = read_children(w, dfd, &c, &n);
	if (r < 0)
		return r;
	size_t prefix = w->path.len;
	for (size_t i = 0; i < n && r == 0; i++) {
		strbuf_addstr(&w->path, c[i].key);
		r = walk_child(w, dfd, &c[i]);
		strbuf_setlen(&w->path, prefix);
	}
	children_free(c, n);
	return r;
}

int layer_write_dir(struct store *s, int dirfd, const struct layer_write_opts *opts,
		    struct layer_info *out, struct cairn_error *err)
{
	cleanup_utf8_locale struct utf8_locale loc = utf8_locale_enter();
	__attribute__((cleanup(cleanup_pipelinep))) struct pipeline p = {0};
	int r = pipeline_init(&p, s, opts->compression, err);
	if (r < 0)
		return r;

	__attribute__((cleanup(cleanup_archive_writep))) struct archive *tar = archive_write_new();
	if (!tar)
		return cairn_error_set(err, ENOMEM, "writing layer: creating tar writer");
	/* pax restricted: plain ustar headers unless a name, link or xattr needs more. Blocks
	 * are buffered by libarchive and the last one is not padded (1024 zero bytes end it). */
	if (archive_write_set_format_pax_restricted(tar) != ARCHIVE_OK ||
	    archive_write_set_bytes_per_block(tar, LAYER_BUF_SIZE) != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(tar, 1) != ARCHIVE_OK ||
	    archive_write_open(tar, &p, NULL, tar_write_cb, NULL) != ARCHIVE_OK)
		return cairn_error_set(err, EIO, "writing layer: setting up tar writer: %s",
				       archive_error_string(tar));

	cleanup_close int root = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return cairn_error_errno(err, errno, "writing layer: opening the tree");
	cleanup_free char *buf = xmalloc(LAYER_BUF_SIZE);
	struct walker w = {
	    .tar = tar, .p = &p, .opts = opts, .buf = buf, .path = STRBUF_INIT, .err = err};
	r = walk_dir(&w, root);
	tdestroy(w.inodes, seen_free);
	free(w.pending);
	strbuf_release(&w.path);
	if (r < 0) {
		if (p.rc == 0)
			p.rc = r;
		return r;
	}
	if (archive_write_close(tar) != ARCHIVE_OK) {
		if (p.rc < 0)
			return p.rc;
		return cairn_error_set(err, EIO, "writing layer: finishing tar: %s",
				       archive_error_string(tar));
	}
	struct layer_info info = {.media_type = layer_media_type(opts->compression),
				  .entries = w.entries};
	r = pipeline_finish(&p, &info);
	if (r < 0)
		return r;
	*out = info;
	return 0;
}
