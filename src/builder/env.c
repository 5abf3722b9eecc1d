/* A stage's variables (the image's Env, declared ARGs) and the expansion of words
 * with them; the config fields the executors read. */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- small helpers ---- */

const char *builder_env_get(char *const *env, const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; env && env[i]; i++)
		if (!strncmp(env[i], name, n) && env[i][n] == '=')
			return env[i] + n + 1;
	return NULL;
}

bool builder_env_has(char *const *env, const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; env && env[i]; i++)
		if (!strncmp(env[i], name, n) && (env[i][n] == '=' || env[i][n] == '\0'))
			return true;
	return false;
}

/* Sets K=V (or declares K when value is NULL) in *env, replacing an existing K. */
void builder_env_set(char ***env, const char *name, const char *value)
{
	size_t n = strlen(name);
	char *entry = value ? xasprintf("%s=%s", name, value) : xstrdup(name);
	for (size_t i = 0; *env && (*env)[i]; i++) {
		if (!strncmp((*env)[i], name, n) && ((*env)[i][n] == '=' || (*env)[i][n] == '\0')) {
			free((*env)[i]);
			(*env)[i] = entry;
			return;
		}
	}
	strv_push_take(env, entry);
}

char *builder_strv_json_text(char *const *v)
{
	cleanup_json json_t *j = util_strv_to_json(v);
	char *s = json_dumps(j, JSON_COMPACT);
	return s ? s : xstrdup("[]");
}

json_t *builder_runconfig(struct stage *st)
{
	return oci_image_runconfig(&st->img);
}

char **builder_stage_env(struct stage *st)
{
	json_t *env = json_object_get(builder_runconfig(st), "Env");
	return env ? util_json_to_strv(env) : xcalloc(1, sizeof(char *));
}

const char *builder_config_str(struct stage *st, const char *field)
{
	const char *s = json_string_value(json_object_get(builder_runconfig(st), field));
	return s ? s : "";
}

const char *builder_stage_workdir(struct stage *st)
{
	const char *wd = builder_config_str(st, "WorkingDir");
	return *wd ? wd : "/";
}

/* ---- variable expansion ---- */

struct lookup_ctx {
	char *const *env;
	char *const *args;
};

static const char *lookup_var(void *p, const char *name)
{
	struct lookup_ctx *l = p;
	const char *v = builder_env_get(l->env, name);
	if (v || builder_env_has(l->env, name))
		return v;
	return builder_env_get(l->args, name);
}

/* Expands src with the stage's variables (the global ARGs when st is NULL) into *word,
 * or split into *words when word is NULL. The parser's error becomes the build's
 * ("KIND: what..."); an interruption (the parser watches util_interrupted: a hostile
 * pattern may take long) is reported as every other one. */
static int expand(struct builder *b, const struct recipe_instr *in, struct stage *st,
		  const char *src, char escape, const char *what, char **word, char ***words,
		  struct cairn_error *err)
{
	cleanup_strv char **env = st ? builder_stage_env(st) : NULL;
	struct lookup_ctx l = {env, st ? st->args : b->meta_args};
	struct recipe_word_opts o = {
	    .escape = escape, .lookup = lookup_var, .ctx = &l, .interrupt = &util_interrupted};
	struct recipe_error rerr = {0};
	int r = word ? recipe_expand_word(src, &o, word, &rerr)
		     : recipe_expand_words(src, &o, words, &rerr);
	if (r >= 0)
		return r;
	if (r == -EINTR)
		r = cairn_error_set(err, EINTR, "interrupted");
	else
		r = builder_instr_error(b, in, err, r == -E2BIG ? E2BIG : EINVAL, "%s%s", what,
					rerr.msg ? rerr.msg : "bad substitution");
	recipe_error_clear(&rerr);
	return r;
}

int builder_expand_word(struct builder *b, const struct recipe_instr *in, struct stage *st,
			const char *word, char **out, struct cairn_error *err)
{
	return expand(b, in, st, word, b->recipe->escape, "", out, NULL, err);
}

int builder_expand_words(struct builder *b, const struct recipe_instr *in, struct stage *st,
			 const char *src, char ***out, struct cairn_error *err)
{
	return expand(b, in, st, src, b->recipe->escape, "", NULL, out, err);
}

int builder_expand_heredoc(struct builder *b, const struct recipe_instr *in, struct stage *st,
			   const char *body, char **out, struct cairn_error *err)
{
	/* the parser's lexer has no mode that keeps quotes: every quote is escaped */
	cleanup_strbuf struct strbuf t = STRBUF_INIT;
	for (const char *p = body; *p; p++) {
		if (*p == '\\') {
			strbuf_addch(&t, *p);
			if (p[1])
				strbuf_addch(&t, *++p);
			continue;
		}
		if (*p == '\'' || *p == '"')
			strbuf_addch(&t, '\\');
		strbuf_addch(&t, *p);
	}
	return expand(b, in, st, t.len ? t.buf : "", '\\', "heredoc: ", out, NULL, err);
}
