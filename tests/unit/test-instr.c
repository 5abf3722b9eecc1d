/* Typed instructions (src/builder/instructions.c): the flags each kind takes are
 * buildkit's, lint and the build's parse give the same verdict on every flag of every
 * kind, and the typed fields say what the text says. */
#include "builder/internal.h"
#include "tap.h"

#include <strings.h>

/* What buildkit's frontend/dockerfile/instructions/parse.go declares per instruction
 * (the flags cairn has; `ADD --unpack` and the labs flags it has not), as
 * "name:type" with type b(ool), s(tring), S (repeatable strings), o (string given
 * once, HEALTHCHECK's). */
static const struct {
	enum recipe_kind kind;
	const char *flags;
} buildkit[] = {
    {RECIPE_FROM, "platform:s"},
    {RECIPE_RUN, "mount:S network:s security:s"},
    {RECIPE_COPY, "chmod:s chown:s exclude:S from:s link:b parents:b"},
    {RECIPE_ADD, "checksum:s chmod:s chown:s exclude:S keep-git-dir:b link:b unpack:b"},
    {RECIPE_HEALTHCHECK, "interval:o retries:o start-interval:o start-period:o timeout:o"},
};

/* Every kind with the arguments that make its line valid. */
static const struct {
	enum recipe_kind kind;
	const char *args;
} kinds[] = {
    {RECIPE_FROM, "scratch"},
    {RECIPE_RUN, "true"},
    {RECIPE_CMD, "[\"true\"]"},
    {RECIPE_LABEL, "a=b"},
    {RECIPE_MAINTAINER, "me"},
    {RECIPE_EXPOSE, "80"},
    {RECIPE_ENV, "a=b"},
    {RECIPE_ADD, "a /b"},
    {RECIPE_COPY, "a /b"},
    {RECIPE_ENTRYPOINT, "[\"true\"]"},
    {RECIPE_VOLUME, "/v"},
    {RECIPE_USER, "u"},
    {RECIPE_WORKDIR, "/w"},
    {RECIPE_ARG, "A"},
    {RECIPE_ONBUILD, "RUN true"},
    {RECIPE_STOPSIGNAL, "TERM"},
    {RECIPE_HEALTHCHECK, "CMD true"},
    {RECIPE_SHELL, "[\"/bin/sh\", \"-c\"]"},
};
#define N_KINDS (sizeof kinds / sizeof kinds[0])

/* A valid value for a flag of that name, so that only the name decides. */
static const char *good_value(const char *name)
{
	static const struct {
		const char *name, *value;
	} values[] = {
	    {"platform", "linux/amd64"},
	    {"mount", "type=tmpfs,target=/t"},
	    {"network", "none"},
	    {"security", "insecure"},
	    {"from", "x"},
	    {"chown", "1"},
	    {"chmod", "644"},
	    {"exclude", "*.o"},
	    {"checksum", "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
	    {"interval", "1s"},
	    {"timeout", "1s"},
	    {"start-period", "1s"},
	    {"start-interval", "1s"},
	    {"retries", "1"},
	};
	for (size_t i = 0; i < sizeof values / sizeof values[0]; i++)
		if (!strcmp(values[i].name, name))
			return values[i].value;
	return "true"; /* the booleans, and the names no kind takes */
}

static char type_letter(const struct builder_flag *f)
{
	if (f->once)
		return 'o';
	return f->type == BUILDER_FLAG_BOOL ? 'b' : f->type == BUILDER_FLAG_STRING ? 's' : 'S';
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The table's flags of kind as "name:type ...", sorted. */
static char *table_flags(enum recipe_kind kind)
{
	const struct builder_instr_def *def = builder_instr_def(kind);
	char **v = xcalloc(1, sizeof(char *));
	for (size_t i = 0; def && def->flags[i].name; i++)
		strv_push_take(&v,
			       xasprintf("%s:%c", def->flags[i].name, type_letter(&def->flags[i])));
	qsort(v, strv_len(v), sizeof *v, cmp_str);
	struct strbuf sb = STRBUF_INIT;
	for (size_t i = 0; v[i]; i++)
		strbuf_addf(&sb, "%s%s", i ? " " : "", v[i]);
	strv_free(v);
	return strbuf_detach(&sb);
}

static void test_flag_sets(void)
{
	for (size_t k = 0; k < N_KINDS; k++) {
		enum recipe_kind kind = kinds[k].kind;
		const char *want = "";
		for (size_t i = 0; i < sizeof buildkit / sizeof buildkit[0]; i++)
			if (buildkit[i].kind == kind)
				want = buildkit[i].flags;
		ok(builder_instr_def(kind) != NULL, "%s has an entry in the table",
		   recipe_kind_name(kind));
		cleanup_free char *got = table_flags(kind);
		is_str(got, want, "%s takes buildkit's flags", recipe_kind_name(kind));
	}
}

struct lint_count {
	int line;
	size_t errors;
};

static void count_errors(void *ctx, const struct builder_problem *p)
{
	struct lint_count *c = ctx;
	if (p->error && p->line == c->line)
		c->errors++;
}

/* A recipe with kind's instruction on its last line, with one flag. */
static char *recipe_with_flag(size_t k, const char *name)
{
	const char *keyword = recipe_kind_name(kinds[k].kind);
	const char *value = good_value(name);
	if (kinds[k].kind == RECIPE_FROM)
		return xasprintf("FROM --%s=%s %s\n", name, value, kinds[k].args);
	return xasprintf("FROM scratch\n%s --%s=%s %s\n", keyword, name, value, kinds[k].args);
}

/* For every kind and every flag name any kind takes (and some none does), lint's
 * verdict is the build's parse's, and both say yes exactly when buildkit's
 * instruction takes the flag. */
static void test_lint_agrees_with_build(void)
{
	const char *extra[] = {"bogus", "unpack", "network-mode", NULL};
	char **names = NULL;
	for (size_t k = 0; k < N_KINDS; k++) {
		const struct builder_instr_def *def = builder_instr_def(kinds[k].kind);
		for (size_t i = 0; def && def->flags[i].name; i++)
			if (!strv_contains(names, def->flags[i].name))
				strv_push(&names, def->flags[i].name);
	}
	for (size_t i = 0; extra[i]; i++)
		strv_push(&names, extra[i]);

	size_t cases = 0, disagree = 0, wrong = 0;
	for (size_t k = 0; k < N_KINDS; k++) {
		for (size_t n = 0; names[n]; n++) {
			cleanup_free char *text = recipe_with_flag(k, names[n]);
			struct recipe *rc = NULL;
			struct recipe_error rerr = {0};
			if (recipe_parse(text, strlen(text), &rc, &rerr) < 0) {
				ok(0, "%s parses", text);
				recipe_error_clear(&rerr);
				continue;
			}
			const struct recipe_instr *syn = &rc->instrs[rc->n_instrs - 1];
			struct lint_count lc = {.line = syn->line};
			builder_lint(rc, "Recipe", count_errors, &lc);
			struct builder_instr in;
			struct cairn_error e = CAIRN_ERROR_INIT;
			bool build_ok = builder_instr_parse(syn, rc->escape, &in, &e) == 0;
			builder_instr_release(&in);
			bool lint_ok = lc.errors == 0;
			cleanup_free char *flag = xasprintf("--%s", names[n]);
			cleanup_free char *set = table_flags(kinds[k].kind);
			cleanup_free char *needle = xasprintf(" %s:", names[n]);
			cleanup_free char *spaced = xasprintf(" %s", set);
			bool takes = strstr(spaced, needle) != NULL;
			cases++;
			if (lint_ok != build_ok) {
				disagree++;
				diag("%s --%s: lint %s, build %s (%s)",
				     recipe_kind_name(kinds[k].kind), names[n],
				     lint_ok ? "accepts" : "refuses",
				     build_ok ? "accepts" : "refuses", e.msg ? e.msg : "");
			}
			if (build_ok != takes ||
			    builder_instr_takes_flag(kinds[k].kind, flag) != takes) {
				wrong++;
				diag("%s --%s: accepted %d, in the table %d",
				     recipe_kind_name(kinds[k].kind), names[n], build_ok, takes);
			}
			cairn_error_clear(&e);
			recipe_free(rc);
		}
	}
	strv_free(names);
	diag("%zu kinds x flags tried", cases);
	is_int(disagree, 0, "lint and the build's parse agree on every flag of every kind");
	is_int(wrong, 0, "a flag is accepted exactly when its kind's entry lists it");
}

/* Parses the last instruction of text into *in; the error's message, or NULL. */
static char *parse_last(const char *text, struct recipe **rc, struct builder_instr *in)
{
	struct recipe_error rerr = {0};
	memset(in, 0, sizeof *in);
	if (recipe_parse(text, strlen(text), rc, &rerr) < 0) {
		char *m = xasprintf("syntax: %s", rerr.msg);
		recipe_error_clear(&rerr);
		return m;
	}
	struct cairn_error e = CAIRN_ERROR_INIT;
	char *msg = NULL;
	if (builder_instr_parse(&(*rc)->instrs[(*rc)->n_instrs - 1], (*rc)->escape, in, &e) < 0)
		msg = cairn_error_format(&e);
	cairn_error_clear(&e);
	return msg;
}

/* The message the parse of text's last instruction fails with ("" when it parses). */
static char *parse_error(const char *text)
{
	struct recipe *rc = NULL;
	struct builder_instr in;
	char *msg = parse_last(text, &rc, &in);
	builder_instr_release(&in);
	recipe_free(rc);
	return msg ? msg : xstrdup("");
}

static void test_copy(void)
{
	struct recipe *rc = NULL;
	struct builder_instr in;
	char *msg = parse_last("FROM scratch\n"
			       "COPY --from=$S --chown=1:2 --chmod=755 --link --exclude=*.o "
			       "--exclude=tmp a <<EOF $B /dst/\nbody\nEOF\n",
			       &rc, &in);
	is_str(msg, NULL, "COPY with every flag parses");
	const struct builder_copy *c = &in.copy;
	is_str(c->from, "$S", "--from stays as written: expanded when the step runs");
	is_str(c->chown, "1:2", "--chown");
	is_str(c->chmod, "755", "--chmod");
	ok(c->link && !c->parents, "--link bare is on, --parents not given is off");
	is_int(strv_len(c->excludes), 2, "--exclude twice: both values");
	is_int(c->n_sources, 3, "three sources");
	ok(c->sources[1].doc && !strcmp(c->sources[1].doc->name, "EOF"),
	   "the <<EOF word is its heredoc");
	ok(!c->sources[0].doc && !c->sources[2].doc, "the others are paths");
	is_str(c->dest, "/dst/", "the destination");
	builder_instr_release(&in);
	recipe_free(rc);

	cleanup_free char *e1 = parse_error("FROM scratch\nCOPY --link=maybe a /b\n");
	is_str(e1, "COPY: --link=maybe: expected true or false", "a bool flag takes true or false");
	cleanup_free char *e2 =
	    parse_error("FROM scratch\nCOPY --link=FALSE --parents=True a /b\n");
	is_str(e2, "", "in any case");
	cleanup_free char *e3 = parse_error("FROM scratch\nADD --parents a /b/\n");
	is_str(e3, "ADD: unknown flag: --parents", "ADD --parents is refused (COPY's flag)");
}

static void test_run(void)
{
	struct recipe *rc = NULL;
	struct builder_instr in;
	char *msg = parse_last("FROM scratch\nRUN --network=host "
			       "--mount=type=bind,from=builder,source=/out,target=/in "
			       "--mount=type=cache,target=$DIR --mount=type=$T,target=/x true\n",
			       &rc, &in);
	is_str(msg, NULL, "RUN with mounts parses");
	ok(in.run.network_set && in.run.network == SANDBOX_NET_HOST, "--network=host");
	is_int(in.run.n_mounts, 3, "three mounts");
	is_str(in.run.mounts[0].from, "builder", "from= is typed for the planner");
	ok(in.run.mounts[0].kind == MOUNT_BIND && !in.run.mounts[0].deferred,
	   "a mount without variables is known whole");
	ok(in.run.mounts[1].deferred, "a target with a variable is the step's to know");
	ok(in.run.mounts[2].deferred, "so is a type");
	builder_instr_release(&in);
	recipe_free(rc);
	msg = parse_last("FROM scratch\nRUN --network=private true\n", &rc, &in);
	is_str(msg, NULL, "RUN --network=private parses");
	ok(in.run.network_set && in.run.network == SANDBOX_NET_PRIVATE, "--network=private");
	builder_instr_release(&in);
	recipe_free(rc);

	static const struct {
		const char *line, *error;
	} cases[] = {
	    {"RUN --network=default true", ""},
	    {"RUN --network=bogus true",
	     "RUN: --network=bogus: expected default, private, none or host"},
	    {"RUN --mount=type=bogus,target=/x true",
	     "RUN: --mount=type=bogus,target=/x: unsupported mount type \"bogus\" (expected "
	     "bind, cache, tmpfs, secret or ssh)"},
	    {"RUN --mount=type=bind true", "RUN: --mount=type=bind: target is required"},
	    {"RUN --mount=type=bind,target=$T true", ""},
	    {"RUN --mount=type=bind,target=rel true", ""},
	    {"RUN --mount=type=tmpfs,target=/ true",
	     "RUN: --mount=type=tmpfs,target=/: invalid mount target \"/\""},
	    {"RUN --mount=type=$T,target=/x,size=bogus true",
	     "RUN: --mount=type=$T,target=/x,size=bogus: invalid value for size: bogus"},
	    {"RUN --mount=type=$T,target=/x,size=1m true", ""},
	    {"RUN --mount=type=cache,target=/x,size=1m true",
	     "RUN: --mount=type=cache,target=/x,size=1m: unexpected key 'size' for mount type "
	     "'cache'"},
	    {"RUN --mount=type=bind,target=/x,from=$S true",
	     "RUN: --mount=type=bind,target=/x,from=$S: 'from' doesn't support variable "
	     "expansion, define alias stage instead"},
	    {"RUN --mount=\"type=tmpfs,target=/x\" true", ""},
	    {"RUN --mount=type=tmpfs,target=\"/a b\" true", ""},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		cleanup_free char *text = xasprintf("FROM scratch\n%s\n", cases[i].line);
		cleanup_free char *got = parse_error(text);
		is_str(got, cases[i].error, "%s", cases[i].line);
	}
}

static void test_healthcheck(void)
{
	struct recipe *rc = NULL;
	struct builder_instr in;
	char *msg = parse_last("FROM scratch\nHEALTHCHECK --interval=1m30s --timeout=500ms "
			       "--start-period= --retries=3 CMD [\"true\"]\n",
			       &rc, &in);
	is_str(msg, NULL, "HEALTHCHECK with durations parses");
	const struct builder_healthcheck *h = &in.healthcheck;
	is_int(h->value[BUILDER_HEALTHCHECK_INTERVAL], 90 * NS_PER_S, "1m30s");
	is_int(h->value[BUILDER_HEALTHCHECK_TIMEOUT], 500 * NS_PER_MS, "500ms");
	is_int(h->value[BUILDER_HEALTHCHECK_START_PERIOD], 0, "empty is the default");
	is_int(h->value[BUILDER_HEALTHCHECK_RETRIES], 3, "--retries");
	is_str(h->test[0], "true", "the command");
	builder_instr_release(&in);
	recipe_free(rc);

	static const struct {
		const char *line, *error;
	} cases[] = {
	    {"HEALTHCHECK NONE", ""},
	    {"HEALTHCHECK --bogus NONE", "HEALTHCHECK: HEALTHCHECK NONE takes no flags (--bogus)"},
	    {"HEALTHCHECK --retries=1 --retries=2 CMD true",
	     "HEALTHCHECK: duplicate flag --retries"},
	    {"HEALTHCHECK --retries CMD true", "HEALTHCHECK: --retries needs a value"},
	    {"HEALTHCHECK --interval=10us CMD true",
	     "HEALTHCHECK: --interval=10us: the duration must be 0 or at least 1ms"},
	    {"HEALTHCHECK --timeout=5 CMD true",
	     "HEALTHCHECK: --timeout=5: missing unit in duration \"5\""},
	    {"HEALTHCHECK --retries=-1 CMD true", "HEALTHCHECK: --retries=-1: cannot be negative"},
	    {"HEALTHCHECK --retries=9999999999 CMD true",
	     "HEALTHCHECK: --retries=9999999999: not a 32-bit integer"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		cleanup_free char *text = xasprintf("FROM scratch\n%s\n", cases[i].line);
		cleanup_free char *got = parse_error(text);
		is_str(got, cases[i].error, "%s", cases[i].line);
	}
}

static void test_others(void)
{
	static const struct {
		const char *line, *error;
	} cases[] = {
	    {"MAINTAINER --x me", "MAINTAINER: unknown flag: --x"},
	    {"ENV --x a=b", "ENV: unknown flag: --x"},
	    {"FROM --platform=$P scratch", ""},
	    {"ONBUILD --x RUN true", "ONBUILD: unknown flag: --x"},
	    {"ONBUILD RUN --bogus true", ""}, /* the trigger's flags are its build's */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		cleanup_free char *text = xasprintf("FROM scratch\n%s\n", cases[i].line);
		cleanup_free char *got = parse_error(text);
		is_str(got, cases[i].error, "%s", cases[i].line);
	}

	struct recipe *rc = NULL;
	struct builder_instr in;
	char *msg = parse_last("FROM scratch\nARG A B=2 C=\n", &rc, &in);
	is_str(msg, NULL, "ARG parses");
	is_int(in.arg.n, 3, "three ARGs");
	ok(!strcmp(in.arg.v[0].name, "A") && !in.arg.v[0].value, "A without a value");
	ok(!strcmp(in.arg.v[1].name, "B") && !strcmp(in.arg.v[1].value, "2"), "B=2");
	ok(!strcmp(in.arg.v[2].name, "C") && !strcmp(in.arg.v[2].value, ""), "C= is empty");
	builder_instr_release(&in);
	recipe_free(rc);

	msg = parse_last("FROM scratch\nENV a=1 b=\"2 3\"\n", &rc, &in);
	is_str(msg, NULL, "ENV parses");
	is_int(in.pairs.n, 2, "two pairs");
	is_str(in.pairs.v[1].value, "\"2 3\"", "values stay as written");
	builder_instr_release(&in);
	recipe_free(rc);

	msg = parse_last("FROM scratch\nONBUILD COPY <<EOF /x\nhi\nEOF\n", &rc, &in);
	is_str(msg, NULL, "ONBUILD with a heredoc parses");
	is_str(in.onbuild.expression, "COPY <<EOF /x\nhi\nEOF", "its trigger as docker stores it");
	builder_instr_release(&in);
	recipe_free(rc);
}

int main(void)
{
	test_flag_sets();
	test_lint_agrees_with_build();
	test_copy();
	test_run();
	test_healthcheck();
	test_others();
	return done_testing();
}
