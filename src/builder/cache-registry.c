/* The build cache in a registry (--cache-to, --cache-from): the cache records of a
 * build's steps, shipped as an OCI artifact — an image manifest whose config blob
 * holds the records {"records": {KEY: RECORD}} and whose layers are the layers
 * those records name — so that a build on another machine with the same inputs
 * computes the same keys, finds them there, and downloads only the layers of the
 * steps it reuses. */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define CACHE_ARTIFACT_TYPE "application/vnd.cairn.build-cache.v1"
#define CACHE_CONFIG_TYPE "application/vnd.cairn.build-cache.config.v1+json"
/* the index is fetched into memory: as large as the registry client takes a body */
#define CACHE_MAX_CONFIG (8u << 20)

static int import_one(struct builder *b, const char *ref, size_t *count, struct cairn_error *err)
{
	struct registry_opts o = builder_registry_opts(b);
	o.progress = NULL;
	cleanup_free char *config = NULL, *media_type = NULL;
	size_t len = 0;
	int r = registry_fetch_config(ref, &o, &config, &len, &media_type, err);
	if (r < 0)
		return r;
	if (strcmp(media_type, CACHE_CONFIG_TYPE))
		return cairn_error_set(err, EINVAL, "%s is not a cairn build cache (config %s)",
				       ref, media_type);
	if (len > CACHE_MAX_CONFIG)
		return cairn_error_set(err, EFBIG, "%s: the cache index is too large", ref);
	json_error_t je;
	cleanup_json json_t *doc = json_loadb(config, len, 0, &je);
	json_t *records = json_object_get(doc, "records");
	if (!json_is_object(records))
		return cairn_error_set(err, EBADMSG, "%s: the cache index is malformed: %s", ref,
				       doc ? "no records" : je.text);
	const char *key;
	json_t *rec;
	json_object_foreach(records, key, rec)
	{
		/* the first cache named wins; the record is checked when it is used */
		if (!digest_valid(key) || !json_is_object(rec) || json_object_get(b->remote, key))
			continue;
		json_object_set_new(b->remote, key,
				    json_pack("{s:O, s:s}", "record", rec, "from", ref));
		(*count)++;
	}
	return 0;
}

void builder_cache_import(struct builder *b)
{
	if (!b->o->cache_from || !b->o->cache_from[0] || b->o->no_cache)
		return;
	b->remote = json_object();
	for (size_t i = 0; b->o->cache_from[i]; i++) {
		const char *ref = b->o->cache_from[i];
		size_t count = 0;
		struct cairn_error e = CAIRN_ERROR_INIT;
		if (import_one(b, ref, &count, &e) < 0) {
			cleanup_free char *msg = cairn_error_format(&e);
			builder_progress(b, "warning: cache %s not used: %s\n", ref, msg);
		} else {
			builder_progress(b, "cache %s: %zu step%s\n", ref, count,
					 count == 1 ? "" : "s");
		}
		cairn_error_clear(&e);
	}
}

char *builder_cache_remote(struct builder *b, const char *key)
{
	json_t *hit = json_object_get(b->remote, key);
	if (!hit)
		return NULL;
	json_t *rec = json_object_get(hit, "record");
	const char *from = json_string_value(json_object_get(hit, "from"));
	json_t *layer = json_object_get(rec, "layer");
	const char *digest = json_string_value(json_object_get(layer, "digest"));
	const char *diff_id = json_string_value(json_object_get(layer, "diff_id"));
	json_t *size = json_object_get(layer, "size");
	/* a record is kept only whole: what the local cache and an export expect */
	if (!json_string_value(json_object_get(rec, "created")) ||
	    (layer && (!digest_valid(digest) || !digest_valid(diff_id) || !json_is_integer(size) ||
		       json_integer_value(size) < 0 ||
		       !json_string_value(json_object_get(layer, "mediaType")))))
		return NULL;
	struct cairn_error e = CAIRN_ERROR_INIT;
	if (layer && !store_has_blob(b->s, digest)) {
		struct registry_blob want = {.size = (uint64_t)json_integer_value(size)};
		memcpy(want.digest, digest, DIGEST_LEN);
		struct registry_opts o = builder_registry_opts(b);
		if (registry_fetch_blobs(b->s, from, &want, 1, &o, &e) < 0) {
			cleanup_free char *msg = cairn_error_format(&e);
			builder_progress(b, "warning: cache %s: %s\n", from, msg);
			cairn_error_clear(&e);
			return NULL;
		}
	}
	char *text = util_json_canonical(rec);
	/* kept here: the next build finds it without asking the registry */
	if (store_cache_put(b->s, key, text, &e) < 0)
		cairn_error_clear(&e);
	return text;
}

/* Adds the records of keys to records, and their layers (once each) to layers. */
static int collect(struct builder *b, char *const *keys, json_t *records, json_t *layers,
		   json_t *seen, struct cairn_error *err)
{
	for (size_t i = 0; keys && keys[i]; i++) {
		if (json_object_get(records, keys[i]))
			continue;
		cleanup_free char *text = NULL;
		int r = store_cache_get(b->s, keys[i], &text, err);
		if (r < 0)
			return r;
		json_t *rec = json_loads(text, 0, NULL);
		if (!json_is_object(rec)) {
			json_decref(rec);
			return cairn_error_set(err, EBADMSG, "cache record %s is malformed",
					       keys[i]);
		}
		json_object_set_new(records, keys[i], rec);
		json_t *l = json_object_get(rec, "layer");
		const char *d = json_string_value(json_object_get(l, "digest"));
		if (!l || !d || json_object_get(seen, d))
			continue;
		json_object_set_new(seen, d, json_true());
		json_t *desc =
		    json_pack("{s:O, s:s, s:O}", "mediaType", json_object_get(l, "mediaType"),
			      "digest", d, "size", json_object_get(l, "size"));
		if (!desc)
			return cairn_error_set(err, EBADMSG,
					       "cache record %s has a malformed layer", keys[i]);
		json_array_append_new(layers, desc);
	}
	return 0;
}

int builder_cache_export(struct builder *b, struct stage *final, struct cairn_error *err)
{
	cleanup_json json_t *records = json_object();
	cleanup_json json_t *layers = json_array();
	cleanup_json json_t *seen = json_object();
	int r = 0;
	if (b->o->cache_to_max) {
		for (size_t i = 0; i < b->n_stages && r == 0; i++)
			if (b->stages[i].state == STAGE_DONE)
				r = collect(b, b->stages[i].keys, records, layers, seen, err);
	}
	if (r == 0)
		r = collect(b, final->keys, records, layers, seen, err);
	if (r < 0)
		return cairn_error_wrap(err, "exporting the cache to %s", b->o->cache_to);
	/* the same records give the same artifact: nothing in it depends on when */
	cleanup_json json_t *config = json_pack("{s:O}", "records", records);
	cleanup_free char *config_text = util_json_canonical(config);
	if (strlen(config_text) > CACHE_MAX_CONFIG)
		return cairn_error_set(
		    err, EFBIG,
		    "exporting the cache to %s: its index would be %zu bytes, more "
		    "than the %u a build can read back (use mode=min)",
		    b->o->cache_to, strlen(config_text), CACHE_MAX_CONFIG);
	char config_digest[DIGEST_LEN], manifest_digest[DIGEST_LEN];
	if ((r = store_put_blob(b->s, config_text, strlen(config_text), config_digest, err)) < 0)
		return r;
	cleanup_json json_t *manifest =
	    json_pack("{s:i, s:s, s:s, s:{s:s, s:s, s:I}, s:O}", "schemaVersion", 2, "mediaType",
		      MEDIA_TYPE_OCI_MANIFEST, "artifactType", CACHE_ARTIFACT_TYPE, "config",
		      "mediaType", CACHE_CONFIG_TYPE, "digest", config_digest, "size",
		      (json_int_t)strlen(config_text), "layers", layers);
	cleanup_free char *manifest_text = util_json_canonical(manifest);
	if ((r = store_put_blob(b->s, manifest_text, strlen(manifest_text), manifest_digest, err)) <
	    0)
		return r;
	builder_progress(b, "exporting the cache (%zu step%s, %zu layer%s) to %s\n",
			 json_object_size(records), json_object_size(records) == 1 ? "" : "s",
			 json_array_size(layers), json_array_size(layers) == 1 ? "" : "s",
			 b->o->cache_to);
	struct registry_opts o = builder_registry_opts(b);
	char pushed[DIGEST_LEN];
	if ((r = registry_push(b->s, manifest_digest, b->o->cache_to, &o, pushed, err)) < 0)
		return cairn_error_wrap(err, "exporting the cache to %s", b->o->cache_to);
	return 0;
}
