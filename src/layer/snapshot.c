/* Snapshots of a whole root filesystem, for the isolation modes where no overlay
 * upper dir records what a step changed (chroot, or no overlayfs): the stat of every
 * entry before the step, compared with the tree after it by the layer writer. Only
 * stat is compared, never content: the tree belongs to the builder, and any write,
 * chmod, chown, link or rename changes what stat shows (ctime), as any of them
 * copies a file up into an overlay. */
#include "layer.h"
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct layer_snapshot {
	struct snapshot_entry *v; /* sorted by path (strcmp) */
	size_t n, alloc;
	struct timespec taken; /* the coarse clock when the walk began */
};

/* File times come from a clock that ticks every few milliseconds: a file whose
 * ctime is this close to the snapshot could change again within the same tick,
 * unseen by its times (git's "racy" entries). Its content is hashed instead. */
#define RACY_NSEC (50 * 1000 * 1000)

static bool racy(const struct layer_snapshot *s, const struct stat *st)
{
	int64_t taken = (int64_t)s->taken.tv_sec * 1000000000 + s->taken.tv_nsec;
	int64_t ctime = (int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;
	return ctime >= taken - RACY_NSEC;
}

bool snapshot_file_digest(int dirfd, const char *name, char out[DIGEST_LEN])
{
	cleanup_close int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return false;
	struct sha256 h;
	sha256_init(&h);
	char buf[65536];
	ssize_t n;
	while ((n = read(fd, buf, sizeof buf)) > 0)
		sha256_update(&h, buf, (size_t)n);
	if (n < 0) {
		sha256_abort(&h);
		return false;
	}
	sha256_final(&h, out);
	return true;
}

static void snapshot_add(struct layer_snapshot *s, const char *path, const struct stat *st)
{
	if (s->n == s->alloc) {
		s->alloc = s->alloc ? s->alloc * 2 : 1024;
		s->v = xrealloc(s->v, s->alloc * sizeof *s->v);
	}
	s->v[s->n++] = (struct snapshot_entry){
	    .path = xstrdup(path),
	    .ino = st->st_ino,
	    .mode = st->st_mode,
	    .uid = st->st_uid,
	    .gid = st->st_gid,
	    .size = st->st_size,
	    .rdev = st->st_rdev,
	    .mtime = st->st_mtim,
	    .ctime = st->st_ctim,
	};
}

/* Records every entry below dfd; path holds dfd's own path ("" for the root, else
 * "a/b/"). Entries on another filesystem (a mount) are recorded, not entered. */
static int snapshot_dir(struct layer_snapshot *s, int dfd, dev_t dev, struct strbuf *path,
			struct cairn_error *err)
{
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	if (!d) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return cairn_error_errno(err, e, "snapshot of the root filesystem: /%s",
					 strbuf_str(path));
	}
	size_t prefix = path->len;
	int r = 0;
	for (;;) {
		errno = 0;
		struct dirent *de = readdir(d);
		if (!de) {
			if (errno)
				r = cairn_error_errno(err, errno,
						      "snapshot of the root filesystem: /%s",
						      strbuf_str(path));
			break;
		}
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		struct stat st;
		strbuf_addstr(path, de->d_name);
		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			r = cairn_error_errno(err, errno, "snapshot of the root filesystem: /%s",
					      strbuf_str(path));
			break;
		}
		snapshot_add(s, strbuf_str(path), &st);
		if (S_ISDIR(st.st_mode))
			s->v[s->n - 1].btime = snapshot_dir_btime(dfd, de->d_name);
		char digest[DIGEST_LEN];
		if (S_ISREG(st.st_mode) && racy(s, &st) &&
		    snapshot_file_digest(dfd, de->d_name, digest))
			s->v[s->n - 1].racy_digest = xstrdup(digest);
		if (S_ISDIR(st.st_mode) && st.st_dev == dev) {
			cleanup_close int sub = openat(
			    dfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0) {
				r = cairn_error_errno(err, errno,
						      "snapshot of the root filesystem: /%s",
						      strbuf_str(path));
				break;
			}
			strbuf_addch(path, '/');
			r = snapshot_dir(s, sub, dev, path, err);
			if (r < 0)
				break;
		}
		strbuf_setlen(path, prefix);
	}
	closedir(d);
	return r;
}

struct timespec snapshot_dir_btime(int dirfd, const char *name)
{
	struct statx stx;
	if (statx(dirfd, name, AT_SYMLINK_NOFOLLOW, STATX_BTIME, &stx) < 0 ||
	    !(stx.stx_mask & STATX_BTIME))
		return (struct timespec){0, 0};
	return (struct timespec){stx.stx_btime.tv_sec, stx.stx_btime.tv_nsec};
}

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct snapshot_entry *)a)->path,
		      ((const struct snapshot_entry *)b)->path);
}

int layer_snapshot_take(int dirfd, struct layer_snapshot **out, struct cairn_error *err)
{
	struct stat root;
	if (fstat(dirfd, &root) < 0)
		return cairn_error_errno(err, errno, "snapshot of the root filesystem");
	struct layer_snapshot *s = xcalloc(1, sizeof *s);
	clock_gettime(CLOCK_REALTIME_COARSE, &s->taken);
	cleanup_strbuf struct strbuf path = STRBUF_INIT;
	int r = snapshot_dir(s, dirfd, root.st_dev, &path, err);
	if (r < 0) {
		layer_snapshot_free(s);
		return r;
	}
	if (s->n)
		qsort(s->v, s->n, sizeof *s->v, entry_cmp);
	*out = s;
	return 0;
}

void layer_snapshot_free(struct layer_snapshot *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++) {
		free(s->v[i].path);
		free(s->v[i].racy_digest);
	}
	free(s->v);
	free(s);
}

const struct snapshot_entry *snapshot_find(const struct layer_snapshot *s, const char *path)
{
	struct snapshot_entry key = {.path = (char *)path};
	return s->n ? bsearch(&key, s->v, s->n, sizeof *s->v, entry_cmp) : NULL;
}

/* The first entry whose path is >= prefix. */
static size_t lower_bound(const struct layer_snapshot *s, const char *prefix)
{
	size_t lo = 0, hi = s->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(s->v[mid].path, prefix) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

void snapshot_children(const struct layer_snapshot *s, const char *dir,
		       void (*fn)(const char *name, void *ctx), void *ctx)
{
	size_t len = strlen(dir);
	/* the entries below a directory share its path as a prefix: they are one run */
	for (size_t i = lower_bound(s, dir); i < s->n; i++) {
		const char *p = s->v[i].path;
		if (strncmp(p, dir, len))
			break;
		if (!strchr(p + len, '/'))
			fn(p + len, ctx);
	}
}

bool snapshot_changed(const struct snapshot_entry *e, const struct stat *st)
{
	if (e->ino != st->st_ino || e->mode != st->st_mode || e->uid != st->st_uid ||
	    e->gid != st->st_gid || e->mtime.tv_sec != st->st_mtim.tv_sec ||
	    e->mtime.tv_nsec != st->st_mtim.tv_nsec)
		return true;
	/* a directory's ctime moves with every entry made or removed in it, which its
	 * mtime shows already; and with the mount points a chroot needed for a step */
	if (S_ISDIR(st->st_mode))
		return false;
	return e->size != st->st_size || e->rdev != st->st_rdev ||
	       e->ctime.tv_sec != st->st_ctim.tv_sec || e->ctime.tv_nsec != st->st_ctim.tv_nsec;
}
