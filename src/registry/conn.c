/* registry: a session with one repository for pull, push and login — the scheme picked
 * by a ping of /v2/, the challenge answered, requests retried once on a 401 (a
 * token's scope may be too narrow for what comes next). */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void conn_release(struct registry_conn *c)
{
	http_client_release(&c->http);
	free(c->origin);
	free(c->base);
	util_free_secret(c->auth);
	c->origin = c->base = c->auth = NULL;
}

int conn_answer(struct registry_conn *c, const struct http_xfer *x, struct cairn_error *err)
{
	char *header = NULL;
	int r = auth_answer_with(&c->http, x->www_authenticate, &c->ref, c->scope, c->user, c->pass,
				 &header, err);
	if (r < 0)
		return r;
	util_free_secret(c->auth);
	c->auth = header;
	return 0;
}

int conn_open(struct registry_conn *c, const struct registry_opts *o, struct cairn_error *err)
{
	int r = http_client_init(&c->http, o, err);
	if (r < 0)
		return r;
	/* registries.conf's insecure = true: as --tls-verify=false for this registry */
	if (conf_insecure(c->ref.domain))
		c->http.tls_verify = false;
	const char *host = registry_ref_api_host(&c->ref);
	const char *schemes[] = {"https", "http"};
	bool plain = http_plain_allowed(&c->http, host);
	for (size_t i = 0; i < (plain ? 2u : 1u); i++) {
		cleanup_free char *origin = xasprintf("%s://%s", schemes[i], host);
		cleanup_free char *ping = xasprintf("%s/v2/", origin);
		struct http_xfer x = {
		    .method = "GET", .url = ping, .max_tries = plain && i == 0 ? 1 : 0};
		struct http_xfer *xs[] = {&x};
		r = http_run(&c->http, xs, 1, 1, err);
		/* a certificate that fails the check is an answer, not a reason to drop TLS */
		if (r < 0 && plain && i == 0 && x.curl_result != CURLE_PEER_FAILED_VERIFICATION) {
			cairn_error_clear(err);
			http_xfer_release(&x);
			continue;
		}
		if (r < 0 && !plain && x.curl_result == CURLE_SSL_CONNECT_ERROR)
			/* most often a registry that speaks plain HTTP: say how to allow it */
			r = http_failure_error(&x,
					       "for a registry that speaks plain HTTP: "
					       "--tls-verify=false, or insecure = true for it in "
					       "registries.conf",
					       err);
		if (r == 0 && x.status == 401) {
			r = conn_answer(c, &x, err);
			http_xfer_release(&x);
			if (r < 0)
				return r;
			/* login needs to know the answer is accepted: ask again */
			x = (struct http_xfer){.method = "GET", .url = ping};
			char *headers[] = {c->auth, NULL};
			x.headers = headers;
			r = http_run(&c->http, xs, 1, 1, err);
			x.headers = NULL;
		}
		if (r == 0 && x.status != 200)
			r = http_status_error(&x, err);
		http_xfer_release(&x);
		if (r < 0)
			return r;
		c->origin = steal_pointer(&origin);
		c->base = xasprintf("%s/v2/%s", c->origin, c->ref.path ? c->ref.path : "");
		return 0;
	}
	return -EIO; /* not reached */
}

/* The Authorization header goes to the registry's origin only: an upload location
 * may point elsewhere. */
static bool same_origin(const struct registry_conn *c, const char *url)
{
	size_t n = strlen(c->origin);
	return !strncasecmp(url, c->origin, n) &&
	       (url[n] == '/' || url[n] == '\0' || url[n] == '?');
}

int conn_request(struct registry_conn *c, struct http_xfer *x, char *const *extra,
		 struct cairn_error *err)
{
	for (int attempt = 0;; attempt++) {
		cleanup_strv char **headers = NULL;
		if (c->auth && same_origin(c, x->url))
			strv_push(&headers, c->auth);
		for (char *const *h = extra; h && *h; h++)
			strv_push(&headers, *h);
		x->headers = headers;
		struct http_xfer *xs[] = {x};
		int r = http_run(&c->http, xs, 1, 1, err);
		x->headers = NULL;
		if (headers && c->auth && headers[0] && !strcmp(headers[0], c->auth))
			explicit_bzero(headers[0], strlen(headers[0]));
		if (r < 0 || x->status != 401)
			return r;
		if (attempt > 0 || !same_origin(c, x->url)) {
			http_status_error(x, err);
			return cairn_error_wrap(err, "%s refused the credentials", c->ref.domain);
		}
		if ((r = conn_answer(c, x, err)) < 0)
			return r;
		http_xfer_release(x);
	}
}
