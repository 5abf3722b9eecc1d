/* The plan: the recipe split into stages (one per FROM), the global ARGs before the
 * first FROM, what each stage reads from the others (its base, COPY --from,
 * RUN --mount from=), the target and the stages it needs. */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* An earlier stage named by name (case-insensitive) or, when by_index, by number. */
struct stage *builder_find_stage(struct builder *b, const char *name, size_t before, bool by_index)
{
	for (size_t i = 0; i < before && i < b->n_stages; i++)
		if (b->stages[i].name && !strcasecmp(b->stages[i].name, name))
			return &b->stages[i];
	if (by_index && *name && strspn(name, "0123456789") == strlen(name)) {
		unsigned long i = strtoul(name, NULL, 10);
		if (i < before && i < b->n_stages)
			return &b->stages[i];
	}
	return NULL;
}

/* ---- stages: the plan ---- */

/* The stage names an instruction reads from (COPY --from=X, RUN --mount=...,from=X),
 * COPY's expanded with the global ARGs; from= takes no variable. */
static void instr_sources(struct builder *b, const struct builder_instr *in, char ***out)
{
	if (in->syn->kind == RECIPE_COPY && in->copy.from) {
		char *v = NULL;
		/* a word that does not expand is an error its instruction reports */
		struct cairn_error e = CAIRN_ERROR_INIT;
		if (builder_expand_word(b, in->syn, NULL, in->copy.from, &v, &e) < 0)
			v = xstrdup(in->copy.from);
		cairn_error_clear(&e);
		strv_push_take(out, v);
	}
	for (size_t i = 0; in->syn->kind == RECIPE_RUN && i < in->run.n_mounts; i++)
		if (in->run.mounts[i].from)
			strv_push(out, in->run.mounts[i].from);
}

void builder_parse_instrs(struct builder *b)
{
	const struct recipe *rc = b->recipe;
	b->instrs = xcalloc(rc->n_instrs + 1, sizeof *b->instrs);
	for (size_t i = 0; i < rc->n_instrs; i++) {
		struct cairn_error e = CAIRN_ERROR_INIT;
		if (builder_instr_parse(&rc->instrs[i], rc->escape, &b->instrs[i], &e) < 0)
			cairn_error_move(&b->instrs[i].error, &e);
	}
}

/* Splits the recipe into stages, runs the global ARGs, and finds what each stage
 * reads from the others. */
int builder_plan_stages(struct builder *b, struct cairn_error *err)
{
	const struct recipe *rc = b->recipe;
	for (size_t i = 0; i < rc->n_instrs; i++) {
		const struct builder_instr *in = &b->instrs[i];
		enum recipe_kind kind = in->syn->kind;
		b->step = i + 1;
		int r = 0;
		if (kind == RECIPE_ARG && !b->n_stages) {
			cleanup_strbuf struct strbuf by = STRBUF_INIT;
			if ((r = builder_instr_check(b, in, err)) < 0 ||
			    (r = builder_declare_args(b, in, NULL, &b->meta_args, &by, err)) < 0)
				return r;
			cleanup_free char *t = builder_instr_title(in->syn);
			builder_progress_step(b, BUILDER_EVENT_STEP_DONE, in->syn, util_now(), NULL,
					      "[%zu/%zu] %s\n", b->step, rc->n_instrs, t);
			continue;
		}
		if (kind != RECIPE_FROM) {
			if (!b->n_stages)
				return builder_instr_error(b, in->syn, err, EINVAL,
							   "the first instruction must be FROM");
			continue;
		}
		if ((r = builder_instr_check(b, in, err)) < 0)
			return r;
		b->stages = xrealloc(b->stages, (b->n_stages + 1) * sizeof *b->stages);
		struct stage *st = &b->stages[b->n_stages];
		memset(st, 0, sizeof *st);
		st->index = b->n_stages;
		st->first = st->end = i;
		st->result_fd = -1;
		if (b->n_stages)
			b->stages[b->n_stages - 1].end = i;
		b->n_stages++; /* counted at once: released whole when the plan fails */
		if ((r = builder_expand_word(b, in->syn, NULL, in->from.image, &st->base, err)) < 0)
			return r;
		if (!*st->base)
			return builder_instr_error(b, in->syn, err, EINVAL,
						   "FROM: the image name is empty");
		const struct builder_named_context *nc = builder_named_context(b, st->base);
		if (nc && !nc->image)
			return builder_instr_error(
			    b, in->syn, err, EINVAL,
			    "FROM %s: --build-context %s is a directory; FROM needs an image "
			    "(docker-image:// or oci-layout://)",
			    st->base, nc->name);
		if (nc) {
			free(st->base);
			st->base = xstrdup(nc->image);
		}
		if (in->from.name) {
			st->name = xstrdup(in->from.name);
			if (builder_find_stage(b, st->name, st->index, false))
				return builder_instr_error(b, in->syn, err, EINVAL,
							   "duplicate stage name \"%s\"", st->name);
		}
	}
	if (!b->n_stages) {
		int r = cairn_error_set(err, EINVAL, "no FROM instruction");
		builder_locate(b, 0, false, err);
		return r;
	}
	b->stages[b->n_stages - 1].end = rc->n_instrs;
	for (size_t i = 0; b->o->no_cache_stages && b->o->no_cache_stages[i]; i++) {
		const char *name = b->o->no_cache_stages[i];
		struct stage *st = builder_find_stage(b, name, b->n_stages, true);
		if (!st) {
			int r = cairn_error_set(err, EINVAL, "--no-cache-filter %s: no such stage",
						name);
			builder_locate(b, 0, false, err);
			return r;
		}
		st->no_cache = true;
	}

	for (size_t si = 0; si < b->n_stages; si++) {
		struct stage *st = &b->stages[si];
		cleanup_strv char **names = NULL;
		strv_push(&names, st->base);
		for (size_t i = st->first + 1; i < st->end; i++)
			instr_sources(b, &b->instrs[i], &names);
		for (size_t k = 0; names[k]; k++) {
			/* a named context wins over a stage of that name */
			struct stage *dep = k && builder_named_context(b, names[k])
						? NULL
						: builder_find_stage(b, names[k], si, k > 0);
			if (!dep)
				continue; /* an image, or an error the instruction reports */
			st->deps = xrealloc(st->deps, (st->n_deps + 1) * sizeof *st->deps);
			st->deps[st->n_deps++] = dep->index;
		}
	}
	return 0;
}

void builder_mark_needed(struct builder *b, struct stage *st)
{
	if (st->needed)
		return;
	st->needed = true;
	for (size_t i = 0; i < st->n_deps; i++)
		builder_mark_needed(b, &b->stages[st->deps[i]]);
}

int builder_choose_target(struct builder *b, struct stage **out, struct cairn_error *err)
{
	if (!b->o->target) {
		*out = &b->stages[b->n_stages - 1];
		return 0;
	}
	*out = builder_find_stage(b, b->o->target, b->n_stages, false);
	if (*out)
		return 0;
	cleanup_strbuf struct strbuf names = STRBUF_INIT;
	for (size_t i = 0; i < b->n_stages; i++)
		if (b->stages[i].name)
			strbuf_addf(&names, "%s%s", names.len ? ", " : "", b->stages[i].name);
	return cairn_error_set(err, ENOENT, "--target %s: %s has no such stage%s%s%s", b->o->target,
			       b->recipe_name, names.len ? " (stages: " : "", strbuf_str(&names),
			       names.len ? ")" : "");
}
