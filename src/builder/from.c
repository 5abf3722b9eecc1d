/* FROM: the stage starts from scratch, an earlier stage or an image. */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* --platform, expanded with the global ARGs: only this machine's can be built. */
static int check_platform(struct builder *b, const struct builder_instr *in,
			  struct cairn_error *err)
{
	if (!in->from.platform)
		return 0;
	cleanup_free char *p = NULL;
	int r = builder_expand_word(b, in->syn, NULL, in->from.platform, &p, err);
	if (r < 0)
		return r;
	cleanup_free char *mine = xasprintf("linux/%s", oci_arch());
	if (strcmp(p, mine) && strncmp(p, mine, strlen(mine)))
		return builder_instr_error(b, in->syn, err, ENOTSUP,
					   "--platform=%s: only %s can be built on this machine", p,
					   mine);
	return 0;
}

/* FROM: the stage starts from scratch, an earlier stage, or an image in the store. */
int builder_exec_from(struct builder *b, struct stage *st, const struct builder_instr *in,
		      struct cairn_error *err)
{
	double t0 = util_now();
	int r = check_platform(b, in, err);
	if (r < 0)
		return r;
	st->shell = xcalloc(1, sizeof(char *));
	strv_push(&st->shell, "/bin/sh");
	strv_push(&st->shell, "-c");
	st->args = xcalloc(1, sizeof(char *));

	struct stage *prev = builder_find_stage(b, st->base, st->index, false);
	cleanup_free char *desc = NULL;
	if (prev) {
		oci_image_copy(&st->img, &prev->img);
		memcpy(st->key, prev->key, DIGEST_LEN);
		strv_free(st->keys);
		st->keys = strv_dup(prev->keys);
		json_decref(st->steps);
		st->steps = prev->steps ? json_deep_copy(prev->steps) : json_array();
		st->n_base_layers = prev->n_base_layers;
	} else if (!strcmp(st->base, "scratch")) {
		oci_image_init_scratch(&st->img);
		/* BuildKit's empty image works in "/" and says so */
		json_object_set_new(builder_runconfig(st), "WorkingDir", json_string("/"));
		desc = xstrdup("FROM scratch");
	} else {
		if ((r = builder_load_image(b, st->base, &st->img, err)) < 0)
			return builder_instr_wrap(b, in->syn, err);
		desc = xasprintf("FROM %s", st->img.digest);
	}
	if (desc) {
		/* SOURCE_DATE_EPOCH and --timestamp set every timestamp a record keeps: they
		 * are part of the key (--timestamp only when given, so that other keys stay
		 * as they were) */
		cleanup_free char *ts =
		    b->o->timestamp_set ? xasprintf("\nTIMESTAMP=%lld", (long long)b->o->timestamp)
					: xstrdup("");
		cleanup_free char *root = xasprintf("%s\nSOURCE_DATE_EPOCH=%lld%s\ncache=%d", desc,
						    (long long)b->sde, ts, BUILDER_CACHE_FORMAT);
		builder_step_key("", root, st->key);
		json_decref(st->steps);
		st->steps = json_array();
		st->n_base_layers = (long)st->img.n_layers;
	}
	/* the image's SHELL carries on into this stage */
	json_t *shell = json_object_get(builder_runconfig(st), "Shell");
	if (json_array_size(shell)) {
		strv_free(st->shell);
		st->shell = util_json_to_strv(shell);
	}
	/* an image without PATH gets the usual one, as buildkit does */
	cleanup_strv char **env = builder_stage_env(st);
	if (!builder_env_has(env, "PATH")) {
		builder_env_set(&env, "PATH", DEFAULT_PATH);
		json_object_set_new(builder_runconfig(st), "Env", util_strv_to_json(env));
	}
	cleanup_free char *title = builder_instr_title(in->syn);
	builder_progress_step(b, BUILDER_EVENT_STEP_DONE, in->syn, t0, NULL, "[%zu/%zu] %s\n",
			      b->step, b->recipe->n_instrs, title);
	return builder_run_onbuild_triggers(b, st, in, err);
}
