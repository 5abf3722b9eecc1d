/* The build cache: a step's key, and its record (the history entry's time and the
 * layer it made) in the store, or in a --cache-from cache. */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- the cache ---- */

void builder_step_key(const char *parent, const char *desc, char out[DIGEST_LEN])
{
	struct sha256 h;
	sha256_init(&h);
	sha256_update(&h, parent, strlen(parent) + 1);
	sha256_update(&h, desc, strlen(desc) + 1);
	sha256_final(&h, out);
}

/* Fills sp from the record under sp->key; false when there is none usable. */
/* Fills sp from a record's text; false when it is not usable (its layer's blob
 * missing, say). */
static bool cache_apply(struct builder *b, struct step *sp, const char *text)
{
	cleanup_json json_t *rec = json_loads(text, 0, NULL);
	const char *created = json_string_value(json_object_get(rec, "created"));
	if (!created)
		return false;
	json_t *layer = json_object_get(rec, "layer");
	if (layer) {
		const char *digest = json_string_value(json_object_get(layer, "digest"));
		const char *diff_id = json_string_value(json_object_get(layer, "diff_id"));
		const char *mt = json_string_value(json_object_get(layer, "mediaType"));
		json_t *size = json_object_get(layer, "size");
		if (!digest_valid(digest) || !digest_valid(diff_id) || !mt ||
		    !json_is_integer(size) || !store_has_blob(b->s, digest))
			return false;
		strcpy(sp->layer.digest, digest);
		strcpy(sp->layer.diff_id, diff_id);
		sp->layer.size = (uint64_t)json_integer_value(size);
		sp->layer.media_type = xstrdup(mt);
		sp->has_layer = true;
	}
	sp->created = xstrdup(created);
	sp->cached = true;
	return true;
}

/* Whether the stage running b->step is one --no-cache-filter named. */
static bool stage_no_cache(struct builder *b)
{
	for (size_t i = 0; i < b->n_stages; i++)
		if (b->step > b->stages[i].first && b->step <= b->stages[i].end)
			return b->stages[i].no_cache;
	return false;
}

bool builder_cache_load(struct builder *b, struct step *sp)
{
	if (b->o->no_cache || stage_no_cache(b))
		return false;
	cleanup_free char *text = NULL;
	struct cairn_error e = CAIRN_ERROR_INIT;
	if (store_cache_get(b->s, sp->key, &text, &e) == 0 && cache_apply(b, sp, text))
		return true;
	cairn_error_clear(&e);
	free(text);
	text = builder_cache_remote(b, sp->key);
	return text && cache_apply(b, sp, text);
}

int builder_cache_save(struct builder *b, struct step *sp, struct cairn_error *err)
{
	cleanup_json json_t *rec = json_object();
	json_object_set_new(rec, "created", json_string(sp->created));
	json_object_set_new(rec, "created_by", json_string(sp->created_by));
	if (sp->has_layer)
		json_object_set_new(rec, "layer",
				    json_pack("{s:s, s:s, s:I, s:s}", "digest", sp->layer.digest,
					      "diff_id", sp->layer.diff_id, "size",
					      (json_int_t)sp->layer.size, "mediaType",
					      sp->layer.media_type));
	cleanup_free char *text = util_json_canonical(rec);
	return store_cache_put(b->s, sp->key, text, err);
}
