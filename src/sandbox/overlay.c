/* Overlay mounts for RUN steps: the parent layers read-only below, a fresh upper dir
 * that becomes the step's layer. Options are chosen so the upper dir holds plain
 * files, whiteouts and opaque dirs only: no index, no redirects, no metacopy. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

bool sandbox_in_user_namespace(void)
{
	/* root's map of every id looks like the initial namespace's */
	if (sandbox_userns_entered)
		return true;
	cleanup_free char *map = NULL;
	if (util_read_file(AT_FDCWD, "/proc/self/uid_map", &map, NULL, NULL) < 0)
		return false;
	unsigned inside, outside, count;
	int n = 0;
	if (sscanf(map, " %u %u %u %n", &inside, &outside, &count, &n) != 3)
		return true;
	return !(inside == 0 && outside == 0 && count == 4294967295u && map[n] == '\0');
}

static const char *const overlay_options[][2] = {
    {"index", "off"},
    /* "off" still follows redirects found in a lower dir (and conflicts with
     * userxattr); "nofollow" neither creates nor follows them */
    {"redirect_dir", "nofollow"},
    {"metacopy", "off"},
    {"xino", "off"},
};

/* Appends the last message the kernel logged on an fs context ("overlayfs: ..."). */
static char *fscontext_message(int fsfd)
{
	/* one log line at a time; a truncated line still names the problem */
	char line[512], last[512] = "";
	for (;;) {
		ssize_t n = read(fsfd, line, sizeof line - 1);
		if (n <= 0)
			break;
		line[n] = '\0';
		if (n > 2 && line[1] == ' ')
			memcpy(last, line + 2, (size_t)n - 1);
	}
	last[strcspn(last, "\n")] = '\0';
	return *last ? xasprintf(" (%s)", last) : xstrdup("");
}

/* Every layer dir goes to the kernel as the /proc/self/fd link of an fd open on it,
 * which overlayfs follows. That keeps the options short (the kernel takes at most
 * 256 bytes per fsconfig string, a page for all of mount(2)), and it is what the
 * options show: a step reading /proc/self/mountinfo sees no path of the store. */
struct layer_path {
	int fd;
	char *name; /* /proc/self/fd/N */
};

static int layer_path_open(struct layer_path *lp, const char *path, struct cairn_error *err)
{
	lp->name = NULL;
	lp->fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (lp->fd < 0)
		return cairn_error_errno(err, errno, "opening overlay dir %s", path);
	lp->name = xasprintf("/proc/self/fd/%d", lp->fd);
	return 0;
}

static void layer_path_close(struct layer_path *lp)
{
	if (lp->fd >= 0)
		close(lp->fd);
	free(lp->name);
	lp->fd = -1;
	lp->name = NULL;
}

static void cleanup_layer_pathp(struct layer_path *lp)
{
	layer_path_close(lp);
}
#define cleanup_layer_path __attribute__((cleanup(cleanup_layer_pathp)))

static int fsconfig_path(int fsfd, const char *key, const char *path, struct cairn_error *err)
{
	cleanup_layer_path struct layer_path lp = {-1, NULL};
	int r = layer_path_open(&lp, path, err);
	if (r < 0)
		return r;
	if (fsconfig(fsfd, FSCONFIG_SET_STRING, key, lp.name, 0) == 0)
		return 0;
	int e = errno;
	cleanup_free char *why = fscontext_message(fsfd);
	return cairn_error_errno(err, e, "overlay %s %s%s", key, path, why);
}

/* The new mount API passes each lower dir as its own parameter, so the number of
 * layers is not limited by the page-sized data string of mount(2). Returns
 * -EOPNOTSUPP when the kernel lacks it ("lowerdir+" arrived in 6.8). Without upper
 * (and work) the overlay is read-only. */
static int overlay_mount_fsconfig(char *const *lower, size_t n_lower, const char *upper,
				  const char *work, const char *merged, bool userxattr,
				  struct cairn_error *err)
{
	cleanup_close int fsfd = fsopen("overlay", FSOPEN_CLOEXEC);
	if (fsfd < 0)
		return errno == ENOSYS ? -EOPNOTSUPP
				       : cairn_error_errno(err, errno, "fsopen overlay");
	int r = 0;
	for (size_t i = 0; i < n_lower && r == 0; i++) {
		r = fsconfig_path(fsfd, "lowerdir+", lower[i], err);
		/* a kernel without "lowerdir+" rejects the first one: use mount(2) */
		if (i == 0 && r == -EINVAL) {
			cairn_error_clear(err);
			return -EOPNOTSUPP;
		}
	}
	if (r == 0 && upper)
		r = fsconfig_path(fsfd, "upperdir", upper, err);
	if (r == 0 && upper)
		r = fsconfig_path(fsfd, "workdir", work, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < sizeof overlay_options / sizeof *overlay_options; i++)
		if (fsconfig(fsfd, FSCONFIG_SET_STRING, overlay_options[i][0],
			     overlay_options[i][1], 0) < 0)
			return cairn_error_errno(err, errno, "overlay option %s=%s",
						 overlay_options[i][0], overlay_options[i][1]);
	if (userxattr && fsconfig(fsfd, FSCONFIG_SET_FLAG, "userxattr", NULL, 0) < 0)
		return cairn_error_errno(err, errno, "overlay option userxattr");
	if (fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) {
		int e = errno;
		cleanup_free char *why = fscontext_message(fsfd);
		return cairn_error_errno(err, e, "creating overlay for %s%s", merged, why);
	}
	cleanup_close int mntfd = fsmount(fsfd, FSMOUNT_CLOEXEC, upper ? 0 : MOUNT_ATTR_RDONLY);
	if (mntfd < 0)
		return cairn_error_errno(err, errno, "fsmount overlay for %s", merged);
	if (move_mount(mntfd, "", AT_FDCWD, merged, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		return cairn_error_errno(err, errno, "mounting overlay on %s", merged);
	return 0;
}

/* Escapes the characters the overlay option parser splits on. */
static void add_escaped(struct strbuf *sb, const char *path)
{
	for (const char *p = path; *p; p++) {
		if (*p == '\\' || *p == ':' || *p == ',')
			strbuf_addch(sb, '\\');
		strbuf_addch(sb, *p);
	}
}

/* mount(2) for kernels before 6.8: all layers in one page of options, which fits
 * about 200 of them. */
static int overlay_mount_classic(char *const *lower, size_t n_lower, const char *upper,
				 const char *work, const char *merged, bool userxattr,
				 struct cairn_error *err)
{
	size_t n = n_lower + (upper ? 2 : 0);
	struct layer_path *paths = xcalloc(n, sizeof *paths);
	int r = 0;
	for (size_t i = 0; i < n; i++)
		paths[i].fd = -1;
	for (size_t i = 0; i < n && r == 0; i++)
		r = layer_path_open(&paths[i],
				    i < n_lower	   ? lower[i]
				    : i == n_lower ? upper
						   : work,
				    err);

	cleanup_strbuf struct strbuf data = STRBUF_INIT;
	strbuf_addstr(&data, "lowerdir=");
	for (size_t i = 0; i < n_lower && r == 0; i++) {
		if (i)
			strbuf_addch(&data, ':');
		add_escaped(&data, paths[i].name);
	}
	if (r == 0 && upper) {
		strbuf_addstr(&data, ",upperdir=");
		add_escaped(&data, paths[n_lower].name);
		strbuf_addstr(&data, ",workdir=");
		add_escaped(&data, paths[n_lower + 1].name);
	}
	if (r == 0) {
		for (size_t i = 0; i < sizeof overlay_options / sizeof *overlay_options; i++)
			strbuf_addf(&data, ",%s=%s", overlay_options[i][0], overlay_options[i][1]);
		if (userxattr)
			strbuf_addstr(&data, ",userxattr");
	}
	long page = sysconf(_SC_PAGESIZE);
	if (r == 0 && (long)data.len >= page)
		r = cairn_error_set(err, E2BIG,
				    "mounting overlay on %s: %zu lower dirs do not fit in the "
				    "%ld-byte mount options of this kernel (needs Linux 6.8)",
				    merged, n_lower, page);
	if (r == 0 && mount("overlay", merged, "overlay", upper ? 0 : MS_RDONLY, data.buf) < 0)
		r = cairn_error_errno(err, errno, "mounting overlay on %s", merged);
	for (size_t i = 0; i < n; i++)
		layer_path_close(&paths[i]);
	free(paths);
	return r;
}

/* Mounts with the new API where the kernel has it, else with mount(2); upper and work
 * NULL for a read-only overlay (which overlayfs allows with two lower dirs or more). */
static int overlay_mount(char *const *lower, size_t n_lower, const char *upper, const char *work,
			 const char *merged, struct cairn_error *err)
{
	bool userxattr = sandbox_in_user_namespace();
	int r = overlay_mount_fsconfig(lower, n_lower, upper, work, merged, userxattr, err);
	if (r == -EOPNOTSUPP)
		r = overlay_mount_classic(lower, n_lower, upper, work, merged, userxattr, err);
	return r;
}

/* overlayfs needs at least one lower dir: an empty root gets an empty one made next
 * to the work dir (same filesystem, outside every layer). */
static int make_empty_lower(const char *work, char **out, struct cairn_error *err)
{
	size_t len = strlen(work);
	while (len > 1 && work[len - 1] == '/')
		len--;
	char *dir = xasprintf("%.*s.empty", (int)len, work);
	struct stat st;
	if (mkdir(dir, 0555) < 0 &&
	    !(errno == EEXIST && lstat(dir, &st) == 0 && S_ISDIR(st.st_mode))) {
		int r = cairn_error_errno(err, errno, "creating empty lower dir %s", dir);
		free(dir);
		return r;
	}
	*out = dir;
	return 0;
}

/* The lower dirs without repeats: an image whose layers repeat one (a step that
 * changed what an earlier step changed, the same way) names one layer dir twice,
 * which overlayfs refuses (ELOOP). The top-most of each is kept, and it alone gives
 * the same tree: every path the lower copy provides or whites out, the upper copy
 * provides or whites out over everything below it. The array borrows lower's
 * strings; *n is how many are left. */
static char **unique_lowers(char *const *lower, size_t *n)
{
	char **out = xcalloc(*n + 1, sizeof *out);
	struct stat *seen = xcalloc(*n + 1, sizeof *seen);
	size_t kept = 0;
	for (size_t i = 0; i < *n; i++) {
		struct stat st;
		bool known = stat(lower[i], &st) == 0;
		bool repeat = false;
		for (size_t j = 0; j < kept && !repeat; j++)
			repeat = known ? seen[j].st_dev == st.st_dev && seen[j].st_ino == st.st_ino
				       : !strcmp(out[j], lower[i]);
		if (repeat)
			continue;
		if (known)
			seen[kept] = st;
		out[kept++] = lower[i];
	}
	free(seen);
	*n = kept;
	return out;
}

int sandbox_overlay_mount(char *const *lower, size_t n_lower, const char *upper, const char *work,
			  const char *merged, struct cairn_error *err)
{
	cleanup_free char *empty = NULL;
	cleanup_free char **unique = unique_lowers(lower, &n_lower);
	char *const *layers = unique;
	if (n_lower == 0) {
		int r = make_empty_lower(work, &empty, err);
		if (r < 0)
			return r;
		layers = &empty;
		n_lower = 1;
	}
	return overlay_mount(layers, n_lower, upper, work, merged, err);
}

/* A read-only bind of dir, without what is mounted below it. */
static int bind_dir_readonly(const char *dir, const char *merged, struct cairn_error *err)
{
	cleanup_close int tree = open_tree(AT_FDCWD, dir, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	if (tree < 0)
		return cairn_error_errno(err, errno, "binding %s", dir);
	struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY};
	if (mount_setattr(tree, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0)
		return cairn_error_errno(err, errno, "making the bind of %s read-only", dir);
	if (move_mount(tree, "", AT_FDCWD, merged, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		return cairn_error_errno(err, errno, "binding %s on %s", dir, merged);
	return 0;
}

int sandbox_overlay_mount_ro(char *const *lower_given, size_t n_lower, const char *merged,
			     struct cairn_error *err)
{
	cleanup_free char **lower = unique_lowers(lower_given, &n_lower);
	if (n_lower == 1)
		return bind_dir_readonly(lower[0], merged, err);
	if (n_lower > 1)
		return overlay_mount(lower, n_lower, NULL, NULL, merged, err);
	if (mount("tmpfs", merged, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  "mode=755,size=4k") < 0)
		return cairn_error_errno(err, errno, "mounting an empty directory on %s", merged);
	return 0;
}

int sandbox_overlay_umount(const char *merged, struct cairn_error *err)
{
	if (umount2(merged, UMOUNT_NOFOLLOW) == 0)
		return 0;
	/* something still holds it open (an fd of the builder): detach it instead, the
	 * upper dir is complete either way */
	if (errno == EBUSY && umount2(merged, MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
		return 0;
	return cairn_error_errno(err, errno, "unmounting overlay %s", merged);
}
