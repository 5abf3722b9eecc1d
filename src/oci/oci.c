#include "oci.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* How deep an index may nest before we call it a loop. */
#define MAX_INDEX_DEPTH 4

const char *oci_arch(void)
{
#if defined(__x86_64__)
	return "amd64";
#elif defined(__aarch64__)
	return "arm64";
#elif defined(__arm__)
	return "arm";
#elif defined(__i386__)
	return "386";
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return "ppc64le";
#elif defined(__powerpc64__)
	return "ppc64";
#elif defined(__s390x__)
	return "s390x";
#elif defined(__riscv) && __riscv_xlen == 64
	return "riscv64";
#elif defined(__loongarch64)
	return "loong64";
#elif defined(__mips64) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return "mips64le";
#else
#error "oci_arch: unknown architecture, add its GOARCH name"
#endif
}

/* ---- in-memory image ---- */

void oci_image_release(struct oci_image *img)
{
	if (!img)
		return;
	if (img->manifest)
		json_decref(img->manifest);
	if (img->config)
		json_decref(img->config);
	if (img->annotations)
		json_decref(img->annotations);
	for (size_t i = 0; i < img->n_layers; i++)
		free(img->layers[i].media_type);
	free(img->layers);
	memset(img, 0, sizeof *img);
}

void cleanup_oci_imagep(struct oci_image *img)
{
	oci_image_release(img);
}

void oci_image_init_scratch(struct oci_image *img)
{
	memset(img, 0, sizeof *img);
	img->config =
	    json_pack("{s:s, s:s, s:{}, s:{s:s, s:[]}, s:[]}", "architecture", oci_arch(), "os",
		      "linux", "config", "rootfs", "type", "layers", "diff_ids", "history");
	if (!img->config)
		abort();
}

void oci_image_copy(struct oci_image *dst, const struct oci_image *src)
{
	memset(dst, 0, sizeof *dst);
	dst->config = json_deep_copy(src->config);
	if (src->config && !dst->config)
		abort();
	dst->n_layers = src->n_layers;
	dst->layers = xcalloc(src->n_layers ? src->n_layers : 1, sizeof *dst->layers);
	for (size_t i = 0; i < src->n_layers; i++) {
		dst->layers[i] = src->layers[i];
		dst->layers[i].media_type =
		    src->layers[i].media_type ? xstrdup(src->layers[i].media_type) : NULL;
	}
}

/* The member key of obj as a value of the given type, created (replacing a value of
 * another type) when missing. Borrowed. */
static json_t *object_member(json_t *obj, const char *key, bool array)
{
	json_t *v = json_object_get(obj, key);
	if (array ? json_is_array(v) : json_is_object(v))
		return v;
	v = array ? json_array() : json_object();
	json_object_set_new(obj, key, v);
	return v;
}

json_t *oci_image_runconfig(struct oci_image *img)
{
	if (!img->config)
		img->config = json_object();
	return object_member(img->config, "config", false);
}

void oci_image_add_layer(struct oci_image *img, const struct oci_layer *layer)
{
	if (!img->config)
		img->config = json_object();
	img->layers = xrealloc(img->layers, (img->n_layers + 1) * sizeof *img->layers);
	struct oci_layer *l = &img->layers[img->n_layers++];
	*l = *layer;
	l->media_type = xstrdup(layer->media_type ? layer->media_type : MEDIA_TYPE_OCI_LAYER);
	json_t *rootfs = object_member(img->config, "rootfs", false);
	if (!json_is_string(json_object_get(rootfs, "type")))
		json_object_set_new(rootfs, "type", json_string("layers"));
	json_array_append_new(object_member(rootfs, "diff_ids", true), json_string(layer->diff_id));
}

void oci_image_add_history(struct oci_image *img, const char *created, const char *created_by,
			   bool empty_layer)
{
	if (!img->config)
		img->config = json_object();
	json_t *h = json_object();
	if (created) {
		json_object_set_new(h, "created", json_string(created));
		json_object_set_new(img->config, "created", json_string(created));
	}
	if (created_by)
		json_object_set_new(h, "created_by", json_string(created_by));
	/* docker and buildah omit empty_layer when false */
	if (empty_layer)
		json_object_set_new(h, "empty_layer", json_true());
	json_array_append_new(object_member(img->config, "history", true), h);
}

/* ---- writing ---- */

/* The OCI equivalent of a Docker layer media type (same blob bytes), else mt itself. */
static const char *oci_layer_media_type(const char *mt)
{
	if (!mt)
		return MEDIA_TYPE_OCI_LAYER;
	if (!strcmp(mt, MEDIA_TYPE_DOCKER_LAYER_GZIP))
		return MEDIA_TYPE_OCI_LAYER_GZIP;
	if (!strcmp(mt, MEDIA_TYPE_DOCKER_LAYER))
		return MEDIA_TYPE_OCI_LAYER;
	if (!strcmp(mt, MEDIA_TYPE_DOCKER_LAYER_ZSTD))
		return MEDIA_TYPE_OCI_LAYER_ZSTD;
	return mt;
}

static json_t *descriptor(const char *media_type, const char *digest, uint64_t size)
{
	json_t *d = json_pack("{s:s, s:s, s:I}", "mediaType", media_type, "digest", digest, "size",
			      (json_int_t)size);
	if (!d)
		abort();
	return d;
}

int oci_image_write(struct store *s, struct oci_image *img, int64_t *manifest_size,
		    struct cairn_error *err)
{
	if (!img->config)
		return cairn_error_set(err, EINVAL, "writing image: no config");
	json_t *diff_ids = json_object_get(json_object_get(img->config, "rootfs"), "diff_ids");
	if (json_array_size(diff_ids) != img->n_layers)
		return cairn_error_set(err, EINVAL,
				       "writing image: %zu layers but %zu diff_ids in the config",
				       img->n_layers, json_array_size(diff_ids));

	cleanup_free char *config = util_json_canonical(img->config);
	size_t config_len = strlen(config);
	char config_digest[DIGEST_LEN];
	int r = store_put_blob(s, config, config_len, config_digest, err);
	if (r < 0)
		return cairn_error_wrap(err, "writing image config");

	cleanup_json json_t *layers = json_array();
	for (size_t i = 0; i < img->n_layers; i++) {
		const struct oci_layer *l = &img->layers[i];
		if (!digest_valid(l->digest))
			return cairn_error_set(
			    err, EINVAL, "writing image: layer %zu has no valid digest ('%s')", i,
			    l->digest);
		json_array_append_new(
		    layers, descriptor(oci_layer_media_type(l->media_type), l->digest, l->size));
	}
	cleanup_json json_t *manifest = json_pack(
	    "{s:i, s:s, s:o, s:O}", "schemaVersion", 2, "mediaType", MEDIA_TYPE_OCI_MANIFEST,
	    "config", descriptor(MEDIA_TYPE_OCI_CONFIG, config_digest, config_len), "layers",
	    layers);
	if (!manifest)
		abort();
	if (json_object_size(img->annotations))
		json_object_set(manifest, "annotations", img->annotations);
	cleanup_free char *text = util_json_canonical(manifest);
	char digest[DIGEST_LEN];
	r = store_put_blob(s, text, strlen(text), digest, err);
	if (r < 0)
		return cairn_error_wrap(err, "writing image manifest");

	if (img->manifest)
		json_decref(img->manifest);
	img->manifest = steal_pointer(&manifest);
	memcpy(img->digest, digest, DIGEST_LEN);
	if (manifest_size)
		*manifest_size = (int64_t)strlen(text);
	return 0;
}

/* ---- loading ---- */

int oci_read_json(struct store *s, const char *digest, const char *what, json_t **out, char **bytes,
		  size_t *len, struct cairn_error *err)
{
	if (!digest_valid(digest))
		return cairn_error_set(err, EINVAL, "%s digest '%s': not a sha256 digest", what,
				       digest ? digest : "(null)");
	cleanup_free char *buf = NULL;
	size_t n = 0;
	int r = store_read_blob(s, digest, &buf, &n, err);
	if (r < 0)
		return cairn_error_wrap(err, "reading %s", what);
	json_error_t jerr;
	json_t *j = json_loadb(buf, n, 0, &jerr);
	if (!j)
		return cairn_error_set(err, EBADMSG, "parsing %s %s: line %d: %s", what, digest,
				       jerr.line, jerr.text);
	if (!json_is_object(j)) {
		json_decref(j);
		return cairn_error_set(err, EBADMSG, "parsing %s %s: not a JSON object", what,
				       digest);
	}
	*out = j;
	if (bytes)
		*bytes = steal_pointer(&buf);
	if (len)
		*len = n;
	return 0;
}

bool oci_is_index(const json_t *doc)
{
	const char *mt = json_string_value(json_object_get(doc, "mediaType"));
	if (mt)
		return !strcmp(mt, MEDIA_TYPE_OCI_INDEX) || !strcmp(mt, MEDIA_TYPE_DOCKER_LIST);
	return json_is_array(json_object_get(doc, "manifests")) && !json_object_get(doc, "config");
}

static bool is_manifest(const char *mt, json_t *doc)
{
	if (mt)
		return !strcmp(mt, MEDIA_TYPE_OCI_MANIFEST) ||
		       !strcmp(mt, MEDIA_TYPE_DOCKER_MANIFEST);
	return json_is_object(json_object_get(doc, "config")) &&
	       json_is_array(json_object_get(doc, "layers"));
}

/* platform split into os, arch and variant (NULL: any), in the caller's buffer. */
static int platform_split(const char *platform, char *buf, size_t size, char **os, char **arch,
			  char **variant, struct cairn_error *err)
{
	snprintf(buf, size, "%s", platform ? platform : "");
	if (!platform)
		snprintf(buf, size, "linux/%s", oci_arch());
	*os = buf;
	*arch = strchr(buf, '/');
	*variant = *arch ? strchr(*arch + 1, '/') : NULL;
	if (!*arch || *arch == buf || !(*arch)[1] || (*arch)[1] == '/' ||
	    (*variant && (!(*variant)[1] || strchr(*variant + 1, '/'))) ||
	    strlen(platform ? platform : "") >= size || strpbrk(buf, " \t"))
		return cairn_error_set(err, EINVAL, "platform '%s': expected OS/ARCH[/VARIANT]",
				       platform);
	*(*arch)++ = '\0';
	if (*variant)
		*(*variant)++ = '\0';
	return 0;
}

int oci_platform_check(const char *platform, struct cairn_error *err)
{
	char buf[256], *os, *arch, *variant;
	return platform_split(platform, buf, sizeof buf, &os, &arch, &variant, err);
}

int oci_index_pick(const json_t *index, const char *index_digest, const char *platform,
		   char out[DIGEST_LEN], struct cairn_error *err)
{
	char buf[256], *os, *arch, *variant;
	int r = platform_split(platform, buf, sizeof buf, &os, &arch, &variant, err);
	if (r < 0)
		return r;
	cleanup_strbuf struct strbuf seen = STRBUF_INIT;
	size_t i;
	json_t *e;
	json_array_foreach(json_object_get(index, "manifests"), i, e)
	{
		json_t *p = json_object_get(e, "platform");
		const char *o = json_string_value(json_object_get(p, "os"));
		const char *a = json_string_value(json_object_get(p, "architecture"));
		const char *v = json_string_value(json_object_get(p, "variant"));
		const char *d = json_string_value(json_object_get(e, "digest"));
		strbuf_addf(&seen, "%s%s/%s%s%s", seen.len ? ", " : "", o ? o : "?", a ? a : "?",
			    v ? "/" : "", v ? v : "");
		if (!o || !a || strcmp(o, os) || strcmp(a, arch))
			continue;
		if (variant && (!v || strcmp(v, variant)))
			continue;
		if (!digest_valid(d))
			return cairn_error_set(err, EBADMSG,
					       "index %s: the entry for %s/%s has a bad digest",
					       index_digest, o, a);
		memcpy(out, d, DIGEST_LEN);
		return 0;
	}
	return cairn_error_set(err, ENOENT, "index %s has no manifest for %s/%s%s%s (it has: %s)",
			       index_digest, os, arch, variant ? "/" : "", variant ? variant : "",
			       seen.len ? strbuf_str(&seen) : "none");
}

int oci_resolve(struct store *s, const char *digest, const char *platform, char out[DIGEST_LEN],
		json_t **index, struct cairn_error *err)
{
	char cur[DIGEST_LEN];
	snprintf(cur, sizeof cur, "%s", digest ? digest : "");
	if (index)
		*index = NULL;
	for (int depth = 0;; depth++) {
		cleanup_json json_t *doc = NULL;
		int r = oci_read_json(s, cur, "manifest", &doc, NULL, NULL, err);
		if (r < 0)
			return r;
		if (!oci_is_index(doc)) {
			memcpy(out, cur, DIGEST_LEN);
			return 0;
		}
		if (depth >= MAX_INDEX_DEPTH)
			return cairn_error_set(err, ELOOP, "index %s: indexes nested too deep",
					       digest);
		char next[DIGEST_LEN];
		if ((r = oci_index_pick(doc, cur, platform, next, err)) < 0)
			return r;
		if (index && !*index)
			*index = json_incref(doc);
		memcpy(cur, next, DIGEST_LEN);
	}
}

static int load_layers(json_t *manifest, json_t *config, const char *digest, struct oci_image *img,
		       struct cairn_error *err)
{
	json_t *mlayers = json_object_get(manifest, "layers");
	json_t *rootfs = json_object_get(config, "rootfs");
	json_t *diff_ids = json_object_get(rootfs, "diff_ids");
	if (!json_is_array(mlayers))
		return cairn_error_set(err, EBADMSG,
				       "loading image %s: manifest has no layers array", digest);
	if (!json_is_array(diff_ids))
		return cairn_error_set(
		    err, EBADMSG, "loading image %s: config has no rootfs.diff_ids array", digest);
	if (json_array_size(mlayers) != json_array_size(diff_ids))
		return cairn_error_set(err, EBADMSG,
				       "loading image %s: the manifest lists %zu layers but the "
				       "config lists %zu diff_ids",
				       digest, json_array_size(mlayers), json_array_size(diff_ids));

	size_t n = json_array_size(mlayers);
	img->layers = xcalloc(n ? n : 1, sizeof *img->layers);
	for (size_t i = 0; i < n; i++) {
		json_t *l = json_array_get(mlayers, i);
		const char *ld = json_string_value(json_object_get(l, "digest"));
		const char *mt = json_string_value(json_object_get(l, "mediaType"));
		const char *did = json_string_value(json_array_get(diff_ids, i));
		json_t *size = json_object_get(l, "size");
		if (!digest_valid(ld))
			return cairn_error_set(
			    err, EINVAL,
			    "loading image %s: layer %zu digest '%s' is not a sha256 digest",
			    digest, i, ld ? ld : "(null)");
		if (!digest_valid(did))
			return cairn_error_set(
			    err, EINVAL,
			    "loading image %s: diff_id %zu '%s' is not a sha256 digest", digest, i,
			    did ? did : "(null)");
		if (!json_is_integer(size) || json_integer_value(size) < 0)
			return cairn_error_set(err, EBADMSG,
					       "loading image %s: layer %s has no valid size",
					       digest, ld);
		if (!mt)
			return cairn_error_set(err, EBADMSG,
					       "loading image %s: layer %s has no media type",
					       digest, ld);
		struct oci_layer *ol = &img->layers[img->n_layers++];
		memcpy(ol->digest, ld, DIGEST_LEN);
		memcpy(ol->diff_id, did, DIGEST_LEN);
		ol->size = (uint64_t)json_integer_value(size);
		ol->media_type = xstrdup(mt);
	}
	return 0;
}

static int load_at(struct store *s, const char *digest, int depth, struct oci_image *img,
		   struct cairn_error *err)
{
	cleanup_json json_t *doc = NULL;
	int r = oci_read_json(s, digest, "manifest", &doc, NULL, NULL, err);
	if (r < 0)
		return r;
	const char *mt = json_string_value(json_object_get(doc, "mediaType"));
	json_t *sv = json_object_get(doc, "schemaVersion");
	if (!json_is_integer(sv) || json_integer_value(sv) != 2)
		return cairn_error_set(
		    err, ENOTSUP, "loading image %s: unsupported manifest schemaVersion (want 2)",
		    digest);

	if (oci_is_index(doc)) {
		if (depth >= MAX_INDEX_DEPTH)
			return cairn_error_set(err, ELOOP,
					       "loading image %s: indexes nested too deep", digest);
		char next[DIGEST_LEN];
		if ((r = oci_index_pick(doc, digest, NULL, next, err)) < 0)
			return cairn_error_wrap(err, "loading image %s", digest);
		return load_at(s, next, depth + 1, img, err);
	}
	if (!is_manifest(mt, doc))
		return cairn_error_set(err, ENOTSUP, "loading image %s: unsupported media type %s",
				       digest, mt ? mt : "(none)");

	json_t *cdesc = json_object_get(doc, "config");
	const char *cdigest = json_string_value(json_object_get(cdesc, "digest"));
	if (!digest_valid(cdigest))
		return cairn_error_set(
		    err, EINVAL, "loading image %s: config digest '%s' is not a sha256 digest",
		    digest, cdigest ? cdigest : "(null)");
	cleanup_json json_t *config = NULL;
	size_t config_len = 0;
	r = oci_read_json(s, cdigest, "image config", &config, NULL, &config_len, err);
	if (r < 0)
		return cairn_error_wrap(err, "loading image %s", digest);
	json_t *csize = json_object_get(cdesc, "size");
	if (json_is_integer(csize) && (uint64_t)json_integer_value(csize) != config_len)
		return cairn_error_set(
		    err, EBADMSG,
		    "loading image %s: config %s is %zu bytes, the manifest says %lld", digest,
		    cdigest, config_len, (long long)json_integer_value(csize));

	r = load_layers(doc, config, digest, img, err);
	if (r < 0)
		return r;
	img->config = steal_pointer(&config);
	img->manifest = steal_pointer(&doc);
	memcpy(img->digest, digest, DIGEST_LEN);
	return 0;
}

int oci_image_load(struct store *s, const char *manifest_digest, struct oci_image *img,
		   struct cairn_error *err)
{
	struct oci_image tmp;
	memset(&tmp, 0, sizeof tmp);
	int r = load_at(s, manifest_digest, 0, &tmp, err);
	if (r < 0) {
		oci_image_release(&tmp);
		memset(img, 0, sizeof *img);
		return r;
	}
	*img = tmp;
	return 0;
}

/* ---- artifacts ---- */

int oci_artifact_write(struct store *s, const char *subject, const char *artifact_type,
		       const void *data, size_t len, const char *layer_type,
		       json_t *layer_annotations, char digest[DIGEST_LEN], int64_t *size,
		       struct cairn_error *err)
{
	uint64_t subject_size = 0;
	cleanup_free char *subject_doc = NULL;
	size_t subject_len = 0;
	int r = store_read_blob(s, subject, &subject_doc, &subject_len, err);
	if (r < 0)
		return cairn_error_wrap(err, "writing the %s of %s", artifact_type, subject);
	subject_size = subject_len;
	cleanup_json json_t *sdoc = json_loadb(subject_doc, subject_len, 0, NULL);
	const char *smt = json_string_value(json_object_get(sdoc, "mediaType"));
	char empty_digest[DIGEST_LEN], layer_digest[DIGEST_LEN];
	if ((r = store_put_blob(s, "{}", 2, empty_digest, err)) < 0 ||
	    (r = store_put_blob(s, data, len, layer_digest, err)) < 0)
		return cairn_error_wrap(err, "writing the %s of %s", artifact_type, subject);
	json_t *layer = descriptor(layer_type, layer_digest, len);
	if (layer_annotations)
		json_object_set(layer, "annotations", layer_annotations);
	cleanup_json json_t *manifest =
	    json_pack("{s:i, s:s, s:s, s:o, s:[o], s:o}", "schemaVersion", 2, "mediaType",
		      MEDIA_TYPE_OCI_MANIFEST, "artifactType", artifact_type, "config",
		      descriptor(MEDIA_TYPE_OCI_EMPTY, empty_digest, 2), "layers", layer, "subject",
		      descriptor(smt ? smt : MEDIA_TYPE_OCI_MANIFEST, subject, subject_size));
	if (!manifest)
		abort();
	/* the layer's annotations on the manifest too: a referrers list shows those */
	if (layer_annotations)
		json_object_set(manifest, "annotations", layer_annotations);
	cleanup_free char *text = util_json_canonical(manifest);
	if ((r = store_put_blob(s, text, strlen(text), digest, err)) < 0)
		return cairn_error_wrap(err, "writing the %s of %s", artifact_type, subject);
	*size = (int64_t)strlen(text);
	return 0;
}

int oci_artifact_read(struct store *s, const char *digest, const char *layer_type, char **subject,
		      char **data, size_t *len, struct cairn_error *err)
{
	*subject = *data = NULL;
	cleanup_json json_t *m = NULL;
	int r = oci_read_json(s, digest, "artifact manifest", &m, NULL, NULL, err);
	if (r < 0)
		return r;
	json_t *layers = json_object_get(m, "layers");
	json_t *layer = json_array_get(layers, 0);
	const char *mt = json_string_value(json_object_get(layer, "mediaType"));
	const char *ld = json_string_value(json_object_get(layer, "digest"));
	if (json_array_size(layers) != 1 || !mt || strcmp(mt, layer_type) || !digest_valid(ld))
		return cairn_error_set(err, EBADMSG, "artifact %s: expected one layer of type %s",
				       digest, layer_type);
	if ((r = store_read_blob(s, ld, data, len, err)) < 0)
		return cairn_error_wrap(err, "artifact %s", digest);
	const char *sub =
	    json_string_value(json_object_get(json_object_get(m, "subject"), "digest"));
	*subject = sub ? xstrdup(sub) : NULL;
	return 0;
}

int oci_image_copy_blobs(struct store *dst, struct store *src, const char *digest, bool link,
			 struct cairn_error *err)
{
	cleanup_oci_image struct oci_image img = {0};
	int r = oci_image_load(src, digest, &img, err);
	if (r < 0)
		return r;
	const char *config =
	    json_string_value(json_object_get(json_object_get(img.manifest, "config"), "digest"));
	r = store_copy_blob(dst, src, digest, link, err);
	if (r == 0 && strcmp(img.digest, digest))
		r = store_copy_blob(dst, src, img.digest, link, err);
	if (r == 0 && config)
		r = store_copy_blob(dst, src, config, link, err);
	for (size_t i = 0; r == 0 && i < img.n_layers; i++)
		r = store_copy_blob(dst, src, img.layers[i].digest, link, err);
	return r;
}
