/* Resolving beneath a root: the one openat2 call, and the verbs that open, make,
 * read and remove through it. */
#include "fs.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int fs_open(int root, const char *path, int flags, unsigned how)
{
	struct open_how oh = {
	    .flags = (uint64_t)(flags | O_CLOEXEC),
	    .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS |
		       ((how & FS_NO_SYMLINKS) ? RESOLVE_NO_SYMLINKS : 0),
	};
	while (*path == '/')
		path++;
	if (!*path)
		path = ".";
	for (;;) {
		long fd = syscall(SYS_openat2, root, path, &oh, sizeof oh);
		if (fd >= 0)
			return (int)fd;
		/* EAGAIN: a concurrent rename raced a ".." lookup; the kernel asks to retry */
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
	}
}

bool fs_is_dir(int root, const char *path)
{
	int fd = fs_open(root, path, O_PATH | O_DIRECTORY, 0);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* Opens the parent of the clean relative path rel beneath root; *name is rel's last
 * component (borrowed). The root itself has no parent: -EINVAL. */
static int open_parent(int root, const char *rel, const char **name)
{
	if (!*rel)
		return -EINVAL;
	const char *slash = strrchr(rel, '/');
	*name = slash ? slash + 1 : rel;
	cleanup_free char *dir = xstrndup(rel, slash ? (size_t)(slash - rel) : 0);
	return fs_open(root, dir, O_PATH | O_DIRECTORY, 0);
}

int fs_readlink(int root, const char *path, char **out, struct cairn_error *err)
{
	cleanup_free char *rel = fs_clean_path(path, FS_CLEAN_IN_ROOT);
	const char *name;
	cleanup_close int dir = open_parent(root, rel, &name);
	if (dir < 0)
		return cairn_error_errno(err, -dir, "reading link /%s", rel);
	*out = fs_readlinkat(dir, name);
	if (!*out)
		return cairn_error_errno(err, errno, "reading link /%s", rel);
	return 0;
}

int fs_read_file(int root, const char *path, char **out, size_t *len, struct cairn_error *err)
{
	const char *shown = path + strspn(path, "/");
	cleanup_close int fd = fs_open(root, path, O_RDONLY, 0);
	if (fd < 0)
		return cairn_error_errno(err, -fd, "opening /%s in the root", shown);
	int r = util_read_fd(fd, out, len);
	if (r < 0)
		return cairn_error_errno(err, -r, "reading /%s in the root", shown);
	return 0;
}

/* Makes name in dirfd as o says: a directory, or (file) an empty regular file. */
static int make_entry(int dirfd, const char *name, bool file, const struct fs_create_opts *o)
{
	if (!file) {
		if (mkdirat(dirfd, name, o->mode) < 0)
			return -errno;
		/* the mode must not depend on the umask; set through the directory itself,
		 * never through a symlink that replaced it */
		int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		int r = fchmod(fd, o->mode) < 0 ? -errno : 0;
		close(fd);
		if (r < 0)
			return r;
	} else {
		int fd =
		    openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (fd < 0)
			return -errno;
		int r = fchmod(fd, 0644) < 0 ? -errno : 0;
		close(fd);
		if (r < 0)
			return r;
	}
	if (o->owner &&
	    fchownat(dirfd, name, o->owner->uid, o->owner->gid, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	return 0;
}

int fs_open_creating(int root, char *rel, const struct fs_create_opts *o, size_t *failed_end)
{
	int dirfd = -1; /* the prefix before the current component */
	bool made = false;
	char *name = rel;
	for (char *s = rel;; s++) {
		if (*s && *s != '/')
			continue;
		char c = *s;
		*s = '\0';
		/* a component with more after it must be a directory */
		int flags = O_PATH | (c ? O_DIRECTORY : 0);
		int fd = fs_open(root, rel, flags, o->how);
		if (fd == -ENOENT) {
			int parent = dirfd >= 0 ? dirfd : root;
			bool file = !c && o->file;
			struct stat before;
			bool first = o->made && !made && fstat(parent, &before) == 0;
			fd = make_entry(parent, name, file, o);
			if (fd == 0)
				fd = fs_open(root, rel, flags, o->how);
			if (fd >= 0 && o->made)
				o->made(o->ctx, fd, !file, first ? &before : NULL);
			made = made || fd >= 0;
		}
		if (fd < 0 && failed_end)
			*failed_end = (size_t)(s - rel);
		*s = c;
		if (dirfd >= 0)
			close(dirfd);
		if (fd < 0 || !c)
			return fd;
		dirfd = fd;
		name = s + 1;
	}
}

int fs_open_creating_follow(int root, char **rel, const struct fs_create_opts *o,
			    size_t *failed_end)
{
	cleanup_free char *root_path = NULL;
	for (int links = 0;; links++) {
		size_t end = 0;
		int fd = fs_open_creating(root, *rel, o, &end);
		if (failed_end)
			*failed_end = end;
		if (fd != -EEXIST)
			return fd;
		if (links == 40)
			return -ELOOP;
		/* missing, yet it cannot be created: a symlink to nowhere, followed
		 * from the directory it is in (resolved beneath the root) */
		cleanup_free char *prefix = xstrndup(*rel, end);
		char *slash = strrchr(prefix, '/');
		const char *name = slash ? slash + 1 : prefix;
		cleanup_free char *dir = xstrndup(prefix, slash ? (size_t)(slash - prefix) : 0);
		cleanup_close int dirfd = fs_open(root, dir, O_PATH | O_DIRECTORY, 0);
		cleanup_free char *link = dirfd >= 0 ? fs_readlinkat(dirfd, name) : NULL;
		if (!link)
			return -EEXIST;
		cleanup_free char *where = NULL;
		if (link[0] != '/') {
			if (!root_path) {
				cleanup_free char *self = xasprintf("/proc/self/fd/%d", root);
				root_path = fs_readlinkat(AT_FDCWD, self);
			}
			where = root_path ? fs_fd_path_below(root_path, dirfd) : NULL;
			if (!where)
				return -EEXIST;
		}
		cleanup_free char *joined =
		    xasprintf("%s/%s%s", where ? where : "", link, *rel + end);
		free(*rel);
		*rel = fs_clean_path(joined, FS_CLEAN_IN_ROOT);
	}
}

int fs_mkdir_p(int root, const char *path, mode_t mode, const struct fs_owner *owner, int *out,
	       struct cairn_error *err)
{
	cleanup_free char *rel = fs_clean_path(path, FS_CLEAN_IN_ROOT);
	/* most directories exist already: one lookup; only what is missing is walked (a
	 * path too long, or through a file, fails before anything is made) */
	int fd = fs_open(root, rel, O_PATH | O_DIRECTORY, 0);
	size_t end = strlen(rel);
	if (fd == -ENOENT) {
		struct fs_create_opts o = {.mode = mode, .owner = owner};
		fd = fs_open_creating_follow(root, &rel, &o, &end);
		struct stat st;
		if (fd >= 0 && (fstat(fd, &st) < 0 || !S_ISDIR(st.st_mode))) {
			close(fd);
			fd = -ENOTDIR;
		}
	}
	if (fd < 0)
		return cairn_error_errno(err, -fd, "creating directory /%.*s", (int)end, rel);
	if (out)
		*out = fd;
	else
		close(fd);
	return 0;
}

int fs_make_room(int dirfd, const char *name, bool keep_dir, bool *kept_dir,
		 struct cairn_error *err)
{
	struct stat st;
	if (kept_dir)
		*kept_dir = false;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : cairn_error_errno(err, errno, "replacing %s", name);
	if (S_ISDIR(st.st_mode) && keep_dir) {
		if (kept_dir)
			*kept_dir = true;
		return 0;
	}
	return util_rm_rf(dirfd, name, err);
}

int fs_remove(int root, const char *path, struct cairn_error *err)
{
	cleanup_free char *rel = fs_clean_path(path, FS_CLEAN_IN_ROOT);
	const char *name;
	cleanup_close int dir = open_parent(root, rel, &name);
	if (dir == -ENOENT || dir == -ENOTDIR)
		return 0;
	if (dir < 0)
		return cairn_error_errno(err, -dir, "removing /%s", rel);
	return util_rm_rf(dir, name, err);
}
