/* registry: push — an image of the store to a repository: every blob the registry
 * lacks (layers, then the config) uploaded monolithically from its store file, then
 * the manifest exactly as stored, so the registry has the digest the store has. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define MEDIA_TYPE_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"

/* The upload URL from a Location: absolute, origin-relative or base-relative. */
static char *upload_url(const struct registry_conn *c, const char *loc, const char *digest)
{
	cleanup_free char *abs = NULL;
	if (!strncasecmp(loc, "http://", 7) || !strncasecmp(loc, "https://", 8))
		abs = xstrdup(loc);
	else if (loc[0] == '/')
		abs = xasprintf("%s%s", c->origin, loc);
	else
		abs = xasprintf("%s/blobs/uploads/%s", c->base, loc);
	/* "sha256:hex": the colon escaped, as a query value wants */
	return xasprintf("%s%cdigest=sha256%%3A%s", abs, strchr(abs, '?') ? '&' : '?', digest + 7);
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

static int upload_blob(struct registry_conn *c, struct store *s, const char *digest, uint64_t size,
		       struct cairn_error *err)
{
	cleanup_close int fd = -1;
	int r = store_open_blob(s, digest, &fd, err);
	if (r < 0)
		return r;
	cleanup_free char *start = xasprintf("%s/blobs/uploads/", c->base);
	struct http_xfer post = {.method = "POST", .url = start};
	r = conn_request(c, &post, NULL, err);
	if (r == 0 && post.status != 202)
		r = http_status_error(&post, err);
	if (r == 0 && (!post.location || !*post.location))
		r = cairn_error_set(err, EPROTO, "POST %s: %ld without a Location", start,
				    post.status);
	cleanup_free char *url = r == 0 ? upload_url(c, post.location, digest) : NULL;
	http_xfer_release(&post);
	if (r < 0)
		return r;
	char *extra[] = {"Content-Type: application/octet-stream", NULL};
	struct http_xfer put = {
	    .method = "PUT", .url = url, .upload = true, .upload_fd = fd, .upload_len = size};
	r = conn_request(c, &put, extra, err);
	if (r == 0 && put.status != 201)
		r = http_status_error(&put, err);
	if (r == 0 && put.docker_digest && digest_valid(put.docker_digest) &&
	    strcmp(put.docker_digest, digest))
		r = cairn_error_set(err, EBADMSG, "PUT blob %s: the registry says it got %s",
				    digest, put.docker_digest);
	http_xfer_release(&put);
	return r;
}

struct push_blob {
	char digest[DIGEST_LEN];
	uint64_t size;
};

static int add_blob(struct push_blob **v, size_t *n, json_t *desc, const char *manifest_digest,
		    struct cairn_error *err)
{
	const char *d = json_string_value(json_object_get(desc, "digest"));
	json_t *size = json_object_get(desc, "size");
	if (!digest_valid(d) || !json_is_integer(size) || json_integer_value(size) < 0)
		return cairn_error_set(err, EBADMSG, "manifest %s has a bad descriptor",
				       manifest_digest);
	for (size_t i = 0; i < *n; i++)
		if (!strcmp((*v)[i].digest, d))
			return 0;
	*v = xrealloc(*v, (*n + 1) * sizeof **v);
	memcpy((*v)[*n].digest, d, DIGEST_LEN);
	(*v)[*n].size = (uint64_t)json_integer_value(size);
	(*n)++;
	return 0;
}

/* PUT manifests/<what>, the bytes as stored; the registry's digest must be ours. */
static int put_manifest(struct registry_conn *c, const char *what, const char *bytes, size_t len,
			const char *media_type, const char *digest, struct cairn_error *err)
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
		r = cairn_error_set(err, EBADMSG,
				    "PUT %s: the registry says the manifest is %s, ours is %s", url,
				    x.docker_digest, digest);
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
	cleanup_free char *full = NULL;
	int r = util_ref_normalize(src, &full, err);
	if (r < 0)
		return r;
	struct store_tag t = {0};
	if ((r = store_tag_get(s, full, &t, err)) < 0)
		return r;
	memcpy(digest, t.digest, DIGEST_LEN);
	*media_type = t.media_type ? xstrdup(t.media_type) : NULL;
	store_tag_release(&t);
	return 0;
}

int registry_push(struct store *s, const char *src, const char *dest, const struct registry_opts *o,
		  char manifest_digest[DIGEST_LEN], struct cairn_error *err)
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
	double t0 = util_now();
	cleanup_free char *full = registry_ref_string(&c.ref);
	cleanup_free char *scope = xasprintf("repository:%s:pull,push", c.ref.path);
	cleanup_free char *media_type = NULL;
	cleanup_free char *bytes = NULL;
	cleanup_json json_t *doc = NULL;
	struct push_blob *blobs = NULL;
	size_t n = 0, sent = 0;
	uint64_t total = 0;
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
	size_t i;
	json_t *l;
	json_array_foreach(json_object_get(doc, "layers"), i, l)
	{
		if ((r = add_blob(&blobs, &n, l, digest, err)) < 0)
			goto out;
	}
	if ((r = add_blob(&blobs, &n, json_object_get(doc, "config"), digest, err)) < 0)
		goto out;
	for (i = 0; i < n; i++)
		if (!store_has_blob(s, blobs[i].digest)) {
			r = cairn_error_set(err, ENOENT, "blob %s of %s is not in the store",
					    blobs[i].digest, digest);
			goto out;
		}
	if ((r = conn_open(&c, o, err)) < 0)
		goto out;
	for (i = 0; i < n; i++) {
		struct push_blob *b = &blobs[i];
		cleanup_free char *hs = util_human_size(b->size);
		if ((r = blob_exists(&c, b->digest, err)) < 0)
			goto out;
		if (r == 1) {
			if (o->progress)
				fprintf(o->progress, "exists %.19s… %s\n", b->digest, hs);
			continue;
		}
		if ((r = upload_blob(&c, s, b->digest, b->size, err)) < 0)
			goto out;
		sent++;
		total += b->size;
		if (o->progress) {
			fprintf(o->progress, "push %.19s… %s\n", b->digest, hs);
			fflush(o->progress);
		}
	}
	if ((r = put_manifest(&c, c.ref.tag ? c.ref.tag : digest, bytes, len, media_type, digest,
			      err)) < 0)
		goto out;
	memcpy(manifest_digest, digest, DIGEST_LEN);
	if (o->progress) {
		double secs = util_now() - t0;
		cleanup_free char *hs = util_human_size(total);
		cleanup_free char *hd = util_human_duration(secs);
		fprintf(o->progress, "pushed %zu blob%s, %s in %s\n", sent, sent == 1 ? "" : "s",
			hs, hd);
	}
	r = 0;
out:
	if (r < 0)
		cairn_error_wrap(err, "pushing %s", full);
	free(blobs);
	conn_release(&c);
	registry_ref_release(&c.ref);
	return r;
}
