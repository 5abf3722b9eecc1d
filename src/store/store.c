#include "store.h"

#include "../ref/ref.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct store {
	char *root; /* absolute */
	int dirfd;  /* root */
	int blobs_fd;
	int layers_fd;
	int cache_fd;
	int contexts_fd;
	int tmp_fd;
	int cairn_fd;
	bool readonly; /* store_open_readonly: the cairn/ fds are -1, writers fail */
	/* this process's own temp dir, cairn/tmp/proc-XXXXXX, made on first use; its
	 * .lock is flocked as long as the process (or a child it forked) lives */
	char *proc_dir;
	int proc_lock_fd;
};

static const char oci_layout_json[] = "{\"imageLayoutVersion\":\"1.0.0\"}";

/* The root is an OCI layout that other users' tools (skopeo, umoci) may read, so
 * it is readable by all, but only its owner may write it: whoever can write it can
 * swap index.json, blobs/ or cairn/ for their own. */
#define ROOT_MODE 0755
/* cairn/ and every folder in it hold what images and steps made (unpacked layers,
 * upper dirs, cache mounts): setuid files and device nodes among them. The trees
 * keep the image's modes, so their parents keep other users out. */
#define PRIVATE_MODE 0700

/* ---- open / close ---- */

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
static int need_write(struct store *s, const char *what, struct cairn_error *err)
{
	if (!s->readonly)
		return 0;
	return cairn_error_set(err, EROFS, "%s: the store %s is open for reading only", what,
			       s->root);
}

/* Takes the index lock (flock LOCK_EX on cairn/index.lock); returns the fd to close. */
static int lock_index(struct store *s, int *out, struct cairn_error *err)
{
	cleanup_close int fd =
	    openat(s->cairn_fd, "index.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return cairn_error_errno(err, errno, "opening %s/cairn/index.lock", s->root);
	while (flock(fd, LOCK_EX) < 0) {
		if (errno == EINTR && !util_interrupted)
			continue;
		return cairn_error_errno(err, errno, "locking %s/cairn/index.lock", s->root);
	}
	*out = steal_fd(&fd);
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
	int r = lock_index(s, &lock, err);
	if (r < 0)
		return r;
	if (faccessat(s->dirfd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		return 0;
	r = util_write_file_atomic(s->dirfd, name, content, strlen(content), err);
	if (r < 0)
		return cairn_error_wrap(err, "initialising store %s", s->root);
	return 0;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	if (s->proc_dir) {
		/* empty unless a caller forgot a temp dir: nothing in it is wanted */
		util_rm_rf(AT_FDCWD, s->proc_dir, NULL);
		free(s->proc_dir);
	}
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

/* Removes the temp dirs of cairn processes that died without cleaning up (SIGKILL,
 * a crash, a power cut): a proc-* dir whose .lock nobody holds. The dir is renamed
 * first, so two sweepers never delete the same tree. Failures are left for later. */
static void sweep_tmp(struct store *s)
{
	int fd = openat(s->tmp_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	char **dead = NULL;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, "proc-", 5))
			continue;
		cleanup_free char *lock = xasprintf("%s/.lock", de->d_name);
		cleanup_close int lfd = openat(s->tmp_fd, lock, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (lfd < 0 || flock(lfd, LOCK_EX | LOCK_NB) < 0)
			continue;
		cleanup_free char *gone = xasprintf("dead-%s", de->d_name + 5);
		if (renameat(s->tmp_fd, de->d_name, s->tmp_fd, gone) == 0)
			strv_push(&dead, gone);
	}
	closedir(d);
	for (size_t i = 0; dead && dead[i]; i++)
		util_rm_rf(s->tmp_fd, dead[i], NULL);
	strv_free(dead);
}

/* Makes this process's temp dir: created under another name, locked, then renamed to
 * proc-*, so a sweeper never sees it unlocked. */
static int proc_dir(struct store *s, struct cairn_error *err)
{
	if (s->proc_dir)
		return 0;
	cleanup_free char *tmpl = xasprintf("%s/cairn/tmp/new-XXXXXX", s->root);
	if (!mkdtemp(tmpl))
		return cairn_error_errno(err, errno, "creating a temp dir in %s/cairn/tmp",
					 s->root);
	cleanup_free char *lock = xasprintf("%s/.lock", tmpl);
	int fd = open(lock, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || flock(fd, LOCK_EX) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		util_rm_rf(AT_FDCWD, tmpl, NULL);
		return cairn_error_errno(err, e, "locking %s", lock);
	}
	const char *suffix = strrchr(tmpl, '-') + 1;
	char *final = xasprintf("%s/cairn/tmp/proc-%s", s->root, suffix);
	if (rename(tmpl, final) < 0) {
		int e = errno;
		close(fd);
		util_rm_rf(AT_FDCWD, tmpl, NULL);
		free(final);
		return cairn_error_errno(err, e, "creating a temp dir in %s/cairn/tmp", s->root);
	}
	s->proc_dir = final;
	s->proc_lock_fd = fd;
	return 0;
}

static struct store *store_new(void)
{
	struct store *s = xcalloc(1, sizeof *s);
	s->dirfd = s->blobs_fd = s->layers_fd = s->cache_fd = s->contexts_fd = s->tmp_fd =
	    s->cairn_fd = s->proc_lock_fd = -1;
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
	cleanup_close int blobs = -1, mounts = -1;
	if ((r = open_dir_at(s->dirfd, "blobs", ROOT_MODE, &blobs, err)) < 0 ||
	    (r = open_dir_at(blobs, "sha256", ROOT_MODE, &s->blobs_fd, err)) < 0)
		return open_for_writing_failed(s, root, err);
	if ((r = open_private_dir_at(s->dirfd, "cairn", &s->cairn_fd, err)) < 0 ||
	    (r = open_private_dir_at(s->cairn_fd, "layers", &s->layers_fd, err)) < 0 ||
	    (r = open_private_dir_at(s->cairn_fd, "cache", &s->cache_fd, err)) < 0 ||
	    (r = open_private_dir_at(s->cairn_fd, "contexts", &s->contexts_fd, err)) < 0 ||
	    (r = open_private_dir_at(s->cairn_fd, "mounts", &mounts, err)) < 0 ||
	    (r = open_private_dir_at(s->cairn_fd, "tmp", &s->tmp_fd, err)) < 0)
		return open_for_writing_failed(s, root, err);

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
	sweep_tmp(s);
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
			sweep_tmp(s);
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

/* ---- blobs ---- */

struct blob_writer {
	struct store *s;
	int fd;
	char *tmp_name; /* named temp in cairn/tmp; NULL for an O_TMPFILE */
	struct sha256 h;
	uint64_t size;
};

static char *random_name(const char *prefix)
{
	unsigned char rnd[8];
	if (getrandom(rnd, sizeof rnd, 0) != sizeof rnd) {
		/* getrandom on 8 bytes only fails before the pool is ready or on
		 * ancient kernels; O_EXCL still protects us. */
		uint64_t v = (uint64_t)getpid() * 2654435761u ^ (uint64_t)util_now();
		memcpy(rnd, &v, sizeof rnd);
	}
	struct strbuf sb = STRBUF_INIT;
	strbuf_addstr(&sb, prefix);
	for (size_t i = 0; i < sizeof rnd; i++)
		strbuf_addf(&sb, "%02x", rnd[i]);
	return strbuf_detach(&sb);
}

static int open_named_temp(struct store *s, char **name, struct cairn_error *err)
{
	for (int tries = 0; tries < 100; tries++) {
		cleanup_free char *n = random_name("blob-");
		int fd = openat(s->tmp_fd, n, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd >= 0) {
			*name = steal_pointer(&n);
			return fd;
		}
		if (errno != EEXIST)
			return cairn_error_errno(err, errno, "creating a temp file in %s/cairn/tmp",
						 s->root);
	}
	return cairn_error_set(err, EEXIST, "creating a temp file in %s/cairn/tmp: no free name",
			       s->root);
}

int store_blob_begin(struct store *s, struct blob_writer **out, struct cairn_error *err)
{
	int r = need_write(s, "storing a blob", err);
	if (r < 0)
		return r;
	struct blob_writer *w = xcalloc(1, sizeof *w);
	w->s = s;
	/* An O_TMPFILE leaves nothing behind when we crash; not every filesystem has it. */
	w->fd = openat(s->tmp_fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0644);
	if (w->fd < 0) {
		r = open_named_temp(s, &w->tmp_name, err);
		if (r < 0) {
			free(w);
			return r;
		}
		w->fd = r;
	}
	sha256_init(&w->h);
	*out = w;
	return 0;
}

int store_blob_write(struct blob_writer *w, const void *data, size_t len, struct cairn_error *err)
{
	int r = util_write_all(w->fd, data, len);
	if (r < 0)
		return cairn_error_errno(err, -r, "writing a blob to %s/cairn/tmp", w->s->root);
	sha256_update(&w->h, data, len);
	w->size += len;
	return 0;
}

void store_blob_abort(struct blob_writer *w)
{
	if (!w)
		return;
	if (w->fd >= 0)
		close(w->fd);
	if (w->tmp_name)
		unlinkat(w->s->tmp_fd, w->tmp_name, 0);
	sha256_abort(&w->h);
	free(w->tmp_name);
	free(w);
}

/* Gives an O_TMPFILE a name in the blobs dir. -EEXIST when the blob is already there. */
static int link_tmpfile(struct blob_writer *w, const char *hex)
{
	struct store *s = w->s;
	if (linkat(w->fd, "", s->blobs_fd, hex, AT_EMPTY_PATH) == 0)
		return 0;
	if (errno == EEXIST)
		return -EEXIST;
	/* AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; /proc/self/fd does not. */
	cleanup_free char *proc = xasprintf("/proc/self/fd/%d", w->fd);
	if (linkat(AT_FDCWD, proc, s->blobs_fd, hex, AT_SYMLINK_FOLLOW) == 0)
		return 0;
	if (errno == EEXIST)
		return -EEXIST;
	/* Neither works (no /proc in a sandbox, say): copy into a named temp file. */
	int e = errno;
	cleanup_free char *name = NULL;
	struct cairn_error ignored = CAIRN_ERROR_INIT;
	cleanup_close int fd = open_named_temp(s, &name, &ignored);
	cairn_error_clear(&ignored);
	if (fd < 0 || !name)
		return -e;
	loff_t off = 0;
	uint64_t left = w->size;
	int r = 0;
	while (left) {
		ssize_t n = copy_file_range(w->fd, &off, fd, NULL, left, 0);
		if (n <= 0) {
			r = n < 0 ? -errno : -EIO;
			break;
		}
		left -= (uint64_t)n;
	}
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (r == 0 && linkat(s->tmp_fd, name, s->blobs_fd, hex, 0) < 0)
		r = -errno;
	unlinkat(s->tmp_fd, name, 0);
	return r;
}

int store_blob_commit(struct blob_writer *w, const char *expect, char digest[DIGEST_LEN],
		      uint64_t *size, struct cairn_error *err)
{
	struct store *s = w->s;
	char got[DIGEST_LEN];
	sha256_final(&w->h, got);
	int r = 0;

	if (expect && !digest_valid(expect)) {
		r = cairn_error_set(err, EINVAL,
				    "storing blob: expected digest '%s' is not a sha256 digest",
				    expect);
		goto out;
	}
	if (expect && strcmp(expect, got) != 0) {
		r = cairn_error_set(
		    err, EBADMSG, "storing blob: content has digest %s, expected %s", got, expect);
		goto out;
	}
	const char *hex = digest_hex(got);
	if (fsync(w->fd) < 0) {
		r = cairn_error_errno(err, errno, "storing blob %s: syncing temp file", got);
		goto out;
	}
	/* The blob appears under its name only once complete: by link (which never
	 * replaces) or by rename of a fully written, fsync'd file. When it is already
	 * there, its content is ours by definition of its name. */
	if (w->tmp_name) {
		if (linkat(s->tmp_fd, w->tmp_name, s->blobs_fd, hex, 0) < 0 && errno != EEXIST) {
			/* Filesystems without hard links: rename instead. */
			if (renameat(s->tmp_fd, w->tmp_name, s->blobs_fd, hex) < 0) {
				r = cairn_error_errno(
				    err, errno, "storing blob %s in %s/blobs/sha256", got, s->root);
				goto out;
			}
		}
	} else {
		r = link_tmpfile(w, hex);
		if (r == -EEXIST)
			r = 0;
		if (r < 0) {
			r = cairn_error_errno(err, -r, "storing blob %s in %s/blobs/sha256", got,
					      s->root);
			goto out;
		}
	}
	if (fsync(s->blobs_fd) < 0) {
		r = cairn_error_errno(err, errno, "storing blob %s: syncing %s/blobs/sha256", got,
				      s->root);
		goto out;
	}
	if (digest)
		memcpy(digest, got, DIGEST_LEN);
	if (size)
		*size = w->size;
out:
	store_blob_abort(w);
	return r;
}

int store_put_blob(struct store *s, const void *data, size_t len, char digest[DIGEST_LEN],
		   struct cairn_error *err)
{
	/* a blob that is there already is not written again (an unchanged rebuild
	 * writes nothing) */
	sha256_digest(data, len, digest);
	if (store_has_blob(s, digest))
		return 0;
	struct blob_writer *w = NULL;
	int r = store_blob_begin(s, &w, err);
	if (r < 0)
		return r;
	r = store_blob_write(w, data, len, err);
	if (r < 0) {
		store_blob_abort(w);
		return r;
	}
	return store_blob_commit(w, NULL, digest, NULL, err);
}

static int check_digest(const char *digest, const char *what, struct cairn_error *err)
{
	if (!digest_valid(digest))
		return cairn_error_set(err, EINVAL,
				       "%s '%s': not a sha256 digest (sha256:<64 hex>)", what,
				       digest ? digest : "(null)");
	return 0;
}

bool store_has_blob(struct store *s, const char *digest)
{
	if (!digest_valid(digest))
		return false;
	struct stat st;
	return fstatat(s->blobs_fd, digest_hex(digest), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	       S_ISREG(st.st_mode);
}

int store_open_blob(struct store *s, const char *digest, int *fd, struct cairn_error *err)
{
	int r = check_digest(digest, "opening blob", err);
	if (r < 0)
		return r;
	int f = openat(s->blobs_fd, digest_hex(digest), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (f < 0) {
		if (errno == ENOENT)
			return cairn_error_set(err, ENOENT, "blob %s is not in the store %s",
					       digest, s->root);
		return cairn_error_errno(err, errno, "opening blob %s", digest);
	}
	*fd = f;
	return 0;
}

int store_read_blob(struct store *s, const char *digest, char **out, size_t *len,
		    struct cairn_error *err)
{
	cleanup_close int fd = -1;
	int r = store_open_blob(s, digest, &fd, err);
	if (r < 0)
		return r;
	cleanup_free char *buf = NULL;
	size_t n = 0;
	r = util_read_fd(fd, &buf, &n);
	if (r < 0)
		return cairn_error_errno(err, -r, "reading blob %s", digest);
	char got[DIGEST_LEN];
	sha256_digest(buf, n, got);
	if (strcmp(got, digest) != 0)
		return cairn_error_set(
		    err, EBADMSG, "reading blob %s: content has digest %s (the store is corrupt)",
		    digest, got);
	*out = steal_pointer(&buf);
	if (len)
		*len = n;
	return 0;
}

int store_blob_size(struct store *s, const char *digest, uint64_t *size, struct cairn_error *err)
{
	int r = check_digest(digest, "sizing blob", err);
	if (r < 0)
		return r;
	struct stat st;
	if (fstatat(s->blobs_fd, digest_hex(digest), &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return cairn_error_set(err, ENOENT, "blob %s is not in the store %s",
					       digest, s->root);
		return cairn_error_errno(err, errno, "reading the size of blob %s", digest);
	}
	*size = (uint64_t)st.st_size;
	return 0;
}

/* ---- tags ---- */

void store_tag_release(struct store_tag *t)
{
	if (!t)
		return;
	free(t->ref);
	free(t->digest);
	free(t->media_type);
	memset(t, 0, sizeof *t);
}

void store_tags_free(struct store_tag *t, size_t n)
{
	for (size_t i = 0; t && i < n; i++)
		store_tag_release(&t[i]);
	free(t);
}

/* Reads and parses index.json. Readers need no lock: writers replace it by rename. */
static int read_index(struct store *s, json_t **out, struct cairn_error *err)
{
	cleanup_free char *buf = NULL;
	size_t len = 0;
	int r = util_read_file(s->dirfd, "index.json", &buf, &len, err);
	if (r < 0)
		return cairn_error_wrap(err, "reading the tags of %s", s->root);
	json_error_t jerr;
	cleanup_json json_t *j = json_loadb(buf, len, 0, &jerr);
	if (!j)
		return cairn_error_set(err, EBADMSG, "parsing %s/index.json: line %d: %s", s->root,
				       jerr.line, jerr.text);
	if (!json_is_object(j) || !json_is_array(json_object_get(j, "manifests")))
		return cairn_error_set(
		    err, EBADMSG,
		    "parsing %s/index.json: not an OCI index (no \"manifests\" array)", s->root);
	*out = steal_pointer(&j);
	return 0;
}

static int write_index(struct store *s, const json_t *index, struct cairn_error *err)
{
	/* Not canonical: keeps the order of what other tools wrote. */
	cleanup_free char *text = json_dumps(index, JSON_COMPACT | JSON_ENCODE_ANY);
	if (!text)
		return cairn_error_set(err, ENOMEM, "serialising %s/index.json", s->root);
	int r = util_write_file_atomic(s->dirfd, "index.json", text, strlen(text), err);
	if (r < 0)
		return cairn_error_wrap(err, "updating the tags of %s", s->root);
	return 0;
}

/* The ref name of a descriptor, or NULL. */
static const char *desc_ref(json_t *desc)
{
	return json_string_value(
	    json_object_get(json_object_get(desc, "annotations"), ANNOTATION_REF_NAME));
}

/* Whether a ref name read from index.json names ref (a normalized reference): other
 * tools write short names ("skopeo copy … oci:ROOT:app" writes "app" for app:latest). */
static bool ref_name_matches(const char *name, const char *ref)
{
	if (!name)
		return false;
	if (!strcmp(name, ref))
		return true;
	cleanup_free char *norm = NULL;
	struct cairn_error e = CAIRN_ERROR_INIT;
	bool match = ref_local_name(name, &norm, &e) == 0 && !strcmp(norm, ref);
	cairn_error_clear(&e);
	return match;
}

static int tag_from_desc(struct store *s, json_t *desc, const char *ref, struct store_tag *out,
			 struct cairn_error *err)
{
	const char *digest = json_string_value(json_object_get(desc, "digest"));
	const char *mt = json_string_value(json_object_get(desc, "mediaType"));
	json_t *size = json_object_get(desc, "size");
	if (!digest || !json_is_integer(size))
		return cairn_error_set(
		    err, EBADMSG,
		    "parsing %s/index.json: the descriptor of %s has no digest or size", s->root,
		    ref);
	out->ref = xstrdup(ref);
	out->digest = xstrdup(digest);
	out->media_type = xstrdup(mt ? mt : MEDIA_TYPE_OCI_MANIFEST);
	out->size = (int64_t)json_integer_value(size);
	return 0;
}

int store_tag_set(struct store *s, const struct store_tag *t, struct cairn_error *err)
{
	if (!t->ref || !*t->ref)
		return cairn_error_set(err, EINVAL, "tagging: empty reference");
	if (!digest_valid(t->digest))
		return cairn_error_set(err, EINVAL, "tagging %s: '%s' is not a sha256 digest",
				       t->ref, t->digest ? t->digest : "(null)");
	if (t->size < 0)
		return cairn_error_set(err, EINVAL, "tagging %s: negative size", t->ref);

	cleanup_close int lock = -1;
	int r = need_write(s, "tagging", err);
	if (r < 0)
		return cairn_error_wrap(err, "%s", t->ref);
	r = lock_index(s, &lock, err);
	if (r < 0)
		return cairn_error_wrap(err, "tagging %s", t->ref);
	cleanup_json json_t *index = NULL;
	r = read_index(s, &index, err);
	if (r < 0)
		return cairn_error_wrap(err, "tagging %s", t->ref);

	json_t *desc =
	    json_pack("{s:s, s:s, s:I, s:{s:s}}", "mediaType",
		      t->media_type ? t->media_type : MEDIA_TYPE_OCI_MANIFEST, "digest", t->digest,
		      "size", (json_int_t)t->size, "annotations", ANNOTATION_REF_NAME, t->ref);
	if (!desc)
		return cairn_error_set(err, ENOMEM, "tagging %s", t->ref);
	json_t *manifests = json_object_get(index, "manifests");
	/* already so (and once): nothing to write */
	size_t same = 0, named = 0;
	for (size_t i = 0; i < json_array_size(manifests); i++) {
		json_t *m = json_array_get(manifests, i);
		if (ref_name_matches(desc_ref(m), t->ref)) {
			named++;
			same += json_equal(m, desc);
		}
	}
	if (named == 1 && same == 1) {
		json_decref(desc);
		return 0;
	}
	bool placed = false;
	for (size_t i = 0; i < json_array_size(manifests);) {
		const char *ref = desc_ref(json_array_get(manifests, i));
		if (!ref_name_matches(ref, t->ref)) {
			i++;
			continue;
		}
		if (!placed) {
			/* in place, so that listing order stays stable */
			json_array_set(manifests, i, desc);
			placed = true;
			i++;
		} else {
			json_array_remove(manifests, i); /* a duplicate another tool left */
		}
	}
	if (!placed)
		json_array_append(manifests, desc);
	json_decref(desc);
	return write_index(s, index, err);
}

int store_tag_get(struct store *s, const char *ref, struct store_tag *out, struct cairn_error *err)
{
	cleanup_json json_t *index = NULL;
	int r = read_index(s, &index, err);
	if (r < 0)
		return r;
	json_t *manifests = json_object_get(index, "manifests");
	size_t i;
	json_t *desc;
	json_array_foreach(manifests, i, desc)
	{
		const char *name = desc_ref(desc);
		if (name && strcmp(name, ref) == 0)
			return tag_from_desc(s, desc, ref, out, err);
	}
	/* then a short name another tool wrote, when there is no exact one */
	json_array_foreach(manifests, i, desc)
	{
		if (ref_name_matches(desc_ref(desc), ref))
			return tag_from_desc(s, desc, ref, out, err);
	}
	return cairn_error_set(err, ENOENT, "%s: no such image in %s", ref, s->root);
}

int store_tag_remove(struct store *s, const char *ref, struct cairn_error *err)
{
	cleanup_close int lock = -1;
	int r = need_write(s, "untagging", err);
	if (r < 0)
		return cairn_error_wrap(err, "%s", ref);
	r = lock_index(s, &lock, err);
	if (r < 0)
		return cairn_error_wrap(err, "untagging %s", ref);
	cleanup_json json_t *index = NULL;
	r = read_index(s, &index, err);
	if (r < 0)
		return cairn_error_wrap(err, "untagging %s", ref);
	json_t *manifests = json_object_get(index, "manifests");
	bool found = false;
	for (size_t i = 0; i < json_array_size(manifests);) {
		const char *name = desc_ref(json_array_get(manifests, i));
		if (ref_name_matches(name, ref)) {
			json_array_remove(manifests, i);
			found = true;
		} else {
			i++;
		}
	}
	if (!found)
		return cairn_error_set(err, ENOENT, "untagging %s: no such image in %s", ref,
				       s->root);
	return write_index(s, index, err);
}

int store_tag_list(struct store *s, struct store_tag **out, size_t *n, struct cairn_error *err)
{
	cleanup_json json_t *index = NULL;
	int r = read_index(s, &index, err);
	if (r < 0)
		return r;
	json_t *manifests = json_object_get(index, "manifests");
	struct store_tag *tags = xcalloc(json_array_size(manifests) + 1, sizeof *tags);
	size_t count = 0;
	size_t i;
	json_t *desc;
	json_array_foreach(manifests, i, desc)
	{
		const char *ref = desc_ref(desc);
		if (!ref)
			continue;
		r = tag_from_desc(s, desc, ref, &tags[count], err);
		if (r < 0) {
			store_tags_free(tags, count);
			return r;
		}
		count++;
	}
	*out = tags;
	*n = count;
	return 0;
}

/* ---- build cache records ---- */

int store_cache_get(struct store *s, const char *key, char **json, struct cairn_error *err)
{
	int r = check_digest(key, "reading cache record", err);
	if (r < 0)
		return r;
	if (s->cache_fd < 0)
		return cairn_error_set(err, ENOENT, "no cache record for %s", key);
	r = util_read_file(s->cache_fd, digest_hex(key), json, NULL, err);
	if (r == -ENOENT)
		return cairn_error_set(err, ENOENT, "no cache record for %s", key);
	if (r < 0)
		return cairn_error_wrap(err, "reading cache record %s", key);
	return 0;
}

int store_cache_put(struct store *s, const char *key, const char *json, struct cairn_error *err)
{
	int r = check_digest(key, "writing cache record", err);
	if (r < 0 || (r = need_write(s, "writing a cache record", err)) < 0)
		return r;
	r = util_write_file_atomic(s->cache_fd, digest_hex(key), json, strlen(json), err);
	if (r < 0)
		return cairn_error_wrap(err, "writing cache record %s", key);
	return 0;
}

/* ---- context stat caches ---- */

int store_stat_cache_read(struct store *s, const char *key, size_t max, char **data, size_t *len,
			  struct cairn_error *err)
{
	int r = check_digest(key, "reading a context stat cache", err);
	if (r < 0)
		return r;
	if (s->contexts_fd < 0)
		return cairn_error_set(err, ENOENT, "no context stat cache %s", key);
	cleanup_close int fd =
	    openat(s->contexts_fd, digest_hex(key), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return cairn_error_errno(err, errno, "reading context stat cache %s", key);
	/* bounded before anything is allocated: a cache is never worth much memory */
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > max)
		return cairn_error_set(
		    err, EFBIG, "context stat cache %s: not a file of at most %zu bytes", key, max);
	size_t want = (size_t)st.st_size, got = 0;
	cleanup_free char *buf = xmalloc(want + 1);
	while (got < want) {
		ssize_t n = read(fd, buf + got, want - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return cairn_error_errno(err, errno, "reading context stat cache %s", key);
		if (n == 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	*len = got;
	*data = steal_pointer(&buf);
	return 0;
}

struct cache_file {
	char *name;
	struct timespec mtime;
};

static int cmp_cache_file_age(const void *a, const void *b)
{
	const struct cache_file *x = a, *y = b;
	if (x->mtime.tv_sec != y->mtime.tv_sec)
		return x->mtime.tv_sec < y->mtime.tv_sec ? 1 : -1;
	return x->mtime.tv_nsec < y->mtime.tv_nsec   ? 1
	       : x->mtime.tv_nsec > y->mtime.tv_nsec ? -1
						     : 0;
}

/* Keeps cairn/contexts bounded: the STORE_STAT_CACHES most recently written caches
 * stay, older ones (and temp files a crash left an hour ago) go. Best effort. */
static void prune_stat_caches(struct store *s)
{
	int fd = openat(s->contexts_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	struct cache_file *files = NULL;
	size_t n = 0, alloc = 0;
	time_t now = time(NULL);
	struct dirent *de;
	while ((de = readdir(d))) {
		struct stat st;
		if (de->d_name[0] == '.' ||
		    fstatat(s->contexts_fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (strstr(de->d_name, ".tmp.")) {
			if (st.st_mtime < now - 3600)
				unlinkat(s->contexts_fd, de->d_name, 0);
			continue;
		}
		if (n == alloc) {
			alloc = alloc ? alloc * 2 : 64;
			files = xrealloc(files, alloc * sizeof *files);
		}
		files[n++] = (struct cache_file){xstrdup(de->d_name), st.st_mtim};
	}
	closedir(d);
	if (n > STORE_STAT_CACHES)
		qsort(files, n, sizeof *files, cmp_cache_file_age);
	for (size_t i = 0; i < n; i++) {
		if (i >= STORE_STAT_CACHES)
			unlinkat(s->contexts_fd, files[i].name, 0);
		free(files[i].name);
	}
	free(files);
}

int store_stat_cache_write(struct store *s, const char *key, const void *data, size_t len,
			   struct cairn_error *err)
{
	int r = check_digest(key, "writing a context stat cache", err);
	if (r < 0 || (r = need_write(s, "writing a context stat cache", err)) < 0)
		return r;
	r = util_write_file_atomic(s->contexts_fd, digest_hex(key), data, len, err);
	if (r < 0)
		return cairn_error_wrap(err, "writing context stat cache %s", key);
	prune_stat_caches(s);
	return 0;
}

/* ---- unpacked layer dirs ---- */

/* Layer dirs are not synced to disk when they are adopted (a syncfs waits for every
 * dirty page of the filesystem, other processes' too: seconds to minutes on a busy CI
 * machine). Instead each carries a marker, cairn/layers/<hex>.boot, holding the boot
 * id it was made in. Until the machine restarts the page cache is the truth; after a
 * restart a tree whose data may not have reached the disk is dropped and unpacked
 * again from its blob, which is synced. A tree without a marker predates this rule. */
static char *current_boot_id(void)
{
	cleanup_free char *id = NULL;
	size_t len = 0;
	if (util_read_file(AT_FDCWD, "/proc/sys/kernel/random/boot_id", &id, &len, NULL) < 0)
		return xstrdup("unknown");
	id[strcspn(id, "\n")] = '\0';
	return steal_pointer(&id);
}

/* True when the tree hex was made before the last restart of the machine. */
static bool layer_dir_stale(struct store *s, const char *hex)
{
	cleanup_free char *marker = xasprintf("%s.boot", hex);
	cleanup_free char *id = NULL;
	size_t len = 0;
	struct cairn_error e = CAIRN_ERROR_INIT;
	if (util_read_file(s->layers_fd, marker, &id, &len, &e) < 0) {
		cairn_error_clear(&e);
		return false;
	}
	id[strcspn(id, "\n")] = '\0';
	cleanup_free char *now = current_boot_id();
	return strcmp(id, now) != 0;
}

/* Moves a stale tree out of the way (atomically) and deletes it. */
static void drop_layer_dir(struct store *s, const char *hex)
{
	cleanup_free char *tmp = NULL;
	if (store_mkdtemp(s, "stale-", &tmp, NULL) < 0)
		return;
	cleanup_free char *dst = xasprintf("%s/tree", tmp);
	if (renameat(s->layers_fd, hex, AT_FDCWD, dst) == 0) {
		cleanup_free char *marker = xasprintf("%s.boot", hex);
		unlinkat(s->layers_fd, marker, 0);
	}
	util_rm_rf(AT_FDCWD, tmp, NULL);
}

int store_layer_dir(struct store *s, const char *diff_id, char **path, struct cairn_error *err)
{
	int r = check_digest(diff_id, "looking up layer dir", err);
	if (r < 0)
		return r;
	if (s->layers_fd < 0)
		return cairn_error_set(err, ENOENT, "layer %s is not unpacked in %s", diff_id,
				       s->root);
	struct stat st;
	if (fstatat(s->layers_fd, digest_hex(diff_id), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    layer_dir_stale(s, digest_hex(diff_id)))
		drop_layer_dir(s, digest_hex(diff_id));
	if (fstatat(s->layers_fd, digest_hex(diff_id), &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return cairn_error_set(err, ENOENT, "layer %s is not unpacked in %s",
					       diff_id, s->root);
		return cairn_error_errno(err, errno, "looking up the unpacked layer %s", diff_id);
	}
	if (!S_ISDIR(st.st_mode))
		return cairn_error_set(err, ENOTDIR, "%s/cairn/layers/%s: not a directory", s->root,
				       digest_hex(diff_id));
	*path = xasprintf("%s/cairn/layers/%s", s->root, digest_hex(diff_id));
	return 0;
}

/* No "complete" marker is needed: callers fill a private dir under cairn/tmp and hand it
 * over only once it is complete, and a directory rename is atomic, so cairn/layers/<hex>
 * either does not exist or is whole. A crash mid-extraction leaves only a tmp dir
 * behind (for gc). A power cut is what the boot marker (above) is for: it is written
 * and synced before the rename, so a tree that reached the disk has one. */
int store_layer_dir_adopt(struct store *s, const char *diff_id, const char *tmp_path,
			  struct cairn_error *err)
{
	int r = check_digest(diff_id, "adopting layer dir", err);
	if (r < 0 || (r = need_write(s, "adopting a layer dir", err)) < 0)
		return r;
	const char *hex = digest_hex(diff_id);
	cleanup_free char *marker = xasprintf("%s.boot", hex);
	cleanup_free char *boot = current_boot_id();
	struct stat st;
	/* a tree already in place keeps its marker */
	if (fstatat(s->layers_fd, hex, &st, AT_SYMLINK_NOFOLLOW) < 0 &&
	    (r = util_write_file_atomic(s->layers_fd, marker, boot, strlen(boot), err)) < 0)
		return cairn_error_wrap(err, "adopting layer %s", diff_id);
	/* RENAME_NOREPLACE: an existing (possibly empty, possibly mounted) tree is never
	 * replaced; the first process to get there wins. */
	r = renameat2(AT_FDCWD, tmp_path, s->layers_fd, hex, RENAME_NOREPLACE);
	if (r < 0 && errno == EINVAL)
		r = renameat(AT_FDCWD, tmp_path, s->layers_fd, hex);
	if (r == 0)
		return 0;
	if (errno != EEXIST && errno != ENOTEMPTY)
		return cairn_error_errno(err, errno, "moving %s to %s/cairn/layers/%s", tmp_path,
					 s->root, hex);
	/* Another process won: the tree is the same (same diff_id), drop ours. */
	r = util_rm_rf(AT_FDCWD, tmp_path, err);
	if (r < 0)
		return cairn_error_wrap(err, "adopting layer %s: removing the duplicate", diff_id);
	return 0;
}

/* ---- temp space ---- */

int store_mkdtemp(struct store *s, const char *prefix, char **path, struct cairn_error *err)
{
	if (!prefix)
		prefix = "";
	if (strchr(prefix, '/'))
		return cairn_error_set(err, EINVAL, "creating a temp dir: prefix '%s' contains '/'",
				       prefix);
	int r = need_write(s, "creating a temp dir", err);
	if (r < 0 || (r = proc_dir(s, err)) < 0)
		return r;
	cleanup_free char *tmpl = xasprintf("%s/%sXXXXXX", s->proc_dir, prefix);
	if (!mkdtemp(tmpl))
		return cairn_error_errno(err, errno, "creating a temp dir in %s/cairn/tmp",
					 s->root);
	*path = steal_pointer(&tmpl);
	return 0;
}
