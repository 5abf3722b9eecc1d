/* The build planner and the executors of each instruction.
 *
 * A build walks the recipe once. Every step gets a cache key
 *   key = sha256(parent key, canonical description of the step after expansion,
 *                digest of its inputs)
 * and a cache record: the history entry it produced and its layer, if any. A step
 * whose record exists is not run again: its layer and its timestamp are reused, so
 * an unchanged rebuild produces byte-identical config and manifest and writes no
 * new blob. Metadata instructions are always re-applied from the recipe (they are
 * pure functions of it); only their timestamps come from the cache. */
#include "internal.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void stage_release(struct stage *st)
{
	free(st->name);
	oci_image_release(&st->img);
	strv_free(st->shell);
	strv_free(st->args);
	strv_free(st->keys);
	memset(st, 0, sizeof *st);
}

/* ---- FROM ---- */

/* An earlier stage named by name (case-insensitive) or, when by_index, by number. */
static struct stage *find_stage(struct builder *b, const char *name, size_t before, bool by_index)
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

static int check_platform(struct builder *b, const struct recipe_instr *in)
{
	const char *platform = builder_flag_value(in, "platform");
	if (!platform)
		return 0;
	cleanup_free char *p = NULL;
	int r = builder_expand_word(b, in, NULL, platform, &p);
	if (r < 0)
		return r;
	cleanup_free char *mine = xasprintf("linux/%s", oci_arch());
	if (strcmp(p, mine) && strncmp(p, mine, strlen(mine)))
		return builder_instr_error(
		    b, in, ENOTSUP, "--platform=%s: only %s can be built on this machine", p, mine);
	return 0;
}

struct registry_opts builder_registry_opts(const struct builder *b)
{
	struct registry_opts o = REGISTRY_OPTS_INIT;
	if (b->o->registry)
		o = *b->o->registry;
	o.progress = b->o->progress;
	return o;
}

/* Pulls name into the store (its progress with the build's). */
static int pull_image(struct builder *b, const char *name)
{
	struct registry_opts o = builder_registry_opts(b);
	builder_progress(b, "pulling %s\n", name);
	char digest[DIGEST_LEN];
	int r = registry_pull(b->s, name, &o, digest, b->err);
	if (r == 0)
		strv_push(&b->pulled, name);
	return r;
}

/* The image name names (FROM, --from), from the store; pulled first as --pull says:
 * when the store lacks it (missing), every time (always, once per build), never. */
int builder_load_image(struct builder *b, const char *name, struct oci_image *img)
{
	enum builder_pull pull = b->o->pull;
	int r;
	if (pull == BUILDER_PULL_ALWAYS && !strv_contains(b->pulled, name) &&
	    (r = pull_image(b, name)) < 0)
		return r;
	struct store_tag tag = {0};
	struct cairn_error e = CAIRN_ERROR_INIT;
	r = registry_store_lookup(b->s, name, &tag, &e);
	if (r == -ENOENT && pull == BUILDER_PULL_MISSING) {
		cairn_error_clear(&e);
		if ((r = pull_image(b, name)) < 0)
			return cairn_error_wrap(
			    b->err, "%s is not in the store and pulling it failed", name);
		r = registry_store_lookup(b->s, name, &tag, &e);
	}
	if (r < 0) {
		*b->err = e;
		if (r == -ENOENT && pull == BUILDER_PULL_NEVER)
			cairn_error_wrap(b->err, "--pull=never");
		return r;
	}
	r = oci_image_load(b->s, tag.digest, img, b->err);
	store_tag_release(&tag);
	return r;
}

/* FROM: the stage starts from scratch, an earlier stage, or an image in the store. */
static int exec_from(struct builder *b, struct stage *st, const struct recipe_instr *in)
{
	int r = check_platform(b, in);
	if (r < 0)
		return r;
	st->shell = xcalloc(1, sizeof(char *));
	strv_push(&st->shell, "/bin/sh");
	strv_push(&st->shell, "-c");
	st->args = xcalloc(1, sizeof(char *));

	struct stage *prev = find_stage(b, st->base, st->index, false);
	cleanup_free char *desc = NULL;
	if (prev) {
		oci_image_copy(&st->img, &prev->img);
		memcpy(st->key, prev->key, DIGEST_LEN);
		strv_free(st->keys);
		st->keys = strv_dup(prev->keys);
	} else if (!strcmp(st->base, "scratch")) {
		oci_image_init_scratch(&st->img);
		desc = xstrdup("FROM scratch");
	} else {
		if ((r = builder_load_image(b, st->base, &st->img)) < 0)
			return builder_instr_wrap(b, in);
		desc = xasprintf("FROM %s", st->img.digest);
	}
	if (desc) {
		/* SOURCE_DATE_EPOCH sets every timestamp a record keeps: it is part of the key */
		cleanup_free char *root =
		    xasprintf("%s\nSOURCE_DATE_EPOCH=%lld", desc, (long long)b->sde);
		builder_step_key("", root, st->key);
	}
	/* the image's SHELL carries on into this stage */
	json_t *shell = json_object_get(builder_runconfig(st), "Shell");
	if (json_array_size(shell)) {
		strv_free(st->shell);
		st->shell = builder_json_to_strv(shell);
	}
	/* an image without PATH gets the usual one, as buildkit does */
	cleanup_strv char **env = builder_stage_env(st);
	if (!builder_env_has(env, "PATH")) {
		builder_env_set(&env, "PATH", DEFAULT_PATH);
		json_object_set_new(builder_runconfig(st), "Env", builder_strv_to_json(env));
	}
	cleanup_free char *title = builder_instr_title(in);
	builder_progress(b, "[%zu/%zu] %s\n", b->step, b->recipe->n_instrs, title);
	return builder_run_onbuild_triggers(b, st, in);
}

/* ---- ARG ---- */

static const char *builder_arg_value(struct builder *b, const char *name)
{
	return builder_env_get(b->build_args, name);
}

static void mark_used(struct builder *b, const char *name)
{
	if (!builder_env_has(b->used_args, name))
		strv_push(&b->used_args, name);
}

/* Declares the ARGs of one instruction into *args; st is NULL before the first FROM. */
int builder_declare_args(struct builder *b, const struct recipe_instr *in, struct stage *st,
			 char ***args, struct strbuf *desc)
{
	for (size_t i = 0; in->args && in->args[i]; i++) {
		const char *word = in->args[i];
		const char *eq = strchr(word, '=');
		cleanup_free char *name = eq ? xstrndup(word, (size_t)(eq - word)) : xstrdup(word);
		cleanup_free char *value = NULL;
		int r;
		if (eq && (r = builder_expand_word(b, in, st, eq + 1, &value)) < 0)
			return r;
		const char *given = builder_arg_value(b, name);
		if (given) {
			mark_used(b, name);
			builder_env_set(args, name, given);
		} else if (value) {
			builder_env_set(args, name, value);
		} else if (st && builder_env_get(b->meta_args, name)) {
			builder_env_set(args, name, builder_env_get(b->meta_args, name));
		} else {
			builder_env_set(args, name, NULL);
		}
		const char *v = builder_env_get(*args, name);
		strbuf_addf(desc, " %s%s%s", name, v ? "=" : "", v ? v : "");
	}
	return 0;
}

/* ---- the whole build ---- */

/* Reads b->recipe_name whole, refusing more than RECIPE_MAX_SIZE before it has read
 * it all: a regular file by its size, anything else (a pipe) as it comes. */
static int read_recipe_file(struct builder *b, char **text, size_t *len)
{
	const char *path = b->recipe_name;
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cairn_error_errno(b->err, errno, "opening %s", path);
	struct stat st;
	cleanup_strbuf struct strbuf sb = STRBUF_INIT;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size <= RECIPE_MAX_SIZE) {
		for (;;) {
			strbuf_grow(&sb, 65536);
			size_t room = sb.alloc - sb.len - 1;
			if (room > RECIPE_MAX_SIZE + 1 - sb.len)
				room = RECIPE_MAX_SIZE + 1 - sb.len;
			ssize_t n = read(fd, sb.buf + sb.len, room);
			if (n < 0 && errno == EINTR && !util_interrupted)
				continue;
			if (n < 0)
				return cairn_error_errno(b->err, errno, "reading %s", path);
			sb.len += (size_t)n;
			sb.buf[sb.len] = '\0';
			if (n == 0 || sb.len > RECIPE_MAX_SIZE)
				break;
		}
		if (sb.len <= RECIPE_MAX_SIZE) {
			*len = sb.len;
			*text = strbuf_detach(&sb);
			return 0;
		}
	}
	return cairn_error_set(b->err, EFBIG, "%s: a recipe is at most %zu MiB; this one is larger",
			       path, RECIPE_MAX_SIZE >> 20);
}

static int read_recipe(struct builder *b, char **text, size_t *len)
{
	const struct builder_opts *o = b->o;
	if (o->recipe_path) {
		b->recipe_name = xstrdup(o->recipe_path);
		return read_recipe_file(b, text, len);
	}
	static const char *const names[] = {"Recipe", "Dockerfile"};
	for (size_t i = 0; i < 2; i++) {
		cleanup_free char *p = xasprintf("%s/%s", o->context_dir, names[i]);
		if (access(p, F_OK) == 0) {
			b->recipe_name = steal_pointer(&p);
			return read_recipe_file(b, text, len);
		}
	}
	return cairn_error_set(b->err, ENOENT,
			       "no recipe: neither %s/Recipe nor %s/Dockerfile exists (use -f)",
			       o->context_dir, o->context_dir);
}

static int resolve_build_args(struct builder *b)
{
	b->build_args = xcalloc(1, sizeof(char *));
	for (size_t i = 0; b->o->build_args && b->o->build_args[i]; i++) {
		const char *a = b->o->build_args[i];
		const char *eq = strchr(a, '=');
		if (eq == a)
			return cairn_error_set(b->err, EINVAL, "--build-arg %s: empty name", a);
		if (eq) {
			cleanup_free char *name = xstrndup(a, (size_t)(eq - a));
			builder_env_set(&b->build_args, name, eq + 1);
		} else if (getenv(a)) {
			builder_env_set(&b->build_args, a, getenv(a));
		}
	}
	return 0;
}

/* The predefined build args: usable without an ARG (docker's proxy variables). */
const char *const builder_proxy_args[] = {"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy",
					  "FTP_PROXY",	"ftp_proxy",  "NO_PROXY",    "no_proxy",
					  "ALL_PROXY",	"all_proxy",  NULL};

static void warn_unused_args(struct builder *b)
{
	for (size_t i = 0; b->build_args[i]; i++) {
		cleanup_free char *name =
		    xstrndup(b->build_args[i], strcspn(b->build_args[i], "="));
		bool pre = false;
		for (size_t j = 0; builder_proxy_args[j]; j++)
			pre = pre || !strcmp(builder_proxy_args[j], name);
		if (!pre && !builder_env_has(b->used_args, name))
			builder_progress(b, "warning: build argument %s was not used by any ARG\n",
					 name);
	}
}

/* ---- stages: the plan ---- */

/* The stage names an instruction reads from (COPY --from=X, RUN --mount=...,from=X),
 * expanded with the global ARGs. */
static void instr_sources(struct builder *b, const struct recipe_instr *in, char ***out)
{
	for (size_t i = 0; in->flags && in->flags[i]; i++) {
		const char *f = in->flags[i];
		cleanup_free char *raw = NULL;
		if (!strncmp(f, "--from=", 7)) {
			raw = xstrdup(f + 7);
		} else if (!strncmp(f, "--mount=", 8)) {
			for (const char *p = f + 8; *p;) {
				size_t n = strcspn(p, ",");
				if (n > 5 && !strncmp(p, "from=", 5))
					raw = xstrndup(p + 5, n - 5);
				p += n + (p[n] == ',');
			}
		}
		if (!raw)
			continue;
		char *v = NULL;
		struct cairn_error e = CAIRN_ERROR_INIT;
		struct cairn_error *saved = b->err;
		b->err = &e;
		if (builder_expand_word(b, in, NULL, raw, &v) < 0)
			v = xstrdup(raw);
		b->err = saved;
		cairn_error_clear(&e);
		strv_push_take(out, v);
	}
}

/* Splits the recipe into stages, runs the global ARGs, and finds what each stage
 * reads from the others. */
static int plan_stages(struct builder *b)
{
	const struct recipe *rc = b->recipe;
	for (size_t i = 0; i < rc->n_instrs; i++) {
		const struct recipe_instr *in = &rc->instrs[i];
		b->step = i + 1;
		int r = 0;
		if (in->kind == RECIPE_ARG && !b->n_stages) {
			cleanup_strbuf struct strbuf by = STRBUF_INIT;
			if ((r = builder_check_flags(b, in, "")) < 0 ||
			    (r = builder_declare_args(b, in, NULL, &b->meta_args, &by)) < 0)
				return r;
			cleanup_free char *t = builder_instr_title(in);
			builder_progress(b, "[%zu/%zu] %s\n", b->step, rc->n_instrs, t);
			continue;
		}
		if (in->kind != RECIPE_FROM) {
			if (!b->n_stages)
				return builder_instr_error(b, in, EINVAL,
							   "the first instruction must be FROM");
			continue;
		}
		if ((r = builder_check_flags(b, in, "platform")) < 0)
			return r;
		size_t nargs = strv_len(in->args);
		if (nargs != 1 && !(nargs == 3 && !strcasecmp(in->args[1], "as")))
			return builder_instr_error(b, in, EINVAL, "expected FROM IMAGE [AS NAME]");
		b->stages = xrealloc(b->stages, (b->n_stages + 1) * sizeof *b->stages);
		struct stage *st = &b->stages[b->n_stages];
		memset(st, 0, sizeof *st);
		st->index = b->n_stages;
		st->first = i;
		st->result_fd = -1;
		if (b->n_stages)
			b->stages[b->n_stages - 1].end = i;
		if ((r = builder_expand_word(b, in, NULL, in->args[0], &st->base)) < 0)
			return r;
		if (!*st->base)
			return builder_instr_error(b, in, EINVAL, "FROM: the image name is empty");
		if (nargs == 3) {
			st->name = xstrdup(in->args[2]);
			if (find_stage(b, st->name, st->index, false))
				return builder_instr_error(b, in, EINVAL,
							   "duplicate stage name \"%s\"", st->name);
		}
		b->n_stages++;
	}
	if (!b->n_stages)
		return cairn_error_set(b->err, EINVAL, "%s: no FROM instruction", b->recipe_name);
	b->stages[b->n_stages - 1].end = rc->n_instrs;

	for (size_t si = 0; si < b->n_stages; si++) {
		struct stage *st = &b->stages[si];
		cleanup_strv char **names = NULL;
		strv_push(&names, st->base);
		for (size_t i = st->first + 1; i < st->end; i++)
			instr_sources(b, &rc->instrs[i], &names);
		for (size_t k = 0; names[k]; k++) {
			struct stage *dep = find_stage(b, names[k], si, k > 0);
			if (!dep)
				continue; /* an image, or an error the instruction reports */
			st->deps = xrealloc(st->deps, (st->n_deps + 1) * sizeof *st->deps);
			st->deps[st->n_deps++] = dep->index;
		}
	}
	return 0;
}

static void mark_needed(struct builder *b, struct stage *st)
{
	if (st->needed)
		return;
	st->needed = true;
	for (size_t i = 0; i < st->n_deps; i++)
		mark_needed(b, &b->stages[st->deps[i]]);
}

/* ---- stages: running them ---- */

static int run_stage(struct builder *b, struct stage *st)
{
	const struct recipe *rc = b->recipe;
	for (size_t i = st->first; i < st->end; i++) {
		const struct recipe_instr *in = &rc->instrs[i];
		b->step = i + 1;
		if (util_interrupted)
			return cairn_error_set(b->err, EINTR, "interrupted");
		int r;
		switch (in->kind) {
		case RECIPE_FROM:
			r = exec_from(b, st, in);
			break;
		case RECIPE_WORKDIR:
			r = builder_exec_workdir(b, st, in);
			break;
		case RECIPE_RUN:
			r = builder_exec_run(b, st, in);
			break;
		case RECIPE_COPY:
		case RECIPE_ADD:
			r = builder_exec_copy(b, st, in);
			break;
		default:
			r = builder_exec_metadata(b, st, in);
			break;
		}
		/* every error names the instruction (a lower module's does not) */
		if (r < 0 && b->err->msg && !util_interrupted &&
		    (strncmp(b->err->msg, b->recipe_name, strlen(b->recipe_name)) ||
		     b->err->msg[strlen(b->recipe_name)] != ':'))
			builder_instr_wrap(b, in);
		if (r < 0)
			return r;
	}
	return 0;
}

/* How many stages may build at once. */
static size_t parallel_stages(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 2 ? 2 : (size_t)n;
}

/* Builds st in a child process; its result (stage key and the manifest of its image,
 * written to the store) comes back through a pipe. Independent stages build at once
 * this way without sharing any state but the store, which is made for that. */
static int fork_stage(struct builder *b, struct stage *st)
{
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) < 0)
		return cairn_error_errno(b->err, errno, "starting stage %zu", st->index);
	/* the parent reads the report after waitpid: it must fit in the pipe (1 MiB:
	 * some 14,000 step keys; where the kernel allows less, fewer) */
	(void)fcntl(fds[1], F_SETPIPE_SZ, 1 << 20);
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return cairn_error_errno(b->err, errno, "starting stage %zu", st->index);
	}
	if (pid == 0) {
		close(fds[0]);
		int64_t size = 0;
		int r = run_stage(b, st);
		if (r == 0)
			r = oci_image_write(b->s, &st->img, &size, b->err);
		cleanup_free char *msg = NULL;
		if (r == 0) {
			/* the step keys too: the parent exports the cache */
			cleanup_strbuf struct strbuf sb = STRBUF_INIT;
			strbuf_addf(&sb, "OK %s %s", st->key, st->img.digest);
			for (size_t i = 0; st->keys && st->keys[i]; i++)
				strbuf_addf(&sb, " %s", st->keys[i]);
			msg = strbuf_detach(&sb);
		} else {
			msg = xasprintf("ERR %d %s", b->err->code,
					b->err->msg ? b->err->msg : "failed");
		}
		util_write_all(fds[1], msg, strlen(msg));
		fflush(NULL);
		builder_mem_layers_release(b);
		_exit(r == 0 ? 0 : 1);
	}
	close(fds[1]);
	st->pid = pid;
	st->result_fd = fds[0];
	st->state = STAGE_RUNNING;
	return 0;
}

/* Waits for one forked stage and takes its result. */
static int reap_stage(struct builder *b, size_t *running)
{
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, 0)) < 0 && errno == EINTR)
		;
	if (pid < 0)
		return cairn_error_errno(b->err, errno, "waiting for a stage");
	struct stage *st = NULL;
	for (size_t i = 0; i < b->n_stages; i++)
		if (b->stages[i].state == STAGE_RUNNING && b->stages[i].pid == pid)
			st = &b->stages[i];
	if (!st)
		return 0;
	(*running)--;
	cleanup_free char *msg = NULL;
	size_t len = 0;
	int r = util_read_fd(st->result_fd, &msg, &len);
	close(st->result_fd);
	st->result_fd = -1;
	st->state = STAGE_DONE;
	char key[DIGEST_LEN], digest[DIGEST_LEN];
	if (r == 0 && len > 3 && !strncmp(msg, "OK ", 3) &&
	    sscanf(msg + 3, "%71s %71s", key, digest) == 2 && digest_valid(key) &&
	    digest_valid(digest)) {
		memcpy(st->key, key, DIGEST_LEN);
		strv_free(st->keys);
		st->keys = xcalloc(1, sizeof(char *));
		/* "OK KEY DIGEST K1 K2 …": the step keys follow the two digests */
		const char *p = msg + 3;
		for (int skip = 0; skip < 2; skip++)
			p += strcspn(p, " "), p += strspn(p, " ");
		while (*p) {
			size_t n = strcspn(p, " ");
			cleanup_free char *k = xstrndup(p, n);
			if (!digest_valid(k))
				break;
			strv_push(&st->keys, k);
			p += n;
			p += strspn(p, " ");
		}
		if ((r = oci_image_load(b->s, digest, &st->img, b->err)) < 0)
			return r;
		return 0;
	}
	if (r == 0 && !strncmp(msg, "ERR ", 4)) {
		int code = atoi(msg + 4);
		const char *text = strchr(msg + 4, ' ');
		return cairn_error_set(b->err, code ? code : EIO, "%s", text ? text + 1 : msg);
	}
	return cairn_error_set(b->err, EIO, "stage %zu%s%s ended without a result (%s %d)",
			       st->index, st->name ? " " : "", st->name ? st->name : "",
			       WIFSIGNALED(status) ? "signal" : "exit status",
			       WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
}

static void stop_stages(struct builder *b, size_t *running)
{
	for (size_t i = 0; i < b->n_stages; i++)
		if (b->stages[i].state == STAGE_RUNNING)
			kill(b->stages[i].pid, SIGTERM);
	struct cairn_error e = CAIRN_ERROR_INIT;
	struct cairn_error *saved = b->err;
	b->err = &e;
	while (*running)
		reap_stage(b, running);
	b->err = saved;
	cairn_error_clear(&e);
}

static bool stage_ready(struct builder *b, struct stage *st)
{
	if (!st->needed || st->state != STAGE_PENDING)
		return false;
	for (size_t i = 0; i < st->n_deps; i++)
		if (b->stages[st->deps[i]].state != STAGE_DONE)
			return false;
	return true;
}

/* Builds every stage the target needs, independent ones at the same time. */
static int run_stages(struct builder *b, struct stage *target)
{
	mark_needed(b, target);
	size_t running = 0, limit = parallel_stages();
	for (;;) {
		size_t ready = 0;
		for (size_t i = 0; i < b->n_stages; i++)
			ready += stage_ready(b, &b->stages[i]);
		if (!ready && !running)
			return 0;
		if (ready == 1 && !running) {
			/* nothing to overlap with: build it here */
			for (size_t i = 0; i < b->n_stages; i++) {
				struct stage *st = &b->stages[i];
				if (!stage_ready(b, st))
					continue;
				st->state = STAGE_RUNNING;
				int r = run_stage(b, st);
				st->state = STAGE_DONE;
				if (r < 0)
					return r;
				break; /* what it unblocked may run side by side */
			}
			continue;
		}
		for (size_t i = 0; i < b->n_stages && running < limit; i++) {
			struct stage *st = &b->stages[i];
			if (!stage_ready(b, st))
				continue;
			int r = fork_stage(b, st);
			if (r < 0) {
				stop_stages(b, &running);
				return r;
			}
			running++;
		}
		int r = reap_stage(b, &running);
		if (r < 0) {
			stop_stages(b, &running);
			return r;
		}
	}
}

static int choose_target(struct builder *b, struct stage **out)
{
	if (!b->o->target) {
		*out = &b->stages[b->n_stages - 1];
		return 0;
	}
	*out = find_stage(b, b->o->target, b->n_stages, false);
	if (*out)
		return 0;
	cleanup_strbuf struct strbuf names = STRBUF_INIT;
	for (size_t i = 0; i < b->n_stages; i++)
		if (b->stages[i].name)
			strbuf_addf(&names, "%s%s", names.len ? ", " : "", b->stages[i].name);
	return cairn_error_set(b->err, ENOENT, "--target %s: %s has no such stage%s%s%s",
			       b->o->target, b->recipe_name, names.len ? " (stages: " : "",
			       strbuf_str(&names), names.len ? ")" : "");
}

/* The automatic platform ARGs of the global scope, as buildkit defines them. */
static void add_platform_args(struct builder *b)
{
	const char *arch = oci_arch();
	cleanup_free char *platform = xasprintf("linux/%s", arch);
	builder_env_set(&b->meta_args, "TARGETPLATFORM", platform);
	builder_env_set(&b->meta_args, "TARGETOS", "linux");
	builder_env_set(&b->meta_args, "TARGETARCH", arch);
	builder_env_set(&b->meta_args, "TARGETVARIANT", "");
	builder_env_set(&b->meta_args, "BUILDPLATFORM", platform);
	builder_env_set(&b->meta_args, "BUILDOS", "linux");
	builder_env_set(&b->meta_args, "BUILDARCH", arch);
	builder_env_set(&b->meta_args, "BUILDVARIANT", "");
}

/* An error about an instruction ("FILE:LINE: …") shows that line of the recipe
 * under it, as a syntax error does. */
static void show_recipe_line(struct builder *b, const char *text, size_t len)
{
	struct cairn_error *err = b->err;
	size_t n = b->recipe_name ? strlen(b->recipe_name) : 0;
	if (!n || !err->msg || strncmp(err->msg, b->recipe_name, n) || err->msg[n] != ':' ||
	    strchr(err->msg, '\n'))
		return;
	char *end = NULL;
	long line = strtol(err->msg + n + 1, &end, 10);
	if (line <= 0 || line > INT32_MAX || end[0] != ':' || end[1] != ' ')
		return;
	char *shown = util_source_error(b->recipe_name, text, len, (int)line, 0, end + 2);
	const char *quoted = strstr(shown, "\n    ");
	/* not when the message quotes the instruction already (a failed RUN) */
	if (!quoted || strstr(err->msg, quoted + 5)) {
		free(shown);
		return;
	}
	free(err->msg);
	err->msg = shown;
}

int builder_run(struct store *s, const struct builder_opts *o, char digest[DIGEST_LEN],
		struct cairn_error *err)
{
	struct builder b = {.s = s, .o = o, .err = err};
	/* layers and RUN steps must not depend on the caller's umask */
	umask(022);
	cleanup_free char *text = NULL;
	size_t len = 0;
	b.meta_args = xcalloc(1, sizeof(char *));
	b.used_args = xcalloc(1, sizeof(char *));
	int r = util_source_date_epoch(&b.sde, err);
	if (r == 0)
		r = resolve_build_args(&b);
	if (r == 0)
		r = read_recipe(&b, &text, &len);
	if (r == 0) {
		struct recipe_error rerr = {0};
		r = recipe_parse(text, len, &b.recipe, &rerr);
		if (r < 0) {
			cleanup_free char *msg =
			    util_source_error(b.recipe_name, text, len, rerr.line, rerr.column,
					      rerr.msg ? rerr.msg : "syntax error");
			r = cairn_error_set(err, EINVAL, "%s", msg);
			recipe_error_clear(&rerr);
		}
	}
	if (r == 0)
		r = context_open(o->context_dir, &b.ctx, err);
	if (r == 0)
		context_use_stat_cache(b.ctx, s);
	if (r == 0)
		r = context_load_ignore(b.ctx, b.recipe_name, err);
	struct stage *final = NULL;
	if (r == 0) {
		add_platform_args(&b);
		r = plan_stages(&b);
	}
	if (r == 0)
		r = choose_target(&b, &final);
	if (r == 0)
		builder_cache_import(&b);
	if (r == 0)
		r = run_stages(&b, final);
	if (r == 0) {
		int64_t size = 0;
		r = oci_image_write(s, &final->img, &size, err);
		for (size_t i = 0; r == 0 && o->tags && o->tags[i]; i++) {
			struct store_tag t = {
			    .ref = o->tags[i],
			    .digest = final->img.digest,
			    .media_type = (char *)MEDIA_TYPE_OCI_MANIFEST,
			    .size = size,
			};
			r = store_tag_set(s, &t, err);
		}
		if (r == 0 && o->cache_to && (r = builder_cache_export(&b, final)) < 0 &&
		    o->cache_to_ignore_error) {
			/* the image is built and tagged: only the export failed */
			builder_progress(&b, "warning: %s\n", err->msg);
			cairn_error_clear(err);
			r = 0;
		}
		if (r == 0) {
			memcpy(digest, final->img.digest, DIGEST_LEN);
			warn_unused_args(&b);
		}
	}
	if (r < 0 && text)
		show_recipe_line(&b, text, len);
	for (size_t i = 0; i < b.n_stages; i++) {
		free(b.stages[i].base);
		free(b.stages[i].deps);
		stage_release(&b.stages[i]);
	}
	free(b.stages);
	strv_free(b.meta_args);
	strv_free(b.build_args);
	strv_free(b.used_args);
	strv_free(b.pulled);
	json_decref(b.remote);
	context_close(b.ctx);
	builder_mem_layers_release(&b);
	recipe_free(b.recipe);
	free(b.recipe_name);
	return r;
}

int builder_source_open(struct builder *b, const struct recipe_instr *in, const char *from,
			struct builder_source *out)
{
	memset(out, 0, sizeof *out);
	/* the instruction's own stage is the one whose range holds it */
	size_t current = b->n_stages;
	for (size_t i = 0; i < b->n_stages; i++)
		if (in >= &b->recipe->instrs[b->stages[i].first] &&
		    in < &b->recipe->instrs[b->stages[i].end])
			current = i;
	struct stage *st = find_stage(b, from, current, true);
	cleanup_oci_image struct oci_image img = {0};
	const struct oci_image *src;
	int r;
	if (st) {
		if (st->state != STAGE_DONE)
			return builder_instr_error(b, in, EINVAL, "--from=%s: stage not built",
						   from);
		src = &st->img;
		memcpy(out->key, st->key, DIGEST_LEN);
		out->what =
		    st->name ? xasprintf("stage %s", st->name) : xasprintf("stage %zu", st->index);
	} else {
		if (current < b->n_stages && b->stages[current].name &&
		    !strcasecmp(b->stages[current].name, from))
			return builder_instr_error(
			    b, in, EINVAL, "--from=%s: a stage cannot read from itself", from);
		if ((r = builder_load_image(b, from, &img)) < 0) {
			cairn_error_wrap(b->err, "--from=%s: no stage of that name and no image",
					 from);
			return builder_instr_wrap(b, in);
		}
		src = &img;
		memcpy(out->key, img.digest, DIGEST_LEN);
		out->what = xasprintf("image %s", from);
	}
	if ((r = store_mkdtemp(b->s, "from-", &out->tmp, b->err)) < 0)
		return r;
	out->path = xasprintf("%s/root", out->tmp);
	if (mkdir(out->path, 0755) < 0)
		return cairn_error_errno(b->err, errno, "creating %s", out->path);
	size_t n = src->n_layers;
	char **lower = xcalloc(n + 1, sizeof(char *));
	r = 0;
	for (size_t i = 0; i < n && r == 0; i++)
		r = builder_layer_dir(b, &src->layers[n - 1 - i], &lower[i]);
	if (r == 0)
		r = sandbox_overlay_mount_ro(lower, n, out->path, b->err);
	strv_free(lower);
	if (r < 0)
		return builder_instr_wrap(b, in);
	out->mounted = true;
	/* COPY --from opens the files it names: a node a step made there must not open
	 * the host's device (exec stays: RUN --mount from= runs tools from it) */
	if ((r = builder_mount_nosuid_nodev(out->path, b->err)) < 0)
		return builder_instr_wrap(b, in);
	return 0;
}

void builder_source_close(struct builder_source *src)
{
	if (src->mounted)
		sandbox_overlay_umount(src->path, NULL);
	if (src->tmp)
		util_rm_rf(AT_FDCWD, src->tmp, NULL);
	free(src->tmp);
	free(src->path);
	free(src->what);
	memset(src, 0, sizeof *src);
}
