/* The build's plan and its cache keys, without a store and without root: which
 * stages a recipe has, what each reads from the others (FROM, COPY --from,
 * RUN --mount from=), which ones the target needs; and that a step's key moves with
 * everything the step depends on and with nothing else. */
#include "builder/internal.h"
#include "tap.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the plan ---- */

struct plan {
	struct builder b;
	struct builder_opts o;
	struct stage *target;
	char *error; /* the plan's error, formatted; NULL when it planned */
};

/* Plans text with the build args (NULL-terminated, may be NULL) and --target. */
static void plan(struct plan *p, const char *text, char **build_args, const char *target)
{
	memset(p, 0, sizeof *p);
	p->o.build_args = build_args;
	p->o.target = target;
	builder_init(&p->b, NULL, &p->o);
	struct cairn_error e = CAIRN_ERROR_INIT;
	if (builder_resolve_build_args(&p->b, &e) < 0 ||
	    builder_set_recipe(&p->b, "Recipe", text, strlen(text), &e) < 0 ||
	    builder_plan(&p->b, &p->target, &e) < 0)
		p->error = cairn_error_format(&e);
	cairn_error_clear(&e);
}

static void plan_release(struct plan *p)
{
	builder_release(&p->b);
	free(p->error);
}

/* The plan as text: per stage "NAME<-DEPS" ("-" for no name, DEPS the indices it
 * reads), with "*" when the target needs it; stages separated by spaces. */
static char *shape(struct plan *p)
{
	if (p->error)
		return xstrdup(p->error);
	struct strbuf sb = STRBUF_INIT;
	for (size_t i = 0; i < p->b.n_stages; i++) {
		struct stage *st = &p->b.stages[i];
		strbuf_addf(&sb, "%s%s<-", i ? " " : "", st->name ? st->name : "-");
		for (size_t k = 0; k < st->n_deps; k++)
			strbuf_addf(&sb, "%s%zu", k ? "," : "", st->deps[k]);
		if (st->needed)
			strbuf_addch(&sb, '*');
	}
	return strbuf_detach(&sb);
}

#define is_plan(text, args, target, want, ...)                                                     \
	do {                                                                                       \
		struct plan _p;                                                                    \
		plan(&_p, text, args, target);                                                     \
		cleanup_free char *_s = shape(&_p);                                                \
		is_str(_s, want, __VA_ARGS__);                                                     \
		plan_release(&_p);                                                                 \
	} while (0)

static void test_stages(void)
{
	is_plan("FROM scratch\n", NULL, NULL, "-<-*", "one stage, needed");
	is_plan("FROM scratch AS Base\nFROM base AS app\n", NULL, NULL, "Base<-* app<-0*",
		"FROM an earlier stage by name (any case) reads it");
	is_plan("FROM scratch\nFROM 0\n", NULL, NULL, "-<- -<-*",
		"FROM takes names, not indices: FROM 0 is an image");
	is_plan("FROM scratch AS a\nFROM scratch AS b\nFROM scratch\n"
		"COPY --from=a x /\nCOPY --from=1 y /\n",
		NULL, NULL, "a<-* b<-* -<-0,1*", "COPY --from reads a stage by name or by index");
	is_plan("FROM scratch AS a\nCOPY --from=b x /\nCOPY --from=0 x /\nFROM scratch AS b\n",
		NULL, NULL, "a<- b<-*",
		"nor itself nor a later stage: those are images, or errors");
	is_plan("FROM scratch AS a\nFROM scratch\n"
		"RUN --mount=type=bind,from=a,target=/x true\n",
		NULL, NULL, "a<-* -<-0*", "RUN --mount from= reads a stage");
	is_plan("FROM scratch AS a\nFROM scratch\n"
		"RUN --mount=type=bind,\\\"from=a\\\",target=/x true\n",
		NULL, NULL, "a<-* -<-0*", "a quoted from= field too: --mount is one CSV grammar");
	is_plan("FROM scratch AS a\nFROM scratch\n"
		"RUN --mount=type=bind,from=a,target=/x --mount=type=cache,target=/c true\n",
		NULL, NULL, "a<-* -<-0*", "beside a mount that reads nothing");
	is_plan("FROM scratch AS a\nFROM scratch\nRUN --mount=type=bind,from=$S,target=/x true\n",
		NULL, NULL, "a<- -<-*", "from= takes no variable (the RUN says so when it runs)");
}

static void test_global_args(void)
{
	is_plan("ARG BASE=a\nFROM scratch AS a\nFROM $BASE AS b\n", NULL, NULL, "a<-* b<-0*",
		"FROM expands the global ARGs");
	char *other[] = {"BASE=alpine", NULL};
	is_plan("ARG BASE=a\nFROM scratch AS a\nFROM $BASE AS b\n", other, NULL, "a<- b<-*",
		"--build-arg changes what FROM reads");
	is_plan("ARG S=a\nFROM scratch AS a\nFROM scratch\nCOPY --from=$S x /\n", NULL, NULL,
		"a<-* -<-0*", "COPY --from expands the global ARGs");
	is_plan("FROM scratch AS linux\nFROM ${TARGETOS}\n", NULL, NULL, "linux<-* -<-0*",
		"the automatic platform ARGs are global ARGs");
	struct plan p;
	plan(&p, "ARG BASE=a\nFROM scratch AS a\nFROM $BASE\n", NULL, NULL);
	ok(!p.error && !strcmp(p.b.stages[1].base, "a"), "the stage's base is the expanded name");
	plan_release(&p);
}

static void test_target(void)
{
	const char *text = "FROM scratch AS a\nFROM scratch AS b\nFROM a AS c\n"
			   "FROM scratch AS d\nCOPY --from=c x /\n";
	is_plan(text, NULL, NULL, "a<-* b<- c<-0* d<-2*",
		"the last stage is the target; it needs what it reads, through its reads");
	is_plan(text, NULL, "c", "a<-* b<- c<-0* d<-2", "--target c needs c and a only");
	is_plan(text, NULL, "B", "a<- b<-* c<-0 d<-2", "--target names a stage in any case");
	is_plan(text, NULL, "nope", "--target nope: Recipe has no such stage (stages: a, b, c, d)",
		"--target naming no stage is an error listing them");
}

static void test_plan_errors(void)
{
	is_plan("FROM scratch AS a\nFROM scratch AS A\n", NULL, NULL,
		"Recipe:2: FROM: duplicate stage name \"A\"\n    FROM scratch AS A",
		"a duplicate stage name, with its line");
	is_plan("ARG E=\nFROM $E\n", NULL, NULL,
		"Recipe:2: FROM: FROM: the image name is empty\n    FROM $E",
		"an empty image name");
	is_plan("ARG --bogus A\nFROM scratch\n", NULL, NULL,
		"Recipe:1: ARG: unknown flag: --bogus\n    ARG --bogus A",
		"a global ARG's bad flag fails the plan");
	struct plan p;
	plan(&p, "FROM scratch AS a\nCOPY --bogus x /\nFROM scratch\n", NULL, NULL);
	ok(!p.error, "a bad flag in a stage the target does not need fails nothing");
	ok(p.b.instrs[1].error.kind != CAIRN_ERR_NONE,
	   "it is kept with its instruction for when the build reaches it");
	plan_release(&p);
}

/* ---- cache keys ---- */

/* A stage built as far as FROM scratch, from which steps can be keyed. */
struct keyed {
	struct plan p;
	struct stage *st;
};

static void keyed_init(struct keyed *k, const char *text, char **build_args)
{
	plan(&k->p, text, build_args, NULL);
	k->st = &k->p.b.stages[0];
	struct cairn_error e = CAIRN_ERROR_INIT;
	if (k->p.error || builder_exec_from(&k->p.b, k->st, &k->p.b.instrs[0], &e) < 0)
		diag("setting up %s: %s", text, k->p.error ? k->p.error : e.msg);
	cairn_error_clear(&e);
}

/* The key of instruction i of the stage (a RUN, or a metadata instruction), taken
 * from the stage as it is; moves the stage's key on, as the step's commit would. */
static char *key_at(struct keyed *k, size_t i)
{
	struct builder *b = &k->p.b;
	const struct builder_instr *in = &b->instrs[i];
	struct cairn_error e = CAIRN_ERROR_INIT;
	char *key = NULL;
	if (in->syn->kind == RECIPE_RUN) {
		struct run_step rs;
		if (builder_run_prepare(b, k->st, in, &rs, &e) == 0)
			key = xstrdup(rs.sp.key);
		builder_run_step_release(&rs);
	} else {
		struct step sp;
		if (builder_metadata_prepare(b, k->st, in, &sp, &e) == 0)
			key = xstrdup(sp.key);
		builder_step_release(&sp);
	}
	if (!key) {
		key = xasprintf("error: %s", e.msg);
		diag("%s", key);
	} else {
		memcpy(k->st->key, key, DIGEST_LEN);
	}
	cairn_error_clear(&e);
	return key;
}

static void keyed_release(struct keyed *k)
{
	plan_release(&k->p);
}

/* The key of instruction 1 of text in a stage changed by change (may be NULL), from
 * the same parent key every time. */
static char *run_key(const char *text, void (*change)(struct keyed *k))
{
	struct keyed k;
	keyed_init(&k, text, NULL);
	if (change)
		change(&k);
	char *key = key_at(&k, 1);
	keyed_release(&k);
	return key;
}

static void set_arg(struct keyed *k)
{
	builder_env_set(&k->st->args, "A", "1");
}
static void set_arg2(struct keyed *k)
{
	builder_env_set(&k->st->args, "A", "2");
}
static void declare_arg(struct keyed *k)
{
	builder_env_set(&k->st->args, "A", NULL);
}
static void set_config(struct keyed *k, const char *field, json_t *v)
{
	json_object_set_new(builder_runconfig(k->st), field, v);
}
static void set_env(struct keyed *k)
{
	set_config(k, "Env", json_pack("[s, s]", "PATH=/bin", "E=1"));
}
static void set_user(struct keyed *k)
{
	set_config(k, "User", json_string("1000"));
}
static void set_workdir(struct keyed *k)
{
	set_config(k, "WorkingDir", json_string("/w"));
}
static void set_shell(struct keyed *k)
{
	strv_free(k->st->shell);
	k->st->shell = NULL;
	strv_push(&k->st->shell, "/bin/bash");
	strv_push(&k->st->shell, "-c");
}
static void set_parent(struct keyed *k)
{
	memcpy(k->st->key,
	       "sha256:0000000000000000000000000000000000000000000000000000000000000000",
	       DIGEST_LEN);
}
static struct builder_opts *opts(struct keyed *k)
{
	return &k->p.o;
}
static void net_host(struct keyed *k)
{
	opts(k)->network = SANDBOX_NET_HOST;
}
static void gzip(struct keyed *k)
{
	opts(k)->compression = LAYER_GZIP;
}
static void unused_arg(struct keyed *k)
{
	builder_env_set(&k->p.b.build_args, "UNUSED", "1");
}
static void proxy_arg(struct keyed *k)
{
	builder_env_set(&k->p.b.build_args, "HTTP_PROXY", "http://proxy:3128");
	builder_env_set(&k->p.b.build_args, "no_proxy", "local");
}
static void secret_one(struct keyed *k)
{
	static char *s[] = {"id=s,env=ONE", NULL};
	opts(k)->secrets = s;
}
static void secret_two(struct keyed *k)
{
	static char *s[] = {"id=s,env=TWO", NULL};
	opts(k)->secrets = s;
}

static void test_run_keys(void)
{
	const char *run = "FROM scratch\nRUN echo hi\n";
	cleanup_free char *k0 = run_key(run, NULL);
	cleanup_free char *again = run_key(run, NULL);
	ok(digest_valid(k0), "a RUN step has a key");
	is_str(again, k0, "the same step in the same stage has the same key");

	struct {
		const char *what, *text;
		void (*change)(struct keyed *k);
	} moves[] = {
	    {"its parent's key", run, set_parent},
	    {"the command", "FROM scratch\nRUN echo ho\n", NULL},
	    {"the exec form", "FROM scratch\nRUN [\"echo\", \"hi\"]\n", NULL},
	    {"an ARG in scope with a value", run, set_arg},
	    {"the environment (ENV)", run, set_env},
	    {"USER", run, set_user},
	    {"WORKDIR", run, set_workdir},
	    {"SHELL", run, set_shell},
	    {"the build's network", run, net_host},
	    {"the layers' compression", run, gzip},
	    {"a tmpfs mount", "FROM scratch\nRUN --mount=type=tmpfs,target=/t echo hi\n", NULL},
	    {"a cache mount", "FROM scratch\nRUN --mount=type=cache,target=/c echo hi\n", NULL},
	    {"a secret mount", "FROM scratch\nRUN --mount=type=secret,id=s echo hi\n", NULL},
	    {"a heredoc script", "FROM scratch\nRUN <<EOF\necho hi\nEOF\n", NULL},
	};
	for (size_t i = 0; i < sizeof moves / sizeof moves[0]; i++) {
		cleanup_free char *k = run_key(moves[i].text, moves[i].change);
		ok(digest_valid(k) && strcmp(k, k0), "the key moves with %s", moves[i].what);
	}

	cleanup_free char *a1 = run_key(run, set_arg);
	cleanup_free char *a2 = run_key(run, set_arg2);
	ok(strcmp(a1, a2), "with an ARG's value");
	cleanup_free char *t1 =
	    run_key("FROM scratch\nRUN --mount=type=tmpfs,target=/t,size=1m echo hi\n", NULL);
	cleanup_free char *t2 =
	    run_key("FROM scratch\nRUN --mount=type=tmpfs,target=/t,size=2m echo hi\n", NULL);
	ok(strcmp(t1, t2), "with a mount's options");
	cleanup_free char *c1 = run_key("FROM scratch\nRUN --mount=type=cache,target=/c,id=one "
					"echo hi\n",
					NULL);
	cleanup_free char *c2 = run_key("FROM scratch\nRUN --mount=type=cache,target=/c,id=two "
					"echo hi\n",
					NULL);
	ok(strcmp(c1, c2), "with a cache mount's id");
	cleanup_free char *n1 = run_key("FROM scratch\nRUN --network=host echo hi\n", net_host);
	cleanup_free char *n2 = run_key("FROM scratch\nRUN --network=none echo hi\n", net_host);
	ok(strcmp(n1, n2), "with the step's own network");
	cleanup_free char *p1 = run_key("FROM scratch\nRUN --network=private echo hi\n", NULL);
	cleanup_free char *p2 = run_key("FROM scratch\nRUN --network=none echo hi\n", NULL);
	is_str(p1, p2, "none and private (a namespace of the step's own either way) key alike");
	is_str(p1, k0, "so the private network as the default moved no step's key");

	/* what a step does not depend on */
	char *same[] = {
	    run_key("FROM scratch\nRUN --network=none echo hi\n", NULL),
	    run_key(run, declare_arg),
	    run_key(run, unused_arg),
	    run_key(run, proxy_arg),
	};
	is_str(same[0], k0, "not with the network said when it is the build's");
	is_str(same[1], k0, "not with an ARG declared without a value");
	is_str(same[2], k0, "not with a build arg no ARG declares");
	is_str(same[3], k0, "not with a proxy arg, though the step sees it");
	for (size_t i = 0; i < 4; i++)
		free(same[i]);
	const char *secret = "FROM scratch\nRUN --mount=type=secret,id=s echo hi\n";
	cleanup_free char *s1 = run_key(secret, secret_one);
	cleanup_free char *s2 = run_key(secret, secret_two);
	is_str(s1, s2, "not with a secret's value");
	struct keyed k;
	keyed_init(&k, "FROM scratch\nARG D=/c\nRUN --mount=type=cache,target=/c echo hi\n", NULL);
	free(key_at(&k, 1));
	cleanup_free char *v1 = key_at(&k, 2);
	keyed_release(&k);
	keyed_init(&k, "FROM scratch\nARG D=/c\nRUN --mount=type=cache,target=$D echo hi\n", NULL);
	free(key_at(&k, 1));
	cleanup_free char *v2 = key_at(&k, 2);
	keyed_release(&k);
	is_str(v2, v1, "not with the word a mount's value was written as, only its value");
}

static void test_from_and_metadata_keys(void)
{
	struct keyed k;
	char from1[DIGEST_LEN];
	keyed_init(&k, "FROM scratch\n", NULL);
	memcpy(from1, k.st->key, DIGEST_LEN);
	keyed_release(&k);
	plan(&k.p, "FROM scratch\n", NULL, NULL);
	k.p.b.sde = 86400;
	struct cairn_error e = CAIRN_ERROR_INIT;
	builder_exec_from(&k.p.b, &k.p.b.stages[0], &k.p.b.instrs[0], &e);
	ok(digest_valid(from1) && strcmp(from1, k.p.b.stages[0].key),
	   "FROM's key moves with SOURCE_DATE_EPOCH (it sets every time a record keeps)");
	cairn_error_clear(&e);
	plan_release(&k.p);

	cleanup_free char *e1 = run_key("FROM scratch\nENV A=1\n", NULL);
	cleanup_free char *e2 = run_key("FROM scratch\nENV A=2\n", NULL);
	cleanup_free char *e3 = run_key("FROM scratch\nENV A=$A\n", set_arg);
	cleanup_free char *e4 = run_key("FROM scratch\nENV A=$A\n", set_arg2);
	cleanup_free char *e5 = run_key("FROM scratch\nENV A=1\n", set_user);
	ok(strcmp(e1, e2), "a metadata step's key moves with what it sets");
	ok(strcmp(e3, e4), "as expanded");
	is_str(e5, e1, "and with nothing else of the stage (its history text is all of it)");
}

/* ---- COPY keys: a context in a temp dir ---- */

static void write_file(const char *dir, const char *name, const char *data, mode_t mode)
{
	cleanup_free char *path = xasprintf("%s/%s", dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0 || util_write_all(fd, data, strlen(data)) < 0)
		diag("writing %s failed", path);
	close(fd);
	chmod(path, mode);
}

static char *copy_key(const char *ctx_dir, const char *line)
{
	cleanup_free char *text = xasprintf("FROM scratch\n%s\n", line);
	struct keyed k;
	keyed_init(&k, text, NULL);
	struct cairn_error e = CAIRN_ERROR_INIT;
	char *key = NULL;
	struct copy_plan cp;
	if (context_open(ctx_dir, &k.p.b.ctx, &e) == 0 &&
	    builder_copy_prepare(&k.p.b, k.st, &k.p.b.instrs[1], &cp, &e) == 0)
		key = xstrdup(cp.sp.key);
	else
		key = xasprintf("error: %s", e.msg);
	builder_copy_plan_release(&cp);
	cairn_error_clear(&e);
	keyed_release(&k);
	return key;
}

static void test_copy_keys(void)
{
	char dir[] = "/tmp/cairn-test-plan.XXXXXX";
	if (!mkdtemp(dir)) {
		ok(0, "a temp dir for a context");
		return;
	}
	write_file(dir, "a", "one\n", 0644);
	cleanup_free char *k0 = copy_key(dir, "COPY a /a");
	ok(digest_valid(k0), "a COPY step has a key");
	write_file(dir, "a", "two\n", 0644);
	cleanup_free char *k1 = copy_key(dir, "COPY a /a");
	ok(strcmp(k0, k1), "the key moves with a source's content");
	write_file(dir, "a", "two\n", 0755);
	cleanup_free char *k2 = copy_key(dir, "COPY a /a");
	ok(strcmp(k1, k2), "with its permission bits");
	cleanup_free char *path = xasprintf("%s/a", dir);
	struct timespec ts[2] = {{.tv_sec = 1000}, {.tv_sec = 1000}};
	utimensat(AT_FDCWD, path, ts, 0);
	cleanup_free char *k3 = copy_key(dir, "COPY a /a");
	is_str(k3, k2, "not with its mtime, as docker");
	cleanup_free char *k4 = copy_key(dir, "COPY a /b");
	ok(strcmp(k4, k2), "with the destination");
	cleanup_free char *k5 = copy_key(dir, "COPY --chmod=600 a /a");
	ok(strcmp(k5, k2), "with --chmod");
	write_file(dir, "other", "x\n", 0644);
	cleanup_free char *k6 = copy_key(dir, "COPY a /a");
	is_str(k6, k2, "not with a file it does not copy");
	cleanup_free char *k7 = copy_key(dir, "COPY nope /a");
	ok(!strncmp(k7, "error: COPY: \"nope\": no such file", 33),
	   "a source that matches nothing is an error naming it");
	util_rm_rf(AT_FDCWD, dir, NULL);
}

int main(void)
{
	test_stages();
	test_global_args();
	test_target();
	test_plan_errors();
	test_run_keys();
	test_from_and_metadata_keys();
	test_copy_keys();
	return done_testing();
}
