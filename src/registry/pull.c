/* registry: pull — resolve a reference to the platform's manifest, stream its
 * config and layers into the store (digests and sizes checked on the way, up to
 * PARALLEL at once), then store the manifest and tag it. The manifest goes in
 * last, so the store never has a manifest whose blobs are missing. */
#include "internal.h"
#include "../oci/oci.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define PARALLEL 4
#define ACCEPT_MANIFESTS                                                                           \
	"Accept: " MEDIA_TYPE_OCI_INDEX ", " MEDIA_TYPE_OCI_MANIFEST ", " MEDIA_TYPE_DOCKER_LIST   \
	", " MEDIA_TYPE_DOCKER_MANIFEST

/* A pull's connection (conn.c: scheme, challenge, retried 401s) and its progress. */
struct session {
	struct registry_conn c;
	char *scope;
	struct progress *progress;
};

/* GET with the session's auth and an Accept header. */
static int request(struct session *ss, struct http_xfer *x, const char *accept,
		   struct cairn_error *err)
{
	char *extra[] = {(char *)accept, NULL};
	return conn_request(&ss->c, x, extra, err);
}

static bool is_index_type(const char *mt)
{
	return mt && (!strcmp(mt, MEDIA_TYPE_OCI_INDEX) || !strcmp(mt, MEDIA_TYPE_DOCKER_LIST));
}

static bool is_manifest_type(const char *mt)
{
	return mt &&
	       (!strcmp(mt, MEDIA_TYPE_OCI_MANIFEST) || !strcmp(mt, MEDIA_TYPE_DOCKER_MANIFEST));
}

struct manifest {
	char *bytes;
	size_t len;
	char digest[DIGEST_LEN];
	char *media_type;
	json_t *doc;
};

static void manifest_release(struct manifest *m)
{
	free(m->bytes);
	free(m->media_type);
	json_decref(m->doc);
	memset(m, 0, sizeof *m);
}

/* GET manifests/<what>; checks the digest when what is one. */
static int fetch_manifest(struct session *ss, const char *what, struct manifest *m,
			  struct cairn_error *err)
{
	cleanup_free char *url = xasprintf("%s/manifests/%s", ss->c.base, what);
	struct http_xfer x = {.method = "GET", .url = url};
	int r = request(ss, &x, ACCEPT_MANIFESTS, err);
	if (r == 0 && x.status != 200)
		r = http_status_error(&x, err);
	if (r < 0)
		goto out;
	m->len = x.body.len;
	m->bytes = strbuf_detach(&x.body);
	sha256_digest(m->bytes, m->len, m->digest);
	if (digest_valid(what) && strcmp(what, m->digest)) {
		r = remote_error(err, EBADMSG, "GET %s: the manifest has digest %s, expected %s",
				 url, m->digest, what);
		goto out;
	}
	if (x.docker_digest && digest_valid(x.docker_digest) &&
	    strcmp(x.docker_digest, m->digest)) {
		r = remote_error(err, EBADMSG,
				 "GET %s: the manifest has digest %s, the registry says %s", url,
				 m->digest, x.docker_digest);
		goto out;
	}
	json_error_t je;
	m->doc = json_loadb(m->bytes, m->len, 0, &je);
	if (!json_is_object(m->doc)) {
		r = remote_error(err, EBADMSG, "GET %s: the manifest is not a JSON object: %s", url,
				 je.text);
		goto out;
	}
	const char *mt = json_string_value(json_object_get(m->doc, "mediaType"));
	if (!mt && x.content_type)
		x.content_type[strcspn(x.content_type, "; ")] = '\0';
	m->media_type = xstrdup(mt ? mt : x.content_type ? x.content_type : "");
	if (!is_index_type(m->media_type) && !is_manifest_type(m->media_type))
		r = remote_error(err, ENOTSUP,
				 "GET %s: unsupported manifest type \"%s\" (docker schema 1 is "
				 "not supported)",
				 url, m->media_type);
out:
	http_xfer_release(&x);
	return r;
}

/* One blob streaming into the store. */
struct blob {
	struct session *ss;
	struct store *s;
	char digest[DIGEST_LEN];
	uint64_t size;
	uint64_t got;
	char *url;
	struct blob_writer *w;
	struct http_xfer x;
	struct http_sink sink;
	uint64_t *total;
	size_t line;	   /* in the progress */
	bool unauthorized; /* a 401: the token expired, say; asked again once */
};

static int blob_begin(void *ud, struct cairn_error *err)
{
	struct blob *b = ud;
	store_blob_abort(b->w);
	b->w = NULL;
	b->got = 0;
	return store_blob_begin(b->s, &b->w, err);
}

/* A retry after a dropped connection asks for the rest, not the whole blob. */
static uint64_t blob_resume_at(void *ud)
{
	struct blob *b = ud;
	return b->w ? b->got : 0;
}

static int blob_write(void *ud, const void *data, size_t len, struct cairn_error *err)
{
	struct blob *b = ud;
	if (b->got + len > b->size)
		return remote_error(err, EBADMSG,
				    "GET %s: blob %s is larger than the %llu bytes the manifest "
				    "says",
				    b->url, b->digest, (unsigned long long)b->size);
	b->got += len;
	return store_blob_write(b->w, data, len, err);
}

static void blob_progress(void *ud, uint64_t bytes)
{
	struct blob *b = ud;
	progress_update(b->ss->progress, b->line, bytes);
}

static int blob_end(void *ud, long status, struct cairn_error *err)
{
	struct blob *b = ud;
	if (status == 401 && !b->unauthorized) {
		b->unauthorized = true; /* fetch_blobs answers the challenge and asks again */
		return 0;
	}
	if (status != 200 && status != 206)
		return http_status_error(&b->x, err);
	if (b->got != b->size)
		return remote_error(
		    err, EBADMSG, "GET %s: blob %s is %llu bytes, the manifest says %llu", b->url,
		    b->digest, (unsigned long long)b->got, (unsigned long long)b->size);
	char got[DIGEST_LEN];
	uint64_t size = 0;
	int r = store_blob_commit(steal_pointer(&b->w), b->digest, got, &size, err);
	/* content of another digest is what the registry served; any other failure the
	 * store's own */
	if (r == -EBADMSG)
		cairn_error_kind(err, CAIRN_ERR_REMOTE);
	if (r < 0)
		return cairn_error_wrap(err, "GET %s", b->url);
	*b->total += size;
	progress_done(b->ss->progress, b->line, "pull");
	return 0;
}

int want_blob(struct registry_blob **want, size_t *n, json_t *desc, const char *what,
	      const char *manifest_digest, struct cairn_error *err)
{
	const char *d = json_string_value(json_object_get(desc, "digest"));
	json_t *size = json_object_get(desc, "size");
	if (!digest_valid(d))
		return cairn_error_set(err, EBADMSG, "manifest %s: %s digest \"%s\" is not sha256",
				       manifest_digest, what, d ? d : "(none)");
	if (!json_is_integer(size) || json_integer_value(size) < 0)
		return cairn_error_set(err, EBADMSG, "manifest %s: %s %s has no valid size",
				       manifest_digest, what, d);
	for (size_t i = 0; i < *n; i++)
		if (!strcmp((*want)[i].digest, d))
			return 0;
	*want = xrealloc(*want, (*n + 1) * sizeof **want);
	memcpy((*want)[*n].digest, d, DIGEST_LEN);
	(*want)[(*n)++].size = (uint64_t)json_integer_value(size);
	return 0;
}

/* Downloads the blobs of want the store lacks, PARALLEL at once. */
static int fetch_blobs(struct session *ss, struct store *s, const struct registry_blob *want,
		       size_t n, uint64_t *total, size_t *fetched, struct cairn_error *err)
{
	struct blob *blobs = xcalloc(n ? n : 1, sizeof *blobs);
	struct http_xfer **xs = xcalloc(n ? n : 1, sizeof *xs);
	size_t nx = 0;
	char *headers[] = {ss->c.auth, NULL};
	for (size_t i = 0; i < n; i++) {
		struct blob *b = &blobs[i];
		memcpy(b->digest, want[i].digest, DIGEST_LEN);
		b->size = want[i].size;
		b->line = progress_add(ss->progress, b->digest, b->size);
		if (store_has_blob(s, b->digest)) {
			progress_done(ss->progress, b->line, "have");
			continue;
		}
		b->ss = ss;
		b->s = s;
		b->total = total;
		b->url = xasprintf("%s/blobs/%s", ss->c.base, b->digest);
		b->sink = (struct http_sink){.begin = blob_begin,
					     .write = blob_write,
					     .end = blob_end,
					     .resume_at = blob_resume_at,
					     .ud = b};
		nx++;
	}
	int r = 0;
	/* a second round for the blobs that met a 401: a token that expired mid-pull */
	for (int round = 0; round < 2 && r == 0; round++) {
		size_t todo = 0;
		for (size_t i = 0; i < n && r == 0; i++) {
			struct blob *b = &blobs[i];
			if (!b->url || (round == 1 && !(b->unauthorized && b->x.status == 401)))
				continue;
			if (round == 1 && todo == 0 && (r = conn_answer(&ss->c, &b->x, err)) == 0)
				headers[0] = ss->c.auth;
			http_xfer_release(&b->x);
			b->x = (struct http_xfer){.method = "GET",
						  .url = b->url,
						  .headers = headers,
						  .sink = &b->sink,
						  .on_progress = blob_progress,
						  .progress_ud = b};
			xs[todo++] = &b->x;
		}
		if (r == 0 && todo)
			r = http_run(&ss->c.http, xs, todo, PARALLEL, err);
	}
	*fetched = nx;
	for (size_t i = 0; i < n; i++) {
		store_blob_abort(blobs[i].w);
		http_xfer_release(&blobs[i].x);
		free(blobs[i].url);
	}
	free(xs);
	free(blobs);
	return r;
}

/* The config and layers of an image manifest the registry served: a bad descriptor in
 * it is the registry's content. */
static int manifest_blobs(const struct manifest *m, struct registry_blob **want, size_t *n,
			  struct cairn_error *err)
{
	int r = want_blob(want, n, json_object_get(m->doc, "config"), "config", m->digest, err);
	json_t *layers = json_object_get(m->doc, "layers");
	if (r == 0 && !json_is_array(layers))
		r = cairn_error_set(err, EBADMSG, "manifest %s has no layers array", m->digest);
	size_t i;
	json_t *l;
	json_array_foreach(layers, i, l)
	{
		if (r < 0)
			break;
		r = want_blob(want, n, l, "layer", m->digest, err);
	}
	return r < 0 ? cairn_error_kind(err, CAIRN_ERR_REMOTE) : 0;
}

/* A session for pulling from the repository refstr names, not yet connected. */
static int session_ref(struct session *ss, const char *refstr, struct cairn_error *err)
{
	int r = registry_ref_parse(refstr, &ss->c.ref, err);
	if (r < 0)
		return r;
	ss->scope = xasprintf("repository:%s:pull", ss->c.ref.path);
	ss->c.scope = ss->scope;
	return 0;
}

static void session_close(struct session *ss)
{
	conn_release(&ss->c);
	ref_release(&ss->c.ref);
	progress_free(ss->progress);
	free(ss->scope);
	memset(ss, 0, sizeof *ss);
}

int registry_fetch_blobs(struct store *s, const char *ref, const struct registry_blob *want,
			 size_t n, const struct registry_opts *o, struct cairn_error *err)
{
	struct session ss = {0};
	uint64_t total = 0;
	size_t fetched = 0;
	/* the parser's message names the reference already; what comes after, once */
	int r = session_ref(&ss, ref, err);
	if (r < 0)
		return r;
	if ((r = conn_open(&ss.c, o, err)) == 0) {
		ss.progress = progress_new(o->progress, "pull");
		r = fetch_blobs(&ss, s, want, n, &total, &fetched, err);
	}
	if (r < 0)
		cairn_error_wrap(err, "fetching from %s", ref);
	session_close(&ss);
	return r;
}

/* The config of the image manifest ss's reference names, into memory. */
static int fetch_config(struct session *ss, const struct registry_opts *o, char **config,
			size_t *len, char **media_type, struct cairn_error *err)
{
	struct manifest m = {0};
	int r = conn_open(&ss->c, o, err);
	if (r == 0)
		r = fetch_manifest(ss, ss->c.ref.digest ? ss->c.ref.digest : ss->c.ref.tag, &m,
				   err);
	if (r == 0 && !is_manifest_type(m.media_type))
		r = remote_error(err, ENOTSUP, "the manifest is a %s, not an image manifest",
				 m.media_type);
	json_t *desc = json_object_get(m.doc, "config");
	const char *d = json_string_value(json_object_get(desc, "digest"));
	if (r == 0 && !digest_valid(d))
		r = remote_error(err, EBADMSG, "manifest %s has no valid config", m.digest);
	cleanup_free char *url = r == 0 ? xasprintf("%s/blobs/%s", ss->c.base, d) : NULL;
	struct http_xfer x = {.method = "GET", .url = url};
	if (r == 0)
		r = conn_request(&ss->c, &x, NULL, err);
	if (r == 0 && x.status != 200)
		r = http_status_error(&x, err);
	char got[DIGEST_LEN];
	if (r == 0) {
		sha256_digest(x.body.buf, x.body.len, got);
		if (strcmp(got, d))
			r = remote_error(err, EBADMSG, "GET %s: the blob has digest %s", url, got);
	}
	if (r == 0) {
		*len = x.body.len;
		*config = strbuf_detach(&x.body);
		const char *mt = json_string_value(json_object_get(desc, "mediaType"));
		*media_type = xstrdup(mt ? mt : "");
	}
	http_xfer_release(&x);
	manifest_release(&m);
	return r;
}

int registry_fetch_config(const char *ref, const struct registry_opts *o, char **config,
			  size_t *len, char **media_type, struct cairn_error *err)
{
	struct session ss = {0};
	*config = *media_type = NULL;
	/* the parser's message names the reference already */
	int r = session_ref(&ss, ref, err);
	if (r == 0 && (r = fetch_config(&ss, o, config, len, media_type, err)) < 0)
		cairn_error_wrap(err, "fetching %s", ref);
	session_close(&ss);
	return r;
}

/* Pulls the image ss's reference names into the store. */
static int pull(struct session *ss, struct store *s, const struct registry_opts *o,
		char manifest_digest[DIGEST_LEN], struct cairn_error *err)
{
	struct manifest m = {0}, child = {0};
	struct registry_blob *want = NULL;
	size_t n = 0;
	int r = conn_open(&ss->c, o, err);
	if (r < 0)
		goto out;
	if ((r = fetch_manifest(ss, ss->c.ref.digest ? ss->c.ref.digest : ss->c.ref.tag, &m, err)) <
	    0)
		goto out;
	struct manifest *img = &m;
	if (is_index_type(m.media_type)) {
		char pick[DIGEST_LEN];
		if ((r = oci_index_pick(m.doc, m.digest, o->platform, pick, err)) == -EBADMSG)
			cairn_error_kind(err, CAIRN_ERR_REMOTE); /* the registry served it */
		if (r < 0 || (r = fetch_manifest(ss, pick, &child, err)) < 0)
			goto out;
		if (!is_manifest_type(child.media_type)) {
			r = remote_error(err, ENOTSUP, "index %s points to another index",
					 m.digest);
			goto out;
		}
		img = &child;
	}
	uint64_t total = 0;
	size_t fetched = 0;
	ss->progress = progress_new(o->progress, "pull");
	if ((r = manifest_blobs(img, &want, &n, err)) < 0 ||
	    (r = fetch_blobs(ss, s, want, n, &total, &fetched, err)) < 0)
		goto out;
	char stored[DIGEST_LEN];
	if ((r = store_put_blob(s, img->bytes, img->len, stored, err)) < 0)
		goto out;
	if (ss->c.ref.tag) {
		cleanup_free char *name = ref_name(&ss->c.ref);
		cleanup_free char *tagref = xasprintf("%s:%s", name, ss->c.ref.tag);
		struct store_tag t = {.ref = tagref,
				      .digest = stored,
				      .media_type = img->media_type,
				      .size = (int64_t)img->len};
		if ((r = store_tag_set(s, &t, err)) < 0)
			goto out;
	}
	memcpy(manifest_digest, stored, DIGEST_LEN);
	progress_finish(ss->progress, "pulled", fetched, total);
out:
	free(want);
	manifest_release(&m);
	manifest_release(&child);
	return r;
}

int registry_pull(struct store *s, const char *refstr, const struct registry_opts *o,
		  char manifest_digest[DIGEST_LEN], struct cairn_error *err)
{
	struct session ss = {0};
	/* the parser's message names the reference already; what comes after, once */
	int r = session_ref(&ss, refstr, err);
	if (r == 0 && (r = pull(&ss, s, o, manifest_digest, err)) < 0) {
		cleanup_free char *full = ref_string(&ss.c.ref);
		cairn_error_wrap(err, "pulling %s", full);
	}
	session_close(&ss);
	return r;
}
