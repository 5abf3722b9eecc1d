/* layer extraction: a tar stream (any compression) into a directory, never writing
 * outside it. Names are cleaned refusing any ".." that climbs out (fs_clean_path
 * FS_CLEAN_NO_ESCAPE) and every parent directory is opened beneath the target by fs
 * (RESOLVE_IN_ROOT), so the archive's symlinks resolve as they would inside a chroot
 * at the target (as docker's chrooted extraction does), and the last
 * component is always created or changed with *at() calls that do not follow it. */
#include "layer.h"
#include "internal.h"

#include "../fs/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#define READ_BLOCK_SIZE (1024 * 1024)
#define WHITEOUT_PREFIX ".wh."
#define WHITEOUT_OPAQUE ".wh..wh..opq"
#define WHITEOUT_META_PREFIX ".wh..wh."
#define XATTR_CAPS "security.capability"

struct dir_time {
	char *path;
	struct timespec mtime;
};

struct extractor {
	struct archive *a;
	int root;
	const struct layer_extract_opts *opts;
	const char *what;
	const char *entry;     /* the entry being extracted, as named in the archive */
	struct dir_time *dirs; /* directories' mtimes, set once their contents are written */
	size_t ndirs, adirs;
	struct cairn_error *err;
};

static void cleanup_archive_readp(struct archive **a)
{
	if (*a)
		archive_read_free(*a);
}

static int fail(struct extractor *x, int code, const char *doing)
{
	if (doing)
		return cairn_error_errno(x->err, code, "extracting %s: %s: %s", x->what, x->entry,
					 doing);
	return cairn_error_errno(x->err, code, "extracting %s: %s", x->what, x->entry);
}

static int fail_msg(struct extractor *x, int code, const char *msg)
{
	return cairn_error_set(x->err, code, "extracting %s: %s: %s", x->what, x->entry, msg);
}

/* Splits a clean path into its parent (new string, "." for the root) and its last
 * component (borrowed, points into path). */
static char *split_path(const char *path, const char **base)
{
	const char *slash = strrchr(path, '/');
	if (!slash) {
		*base = path;
		return xstrdup(".");
	}
	*base = slash + 1;
	return xstrndup(path, (size_t)(slash - path));
}

/* Opens the directory `parent` (a clean path) beneath the root as an O_PATH fd, creating
 * missing directories (0755, as docker) on the way. */
static int open_parent(struct extractor *x, const char *parent, int *out)
{
	if (fs_mkdir_p(x->root, parent, 0755, NULL, out, x->err) < 0)
		return cairn_error_wrap(x->err, "extracting %s: %s", x->what, x->entry);
	return 0;
}

static int owner(struct extractor *x, struct archive_entry *e, uid_t *uid, gid_t *gid)
{
	int64_t u = x->opts->uid >= 0 ? x->opts->uid : archive_entry_uid(e);
	int64_t g = x->opts->gid >= 0 ? x->opts->gid : archive_entry_gid(e);
	if (u < 0 || g < 0 || u > UINT32_MAX - 1 || g > UINT32_MAX - 1)
		return fail_msg(x, EINVAL, "invalid owner");
	*uid = (uid_t)u;
	*gid = (gid_t)g;
	return 0;
}

static void entry_times(struct archive_entry *e, struct timespec ts[2])
{
	struct timespec t = {archive_entry_mtime(e), archive_entry_mtime_nsec(e)};
	ts[0] = t; /* atime = mtime: nothing in the tree depends on the day it was extracted */
	ts[1] = t;
}

/* Only file capabilities travel from the archive to the tree: other namespaces are
 * either meaningless here or (trusted.overlay.*) would change what overlay shows. */
static int apply_xattrs(struct extractor *x, int fd, struct archive_entry *e)
{
	const char *name;
	const void *value;
	size_t size;
	archive_entry_xattr_reset(e);
	while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
		if (strcmp(name, XATTR_CAPS) != 0)
			continue;
		if (fsetxattr(fd, name, value, size, 0) < 0)
			return fail(x, errno, "setting security.capability");
	}
	return 0;
}

static int write_data(struct extractor *x, int fd, struct archive_entry *e)
{
	for (;;) {
		const void *buf;
		size_t size;
		la_int64_t offset;
		int r = archive_read_data_block(x->a, &buf, &size, &offset);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN)
			return fail_msg(x, archive_errno(x->a) > 0 ? archive_errno(x->a) : EIO,
					archive_error_string(x->a));
		const char *p = buf;
		while (size) {
			ssize_t n = pwrite(fd, p, size, offset);
			if (n < 0) {
				if (errno == EINTR && !util_interrupted)
					continue;
				return fail(x, errno, "writing");
			}
			p += n;
			offset += n;
			size -= (size_t)n;
		}
	}
	/* sparse files may end with a hole */
	if (archive_entry_size_is_set(e) && ftruncate(fd, archive_entry_size(e)) < 0)
		return fail(x, errno, "writing");
	return 0;
}

static void defer_dir_time(struct extractor *x, const char *path, struct archive_entry *e)
{
	if (x->ndirs == x->adirs) {
		x->adirs = x->adirs ? x->adirs * 2 : 64;
		x->dirs = xrealloc(x->dirs, x->adirs * sizeof(*x->dirs));
	}
	struct timespec ts[2];
	entry_times(e, ts);
	x->dirs[x->ndirs++] = (struct dir_time){xstrdup(path), ts[1]};
}

static int set_dir_times(struct extractor *x)
{
	for (size_t i = 0; i < x->ndirs; i++) {
		const char *base;
		cleanup_free char *parent = split_path(x->dirs[i].path, &base);
		x->entry = x->dirs[i].path;
		cleanup_close int pfd = fs_open(x->root, parent, O_PATH | O_DIRECTORY, 0);
		struct stat st;
		/* a later entry of the archive may have replaced the directory */
		if (pfd == -ENOENT || pfd == -ENOTDIR)
			continue;
		if (pfd < 0)
			return fail(x, -pfd, "setting mtime");
		if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
			continue;
		struct timespec ts[2] = {x->dirs[i].mtime, x->dirs[i].mtime};
		if (utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW) < 0)
			return fail(x, errno, "setting mtime");
	}
	return 0;
}

static int set_opaque(struct extractor *x, int pfd)
{
	cleanup_close int fd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return fail(x, errno, "opening directory");
	if (fsetxattr(fd, "trusted.overlay.opaque", "y", 1, 0) == 0)
		return 0;
	/* unprivileged overlay (userxattr) reads the user namespace instead */
	if ((errno == EPERM || errno == ENOTSUP) &&
	    fsetxattr(fd, "user.overlay.opaque", "y", 1, 0) == 0)
		return 0;
	return fail(x, errno, "marking directory opaque");
}

enum whiteout_kind { WHITEOUT_DIR_OPAQUE, WHITEOUT_AUFS_META, WHITEOUT_NAME };

/* What the whiteout entry `base` says; for a name, *name is what it removes. */
static int whiteout_kind(struct extractor *x, const char *base, const char **name)
{
	if (!strcmp(base, WHITEOUT_OPAQUE))
		return WHITEOUT_DIR_OPAQUE;
	/* other .wh..wh. names are aufs metadata (hard link dirs): nothing for overlay */
	if (!strncmp(base, WHITEOUT_META_PREFIX, strlen(WHITEOUT_META_PREFIX)))
		return WHITEOUT_AUFS_META;
	*name = base + strlen(WHITEOUT_PREFIX);
	if (!**name || !strcmp(*name, ".") || !strcmp(*name, ".."))
		return fail_msg(x, EINVAL, "invalid whiteout name");
	return WHITEOUT_NAME;
}

static int extract_whiteout(struct extractor *x, struct archive_entry *e, int pfd, const char *base)
{
	const char *name = NULL;
	int r = whiteout_kind(x, base, &name);
	if (r != WHITEOUT_NAME)
		return r == WHITEOUT_DIR_OPAQUE	 ? set_opaque(x, pfd)
		       : r == WHITEOUT_AUFS_META ? 0
						 : r;
	r = util_rm_rf(pfd, name, x->err);
	if (r < 0)
		return cairn_error_wrap(x->err, "extracting %s: %s", x->what, x->entry);
	if (mknodat(pfd, name, S_IFCHR | 0, makedev(0, 0)) < 0)
		return fail(x, errno, "creating whiteout");
	uid_t uid = 0;
	gid_t gid = 0;
	r = owner(x, e, &uid, &gid);
	if (r < 0)
		return r;
	if (fchownat(pfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
		return fail(x, errno, "setting owner");
	return 0;
}

/* Removes what a whiteout names from the tree below it. */
static int apply_whiteout(struct extractor *x, int pfd, const char *base)
{
	const char *name = NULL;
	int r = whiteout_kind(x, base, &name);
	if (r < 0 || r == WHITEOUT_AUFS_META)
		return r < 0 ? r : 0;
	r = r == WHITEOUT_DIR_OPAQUE ? util_rm_contents(pfd, x->err)
				     : util_rm_rf(pfd, name, x->err);
	return r < 0 ? cairn_error_wrap(x->err, "extracting %s: %s", x->what, x->entry) : 0;
}

/* A device node that cannot be made here (a user namespace): an empty file that
 * stands for it (UTIL_XATTR_DEVICE), which the layer writer turns back into the node.
 * Where the file system takes no user xattrs, the node is left out of the tree, as
 * docker and buildah leave it out in a user namespace. */
static int extract_device_stand_in(struct extractor *x, int pfd, const char *base, mode_t type,
				   dev_t dev, uid_t uid, gid_t gid, mode_t perm,
				   const struct timespec ts[2])
{
	cleanup_close int fd =
	    openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return fail(x, errno, "creating a stand-in for a device node");
	char text[64];
	snprintf(text, sizeof text, "%c %u %u", type == AE_IFBLK ? 'b' : 'c', major(dev),
		 minor(dev));
	if (fsetxattr(fd, UTIL_XATTR_DEVICE, text, strlen(text), 0) < 0) {
		if (errno != ENOTSUP && errno != EPERM)
			return fail(x, errno, "marking a device node's stand-in");
		unlinkat(pfd, base, 0);
		return 0;
	}
	if (fchown(fd, uid, gid) < 0)
		return fail(x, errno, "setting owner");
	if (fchmod(fd, perm) < 0)
		return fail(x, errno, "setting mode");
	if (futimens(fd, ts) < 0)
		return fail(x, errno, "setting mtime");
	return 0;
}

static int extract_hardlink(struct extractor *x, const char *target, int pfd, const char *base)
{
	cleanup_free char *clean = fs_clean_path(target, FS_CLEAN_NO_ESCAPE);
	if (!clean || !*clean)
		return fail_msg(x, EXDEV, "hard link target is outside the target directory");
	const char *tbase;
	cleanup_free char *tparent = split_path(clean, &tbase);
	cleanup_close int tfd = fs_open(x->root, tparent, O_PATH | O_DIRECTORY, 0);
	if (tfd < 0)
		return fail(x, -tfd, "opening hard link target");
	if (linkat(tfd, tbase, pfd, base, 0) < 0)
		return fail(x, errno, "creating hard link");
	return 0;
}

static int extract_entry(struct extractor *x, struct archive_entry *e)
{
	const char *name = archive_entry_pathname(e);
	if (!name)
		return cairn_error_set(x->err, EINVAL, "extracting %s: an entry has no name",
				       x->what);
	x->entry = name;
	cleanup_free char *path = fs_clean_path(name, FS_CLEAN_NO_ESCAPE);
	if (!path)
		return fail_msg(x, EXDEV, "path is outside the target directory");
	if (!*path)
		return 0; /* the root itself ("./"): the target's own metadata stays */
	mode_t type = archive_entry_filetype(e);
	const char *hardlink = archive_entry_hardlink(e);
	if (type == AE_IFSOCK)
		return 0;

	const char *base;
	cleanup_free char *parent = split_path(path, &base);
	cleanup_close int pfd = -1;
	int r = open_parent(x, parent, &pfd);
	if (r < 0)
		return r;

	if (x->opts->overlay_whiteouts && !strncmp(base, WHITEOUT_PREFIX, strlen(WHITEOUT_PREFIX)))
		return extract_whiteout(x, e, pfd, base);
	if (x->opts->apply_whiteouts && !strncmp(base, WHITEOUT_PREFIX, strlen(WHITEOUT_PREFIX)))
		return apply_whiteout(x, pfd, base);

	bool is_dir = !hardlink && type == AE_IFDIR;
	/* a directory over a directory stays; anything else there goes (a directory with
	 * what is in it, as docker does) */
	bool exists_dir;
	r = fs_make_room(pfd, base, is_dir, &exists_dir, x->err);
	if (r < 0)
		return cairn_error_wrap(x->err, "extracting %s: %s", x->what, x->entry);
	if (hardlink)
		return extract_hardlink(x, hardlink, pfd, base);

	uid_t uid = 0;
	gid_t gid = 0;
	r = owner(x, e, &uid, &gid);
	if (r < 0)
		return r;
	mode_t perm = archive_entry_perm(e) & 07777;
	struct timespec ts[2];
	entry_times(e, ts);

	switch (type) {
	case AE_IFDIR: {
		if (!exists_dir && mkdirat(pfd, base, 0700) < 0)
			return fail(x, errno, "creating directory");
		cleanup_close int fd =
		    openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return fail(x, errno, "opening directory");
		/* owner first: chown clears the set-id bits that chmod then sets */
		if (fchown(fd, uid, gid) < 0)
			return fail(x, errno, "setting owner");
		if (fchmod(fd, perm) < 0)
			return fail(x, errno, "setting mode");
		defer_dir_time(x, path, e);
		return 0;
	}
	case AE_IFREG: {
		cleanup_close int fd =
		    openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0)
			return fail(x, errno, "creating file");
		r = write_data(x, fd, e);
		if (r < 0)
			return r;
		if (fchown(fd, uid, gid) < 0)
			return fail(x, errno, "setting owner");
		if (fchmod(fd, perm) < 0)
			return fail(x, errno, "setting mode");
		r = apply_xattrs(x, fd, e);
		if (r < 0)
			return r;
		if (futimens(fd, ts) < 0)
			return fail(x, errno, "setting mtime");
		return 0;
	}
	case AE_IFLNK: {
		const char *target = archive_entry_symlink(e);
		if (!target)
			return fail_msg(x, EINVAL, "symlink without a target");
		/* the link itself is harmless: nothing here ever follows it out of the root */
		if (symlinkat(target, pfd, base) < 0)
			return fail(x, errno, "creating symlink");
		if (fchownat(pfd, base, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
			return fail(x, errno, "setting owner");
		if (utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW) < 0)
			return fail(x, errno, "setting mtime");
		return 0;
	}
	case AE_IFCHR:
	case AE_IFBLK:
	case AE_IFIFO: {
		dev_t dev = type == AE_IFIFO ? 0 : archive_entry_rdev(e);
		if (mknodat(pfd, base, type | 0600, dev) < 0) {
			/* a user namespace may make fifos and whiteouts, not devices */
			if (errno == EPERM && type != AE_IFIFO && dev != makedev(0, 0))
				return extract_device_stand_in(x, pfd, base, type, dev, uid, gid,
							       perm, ts);
			return fail(x, errno, "creating device node");
		}
		if (fchownat(pfd, base, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
			return fail(x, errno, "setting owner");
		if (fchmodat(pfd, base, perm, 0) < 0)
			return fail(x, errno, "setting mode");
		if (utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW) < 0)
			return fail(x, errno, "setting mtime");
		return 0;
	}
	default:
		return fail_msg(x, EINVAL, "unsupported entry type");
	}
}

/* With a diff_id to check, the tar reader reads the uncompressed stream through
 * this: a raw-format reader does the decompression, and every byte is hashed on
 * its way to the tar reader (one pass, nothing buffered but a block). */
struct hashed_stream {
	struct archive *raw;
	struct sha256 h;
	char buf[READ_BLOCK_SIZE];
	bool failed;
};

static la_ssize_t hashed_read(struct archive *a, void *ud, const void **out)
{
	(void)a;
	struct hashed_stream *hs = ud;
	la_ssize_t n = archive_read_data(hs->raw, hs->buf, sizeof hs->buf);
	if (n < 0) {
		hs->failed = true;
		archive_set_error(a, archive_errno(hs->raw) > 0 ? archive_errno(hs->raw) : EIO,
				  "%s", archive_error_string(hs->raw));
		return -1;
	}
	sha256_update(&hs->h, hs->buf, (size_t)n);
	*out = hs->buf;
	return n;
}

/* Opens the raw (decompressing) reader for a checked extraction. */
static int hashed_open(struct hashed_stream *hs, int fd, const char *what, struct cairn_error *err)
{
	hs->raw = archive_read_new();
	if (!hs->raw)
		return cairn_error_set(err, ENOMEM, "extracting %s: creating a reader", what);
	archive_read_support_filter_all(hs->raw);
	archive_read_support_format_raw(hs->raw);
	struct archive_entry *e;
	if (archive_read_open_fd(hs->raw, fd, READ_BLOCK_SIZE) != ARCHIVE_OK ||
	    archive_read_next_header(hs->raw, &e) != ARCHIVE_OK)
		return cairn_error_set(err,
				       archive_errno(hs->raw) > 0 ? archive_errno(hs->raw) : EINVAL,
				       "extracting %s: %s", what, archive_error_string(hs->raw));
	sha256_init(&hs->h);
	return 0;
}

/* Hashes what the tar reader left (the zero blocks after the end), then compares. */
static int hashed_check(struct hashed_stream *hs, const char *diff_id, const char *what,
			struct cairn_error *err)
{
	la_ssize_t n;
	while ((n = archive_read_data(hs->raw, hs->buf, sizeof hs->buf)) > 0)
		sha256_update(&hs->h, hs->buf, (size_t)n);
	if (n < 0)
		return cairn_error_set(err, EIO, "extracting %s: %s", what,
				       archive_error_string(hs->raw));
	char got[DIGEST_LEN];
	sha256_final(&hs->h, got);
	if (strcmp(got, diff_id))
		return cairn_error_set(err, EBADMSG,
				       "extracting %s: its uncompressed content is %s, not the "
				       "diff_id %s the image says",
				       what, got, diff_id);
	return 0;
}

static void hashed_release(struct hashed_stream *hs)
{
	if (hs && hs->raw) {
		sha256_abort(&hs->h);
		archive_read_free(hs->raw);
	}
	free(hs);
}

int layer_extract(int fd, int dirfd, const struct layer_extract_opts *opts, const char *what,
		  struct cairn_error *err)
{
	cleanup_utf8_locale struct utf8_locale loc = utf8_locale_enter();
	struct hashed_stream *hs = NULL;
	__attribute__((cleanup(cleanup_archive_readp))) struct archive *a = archive_read_new();
	if (!a)
		return cairn_error_set(err, ENOMEM, "extracting %s: creating tar reader", what);
	archive_read_support_format_tar(a);
	int opened;
	if (opts->diff_id) {
		hs = xcalloc(1, sizeof *hs);
		if (hashed_open(hs, fd, what, err) < 0) {
			hashed_release(hs);
			return -(err->code ? err->code : EINVAL);
		}
		opened = archive_read_open(a, hs, NULL, hashed_read, NULL);
	} else {
		archive_read_support_filter_all(a);
		opened = archive_read_open_fd(a, fd, READ_BLOCK_SIZE);
	}
	if (opened != ARCHIVE_OK) {
		hashed_release(hs);
		return cairn_error_set(err, archive_errno(a) > 0 ? archive_errno(a) : EINVAL,
				       "extracting %s: %s", what, archive_error_string(a));
	}
	cleanup_close int root = openat(dirfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0) {
		hashed_release(hs);
		return cairn_error_errno(err, errno, "extracting %s: opening target directory",
					 what);
	}
	struct extractor x = {
	    .a = a, .root = root, .opts = opts, .what = what, .entry = "", .err = err};
	int r = 0;
	for (;;) {
		if (util_interrupted) {
			r = cairn_error_set(err, EINTR, "extracting %s: interrupted", what);
			break;
		}
		struct archive_entry *e;
		int ar = archive_read_next_header(a, &e);
		if (ar == ARCHIVE_EOF)
			break;
		if (ar == ARCHIVE_RETRY)
			continue;
		if (ar < ARCHIVE_WARN) {
			r = cairn_error_set(err, archive_errno(a) > 0 ? archive_errno(a) : EINVAL,
					    "extracting %s: %s", what, archive_error_string(a));
			break;
		}
		r = extract_entry(&x, e);
		if (r < 0)
			break;
	}
	if (r == 0)
		r = set_dir_times(&x);
	if (r == 0 && hs)
		r = hashed_check(hs, opts->diff_id, what, err);
	hashed_release(hs);
	for (size_t i = 0; i < x.ndirs; i++)
		free(x.dirs[i].path);
	free(x.dirs);
	return r;
}

bool layer_is_archive(int fd)
{
	if (lseek(fd, 0, SEEK_SET) < 0)
		return false;
	struct archive *a = archive_read_new();
	if (!a)
		return false;
	/* the compressions docker's ADD recognises */
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_bzip2(a);
	archive_read_support_filter_xz(a);
	archive_read_support_filter_zstd(a);
	archive_read_support_format_tar(a);
	bool yes = false;
	if (archive_read_open_fd(a, fd, 64 * 1024) == ARCHIVE_OK) {
		struct archive_entry *e;
		int r = archive_read_next_header(a, &e);
		yes = r == ARCHIVE_OK || r == ARCHIVE_WARN;
	}
	archive_read_free(a);
	lseek(fd, 0, SEEK_SET);
	return yes;
}
