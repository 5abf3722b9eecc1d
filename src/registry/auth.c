/* registry: authentication — the 401 challenge (Bearer token from the realm, or
 * Basic), with credentials from podman's auth.json or docker's config.json.
 * Secrets never reach an error message and are wiped when dropped. */
#include "internal.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/evp.h>

char *auth_file(bool existing)
{
	const char *env = getenv("REGISTRY_AUTH_FILE");
	if (env && *env)
		return xstrdup(env);
	const char *run = getenv("XDG_RUNTIME_DIR");
	const char *home = getenv("HOME");
	char *paths[] = {run && *run ? xasprintf("%s/containers/auth.json", run) : NULL,
			 home && *home ? xasprintf("%s/.docker/config.json", home) : NULL};
	char *found = NULL;
	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		if (!found && paths[i] && (!existing || access(paths[i], F_OK) == 0))
			found = steal_pointer(&paths[i]);
		free(paths[i]);
	}
	return found;
}

int auth_file_load(const char *path, json_t **doc, struct cairn_error *err)
{
	cleanup_secret char *text = NULL;
	size_t len = 0;
	int r = util_read_file(AT_FDCWD, path, &text, &len, err);
	if (r == -ENOENT) {
		cairn_error_clear(err);
		*doc = json_object();
		return 0;
	}
	if (r < 0)
		return r;
	json_error_t je;
	cleanup_json json_t *j = json_loadb(text, len, 0, &je);
	/* jansson's message may quote the text near the error, a secret: only the place */
	if (!json_is_object(j))
		return cairn_error_set(err, EINVAL, "%s: not a JSON object (line %d, column %d)",
				       path, j ? 1 : je.line, j ? 1 : je.column);
	*doc = steal_pointer(&j);
	return 0;
}

char *auth_encode(const char *user, const char *pass)
{
	cleanup_secret char *plain = xasprintf("%s:%s", user, pass);
	size_t n = strlen(plain);
	char *b64 = xmalloc(4 * ((n + 2) / 3) + 1);
	EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)plain, (int)n);
	return b64;
}

/* base64 "user:pass" → user, pass. */
static int decode_auth(const char *b64, char **user, char **pass)
{
	size_t n = strlen(b64);
	if (n == 0 || n % 4)
		return -1;
	cleanup_secret char *out = xmalloc(n / 4 * 3 + 1);
	int len = EVP_DecodeBlock((unsigned char *)out, (const unsigned char *)b64, (int)n);
	if (len < 0)
		return -1;
	/* EVP_DecodeBlock counts the padding as zero bytes */
	for (size_t i = n; i > 0 && b64[i - 1] == '='; i--)
		len--;
	out[len] = '\0';
	if (memchr(out, '\0', (size_t)len))
		return -1;
	char *colon = strchr(out, ':');
	if (!colon)
		return -1;
	*user = xstrndup(out, (size_t)(colon - out));
	*pass = xstrdup(colon + 1);
	return 0;
}

/* auth.json keys to try, most specific first. */
static char **credential_keys(const char *domain, const char *path)
{
	char **keys = NULL;
	cleanup_free char *p = xstrdup(path);
	for (;;) {
		strv_push_take(&keys, xasprintf("%s/%s", domain, p));
		char *slash = strrchr(p, '/');
		if (!slash)
			break;
		*slash = '\0';
	}
	strv_push(&keys, domain);
	strv_push_take(&keys, xasprintf("https://%s", domain));
	strv_push_take(&keys, xasprintf("http://%s", domain));
	if (!strcmp(domain, "docker.io")) {
		strv_push(&keys, "https://index.docker.io/v1/");
		strv_push(&keys, "index.docker.io");
		strv_push(&keys, "registry-1.docker.io");
	}
	return keys;
}

int auth_find_credentials(const char *domain, const char *path, char **user, char **pass,
			  char **source, struct cairn_error *err)
{
	*user = *pass = *source = NULL;
	cleanup_free char *file = auth_file(true);
	if (!file)
		return 0;
	cleanup_json json_t *doc = NULL;
	if (auth_file_load(file, &doc, err) < 0)
		return cairn_error_wrap(err, "reading credentials");
	json_t *auths = json_object_get(doc, "auths");
	cleanup_strv char **keys = credential_keys(domain, path);
	for (char **k = keys; *k; k++) {
		json_t *entry = json_object_get(auths, *k);
		if (!entry)
			continue;
		const char *a = json_string_value(json_object_get(entry, "auth"));
		if (!a || !*a)
			continue;
		if (decode_auth(a, user, pass) < 0)
			return cairn_error_set(err, EINVAL,
					       "reading credentials: %s: the \"auth\" of \"%s\" is "
					       "not base64 of user:password",
					       file, *k);
		*source = steal_pointer(&file);
		return 1;
	}
	return 0;
}

static char *basic_header(const char *user, const char *pass)
{
	cleanup_secret char *b64 = auth_encode(user, pass);
	return xasprintf("Authorization: Basic %s", b64);
}

/* Parses `Scheme k="v", k2=v2` into the scheme and a JSON object of the params. */
static json_t *parse_challenge(const char *s, char **scheme)
{
	while (*s == ' ')
		s++;
	size_t n = strcspn(s, " ");
	*scheme = xstrndup(s, n);
	s += n;
	json_t *params = json_object();
	for (;;) {
		while (*s == ' ' || *s == ',')
			s++;
		if (!*s)
			break;
		size_t kn = strcspn(s, "= ,");
		cleanup_free char *key = xstrndup(s, kn);
		s += kn;
		while (*s == ' ')
			s++;
		if (*s != '=')
			continue;
		s++;
		while (*s == ' ')
			s++;
		cleanup_strbuf struct strbuf v = STRBUF_INIT;
		if (*s == '"') {
			for (s++; *s && *s != '"'; s++) {
				if (*s == '\\' && s[1])
					s++;
				strbuf_addch(&v, *s);
			}
			if (*s == '"')
				s++;
		} else {
			size_t vn = strcspn(s, ", ");
			strbuf_add(&v, s, vn);
			s += vn;
		}
		for (char *p = key; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		json_object_set_new(params, key, json_string(strbuf_str(&v)));
	}
	return params;
}

/* Credentials given (login checking them), or from the auth files. r: 1 found, 0 not. */
static int credentials(const struct ref *ref, const char *given_user, const char *given_pass,
		       char **user, char **pass, char **source, struct cairn_error *err)
{
	if (given_user) {
		*user = xstrdup(given_user);
		*pass = xstrdup(given_pass ? given_pass : "");
		*source = xstrdup("the command line");
		return 1;
	}
	return auth_find_credentials(ref->domain, ref->path ? ref->path : "", user, pass, source,
				     err);
}

static int get_token(struct http_client *c, json_t *params, const struct ref *ref,
		     const char *scope, const char *given_user, const char *given_pass,
		     char **header, struct cairn_error *err)
{
	const char *realm = json_string_value(json_object_get(params, "realm"));
	const char *service = json_string_value(json_object_get(params, "service"));
	const char *cscope = json_string_value(json_object_get(params, "scope"));
	if (!realm || !*realm)
		return remote_error(err, EPROTO, "%s: a Bearer challenge without a realm",
				    ref->domain);
	bool https = !strncmp(realm, "https://", 8);
	if (!https) {
		const char *h = !strncmp(realm, "http://", 7) ? realm + 7 : NULL;
		cleanup_free char *host = h ? xstrndup(h, strcspn(h, "/?#")) : NULL;
		if (!host || !http_plain_allowed(c, host))
			return remote_error(err, EPROTO,
					    "%s: the token realm %s is not https (plain HTTP only "
					    "for loopback or with --tls-verify=false)",
					    ref->domain, realm);
	}
	CURL *esc = curl_easy_init();
	if (!esc)
		return cairn_error_set(err, ENOMEM, "curl_easy_init failed");
	cleanup_strbuf struct strbuf url = STRBUF_INIT;
	strbuf_addstr(&url, realm);
	char sep = strchr(realm, '?') ? '&' : '?';
	if (service) {
		char *e = curl_easy_escape(esc, service, 0);
		strbuf_addf(&url, "%cservice=%s", sep, e);
		curl_free(e);
		sep = '&';
	}
	/* several scopes (a cross-repository mount wants two): one parameter each, as
	 * docker asks for them */
	const char *sc = cscope && *cscope ? cscope : scope;
	for (const char *p = sc; p && *p;) {
		size_t n = strcspn(p, " ");
		if (n) {
			char *e = curl_easy_escape(esc, p, (int)n);
			strbuf_addf(&url, "%cscope=%s", sep, e);
			curl_free(e);
			sep = '&';
		}
		p += n + (p[n] == ' ');
	}
	curl_easy_cleanup(esc);

	cleanup_free char *user = NULL, *source = NULL;
	cleanup_secret char *pass = NULL;
	int r = credentials(ref, given_user, given_pass, &user, &pass, &source, err);
	if (r < 0)
		return r;
	cleanup_secret char *basic = r ? basic_header(user, pass) : NULL;
	char *headers[] = {basic, NULL};
	struct http_xfer x = {.method = "GET", .url = strbuf_str(&url), .headers = headers};
	struct http_xfer *xs[] = {&x};
	r = http_run(c, xs, 1, 1, err);
	if (r == 0 && x.status != 200) {
		r = http_status_error(&x, err);
		if (source)
			cairn_error_wrap(err, "getting a token for %s with the credentials from %s",
					 ref->domain, source);
		else
			cairn_error_wrap(err, "getting an anonymous token for %s", ref->domain);
	}
	if (r == 0) {
		cleanup_json json_t *doc =
		    json_loadb(x.body.buf ? x.body.buf : "", x.body.len, 0, NULL);
		const char *tok = json_string_value(json_object_get(doc, "token"));
		if (!tok || !*tok)
			tok = json_string_value(json_object_get(doc, "access_token"));
		if (!tok || !*tok)
			r = remote_error(err, EPROTO, "GET %s: the answer has no token", realm);
		else
			*header = xasprintf("Authorization: Bearer %s", tok);
	}
	if (x.body.buf)
		explicit_bzero(x.body.buf, x.body.len);
	http_xfer_release(&x);
	return r;
}

int auth_answer(struct http_client *c, const char *challenge, const struct ref *ref,
		const char *scope, char **header, struct cairn_error *err)
{
	return auth_answer_with(c, challenge, ref, scope, NULL, NULL, header, err);
}

int auth_answer_with(struct http_client *c, const char *challenge, const struct ref *ref,
		     const char *scope, const char *given_user, const char *given_pass,
		     char **header, struct cairn_error *err)
{
	*header = NULL;
	if (!challenge)
		return cairn_error_set(err, EACCES,
				       "%s: 401 Unauthorized without a WWW-Authenticate challenge",
				       ref->domain);
	cleanup_free char *scheme = NULL;
	cleanup_json json_t *params = parse_challenge(challenge, &scheme);
	if (!strcasecmp(scheme, "Bearer"))
		return get_token(c, params, ref, scope, given_user, given_pass, header, err);
	if (!strcasecmp(scheme, "Basic")) {
		cleanup_free char *user = NULL, *source = NULL;
		cleanup_secret char *pass = NULL;
		int r = credentials(ref, given_user, given_pass, &user, &pass, &source, err);
		if (r < 0)
			return r;
		if (r == 0)
			return cairn_error_set(
			    err, EACCES,
			    "%s: 401 Unauthorized: the registry wants a user and "
			    "password, and no auth file has credentials for it",
			    ref->domain);
		*header = basic_header(user, pass);
		return 0;
	}
	return remote_error(err, ENOTSUP, "%s: 401 Unauthorized: unsupported auth scheme \"%s\"",
			    ref->domain, scheme);
}
