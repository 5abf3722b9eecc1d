/* Typed instructions: each instruction of the syntax tree parsed once, by its kind's
 * entry in one table, into a struct builder_instr that lint, the planner, ONBUILD and
 * the executors all read.
 *
 * An entry says which flags the kind takes and of what type (buildkit's BFlags, as
 * frontend/dockerfile/instructions/parse.go declares them per instruction), how its
 * arguments become typed fields, and which executor runs it. The parse checks
 * everything that needs no variable (flag names and types, durations, the --mount
 * grammar, ONBUILD triggers); values that may hold variables stay as written and are
 * expanded when the step runs, with the stage's variables, as buildkit does. */
#include "internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- the flags each kind takes ---- */

static const struct builder_flag no_flags[] = {{NULL, 0, false}};

static const struct builder_flag from_flags[] = {
    {"platform", BUILDER_FLAG_STRING, false},
    {NULL, 0, false},
};

static const struct builder_flag run_flags[] = {
    {"network", BUILDER_FLAG_STRING, false},
    {"mount", BUILDER_FLAG_STRINGS, false},
    {"security", BUILDER_FLAG_STRING, false},
    {NULL, 0, false},
};

/* the booleans in the order their values are checked */
static const struct builder_flag copy_flags[] = {
    {"from", BUILDER_FLAG_STRING, false},
    {"chown", BUILDER_FLAG_STRING, false},
    {"chmod", BUILDER_FLAG_STRING, false},
    {"link", BUILDER_FLAG_BOOL, false},
    {"parents", BUILDER_FLAG_BOOL, false},
    {"exclude", BUILDER_FLAG_STRINGS, false},
    {NULL, 0, false},
};

/* buildkit's ADD has no --parents: that is COPY's */
static const struct builder_flag add_flags[] = {
    {"chown", BUILDER_FLAG_STRING, false},    {"chmod", BUILDER_FLAG_STRING, false},
    {"link", BUILDER_FLAG_BOOL, false},	      {"keep-git-dir", BUILDER_FLAG_BOOL, false},
    {"exclude", BUILDER_FLAG_STRINGS, false}, {"checksum", BUILDER_FLAG_STRING, false},
    {"unpack", BUILDER_FLAG_BOOL, false},     {NULL, 0, false},
};

/* in the order of enum builder_healthcheck_value */
static const struct builder_flag healthcheck_flags[] = {
    {"interval", BUILDER_FLAG_STRING, true},	 {"timeout", BUILDER_FLAG_STRING, true},
    {"start-period", BUILDER_FLAG_STRING, true}, {"start-interval", BUILDER_FLAG_STRING, true},
    {"retries", BUILDER_FLAG_STRING, true},	 {NULL, 0, false},
};

/* ---- errors ---- */

/* Sets err to "KIND: what" (not located: the caller knows where the recipe is). */
#define fail(syn, err, code, fmt, ...)                                                             \
	cairn_error_set(err, code, "%s: " fmt, recipe_kind_name((syn)->kind), ##__VA_ARGS__)

/* ---- flags ---- */

/* The flags of an instruction, typed as its kind's spec says (indexed as the spec). */
struct flag_values {
	const struct builder_flag *spec;
	const char *value[BUILDER_MAX_FLAGS]; /* STRING and BOOL: the last given, "" when bare */
	bool on[BUILDER_MAX_FLAGS];	      /* BOOL */
	char **values[BUILDER_MAX_FLAGS];     /* STRINGS: the value of each --name=value */
};

static void flag_values_release(struct flag_values *v)
{
	for (size_t i = 0; i < BUILDER_MAX_FLAGS; i++)
		free(v->values[i]);
}

/* The spec's entry for "--name[=value]", or -1. */
static int flag_index(const struct builder_flag *spec, const char *flag)
{
	const char *f = flag + 2;
	size_t n = strcspn(f, "=");
	for (int i = 0; spec[i].name; i++)
		if (strlen(spec[i].name) == n && !strncmp(spec[i].name, f, n))
			return i;
	return -1;
}

static int flag_named(const struct flag_values *v, const char *name)
{
	for (int i = 0; v->spec[i].name; i++)
		if (!strcmp(v->spec[i].name, name))
			return i;
	abort(); /* a name not in the spec: a bug here */
}

/* The value of a STRING flag (NULL when not given, "" when bare). */
static const char *flag_string(const struct flag_values *v, const char *name)
{
	return v->value[flag_named(v, name)];
}

static bool flag_bool(const struct flag_values *v, const char *name)
{
	return v->on[flag_named(v, name)];
}

/* The values of a STRINGS flag, a new vector of borrowed strings (never NULL). */
static char **flag_strings(struct flag_values *v, const char *name)
{
	char **s = steal_pointer(&v->values[flag_named(v, name)]);
	return s ? s : xcalloc(1, sizeof(char *));
}

bool builder_instr_takes_flag(enum recipe_kind kind, const char *flag)
{
	const struct builder_instr_def *def = builder_instr_def(kind);
	return def && flag_index(def->flags, flag) >= 0;
}

/* Checks syn's flags against spec and types their values. */
static int parse_flags(const struct recipe_instr *syn, const struct builder_flag *spec,
		       struct flag_values *v, struct cairn_error *err)
{
	memset(v, 0, sizeof *v);
	v->spec = spec;
	for (size_t i = 0; syn->flags && syn->flags[i]; i++)
		if (flag_index(spec, syn->flags[i]) < 0)
			return fail(syn, err, EINVAL, "unknown flag: --%.*s",
				    (int)strcspn(syn->flags[i] + 2, "="), syn->flags[i] + 2);
	bool seen[BUILDER_MAX_FLAGS] = {false};
	for (size_t i = 0; syn->flags && syn->flags[i]; i++) {
		int k = flag_index(spec, syn->flags[i]);
		const char *eq = strchr(syn->flags[i], '=');
		if (spec[k].once && seen[k])
			return fail(syn, err, EINVAL, "duplicate flag --%s", spec[k].name);
		if (spec[k].once && !eq)
			return fail(syn, err, EINVAL, "--%s needs a value", spec[k].name);
		seen[k] = true;
		if (spec[k].type == BUILDER_FLAG_STRINGS) {
			if (eq) {
				size_t n = 0;
				while (v->values[k] && v->values[k][n])
					n++;
				v->values[k] = xrealloc(v->values[k], (n + 2) * sizeof(char *));
				v->values[k][n] = (char *)eq + 1;
				v->values[k][n + 1] = NULL;
			}
		} else {
			v->value[k] = eq ? eq + 1 : "";
		}
	}
	for (int k = 0; spec[k].name; k++) {
		if (spec[k].type != BUILDER_FLAG_BOOL || !v->value[k])
			continue;
		const char *s = v->value[k];
		if (!*s || !strcasecmp(s, "true"))
			v->on[k] = true;
		else if (strcasecmp(s, "false"))
			return fail(syn, err, EINVAL, "--%s=%s: expected true or false",
				    spec[k].name, s);
	}
	return 0;
}

/* ---- each kind ---- */

static int parse_from(const struct recipe_instr *syn, struct flag_values *f, char escape,
		      struct builder_instr *in, struct cairn_error *err)
{
	size_t nargs = strv_len(syn->args);
	if (nargs != 1 && !(nargs == 3 && !strcasecmp(syn->args[1], "as")))
		return fail(syn, err, EINVAL, "expected FROM IMAGE [AS NAME]");
	in->from.image = syn->args[0];
	in->from.name = nargs == 3 ? syn->args[2] : NULL;
	in->from.platform = flag_string(f, "platform");
	return 0;
}

static int parse_arg(const struct recipe_instr *syn, struct flag_values *f, char escape,
		     struct builder_instr *in, struct cairn_error *err)
{
	size_t n = strv_len(syn->args);
	in->arg.v = xcalloc(n + 1, sizeof *in->arg.v);
	for (size_t i = 0; i < n; i++) {
		const char *eq = strchr(syn->args[i], '=');
		in->arg.v[i].name = eq ? xstrndup(syn->args[i], (size_t)(eq - syn->args[i]))
				       : xstrdup(syn->args[i]);
		in->arg.v[i].value = eq ? eq + 1 : NULL;
	}
	in->arg.n = n;
	return 0;
}

/* ENV and LABEL: the parser's (name, value, separator) triples. */
static int parse_pairs(const struct recipe_instr *syn, struct flag_values *f, char escape,
		       struct builder_instr *in, struct cairn_error *err)
{
	size_t n = strv_len(syn->args) / 3 + 1;
	in->pairs.v = xcalloc(n, sizeof *in->pairs.v);
	for (size_t i = 0; syn->args[i] && syn->args[i + 1]; i += 3) {
		in->pairs.v[in->pairs.n].name = syn->args[i];
		in->pairs.v[in->pairs.n++].value = syn->args[i + 1];
		if (!syn->args[i + 2])
			break;
	}
	return 0;
}

/* USER, WORKDIR, STOPSIGNAL, MAINTAINER: the rest of the line. */
static int parse_word(const struct recipe_instr *syn, struct flag_values *f, char escape,
		      struct builder_instr *in, struct cairn_error *err)
{
	in->word = syn->args[0];
	return 0;
}

/* EXPOSE, VOLUME, CMD, ENTRYPOINT: the arguments as the parser gives them. */
static int parse_words(const struct recipe_instr *syn, struct flag_values *f, char escape,
		       struct builder_instr *in, struct cairn_error *err)
{
	in->words = syn->args;
	return 0;
}

static int parse_shell(const struct recipe_instr *syn, struct flag_values *f, char escape,
		       struct builder_instr *in, struct cairn_error *err)
{
	if (!syn->json || !syn->args || !syn->args[0])
		return fail(syn, err, EINVAL,
			    "SHELL requires the arguments in JSON form, "
			    "e.g. SHELL [\"/bin/bash\", \"-c\"]");
	in->words = syn->args;
	return 0;
}

/* strconv.ParseInt(s, 10, 32), which docker uses for --retries. */
static bool parse_int32(const char *s, long long *out)
{
	const char *p = s + (*s == '-' || *s == '+');
	if (!*p || strspn(p, "0123456789") != strlen(p) || strlen(p) > 12)
		return false;
	*out = strtoll(s, NULL, 10);
	return *out >= INT32_MIN && *out <= INT32_MAX;
}

/* HEALTHCHECK NONE takes no flag at all: checked before the flags are, as docker. */
static int healthcheck_none(const struct recipe_instr *syn, struct builder_instr *in,
			    struct cairn_error *err)
{
	if (strcasecmp(syn->args[0], "NONE"))
		return 1;
	if (syn->flags && syn->flags[0])
		return fail(syn, err, EINVAL, "HEALTHCHECK NONE takes no flags (%s)",
			    syn->flags[0]);
	in->healthcheck.none = true;
	return 0;
}

/* HEALTHCHECK [flags] CMD ...: durations as Go's, which docker reads them with (0 or at
 * least 1ms; empty is the default), and --retries a 32-bit integer. */
static int parse_healthcheck(const struct recipe_instr *syn, struct flag_values *f, char escape,
			     struct builder_instr *in, struct cairn_error *err)
{
	struct builder_healthcheck *hc = &in->healthcheck;
	hc->test = syn->args + 1;
	for (int k = 0; k < BUILDER_HEALTHCHECK_VALUES; k++) {
		const char *v = f->value[k];
		const char *flag = healthcheck_flags[k].name;
		if (!v || !*v) /* docker: an empty value is the default */
			continue;
		if (k == BUILDER_HEALTHCHECK_RETRIES) {
			long long n = 0;
			if (!parse_int32(v, &n))
				return fail(syn, err, EINVAL, "--retries=%s: not a 32-bit integer",
					    v);
			if (n < 0)
				return fail(syn, err, EINVAL, "--retries=%s: cannot be negative",
					    v);
			hc->value[k] = n;
			continue;
		}
		cleanup_free char *why = NULL;
		if (builder_duration_parse(v, &hc->value[k], &why) < 0)
			return fail(syn, err, EINVAL, "--%s=%s: %s", flag, v, why);
		if (hc->value[k] != 0 && hc->value[k] < NS_PER_MS)
			return fail(syn, err, EINVAL,
				    "--%s=%s: the duration must be 0 or at least 1ms", flag, v);
	}
	return 0;
}

static int parse_onbuild(const struct recipe_instr *syn, struct flag_values *f, char escape,
			 struct builder_instr *in, struct cairn_error *err)
{
	in->onbuild.expression = builder_onbuild_expression(syn);
	struct recipe *rc = NULL;
	cleanup_free char *why = NULL;
	/* a trigger that could never run fails here, not in every build FROM the image */
	if (builder_onbuild_parse(in->onbuild.expression, &rc, &why) < 0)
		return fail(syn, err, EINVAL, "invalid trigger: %s", why);
	recipe_free(rc);
	return 0;
}

static int parse_run(const struct recipe_instr *syn, struct flag_values *f, char escape,
		     struct builder_instr *in, struct cairn_error *err)
{
	struct builder_run *run = &in->run;
	if (syn->n_heredocs && syn->json)
		return fail(syn, err, EINVAL, "a heredoc needs the shell form of RUN, not JSON");
	const char *net = flag_string(f, "network");
	if (net && strcmp(net, "default")) {
		if (sandbox_network_parse(net, &run->network) < 0)
			return fail(syn, err, EINVAL,
				    "--network=%s: expected default, private, none or host", net);
		run->network_set = true;
	}
	/* buildkit's: sandbox (the default) or insecure, which the build must allow */
	const char *sec = flag_string(f, "security");
	if (sec && strcmp(sec, "sandbox") && strcmp(sec, "insecure"))
		return fail(syn, err, EINVAL, "--security=%s: expected sandbox or insecure", sec);
	run->insecure = sec && !strcmp(sec, "insecure");
	cleanup_free char **specs = flag_strings(f, "mount");
	size_t n = strv_len(specs);
	if (n > BUILDER_MAX_MOUNTS)
		return fail(syn, err, EINVAL, "too many --mount flags (at most %d)",
			    BUILDER_MAX_MOUNTS);
	run->mounts = xcalloc(n + 1, sizeof *run->mounts);
	run->n_mounts = n;
	/* without variables: the grammar, and from= for the planner */
	struct builder_mount_words w = {.escape = escape};
	for (size_t i = 0; i < run->n_mounts; i++) {
		int r = builder_mount_parse(specs[i], &w, NULL, &run->mounts[i], err);
		if (r < 0)
			return r;
	}
	return 0;
}

/* COPY and ADD: the sources (heredocs apart), the destination, the flags. */
static int parse_copy(const struct recipe_instr *syn, struct flag_values *f, char escape,
		      struct builder_instr *in, struct cairn_error *err)
{
	struct builder_copy *c = &in->copy;
	bool add = syn->kind == RECIPE_ADD;
	size_t nargs = strv_len(syn->args);
	if (nargs < 2)
		return fail(syn, err, EINVAL, "requires at least two arguments: SRC... DEST");
	c->chown = flag_string(f, "chown");
	c->chmod = flag_string(f, "chmod");
	c->link = flag_bool(f, "link");
	c->excludes = flag_strings(f, "exclude");
	if (add) {
		c->keep_git_dir = flag_bool(f, "keep-git-dir");
		c->checksum = flag_string(f, "checksum");
		/* tri-state as buildkit: unset lets the source's kind decide */
		c->unpack = flag_string(f, "unpack") ? flag_bool(f, "unpack") : -1;
	} else {
		c->from = flag_string(f, "from");
		c->parents = flag_bool(f, "parents");
	}
	c->dest = syn->args[nargs - 1];
	c->sources = xcalloc(nargs, sizeof *c->sources);
	size_t docs = 0;
	for (size_t i = 0; i + 1 < nargs; i++) {
		struct builder_copy_source *src = &c->sources[c->n_sources++];
		src->word = syn->args[i];
		/* the parser gives the heredocs in the order of their "<<" words */
		if (!syn->json && !strncmp(syn->args[i], "<<", 2) && docs < syn->n_heredocs)
			src->doc = &syn->heredocs[docs++];
	}
	return 0;
}

/* ---- the table ---- */

/* What a kind's parse does once its flags are checked and typed. */
typedef int (*parse_fn)(const struct recipe_instr *syn, struct flag_values *f, char escape,
			struct builder_instr *in, struct cairn_error *err);

struct entry {
	struct builder_instr_def def;
	parse_fn parse;
};

static const struct entry table[] = {
    {{RECIPE_FROM, from_flags, builder_exec_from, NULL}, parse_from},
    {{RECIPE_RUN, run_flags, builder_exec_run, NULL}, parse_run},
    {{RECIPE_ADD, add_flags, builder_exec_copy, NULL}, parse_copy},
    {{RECIPE_COPY, copy_flags, builder_exec_copy, NULL}, parse_copy},
    {{RECIPE_WORKDIR, no_flags, builder_exec_workdir, builder_apply_workdir}, parse_word},
    {{RECIPE_CMD, no_flags, builder_exec_metadata, builder_apply_command}, parse_words},
    {{RECIPE_ENTRYPOINT, no_flags, builder_exec_metadata, builder_apply_command}, parse_words},
    {{RECIPE_SHELL, no_flags, builder_exec_metadata, builder_apply_shell}, parse_shell},
    {{RECIPE_ENV, no_flags, builder_exec_metadata, builder_apply_env}, parse_pairs},
    {{RECIPE_LABEL, no_flags, builder_exec_metadata, builder_apply_label}, parse_pairs},
    {{RECIPE_ARG, no_flags, builder_exec_metadata, builder_apply_arg}, parse_arg},
    {{RECIPE_MAINTAINER, no_flags, builder_exec_metadata, builder_apply_maintainer}, parse_word},
    {{RECIPE_EXPOSE, no_flags, builder_exec_metadata, builder_apply_expose}, parse_words},
    {{RECIPE_VOLUME, no_flags, builder_exec_metadata, builder_apply_volume}, parse_words},
    {{RECIPE_USER, no_flags, builder_exec_metadata, builder_apply_user}, parse_word},
    {{RECIPE_STOPSIGNAL, no_flags, builder_exec_metadata, builder_apply_stopsignal}, parse_word},
    {{RECIPE_ONBUILD, no_flags, builder_exec_metadata, builder_apply_onbuild}, parse_onbuild},
    {{RECIPE_HEALTHCHECK, healthcheck_flags, builder_exec_metadata, builder_apply_healthcheck},
     parse_healthcheck},
};

static const struct entry *entry_of(enum recipe_kind kind)
{
	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
		if (table[i].def.kind == kind)
			return &table[i];
	return NULL;
}

const struct builder_instr_def *builder_instr_def(enum recipe_kind kind)
{
	const struct entry *e = entry_of(kind);
	return e ? &e->def : NULL;
}

int builder_instr_parse(const struct recipe_instr *syn, char escape, struct builder_instr *in,
			struct cairn_error *err)
{
	memset(in, 0, sizeof *in);
	in->syn = syn;
	const struct entry *e = entry_of(syn->kind);
	if (!e)
		return fail(syn, err, ENOTSUP, "not supported yet");
	in->def = &e->def;
	int r;
	if (syn->kind == RECIPE_HEALTHCHECK && (r = healthcheck_none(syn, in, err)) <= 0)
		return r;
	struct flag_values f;
	r = parse_flags(syn, e->def.flags, &f, err);
	if (r == 0)
		r = e->parse(syn, &f, escape, in, err);
	flag_values_release(&f);
	return r;
}

void builder_instr_release(struct builder_instr *in)
{
	if (!in->syn)
		return;
	switch (in->syn->kind) {
	case RECIPE_ARG:
		for (size_t i = 0; i < in->arg.n; i++)
			free(in->arg.v[i].name);
		free(in->arg.v);
		break;
	case RECIPE_ENV:
	case RECIPE_LABEL:
		free(in->pairs.v);
		break;
	case RECIPE_ONBUILD:
		free(in->onbuild.expression);
		break;
	case RECIPE_RUN:
		for (size_t i = 0; in->run.mounts && i < in->run.n_mounts; i++)
			builder_mount_release(&in->run.mounts[i]);
		free(in->run.mounts);
		break;
	case RECIPE_COPY:
	case RECIPE_ADD:
		free(in->copy.excludes);
		free(in->copy.sources);
		break;
	default:
		break;
	}
	cairn_error_clear(&in->error);
	memset(in, 0, sizeof *in);
}
