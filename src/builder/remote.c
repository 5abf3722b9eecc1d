/* builder: the remote sources of ADD, as BuildKit fetches them. A URL is
 * downloaded into a blob of the store, named by its content; a record in the cache
 * (under the URL) keeps that digest with the response's ETag and Last-Modified, so a
 * later build asks again with If-None-Match / If-Modified-Since and a 304 costs no
 * download. With --checksum a blob the store has is used without asking at all.
 * The download goes through the proxies the build args give (else the
 * environment's). */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* "Sun, 06 Nov 1994 08:49:37 GMT" (RFC 9110's date): seconds, or -1. */
static int64_t http_date(const char *s)
{
	struct tm tm = {0};
	const char *end = s ? strptime(s, "%a, %d %b %Y %H:%M:%S GMT", &tm) : NULL;
	if (!end || *end)
		return -1;
	return (int64_t)timegm(&tm);
}

int builder_fetch_url(struct builder *b, const char *url, const char *checksum,
		      struct builder_remote *out, struct cairn_error *err)
{
	memset(out, 0, sizeof *out);
	out->mtime = -1;
	char memo[DIGEST_LEN];
	builder_step_key("url", url, memo);
	cleanup_free char *text = NULL;
	cleanup_json json_t *rec = NULL;
	if (store_cache_get(b->s, memo, &text, NULL) == 0)
		rec = json_loads(text, 0, NULL);
	const char *kept = json_string_value(json_object_get(rec, "content"));
	if (kept && (!digest_valid(kept) || !store_has_blob(b->s, kept)))
		kept = NULL;
	const char *kept_mod = json_string_value(json_object_get(rec, "last_modified"));
	/* --checksum names the content: a blob the store has needs no request */
	if (checksum && store_has_blob(b->s, checksum)) {
		snprintf(out->digest, DIGEST_LEN, "%s", checksum);
		out->mtime = kept && !strcmp(kept, checksum) ? http_date(kept_mod) : -1;
		return 0;
	}
	struct registry_fetch f = {.url = url};
	if (kept) {
		f.if_none_match = json_string_value(json_object_get(rec, "etag"));
		f.if_modified_since = kept_mod;
	}
	/* the build args' proxies, as RUN steps get them; NULL leaves it to curl and
	 * the environment */
	cleanup_strv char **proxies = NULL;
	builder_proxy_env(b, NULL, &proxies);
	f.proxy =
	    builder_env_get(proxies, strncmp(url, "https://", 8) ? "http_proxy" : "https_proxy");
	f.no_proxy = builder_env_get(proxies, "no_proxy");
	builder_progress(b, "fetching %s\n", url);
	int r = registry_fetch_url(b->s, &f, b->o->registry, err);
	if (r == 0) {
		const char *got = f.status == 304 ? kept : f.digest;
		snprintf(out->digest, DIGEST_LEN, "%s", got);
		const char *mod = f.status == 304 ? kept_mod : f.last_modified;
		out->mtime = http_date(mod);
		out->downloaded = f.status == 200;
		if (checksum && strcmp(checksum, got))
			r = cairn_error_set(
			    err, EBADMSG, "%s: the content's digest is %s, but --checksum says %s",
			    url, got, checksum);
		if (r == 0 && f.status == 200) {
			cleanup_json json_t *nrec =
			    json_pack("{s:s, s:s?, s:s?}", "content", got, "etag", f.etag,
				      "last_modified", f.last_modified);
			cleanup_free char *ntext = json_dumps(nrec, JSON_COMPACT);
			/* a lost shortcut only when the store cannot keep it */
			(void)store_cache_put(b->s, memo, ntext, NULL);
		}
	}
	registry_fetch_release(&f);
	return r;
}
