#include "util.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

/* ---- errors ---- */

static int error_vset(struct cairn_error *err, int code, bool add_errno, const char *fmt,
		      va_list ap)
{
	if (code < 0)
		code = -code;
	if (code == 0)
		code = EIO;
	if (err) {
		char *msg = NULL;
		if (vasprintf(&msg, fmt, ap) < 0)
			abort();
		if (add_errno) {
			char *full = xasprintf("%s: %s", msg, strerror(code));
			free(msg);
			msg = full;
		}
		free(err->msg);
		err->msg = msg;
		err->code = code;
	}
	return -code;
}

int cairn_error_set(struct cairn_error *err, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = error_vset(err, code, false, fmt, ap);
	va_end(ap);
	return r;
}

int cairn_error_errno(struct cairn_error *err, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = error_vset(err, code, true, fmt, ap);
	va_end(ap);
	return r;
}

int cairn_error_wrap(struct cairn_error *err, const char *fmt, ...)
{
	if (!err)
		return -EIO;
	int code = err->code ? err->code : EIO;
	char *ctx = NULL;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&ctx, fmt, ap) < 0)
		abort();
	va_end(ap);
	char *msg = xasprintf("%s: %s", ctx, err->msg ? err->msg : strerror(code));
	free(ctx);
	free(err->msg);
	err->msg = msg;
	err->code = code;
	return -code;
}

void cairn_error_clear(struct cairn_error *err)
{
	if (!err)
		return;
	free(err->msg);
	err->msg = NULL;
	err->code = 0;
}

/* ---- cleanup ---- */

void cleanup_freep(void *p)
{
	free(*(void **)p);
}

void cleanup_closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}

void cleanup_fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}

void cleanup_jsonp(json_t **j)
{
	if (*j)
		json_decref(*j);
}

void cleanup_strvp(char ***v)
{
	strv_free(*v);
}

/* ---- allocation ---- */

static void oom(void)
{
	static const char msg[] = "cairn: out of memory\n";
	if (write(2, msg, sizeof msg - 1) < 0) {
	}
	abort();
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom();
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		oom();
	return p;
}

void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		oom();
	return p;
}

char *xstrdup(const char *s)
{
	char *p = strdup(s);
	if (!p)
		oom();
	return p;
}

char *xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);
	if (!p)
		oom();
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	char *s = NULL;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		oom();
	va_end(ap);
	return s;
}

/* ---- strbuf ---- */

void strbuf_grow(struct strbuf *sb, size_t extra)
{
	if (sb->len + extra + 1 <= sb->alloc)
		return;
	size_t want = sb->len + extra + 1;
	size_t alloc = sb->alloc ? sb->alloc : 64;
	while (alloc < want)
		alloc *= 2;
	sb->buf = xrealloc(sb->buf, alloc);
	sb->alloc = alloc;
}

void strbuf_add(struct strbuf *sb, const void *data, size_t len)
{
	strbuf_grow(sb, len);
	if (len)
		memcpy(sb->buf + sb->len, data, len);
	sb->len += len;
	sb->buf[sb->len] = '\0';
}

void strbuf_addstr(struct strbuf *sb, const char *s)
{
	strbuf_add(sb, s, strlen(s));
}

void strbuf_addch(struct strbuf *sb, char c)
{
	strbuf_add(sb, &c, 1);
}

void strbuf_addf(struct strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = NULL;
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		oom();
	strbuf_add(sb, s, (size_t)n);
	free(s);
}

void strbuf_reset(struct strbuf *sb)
{
	sb->len = 0;
	if (sb->buf)
		sb->buf[0] = '\0';
}

char *strbuf_detach(struct strbuf *sb)
{
	char *s = sb->buf ? sb->buf : xstrdup("");
	sb->buf = NULL;
	sb->len = sb->alloc = 0;
	return s;
}

void strbuf_release(struct strbuf *sb)
{
	free(sb->buf);
	sb->buf = NULL;
	sb->len = sb->alloc = 0;
}

const char *strbuf_str(const struct strbuf *sb)
{
	return sb->buf ? sb->buf : "";
}

void cleanup_strbufp(struct strbuf *sb)
{
	strbuf_release(sb);
}

/* ---- strv ---- */

size_t strv_len(char *const *v)
{
	size_t n = 0;
	while (v && v[n])
		n++;
	return n;
}

void strv_push_take(char ***v, char *s)
{
	size_t n = strv_len(*v);
	*v = xrealloc(*v, (n + 2) * sizeof(char *));
	(*v)[n] = s;
	(*v)[n + 1] = NULL;
}

void strv_push(char ***v, const char *s)
{
	strv_push_take(v, xstrdup(s));
}

bool strv_contains(char *const *v, const char *s)
{
	for (size_t i = 0; v && v[i]; i++)
		if (!strcmp(v[i], s))
			return true;
	return false;
}

char **strv_dup(char *const *v)
{
	char **out = xcalloc(strv_len(v) + 1, sizeof(char *));
	for (size_t i = 0; v && v[i]; i++)
		out[i] = xstrdup(v[i]);
	return out;
}

void strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

/* ---- digests ---- */

void sha256_init(struct sha256 *h)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		oom();
	h->ctx = ctx;
}

void sha256_update(struct sha256 *h, const void *data, size_t len)
{
	if (len && EVP_DigestUpdate(h->ctx, data, len) != 1)
		abort();
}

void sha256_final(struct sha256 *h, char out[DIGEST_LEN])
{
	unsigned char md[32];
	unsigned int n = 0;
	if (EVP_DigestFinal_ex(h->ctx, md, &n) != 1 || n != 32)
		abort();
	EVP_MD_CTX_free(h->ctx);
	h->ctx = NULL;
	static const char hex[] = "0123456789abcdef";
	memcpy(out, "sha256:", 7);
	for (int i = 0; i < 32; i++) {
		out[7 + 2 * i] = hex[md[i] >> 4];
		out[8 + 2 * i] = hex[md[i] & 15];
	}
	out[71] = '\0';
}

void sha256_abort(struct sha256 *h)
{
	if (h->ctx)
		EVP_MD_CTX_free(h->ctx);
	h->ctx = NULL;
}

void sha256_digest(const void *data, size_t len, char out[DIGEST_LEN])
{
	struct sha256 h;
	sha256_init(&h);
	sha256_update(&h, data, len);
	sha256_final(&h, out);
}

bool digest_valid(const char *s)
{
	if (!s || strncmp(s, "sha256:", 7) != 0 || strlen(s) != 71)
		return false;
	for (int i = 7; i < 71; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

const char *digest_hex(const char *s)
{
	return s + 7;
}

/* ---- time ---- */

char *util_rfc3339(int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	char buf[64];
	strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return xstrdup(buf);
}

int util_source_date_epoch(int64_t *out, struct cairn_error *err)
{
	const char *s = getenv("SOURCE_DATE_EPOCH");
	*out = -1;
	if (!s || !*s)
		return 0;
	char *end = NULL;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || *end || v < 0)
		return cairn_error_set(err, EINVAL,
				       "SOURCE_DATE_EPOCH=%s: not a number of seconds since 1970", s);
	*out = v;
	return 0;
}

double util_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- files ---- */

int util_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int util_read_fd(int fd, char **out, size_t *len)
{
	struct strbuf sb = STRBUF_INIT;
	for (;;) {
		strbuf_grow(&sb, 65536);
		ssize_t n = read(fd, sb.buf + sb.len, sb.alloc - sb.len - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			strbuf_release(&sb);
			return -e;
		}
		if (n == 0)
			break;
		sb.len += (size_t)n;
		sb.buf[sb.len] = '\0';
	}
	if (len)
		*len = sb.len;
	*out = strbuf_detach(&sb);
	return 0;
}

int util_read_file(int dirfd, const char *path, char **out, size_t *len, struct cairn_error *err)
{
	cleanup_close int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cairn_error_errno(err, errno, "opening %s", path);
	int r = util_read_fd(fd, out, len);
	if (r < 0)
		return cairn_error_errno(err, -r, "reading %s", path);
	return 0;
}

int util_write_file_atomic(int dirfd, const char *name, const void *data, size_t len,
			   struct cairn_error *err)
{
	cleanup_free char *tmp = xasprintf("%s.tmp.%d", name, (int)getpid());
	cleanup_close int fd =
		openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return cairn_error_errno(err, errno, "creating %s", tmp);
	int r = util_write_all(fd, data, len);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (r == 0 && renameat(dirfd, tmp, dirfd, name) < 0)
		r = -errno;
	if (r < 0) {
		unlinkat(dirfd, tmp, 0);
		return cairn_error_errno(err, -r, "writing %s", name);
	}
	return 0;
}

int util_mkdir_p(int dirfd, const char *path, mode_t mode, struct cairn_error *err)
{
	if (!*path)
		return cairn_error_set(err, ENOENT, "creating directory: empty path");
	cleanup_free char *p = xstrdup(path);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdirat(dirfd, p, mode) < 0 && errno != EEXIST)
			return cairn_error_errno(err, errno, "creating directory %s", p);
		*s = '/';
	}
	if (mkdirat(dirfd, p, mode) < 0 && errno != EEXIST)
		return cairn_error_errno(err, errno, "creating directory %s", p);
	return 0;
}

static int rm_rf_at(int parent, const char *name, dev_t dev, struct cairn_error *err)
{
	struct stat st;
	if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return 0;
		return cairn_error_errno(err, errno, "removing %s", name);
	}
	if (!S_ISDIR(st.st_mode)) {
		if (unlinkat(parent, name, 0) < 0 && errno != ENOENT)
			return cairn_error_errno(err, errno, "removing %s", name);
		return 0;
	}
	if (st.st_dev != dev)
		return cairn_error_set(err, EBUSY, "removing %s: a mount point is in the way", name);
	int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		/* a directory without read or exec permission: make it usable first */
		if (errno == EACCES && fchmodat(parent, name, 0700, 0) == 0)
			fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return cairn_error_errno(err, errno, "removing %s", name);
	}
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return cairn_error_errno(err, errno, "removing %s", name);
	}
	int r = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		r = rm_rf_at(dirfd(d), de->d_name, dev, err);
		if (r < 0)
			break;
	}
	closedir(d);
	if (r < 0)
		return cairn_error_wrap(err, "%s", name);
	if (unlinkat(parent, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return cairn_error_errno(err, errno, "removing %s", name);
	return 0;
}

int util_rm_rf(int dirfd, const char *name, struct cairn_error *err)
{
	struct stat st;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return 0;
		return cairn_error_errno(err, errno, "removing %s", name);
	}
	return rm_rf_at(dirfd, name, st.st_dev, err);
}

int util_parse_size(const char *s, uint64_t *out)
{
	if (!s || !isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	char *end = NULL;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	unsigned shift = 0;
	if (*end) {
		const char *units = "kmg";
		const char *u = strchr(units, tolower((unsigned char)*end));
		if (!u || end[1])
			return -EINVAL;
		shift = 10 * (unsigned)(u - units + 1);
	}
	if (v > (UINT64_MAX >> shift))
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

char *util_human_size(uint64_t bytes)
{
	static const char *units[] = {"B", "kB", "MB", "GB", "TB"};
	double v = (double)bytes;
	int u = 0;
	while (v >= 1000 && u < 4) {
		v /= 1000;
		u++;
	}
	if (u == 0)
		return xasprintf("%lluB", (unsigned long long)bytes);
	return xasprintf(v < 10 ? "%.2f%s" : v < 100 ? "%.1f%s" : "%.0f%s", v, units[u]);
}

char *util_human_duration(double s)
{
	if (s < 60)
		return xasprintf("%.2fs", s);
	int m = (int)(s / 60);
	return xasprintf("%dm%02ds", m, (int)(s - m * 60));
}

/* ---- JSON ---- */

char *util_json_canonical(const json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	if (!s)
		oom();
	return s;
}

/* ---- interruption ---- */

volatile sig_atomic_t util_interrupted;

static void on_signal(int sig)
{
	util_interrupted = sig;
}

void util_catch_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

/* ---- image references ---- */

static bool ref_component_ok(const char *s, size_t n)
{
	/* [a-z0-9]+ separated by '.', '_', '__' or runs of '-' */
	if (n == 0 || !(islower((unsigned char)s[0]) || isdigit((unsigned char)s[0])))
		return false;
	if (!(islower((unsigned char)s[n - 1]) || isdigit((unsigned char)s[n - 1])))
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (islower((unsigned char)c) || isdigit((unsigned char)c))
			continue;
		if (c == '-')
			continue;
		if (c == '.' || c == '_') {
			bool dunder = c == '_' && i + 1 < n && s[i + 1] == '_';
			char next = s[i + 1 + dunder];
			if (!(islower((unsigned char)next) || isdigit((unsigned char)next)))
				return false;
			i += dunder;
			continue;
		}
		return false;
	}
	return true;
}

static bool ref_host_ok(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!(isalnum((unsigned char)c) || c == '.' || c == '-' || c == ':' || c == '[' ||
		      c == ']'))
			return false;
	}
	return true;
}

int util_ref_normalize(const char *ref, char **out, struct cairn_error *err)
{
	*out = NULL;
	if (!ref || !*ref)
		return cairn_error_set(err, EINVAL, "empty image reference");
	if (strlen(ref) > 4096)
		return cairn_error_set(err, EINVAL, "invalid reference \"%.40s…\": too long", ref);
	const char *at = strchr(ref, '@');
	if (at && !digest_valid(at + 1))
		return cairn_error_set(err, EINVAL,
				       "invalid reference \"%s\": bad digest after '@'", ref);
	size_t name_end = at ? (size_t)(at - ref) : strlen(ref);
	/* a tag is after the last ':' that comes after the last '/' */
	const char *slash = memrchr(ref, '/', name_end);
	const char *colon = memrchr(slash ? slash : ref, ':', name_end - (slash ? slash - ref : 0));
	size_t path_end = colon ? (size_t)(colon - ref) : name_end;
	if (colon) {
		size_t tn = name_end - path_end - 1;
		const char *tag = colon + 1;
		if (tn == 0 || tn > 128 || !(isalnum((unsigned char)tag[0]) || tag[0] == '_'))
			return cairn_error_set(err, EINVAL, "invalid reference \"%s\": bad tag",
					       ref);
		for (size_t i = 0; i < tn; i++)
			if (!(isalnum((unsigned char)tag[i]) || strchr("_.-", tag[i])))
				return cairn_error_set(err, EINVAL,
						       "invalid reference \"%s\": bad tag", ref);
	}
	/* path components; the first may be a registry host */
	size_t i = 0;
	bool first = true;
	while (i <= path_end) {
		size_t j = i;
		while (j < path_end && ref[j] != '/')
			j++;
		bool is_last = j >= path_end;
		bool looks_host = first && !is_last &&
				  (memchr(ref + i, '.', j - i) || memchr(ref + i, ':', j - i) ||
				   (j - i == 9 && !strncmp(ref + i, "localhost", 9)));
		if (looks_host ? !ref_host_ok(ref + i, j - i) : !ref_component_ok(ref + i, j - i))
			return cairn_error_set(err, EINVAL,
					       "invalid reference \"%s\": \"%.*s\" is not a valid "
					       "name component (lower-case letters, digits, '.', "
					       "'_', '-')",
					       ref, (int)(j - i), ref + i);
		first = false;
		i = j + 1;
	}
	if (!colon && !at)
		*out = xasprintf("%s:latest", ref);
	else
		*out = xstrdup(ref);
	return 0;
}

/* ---- text ---- */

size_t util_utf8_len(const unsigned char *s)
{
	size_t n;
	uint32_t c, min;
	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xE0) == 0xC0)
		n = 2, c = s[0] & 0x1F, min = 0x80;
	else if ((s[0] & 0xF0) == 0xE0)
		n = 3, c = s[0] & 0x0F, min = 0x800;
	else if ((s[0] & 0xF8) == 0xF0)
		n = 4, c = s[0] & 0x07, min = 0x10000;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3F);
	}
	if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
		return 0;
	return n;
}

char *util_source_error(const char *file, const char *text, size_t len, int line, int column,
			const char *msg)
{
	struct strbuf sb = STRBUF_INIT;
	if (line <= 0) {
		strbuf_addf(&sb, "%s: %s", file, msg);
		return strbuf_detach(&sb);
	}
	if (column > 0)
		strbuf_addf(&sb, "%s:%d:%d: %s", file, line, column, msg);
	else
		strbuf_addf(&sb, "%s:%d: %s", file, line, msg);
	const char *p = text, *end = text + len;
	for (int l = 1; l < line && p < end; l++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		p = nl ? nl + 1 : end;
	}
	if (p >= end)
		return strbuf_detach(&sb);
	const char *nl = memchr(p, '\n', (size_t)(end - p));
	size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
	if (n > 0 && p[n - 1] == '\r')
		n--;
	if (line == 1 && n >= 3 && !memcmp(p, "\xEF\xBB\xBF", 3))
		p += 3, n -= 3;
	strbuf_addf(&sb, "\n    %.*s", (int)n, p);
	if (column <= 0)
		return strbuf_detach(&sb);
	strbuf_addstr(&sb, "\n    ");
	/* columns count characters: step over UTF-8 sequences, keep tabs */
	const unsigned char *u = (const unsigned char *)p;
	size_t i = 0;
	for (int c = 1; c < column && i < n; c++) {
		strbuf_addch(&sb, u[i] == '\t' ? '\t' : ' ');
		size_t k = util_utf8_len(u + i);
		i += k && i + k <= n ? k : 1;
	}
	strbuf_addch(&sb, '^');
	return strbuf_detach(&sb);
}
