/* registry: image references, parsed and normalized as docker's reference package
 * (github.com/distribution/reference) does. */
#include "registry.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_DOMAIN "docker.io"
#define MAX_NAME 255

void registry_ref_release(struct registry_ref *r)
{
	free(r->domain);
	free(r->path);
	free(r->tag);
	free(r->digest);
	memset(r, 0, sizeof *r);
}

void cleanup_registry_refp(struct registry_ref *r)
{
	registry_ref_release(r);
}

static bool alnum_lower(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)* */
static bool path_component_ok(const char *s, size_t n)
{
	if (n == 0 || !alnum_lower(s[0]) || !alnum_lower(s[n - 1]))
		return false;
	for (size_t i = 1; i < n;) {
		if (alnum_lower(s[i])) {
			i++;
			continue;
		}
		size_t j = i;
		if (s[i] == '.')
			j = i + 1;
		else if (s[i] == '_')
			j = i + 1 + (i + 1 < n && s[i + 1] == '_');
		else if (s[i] == '-')
			while (j < n && s[j] == '-')
				j++;
		else
			return false;
		if (j >= n || !alnum_lower(s[j]))
			return false;
		i = j;
	}
	return true;
}

static bool host_label_ok(const char *s, size_t n)
{
	if (n == 0 || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-')
			return false;
	return true;
}

/* host ('.'-separated labels, or [IPv6]) with an optional :port */
static bool domain_ok(const char *s, size_t n)
{
	size_t host_end = n;
	if (n && s[0] == '[') {
		const char *close = memchr(s, ']', n);
		if (!close || close == s + 1)
			return false;
		for (const char *p = s + 1; p < close; p++)
			if (!isxdigit((unsigned char)*p) && *p != ':' && *p != '.')
				return false;
		host_end = (size_t)(close - s) + 1;
		if (host_end != n && s[host_end] != ':')
			return false;
	} else {
		const char *colon = memchr(s, ':', n);
		if (colon)
			host_end = (size_t)(colon - s);
		for (size_t i = 0; i <= host_end;) {
			size_t j = i;
			while (j < host_end && s[j] != '.')
				j++;
			if (!host_label_ok(s + i, j - i))
				return false;
			i = j + 1;
		}
	}
	if (host_end < n) {
		size_t digits = n - host_end - 1;
		if (digits == 0 || digits > 5)
			return false;
		for (size_t i = host_end + 1; i < n; i++)
			if (!isdigit((unsigned char)s[i]))
				return false;
	}
	return true;
}

/* [\w][\w.-]{0,127} */
static bool tag_ok(const char *t)
{
	size_t n = strlen(t);
	if (n == 0 || n > 128 || !(isalnum((unsigned char)t[0]) || t[0] == '_'))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)t[i]) && !strchr("_.-", t[i]))
			return false;
	return true;
}

static bool has_upper(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (isupper((unsigned char)s[i]))
			return true;
	return false;
}

int registry_ref_parse(const char *s, struct registry_ref *out, struct cairn_error *err)
{
	memset(out, 0, sizeof *out);
	if (!s || !*s)
		return cairn_error_set(err, EINVAL, "invalid reference: empty");
	if (strlen(s) > 4096)
		return cairn_error_set(err, EINVAL, "invalid reference \"%.40s…\": too long", s);
	cleanup_registry_ref struct registry_ref r = {0};
	cleanup_free char *name = NULL;
	const char *at = strchr(s, '@');
	if (at) {
		if (strncmp(at + 1, "sha256:", 7) == 0 && !digest_valid(at + 1))
			return cairn_error_set(err, EINVAL, "invalid reference \"%s\": bad digest",
					       s);
		if (!digest_valid(at + 1))
			return cairn_error_set(err, EINVAL,
					       "invalid reference \"%s\": only sha256 digests are "
					       "supported",
					       s);
		r.digest = xstrdup(at + 1);
		name = xstrndup(s, (size_t)(at - s));
	} else {
		name = xstrdup(s);
	}
	/* the tag is after the last ':' that follows the last '/' */
	char *slash = strrchr(name, '/');
	char *colon = strrchr(slash ? slash : name, ':');
	if (colon) {
		*colon = '\0';
		if (!tag_ok(colon + 1))
			return cairn_error_set(
			    err, EINVAL, "invalid reference \"%s\": bad tag \"%s\"", s, colon + 1);
		r.tag = xstrdup(colon + 1);
	}
	if (!*name)
		return cairn_error_set(err, EINVAL, "invalid reference \"%s\": no name", s);
	if (strlen(name) > MAX_NAME)
		return cairn_error_set(err, EINVAL,
				       "invalid reference \"%s\": the name is longer than %d", s,
				       MAX_NAME);

	const char *first_slash = strchr(name, '/');
	const char *rest = name;
	if (first_slash) {
		size_t n = (size_t)(first_slash - name);
		bool is_domain = memchr(name, '.', n) || memchr(name, ':', n) ||
				 (n == 9 && !strncmp(name, "localhost", 9)) || has_upper(name, n);
		if (is_domain) {
			if (!domain_ok(name, n))
				return cairn_error_set(err, EINVAL,
						       "invalid reference \"%s\": bad registry "
						       "host \"%.*s\"",
						       s, (int)n, name);
			r.domain = xstrndup(name, n);
			rest = first_slash + 1;
		}
	}
	if (!r.domain)
		r.domain = xstrdup(DEFAULT_DOMAIN);
	if (!strcmp(r.domain, "index.docker.io")) {
		free(r.domain);
		r.domain = xstrdup(DEFAULT_DOMAIN);
	}
	if (has_upper(rest, strlen(rest)))
		return cairn_error_set(
		    err, EINVAL, "invalid reference \"%s\": repository name must be lowercase", s);
	for (const char *p = rest;;) {
		const char *e = strchr(p, '/');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (!path_component_ok(p, n))
			return cairn_error_set(err, EINVAL,
					       "invalid reference \"%s\": \"%.*s\" is not a valid "
					       "name component (lower-case letters, digits, '.', "
					       "'_', '-')",
					       s, (int)n, p);
		if (!e)
			break;
		p = e + 1;
	}
	if (!strcmp(r.domain, DEFAULT_DOMAIN) && !strchr(rest, '/'))
		r.path = xasprintf("library/%s", rest);
	else
		r.path = xstrdup(rest);
	if (!r.tag && !r.digest)
		r.tag = xstrdup("latest");
	*out = r;
	memset(&r, 0, sizeof r);
	return 0;
}

char *registry_ref_name(const struct registry_ref *r)
{
	return xasprintf("%s/%s", r->domain, r->path);
}

char *registry_ref_string(const struct registry_ref *r)
{
	struct strbuf sb = STRBUF_INIT;
	strbuf_addf(&sb, "%s/%s", r->domain, r->path);
	if (r->tag)
		strbuf_addf(&sb, ":%s", r->tag);
	if (r->digest)
		strbuf_addf(&sb, "@%s", r->digest);
	return strbuf_detach(&sb);
}

const char *registry_ref_api_host(const struct registry_ref *r)
{
	return strcmp(r->domain, DEFAULT_DOMAIN) ? r->domain : "registry-1.docker.io";
}

int registry_store_lookup(struct store *s, const char *name, struct store_tag *out,
			  struct cairn_error *err)
{
	memset(out, 0, sizeof *out);
	cleanup_free char *local = NULL;
	int r = util_ref_normalize(name, &local, err);
	if (r < 0)
		return r;
	const char *at = strchr(name, '@');
	if (at) {
		if (!store_has_blob(s, at + 1))
			return cairn_error_set(err, ENOENT, "%s is not in the store", name);
		out->ref = xstrdup(name);
		out->digest = xstrdup(at + 1);
		return 0;
	}
	struct cairn_error e = CAIRN_ERROR_INIT;
	if ((r = store_tag_get(s, local, out, &e)) != -ENOENT) {
		*err = e;
		return r;
	}
	cairn_error_clear(&e);
	cleanup_registry_ref struct registry_ref ref = {0};
	if (registry_ref_parse(name, &ref, &e) == 0) {
		cleanup_free char *full = registry_ref_string(&ref);
		if (strcmp(full, local) && (r = store_tag_get(s, full, out, &e)) != -ENOENT) {
			*err = e;
			return r;
		}
	}
	cairn_error_clear(&e);
	return cairn_error_set(err, ENOENT, "%s is not in the store", local);
}
