/* A step of a stage: what it adds to the image (history entry, layer) once it ran or
 * was found in the cache, and the stage's key moved on. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

void builder_step_release(struct step *sp)
{
	free(sp->created_by);
	free(sp->created);
	free(sp->layer.media_type);
}

static char *now_created(struct builder *b)
{
	if (b->o->timestamp_set)
		return util_rfc3339(b->o->timestamp);
	return util_rfc3339(b->sde >= 0 ? b->sde : (int64_t)time(NULL));
}

/* Adds the step to the stage's record for the report: its layer is the image's
 * last one when it made one. */
static void record_step(struct stage *st, const struct step *sp, const char *title)
{
	if (!st->steps)
		st->steps = json_array();
	cleanup_free char *stage = st->name ? xstrdup(st->name) : xasprintf("%zu", st->index);
	json_t *o = json_pack("{s:i, s:s, s:s, s:s, s:b, s:I}", "line", sp->in->line, "stage",
			      stage, "instruction", title, "key", sp->key, "cached", sp->cached,
			      "layer", sp->has_layer ? (json_int_t)st->img.n_layers - 1 : -1);
	if (!o)
		abort();
	json_array_append_new(st->steps, o);
}

/* Records the step in the image (history and layer) and moves the stage's key on. */
int builder_step_commit(struct builder *b, struct stage *st, struct step *sp,
			struct cairn_error *err)
{
	if (!sp->cached) {
		if (!sp->created)
			sp->created = now_created(b);
		/* --no-cache skips lookups only: the records it writes serve later builds */
		int r = builder_cache_save(b, sp, err);
		if (r < 0)
			return r;
	}
	if (sp->has_layer)
		oci_image_add_layer(&st->img, &sp->layer);
	if (!sp->no_history)
		oci_image_add_history(&st->img, sp->created, sp->created_by, !sp->has_layer);
	memcpy(st->key, sp->key, DIGEST_LEN);
	strv_push(&st->keys, sp->key);
	cleanup_free char *title = builder_instr_title(sp->in);
	record_step(st, sp, title);
	double t0 = sp->t0 ? sp->t0 : util_now();
	if (sp->cached) {
		builder_progress_step(b, BUILDER_EVENT_STEP_CACHED, sp->in, t0, sp->key,
				      "[%zu/%zu] %s CACHED\n", b->step, b->recipe->n_instrs, title);
	} else {
		cleanup_free char *d = util_human_duration(util_now() - t0);
		builder_progress_step(b, BUILDER_EVENT_STEP_DONE, sp->in, t0, sp->key,
				      "[%zu/%zu] %s %s\n", b->step, b->recipe->n_instrs, title, d);
	}
	return 0;
}
