/* Copying into a root: files, trees and new files, with the owner and mode rules
 * every copy shares. Sources are read through fds the caller opened (beneath their
 * own root); destinations are resolved beneath the target root, and every entry is
 * created where nothing is followed. */
#include "fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/xattr.h>
#include <unistd.h>

/* Permission bits of one class ("u", "g" or "o") of m, copied to all three classes. */
static mode_t class_bits(char who, mode_t m)
{
	int shift = who == 'u' ? 6 : who == 'g' ? 3 : 0;
	mode_t v = (m >> shift) & 7;
	return (v << 6) | (v << 3) | v;
}

int fs_chmod_symbolic(const char *spec, mode_t mode, mode_t *out)
{
	mode_t m = mode & 07777;
	bool x_ok = S_ISDIR(mode) || (mode & 0111);
	const char *p = spec;
	for (;;) {
		mode_t who = 0;
		for (; *p && strchr("ugoa", *p); p++)
			who |= *p == 'u' ? 04700 : *p == 'g' ? 02070 : *p == 'o' ? 01007 : 07777;
		if (!who)
			who = 07777;
		if (!*p || !strchr("+-=", *p))
			return -EINVAL;
		while (*p && strchr("+-=", *p)) {
			char op = *p++;
			mode_t bits = 0;
			if (*p && strchr("ugo", *p)) {
				bits = class_bits(*p++, m);
			} else {
				for (; *p && strchr("rwxXst", *p); p++)
					bits |= *p == 'r'   ? 0444
						: *p == 'w' ? 0222
						: *p == 'x' ? 0111
						: *p == 'X' ? (x_ok ? 0111 : 0)
						: *p == 's' ? 06000
							    : 01000;
			}
			bits &= who;
			if (op == '+')
				m |= bits;
			else if (op == '-')
				m &= ~bits;
			else
				m = (m & ~who) | bits;
		}
		if (*p == '\0')
			break;
		if (*p != ',')
			return -EINVAL;
		p++;
	}
	*out = m;
	return 0;
}

int fs_open_source(int root, const char *path, int *fd, struct stat *st)
{
	*fd = -1;
	/* Looked at before opening: opening a device node opens the host's device, and a
	 * fifo blocks. O_NONBLOCK and O_NOCTTY in case it changed in between. */
	cleanup_close int probe = fs_open(root, path, O_PATH, 0);
	if (probe < 0)
		return probe;
	if (fstat(probe, st) < 0)
		return -errno;
	if (!S_ISREG(st->st_mode) && !S_ISDIR(st->st_mode))
		return 0;
	int in = fs_open(root, path, O_RDONLY | O_NONBLOCK | O_NOCTTY, 0);
	if (in < 0)
		return in;
	if (fstat(in, st) < 0) {
		int e = errno;
		close(in);
		return -e;
	}
	if (!S_ISREG(st->st_mode) && !S_ISDIR(st->st_mode)) {
		close(in);
		return 0;
	}
	fcntl(in, F_SETFL, fcntl(in, F_GETFL) & ~O_NONBLOCK);
	*fd = in;
	return 0;
}

/* Owner, mode and mtime of what a copy wrote at dirfd/name, from src's. */
static int apply_meta(int dirfd, const char *name, const struct stat *src,
		      const struct fs_copy_opts *o, struct cairn_error *err)
{
	uid_t uid = o->keep_owner ? src->st_uid : o->owner.uid;
	gid_t gid = o->keep_owner ? src->st_gid : o->owner.gid;
	if (fchownat(dirfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
		return cairn_error_errno(err, errno, "setting owner of %s", name);
	if (!S_ISLNK(src->st_mode)) {
		mode_t mode = o->chmod >= 0 ? (mode_t)o->chmod : (src->st_mode & 07777);
		if (o->chmod_symbolic &&
		    fs_chmod_symbolic(o->chmod_symbolic, src->st_mode, &mode) < 0)
			return cairn_error_set(err, EINVAL, "--chmod=%s: invalid mode",
					       o->chmod_symbolic);
		if (fchmodat(dirfd, name, mode, 0) < 0)
			return cairn_error_errno(err, errno, "setting mode of %s", name);
	}
	struct timespec ts[2] = {src->st_mtim, src->st_mtim};
	if (utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return cairn_error_errno(err, errno, "setting times of %s", name);
	return 0;
}

/* Copies the rest of in to out in the kernel, with copy_file_range (range) or
 * sendfile: 1 when done, 0 when that call cannot copy between these two (the caller
 * tries another way), -errno when copying failed. */
static int kernel_copy(int in, int out, bool range)
{
	for (;;) {
		ssize_t n = range ? copy_file_range(in, NULL, out, NULL, 1 << 30, 0)
				  : sendfile(out, in, NULL, 1 << 30);
		if (n == 0)
			return 1;
		if (n > 0 || errno == EINTR)
			continue;
		if (errno == EINVAL || errno == ENOSYS ||
		    (range && (errno == EXDEV || errno == EOPNOTSUPP)))
			return 0;
		return -errno;
	}
}

static int copy_data(int in, int out)
{
	/* across filesystems (the context to a tmpfs upper dir) sendfile still copies in
	 * the kernel, without a buffer to fault in for every file */
	int r = kernel_copy(in, out, true);
	if (r == 0)
		r = kernel_copy(in, out, false);
	if (r != 0)
		return r < 0 ? r : 0;
	cleanup_free char *buf = xmalloc(1 << 20);
	for (;;) {
		ssize_t n = read(in, buf, 1 << 20);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		int w = util_write_all(out, buf, (size_t)n);
		if (w < 0)
			return w;
	}
}

/* Replaces dir_fd/name with a new empty file, open for writing in *out. */
static int create_file(int dir_fd, const char *name, int *out, struct cairn_error *err)
{
	int r = fs_make_room(dir_fd, name, false, NULL, err);
	if (r < 0)
		return r;
	*out = openat(dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (*out < 0)
		return cairn_error_errno(err, errno, "creating %s", name);
	return 0;
}

/* Copies the file open as in to dir_fd/name. */
static int copy_file_at(int in, const struct stat *st, int dir_fd, const char *name,
			const struct fs_copy_opts *o, struct cairn_error *err)
{
	cleanup_close int out = -1;
	int r = create_file(dir_fd, name, &out, err);
	if (r < 0)
		return r;
	r = copy_data(in, out);
	if (r < 0)
		return cairn_error_errno(err, -r, "copying %s", name);
	return apply_meta(dir_fd, name, st, o, err);
}

/* One source tree being copied. */
struct copy {
	const struct fs_copy_opts *o;
	struct cairn_error *err;
};

static enum fs_take take(const struct copy *cp, const char *rel, bool is_dir)
{
	return cp->o->filter ? cp->o->filter(cp->o->ctx, rel, is_dir) : FS_TAKE;
}

static char *join_rel(const char *dir, const char *name)
{
	if (!*dir || !strcmp(dir, "."))
		return xstrdup(name);
	return xasprintf("%s/%s", dir, name);
}

static bool dir_is_empty(int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	if (!d) {
		if (fd >= 0)
			close(fd);
		return false;
	}
	struct dirent *de;
	bool empty = true;
	while (empty && (de = readdir(d)))
		empty = !strcmp(de->d_name, ".") || !strcmp(de->d_name, "..");
	closedir(d);
	return empty;
}

static int copy_entry(const struct copy *cp, const char *rel, int src_dir, int dst_dir,
		      const char *name);

/* Copies the entries of the directory rel (open as src_fd) into dst_fd. */
static int copy_dir_contents(const struct copy *cp, const char *rel, int src_fd, int dst_fd)
{
	int dfd = dup(src_fd);
	DIR *d = dfd < 0 ? NULL : fdopendir(dfd);
	if (!d) {
		if (dfd >= 0)
			close(dfd);
		return cairn_error_errno(cp->err, errno, "reading directory");
	}
	char **names = NULL;
	struct dirent *de;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			strv_push(&names, de->d_name);
	closedir(d);
	int r = 0;
	for (size_t i = 0; names && names[i] && r == 0; i++) {
		cleanup_free char *child = join_rel(rel, names[i]);
		r = copy_entry(cp, child, src_fd, dst_fd, names[i]);
	}
	strv_free(names);
	return r;
}

/* Copies src_dir/name (rel in the source tree) to dst_dir/name; symlinks are copied
 * as links; what the filter leaves out is not copied. */
static int copy_entry(const struct copy *cp, const char *rel, int src_dir, int dst_dir,
		      const char *name)
{
	struct cairn_error *err = cp->err;
	struct stat st;
	if (fstatat(src_dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return cairn_error_errno(err, errno, "reading %s", name);
	enum fs_take t = take(cp, rel, S_ISDIR(st.st_mode));
	if (t == FS_SKIP)
		return 0;
	int r;
	if (S_ISDIR(st.st_mode)) {
		bool existed = false;
		if ((r = fs_make_room(dst_dir, name, true, &existed, err)) < 0)
			return r;
		if (mkdirat(dst_dir, name, 0755) < 0 && errno != EEXIST)
			return cairn_error_errno(err, errno, "creating directory %s", name);
		cleanup_close int sfd =
		    openat(src_dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		cleanup_close int dfd =
		    openat(dst_dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sfd < 0 || dfd < 0)
			return cairn_error_errno(err, errno, "copying directory %s", name);
		r = copy_dir_contents(cp, rel, sfd, dfd);
		if (r < 0)
			return cairn_error_wrap(err, "%s", name);
		/* a left-out directory only holds what was taken below it */
		if (t == FS_DESCEND && !existed && dir_is_empty(dst_dir, name)) {
			if (unlinkat(dst_dir, name, AT_REMOVEDIR) < 0)
				return cairn_error_errno(err, errno, "removing %s", name);
			return 0;
		}
		return apply_meta(dst_dir, name, &st, cp->o, err);
	}
	if (S_ISLNK(st.st_mode)) {
		cleanup_free char *target = fs_readlinkat(src_dir, name);
		if (!target)
			return cairn_error_errno(err, errno, "reading link %s", name);
		if ((r = fs_make_room(dst_dir, name, false, NULL, err)) < 0)
			return r;
		if (symlinkat(target, dst_dir, name) < 0)
			return cairn_error_errno(err, errno, "creating link %s", name);
		return apply_meta(dst_dir, name, &st, cp->o, err);
	}
	if (!S_ISREG(st.st_mode))
		return 0; /* sockets, fifos and devices in a source tree are not copied */
	cleanup_close int in = openat(src_dir, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (in < 0)
		return cairn_error_errno(err, errno, "reading %s", name);
	/* nor what stands for a device that could not be made (util.h) */
	if (st.st_size == 0 && fgetxattr(in, UTIL_XATTR_DEVICE, NULL, 0) >= 0)
		return 0;
	return copy_file_at(in, &st, dst_dir, name, cp->o, err);
}

/* A directory fd for writing into from an O_PATH one. */
static int open_writable(int path_fd, const char *what, int *out, struct cairn_error *err)
{
	*out = openat(path_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*out < 0)
		return cairn_error_errno(err, errno, "opening %s", what);
	return 0;
}

/* The mode of the directories a copy makes above what it writes: a numeric chmod's,
 * as BuildKit gives them (COPY --chmod=770 f /new/f makes /new 0770), else 0755. */
static mode_t made_dir_mode(const struct fs_copy_opts *o)
{
	return o->chmod >= 0 ? (mode_t)o->chmod : 0755;
}

int fs_copy_tree(int src_fd, const char *rel, int root, const char *dest,
		 const struct fs_copy_opts *o, struct cairn_error *err)
{
	/* as buildkit: a destination directory this copy makes takes the source
	 * directory's mode, owner rules and mtime; an existing one keeps its own */
	bool existed = fs_is_dir(root, dest);
	cleanup_close int dfd = -1, wfd = -1;
	int r;
	if ((r = fs_mkdir_p(root, dest, made_dir_mode(o), &o->owner, &dfd, err)) < 0 ||
	    (r = open_writable(dfd, dest, &wfd, err)) < 0)
		return r;
	struct copy cp = {.o = o, .err = err};
	if ((r = copy_dir_contents(&cp, rel, src_fd, wfd)) < 0 || existed)
		return r;
	struct stat st;
	if (fstat(src_fd, &st) < 0)
		return cairn_error_errno(err, errno, "reading %s", rel);
	return apply_meta(wfd, ".", &st, o, err);
}

/* Where a file named by dest goes: dest/name when dest is a directory (dest_is_dir,
 * or one exists there), else dest itself. Makes the directory it goes into and opens
 * it for writing in *dir_fd; *fname is the file's name (new string). A directory
 * destination (the root, say) without a name is an error: "cannot VERB a file". */
static int open_dest(int root, const char *dest, bool dest_is_dir, const char *name,
		     const char *verb, const struct fs_copy_opts *o, int *dir_fd, char **fname,
		     struct cairn_error *err)
{
	cleanup_free char *rel = fs_clean_path(dest, FS_CLEAN_IN_ROOT);
	cleanup_free char *dir = NULL;
	*fname = NULL;
	if (dest_is_dir || fs_is_dir(root, rel)) {
		if (!name)
			return cairn_error_set(err, EINVAL, "cannot %s a file to %s", verb, dest);
		dir = xstrdup(rel);
		*fname = xstrdup(name);
	} else {
		char *slash = strrchr(rel, '/');
		dir = xstrndup(rel, slash ? (size_t)(slash - rel) : 0);
		*fname = xstrdup(slash ? slash + 1 : rel);
	}
	if (!**fname || strchr(*fname, '/') || !strcmp(*fname, ".") || !strcmp(*fname, ".."))
		return cairn_error_set(err, EINVAL, "%s: not a valid file name", *fname);
	cleanup_close int pfd = -1;
	int r = fs_mkdir_p(root, dir, made_dir_mode(o), &o->owner, &pfd, err);
	if (r < 0)
		return r;
	return open_writable(pfd, dest, dir_fd, err);
}

int fs_copy_file(int in, const struct stat *st, int root, const char *dest, bool dest_is_dir,
		 const char *name, const struct fs_copy_opts *o, struct cairn_error *err)
{
	cleanup_close int dir_fd = -1;
	cleanup_free char *fname = NULL;
	int r = open_dest(root, dest, dest_is_dir, name, "copy", o, &dir_fd, &fname, err);
	return r < 0 ? r : copy_file_at(in, st, dir_fd, fname, o, err);
}

int fs_write_file(int root, const char *dest, bool dest_is_dir, const char *name, const void *data,
		  size_t len, int64_t mtime, const struct fs_copy_opts *o, struct cairn_error *err)
{
	cleanup_close int dir_fd = -1, out = -1;
	cleanup_free char *fname = NULL;
	int r = open_dest(root, dest, dest_is_dir, name, "write", o, &dir_fd, &fname, err);
	if (r < 0 || (r = create_file(dir_fd, fname, &out, err)) < 0)
		return r;
	if ((r = util_write_all(out, data, len)) < 0)
		return cairn_error_errno(err, -r, "writing %s", fname);
	struct stat st = {.st_mode = S_IFREG | 0644};
	st.st_mtim.tv_sec = (time_t)mtime;
	return apply_meta(dir_fd, fname, &st, o, err);
}
