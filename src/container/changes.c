/* container: what a container changed (cairn diff NAME), docker diff's way: every
 * entry of its writable layer, added (A) when its image has no such path, changed
 * (C) when it has, deleted (D) for a whiteout. */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

void container_changes_free(struct container_change *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].path);
	free(v);
}

struct walk {
	char **lower; /* the image's layer trees, top-most first */
	char **stubs; /* container_init_stubs: left out */
	struct container_change *v;
	size_t n, alloc;
};

static bool is_whiteout(const struct stat *st)
{
	return S_ISCHR(st->st_mode) && st->st_rdev == makedev(0, 0);
}

static bool opaque(int dirfd, const char *name)
{
	char v[2];
	for (int i = 0; i < 2; i++) {
		char path[64];
		snprintf(path, sizeof path, "/proc/self/fd/%d/%s", dirfd, name);
		const char *attr = i ? "user.overlay.opaque" : "trusted.overlay.opaque";
		if (lgetxattr(path, attr, v, sizeof v) == 1 && v[0] == 'y')
			return true;
	}
	return false;
}

/* Whether the image shows rel ("a/b"): the top-most layer that has it or hides it
 * (a whiteout, or an opaque directory above it) decides. */
static bool in_image(const struct walk *w, const char *rel)
{
	for (size_t i = 0; w->lower[i]; i++) {
		cleanup_close int root = open(w->lower[i], O_PATH | O_DIRECTORY | O_CLOEXEC);
		struct stat st;
		if (root < 0)
			continue;
		if (fstatat(root, rel, &st, AT_SYMLINK_NOFOLLOW) == 0)
			return !is_whiteout(&st);
		/* an opaque parent in this layer hides the layers below */
		cleanup_free char *parent = xstrdup(rel);
		for (char *slash = strrchr(parent, '/'); slash; slash = strrchr(parent, '/')) {
			*slash = '\0';
			if (opaque(root, parent))
				return false;
		}
	}
	return false;
}

/* Whether every entry of directory rel in upperfd is in stubs (NULL: whether it is
 * empty). */
static bool only_stubs(int upperfd, const char *rel, char *const *stubs)
{
	int fd = openat(upperfd, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return false;
	}
	bool only = true;
	struct dirent *e;
	while (only && (e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		cleanup_free char *path = xasprintf("%s/%s", rel, e->d_name);
		only = strv_contains(stubs, path);
	}
	closedir(d);
	return only;
}

/* Whether rel in upperfd is empty: a directory without entries, a file of 0 bytes. */
static bool empty_entry(int upperfd, const char *rel)
{
	struct stat st;
	if (fstatat(upperfd, rel, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return false;
	if (S_ISREG(st.st_mode))
		return st.st_size == 0;
	if (!S_ISDIR(st.st_mode))
		return false;
	return only_stubs(upperfd, rel, NULL);
}

char **container_init_stubs(int upperfd, char *const *lower)
{
	static const char *const init_paths[] = {
	    "proc", "dev", "sys", "etc/hosts", "etc/hostname", "etc/resolv.conf", NULL};
	struct walk w = {.lower = (char **)lower};
	char **stubs = NULL;
	for (size_t i = 0; init_paths[i]; i++)
		if (!in_image(&w, init_paths[i]) && empty_entry(upperfd, init_paths[i]))
			strv_push(&stubs, init_paths[i]);
	/* then the directories above them, deepest first, made only for them */
	for (size_t i = 0; stubs && stubs[i]; i++) {
		cleanup_free char *parent = xstrdup(stubs[i]);
		char *slash = strrchr(parent, '/');
		if (!slash)
			continue;
		*slash = '\0';
		if (!strv_contains(stubs, parent) && !in_image(&w, parent) &&
		    only_stubs(upperfd, parent, stubs))
			strv_push(&stubs, parent);
	}
	return stubs;
}

static void add(struct walk *w, char kind, const char *rel)
{
	if (w->n == w->alloc) {
		w->alloc = w->alloc ? 2 * w->alloc : 64;
		w->v = xrealloc(w->v, w->alloc * sizeof *w->v);
	}
	w->v[w->n++] = (struct container_change){.kind = kind, .path = xasprintf("/%s", rel)};
}

static int walk_dir(struct walk *w, int dirfd, const char *rel, struct cairn_error *err)
{
	int fd = dup(dirfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return cairn_error_errno(err, errno, "reading /%s of the writable layer", rel);
	}
	int r = 0;
	struct dirent *e;
	while (r == 0 && (e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		cleanup_free char *path =
		    *rel ? xasprintf("%s/%s", rel, e->d_name) : xstrdup(e->d_name);
		struct stat st;
		if (fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			r = cairn_error_errno(err, errno, "/%s", path);
			break;
		}
		if (strv_contains(w->stubs, path))
			continue;
		if (is_whiteout(&st)) {
			add(w, 'D', path);
			continue;
		}
		add(w, in_image(w, path) ? 'C' : 'A', path);
		if (S_ISDIR(st.st_mode)) {
			cleanup_close int sub = openat(
			    dirfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0)
				r = cairn_error_errno(err, errno, "opening /%s", path);
			else
				r = walk_dir(w, sub, path, err);
		}
	}
	closedir(d);
	return r;
}

static int by_path(const void *a, const void *b)
{
	return strcmp(((const struct container_change *)a)->path,
		      ((const struct container_change *)b)->path);
}

int container_changes(struct store *s, struct container *c, struct container_change **out,
		      size_t *n, struct cairn_error *err)
{
	cleanup_oci_image struct oci_image img = {0};
	int r = oci_image_load(s, c->cfg.image_digest, &img, err);
	if (r < 0)
		return cairn_error_wrap(err, "image %s of container %s", c->cfg.image, c->name);
	struct walk w = {0};
	if ((r = container_lower_dirs(s, &img, &w.lower, err)) < 0)
		return r;
	cleanup_free char *upper = xasprintf("%s/upper", c->dir);
	cleanup_close int dfd = open(upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0)
		w.stubs = container_init_stubs(dfd, w.lower);
	r = dfd < 0 ? cairn_error_errno(err, errno, "opening %s", upper)
		    : walk_dir(&w, dfd, "", err);
	strv_free(w.lower);
	strv_free(w.stubs);
	if (r < 0) {
		container_changes_free(w.v, w.n);
		return r;
	}
	qsort(w.v, w.n, sizeof *w.v, by_path);
	*out = w.v;
	*n = w.n;
	return 0;
}
