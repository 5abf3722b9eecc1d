/* A layer's tar entries read as records: one streaming pass through libarchive
 * (whatever the blob's compression), each regular file's content hashed as it
 * passes and never kept. Beside libarchive, a small scanner walks the same
 * uncompressed bytes header by header, for the one thing libarchive does not keep:
 * the header's raw mode field (libarchive replaces its file type bits with the type
 * flag's), and each entry's own header format (libarchive's stays pax once it met
 * a pax header). And the differing files written into a report directory, beneath it. */
#include "internal.h"

#include "../fs/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#define READ_BLOCK_SIZE (1024 * 1024)
/* A pax header's records larger than this are not read by the scanner (it stops). */
#define PAX_MAX (1024 * 1024)

/* ---- the header scanner ---- */

/* What the scanner knows of an entry that libarchive does not say. */
struct scanned {
	uint32_t mode; /* the header's mode field, as it is */
	int format;    /* ARCHIVE_FORMAT_TAR_*: of this entry's own headers */
};

struct scanner {
	bool broken;   /* lost its way (or met what it does not follow): modes unknown */
	uint64_t skip; /* bytes of entry data still to pass */
	unsigned char hdr[512];
	size_t fill;
	/* the pax records of an 'x' header being read, for a size that overrides the
	 * next header's */
	char *pax;
	size_t pax_len, pax_want;
	int64_t pax_size; /* -1: none */
	bool pax_seen;	  /* an 'x' header came since the last entry's */
	/* the entries' headers seen but not yet handed out */
	struct scanned *modes;
	size_t head, n, alloc;
};

static uint64_t octal_field(const unsigned char *p, size_t len, bool *ok)
{
	if (p[0] & 0x80) { /* base-256 (GNU, star) */
		uint64_t v = p[0] & 0x3f;
		for (size_t i = 1; i < len; i++)
			v = (v << 8) | p[i];
		return v;
	}
	uint64_t v = 0;
	size_t i = 0;
	while (i < len && p[i] == ' ')
		i++;
	for (; i < len && p[i] >= '0' && p[i] <= '7'; i++)
		v = v * 8 + (uint64_t)(p[i] - '0');
	if (i < len && p[i] != ' ' && p[i] != 0)
		*ok = false;
	return v;
}

static bool header_checksum_ok(const unsigned char *h)
{
	bool ok = true;
	uint64_t want = octal_field(h + 148, 8, &ok);
	uint64_t sum = 0;
	for (size_t i = 0; i < 512; i++)
		sum += (i >= 148 && i < 156) ? ' ' : h[i];
	return ok && sum == want;
}

static void pax_size(struct scanner *sc)
{
	const char *p = sc->pax, *end = sc->pax + sc->pax_len;
	while (p < end) {
		char *sp;
		unsigned long long rec = strtoull(p, &sp, 10);
		if (rec == 0 || sp >= end || *sp != ' ' || rec > (unsigned long long)(end - p)) {
			sc->broken = true;
			return;
		}
		const char *kv = sp + 1, *rend = p + rec;
		if (rend - kv > 5 && !strncmp(kv, "size=", 5))
			sc->pax_size = strtoll(kv + 5, NULL, 10);
		p = rend;
	}
}

static void scan_header(struct scanner *sc)
{
	static const unsigned char zero[512];
	if (!memcmp(sc->hdr, zero, 512))
		return; /* the end blocks */
	if (!header_checksum_ok(sc->hdr)) {
		sc->broken = true;
		return;
	}
	bool ok = true;
	uint64_t size = octal_field(sc->hdr + 124, 12, &ok);
	uint32_t mode = (uint32_t)octal_field(sc->hdr + 100, 8, &ok);
	if (!ok) {
		sc->broken = true;
		return;
	}
	char flag = (char)sc->hdr[156];
	switch (flag) {
	case 'x':
		if (size > PAX_MAX) {
			sc->broken = true;
			return;
		}
		sc->pax_want = size;
		sc->pax_len = 0;
		sc->pax_seen = true;
		sc->pax = xrealloc(sc->pax, size + 1);
		sc->skip = (size + 511) / 512 * 512;
		return;
	case 'g':
	case 'L':
	case 'K':
		sc->skip = (size + 511) / 512 * 512;
		return;
	case 'S': /* old GNU sparse: extension headers the scanner does not follow */
	case 'M':
	case 'V':
		sc->broken = true;
		return;
	}
	if (sc->pax_size >= 0)
		size = (uint64_t)sc->pax_size;
	sc->pax_size = -1;
	/* links, devices, directories and fifos carry no data */
	if (flag >= '1' && flag <= '6')
		size = 0;
	sc->skip = (size + 511) / 512 * 512;
	if (sc->n == sc->alloc) {
		if (sc->head) {
			memmove(sc->modes, sc->modes + sc->head,
				(sc->n - sc->head) * sizeof *sc->modes);
			sc->n -= sc->head;
			sc->head = 0;
		}
		if (sc->n == sc->alloc) {
			sc->alloc = sc->alloc ? sc->alloc * 2 : 64;
			sc->modes = xrealloc(sc->modes, sc->alloc * sizeof *sc->modes);
		}
	}
	/* libarchive's archive_format() stays pax once it met a pax header: the
	 * entry's own headers say what it is */
	int format = ARCHIVE_FORMAT_TAR;
	if (sc->pax_seen)
		format = ARCHIVE_FORMAT_TAR_PAX_INTERCHANGE;
	else if (!memcmp(sc->hdr + 257,
			 "ustar\0"
			 "00",
			 8))
		format = ARCHIVE_FORMAT_TAR_USTAR;
	else if (!memcmp(sc->hdr + 257, "ustar  \0", 8))
		format = ARCHIVE_FORMAT_TAR_GNUTAR;
	sc->pax_seen = false;
	sc->modes[sc->n++] = (struct scanned){mode, format};
}

static void scan_bytes(struct scanner *sc, const unsigned char *p, size_t len)
{
	while (len && !sc->broken) {
		if (sc->skip) {
			size_t take = sc->skip < len ? (size_t)sc->skip : len;
			if (sc->pax_want) {
				size_t keep = sc->pax_want - sc->pax_len;
				if (keep > take)
					keep = take;
				memcpy(sc->pax + sc->pax_len, p, keep);
				sc->pax_len += keep;
				if (sc->pax_len == sc->pax_want) {
					sc->pax_want = 0;
					pax_size(sc);
				}
			}
			sc->skip -= take;
			p += take;
			len -= take;
			continue;
		}
		size_t take = 512 - sc->fill < len ? 512 - sc->fill : len;
		memcpy(sc->hdr + sc->fill, p, take);
		sc->fill += take;
		p += take;
		len -= take;
		if (sc->fill == 512) {
			sc->fill = 0;
			scan_header(sc);
		}
	}
}

/* What the scanner saw of the next entry, checked against what libarchive says;
 * false when unknown. */
static bool scan_next(struct scanner *sc, mode_t perm, struct scanned *out)
{
	if (sc->broken || sc->head == sc->n)
		return false;
	struct scanned m = sc->modes[sc->head++];
	if ((m.mode & 07777) != (perm & 07777)) {
		sc->broken = true; /* out of step: trust libarchive alone from here */
		return false;
	}
	*out = m;
	return true;
}

static void scanner_release(struct scanner *sc)
{
	free(sc->pax);
	free(sc->modes);
}

/* ---- the stream: a raw reader decompresses, the tar reader reads through us ---- */

struct stream {
	struct archive *raw;
	struct scanner sc;
	char *buf;
};

static la_ssize_t stream_read(struct archive *a, void *ud, const void **out)
{
	struct stream *st = ud;
	la_ssize_t n = archive_read_data(st->raw, st->buf, READ_BLOCK_SIZE);
	if (n < 0) {
		archive_set_error(a, archive_errno(st->raw) > 0 ? archive_errno(st->raw) : EIO,
				  "%s", archive_error_string(st->raw));
		return -1;
	}
	scan_bytes(&st->sc, (const unsigned char *)st->buf, (size_t)n);
	*out = st->buf;
	return n;
}

struct reader {
	struct stream st;
	struct archive *tar;
	locale_t utf8, old;
};

static void reader_close(struct reader *r)
{
	if (r->tar)
		archive_read_free(r->tar);
	if (r->st.raw)
		archive_read_free(r->st.raw);
	free(r->st.buf);
	scanner_release(&r->st.sc);
	if (r->utf8) {
		uselocale(r->old);
		freelocale(r->utf8);
	}
}

/* Opens the blob fd as a tar stream of any compression libarchive reads. Names are
 * read under a UTF-8 locale (pax names are UTF-8; other bytes pass as they are). */
static int reader_open(struct reader *r, int fd, const char *what, struct cairn_error *err)
{
	memset(r, 0, sizeof *r);
	r->st.sc.pax_size = -1;
	r->utf8 = newlocale(LC_ALL_MASK, "C.UTF-8", (locale_t)0);
	if (r->utf8)
		r->old = uselocale(r->utf8);
	r->st.buf = xmalloc(READ_BLOCK_SIZE);
	r->st.raw = archive_read_new();
	r->tar = archive_read_new();
	if (!r->st.raw || !r->tar)
		return cairn_error_set(err, ENOMEM, "reading layer %s: creating a reader", what);
	archive_read_support_filter_all(r->st.raw);
	archive_read_support_format_raw(r->st.raw);
	struct archive_entry *e;
	if (archive_read_open_fd(r->st.raw, fd, READ_BLOCK_SIZE) != ARCHIVE_OK ||
	    archive_read_next_header(r->st.raw, &e) != ARCHIVE_OK)
		return cairn_error_set(
		    err, archive_errno(r->st.raw) > 0 ? archive_errno(r->st.raw) : EINVAL,
		    "reading layer %s: %s", what, archive_error_string(r->st.raw));
	archive_read_support_format_tar(r->tar);
	if (archive_read_open(r->tar, &r->st, NULL, stream_read, NULL) != ARCHIVE_OK)
		return cairn_error_set(err,
				       archive_errno(r->tar) > 0 ? archive_errno(r->tar) : EINVAL,
				       "reading layer %s: %s", what, archive_error_string(r->tar));
	return 0;
}

/* The next header: 1, 0 at the end, or a negative error. */
static int reader_next(struct reader *r, struct archive_entry **e, const char *what,
		       struct cairn_error *err)
{
	for (;;) {
		if (util_interrupted)
			return cairn_error_set(err, EINTR, "reading layer %s: interrupted", what);
		int ar = archive_read_next_header(r->tar, e);
		if (ar == ARCHIVE_EOF)
			return 0;
		if (ar == ARCHIVE_RETRY)
			continue;
		if (ar < ARCHIVE_WARN)
			return cairn_error_set(
			    err, archive_errno(r->tar) > 0 ? archive_errno(r->tar) : EINVAL,
			    "reading layer %s: %s", what, archive_error_string(r->tar));
		return 1;
	}
}

/* ---- records ---- */

static char *xattr_text(const void *value, size_t size)
{
	const unsigned char *v = value;
	bool printable = true;
	for (size_t i = 0; i < size; i++)
		if (v[i] < 0x20 || v[i] > 0x7e)
			printable = false;
	/* a trailing NUL is common in text values (security.selinux) */
	if (!printable && size > 0 && v[size - 1] == 0) {
		printable = true;
		for (size_t i = 0; i + 1 < size; i++)
			if (v[i] < 0x20 || v[i] > 0x7e)
				printable = false;
		if (printable)
			return xasprintf("%.*s\\0", (int)(size - 1), (const char *)v);
	}
	if (printable)
		return xstrndup(value, size);
	struct strbuf sb = STRBUF_INIT;
	strbuf_addstr(&sb, "0x");
	for (size_t i = 0; i < size; i++)
		strbuf_addf(&sb, "%02x", v[i]);
	return strbuf_detach(&sb);
}

static int cmp_xattr(const void *x, const void *y)
{
	return strcmp(((const struct diff_xattr *)x)->name, ((const struct diff_xattr *)y)->name);
}

/* The canonical name: "/" and the cleaned path ("./a/" and "a" are "/a"). */
static char *canonical_name(const char *name)
{
	return fs_clean_path(name, FS_CLEAN_IN_ROOT_ABS);
}

/* Hashes the entry's content (holes of a sparse file read as zeros). */
static int hash_content(struct reader *r, struct diff_entry *de, const char *what,
			struct cairn_error *err)
{
	struct sha256 h;
	sha256_init(&h);
	static const char zeros[4096];
	int64_t at = 0;
	for (;;) {
		const void *buf;
		size_t size;
		la_int64_t offset;
		int ar = archive_read_data_block(r->tar, &buf, &size, &offset);
		if (ar == ARCHIVE_EOF)
			break;
		if (ar < ARCHIVE_WARN) {
			sha256_abort(&h);
			return cairn_error_set(
			    err, archive_errno(r->tar) > 0 ? archive_errno(r->tar) : EIO,
			    "reading layer %s: %s: %s", what, de->name,
			    archive_error_string(r->tar));
		}
		while (at < offset) {
			size_t n = offset - at < (int64_t)sizeof zeros ? (size_t)(offset - at)
								       : sizeof zeros;
			sha256_update(&h, zeros, n);
			at += (int64_t)n;
		}
		sha256_update(&h, buf, size);
		at += (int64_t)size;
	}
	while ((uint64_t)at < de->size) {
		size_t n = de->size - (uint64_t)at < sizeof zeros
			       ? (size_t)(de->size - (uint64_t)at)
			       : sizeof zeros;
		sha256_update(&h, zeros, n);
		at += (int64_t)n;
	}
	sha256_final(&h, de->sha256);
	return 0;
}

static void fill_entry(struct reader *r, struct archive_entry *e, struct diff_entry *de)
{
	const char *hl = archive_entry_hardlink(e);
	const char *sl = archive_entry_symlink(e);
	de->hardlink = hl != NULL;
	de->link = hl ? xstrdup(hl) : sl ? xstrdup(sl) : NULL;
	de->type = archive_entry_filetype(e);
	struct scanned sc;
	if (scan_next(&r->st.sc, archive_entry_perm(e), &sc)) {
		de->mode = sc.mode;
		de->format = sc.format;
	} else {
		de->mode = archive_entry_perm(e);
		de->format = archive_format(r->tar);
	}
	de->uid = archive_entry_uid(e);
	de->gid = archive_entry_gid(e);
	const char *u = archive_entry_uname(e), *g = archive_entry_gname(e);
	/* an empty name field is no name */
	de->uname = u && *u ? xstrdup(u) : NULL;
	de->gname = g && *g ? xstrdup(g) : NULL;
	if (de->type == AE_IFCHR || de->type == AE_IFBLK) {
		de->devmajor = (unsigned)archive_entry_rdevmajor(e);
		de->devminor = (unsigned)archive_entry_rdevminor(e);
	}
	de->size = archive_entry_size_is_set(e) ? (uint64_t)archive_entry_size(e) : 0;
	de->mtime = archive_entry_mtime(e);
	de->mtime_ns = archive_entry_mtime_nsec(e);
	de->atime_set = archive_entry_atime_is_set(e);
	if (de->atime_set) {
		de->atime = archive_entry_atime(e);
		de->atime_ns = archive_entry_atime_nsec(e);
	}
	de->ctime_set = archive_entry_ctime_is_set(e);
	if (de->ctime_set) {
		de->ctime = archive_entry_ctime(e);
		de->ctime_ns = archive_entry_ctime_nsec(e);
	}
	const char *xn;
	const void *xv;
	size_t xs;
	size_t nx = (size_t)archive_entry_xattr_reset(e);
	if (nx) {
		de->xattrs = xcalloc(nx, sizeof *de->xattrs);
		while (de->n_xattrs < nx &&
		       archive_entry_xattr_next(e, &xn, &xv, &xs) == ARCHIVE_OK) {
			de->xattrs[de->n_xattrs].name = xstrdup(xn);
			de->xattrs[de->n_xattrs].value = xattr_text(xv, xs);
			de->n_xattrs++;
		}
		qsort(de->xattrs, de->n_xattrs, sizeof *de->xattrs, cmp_xattr);
	}
}

void diff_entry_release(struct diff_entry *de)
{
	free(de->name);
	free(de->key);
	free(de->link);
	free(de->uname);
	free(de->gname);
	for (size_t i = 0; i < de->n_xattrs; i++) {
		free(de->xattrs[i].name);
		free(de->xattrs[i].value);
	}
	free(de->xattrs);
}

void diff_entries_release(struct diff_entries *e)
{
	for (size_t i = 0; i < e->n; i++)
		diff_entry_release(&e->v[i]);
	free(e->v);
	memset(e, 0, sizeof *e);
}

int diff_scan_layer(struct store *s, const char *digest, long layer, bool canonical,
		    struct diff_entries *out, struct cairn_error *err)
{
	cleanup_close int fd = -1;
	int rc = store_open_blob(s, digest, &fd, err);
	if (rc < 0)
		return cairn_error_wrap(err, "reading layer %s", digest);
	struct reader r;
	rc = reader_open(&r, fd, digest, err);
	size_t pos = 0;
	while (rc == 0) {
		struct archive_entry *e;
		rc = reader_next(&r, &e, digest, err);
		if (rc <= 0)
			break;
		rc = 0;
		const char *name = archive_entry_pathname(e);
		if (!name) {
			rc = cairn_error_set(err, EBADMSG, "reading layer %s: an entry has no name",
					     digest);
			break;
		}
		if (out->n == out->alloc) {
			out->alloc = out->alloc ? out->alloc * 2 : 256;
			out->v = xrealloc(out->v, out->alloc * sizeof *out->v);
		}
		struct diff_entry *de = &out->v[out->n];
		memset(de, 0, sizeof *de);
		de->name = xstrdup(name);
		de->key = canonical ? canonical_name(name) : xstrdup(name);
		de->pos = pos++;
		de->layer = layer;
		out->n++;
		fill_entry(&r, e, de);
		if (de->hardlink && canonical) {
			char *c = canonical_name(de->link);
			free(de->link);
			de->link = c;
		}
		if (de->type == AE_IFREG && !de->hardlink)
			rc = hash_content(&r, de, digest, err);
	}
	reader_close(&r);
	return rc < 0 ? rc : 0;
}

/* ---- the report directory ---- */

static int write_content(struct reader *r, int fd, const char *what, const char *name,
			 struct cairn_error *err)
{
	for (;;) {
		const void *buf;
		size_t size;
		la_int64_t offset;
		int ar = archive_read_data_block(r->tar, &buf, &size, &offset);
		if (ar == ARCHIVE_EOF)
			return 0;
		if (ar < ARCHIVE_WARN)
			return cairn_error_set(err, EIO, "reading layer %s: %s: %s", what, name,
					       archive_error_string(r->tar));
		const char *p = buf;
		while (size) {
			ssize_t n = pwrite(fd, p, size, offset);
			if (n < 0) {
				if (errno == EINTR && !util_interrupted)
					continue;
				return cairn_error_errno(err, errno, "writing %s", name);
			}
			p += n;
			offset += n;
			size -= (size_t)n;
		}
	}
}

/* Writes one entry beneath root at its cleaned name: a directory, a regular file
 * with its content, a symlink (never followed: fs resolves every parent beneath
 * root); other kinds (devices, fifos, hard links) are not written. */
static int write_entry(struct reader *r, struct archive_entry *e, const char *key, int root,
		       const char *what, struct cairn_error *err)
{
	cleanup_free char *rel = fs_clean_path(archive_entry_pathname(e), FS_CLEAN_IN_ROOT);
	if (!rel || !*rel)
		return 0;
	mode_t type = archive_entry_filetype(e);
	bool hard = archive_entry_hardlink(e) != NULL;
	if (hard || (type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK))
		return 0;
	char *slash = strrchr(rel, '/');
	const char *base = slash ? slash + 1 : rel;
	cleanup_free char *parent = slash ? xstrndup(rel, (size_t)(slash - rel)) : xstrdup("");
	cleanup_close int pfd = -1;
	int rc = fs_mkdir_p(root, parent, 0755, NULL, &pfd, err);
	if (rc < 0)
		return cairn_error_wrap(err, "writing %s", key);
	cleanup_close int dfd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return cairn_error_errno(err, errno, "writing %s", key);
	rc = fs_make_room(dfd, base, type == AE_IFDIR, NULL, err);
	if (rc < 0)
		return cairn_error_wrap(err, "writing %s", key);
	mode_t perm = (archive_entry_perm(e) & 0777) | 0600;
	if (type == AE_IFDIR) {
		if (mkdirat(dfd, base, 0755) < 0 && errno != EEXIST)
			return cairn_error_errno(err, errno, "writing %s", key);
		return 0;
	}
	if (type == AE_IFLNK) {
		const char *target = archive_entry_symlink(e);
		if (target && symlinkat(target, dfd, base) < 0)
			return cairn_error_errno(err, errno, "writing %s", key);
		return 0;
	}
	cleanup_close int fd =
	    openat(dfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, perm);
	if (fd < 0)
		return cairn_error_errno(err, errno, "writing %s", key);
	rc = write_content(r, fd, what, key, err);
	if (rc < 0)
		return rc;
	if (archive_entry_size_is_set(e) && ftruncate(fd, archive_entry_size(e)) < 0)
		return cairn_error_errno(err, errno, "writing %s", key);
	return 0;
}

int diff_write_entries(struct store *s, const char *digest, bool canonical,
		       const struct diff_keyset *keys, int root, struct cairn_error *err)
{
	cleanup_close int fd = -1;
	int rc = store_open_blob(s, digest, &fd, err);
	if (rc < 0)
		return cairn_error_wrap(err, "reading layer %s", digest);
	struct reader r;
	rc = reader_open(&r, fd, digest, err);
	while (rc == 0) {
		struct archive_entry *e;
		rc = reader_next(&r, &e, digest, err);
		if (rc <= 0)
			break;
		rc = 0;
		const char *name = archive_entry_pathname(e);
		if (!name)
			continue;
		cleanup_free char *key = canonical ? canonical_name(name) : xstrdup(name);
		if (diff_keyset_has(keys, key))
			rc = write_entry(&r, e, key, root, digest, err);
	}
	reader_close(&r);
	return rc < 0 ? rc : 0;
}
