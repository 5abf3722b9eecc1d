/* registry: push — an image of the store to a repository: every blob the registry
 * lacks (layers, then the config) uploaded from its store file (whole, or in chunks
 * when large), then the manifest exactly as stored, so the registry has the digest
 * the store has. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* A Location as an absolute URL: absolute, origin-relative or base-relative. */
static char *absolute_url(const struct registry_conn *c, const char *loc)
{
	if (!strncasecmp(loc, "http://", 7) || !strncasecmp(loc, "https://", 8))
		return xstrdup(loc);
	if (loc[0] == '/')
		return xasprintf("%s%s", c->origin, loc);
	return xasprintf("%s/blobs/uploads/%s", c->base, loc);
}

/* The upload URL plus "digest=…", the colon escaped as a query value wants. */
static char *with_digest(const char *url, const char *digest)
{
	return xasprintf("%s%cdigest=sha256%%3A%s", url, strchr(url, '?') ? '&' : '?', digest + 7);
}

/* 1: the registry has the blob; 0: it has not. */
static int blob_exists(struct registry_conn *c, const char *digest, struct cairn_error *err)
{
	cleanup_free char *url = xasprintf("%s/blobs/%s", c->base, digest);
	struct http_xfer x = {.method = "HEAD", .url = url};
	int r = conn_request(c, &x, NULL, err);
	if (r == 0) {
		if (x.status == 200)
			r = 1;
		else if (x.status != 404)
			r = http_status_error(&x, err);
	}
	http_xfer_release(&x);
	return r;
}

/* One blob going up: where its upload session is, and its progress line. */
struct upload {
	struct registry_conn *c;
	const char *digest;
	uint64_t size;
	int fd;
	char *location; /* the session's URL, absolute */
	struct progress *progress;
	size_t line;
	uint64_t base; /* bytes before the current request's */
};

static void upload_progress(void *ud, uint64_t bytes)
{
	struct upload *u = ud;
	progress_update(u->progress, u->line, u->base + bytes);
}

static int take_location(struct upload *u, const struct http_xfer *x, struct cairn_error *err)
{
	if (!x->location || !*x->location)
		return remote_error(err, EPROTO, "%s %s: %ld without a Location", x->method, x->url,
				    x->status);
	free(u->location);
	u->location = absolute_url(u->c, x->location);
	return 0;
}

/* POST blobs/uploads/, with ?mount=&from= when from is set. 1: mounted (201);
 * 0: an upload session is open (202). */
static int upload_start(struct upload *u, const char *from, struct cairn_error *err)
{
	cleanup_free char *url =
	    from ? xasprintf("%s/blobs/uploads/?mount=%s&from=%s", u->c->base, u->digest, from)
		 : xasprintf("%s/blobs/uploads/", u->c->base);
	struct http_xfer x = {.method = "POST", .url = url};
	int r = conn_request(u->c, &x, NULL, err);
	if (r == 0 && from && x.status == 201)
		r = 1;
	else if (r == 0 && x.status != 202)
		r = http_status_error(&x, err);
	else if (r == 0)
		r = take_location(u, &x, err);
	http_xfer_release(&x);
	return r;
}

/* The bytes the registry holds of the session: "Range: 0-N" → N + 1. */
static int upload_status(struct upload *u, uint64_t *have, struct cairn_error *err)
{
	struct http_xfer x = {.method = "GET", .url = u->location};
	int r = conn_request(u->c, &x, NULL, err);
	if (r == 0 && x.status != 204)
		r = http_status_error(&x, err);
	unsigned long long first = 0, last = 0;
	*have = 0;
	/* "0-N" holds N + 1 bytes; distribution also says "0-0" for an empty session,
	 * so that one reads as nothing (a chunk is never a single byte short) */
	if (r == 0 && x.range && sscanf(x.range, "%llu-%llu", &first, &last) == 2 && first == 0 &&
	    last > 0)
		*have = last + 1;
	if (r == 0 && x.location && *x.location)
		r = take_location(u, &x, err);
	http_xfer_release(&x);
	return r;
}

/* PATCHes the blob from *off in chunks; after a failed chunk asks the registry what
 * it kept and goes on from there (a few times). */
static int upload_chunks(struct upload *u, uint64_t chunk, struct cairn_error *err)
{
	uint64_t off = 0;
	int failures = 0;
	while (off < u->size) {
		uint64_t n = u->size - off < chunk ? u->size - off : chunk;
		char range[64];
		snprintf(range, sizeof range, "Content-Range: %llu-%llu", (unsigned long long)off,
			 (unsigned long long)(off + n - 1));
		char *extra[] = {"Content-Type: application/octet-stream", range, NULL};
		struct http_xfer x = {.method = "PATCH",
				      .url = u->location,
				      .upload = true,
				      .upload_fd = u->fd,
				      .upload_start = off,
				      .upload_len = n,
				      .max_tries = 1,
				      .on_progress = upload_progress,
				      .progress_ud = u};
		u->base = off;
		int r = conn_request(u->c, &x, extra, err);
		if (r == 0 && x.status == 202) {
			r = take_location(u, &x, err);
			http_xfer_release(&x);
			if (r < 0)
				return r;
			off += n;
			continue;
		}
		bool again = r < 0 ? err->code != EACCES && err->code != EINTR
				   : x.status >= 500 || x.status == 416 || x.status == 429;
		if (r == 0)
			r = http_status_error(&x, err);
		http_xfer_release(&x);
		if (!again || ++failures > 4)
			return r;
		/* resume from what the registry has; a registry that dropped the session
		 * (distribution does, after a broken PATCH) gets the blob again */
		cairn_error_clear(err);
		uint64_t have = 0;
		r = upload_status(u, &have, err);
		if (r == -ENOENT) {
			cairn_error_clear(err);
			if ((r = upload_start(u, NULL, err)) < 0)
				return r;
			off = 0;
			continue;
		}
		if (r < 0)
			return r;
		if (have > off + n || have < off)
			return remote_error(err, EPROTO,
					    "upload of %s: the registry has %llu bytes, we were "
					    "at %llu",
					    u->digest, (unsigned long long)have,
					    (unsigned long long)off);
		off = have;
	}
	return 0;
}

/* Sends one blob: a cross-repository mount when from is set and the registry takes
 * it, else an upload (monolithic, or chunked when large). 1: mounted. */
static int upload_blob(struct registry_conn *c, struct store *s, const char *digest, uint64_t size,
		       const char *from, uint64_t chunk, struct progress *pr, size_t line,
		       struct cairn_error *err)
{
	struct upload u = {
	    .c = c, .digest = digest, .size = size, .fd = -1, .progress = pr, .line = line};
	int r = store_open_blob(s, digest, &u.fd, err);
	if (r == 0)
		r = upload_start(&u, from, err);
	if (r < 0 && from && err->code != EINTR) {
		/* a mount refused (no pull right on the source, say): upload it, as docker */
		cairn_error_clear(err);
		r = upload_start(&u, NULL, err);
	}
	if (r == 0 && size > chunk) {
		if ((r = upload_chunks(&u, chunk, err)) == 0) {
			cleanup_free char *url = with_digest(u.location, digest);
			struct http_xfer put = {.method = "PUT", .url = url};
			put.upload = true; /* an empty body */
			r = conn_request(c, &put, NULL, err);
			if (r == 0 && put.status != 201)
				r = http_status_error(&put, err);
			http_xfer_release(&put);
		}
	} else if (r == 0) {
		cleanup_free char *url = with_digest(u.location, digest);
		char *extra[] = {"Content-Type: application/octet-stream", NULL};
		struct http_xfer put = {.method = "PUT",
					.url = url,
					.upload = true,
					.upload_fd = u.fd,
					.upload_len = size,
					.on_progress = upload_progress,
					.progress_ud = &u};
		r = conn_request(c, &put, extra, err);
		if (r == 0 && put.status != 201)
			r = http_status_error(&put, err);
		if (r == 0 && put.docker_digest && digest_valid(put.docker_digest) &&
		    strcmp(put.docker_digest, digest))
			r = remote_error(err, EBADMSG, "PUT blob %s: the registry says it got %s",
					 digest, put.docker_digest);
		http_xfer_release(&put);
	}
	if (u.fd >= 0)
		close(u.fd);
	free(u.location);
	return r;
}

/* Another repository of the same registry that the store has an image of holding
 * blob digest (it was pulled from or pushed there): a mount source. */
struct mount_source {
	char digest[DIGEST_LEN];
	char *path;
};

static void find_mount_sources(struct store *s, const struct ref *dest, struct mount_source **out,
			       size_t *n)
{
	struct store_tag *tags = NULL;
	size_t nt = 0;
	struct cairn_error e = CAIRN_ERROR_INIT;
	if (store_tag_list(s, &tags, &nt, &e) < 0) {
		cairn_error_clear(&e);
		return;
	}
	for (size_t i = 0; i < nt; i++) {
		cleanup_ref struct ref ref = {0};
		if (registry_ref_parse(tags[i].ref, &ref, &e) < 0) {
			cairn_error_clear(&e);
			continue;
		}
		cleanup_free char *full = ref_string(&ref);
		/* only names written with their registry, on dest's, in another repository */
		if (strcmp(full, tags[i].ref) || strcmp(ref.domain, dest->domain) ||
		    !strcmp(ref.path, dest->path))
			continue;
		cleanup_free char *bytes = NULL;
		size_t len = 0;
		if (store_read_blob(s, tags[i].digest, &bytes, &len, &e) < 0) {
			cairn_error_clear(&e);
			continue;
		}
		cleanup_json json_t *doc = json_loadb(bytes, len, 0, NULL);
		size_t k;
		json_t *l;
		json_array_foreach(json_object_get(doc, "layers"), k, l)
		{
			const char *d = json_string_value(json_object_get(l, "digest"));
			if (!digest_valid(d))
				continue;
			*out = xrealloc(*out, (*n + 1) * sizeof **out);
			memcpy((*out)[*n].digest, d, DIGEST_LEN);
			(*out)[(*n)++].path = xstrdup(ref.path);
		}
	}
	store_tags_free(tags, nt);
}

/* PUT manifests/<what>, the bytes as stored; the registry's digest must be ours.
 * *oci_subject (when non-NULL): the registry answered with an OCI-Subject header. */
static int put_manifest(struct registry_conn *c, const char *what, const char *bytes, size_t len,
			const char *media_type, const char *digest, bool *oci_subject,
			struct cairn_error *err)
{
	cleanup_free char *url = xasprintf("%s/manifests/%s", c->base, what);
	cleanup_free char *ctype = xasprintf("Content-Type: %s", media_type);
	char *extra[] = {ctype, NULL};
	struct http_xfer x = {
	    .method = "PUT", .url = url, .upload = true, .upload_data = bytes, .upload_len = len};
	int r = conn_request(c, &x, extra, err);
	if (r == 0 && x.status != 201)
		r = http_status_error(&x, err);
	if (r == 0 && x.docker_digest && strcmp(x.docker_digest, digest))
		r = remote_error(err, EBADMSG,
				 "PUT %s: the registry says the manifest is %s, ours is %s", url,
				 x.docker_digest, digest);
	if (oci_subject)
		*oci_subject = x.oci_subject && *x.oci_subject;
	http_xfer_release(&x);
	return r;
}

/* The manifest src names in the store (a tag, or a manifest digest). */
static int resolve_source(struct store *s, const char *src, char digest[DIGEST_LEN],
			  char **media_type, struct cairn_error *err)
{
	*media_type = NULL;
	if (digest_valid(src)) {
		memcpy(digest, src, DIGEST_LEN);
		return 0;
	}
	struct store_tag t = {0};
	int r = registry_store_lookup(s, src, &t, err);
	if (r < 0)
		return r;
	memcpy(digest, t.digest, DIGEST_LEN);
	*media_type = t.media_type ? xstrdup(t.media_type) : NULL;
	store_tag_release(&t);
	return 0;
}

int registry_push(struct store *s, const char *src, const char *dest, const struct registry_opts *o,
		  char manifest_digest[DIGEST_LEN], struct cairn_error *err)
{
	return push_image(s, src, dest, o, manifest_digest, NULL, err);
}

int push_image(struct store *s, const char *src, const char *dest, const struct registry_opts *o,
	       char manifest_digest[DIGEST_LEN], bool *oci_subject, struct cairn_error *err)
{
	if (!dest)
		dest = src;
	if (digest_valid(dest))
		return cairn_error_set(err, EINVAL,
				       "pushing %s: a destination with a registry and a name is "
				       "needed",
				       src);
	struct registry_conn c = {0};
	int r = registry_ref_parse(dest, &c.ref, err);
	if (r < 0)
		return r;
	cleanup_free char *full = ref_string(&c.ref);
	cleanup_free char *scope = xasprintf("repository:%s:pull,push", c.ref.path);
	cleanup_free char *media_type = NULL;
	cleanup_free char *bytes = NULL;
	cleanup_json json_t *doc = NULL;
	struct registry_blob *blobs = NULL;
	size_t n = 0, sent = 0, n_mounts = 0, i = 0;
	uint64_t total = 0;
	struct mount_source *mounts = NULL;
	struct progress *pr = NULL;
	char digest[DIGEST_LEN];
	size_t len = 0;
	c.scope = scope;
	if ((r = resolve_source(s, src, digest, &media_type, err)) < 0 ||
	    (r = store_read_blob(s, digest, &bytes, &len, err)) < 0)
		goto out;
	if (c.ref.digest && strcmp(c.ref.digest, digest)) {
		r = cairn_error_set(err, EINVAL, "the image is %s, not %s", digest, c.ref.digest);
		goto out;
	}
	doc = json_loadb(bytes, len, 0, NULL);
	const char *mt = json_string_value(json_object_get(doc, "mediaType"));
	if (mt) {
		free(media_type);
		media_type = xstrdup(mt);
	} else if (!media_type) {
		media_type = xstrdup(MEDIA_TYPE_OCI_MANIFEST);
	}
	if (strcmp(media_type, MEDIA_TYPE_OCI_MANIFEST) &&
	    strcmp(media_type, MEDIA_TYPE_DOCKER_MANIFEST)) {
		r = cairn_error_set(err, ENOTSUP, "%s is a %s: only image manifests are pushed",
				    digest, media_type);
		goto out;
	}
	json_t *l;
	json_array_foreach(json_object_get(doc, "layers"), i, l)
	{
		if ((r = want_blob(&blobs, &n, l, "layer", digest, err)) < 0)
			goto out;
	}
	if ((r = want_blob(&blobs, &n, json_object_get(doc, "config"), "config", digest, err)) < 0)
		goto out;
	for (i = 0; i < n; i++)
		if (!store_has_blob(s, blobs[i].digest)) {
			r = cairn_error_set(err, ENOENT, "blob %s of %s is not in the store",
					    blobs[i].digest, digest);
			goto out;
		}
	if ((r = conn_open(&c, o, err)) < 0)
		goto out;
	find_mount_sources(s, &c.ref, &mounts, &n_mounts);
	pr = progress_new(o->progress, "push");
	uint64_t chunk = o->chunk_size ? o->chunk_size : REGISTRY_CHUNK_SIZE;
	for (i = 0; i < n; i++) {
		struct registry_blob *b = &blobs[i];
		size_t line = progress_add(pr, b->digest, b->size);
		if ((r = blob_exists(&c, b->digest, err)) < 0)
			goto out;
		if (r == 1) {
			progress_done(pr, line, "exists");
			continue;
		}
		const char *from = NULL;
		for (size_t k = 0; k < n_mounts && !from; k++)
			if (!strcmp(mounts[k].digest, b->digest))
				from = mounts[k].path;
		if ((r = upload_blob(&c, s, b->digest, b->size, from, chunk, pr, line, err)) < 0)
			goto out;
		if (r == 1) {
			progress_done(pr, line, "mount");
			continue;
		}
		sent++;
		total += b->size;
		progress_done(pr, line, "push");
	}
	if ((r = put_manifest(&c, c.ref.tag ? c.ref.tag : digest, bytes, len, media_type, digest,
			      oci_subject, err)) < 0)
		goto out;
	memcpy(manifest_digest, digest, DIGEST_LEN);
	progress_finish(pr, "pushed", sent, total);
	r = 0;
out:
	if (r < 0)
		cairn_error_wrap(err, "pushing %s", full);
	free(blobs);
	for (i = 0; i < n_mounts; i++)
		free(mounts[i].path);
	free(mounts);
	progress_free(pr);
	conn_release(&c);
	ref_release(&c.ref);
	return r;
}
