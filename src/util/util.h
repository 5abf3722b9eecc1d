/* util: errors, cleanup helpers, string buffers, digests and fs helpers.
 * The bottom of the module graph: depends on libc, libcrypto and jansson only. */
#ifndef CAIRN_UTIL_H
#define CAIRN_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <jansson.h>

/* ---- errors ----
 * Functions return 0 or a negative errno-style value and fill a struct cairn_error
 * whose message says what was being done to what. The kind and the location are
 * values a caller may look at to decide what to do; nothing reads a message. */
enum cairn_error_kind {
	CAIRN_ERR_NONE = 0,
	CAIRN_ERR_SYSTEM,      /* the system refused or failed (code: its errno) */
	CAIRN_ERR_INVALID,     /* what the user gave is wrong: a recipe, a flag, a name */
	CAIRN_ERR_NOT_FOUND,   /* what was named does not exist */
	CAIRN_ERR_STEP,	       /* a RUN step ran and failed */
	CAIRN_ERR_REMOTE,      /* a registry refused, or served something wrong */
	CAIRN_ERR_INTERRUPTED, /* SIGINT, SIGTERM or SIGHUP */
};

/* Where in a text the user wrote (a recipe) a problem is. */
struct cairn_location {
	char *file; /* owned; NULL when the error is tied to no text */
	int line;   /* 1-based; 0: the whole file */
	int column; /* 1-based; 0: unknown */
	char *text; /* owned: that line's text, shown under the message; may be NULL */
};

struct cairn_error {
	int code; /* positive errno value, or 0 */
	enum cairn_error_kind kind;
	char *msg;		   /* owned; NULL when no error */
	struct cairn_location loc; /* where, when the error is about a text */
};

#define CAIRN_ERROR_INIT                                                                           \
	{                                                                                          \
		0, CAIRN_ERR_NONE, NULL,                                                           \
		{                                                                                  \
			NULL, 0, 0, NULL                                                           \
		}                                                                                  \
	}

/* Sets err (replacing any previous message and location); the kind follows from the
 * code (ENOENT: not found, EINTR: interrupted, EINVAL and the like: invalid, else
 * system). Returns -code (or -EIO when code is 0). */
int cairn_error_set(struct cairn_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Like cairn_error_set, appending ": strerror(code)"; the kind is system unless the
 * code says otherwise (ENOENT, EINTR). */
int cairn_error_errno(struct cairn_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prefixes the existing message with context ("context: old message"); returns -err->code. */
int cairn_error_wrap(struct cairn_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Sets the kind explicitly; returns -err->code. */
int cairn_error_kind(struct cairn_error *err, enum cairn_error_kind kind);
/* Ties err to a place in a text: file (copied), line, column and that line's text
 * (copied; may be NULL). An error that already has a location keeps it: the
 * innermost place is the one to show. */
void cairn_error_locate(struct cairn_error *err, const char *file, int line, int column,
			const char *line_text);
/* Moves src into dst (dst's previous contents are released); src is left empty. */
void cairn_error_move(struct cairn_error *dst, struct cairn_error *src);
/* The message with its location as people read it: "FILE:LINE:COLUMN: MESSAGE", then
 * the line's text and a caret under the column when known. Caller frees. */
char *cairn_error_format(const struct cairn_error *err);
void cairn_error_clear(struct cairn_error *err);

/* ---- cleanup helpers ---- */
void cleanup_freep(void *p);
void cleanup_closep(int *fd);
void cleanup_fclosep(FILE **f);
void cleanup_jsonp(json_t **j);
void cleanup_strvp(char ***v);
#define cleanup_free __attribute__((cleanup(cleanup_freep)))
#define cleanup_close __attribute__((cleanup(cleanup_closep)))
#define cleanup_fclose __attribute__((cleanup(cleanup_fclosep)))
#define cleanup_json __attribute__((cleanup(cleanup_jsonp)))
#define cleanup_strv __attribute__((cleanup(cleanup_strvp)))
/* Wipes a string that held a secret (a password, a token) and frees it; NULL is fine. */
void util_free_secret(char *s);
void cleanup_secretp(char **s);
#define cleanup_secret __attribute__((cleanup(cleanup_secretp)))

/* Returns the value and leaves the variable empty, so a cleanup helper does not free it. */
#define steal_pointer(pp)                                                                          \
	({                                                                                         \
		__typeof__(*(pp)) _p = *(pp);                                                      \
		*(pp) = NULL;                                                                      \
		_p;                                                                                \
	})
#define steal_fd(pfd)                                                                              \
	({                                                                                         \
		int _fd = *(pfd);                                                                  \
		*(pfd) = -1;                                                                       \
		_fd;                                                                               \
	})

/* ---- allocation: these abort on out-of-memory ---- */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* xasprintf for a caller that has its own arguments as a va_list (uses ap up). */
char *xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/* ---- string buffer ---- */
struct strbuf {
	char *buf; /* always NUL-terminated once anything was added */
	size_t len;
	size_t alloc;
};
#define STRBUF_INIT                                                                                \
	{                                                                                          \
		NULL, 0, 0                                                                         \
	}
void strbuf_grow(struct strbuf *sb, size_t extra);
void strbuf_add(struct strbuf *sb, const void *data, size_t len);
void strbuf_addstr(struct strbuf *sb, const char *s);
void strbuf_addch(struct strbuf *sb, char c);
void strbuf_addf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void strbuf_reset(struct strbuf *sb);
/* Cuts the contents back to their first len bytes (len <= sb->len). */
void strbuf_setlen(struct strbuf *sb, size_t len);
/* Returns the buffer (never NULL, "" when empty); caller frees; sb is left empty. */
char *strbuf_detach(struct strbuf *sb);
void strbuf_release(struct strbuf *sb);
/* Returns the buffer contents, "" when empty; borrowed. */
const char *strbuf_str(const struct strbuf *sb);
void cleanup_strbufp(struct strbuf *sb);
#define cleanup_strbuf __attribute__((cleanup(cleanup_strbufp)))

/* ---- NULL-terminated string vectors (char **) ---- */
size_t strv_len(char *const *v);
/* Appends a copy of s; *v may be NULL. */
void strv_push(char ***v, const char *s);
/* Appends s without copying (takes ownership). */
void strv_push_take(char ***v, char *s);
char **strv_dup(char *const *v);
void strv_free(char **v);
/* True when v (may be NULL) holds a string equal to s. */
bool strv_contains(char *const *v, const char *s);
/* Sorts v (may be NULL) in strcmp order. */
void strv_sort(char **v);
/* strcmp of two char * for qsort and bsearch (a and b point at the pointers). */
int strv_cmp(const void *a, const void *b);

/* ---- digests (sha256 via libcrypto) ---- */
/* "sha256:" + 64 hex + NUL */
#define DIGEST_LEN 72
struct sha256 {
	void *ctx; /* EVP_MD_CTX */
};
void sha256_init(struct sha256 *h);
void sha256_update(struct sha256 *h, const void *data, size_t len);
/* Writes "sha256:<hex>" into out and releases the context. */
void sha256_final(struct sha256 *h, char out[DIGEST_LEN]);
/* Releases without a result (safe on a finished or zeroed context). */
void sha256_abort(struct sha256 *h);
void sha256_digest(const void *data, size_t len, char out[DIGEST_LEN]);
/* True when s is "sha256:" followed by exactly 64 lower-case hex digits. */
bool digest_valid(const char *s);
/* Returns the hex part of a valid digest (borrowed, points into s). */
const char *digest_hex(const char *s);

/* ---- OCI vocabulary ----
 * The names the image, layout and distribution specs (and Docker's schema 2) give
 * things: every module that reads or writes them uses these. */
#define MEDIA_TYPE_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MEDIA_TYPE_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MEDIA_TYPE_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define MEDIA_TYPE_OCI_LAYER "application/vnd.oci.image.layer.v1.tar"
#define MEDIA_TYPE_OCI_LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define MEDIA_TYPE_OCI_LAYER_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"
#define MEDIA_TYPE_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MEDIA_TYPE_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MEDIA_TYPE_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define MEDIA_TYPE_DOCKER_LAYER "application/vnd.docker.image.rootfs.diff.tar"
#define MEDIA_TYPE_DOCKER_LAYER_GZIP "application/vnd.docker.image.rootfs.diff.tar.gzip"
#define MEDIA_TYPE_DOCKER_LAYER_ZSTD "application/vnd.docker.image.rootfs.diff.tar.zstd"
/* the layout's annotation that holds a tag's full reference */
#define ANNOTATION_REF_NAME "org.opencontainers.image.ref.name"

/* ---- device nodes where none can be made ----
 * In a user namespace mknod of a character or block device fails (EPERM). An
 * unpacked tree then holds an empty regular file in its place carrying this xattr,
 * "c MAJOR MINOR" or "b MAJOR MINOR", with the node's owner, mode and mtime: the
 * layer writer writes it back as the device node it stands for, and copies leave it
 * out as they leave out devices, so the image keeps what its tar said. */
#define UTIL_XATTR_DEVICE "user.cairn.device"

/* ---- time ---- */
/* RFC 3339 UTC with seconds ("2024-01-02T03:04:05Z"); caller frees. */
char *util_rfc3339(int64_t t);
/* SOURCE_DATE_EPOCH from the environment, or -1 when unset. Invalid values are an error. */
int util_source_date_epoch(int64_t *out, struct cairn_error *err);
/* The same for a value s given another way (NULL or "": -1). */
int util_source_date_epoch_parse(const char *s, int64_t *out, struct cairn_error *err);

/* ---- files ---- */
/* Reads the whole file at path (relative to dirfd, or AT_FDCWD); caller frees *out
 * (NUL-terminated; *len excludes the NUL). */
int util_read_file(int dirfd, const char *path, char **out, size_t *len, struct cairn_error *err);
/* Reads fd to its end into a new NUL-terminated buffer (*len may be NULL); -errno
 * on a read error, with no message. */
int util_read_fd(int fd, char **out, size_t *len);
/* Writes data to dirfd/name through a temp file, fsync and rename. */
int util_write_file_atomic(int dirfd, const char *name, const void *data, size_t len,
			   struct cairn_error *err);
/* mkdir -p relative to dirfd (or AT_FDCWD). */
int util_mkdir_p(int dirfd, const char *path, mode_t mode, struct cairn_error *err);
/* Removes dirfd/name recursively; no error when it does not exist. Does not cross mounts
 * and never follows symlinks. */
int util_rm_rf(int dirfd, const char *name, struct cairn_error *err);
/* Removes everything in the directory dirfd, as util_rm_rf does, keeping it. */
int util_rm_contents(int dirfd, struct cairn_error *err);
/* Writes all of buf to fd, retrying short writes and EINTR. */
int util_write_all(int fd, const void *buf, size_t len);
/* Human size ("12.3MB"); caller frees. */
char *util_human_size(uint64_t bytes);
/* "4096", "512k", "64M", "2G", "1t" (binary units, case-insensitive, with docker's
 * optional "b" or "ib" after them: "10GB", "10GiB", "100b") → bytes; -EINVAL when
 * malformed or too large. */
int util_parse_size(const char *s, uint64_t *out);
/* The disk space (allocated blocks) of dirfd/name and everything under it, as du
 * counts it: one filesystem, a file of several links once. 0 when it is not there. */
uint64_t util_disk_usage(int dirfd, const char *name);
/* Human duration from seconds ("0.42s", "1m03s"); caller frees. */
char *util_human_duration(double seconds);
double util_now(void);

/* ---- interruption ----
 * SIGINT/SIGTERM/SIGHUP set util_interrupted (with SA_RESTART off, so blocking calls
 * return EINTR); long operations check it and unwind, cleaning up as they go. */
#include <signal.h>
extern volatile sig_atomic_t util_interrupted;
void util_catch_signals(void);

/* ---- text ---- */
/* Length of the strict UTF-8 sequence s starts with (no overlongs, surrogates or
 * values past U+10FFFF), or 0 when it does not start with one. */
size_t util_utf8_len(const unsigned char *s);
/* Line number line (1-based) of text, without its line ending (and without a BOM on
 * line 1); NULL when text has no such line. Caller frees. */
char *util_source_line(const char *text, size_t len, int line);
/* "FILE:LINE:COLUMN: MESSAGE", then line_text (may be NULL) and a caret under the
 * column (parts that are 0 are left out); of a line longer than UTIL_SHOWN_LINE_MAX
 * bytes, that many around the column, "..." marking the cuts. Caller frees. */
#define UTIL_SHOWN_LINE_MAX 160
char *util_located_message(const char *file, int line, int column, const char *line_text,
			   const char *msg);
/* util_located_message with line number line of text. Caller frees. */
char *util_source_error(const char *file, const char *text, size_t len, int line, int column,
			const char *msg);

/* ---- JSON ---- */
/* Canonical bytes of a JSON value: compact, keys sorted. Caller frees. */
char *util_json_canonical(const json_t *j);
/* The strings of a JSON array (others skipped) as a new NULL-terminated vector. */
char **util_json_to_strv(const json_t *arr);
/* A new JSON array of the strings of v (NULL: empty). */
json_t *util_strv_to_json(char *const *v);

#endif
