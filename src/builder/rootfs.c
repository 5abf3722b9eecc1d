/* A step's root: an overlay of the stage's layers with a fresh upper dir, which
 * becomes the step's layer. */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

void builder_rootfs_release(struct rootfs *rf)
{
	if (rf->mounted)
		sandbox_overlay_umount(rf->merged, NULL);
	if (rf->tmp)
		util_rm_rf(AT_FDCWD, rf->tmp, NULL);
	if (rf->mem)
		builder_mem_umount(rf->mem);
	layer_snapshot_free(rf->snap);
	strv_free(rf->lower);
	free(rf->mem);
	free(rf->tmp);
	free(rf->upper);
	free(rf->merged);
	bool on_disk = rf->on_disk;
	memset(rf, 0, sizeof *rf);
	rf->on_disk = on_disk;
}

int builder_mount_nosuid_nodev(const char *path, struct cairn_error *err)
{
	struct mount_attr attr = {.attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV};
	if (mount_setattr(AT_FDCWD, path, AT_RECURSIVE | AT_SYMLINK_NOFOLLOW, &attr, sizeof attr) <
	    0)
		return cairn_error_errno(err, errno, "making the mount on %s nosuid and nodev",
					 path);
	return 0;
}

/* overlayfs refuses the store's filesystem as an upper dir (a container's own
 * overlay root, a filesystem without the xattrs it needs) */
static bool overlay_refused(int r)
{
	return r == -EINVAL || r == -EOPNOTSUPP || r == -ENOTSUP || r == -ENODEV || r == -EPERM;
}

static int overlay_mount(struct builder *b, struct stage *st, struct rootfs *rf,
			 struct cairn_error *err);

int builder_rootfs_mount(struct builder *b, struct stage *st, struct rootfs *rf,
			 struct cairn_error *err)
{
	if (b->snapshot)
		return builder_tree_mount(b, st, rf, err);
	int r = overlay_mount(b, st, rf, err);
	if (r < 0 && rf->overlay_failed && overlay_refused(r)) {
		builder_progress(b,
				 "overlayfs refuses the store's file system (%s): each stage's "
				 "root is a directory tree from now on\n",
				 err->msg);
		cairn_error_clear(err);
		builder_rootfs_release(rf);
		b->snapshot = true;
		return builder_tree_mount(b, st, rf, err);
	}
	return r;
}

static int overlay_mount(struct builder *b, struct stage *st, struct rootfs *rf,
			 struct cairn_error *err)
{
	int r = store_mkdtemp(b->s, "step-", &rf->tmp, err);
	if (r < 0)
		return r;
	const char *updir = builder_mem_upper_mount(b, rf) ? rf->mem : rf->tmp;
	rf->upper = xasprintf("%s/upper", updir);
	rf->merged = xasprintf("%s/merged", rf->tmp);
	cleanup_free char *work = xasprintf("%s/work", updir);
	if (mkdir(rf->upper, 0755) < 0 || mkdir(rf->merged, 0755) < 0 || mkdir(work, 0755) < 0)
		return cairn_error_errno(err, errno, "creating step directories in %s", rf->tmp);
	size_t n = st->img.n_layers;
	char **lower = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n && r == 0; i++)
		r = builder_layer_dir(b, &st->img.layers[n - 1 - i], &lower[i], err);
	bool lowers_ok = r == 0;
	if (r == 0)
		r = sandbox_overlay_mount(lower, n, rf->upper, work, rf->merged, err);
	if (r < 0 && rf->mem && lowers_ok) {
		/* an overlay that refuses a tmpfs upper (old kernel, rootless xattrs): disk */
		builder_mem_umount(rf->mem);
		free(rf->mem);
		rf->mem = NULL;
		free(rf->upper);
		rf->upper = xasprintf("%s/upper", rf->tmp);
		cleanup_free char *disk_work = xasprintf("%s/work", rf->tmp);
		cairn_error_clear(err);
		if (mkdir(rf->upper, 0755) < 0 || mkdir(disk_work, 0755) < 0)
			r = cairn_error_errno(err, errno, "creating step directories in %s",
					      rf->tmp);
		else
			r = sandbox_overlay_mount(lower, n, rf->upper, disk_work, rf->merged, err);
	}
	rf->lower = lower;
	rf->overlay_failed = r < 0 && lowers_ok;
	if (r == 0)
		rf->mounted = true;
	if (r == 0)
		r = builder_mount_nosuid_nodev(rf->merged, err);
	return r;
}

int builder_rootfs_umount(struct builder *b, struct rootfs *rf, struct cairn_error *err)
{
	rf->mounted = false;
	return sandbox_overlay_umount(rf->merged, err);
}

int builder_rootfs_finish(struct builder *b, struct rootfs *rf, struct step *sp, int r,
			  struct cairn_error *err)
{
	if (rf->snap) {
		r = builder_tree_finish(b, rf, sp, r, err);
		builder_rootfs_release(rf);
		return r;
	}
	if (r == 0)
		r = builder_rootfs_umount(b, rf, err);
	if (r == 0)
		r = builder_rootfs_commit_layer(b, rf, sp, err);
	builder_rootfs_release(rf);
	return r;
}

static bool is_opaque(int fd)
{
	char v;
	return fgetxattr(fd, "trusted.overlay.opaque", &v, 1) == 1 ||
	       fgetxattr(fd, "user.overlay.opaque", &v, 1) == 1;
}

/* What the lower dirs show at rel (a relative path): the stat of the top-most one
 * that has it; false where none shows it (a whiteout or an opaque directory above
 * hides the layers below). */
static bool lower_stat(char *const *lower, const char *rel, struct stat *out)
{
	for (size_t i = 0; lower && lower[i]; i++) {
		int fd = open(lower[i], O_PATH | O_DIRECTORY | O_CLOEXEC);
		bool hidden = false;
		for (const char *c = rel; fd >= 0;) {
			const char *end = strchrnul(c, '/');
			cleanup_free char *name = xstrndup(c, (size_t)(end - c));
			struct stat st;
			int next = -1;
			if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
				if (!*end) {
					close(fd);
					*out = st;
					return true;
				}
				if (!S_ISDIR(st.st_mode)) {
					close(fd);
					return false;
				}
				next = openat(fd, name,
					      O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
				hidden = hidden || (next >= 0 && is_opaque(next));
			}
			close(fd);
			fd = next;
			c = end + 1;
		}
		if (hidden)
			return false;
	}
	return false;
}

/* Removes the directories of the upper dir (dirfd, at rel) that overlay copied up
 * only because something was made in them and removed again (a mount target the
 * sandbox made for a step, /etc for its resolv.conf): empty, not opaque, and with
 * the mode, owner and mtime of the directory below. They change nothing, and
 * buildkit leaves them out too. The parent's mtime stays as it was. */
static void prune_copied_up(int dirfd, const char *rel, char *const *lower)
{
	DIR *d = fdopendir(dup(dirfd));
	if (!d)
		return;
	cleanup_strv char **names = NULL;
	struct dirent *de;
	while ((de = readdir(d)))
		if (de->d_type == DT_DIR && strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			strv_push(&names, de->d_name);
	closedir(d);
	struct stat parent;
	if (!names || fstat(dirfd, &parent) < 0)
		return;
	bool removed = false;
	for (size_t i = 0; names[i]; i++) {
		cleanup_free char *path =
		    *rel ? xasprintf("%s/%s", rel, names[i]) : xstrdup(names[i]);
		cleanup_close int fd =
		    openat(dirfd, names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			continue;
		prune_copied_up(fd, path, lower);
		struct stat up, below;
		if (is_opaque(fd) || fstat(fd, &up) < 0 || !lower_stat(lower, path, &below) ||
		    !S_ISDIR(below.st_mode) || up.st_mode != below.st_mode ||
		    up.st_uid != below.st_uid || up.st_gid != below.st_gid ||
		    up.st_mtim.tv_sec != below.st_mtim.tv_sec ||
		    up.st_mtim.tv_nsec != below.st_mtim.tv_nsec)
			continue;
		removed = unlinkat(dirfd, names[i], AT_REMOVEDIR) == 0 || removed;
	}
	if (removed) {
		struct timespec times[2] = {{.tv_nsec = UTIME_OMIT}, parent.st_mtim};
		futimens(dirfd, times);
	}
}

/* Turns the upper dir into the step's layer: an empty tar when nothing changed, as
 * BuildKit records one for every RUN, COPY, ADD and WORKDIR, so that images of one
 * recipe line up layer for layer. */
int builder_rootfs_commit_layer(struct builder *b, struct rootfs *rf, struct step *sp,
				struct cairn_error *err)
{
	cleanup_close int top = open(rf->upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (top >= 0)
		prune_copied_up(top, "", rf->lower);
	cleanup_close int ufd = open(rf->upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ufd < 0)
		return cairn_error_errno(err, errno, "opening %s", rf->upper);
	struct layer_write_opts wo = builder_layer_opts(b);
	wo.overlay_upper = true;
	struct layer_info info;
	int r = layer_write_dir(b->s, ufd, &wo, &info, err);
	if (r < 0)
		return r;
	memcpy(sp->layer.digest, info.digest, DIGEST_LEN);
	memcpy(sp->layer.diff_id, info.diff_id, DIGEST_LEN);
	sp->layer.size = info.size;
	sp->layer.media_type = xstrdup(info.media_type);
	sp->has_layer = true;
	if (rf->mem) {
		builder_mem_layer_keep(b, rf, info.diff_id);
		return 0;
	}
	r = store_layer_dir_adopt(b->s, info.diff_id, rf->upper, err);
	if (r == 0) {
		free(rf->upper);
		rf->upper = NULL;
	}
	return r;
}
