/* store: opening a store, its folders and their modes, closing it. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char oci_layout_json[] = "{\"imageLayoutVersion\":\"1.0.0\"}";

/* The root is an OCI layout that other users' tools (skopeo, umoci) may read, so
 * it is readable by all, but only its owner may write it: whoever can write it can
 * swap index.json, blobs/ or cairn/ for their own. */
#define ROOT_MODE 0755
/* cairn/ and every folder in it hold what images and steps made (unpacked layers,
 * upper dirs, cache mounts): setuid files and device nodes among them. The trees
 * keep the image's modes, so their parents keep other users out. */
#define PRIVATE_MODE 0700

/* A folder of cairn/ that is open to others (made 0755 by earlier versions of cairn,
 * or loosened by hand) is made private again when the caller owns it. Best effort: a
 * store on a read-only filesystem cannot be fixed, and is only read then. */
static void make_private(int fd)
{
	struct stat st;
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == geteuid() &&
	    (st.st_mode & 077))
		fchmod(fd, PRIVATE_MODE);
}

static int open_dir_at(int dirfd, const char *name, mode_t mode, int *out, struct cairn_error *err)
{
	if (mkdirat(dirfd, name, mode) < 0 && errno != EEXIST)
		return cairn_error_errno(err, errno, "creating directory %s", name);
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return cairn_error_errno(err, errno, "opening directory %s", name);
	*out = fd;
	return 0;
}

static int open_private_dir_at(int dirfd, const char *name, int *out, struct cairn_error *err)
{
	int r = open_dir_at(dirfd, name, PRIVATE_MODE, out, err);
	if (r == 0)
		make_private(*out);
	return r;
}

/* The root must not be writable by others. One the caller owns is fixed (a
 * directory made under umask 0, say); a shared one (sticky, as /tmp) or another
 * user's is refused, since cairn cannot make it safe. */
static int check_root_mode(struct store *s, struct cairn_error *err)
{
	struct stat st;
	if (fstat(s->dirfd, &st) < 0)
		return cairn_error_errno(err, errno, "opening store %s", s->root);
	if (!(st.st_mode & 022))
		return 0;
	if (st.st_uid == geteuid() && !(st.st_mode & S_ISVTX)) {
		if (fchmod(s->dirfd, st.st_mode & 07777 & ~(mode_t)022) == 0)
			return 0;
		return cairn_error_errno(
		    err, errno, "opening store %s: making it writable only by its owner", s->root);
	}
	return cairn_error_set(err, EPERM,
			       "opening store %s: it is writable by other users (mode %04o), who "
			       "could replace its images; use a directory only its owner can write "
			       "(chmod go-w %s) or another --root",
			       s->root, (unsigned)(st.st_mode & 07777), s->root);
}

/* Writers on a store opened with store_open_readonly fail with this. */
int store_need_write(struct store *s, const char *what, struct cairn_error *err)
{
	if (!s->readonly)
		return 0;
	return cairn_error_set(err, EROFS, "%s: the store %s is open for reading only", what,
			       s->root);
}

DIR *store_dir_stream(int dirfd)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	if (!d && fd >= 0)
		close(fd);
	return d;
}

int store_check_digest(const char *digest, const char *what, struct cairn_error *err)
{
	if (!digest_valid(digest))
		return cairn_error_set(err, EINVAL,
				       "%s '%s': not a sha256 digest (sha256:<64 hex>)", what,
				       digest ? digest : "(null)");
	return 0;
}

/* Creates a layout file when missing. The check is repeated under the index lock so
 * that two processes opening a fresh store never clobber a file the other one has
 * already filled (index.json may hold tags by then). */
static int ensure_file(struct store *s, const char *name, const char *content,
		       struct cairn_error *err)
{
	if (faccessat(s->dirfd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		return 0;
	if (errno != ENOENT)
		return cairn_error_errno(err, errno, "checking %s/%s", s->root, name);
	cleanup_close int lock = -1;
	int r = store_lock_index(s, &lock, err);
	if (r < 0)
		return r;
	if (faccessat(s->dirfd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		return 0;
	r = store_write_file(s, s->dirfd, name, content, strlen(content), err);
	if (r < 0)
		return cairn_error_wrap(err, "initialising store %s", s->root);
	return 0;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	store_tmp_release(s);
	free(s->proc_dir); /* a forked child's copy of its parent's */
	if (s->lease_fd >= 0 && s->lease_pid == getpid())
		close(s->lease_fd);
	s->lease_fd = -1;
	if (s->gc_lock_fd >= 0 && s->gc_lock_pid == getpid())
		close(s->gc_lock_fd);
	json_decref(s->leased);
	pthread_mutex_destroy(&s->lease_mu);
	int *fds[] = {&s->dirfd,       &s->blobs_fd, &s->layers_fd, &s->cache_fd,
		      &s->contexts_fd, &s->tmp_fd,   &s->cairn_fd,  &s->proc_lock_fd};
	for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
		if (*fds[i] >= 0)
			close(*fds[i]);
	free(s->root);
	free(s);
}

void cleanup_storep(struct store **s)
{
	store_close(*s);
}

static struct store *store_new(void)
{
	struct store *s = xcalloc(1, sizeof *s);
	s->dirfd = s->blobs_fd = s->layers_fd = s->cache_fd = s->contexts_fd = s->tmp_fd =
	    s->cairn_fd = s->proc_lock_fd = s->lease_fd = s->gc_lock_fd = -1;
	s->leased = json_object();
	pthread_mutex_init(&s->lease_mu, NULL);
	return s;
}

/* Why a store cannot be written, with what can still be done with it. */
static int open_for_writing_failed(struct store *s, const char *root, struct cairn_error *err)
{
	const char *name = s->root ? s->root : root;
	if (err && (err->code == EACCES || err->code == EPERM || err->code == EROFS))
		return cairn_error_wrap(err,
					"opening store %s for writing (images, inspect, history "
					"and push only read it)",
					name);
	return cairn_error_wrap(err, "opening store %s", name);
}

/* cairn/version: the store's format, written by the first cairn that opens it.
 * A format this cairn does not know is refused before anything is written: an older
 * cairn must not write a store a newer one has changed the rules of. */
static int check_format(struct store *s, struct cairn_error *err)
{
	char want[16];
	snprintf(want, sizeof want, "%d\n", STORE_FORMAT);
	int r = ensure_file(s, "cairn/version", want, err);
	if (r < 0)
		return r;
	cleanup_free char *text = NULL;
	if ((r = util_read_file(s->cairn_fd, "version", &text, NULL, err)) < 0)
		return cairn_error_wrap(err, "opening store %s", s->root);
	char *end = NULL;
	long v = strtol(text, &end, 10);
	if (end == text || (*end && strcmp(end, "\n")) || v < 1)
		return cairn_error_set(err, EINVAL,
				       "store %s: cairn/version says \"%.20s\", not a format "
				       "number",
				       s->root, text);
	if (v > STORE_FORMAT)
		return cairn_error_set(err, EPROTONOSUPPORT,
				       "store %s is of format %ld, which this cairn (format %d) "
				       "does not know: use a newer cairn, or another --root",
				       s->root, v, STORE_FORMAT);
	return 0;
}

int store_open(const char *root, struct store **out, struct cairn_error *err)
{
	cleanup_store struct store *s = store_new();
	if (!root || !*root)
		return cairn_error_set(err, EINVAL, "opening store: empty root path");
	int r = util_mkdir_p(AT_FDCWD, root, ROOT_MODE, err);
	if (r < 0)
		return open_for_writing_failed(s, root, err);
	/* Absolute, because layer dirs are handed to overlay mounts and sandboxes. */
	s->root = realpath(root, NULL);
	if (!s->root)
		return cairn_error_errno(err, errno, "opening store %s", root);
	s->dirfd = open(s->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dirfd < 0)
		return cairn_error_errno(err, errno, "opening store %s", s->root);
	if ((r = check_root_mode(s, err)) < 0)
		return r;

	/* blobs/ is part of the layout, readable by all as the root; everything in
	 * cairn/ is private */
	cleanup_close int blobs = -1, mounts = -1, containers = -1, volumes = -1;
	if ((r = open_dir_at(s->dirfd, "blobs", ROOT_MODE, &blobs, err)) < 0 ||
	    (r = open_dir_at(blobs, "sha256", ROOT_MODE, &s->blobs_fd, err)) < 0)
		return open_for_writing_failed(s, root, err);
	if ((r = open_private_dir_at(s->dirfd, "cairn", &s->cairn_fd, err)) < 0 ||
	    (r = open_private_dir_at(s->cairn_fd, "layers", &s->layers_fd, err)) < 0 ||
	    (r = open_private_dir_at(s->cairn_fd, "cache", &s->cache_fd, err)) < 0 ||
	    (r = open_private_dir_at(s->cairn_fd, "contexts", &s->contexts_fd, err)) < 0 ||
	    (r = open_private_dir_at(s->cairn_fd, "mounts", &mounts, err)) < 0 ||
	    (r = open_private_dir_at(s->cairn_fd, "containers", &containers, err)) < 0 ||
	    (r = open_private_dir_at(s->cairn_fd, "volumes", &volumes, err)) < 0 ||
	    (r = open_private_dir_at(s->cairn_fd, "tmp", &s->tmp_fd, err)) < 0)
		return open_for_writing_failed(s, root, err);

	if ((r = check_format(s, err)) < 0)
		return r;
	cleanup_free char *index = xasprintf(
	    "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"manifests\":[]}", MEDIA_TYPE_OCI_INDEX);
	if ((r = ensure_file(s, "oci-layout", oci_layout_json, err)) < 0 ||
	    (r = ensure_file(s, "index.json", index, err)) < 0)
		return r;
	/* The lock file itself: created here so that a read-only user gets a clear error
	 * at open time rather than at the first tag. */
	cleanup_close int lock =
	    openat(s->cairn_fd, "index.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (lock < 0) {
		cairn_error_errno(err, errno, "creating cairn/index.lock");
		return open_for_writing_failed(s, root, err);
	}
	store_sweep_tmp(s);
	*out = steal_pointer(&s);
	return 0;
}

int store_open_readonly(const char *root, struct store **out, struct cairn_error *err)
{
	cleanup_store struct store *s = store_new();
	s->readonly = true;
	if (!root || !*root)
		return cairn_error_set(err, EINVAL, "opening store: empty root path");
	s->root = realpath(root, NULL);
	if (!s->root && errno == ENOENT)
		return cairn_error_set(err, ENOENT, "there is no store at %s", root);
	if (!s->root)
		return cairn_error_errno(err, errno, "opening store %s", root);
	s->dirfd = open(s->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dirfd < 0)
		return cairn_error_errno(err, errno, "opening store %s", s->root);
	s->blobs_fd = openat(s->dirfd, "blobs/sha256", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->blobs_fd < 0 && errno == ENOENT)
		return cairn_error_set(err, ENOENT, "there is no store at %s (no blobs/sha256)",
				       s->root);
	if (s->blobs_fd < 0)
		return cairn_error_errno(err, errno, "opening store %s: opening blobs/sha256",
					 s->root);
	/* Housekeeping, when the caller may: an older store's cairn/ is closed to others
	 * by any command its owner runs, reading ones too (until then its setuid files
	 * are within everyone's reach), and dead processes' temp dirs go as with
	 * store_open. Neither touches an image; both fail quietly on a store that
	 * cannot be written. */
	cleanup_close int cairn = openat(s->dirfd, "cairn", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cairn >= 0) {
		make_private(cairn);
		s->tmp_fd = openat(cairn, "tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (s->tmp_fd >= 0) {
			store_sweep_tmp(s);
			close(steal_fd(&s->tmp_fd));
		}
	}
	*out = steal_pointer(&s);
	return 0;
}

const char *store_root(const struct store *s)
{
	return s->root;
}

char *store_mounts_dir(const struct store *s)
{
	return xasprintf("%s/cairn/mounts", s->root);
}

char *store_containers_dir(const struct store *s)
{
	return xasprintf("%s/cairn/containers", s->root);
}

char *store_volumes_dir(const struct store *s)
{
	return xasprintf("%s/cairn/volumes", s->root);
}

char *store_default_root(void)
{
	const char *env = getenv("CAIRN_ROOT");
	if (env && *env)
		return xstrdup(env);
	if (geteuid() == 0)
		return xstrdup("/var/lib/cairn");
	const char *xdg = getenv("XDG_DATA_HOME");
	/* The XDG spec says relative values are to be ignored. */
	if (xdg && xdg[0] == '/')
		return xasprintf("%s/cairn", xdg);
	const char *home = getenv("HOME");
	if (!home || !*home) {
		struct passwd *pw = getpwuid(geteuid());
		home = pw && pw->pw_dir ? pw->pw_dir : "/";
	}
	return xasprintf("%s/.local/share/cairn", home);
}
