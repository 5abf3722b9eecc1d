/* registry: referrers — artifacts about an image (its provenance) pushed beside it
 * and found from it. A registry with the distribution spec's referrers API (it
 * answers a manifest PUT that has a subject with an OCI-Subject header) keeps the
 * list itself; for the others (distribution 2.8, Debian's docker-registry) the
 * referrers tag schema: an image index under the tag sha256-<hex of the subject>
 * lists the artifacts, and whoever pushes one adds it there. */
#include "internal.h"
#include "../oci/oci.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define ACCEPT_INDEX "Accept: " MEDIA_TYPE_OCI_INDEX

/* The fallback tag of subject: "sha256-<hex>" (a new string). */
static char *fallback_tag(const char *subject)
{
	return xasprintf("sha256-%s", subject + 7);
}

/* A connection to the repository of refstr (its tag and digest ignored). */
static int open_repo(struct registry_conn *c, const char *refstr, const char *actions, char **scope,
		     const struct registry_opts *o, struct cairn_error *err)
{
	int r = registry_ref_parse(refstr, &c->ref, err);
	if (r < 0)
		return r;
	*scope = xasprintf("repository:%s:%s", c->ref.path, actions);
	c->scope = *scope;
	return conn_open(c, o, err);
}

/* GET url (an index: the referrers API's answer or the fallback tag's) into *doc;
 * -ENOENT on 404 (err says so). */
static int get_index(struct registry_conn *c, const char *url, json_t **doc,
		     struct cairn_error *err)
{
	char *extra[] = {ACCEPT_INDEX, NULL};
	struct http_xfer x = {.method = "GET", .url = url};
	int r = conn_request(c, &x, extra, err);
	if (r == 0 && x.status != 200)
		r = http_status_error(&x, err);
	if (r == 0) {
		json_error_t je;
		*doc = json_loadb(x.body.buf ? x.body.buf : "", x.body.len, 0, &je);
		if (!json_is_array(json_object_get(*doc, "manifests"))) {
			json_decref(steal_pointer(doc));
			r = remote_error(err, EBADMSG, "GET %s: not an image index", url);
		}
	}
	http_xfer_release(&x);
	return r;
}

/* Whether two descriptors are of the same kind of referrer: artifactType and
 * in-toto's predicate type (so the newest provenance replaces the last, and an
 * artifact of another kind stays). */
static bool same_kind(json_t *a, json_t *b)
{
	const char *ta = json_string_value(json_object_get(a, "artifactType"));
	const char *tb = json_string_value(json_object_get(b, "artifactType"));
	const char *pa = json_string_value(
	    json_object_get(json_object_get(a, "annotations"), "in-toto.io/predicate-type"));
	const char *pb = json_string_value(
	    json_object_get(json_object_get(b, "annotations"), "in-toto.io/predicate-type"));
	return ta && tb && !strcmp(ta, tb) && (pa ? pb && !strcmp(pa, pb) : !pb);
}

/* The referrers tag schema: the artifact's descriptor into the index under the
 * fallback tag of its subject (a new index when there is none). */
static int update_fallback(struct registry_conn *c, const char *subject, json_t *desc,
			   struct cairn_error *err)
{
	cleanup_free char *tag = fallback_tag(subject);
	cleanup_free char *url = xasprintf("%s/manifests/%s", c->base, tag);
	cleanup_json json_t *index = NULL;
	int r = get_index(c, url, &index, err);
	if (r == -ENOENT) {
		cairn_error_clear(err);
		index = json_pack("{s:i, s:s, s:[]}", "schemaVersion", 2, "mediaType",
				  MEDIA_TYPE_OCI_INDEX, "manifests");
	} else if (r < 0) {
		return r;
	}
	json_t *list = json_object_get(index, "manifests");
	for (size_t i = 0; i < json_array_size(list);) {
		json_t *d = json_array_get(list, i);
		const char *dd = json_string_value(json_object_get(d, "digest"));
		if ((dd && !strcmp(dd, json_string_value(json_object_get(desc, "digest")))) ||
		    same_kind(d, desc))
			json_array_remove(list, i);
		else
			i++;
	}
	json_array_append(list, desc);
	cleanup_free char *text = util_json_canonical(index);
	char *extra[] = {"Content-Type: " MEDIA_TYPE_OCI_INDEX, NULL};
	struct http_xfer x = {.method = "PUT",
			      .url = url,
			      .upload = true,
			      .upload_data = text,
			      .upload_len = strlen(text)};
	r = conn_request(c, &x, extra, err);
	if (r == 0 && x.status != 201)
		r = http_status_error(&x, err);
	http_xfer_release(&x);
	return r;
}

int registry_push_referrer(struct store *s, const char *artifact, const char *dest,
			   const struct registry_opts *o, const char **how, struct cairn_error *err)
{
	cleanup_free char *bytes = NULL;
	size_t len = 0;
	int r = store_read_blob(s, artifact, &bytes, &len, err);
	if (r < 0)
		return cairn_error_wrap(err, "pushing artifact %s", artifact);
	cleanup_json json_t *doc = json_loadb(bytes, len, 0, NULL);
	const char *subject =
	    json_string_value(json_object_get(json_object_get(doc, "subject"), "digest"));
	const char *type = json_string_value(json_object_get(doc, "artifactType"));
	if (!digest_valid(subject) || !type)
		return cairn_error_set(err, EINVAL,
				       "pushing artifact %s: it has no subject or artifactType",
				       artifact);
	cleanup_ref struct ref d = {0};
	if ((r = registry_ref_parse(dest, &d, err)) < 0)
		return r;
	cleanup_free char *name = ref_name(&d);
	cleanup_free char *by_digest = xasprintf("%s@%s", name, artifact);
	/* quietly: the artifact's two small blobs are not the image's progress */
	struct registry_opts q = *o;
	q.progress = NULL;
	char pushed[DIGEST_LEN];
	bool api = false;
	if ((r = push_image(s, artifact, by_digest, &q, pushed, &api, err)) < 0)
		return r;
	if (how)
		*how = api ? "the referrers API" : "the referrers tag schema";
	if (api)
		return 0;
	json_t *desc = json_pack("{s:s, s:s, s:I, s:s}", "mediaType", MEDIA_TYPE_OCI_MANIFEST,
				 "digest", artifact, "size", (json_int_t)len, "artifactType", type);
	json_t *ann = json_object_get(doc, "annotations");
	if (json_is_object(ann))
		json_object_set(desc, "annotations", ann);
	struct registry_conn c = {0};
	cleanup_free char *scope = NULL;
	if ((r = open_repo(&c, dest, "pull,push", &scope, o, err)) == 0)
		r = update_fallback(&c, subject, desc, err);
	if (r < 0) {
		cleanup_free char *tag = fallback_tag(subject);
		cairn_error_wrap(err, "pushing %s: the referrers tag %s", by_digest, tag);
	}
	json_decref(desc);
	conn_release(&c);
	ref_release(&c.ref);
	return r;
}

/* s as a query value: '+' (a space there) and what is not a letter, digit or one of
 * "-._~/" percent-encoded. New string. */
static char *query_escape(const char *s)
{
	struct strbuf sb = STRBUF_INIT;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~/", *p))
			strbuf_addch(&sb, (char)*p);
		else
			strbuf_addf(&sb, "%%%02X", *p);
	}
	return strbuf_detach(&sb);
}

/* The last descriptor of artifact_type in index (the newest pushed), into digest. */
static bool pick(json_t *index, const char *artifact_type, char digest[DIGEST_LEN])
{
	bool found = false;
	size_t i;
	json_t *d;
	json_array_foreach(json_object_get(index, "manifests"), i, d)
	{
		const char *t = json_string_value(json_object_get(d, "artifactType"));
		const char *dd = json_string_value(json_object_get(d, "digest"));
		if (t && !strcmp(t, artifact_type) && digest_valid(dd)) {
			memcpy(digest, dd, DIGEST_LEN);
			found = true;
		}
	}
	return found;
}

int registry_find_referrer(const char *ref, const char *subject, const char *artifact_type,
			   const struct registry_opts *o, char digest[DIGEST_LEN],
			   struct cairn_error *err)
{
	if (!digest_valid(subject))
		return cairn_error_set(err, EINVAL, "finding referrers: '%s' is not a digest",
				       subject);
	struct registry_conn c = {0};
	cleanup_free char *scope = NULL;
	cleanup_json json_t *index = NULL;
	cleanup_free char *tag = fallback_tag(subject);
	int r = open_repo(&c, ref, "pull", &scope, o, err);
	cleanup_free char *name = r == 0 ? ref_name(&c.ref) : NULL;
	if (r == 0) {
		cleanup_free char *type = query_escape(artifact_type);
		cleanup_free char *url =
		    xasprintf("%s/referrers/%s?artifactType=%s", c.base, subject, type);
		r = get_index(&c, url, &index, err);
		if (r == 0 && !pick(index, artifact_type, digest)) {
			/* a registry with the API that lists none: the fallback tag may still
			 * have one (pushed before the registry had the API) */
			json_decref(steal_pointer(&index));
			r = -ENOENT;
		}
	}
	if (r == -ENOENT) {
		cairn_error_clear(err);
		cleanup_free char *url = xasprintf("%s/manifests/%s", c.base, tag);
		r = get_index(&c, url, &index, err);
		if (r == 0 && !pick(index, artifact_type, digest))
			r = -ENOENT;
		if (r == -ENOENT) {
			cairn_error_clear(err);
			r = cairn_error_set(err, ENOENT,
					    "%s@%s has no %s: neither the referrers API nor the "
					    "tag %s lists one",
					    name, subject, artifact_type, tag);
		}
	}
	conn_release(&c);
	ref_release(&c.ref);
	return r;
}
