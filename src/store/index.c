/* store: the tags, descriptors in index.json with a ref name annotation, and the
 * referrers, descriptors with a subject annotation and no ref name. Readers
 * need no lock (index.json is replaced by rename); writers rewrite it under
 * cairn/index.lock. */
#include "internal.h"

#include "../ref/ref.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

/* Takes the index lock (flock LOCK_EX on cairn/index.lock); returns the fd to close. */
int store_lock_index(struct store *s, int *out, struct cairn_error *err)
{
	cleanup_close int fd =
	    openat(s->cairn_fd, "index.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return cairn_error_errno(err, errno, "opening %s/cairn/index.lock", s->root);
	while (flock(fd, LOCK_EX) < 0) {
		if (errno == EINTR && !util_interrupted)
			continue;
		return cairn_error_errno(err, errno, "locking %s/cairn/index.lock", s->root);
	}
	*out = steal_fd(&fd);
	return 0;
}

void store_tag_release(struct store_tag *t)
{
	if (!t)
		return;
	free(t->ref);
	free(t->digest);
	free(t->media_type);
	memset(t, 0, sizeof *t);
}

void store_tags_free(struct store_tag *t, size_t n)
{
	for (size_t i = 0; t && i < n; i++)
		store_tag_release(&t[i]);
	free(t);
}

/* Reads and parses index.json. Readers need no lock: writers replace it by rename. */
static int read_index(struct store *s, json_t **out, struct cairn_error *err)
{
	cleanup_free char *buf = NULL;
	size_t len = 0;
	int r = util_read_file(s->dirfd, "index.json", &buf, &len, err);
	if (r < 0)
		return cairn_error_wrap(err, "reading the tags of %s", s->root);
	json_error_t jerr;
	cleanup_json json_t *j = json_loadb(buf, len, 0, &jerr);
	if (!j)
		return cairn_error_set(err, EBADMSG, "parsing %s/index.json: line %d: %s", s->root,
				       jerr.line, jerr.text);
	if (!json_is_object(j) || !json_is_array(json_object_get(j, "manifests")))
		return cairn_error_set(
		    err, EBADMSG,
		    "parsing %s/index.json: not an OCI index (no \"manifests\" array)", s->root);
	*out = steal_pointer(&j);
	return 0;
}

static int write_index(struct store *s, const json_t *index, struct cairn_error *err)
{
	/* Not canonical: keeps the order of what other tools wrote. */
	cleanup_free char *text = json_dumps(index, JSON_COMPACT | JSON_ENCODE_ANY);
	if (!text)
		return cairn_error_set(err, ENOMEM, "serialising %s/index.json", s->root);
	int r = store_write_file(s, s->dirfd, "index.json", text, strlen(text), err);
	if (r < 0)
		return cairn_error_wrap(err, "updating the tags of %s", s->root);
	/* the rename itself reaches the disk before anyone is told the tag is set (the
	 * blobs it names were synced before it was written: blob.c) */
	if (fsync(s->dirfd) < 0)
		return cairn_error_errno(err, errno, "updating the tags of %s: syncing %s", s->root,
					 s->root);
	return 0;
}

/* The ref name of a descriptor, or NULL. */
static const char *desc_ref(json_t *desc)
{
	return json_string_value(
	    json_object_get(json_object_get(desc, "annotations"), ANNOTATION_REF_NAME));
}

/* Whether a ref name read from index.json names ref (a normalized reference): other
 * tools write short names ("skopeo copy … oci:ROOT:app" writes "app" for app:latest). */
static bool ref_name_matches(const char *name, const char *ref)
{
	if (!name)
		return false;
	if (!strcmp(name, ref))
		return true;
	cleanup_free char *norm = NULL;
	struct cairn_error e = CAIRN_ERROR_INIT;
	bool match = ref_local_name(name, &norm, &e) == 0 && !strcmp(norm, ref);
	cairn_error_clear(&e);
	return match;
}

static int tag_from_desc(struct store *s, json_t *desc, const char *ref, struct store_tag *out,
			 struct cairn_error *err)
{
	const char *digest = json_string_value(json_object_get(desc, "digest"));
	const char *mt = json_string_value(json_object_get(desc, "mediaType"));
	json_t *size = json_object_get(desc, "size");
	if (!digest || !json_is_integer(size))
		return cairn_error_set(
		    err, EBADMSG,
		    "parsing %s/index.json: the descriptor of %s has no digest or size", s->root,
		    ref);
	out->ref = xstrdup(ref);
	out->digest = xstrdup(digest);
	out->media_type = xstrdup(mt ? mt : MEDIA_TYPE_OCI_MANIFEST);
	out->size = (int64_t)json_integer_value(size);
	return 0;
}

int store_tag_set(struct store *s, const struct store_tag *t, struct cairn_error *err)
{
	if (!t->ref || !*t->ref)
		return cairn_error_set(err, EINVAL, "tagging: empty reference");
	if (!digest_valid(t->digest))
		return cairn_error_set(err, EINVAL, "tagging %s: '%s' is not a sha256 digest",
				       t->ref, t->digest ? t->digest : "(null)");
	if (t->size < 0)
		return cairn_error_set(err, EINVAL, "tagging %s: negative size", t->ref);

	cleanup_close int lock = -1;
	int r = store_need_write(s, "tagging", err);
	if (r < 0)
		return cairn_error_wrap(err, "%s", t->ref);
	r = store_lock_index(s, &lock, err);
	if (r < 0)
		return cairn_error_wrap(err, "tagging %s", t->ref);
	cleanup_json json_t *index = NULL;
	r = read_index(s, &index, err);
	if (r < 0)
		return cairn_error_wrap(err, "tagging %s", t->ref);

	json_t *desc =
	    json_pack("{s:s, s:s, s:I, s:{s:s}}", "mediaType",
		      t->media_type ? t->media_type : MEDIA_TYPE_OCI_MANIFEST, "digest", t->digest,
		      "size", (json_int_t)t->size, "annotations", ANNOTATION_REF_NAME, t->ref);
	if (!desc)
		return cairn_error_set(err, ENOMEM, "tagging %s", t->ref);
	json_t *manifests = json_object_get(index, "manifests");
	/* already so (and once): nothing to write */
	size_t same = 0, named = 0;
	for (size_t i = 0; i < json_array_size(manifests); i++) {
		json_t *m = json_array_get(manifests, i);
		if (ref_name_matches(desc_ref(m), t->ref)) {
			named++;
			same += json_equal(m, desc);
		}
	}
	if (named == 1 && same == 1) {
		json_decref(desc);
		return 0;
	}
	bool placed = false;
	for (size_t i = 0; i < json_array_size(manifests);) {
		const char *ref = desc_ref(json_array_get(manifests, i));
		if (!ref_name_matches(ref, t->ref)) {
			i++;
			continue;
		}
		if (!placed) {
			/* in place, so that listing order stays stable */
			json_array_set(manifests, i, desc);
			placed = true;
			i++;
		} else {
			json_array_remove(manifests, i); /* a duplicate another tool left */
		}
	}
	if (!placed)
		json_array_append(manifests, desc);
	json_decref(desc);
	return write_index(s, index, err);
}

int store_tag_get(struct store *s, const char *ref, struct store_tag *out, struct cairn_error *err)
{
	cleanup_json json_t *index = NULL;
	int r = read_index(s, &index, err);
	if (r < 0)
		return r;
	json_t *manifests = json_object_get(index, "manifests");
	size_t i;
	json_t *desc;
	json_array_foreach(manifests, i, desc)
	{
		const char *name = desc_ref(desc);
		if (name && strcmp(name, ref) == 0)
			return tag_from_desc(s, desc, ref, out, err);
	}
	/* then a short name another tool wrote, when there is no exact one */
	json_array_foreach(manifests, i, desc)
	{
		if (ref_name_matches(desc_ref(desc), ref))
			return tag_from_desc(s, desc, ref, out, err);
	}
	return cairn_error_set(err, ENOENT, "%s: no such image in %s", ref, s->root);
}

static const char *desc_subject(json_t *desc)
{
	return json_string_value(
	    json_object_get(json_object_get(desc, "annotations"), STORE_ANNOTATION_SUBJECT));
}

/* Drops the referrers (provenance) of images no tag names any more: an untagged
 * image's statement would otherwise stay in index.json for ever. */
static void drop_orphan_referrers(json_t *manifests)
{
	for (size_t i = 0; i < json_array_size(manifests);) {
		json_t *r = json_array_get(manifests, i);
		const char *sub = desc_ref(r) ? NULL : desc_subject(r);
		bool tagged = !sub;
		for (size_t k = 0; !tagged && k < json_array_size(manifests); k++) {
			json_t *m = json_array_get(manifests, k);
			const char *d = json_string_value(json_object_get(m, "digest"));
			tagged = desc_ref(m) && d && !strcmp(d, sub);
		}
		if (tagged)
			i++;
		else
			json_array_remove(manifests, i);
	}
}

int store_tag_remove(struct store *s, const char *ref, struct cairn_error *err)
{
	cleanup_close int lock = -1;
	int r = store_need_write(s, "untagging", err);
	if (r < 0)
		return cairn_error_wrap(err, "%s", ref);
	r = store_lock_index(s, &lock, err);
	if (r < 0)
		return cairn_error_wrap(err, "untagging %s", ref);
	cleanup_json json_t *index = NULL;
	r = read_index(s, &index, err);
	if (r < 0)
		return cairn_error_wrap(err, "untagging %s", ref);
	json_t *manifests = json_object_get(index, "manifests");
	bool found = false;
	for (size_t i = 0; i < json_array_size(manifests);) {
		const char *name = desc_ref(json_array_get(manifests, i));
		if (ref_name_matches(name, ref)) {
			json_array_remove(manifests, i);
			found = true;
		} else {
			i++;
		}
	}
	if (!found)
		return cairn_error_set(err, ENOENT, "untagging %s: no such image in %s", ref,
				       s->root);
	drop_orphan_referrers(manifests);
	return write_index(s, index, err);
}

int store_tag_list(struct store *s, struct store_tag **out, size_t *n, struct cairn_error *err)
{
	cleanup_json json_t *index = NULL;
	int r = read_index(s, &index, err);
	if (r < 0)
		return r;
	json_t *manifests = json_object_get(index, "manifests");
	struct store_tag *tags = xcalloc(json_array_size(manifests) + 1, sizeof *tags);
	size_t count = 0;
	size_t i;
	json_t *desc;
	json_array_foreach(manifests, i, desc)
	{
		const char *ref = desc_ref(desc);
		if (!ref)
			continue;
		r = tag_from_desc(s, desc, ref, &tags[count], err);
		if (r < 0) {
			store_tags_free(tags, count);
			return r;
		}
		count++;
	}
	*out = tags;
	*n = count;
	return 0;
}

/* ---- referrers ---- */

/* Whether desc is the referrer of artifact_type about subject. */
static bool referrer_matches(json_t *desc, const char *subject, const char *artifact_type)
{
	const char *sub = json_string_value(
	    json_object_get(json_object_get(desc, "annotations"), STORE_ANNOTATION_SUBJECT));
	const char *at = json_string_value(json_object_get(desc, "artifactType"));
	return !desc_ref(desc) && sub && at && !strcmp(sub, subject) && !strcmp(at, artifact_type);
}

int store_referrer_set(struct store *s, const char *subject, const char *artifact_type,
		       const char *digest, int64_t size, struct cairn_error *err)
{
	int r;
	if ((r = store_check_digest(subject, "recording a referrer's subject", err)) < 0 ||
	    (r = store_check_digest(digest, "recording a referrer", err)) < 0)
		return r;
	cleanup_close int lock = -1;
	if ((r = store_need_write(s, "recording a referrer", err)) < 0 ||
	    (r = store_lock_index(s, &lock, err)) < 0)
		return cairn_error_wrap(err, "recording the %s of %s", artifact_type, subject);
	cleanup_json json_t *index = NULL;
	if ((r = read_index(s, &index, err)) < 0)
		return cairn_error_wrap(err, "recording the %s of %s", artifact_type, subject);
	json_t *desc =
	    json_pack("{s:s, s:s, s:I, s:s, s:{s:s}}", "mediaType", MEDIA_TYPE_OCI_MANIFEST,
		      "digest", digest, "size", (json_int_t)size, "artifactType", artifact_type,
		      "annotations", STORE_ANNOTATION_SUBJECT, subject);
	if (!desc)
		return cairn_error_set(err, ENOMEM, "recording the %s of %s", artifact_type,
				       subject);
	json_t *manifests = json_object_get(index, "manifests");
	/* the newest replaces the last, in its place */
	bool placed = false;
	for (size_t i = 0; i < json_array_size(manifests);) {
		if (!referrer_matches(json_array_get(manifests, i), subject, artifact_type)) {
			i++;
		} else if (!placed) {
			json_array_set(manifests, i++, desc);
			placed = true;
		} else {
			json_array_remove(manifests, i);
		}
	}
	if (!placed)
		json_array_append(manifests, desc);
	json_decref(desc);
	return write_index(s, index, err);
}

int store_referrer_get(struct store *s, const char *subject, const char *artifact_type,
		       char digest[DIGEST_LEN], struct cairn_error *err)
{
	cleanup_json json_t *index = NULL;
	int r = read_index(s, &index, err);
	if (r < 0)
		return r;
	size_t i;
	json_t *desc;
	json_array_foreach(json_object_get(index, "manifests"), i, desc)
	{
		const char *d = json_string_value(json_object_get(desc, "digest"));
		if (referrer_matches(desc, subject, artifact_type) && digest_valid(d)) {
			memcpy(digest, d, DIGEST_LEN);
			return 0;
		}
	}
	return cairn_error_set(err, ENOENT, "%s has no %s in %s", subject, artifact_type, s->root);
}
