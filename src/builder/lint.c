/* Checks of a recipe that need no build: the problems `cairn lint` and
 * `cairn build --check` report. Rule names follow buildkit's checks where one
 * exists, so users can look them up. */
#include "internal.h"

#include "recipe.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

struct linter {
	const char *name;
	builder_lint_fn report;
	void *ctx;
	size_t count;
	char **skip; /* rules `# check=skip=A,B` turns off; "all" for every one */
};

/* Reads buildkit's `# check=skip=RULE,RULE;error=true` directive (only skip
 * matters here: any problem already makes lint fail). */
static char **check_skips(const char *check)
{
	char **skip = xcalloc(1, sizeof(char *));
	for (const char *p = check; p && *p;) {
		size_t n = strcspn(p, ";");
		if (n > 5 && !strncmp(p, "skip=", 5)) {
			for (const char *q = p + 5; q < p + n;) {
				size_t m = strcspn(q, ",;");
				if (q + m > p + n)
					m = (size_t)(p + n - q);
				cleanup_free char *rule = xstrndup(q, m);
				char *t = rule;
				while (*t == ' ')
					t++;
				t[strcspn(t, " ")] = '\0';
				if (*t)
					strv_push(&skip, t);
				q += m + 1;
			}
		}
		p += n + (p[n] == ';');
	}
	return skip;
}

static bool skipped(const struct linter *l, const char *rule)
{
	/* what the build refuses is no check one can turn off */
	if (!rule)
		return false;
	for (size_t i = 0; l->skip && l->skip[i]; i++)
		if (!strcasecmp(l->skip[i], rule) || !strcasecmp(l->skip[i], "all"))
			return true;
	return false;
}

__attribute__((format(printf, 5, 6))) static void problem(struct linter *l,
							  const struct recipe_instr *in, bool error,
							  const char *rule, const char *fmt, ...)
{
	if (skipped(l, rule))
		return;
	va_list ap;
	va_start(ap, fmt);
	char *msg = xvasprintf(fmt, ap);
	va_end(ap);
	struct builder_problem p = {
	    .line = in ? in->line : 0, .error = error, .rule = rule, .msg = msg, .instr = in};
	l->report(l->ctx, &p);
	l->count++;
	free(msg);
}

static bool all_lower(const char *s)
{
	for (; *s; s++)
		if (isupper((unsigned char)*s))
			return false;
	return true;
}

static bool all_upper(const char *s)
{
	for (; *s; s++)
		if (islower((unsigned char)*s))
			return false;
	return true;
}

static bool looks_secret(const char *name)
{
	static const char *const words[] = {"password", "passwd",  "secret",	  "token",
					    "apikey",	"api_key", "private_key", NULL};
	cleanup_free char *low = xstrdup(name);
	for (char *p = low; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	for (size_t i = 0; words[i]; i++)
		if (strstr(low, words[i]))
			return true;
	return false;
}

static void check_stage_names(struct linter *l, const struct recipe *rc)
{
	char **names = NULL;
	for (size_t i = 0; i < rc->n_instrs; i++) {
		const struct recipe_instr *in = &rc->instrs[i];
		if (in->kind != RECIPE_FROM || strv_len(in->args) != 3)
			continue;
		const char *as = in->args[1], *name = in->args[2];
		bool kw_upper = all_upper(in->keyword);
		if (kw_upper ? !all_upper(as) : !all_lower(as))
			problem(l, in, false, "FromAsCasing",
				"'%s' and '%s' keywords' casing do not match", as, in->keyword);
		if (!all_lower(name))
			problem(l, in, false, "StageNameCasing",
				"stage name '%s' should be lowercase", name);
		if (!strcasecmp(name, "scratch") || !strcasecmp(name, "context"))
			problem(l, in, true, "ReservedStageName",
				"'%s' is reserved and cannot be a stage name", name);
		for (size_t j = 0; names && names[j]; j++)
			if (!strcasecmp(names[j], name))
				problem(l, in, true, "DuplicateStageName",
					"duplicate stage name '%s'", name);
		strv_push(&names, name);
	}
	strv_free(names);
}

/* One CMD, ENTRYPOINT and HEALTHCHECK per stage: earlier ones have no effect. */
static void check_repeats(struct linter *l, const struct recipe *rc)
{
	static const enum recipe_kind once[] = {RECIPE_CMD, RECIPE_ENTRYPOINT, RECIPE_HEALTHCHECK};
	for (size_t k = 0; k < 3; k++) {
		const struct recipe_instr *last = NULL;
		for (size_t i = 0; i <= rc->n_instrs; i++) {
			const struct recipe_instr *in = i < rc->n_instrs ? &rc->instrs[i] : NULL;
			if (!in || in->kind == RECIPE_FROM) {
				last = NULL;
				continue;
			}
			if (in->kind != once[k])
				continue;
			if (last)
				problem(l, last, false, "MultipleInstructionsDisallowed",
					"multiple %s instructions in one stage: only the last "
					"(line %d) takes effect",
					recipe_kind_name(once[k]), in->line);
			last = in;
		}
	}
}

/* The flags an instruction takes and what the build's parse of it refuses: the same
 * table and the same parse as the build's, so lint and build cannot disagree. */
static void check_parse(struct linter *l, const struct recipe_instr *in, char escape)
{
	bool known = true;
	for (size_t i = 0; in->flags && in->flags[i]; i++) {
		if (builder_instr_takes_flag(in->kind, in->flags[i]))
			continue;
		known = false;
		problem(l, in, true, "UnknownFlag", "%s does not take the flag %.*s",
			recipe_kind_name(in->kind), (int)strcspn(in->flags[i], "="), in->flags[i]);
	}
	if (!known)
		return;
	struct builder_instr ti;
	struct cairn_error e = CAIRN_ERROR_INIT;
	if (builder_instr_parse(in, escape, &ti, &e) < 0) {
		cleanup_free char *msg = cairn_error_format(&e);
		problem(l, in, true, NULL, "%s", msg);
	}
	builder_instr_release(&ti);
	cairn_error_clear(&e);
}

static void check_instr(struct linter *l, const struct recipe_instr *in, char escape,
			bool *abs_workdir, bool upper_case)
{
	check_parse(l, in, escape);
	if ((upper_case && !all_upper(in->keyword)) || (!upper_case && !all_lower(in->keyword)))
		problem(l, in, false, "ConsistentInstructionCasing",
			"instruction '%s' should match the case of the others (%s)", in->keyword,
			upper_case ? "upper" : "lower");
	switch (in->kind) {
	case RECIPE_FROM:
		*abs_workdir = false;
		break;
	case RECIPE_CMD:
	case RECIPE_ENTRYPOINT:
		if (!in->json)
			problem(l, in, false, "JSONArgsRecommended",
				"JSON arguments recommended for %s to keep OS signals reaching "
				"the process",
				recipe_kind_name(in->kind));
		break;
	case RECIPE_MAINTAINER:
		problem(l, in, false, "MaintainerDeprecated",
			"MAINTAINER is deprecated: use LABEL org.opencontainers.image.authors=...");
		break;
	case RECIPE_WORKDIR:
		if (in->args && in->args[0] && in->args[0][0] != '/' && in->args[0][0] != '$' &&
		    !*abs_workdir)
			problem(l, in, false, "WorkdirRelativePath",
				"relative WORKDIR '%s' without an absolute WORKDIR before it "
				"depends on the base image",
				in->args[0]);
		else
			*abs_workdir = true;
		break;
	case RECIPE_ENV:
	case RECIPE_ARG:
		for (size_t i = 0; in->args && in->args[i]; i += in->kind == RECIPE_ENV ? 3 : 1) {
			cleanup_free char *name = xstrndup(in->args[i], strcspn(in->args[i], "="));
			if (looks_secret(name))
				problem(l, in, false, "SecretsUsedInArgOrEnv",
					"%s \"%s\" looks like a secret: values of ARG and ENV are "
					"kept in the image; use RUN --mount=type=secret",
					recipe_kind_name(in->kind), name);
			if (in->kind == RECIPE_ENV && in->args[i + 1] && in->args[i + 2] &&
			    !*in->args[i + 2])
				problem(l, in, false, "LegacyKeyValueFormat",
					"\"ENV key value\" is legacy: use ENV key=value");
			if (in->kind == RECIPE_ENV && (!in->args[i + 1] || !in->args[i + 2]))
				break;
		}
		break;
	default:
		break;
	}
}

size_t builder_lint(const struct recipe *rc, const char *name, builder_lint_fn report, void *ctx)
{
	struct linter l = {.name = name, .report = report, .ctx = ctx};
	l.skip = check_skips(rc->check);
	/* most instructions' case decides what "consistent" means */
	size_t upper = 0;
	for (size_t i = 0; i < rc->n_instrs; i++)
		upper += all_upper(rc->instrs[i].keyword);
	bool upper_case = upper * 2 >= rc->n_instrs;
	bool abs_workdir = false;
	for (size_t i = 0; i < rc->n_instrs; i++)
		check_instr(&l, &rc->instrs[i], rc->escape, &abs_workdir, upper_case);
	check_stage_names(&l, rc);
	check_repeats(&l, rc);
	strv_free(l.skip);
	return l.count;
}
