/* ref: image references with docker's grammar (ref.h says it). One pass over the
 * string, left to right, no regular expressions; ASCII only, whatever the locale. */
#include "ref.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define LIBRARY "library/"
#define LIBRARY_LEN (sizeof LIBRARY - 1)
#define LEGACY_DOMAIN "index.docker.io"

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || is_digit(c);
}

static bool is_upper(char c)
{
	return c >= 'A' && c <= 'Z';
}

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || is_upper(c);
}

static bool is_alnum(char c)
{
	return is_alpha(c) || is_digit(c);
}

static bool is_hex(char c)
{
	return is_digit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

static bool has_upper(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (is_upper(s[i]))
			return true;
	return false;
}

/* s[0..n) is word. (A byte at a time: gcc 12 with -fsanitize=address takes what
 * follows a memcmp of s with a literal for reads past the literal, and -Werror.) */
static bool span_is(const char *s, size_t n, const char *word)
{
	size_t i = 0;
	while (i < n && word[i] && s[i] == word[i])
		i++;
	return i == n && !word[i];
}

/* An image ID: exactly 64 lower-case hex digits. */
static bool is_identifier(const char *s, size_t n)
{
	if (n != 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_digit(s[i]) && !(s[i] >= 'a' && s[i] <= 'f'))
			return false;
	return true;
}

/* [a-z0-9]+ (("." | "_" | "__" | "-"+) [a-z0-9]+)* */
static bool component_ok(const char *s, size_t n)
{
	size_t i = 0;
	for (;;) {
		size_t run = i;
		while (i < n && is_lower_alnum(s[i]))
			i++;
		if (i == run)
			return false;
		if (i == n)
			return true;
		if (s[i] == '.') {
			i++;
		} else if (s[i] == '_') {
			i += i + 1 < n && s[i + 1] == '_' ? 2 : 1;
		} else if (s[i] == '-') {
			while (i < n && s[i] == '-')
				i++;
		} else {
			return false;
		}
	}
}

/* A DNS label as docker takes it: letters, digits and '-', not first or last. */
static bool label_ok(const char *s, size_t n)
{
	if (n == 0 || !is_alnum(s[0]) || !is_alnum(s[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_alnum(s[i]) && s[i] != '-')
			return false;
	return true;
}

/* host [":" port]: labels joined by '.', or "[" hex digits and ':' "]"; port digits. */
static bool domain_ok(const char *s, size_t n)
{
	size_t host_end;
	if (n > 0 && s[0] == '[') {
		size_t i = 1;
		while (i < n && (is_hex(s[i]) || s[i] == ':'))
			i++;
		if (i == 1 || i == n || s[i] != ']')
			return false;
		host_end = i + 1;
	} else {
		const char *colon = memchr(s, ':', n);
		host_end = colon ? (size_t)(colon - s) : n;
		for (size_t i = 0;;) {
			const char *dot = memchr(s + i, '.', host_end - i);
			size_t end = dot ? (size_t)(dot - s) : host_end;
			if (!label_ok(s + i, end - i))
				return false;
			if (!dot)
				break;
			i = end + 1;
		}
	}
	if (host_end == n)
		return true;
	if (s[host_end] != ':' || host_end + 1 == n)
		return false;
	for (size_t i = host_end + 1; i < n; i++)
		if (!is_digit(s[i]))
			return false;
	return true;
}

/* [A-Za-z0-9_] [A-Za-z0-9_.-]{0,127} */
static bool tag_ok(const char *s, size_t n)
{
	if (n == 0 || n > 128 || !(is_alnum(s[0]) || s[0] == '_'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!is_alnum(s[i]) && !strchr("_.-", s[i]))
			return false;
	return true;
}

enum digest_check { DIGEST_OK, DIGEST_MALFORMED, DIGEST_UNSUPPORTED };

/* algorithm ":" hex, algorithm := [A-Za-z][A-Za-z0-9]* ([-_+.] [A-Za-z][A-Za-z0-9]*)*
 * and hex at least 32 digits; then, as go-digest does for the algorithms registered
 * (here sha256 alone), the exact form of that algorithm. */
static enum digest_check digest_check(const char *s)
{
	const char *colon = strchr(s, ':');
	if (!colon)
		return DIGEST_MALFORMED;
	size_t n = (size_t)(colon - s), i = 0;
	for (;;) {
		if (i == n || !is_alpha(s[i]))
			return DIGEST_MALFORMED;
		while (i < n && is_alnum(s[i]))
			i++;
		if (i == n)
			break;
		if (!strchr("-_+.", s[i]))
			return DIGEST_MALFORMED;
		i++;
	}
	size_t hn = strlen(colon + 1);
	if (hn < 32)
		return DIGEST_MALFORMED;
	for (size_t k = 0; k < hn; k++)
		if (!is_hex(colon[1 + k]))
			return DIGEST_MALFORMED;
	if (!span_is(s, n, "sha256"))
		return DIGEST_UNSUPPORTED;
	return digest_valid(s) ? DIGEST_OK : DIGEST_MALFORMED;
}

/* Whether the first component of a name with a '/' is a registry host: docker's rule
 * (a path component never holds ':' or upper case, and "localhost" is reserved). */
static bool names_domain(const char *s, size_t n)
{
	return memchr(s, '.', n) || memchr(s, ':', n) || span_is(s, n, "localhost") ||
	       has_upper(s, n);
}

static int invalid(struct cairn_error *err, const char *s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int invalid(struct cairn_error *err, const char *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	cleanup_free char *why = NULL;
	if (vasprintf(&why, fmt, ap) < 0)
		why = NULL;
	va_end(ap);
	return cairn_error_set(err, EINVAL, "invalid reference \"%s\": %s", s,
			       why ? why : "out of memory");
}

int ref_parse(const char *s, struct ref *out, struct cairn_error *err)
{
	memset(out, 0, sizeof *out);
	if (!s || !*s)
		return cairn_error_set(err, EINVAL, "invalid reference: empty");
	size_t len = strlen(s);
	if (is_identifier(s, len))
		return invalid(err, s, "64 hex digits name an image ID, not a repository");

	/* The domain is the first component when it can only be one. docker takes a
	 * first component with '.' that is no valid host but a valid path component
	 * ("a_b.c/d") as a name with no domain at all, which no registry serves; that
	 * is refused here as the bad host it was meant to be. */
	const char *domain = REF_DEFAULT_DOMAIN, *rest = s;
	size_t domain_len = strlen(REF_DEFAULT_DOMAIN);
	const char *slash = strchr(s, '/');
	if (slash && names_domain(s, (size_t)(slash - s))) {
		size_t n = (size_t)(slash - s);
		if (!domain_ok(s, n))
			return invalid(err, s, "bad registry host \"%.*s\"", (int)n, s);
		if (!span_is(s, n, LEGACY_DOMAIN))
			domain = s, domain_len = n;
		rest = slash + 1;
	}
	bool hub = span_is(domain, domain_len, REF_DEFAULT_DOMAIN);

	/* the rest: path [":" tag] ["@" digest]; neither a path nor a tag holds '@' or
	 * a path ':' */
	const char *at = strchr(rest, '@');
	size_t name_end = at ? (size_t)(at - rest) : strlen(rest);
	const char *colon = memchr(rest, ':', name_end);
	size_t path_len = colon ? (size_t)(colon - rest) : name_end;
	if (path_len == 0)
		return invalid(err, s, "no name");
	if (has_upper(rest, path_len))
		return invalid(err, s, "repository name must be lowercase");
	for (size_t i = 0; i <= path_len;) {
		const char *sep = memchr(rest + i, '/', path_len - i);
		size_t end = sep ? (size_t)(sep - rest) : path_len;
		if (!component_ok(rest + i, end - i))
			return invalid(err, s,
				       "\"%.*s\" is not a valid name component (lower-case "
				       "letters, digits, '.', '_', '-')",
				       (int)(end - i), rest + i);
		i = end + 1;
	}
	/* Docker Hub's official images are in library/ */
	bool library = hub && !memchr(rest, '/', path_len);
	if (path_len + (library ? LIBRARY_LEN : 0) > REF_PATH_MAX)
		return invalid(err, s, "the repository name is longer than %d characters",
			       REF_PATH_MAX);
	if (colon && !tag_ok(colon + 1, name_end - path_len - 1))
		return invalid(err, s, "bad tag \"%.*s\"", (int)(name_end - path_len - 1),
			       colon + 1);
	if (at) {
		enum digest_check d = digest_check(at + 1);
		if (d == DIGEST_UNSUPPORTED)
			return invalid(err, s, "only sha256 digests are supported");
		if (d != DIGEST_OK)
			return invalid(err, s, "bad digest \"%s\"", at + 1);
	}

	out->domain = xstrndup(domain, domain_len);
	out->path = xasprintf("%s%.*s", library ? LIBRARY : "", (int)path_len, rest);
	if (colon)
		out->tag = xstrndup(colon + 1, name_end - path_len - 1);
	if (at)
		out->digest = xstrdup(at + 1);
	return 0;
}

void ref_release(struct ref *r)
{
	free(r->domain);
	free(r->path);
	free(r->tag);
	free(r->digest);
	memset(r, 0, sizeof *r);
}

void cleanup_refp(struct ref *r)
{
	ref_release(r);
}

char *ref_name(const struct ref *r)
{
	return xasprintf("%s/%s", r->domain, r->path);
}

static void add_suffixes(struct strbuf *sb, const struct ref *r)
{
	if (r->tag)
		strbuf_addf(sb, ":%s", r->tag);
	if (r->digest)
		strbuf_addf(sb, "@%s", r->digest);
}

char *ref_string(const struct ref *r)
{
	struct strbuf sb = STRBUF_INIT;
	strbuf_addf(&sb, "%s/%s", r->domain, r->path);
	add_suffixes(&sb, r);
	return strbuf_detach(&sb);
}

char *ref_familiar(const struct ref *r)
{
	struct strbuf sb = STRBUF_INIT;
	const char *path = r->path;
	bool keep_domain = strcmp(r->domain, REF_DEFAULT_DOMAIN) != 0;
	if (!keep_domain) {
		/* library/NAME is NAME, unless NAME would read as an image ID */
		const char *first = strchr(path, '/');
		if (first && span_is(path, (size_t)(first - path), "library") &&
		    !strchr(first + 1, '/') && !is_identifier(first + 1, strlen(first + 1)))
			path = first + 1;
		/* a first component that would read as a host keeps the domain */
		const char *slash = strchr(path, '/');
		keep_domain = slash && names_domain(path, (size_t)(slash - path));
	}
	if (keep_domain)
		strbuf_addf(&sb, "%s/", r->domain);
	strbuf_addstr(&sb, path);
	add_suffixes(&sb, r);
	return strbuf_detach(&sb);
}

int ref_normalize(const char *s, char **out, struct cairn_error *err)
{
	*out = NULL;
	cleanup_ref struct ref r = {0};
	int rc = ref_parse(s, &r, err);
	if (rc < 0)
		return rc;
	if (!r.tag && !r.digest)
		r.tag = xstrdup(REF_DEFAULT_TAG);
	*out = ref_string(&r);
	return 0;
}

int ref_local_name(const char *s, char **out, struct cairn_error *err)
{
	*out = NULL;
	cleanup_ref struct ref r = {0};
	int rc = ref_parse(s, &r, err);
	if (rc < 0)
		return rc;
	*out = !r.tag && !r.digest ? xasprintf("%s:" REF_DEFAULT_TAG, s) : xstrdup(s);
	return 0;
}
