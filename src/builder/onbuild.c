/* ONBUILD: a trigger kept in the image's config, and the triggers of a stage's base
 * image, run right after its FROM. */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- ONBUILD ---- */

/* The trigger as docker stores it in OnBuild: the wrapped instruction as written,
 * then each heredoc's body and delimiter, so the text parses again the same way. */
char *builder_onbuild_expression(const struct recipe_instr *in)
{
	struct strbuf sb = STRBUF_INIT;
	strbuf_addstr(&sb, in->sub->original);
	for (size_t i = 0; i < in->n_heredocs; i++)
		strbuf_addf(&sb, "\n%s%s", in->heredocs[i].content, in->heredocs[i].name);
	return strbuf_detach(&sb);
}

int builder_onbuild_parse(const char *text, struct recipe **rc, char **why)
{
	cleanup_free char *buf = xasprintf("FROM scratch\n%s\n", text);
	struct recipe_error e = {0};
	*rc = NULL;
	if (recipe_parse(buf, strlen(buf), rc, &e) < 0) {
		*why = xstrdup(e.msg ? e.msg : "syntax error");
		recipe_error_clear(&e);
		return -EINVAL;
	}
	const struct recipe_instr *in = (*rc)->n_instrs > 1 ? &(*rc)->instrs[1] : NULL;
	if ((*rc)->n_instrs != 2)
		*why = xstrdup("a trigger must be exactly one instruction");
	else if (in->kind == RECIPE_ONBUILD)
		*why = xstrdup("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
	else if (in->kind == RECIPE_FROM || in->kind == RECIPE_MAINTAINER)
		*why =
		    xasprintf("%s isn't allowed as an ONBUILD trigger", recipe_kind_name(in->kind));
	else
		return 0;
	recipe_free(*rc);
	*rc = NULL;
	return -EINVAL;
}

/* ONBUILD INSTRUCTION: appends the trigger (checked when it was parsed) to the
 * config's OnBuild. */
int builder_apply_onbuild(struct builder *b, struct stage *st, const struct builder_instr *in,
			  struct strbuf *by, struct cairn_error *err)
{
	const char *expr = in->onbuild.expression;
	json_t *cfg = builder_runconfig(st);
	json_t *list = json_object_get(cfg, "OnBuild");
	if (!json_is_array(list)) {
		list = json_array();
		json_object_set_new(cfg, "OnBuild", list);
	}
	json_array_append_new(list, json_string(expr));
	strbuf_addf(by, "ONBUILD %s", expr);
	return 0;
}

/* Parses a trigger into its typed form and runs it with its kind's executor. */
static int run_trigger(struct builder *b, struct stage *st, struct recipe *rc,
		       struct cairn_error *err)
{
	struct builder_instr in;
	int r = builder_instr_parse(&rc->instrs[1], rc->escape, &in, err);
	if (r == 0)
		r = in.def->exec(b, st, &in, err);
	builder_instr_release(&in);
	return r;
}

int builder_run_onbuild_triggers(struct builder *b, struct stage *st,
				 const struct builder_instr *from, struct cairn_error *err)
{
	json_t *cfg = builder_runconfig(st);
	json_t *list = json_object_get(cfg, "OnBuild");
	if (!list)
		return 0;
	cleanup_strv char **triggers = json_is_array(list) ? util_json_to_strv(list) : NULL;
	/* as docker: the triggers run once, in the first image built FROM the image */
	json_object_del(cfg, "OnBuild");
	for (size_t i = 0; triggers && triggers[i]; i++) {
		struct recipe *rc = NULL;
		cleanup_free char *why = NULL;
		cleanup_free char *title = NULL;
		int r = builder_onbuild_parse(triggers[i], &rc, &why);
		if (r == 0) {
			struct recipe_instr *in = &rc->instrs[1];
			/* its errors and progress point at the FROM that brought it in */
			in->line = in->end_line = from->syn->line;
			title = builder_instr_title(in);
			char *marked = xasprintf("ONBUILD %s", in->original);
			free(in->original);
			in->original = marked;
			r = run_trigger(b, st, rc, err);
			recipe_free(rc);
		} else {
			struct recipe_instr fake = {.original = triggers[i]};
			title = builder_instr_title(&fake);
			cairn_error_set(err, -r, "%s", why);
		}
		if (r < 0) {
			/* the trigger's place is the FROM's, where the executor put it */
			cairn_error_wrap(err, "%s: ONBUILD trigger `%s`",
					 recipe_kind_name(from->syn->kind), title);
			builder_locate(b, from->syn->line, true, err);
			return r;
		}
	}
	return 0;
}
