/* Extra mounts of a step (RUN --mount), the parent's side: targets are validated and
 * resolved inside the root before the clone, what is missing of them is created, and
 * after the step removed again, so that none of it reaches the layer. The child
 * (child.c) mounts onto the paths resolved here. */
#include "internal.h"

#include "../fs/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* fs_open_creating's report of what it made (ctx: the stubs): a stub to remove after
 * the step. */
static void record_stub(void *ctx, int fd, bool dir, const struct stat *anchor)
{
	struct sandbox_stubs *stubs = ctx;
	struct stat st;
	char *path = fs_fd_path_below(stubs->root, fd);
	if (!path || fstat(fd, &st) < 0) {
		free(path);
		return;
	}
	if (stubs->n == stubs->alloc) {
		stubs->alloc = stubs->alloc ? 2 * stubs->alloc : 8;
		stubs->v = xrealloc(stubs->v, stubs->alloc * sizeof *stubs->v);
	}
	stubs->v[stubs->n++] = (struct sandbox_stub){
	    .path = path,
	    .dir = dir,
	    .dev = st.st_dev,
	    .ino = st.st_ino,
	    .anchor = anchor != NULL,
	    .anchor_mtime = anchor ? anchor->st_mtim : (struct timespec){0, 0},
	};
}

/* /proc, /dev and /sys are the sandbox's own. */
static bool is_reserved(const char *rel)
{
	static const char *const dirs[] = {"proc", "dev", "sys"};
	for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
		size_t len = strlen(dirs[i]);
		if (!strncmp(rel, dirs[i], len) && (rel[len] == '\0' || rel[len] == '/'))
			return true;
	}
	return false;
}

/* Opens the parent directory of path (resolved, below the root); *name is its last
 * component. */
static int open_parent(int rootfd, const char *path, int flags, const char **name)
{
	const char *slash = strrchr(path, '/');
	*name = slash ? slash + 1 : path;
	cleanup_free char *dir = xstrndup(path, slash ? (size_t)(slash - path) : 0);
	return fs_open(rootfd, dir, flags | O_DIRECTORY, FS_NO_SYMLINKS);
}

/* Opens *rel below the root, creating what is missing. A dangling symlink on the way
 * is followed inside the root and what it points to created, as runc does; *rel is
 * then the path it leads to. */
static int open_target(int rootfd, const char *target, char **rel, bool file,
		       struct sandbox_stubs *stubs, struct cairn_error *err)
{
	struct fs_create_opts o = {.mode = 0755, .file = file, .made = record_stub, .ctx = stubs};
	size_t end = 0;
	int fd = fs_open_creating_follow(rootfd, rel, &o, &end);
	if (fd == -EEXIST)
		return cairn_error_errno(err, EEXIST, "mount target %s: /%.*s", target, (int)end,
					 *rel);
	return fd < 0 ? cairn_error_errno(err, -fd, "mount target %s", target) : fd;
}

static int prepare_mount(int rootfd, const struct sandbox_mount *m, struct sandbox_mount_plan *mp,
			 struct sandbox_stubs *stubs, struct cairn_error *err)
{
	const char *target = m->target ? m->target : "";
	mp->mount = m;
	if (target[0] != '/')
		return cairn_error_set(err, EINVAL, "mount target \"%s\" is not an absolute path",
				       target);
	cleanup_free char *rel = fs_clean_path(target, FS_CLEAN_IN_ROOT);
	if (!*rel)
		return cairn_error_set(err, EINVAL, "mount target %s: cannot mount over /", target);
	if (is_reserved(rel))
		return cairn_error_set(
		    err, EINVAL, "mount target %s: /proc, /dev and /sys are the sandbox's own",
		    target);
	struct stat st;
	switch (m->type) {
	case SANDBOX_MOUNT_BIND:
		if (!m->source || !*m->source)
			return cairn_error_set(err, EINVAL, "bind mount on %s: no source", target);
		mp->source = realpath(m->source, NULL);
		if (!mp->source || stat(mp->source, &st) < 0)
			return cairn_error_errno(err, errno, "bind mount source %s", m->source);
		mp->file = !S_ISDIR(st.st_mode);
		break;
	case SANDBOX_MOUNT_FILE:
		if (!m->data)
			return cairn_error_set(err, EINVAL, "file mount on %s: no content", target);
		mp->file = true;
		break;
	case SANDBOX_MOUNT_TMPFS:
		mp->data =
		    m->size ? xasprintf("mode=755,size=%" PRIu64, m->size) : xstrdup("mode=755");
		break;
	default:
		return cairn_error_set(err, EINVAL, "mount target %s: unknown mount type %d",
				       target, (int)m->type);
	}
	cleanup_close int fd = open_target(rootfd, target, &rel, mp->file, stubs, err);
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0)
		return cairn_error_errno(err, errno, "mount target %s", target);
	if (!mp->file && !S_ISDIR(st.st_mode))
		return cairn_error_set(err, ENOTDIR, "mount target %s: not a directory", target);
	if (mp->file && S_ISDIR(st.st_mode))
		return cairn_error_set(err, EISDIR,
				       "mount target %s: a directory, but source %s is a file",
				       target, m->source);
	mp->target = fs_fd_path_below(stubs->root, fd);
	if (!mp->target)
		return cairn_error_set(err, EXDEV, "mount target %s: not below the root", target);
	if (!*mp->target || is_reserved(mp->target))
		return cairn_error_set(
		    err, EINVAL, "mount target %s: leads to /%s, which cannot be mounted over",
		    target, mp->target);
	return 0;
}

int sandbox_prepare_mounts(int rootfd, const struct sandbox_spec *spec, struct sandbox_plan *p,
			   struct sandbox_stubs *stubs, struct cairn_error *err)
{
	if (!spec->n_mounts)
		return 0;
	char link[32];
	snprintf(link, sizeof link, "/proc/self/fd/%d", rootfd);
	stubs->root = fs_readlinkat(AT_FDCWD, link);
	if (!stubs->root)
		return cairn_error_errno(err, errno, "resolving root %s", spec->rootfs);
	p->mounts = xcalloc(spec->n_mounts, sizeof *p->mounts);
	p->n_mounts = spec->n_mounts;
	int r = 0;
	for (size_t i = 0; i < spec->n_mounts && r == 0; i++)
		r = prepare_mount(rootfd, &spec->mounts[i], &p->mounts[i], stubs, err);
	/* the mtimes to compare with after the step, which may change them itself */
	for (size_t i = 0; i < stubs->n; i++) {
		struct sandbox_stub *s = &stubs->v[i];
		const char *name;
		struct stat st;
		cleanup_close int dirfd = open_parent(rootfd, s->path, O_PATH, &name);
		s->anchor = s->anchor && dirfd >= 0 && fstat(dirfd, &st) == 0;
		if (s->anchor)
			s->prepared_mtime = st.st_mtim;
	}
	return r;
}

void sandbox_release_mounts(struct sandbox_plan *p)
{
	for (size_t i = 0; i < p->n_mounts; i++) {
		free(p->mounts[i].target);
		free(p->mounts[i].source);
		free(p->mounts[i].data);
	}
	free(p->mounts);
	p->mounts = NULL;
	p->n_mounts = 0;
}

/* Removes a stub that is still what the sandbox made: an empty directory, or the
 * same empty file. */
static bool remove_stub(int dirfd, const char *name, const struct sandbox_stub *s)
{
	if (s->dir)
		return unlinkat(dirfd, name, AT_REMOVEDIR) == 0;
	struct stat st;
	return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
	       st.st_size == 0 && st.st_dev == s->dev && st.st_ino == s->ino &&
	       unlinkat(dirfd, name, 0) == 0;
}

static bool same_time(struct timespec a, struct timespec b)
{
	return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

void sandbox_remove_stubs(int rootfd, struct sandbox_stubs *stubs)
{
	/* which directories the step left alone, before removing changes them */
	for (size_t i = 0; i < stubs->n; i++) {
		struct sandbox_stub *s = &stubs->v[i];
		const char *name;
		struct stat st;
		if (!s->anchor)
			continue;
		cleanup_close int dirfd = open_parent(rootfd, s->path, O_PATH, &name);
		s->anchor = dirfd >= 0 && fstat(dirfd, &st) == 0 &&
			    same_time(st.st_mtim, s->prepared_mtime);
	}
	/* created top down, so the reverse order is deepest first */
	for (size_t i = stubs->n; i-- > 0;) {
		struct sandbox_stub *s = &stubs->v[i];
		const char *name;
		cleanup_close int dirfd = open_parent(rootfd, s->path, O_RDONLY, &name);
		if (dirfd >= 0 && remove_stub(dirfd, name, s) && s->anchor) {
			struct timespec times[2] = {{.tv_nsec = UTIME_OMIT}, s->anchor_mtime};
			futimens(dirfd, times);
		}
		free(s->path);
	}
	free(stubs->v);
	free(stubs->root);
	memset(stubs, 0, sizeof *stubs);
}
