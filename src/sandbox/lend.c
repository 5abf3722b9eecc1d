/* What a chroot step is lent where nothing can be mounted: the device nodes of a
 * minimal /dev (made with mknod, as the container allows for these) and this
 * system's /etc/resolv.conf and /etc/hosts written over the root's, all put back as
 * they were after the step: what was made is removed, the files get their content,
 * mode, owner and time back, and the directories their mtime. The layer of the step
 * never records the two files (sandbox_lent_paths), as with a bind mount. */
#include "internal.h"

#include "../fs/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const devices[] = {"null", "zero", "full", "random", "urandom", "tty"};
static const char *const net_files[] = {"resolv.conf", "hosts"};

static const char *const lent_paths[] = {"etc/resolv.conf", "etc/hosts", NULL};

const char *const *sandbox_lent_paths(void)
{
	const struct sandbox_caps *c = sandbox_caps();
	return c->isolation == SANDBOX_ISOLATION_CHROOT && !c->can_mount ? lent_paths : NULL;
}

static void lend_add(struct sandbox_lent *l, struct sandbox_lent_item item)
{
	l->v = xrealloc(l->v, (l->n + 1) * sizeof *l->v);
	l->v[l->n++] = item;
}

/* Opens the directory at path beneath the root (symlinks resolved in it) and
 * remembers its times, to put them back; -1 when there is none. */
static int lend_dir(int rootfd, const char *path, bool times, struct sandbox_lent *l)
{
	int fd = fs_open(rootfd, path, O_RDONLY | O_DIRECTORY, 0);
	struct stat st;
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return -1;
	}
	lend_add(l, (struct sandbox_lent_item){.fd = fd, .dir = true, .times = times, .st = st});
	return fd;
}

static int lend_devices(int rootfd, struct sandbox_lent *l, struct cairn_error *err)
{
	int devfd = lend_dir(rootfd, "dev", true, l);
	if (devfd < 0)
		return 0;
	for (size_t i = 0; i < sizeof devices / sizeof *devices; i++) {
		cleanup_free char *host = xasprintf("/dev/%s", devices[i]);
		struct stat hs, st;
		if (stat(host, &hs) < 0 || !S_ISCHR(hs.st_mode))
			continue;
		if (fstatat(devfd, devices[i], &st, AT_SYMLINK_NOFOLLOW) == 0)
			continue; /* the image has one: it stays as it is */
		if (mknodat(devfd, devices[i], S_IFCHR | 0666, hs.st_rdev) < 0) {
			if (errno == EPERM)
				continue; /* no CAP_MKNOD: the step goes without */
			return cairn_error_errno(err, errno, "creating /dev/%s", devices[i]);
		}
		lend_add(l,
			 (struct sandbox_lent_item){
			     .fd = -1, .parent = devfd, .name = xstrdup(devices[i]), .made = true});
		if (fchmodat(devfd, devices[i], 0666, 0) < 0)
			return cairn_error_errno(err, errno, "creating /dev/%s", devices[i]);
	}
	return 0;
}

/* data over the root's regular file dirfd/name (or a new one). */
static int lend_file(int dirfd, const char *name, const char *data, size_t len,
		     struct sandbox_lent *l, struct cairn_error *err)
{
	struct stat st;
	bool exists = fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
	if (exists && !S_ISREG(st.st_mode))
		return 0; /* a symlink or something else: the image's own, as it is */
	struct sandbox_lent_item item = {
	    .fd = -1, .parent = dirfd, .name = xstrdup(name), .made = !exists, .st = st};
	if (exists) {
		cleanup_close int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		int r = fd < 0 ? -errno : util_read_fd(fd, &item.data, &item.len);
		if (r < 0) {
			free(item.name);
			return cairn_error_errno(err, -r, "reading %s of the root", name);
		}
	}
	lend_add(l, item);
	cleanup_close int fd =
	    openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0 || util_write_all(fd, data, len) < 0)
		return cairn_error_errno(err, errno, "lending %s to the step", name);
	return 0;
}

/* This system's /etc/name over the root's. */
static int lend_etc_file(int etcfd, const char *name, struct sandbox_lent *l,
			 struct cairn_error *err)
{
	cleanup_free char *data = NULL;
	size_t len = 0;
	cleanup_free char *host = xasprintf("/etc/%s", name);
	if (util_read_file(AT_FDCWD, host, &data, &len, NULL) < 0)
		return 0;
	return lend_file(etcfd, name, data, len, l, err);
}

/* The step's mounts, where none can be made: a read-only file (a heredoc's script)
 * is copied in, over the empty file made for its mount; nothing else can be had. */
static int lend_mounts(int rootfd, const struct sandbox_plan *p, struct sandbox_lent *l,
		       struct cairn_error *err)
{
	for (size_t i = 0; i < p->n_mounts; i++) {
		const struct sandbox_mount_plan *mp = &p->mounts[i];
		if (mp->mount->type != SANDBOX_MOUNT_BIND || !mp->file || !mp->mount->readonly)
			return cairn_error_set(
			    err, EPERM,
			    "RUN --mount needs mounts, which this system does "
			    "not allow (isolation chroot without CAP_SYS_ADMIN)");
		cleanup_free char *data = NULL;
		size_t len = 0;
		int r = util_read_file(AT_FDCWD, mp->source, &data, &len, err);
		if (r < 0)
			return r;
		cleanup_free char *dir = xstrdup(mp->target);
		char *slash = strrchr(dir, '/');
		const char *name = slash ? slash + 1 : mp->target;
		if (slash)
			*slash = '\0';
		int dirfd = lend_dir(rootfd, slash ? dir : ".", false, l);
		if (dirfd < 0)
			return cairn_error_errno(err, errno, "mount target %s", mp->mount->target);
		r = lend_file(dirfd, name, data, len, l, err);
		if (r < 0)
			return r;
	}
	return 0;
}

int sandbox_lend(int rootfd, const struct sandbox_plan *p, struct sandbox_lent *l,
		 struct cairn_error *err)
{
	memset(l, 0, sizeof *l);
	int r = lend_devices(rootfd, l, err);
	/* an image without /etc gets one for the step, as BuildKit's do */
	if (r == 0 && mkdirat(rootfd, "etc", 0755) == 0)
		lend_add(l, (struct sandbox_lent_item){.fd = -1,
						       .parent = rootfd,
						       .name = xstrdup("etc"),
						       .made = true,
						       .dir_made = true});
	int etcfd = r == 0 ? lend_dir(rootfd, "etc", true, l) : -1;
	for (size_t i = 0; etcfd >= 0 && r == 0 && i < sizeof net_files / sizeof *net_files; i++)
		r = lend_etc_file(etcfd, net_files[i], l, err);
	if (r == 0)
		r = lend_mounts(rootfd, p, l, err);
	return r;
}

/* Puts one file back: its content, owner, mode and times. */
static void restore_file(const struct sandbox_lent_item *it)
{
	cleanup_close int fd =
	    openat(it->parent, it->name, O_WRONLY | O_TRUNC | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	if (util_write_all(fd, it->data, it->len) < 0 ||
	    fchown(fd, it->st.st_uid, it->st.st_gid) < 0 || fchmod(fd, it->st.st_mode & 07777) < 0)
		return;
	struct timespec ts[2] = {it->st.st_atim, it->st.st_mtim};
	futimens(fd, ts);
}

void sandbox_unlend(struct sandbox_lent *l)
{
	/* last lent first: a directory gets its times back after what was made in it
	 * is gone */
	for (size_t i = l->n; i-- > 0;) {
		struct sandbox_lent_item *it = &l->v[i];
		if (it->dir) {
			struct timespec ts[2] = {it->st.st_atim, it->st.st_mtim};
			if (it->times)
				futimens(it->fd, ts);
			close(it->fd);
		} else if (it->made) {
			unlinkat(it->parent, it->name, it->dir_made ? AT_REMOVEDIR : 0);
		} else {
			restore_file(it);
		}
		free(it->name);
		free(it->data);
	}
	free(l->v);
	memset(l, 0, sizeof *l);
}
