/* store: blobs, named by the digest of their content: written to a temp file,
 * hashed while written, synced, then linked (or renamed) into blobs/sha256. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct blob_writer {
	struct store *s;
	int fd;
	char *tmp_name; /* named temp in cairn/tmp; NULL for an O_TMPFILE */
	struct sha256 h;
	uint64_t size;
};

int store_blob_begin(struct store *s, struct blob_writer **out, struct cairn_error *err)
{
	int r = store_need_write(s, "storing a blob", err);
	if (r < 0)
		return r;
	struct blob_writer *w = xcalloc(1, sizeof *w);
	w->s = s;
	/* An O_TMPFILE leaves nothing behind when we crash; not every filesystem has it. */
	w->fd = openat(s->tmp_fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0644);
	if (w->fd < 0) {
		r = store_tmp_file(s, &w->tmp_name, err);
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
	cleanup_close int fd = store_tmp_file(s, &name, &ignored);
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
	bool locked = false;

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
	/* leased before it has a name: no gc takes it before its tag or record does */
	locked = store_lease_begin(s, got);
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
	store_lease_end(s, locked);
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

bool store_has_blob(struct store *s, const char *digest)
{
	if (!digest_valid(digest))
		return false;
	/* asking is the start of using it: leased first, then looked for */
	bool locked = store_lease_begin(s, digest);
	struct stat st;
	bool has = fstatat(s->blobs_fd, digest_hex(digest), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		   S_ISREG(st.st_mode);
	store_lease_end(s, locked);
	return has;
}

int store_open_blob(struct store *s, const char *digest, int *fd, struct cairn_error *err)
{
	int r = store_check_digest(digest, "opening blob", err);
	if (r < 0)
		return r;
	bool locked = store_lease_begin(s, digest);
	int f = openat(s->blobs_fd, digest_hex(digest), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	int e = errno;
	store_lease_end(s, locked);
	errno = e;
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

int store_copy_blob(struct store *dst, struct store *src, const char *digest, bool link,
		    struct cairn_error *err)
{
	int r = store_check_digest(digest, "copying blob", err);
	if (r == 0)
		r = store_need_write(dst, "copying a blob", err);
	if (r < 0 || store_has_blob(dst, digest))
		return r;
	const char *hex = digest_hex(digest);
	/* a link of a complete blob appears whole, as a commit's does; leased in both
	 * stores (has_blob leased it in dst) */
	if (link) {
		bool locked = store_lease_begin(src, digest);
		bool linked =
		    linkat(src->blobs_fd, hex, dst->blobs_fd, hex, 0) == 0 || errno == EEXIST;
		store_lease_end(src, locked);
		if (linked)
			return 0;
		/* else copied (another filesystem, say) */
	}
	cleanup_close int fd = -1;
	if ((r = store_open_blob(src, digest, &fd, err)) < 0)
		return r;
	struct blob_writer *w = NULL;
	if ((r = store_blob_begin(dst, &w, err)) < 0)
		return r;
	static __thread char *buf;
	if (!buf)
		buf = xmalloc(1 << 20);
	for (;;) {
		if (util_interrupted) {
			store_blob_abort(w);
			return cairn_error_set(err, EINTR, "copying blob %s: interrupted", digest);
		}
		ssize_t n = read(fd, buf, 1 << 20);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			store_blob_abort(w);
			return cairn_error_errno(err, errno, "reading blob %s", digest);
		}
		if (n == 0)
			break;
		if ((r = store_blob_write(w, buf, (size_t)n, err)) < 0) {
			store_blob_abort(w);
			return r;
		}
	}
	return store_blob_commit(w, digest, NULL, NULL, err);
}

int store_blob_size(struct store *s, const char *digest, uint64_t *size, struct cairn_error *err)
{
	int r = store_check_digest(digest, "sizing blob", err);
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
