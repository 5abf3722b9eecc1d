/* registry: plain HTTP(S) downloads for ADD of a URL, through the same transfers
 * (retries, TLS settings, redirects) as the registry's blobs: the body goes into a
 * blob of the store, named by its content, and a kept copy is revalidated with
 * If-None-Match / If-Modified-Since. */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct fetch {
	struct store *s;
	struct blob_writer *w;
	struct http_xfer *x;
};

static int fetch_begin(void *ud, struct cairn_error *err)
{
	struct fetch *f = ud;
	store_blob_abort(f->w);
	f->w = NULL;
	return store_blob_begin(f->s, &f->w, err);
}

static int fetch_write(void *ud, const void *data, size_t len, struct cairn_error *err)
{
	struct fetch *f = ud;
	return store_blob_write(f->w, data, len, err);
}

static int fetch_end(void *ud, long status, struct cairn_error *err)
{
	(void)ud;
	(void)status;
	(void)err;
	return 0;
}

int registry_fetch_url(struct store *s, struct registry_fetch *f, const struct registry_opts *ro,
		       struct cairn_error *err)
{
	struct registry_opts defaults = REGISTRY_OPTS_INIT;
	struct http_client c;
	if (http_client_init(&c, ro ? ro : &defaults, err) < 0)
		return -1;
	cleanup_free char *inm =
	    f->if_none_match ? xasprintf("If-None-Match: %s", f->if_none_match) : NULL;
	cleanup_free char *ims =
	    f->if_modified_since ? xasprintf("If-Modified-Since: %s", f->if_modified_since) : NULL;
	char *headers[3] = {NULL};
	size_t nh = 0;
	if (inm)
		headers[nh++] = inm;
	if (ims)
		headers[nh++] = ims;
	struct fetch st = {.s = s};
	struct http_sink sink = {
	    .begin = fetch_begin, .write = fetch_write, .end = fetch_end, .ud = &st};
	struct http_xfer x = {.method = "GET",
			      .url = f->url,
			      .headers = headers,
			      .sink = &sink,
			      .allow_plain = true,
			      .proxy = f->proxy,
			      .no_proxy = f->no_proxy};
	st.x = &x;
	struct http_xfer *xs[] = {&x};
	int r = http_run(&c, xs, 1, 1, err);
	if (r == 0 && !x.status)
		r = http_failure_error(&x, NULL, err);
	else if (r == 0 && x.status != 200 && x.status != 304)
		r = http_status_error(&x, err);
	if (r == 0) {
		f->status = x.status;
		f->etag = x.etag ? xstrdup(x.etag) : NULL;
		f->last_modified = x.last_modified ? xstrdup(x.last_modified) : NULL;
		if (x.status == 200)
			r = store_blob_commit(steal_pointer(&st.w), NULL, f->digest, &f->size, err);
	}
	store_blob_abort(st.w);
	http_xfer_release(&x);
	http_client_release(&c);
	return r;
}

void registry_fetch_release(struct registry_fetch *f)
{
	free(f->etag);
	free(f->last_modified);
	f->etag = f->last_modified = NULL;
}
