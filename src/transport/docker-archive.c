/* transport: docker-archive:FILE[:REF], what `docker save` and skopeo write: a tar
 * whose manifest.json lists, per image, its config file, its RepoTags and its layer
 * files, by their paths in the archive (docker before 25: <id>/layer.tar, links
 * among them for layers two images share; skopeo: <hex>.tar; docker 25 and later:
 * blobs/sha256/<hex>). Read in two passes, never extracted: the first reads
 * manifest.json and notes every entry (links too); the second streams the files the
 * chosen image needs into a temporary store. Each layer must hash to its diff_id in
 * the config (after decompression, for a compressed one), and a file whose name
 * carries a digest must have it. The image gets a docker schema 2 manifest over those
 * blobs, its config as it is. */
#include "internal.h"
#include "../fs/fs.h"

#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* How many links a layer path may go through. */
#define MAX_LINKS 16

/* An entry of the archive, as the first pass saw it. */
struct entry {
	char *name;   /* cleaned */
	bool regular; /* a file with data */
	bool hard;    /* a hard link to target */
	char *target; /* a link's target (a hard link's cleaned; NULL: leaves the archive) */
};

/* A file the chosen image needs, and what the second pass found in it. */
struct wanted {
	char *name; /* the regular entry */
	char digest[DIGEST_LEN];
	uint64_t size;
	unsigned char magic[4];
	bool got;
};

struct darchive {
	const char *where; /* "docker-archive:FILE" */
	struct entry *entries;
	size_t n_entries;
	struct wanted *wanted;
	size_t n_wanted;
};

static void darchive_release(struct darchive *d)
{
	for (size_t i = 0; i < d->n_entries; i++) {
		free(d->entries[i].name);
		free(d->entries[i].target);
	}
	free(d->entries);
	for (size_t i = 0; i < d->n_wanted; i++)
		free(d->wanted[i].name);
	free(d->wanted);
}

static void add_entry(struct darchive *d, struct archive_entry *e, char *name)
{
	d->entries = xrealloc(d->entries, (d->n_entries + 1) * sizeof *d->entries);
	struct entry *en = &d->entries[d->n_entries++];
	memset(en, 0, sizeof *en);
	en->name = name;
	const char *hl = archive_entry_hardlink(e);
	if (hl) {
		en->hard = true;
		en->target = fs_clean_path(hl, FS_CLEAN_NO_ESCAPE);
	} else if (archive_entry_filetype(e) == AE_IFLNK) {
		const char *sl = archive_entry_symlink(e);
		en->target = xstrdup(sl ? sl : "");
	} else {
		en->regular = archive_entry_filetype(e) == AE_IFREG;
	}
}

/* The last entry called name (a later one replaces an earlier one, as tar does). */
static struct entry *find_entry(struct darchive *d, const char *name)
{
	for (size_t i = d->n_entries; i-- > 0;)
		if (!strcmp(d->entries[i].name, name))
			return &d->entries[i];
	return NULL;
}

/* First pass: every entry noted, manifest.json read. */
static int read_toc(struct darchive *d, int fd, char **manifest, size_t *len,
		    struct cairn_error *err)
{
	cleanup_archive struct archive *a = NULL;
	int r = transport_archive_open(fd, d->where, &a, err);
	if (r < 0)
		return r;
	struct archive_entry *e;
	for (;;) {
		int h = archive_read_next_header(a, &e);
		if (h == ARCHIVE_EOF)
			break;
		if (h < ARCHIVE_WARN)
			return cairn_error_set(err, EINVAL, "%s: %s", d->where,
					       archive_error_string(a));
		const char *raw = archive_entry_pathname(e);
		char *name = raw ? fs_clean_path(raw, FS_CLEAN_NO_ESCAPE) : NULL;
		if (!name)
			return cairn_error_set(err, EINVAL, "%s: the entry '%s' leaves the archive",
					       d->where, raw ? raw : "(no name)");
		add_entry(d, e, name);
		if (!strcmp(name, "manifest.json") && d->entries[d->n_entries - 1].regular) {
			free(*manifest);
			*manifest = NULL;
			cleanup_free char *what = xasprintf("%s: manifest.json", d->where);
			if ((r = transport_archive_read(a, what, TRANSPORT_JSON_MAX, manifest, len,
							err)) < 0)
				return r;
		}
	}
	return 0;
}

/* The regular entry the path manifest.json gives (what: "layer 2", "config") leads
 * to, through links; a new string in *out. */
static int resolve(struct darchive *d, const char *path, const char *what, char **out,
		   struct cairn_error *err)
{
	char *cur = fs_clean_path(path, FS_CLEAN_NO_ESCAPE);
	if (!cur)
		return cairn_error_set(err, EINVAL,
				       "%s: manifest.json: the %s path '%s' leaves the archive",
				       d->where, what, path);
	for (int hops = 0; hops <= MAX_LINKS; hops++) {
		struct entry *en = find_entry(d, cur);
		if (!en) {
			int r = cairn_error_set(
			    err, EINVAL,
			    "%s: manifest.json names the %s '%s', which the archive "
			    "does not hold",
			    d->where, what, path);
			free(cur);
			return r;
		}
		if (en->regular) {
			*out = cur;
			return 0;
		}
		char *next = NULL;
		if (en->hard && en->target) {
			next = xstrdup(en->target);
		} else if (!en->hard && en->target && en->target[0] != '/') {
			const char *slash = strrchr(cur, '/');
			cleanup_free char *joined =
			    slash ? xasprintf("%.*s/%s", (int)(slash - cur), cur, en->target)
				  : xstrdup(en->target);
			next = fs_clean_path(joined, FS_CLEAN_NO_ESCAPE);
		}
		if (!next) {
			int r = cairn_error_set(
			    err, EINVAL,
			    "%s: the %s '%s' is %s that leads out of the archive or to nothing",
			    d->where, what, path, en->hard ? "a hard link" : "a link");
			free(cur);
			return r;
		}
		free(cur);
		cur = next;
	}
	free(cur);
	return cairn_error_set(err, ELOOP, "%s: the %s '%s': too many links", d->where, what, path);
}

/* The index in d->wanted of the regular entry name, added when new. */
static size_t want(struct darchive *d, char *name)
{
	for (size_t i = 0; i < d->n_wanted; i++)
		if (!strcmp(d->wanted[i].name, name)) {
			free(name);
			return i;
		}
	d->wanted = xrealloc(d->wanted, (d->n_wanted + 1) * sizeof *d->wanted);
	memset(&d->wanted[d->n_wanted], 0, sizeof *d->wanted);
	d->wanted[d->n_wanted].name = name;
	return d->n_wanted++;
}

/* Second pass: the wanted files streamed into s. */
static int import_wanted(struct darchive *d, int fd, struct store *s, struct cairn_error *err)
{
	cleanup_archive struct archive *a = NULL;
	int r = transport_archive_open(fd, d->where, &a, err);
	if (r < 0)
		return r;
	struct archive_entry *e;
	for (;;) {
		int h = archive_read_next_header(a, &e);
		if (h == ARCHIVE_EOF)
			break;
		if (h < ARCHIVE_WARN)
			return cairn_error_set(err, EINVAL, "%s: %s", d->where,
					       archive_error_string(a));
		if (archive_entry_filetype(e) != AE_IFREG || archive_entry_hardlink(e))
			continue;
		cleanup_free char *name =
		    fs_clean_path(archive_entry_pathname(e), FS_CLEAN_NO_ESCAPE);
		for (size_t i = 0; name && i < d->n_wanted; i++) {
			struct wanted *w = &d->wanted[i];
			if (strcmp(w->name, name))
				continue;
			cleanup_free char *what = xasprintf("%s: %s", d->where, name);
			if ((r = transport_archive_blob(a, s, NULL, what, w->digest, &w->size,
							w->magic, err)) < 0)
				return r;
			w->got = true;
			break;
		}
	}
	for (size_t i = 0; i < d->n_wanted; i++)
		if (!d->wanted[i].got)
			return cairn_error_set(err, EINVAL, "%s: %s changed while it was read",
					       d->where, d->wanted[i].name);
	return 0;
}

/* The digest a path names: blobs/sha256/<hex>, or <hex>.tar, <hex>.json. */
static bool named_digest(const char *path, char out[DIGEST_LEN])
{
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	size_t n = strcspn(base, ".");
	if (n != 64 || (base[n] && strcmp(base + n, ".tar") && strcmp(base + n, ".json")))
		return false;
	snprintf(out, DIGEST_LEN, "sha256:%.64s", base);
	return digest_valid(out);
}

/* A file whose name says its digest must have it. */
static int check_named(struct darchive *d, const char *path, const struct wanted *w,
		       struct cairn_error *err)
{
	char named[DIGEST_LEN];
	if (!named_digest(path, named) || !strcmp(named, w->digest))
		return 0;
	return cairn_error_set(err, EBADMSG, "%s: %s has digest %s, not the one its name says",
			       d->where, path, w->digest);
}

/* sha256 of the uncompressed content of a compressed blob. */
static int uncompressed_digest(struct store *s, const char *digest, const char *what,
			       char out[DIGEST_LEN], struct cairn_error *err)
{
	cleanup_close int fd = -1;
	int r = store_open_blob(s, digest, &fd, err);
	if (r < 0)
		return r;
	cleanup_archive struct archive *a = archive_read_new();
	if (!a)
		return cairn_error_set(err, ENOMEM, "%s: creating a reader", what);
	archive_read_support_filter_all(a);
	archive_read_support_format_raw(a);
	struct archive_entry *e;
	if (archive_read_open_fd(a, fd, 1u << 16) != ARCHIVE_OK ||
	    archive_read_next_header(a, &e) != ARCHIVE_OK)
		return cairn_error_set(err, EINVAL, "%s: %s", what, archive_error_string(a));
	struct sha256 h;
	sha256_init(&h);
	char buf[1u << 16];
	for (;;) {
		la_ssize_t n = archive_read_data(a, buf, sizeof buf);
		if (n < 0) {
			sha256_abort(&h);
			return cairn_error_set(err, EINVAL, "%s: decompressing: %s", what,
					       archive_error_string(a));
		}
		if (n == 0)
			break;
		sha256_update(&h, buf, (size_t)n);
	}
	sha256_final(&h, out);
	return 0;
}

/* What manifest.json calls its images, for an error. */
static char *list_images(json_t *images)
{
	struct strbuf sb = STRBUF_INIT;
	size_t i;
	json_t *img;
	json_array_foreach(images, i, img)
	{
		json_t *tags = json_object_get(img, "RepoTags");
		if (i)
			strbuf_addstr(&sb, ", ");
		if (json_array_size(tags)) {
			size_t j;
			json_t *t;
			json_array_foreach(tags, j, t)
			    strbuf_addf(&sb, "%s%s", j ? " " : "",
					json_string_value(t) ? json_string_value(t) : "?");
		} else {
			strbuf_addf(&sb, "@%zu (no name)", i);
		}
	}
	return strbuf_detach(&sb);
}

/* Whether the tag t (of RepoTags) names what ref does, both normalized. */
static bool tag_matches(const char *t, const char *ref)
{
	struct cairn_error e = CAIRN_ERROR_INIT;
	cleanup_free char *a = NULL, *b = NULL;
	bool same =
	    t && ref_normalize(t, &a, &e) == 0 && ref_normalize(ref, &b, &e) == 0 && !strcmp(a, b);
	cairn_error_clear(&e);
	return same;
}

/* The image of manifest.json ref names ("@N", one of its RepoTags), or its only one. */
static int choose(struct darchive *d, json_t *images, const char *ref, json_t **out,
		  struct cairn_error *err)
{
	size_t n = json_array_size(images);
	json_t *pick = NULL;
	if (ref && ref[0] == '@' && ref[1] && strspn(ref + 1, "0123456789") == strlen(ref + 1) &&
	    strlen(ref) < 10) {
		pick = json_array_get(images, (size_t)strtol(ref + 1, NULL, 10));
	} else if (ref) {
		size_t i, j;
		json_t *img, *t;
		json_array_foreach(images, i, img)
		{
			json_array_foreach(json_object_get(img, "RepoTags"), j, t)
			{
				if (!pick && tag_matches(json_string_value(t), ref))
					pick = img;
			}
		}
	} else if (n == 1) {
		pick = json_array_get(images, 0);
	}
	if (pick) {
		*out = pick;
		return 0;
	}
	if (n == 0)
		return cairn_error_set(err, EINVAL, "%s: manifest.json lists no image", d->where);
	cleanup_free char *list = list_images(images);
	if (!ref)
		return cairn_error_set(err, EINVAL,
				       "%s: the archive holds %zu images; name one as %s:REF (it "
				       "has: %s)",
				       d->where, n, d->where, list);
	return cairn_error_set(err, ENOENT, "%s: the archive has no image %s (it has: %s)",
			       d->where, ref, list);
}

static const char *layer_type(const unsigned char m[4])
{
	if (m[0] == 0x1f && m[1] == 0x8b)
		return MEDIA_TYPE_DOCKER_LAYER_GZIP;
	if (m[0] == 0x28 && m[1] == 0xb5 && m[2] == 0x2f && m[3] == 0xfd)
		return MEDIA_TYPE_DOCKER_LAYER_ZSTD;
	return MEDIA_TYPE_DOCKER_LAYER;
}

/* The config's diff_ids checked against the layers; the manifest written. */
static int write_manifest(struct darchive *d, struct transport_image *img, json_t *chosen,
			  size_t config_i, const size_t *layer_i, size_t n_layers,
			  struct cairn_error *err)
{
	json_t *paths = json_object_get(chosen, "Layers");
	const char *config_path = json_string_value(json_object_get(chosen, "Config"));
	const struct wanted *cw = &d->wanted[config_i];
	int r = check_named(d, config_path, cw, err);
	if (r < 0)
		return r;
	cleanup_free char *text = NULL;
	size_t len = 0;
	if ((r = store_read_blob(img->s, cw->digest, &text, &len, err)) < 0)
		return cairn_error_wrap(err, "%s: the config %s", d->where, config_path);
	json_error_t je;
	cleanup_json json_t *config = json_loadb(text, len, 0, &je);
	json_t *diff_ids = json_object_get(json_object_get(config, "rootfs"), "diff_ids");
	if (!json_is_object(config))
		return cairn_error_set(err, EBADMSG, "%s: the config %s is not a JSON object",
				       d->where, config_path);
	if (!json_is_array(diff_ids) || json_array_size(diff_ids) != n_layers)
		return cairn_error_set(err, EBADMSG,
				       "%s: the config %s lists %zu diff_ids, manifest.json %zu "
				       "layers",
				       d->where, config_path, json_array_size(diff_ids), n_layers);
	cleanup_json json_t *layers = json_array();
	for (size_t i = 0; i < n_layers; i++) {
		const struct wanted *w = &d->wanted[layer_i[i]];
		const char *path = json_string_value(json_array_get(paths, i));
		if ((r = check_named(d, path, w, err)) < 0)
			return r;
		const char *mt = layer_type(w->magic);
		char diff_id[DIGEST_LEN];
		memcpy(diff_id, w->digest, DIGEST_LEN);
		if (strcmp(mt, MEDIA_TYPE_DOCKER_LAYER)) {
			cleanup_free char *what = xasprintf("%s: %s", d->where, path);
			if ((r = uncompressed_digest(img->s, w->digest, what, diff_id, err)) < 0)
				return r;
		}
		const char *want = json_string_value(json_array_get(diff_ids, i));
		if (!want || strcmp(want, diff_id))
			return cairn_error_set(
			    err, EBADMSG, "%s: the layer %s has diff_id %s, the config says %s",
			    d->where, path, diff_id, want ? want : "(none)");
		json_array_append_new(layers, json_pack("{s:s, s:I, s:s}", "mediaType", mt, "size",
							(json_int_t)w->size, "digest", w->digest));
	}
	cleanup_json json_t *m =
	    json_pack("{s:i, s:s, s:{s:s, s:I, s:s}, s:O}", "schemaVersion", 2, "mediaType",
		      MEDIA_TYPE_DOCKER_MANIFEST, "config", "mediaType", MEDIA_TYPE_DOCKER_CONFIG,
		      "size", (json_int_t)cw->size, "digest", cw->digest, "layers", layers);
	if (!m)
		abort();
	cleanup_free char *bytes = util_json_canonical(m);
	return store_put_blob(img->s, bytes, strlen(bytes), img->digest, err);
}

/* The names a pull gives the chosen image: REF, else its RepoTags; normalized. */
static void set_tags(struct transport_image *img, json_t *chosen, const char *ref)
{
	struct cairn_error e = CAIRN_ERROR_INIT;
	char *full = NULL;
	if (ref && ref[0] != '@') {
		if (ref_normalize(ref, &full, &e) == 0)
			strv_push_take(&img->tags, full);
		cairn_error_clear(&e);
		return;
	}
	size_t i;
	json_t *t;
	json_array_foreach(json_object_get(chosen, "RepoTags"), i, t)
	{
		const char *s = json_string_value(t);
		if (s && ref_normalize(s, &full, &e) == 0 && !strv_contains(img->tags, full))
			strv_push_take(&img->tags, full);
		else
			free(full);
		full = NULL;
		cairn_error_clear(&e);
	}
}

static int open_archive(struct darchive *d, struct transport_image *img, int fd, const char *ref,
			struct cairn_error *err)
{
	cleanup_free char *text = NULL;
	size_t len = 0;
	int r = read_toc(d, fd, &text, &len, err);
	if (r < 0)
		return r;
	if (!text)
		return cairn_error_set(err, EINVAL,
				       "%s: no manifest.json in it: not an archive docker save "
				       "writes",
				       d->where);
	json_error_t je;
	cleanup_json json_t *images = json_loadb(text, len, 0, &je);
	if (!images)
		return cairn_error_set(err, EINVAL, "%s: manifest.json: line %d: %s", d->where,
				       je.line, je.text);
	if (!json_is_array(images))
		return cairn_error_set(err, EINVAL, "%s: manifest.json is not a JSON array",
				       d->where);
	json_t *chosen = NULL;
	if ((r = choose(d, images, ref, &chosen, err)) < 0)
		return r;
	img->count = json_array_size(images);
	const char *config = json_string_value(json_object_get(chosen, "Config"));
	json_t *paths = json_object_get(chosen, "Layers");
	if (!config || !json_is_array(paths))
		return cairn_error_set(
		    err, EINVAL, "%s: manifest.json: an image without Config or Layers", d->where);
	char *name;
	if ((r = resolve(d, config, "config", &name, err)) < 0)
		return r;
	size_t config_i = want(d, name);
	size_t n = json_array_size(paths);
	cleanup_free size_t *layer_i = xcalloc(n ? n : 1, sizeof *layer_i);
	for (size_t i = 0; i < n; i++) {
		const char *p = json_string_value(json_array_get(paths, i));
		cleanup_free char *what = xasprintf("layer %zu", i);
		if (!p)
			return cairn_error_set(err, EINVAL, "%s: manifest.json: %s is not a path",
					       d->where, what);
		if ((r = resolve(d, p, what, &name, err)) < 0)
			return r;
		layer_i[i] = want(d, name);
	}
	if ((r = import_wanted(d, fd, img->s, err)) < 0 ||
	    (r = write_manifest(d, img, chosen, config_i, layer_i, n, err)) < 0)
		return r;
	set_tags(img, chosen, ref);
	return 0;
}

int transport_open_docker_archive(struct transport_image *img, const char *rest,
				  struct cairn_error *err)
{
	cleanup_free char *file = NULL, *where = NULL;
	const char *ref;
	cleanup_close int fd = -1;
	int r = transport_archive_file(img, rest, "docker-archive", &file, &ref, &where, &fd, err);
	if (r < 0)
		return r;
	struct darchive d = {.where = where};
	r = open_archive(&d, img, fd, ref, err);
	darchive_release(&d);
	return r;
}

int transport_archive_detect(const char *file, enum transport_kind *kind, struct cairn_error *err)
{
	cleanup_close int fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cairn_error_errno(err, errno, "opening %s", file);
	cleanup_archive struct archive *a = NULL;
	int r = transport_archive_open(fd, file, &a, err);
	if (r < 0)
		return cairn_error_kind(err, CAIRN_ERR_INVALID);
	bool index = false;
	struct archive_entry *e;
	for (;;) {
		int h = archive_read_next_header(a, &e);
		if (h == ARCHIVE_EOF)
			break;
		if (h < ARCHIVE_WARN) {
			r = cairn_error_set(err, EINVAL, "%s: %s", file, archive_error_string(a));
			cairn_error_kind(err, CAIRN_ERR_INVALID);
			return r;
		}
		cleanup_free char *name =
		    fs_clean_path(archive_entry_pathname(e), FS_CLEAN_NO_ESCAPE);
		if (name && !strcmp(name, "manifest.json")) {
			*kind = TRANSPORT_DOCKER_ARCHIVE;
			return 0;
		}
		if (name && !strcmp(name, "index.json"))
			index = true;
	}
	if (index) {
		*kind = TRANSPORT_OCI_ARCHIVE;
		return 0;
	}
	r = cairn_error_set(err, EINVAL,
			    "%s: neither manifest.json nor index.json in it: not an archive of "
			    "images (docker save, oci-archive)",
			    file);
	cairn_error_kind(err, CAIRN_ERR_INVALID);
	return r;
}
