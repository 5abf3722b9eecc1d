/* transport: OCI image layouts. oci:DIR is opened where it is, as a read-only store
 * (a layout is what the store is); oci-archive:FILE is read in one pass, its blobs
 * streamed into a temporary store, each checked against the digest its name says. */
#include "internal.h"
#include "../fs/fs.h"

#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *ref_name_of(json_t *desc)
{
	return json_string_value(
	    json_object_get(json_object_get(desc, "annotations"), ANNOTATION_REF_NAME));
}

/* Whether name and ref name the same image once ":latest" is added to each. */
static bool same_name(const char *name, const char *ref)
{
	if (!name)
		return false;
	struct cairn_error e = CAIRN_ERROR_INIT;
	cleanup_free char *a = NULL, *b = NULL;
	bool same =
	    ref_local_name(name, &a, &e) == 0 && ref_local_name(ref, &b, &e) == 0 && !strcmp(a, b);
	cairn_error_clear(&e);
	return same;
}

/* "@N": the Nth entry; -1 when ref is not of that form. */
static long index_ref(const char *ref)
{
	if (!ref || ref[0] != '@' || !ref[1] || strspn(ref + 1, "0123456789") != strlen(ref + 1) ||
	    strlen(ref) > 9)
		return -1;
	return strtol(ref + 1, NULL, 10);
}

/* What the layout's entries are called, for an error: ref names, or "@N (digest)". */
static char *list_entries(json_t *manifests)
{
	struct strbuf sb = STRBUF_INIT;
	size_t i;
	json_t *d;
	json_array_foreach(manifests, i, d)
	{
		const char *name = ref_name_of(d);
		const char *digest = json_string_value(json_object_get(d, "digest"));
		if (i)
			strbuf_addstr(&sb, ", ");
		if (name)
			strbuf_addstr(&sb, name);
		else
			strbuf_addf(&sb, "@%zu (%s)", i, digest ? digest : "no digest");
	}
	return strbuf_detach(&sb);
}

/* Picks the entry of a layout's index.json that ref names (its ref name annotation,
 * or "@N"), or its only one, into img (digest, tags). Entries with an artifactType
 * (referrers such as provenance) are not images and are not counted. where: "oci:DIR" for messages;
 * path: the layout's file, whose name a bare tag goes after. */
static int pick(const char *text, size_t len, const char *ref, const char *where, const char *path,
		struct transport_image *img, struct cairn_error *err)
{
	json_error_t je;
	cleanup_json json_t *index = json_loadb(text, len, 0, &je);
	json_t *manifests = json_object_get(index, "manifests");
	if (!index)
		return cairn_error_set(err, EBADMSG, "%s: index.json: line %d: %s", where, je.line,
				       je.text);
	if (!json_is_array(manifests))
		return cairn_error_set(
		    err, EBADMSG, "%s: index.json is not an OCI index (no \"manifests\" array)",
		    where);
	/* artifacts about images (cairn's provenance, other referrers) are not images */
	cleanup_json json_t *images = json_array();
	size_t i;
	json_t *d;
	json_array_foreach(manifests, i, d)
	{
		if (!json_object_get(d, "artifactType"))
			json_array_append(images, d);
	}
	manifests = images;
	size_t n = json_array_size(manifests);
	json_t *desc = NULL;
	long at = index_ref(ref);
	if (at >= 0) {
		desc = json_array_get(manifests, (size_t)at);
	} else if (ref) {
		json_array_foreach(manifests, i, d)
		{
			const char *name = ref_name_of(d);
			if (name && !strcmp(name, ref)) {
				desc = d;
				break;
			}
		}
		/* then as the store reads its own names: "app" is app:latest */
		json_array_foreach(manifests, i, d)
		{
			if (!desc && same_name(ref_name_of(d), ref))
				desc = d;
		}
	} else if (n == 1) {
		desc = json_array_get(manifests, 0);
	}
	if (!desc) {
		if (n == 0)
			return cairn_error_set(err, ENOENT, "%s: the layout holds no image", where);
		cleanup_free char *list = list_entries(manifests);
		if (!ref)
			return cairn_error_set(err, EINVAL,
					       "%s: the layout holds %zu images; name one as "
					       "%s:REF (it has: %s)",
					       where, n, where, list);
		return cairn_error_set(err, ENOENT, "%s: the layout has no image %s (it has: %s)",
				       where, ref, list);
	}
	const char *digest = json_string_value(json_object_get(desc, "digest"));
	if (!digest_valid(digest))
		return cairn_error_set(err, EBADMSG,
				       "%s: index.json: the digest '%s' is not a sha256 digest",
				       where, digest ? digest : "(null)");
	const char *mt = json_string_value(json_object_get(desc, "mediaType"));
	if (mt && strcmp(mt, MEDIA_TYPE_OCI_MANIFEST) && strcmp(mt, MEDIA_TYPE_OCI_INDEX) &&
	    strcmp(mt, MEDIA_TYPE_DOCKER_MANIFEST) && strcmp(mt, MEDIA_TYPE_DOCKER_LIST))
		return cairn_error_set(err, ENOTSUP, "%s: %s is a %s, not an image", where, digest,
				       mt);
	if (!store_has_blob(img->s, digest))
		return cairn_error_set(err, EBADMSG,
				       "%s: index.json names %s, which the layout does not hold "
				       "(no blobs/sha256/%s)",
				       where, digest, digest_hex(digest));
	memcpy(img->digest, digest, DIGEST_LEN);
	img->count = n;
	const char *name = ref_name_of(desc);
	/* a bare tag ("1", as BuildKit writes it) beside the full name containerd reads */
	const char *full = json_string_value(
	    json_object_get(json_object_get(desc, "annotations"), "io.containerd.image.name"));
	char *tag = NULL;
	struct cairn_error e = CAIRN_ERROR_INIT;
	if (name && full && !strpbrk(name, ":/@") && ref_normalize(full, &tag, &e) < 0)
		tag = NULL;
	cairn_error_clear(&e);
	if (!tag && name)
		tag = transport_local_tag(path, name);
	if (tag)
		strv_push_take(&img->tags, tag);
	return 0;
}

int transport_open_oci(struct transport_image *img, const char *rest, struct cairn_error *err)
{
	cleanup_free char *dir = NULL;
	const char *ref;
	int r = transport_split(img->name, rest, &dir, &ref, err);
	if (r < 0)
		return r;
	cleanup_free char *where = xasprintf("oci:%s", dir);
	if ((r = store_open_readonly(dir, &img->own, err)) < 0)
		return cairn_error_wrap(err, "%s: not an OCI image layout", where);
	img->s = img->own;
	img->unchecked = true;
	cleanup_free char *text = NULL;
	size_t len = 0;
	cleanup_free char *index = xasprintf("%s/index.json", store_root(img->s));
	if ((r = util_read_file(AT_FDCWD, index, &text, &len, err)) < 0)
		return cairn_error_wrap(err, "%s: not an OCI image layout", where);
	return pick(text, len, ref, where, dir, img, err);
}

/* "blobs/sha256/<64 hex>": the digest it names (in out), else false. */
static bool blob_name(const char *name, char out[DIGEST_LEN])
{
	if (strncmp(name, "blobs/sha256/", 13))
		return false;
	snprintf(out, DIGEST_LEN, "sha256:%s", name + 13);
	return digest_valid(out);
}

int transport_open_oci_archive(struct transport_image *img, const char *rest,
			       struct cairn_error *err)
{
	cleanup_free char *file = NULL, *where = NULL;
	const char *ref;
	cleanup_close int fd = -1;
	int r = transport_archive_file(img, rest, "oci-archive", &file, &ref, &where, &fd, err);
	if (r < 0)
		return r;
	cleanup_archive struct archive *a = NULL;
	if ((r = transport_archive_open(fd, where, &a, err)) < 0)
		return r;
	cleanup_free char *index = NULL;
	size_t index_len = 0;
	struct archive_entry *e;
	for (;;) {
		int h = archive_read_next_header(a, &e);
		if (h == ARCHIVE_EOF)
			break;
		if (h < ARCHIVE_WARN)
			return cairn_error_set(err, EINVAL, "%s: %s", where,
					       archive_error_string(a));
		const char *raw = archive_entry_pathname(e);
		cleanup_free char *name = raw ? fs_clean_path(raw, FS_CLEAN_NO_ESCAPE) : NULL;
		if (!name)
			return cairn_error_set(err, EINVAL, "%s: the entry '%s' leaves the archive",
					       where, raw ? raw : "(no name)");
		if (archive_entry_filetype(e) != AE_IFREG || archive_entry_hardlink(e))
			continue;
		char digest[DIGEST_LEN];
		if (!strcmp(name, "index.json")) {
			free(index);
			index = NULL;
			cleanup_free char *what = xasprintf("%s: index.json", where);
			if ((r = transport_archive_read(a, what, TRANSPORT_JSON_MAX, &index,
							&index_len, err)) < 0)
				return r;
		} else if (blob_name(name, digest)) {
			cleanup_free char *what = xasprintf("%s: %s", where, name);
			char got[DIGEST_LEN];
			uint64_t size;
			if ((r = transport_archive_blob(a, img->s, digest, what, got, &size, NULL,
							err)) < 0)
				return r;
		}
	}
	if (!index)
		return cairn_error_set(err, EINVAL,
				       "%s: no index.json in it: not a tar of an OCI image layout",
				       where);
	return pick(index, index_len, ref, where, file, img, err);
}
