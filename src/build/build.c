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
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void stage_release(struct stage *st)
{
	free(st->name);
	oci_image_release(&st->img);
	strv_free(st->shell);
	strv_free(st->args);
	memset(st, 0, sizeof *st);
}

/* ---- FROM ---- */

static struct stage *find_stage(struct builder *b, const char *name)
{
	for (size_t i = 0; i < b->n_stages; i++)
		if (b->stages[i].name && !strcasecmp(b->stages[i].name, name))
			return &b->stages[i];
	return NULL;
}

static int exec_from(struct builder *b, const struct recipe_instr *in)
{
	int r = build_check_flags(b, in, "platform");
	if (r < 0)
		return r;
	size_t nargs = strv_len(in->args);
	if (nargs != 1 && !(nargs == 3 && !strcasecmp(in->args[1], "as")))
		return build_instr_error(b, in, EINVAL, "expected FROM IMAGE [AS NAME]");
	cleanup_free char *image = NULL;
	if ((r = build_expand_word(b, in, NULL, in->args[0], &image)) < 0)
		return r;
	const char *platform = build_flag_value(in, "platform");
	if (platform) {
		cleanup_free char *p = NULL;
		if ((r = build_expand_word(b, in, NULL, platform, &p)) < 0)
			return r;
		cleanup_free char *mine = xasprintf("linux/%s", oci_arch());
		if (strcmp(p, mine) && strncmp(p, mine, strlen(mine)))
			return build_instr_error(
			    b, in, ENOTSUP, "--platform=%s: only %s can be built on this machine",
			    p, mine);
	}

	b->stages = xrealloc(b->stages, (b->n_stages + 1) * sizeof *b->stages);
	struct stage *st = &b->stages[b->n_stages];
	memset(st, 0, sizeof *st);
	st->shell = xcalloc(1, sizeof(char *));
	strv_push(&st->shell, "/bin/sh");
	strv_push(&st->shell, "-c");
	st->args = xcalloc(1, sizeof(char *));
	if (nargs == 3)
		st->name = xstrdup(in->args[2]);

	struct stage *prev = find_stage(b, image);
	cleanup_free char *desc = NULL;
	if (prev) {
		oci_image_copy(&st->img, &prev->img);
		memcpy(st->key, prev->key, DIGEST_LEN);
		desc = xstrdup("stage");
	} else if (!strcmp(image, "scratch")) {
		oci_image_init_scratch(&st->img);
		desc = xstrdup("FROM scratch");
	} else {
		cleanup_free char *ref = NULL;
		struct store_tag tag = {0};
		if ((r = util_ref_normalize(image, &ref, b->err)) < 0 ||
		    (r = store_tag_get(b->s, ref, &tag, b->err)) < 0) {
			b->n_stages++;
			return build_instr_wrap(b, in);
		}
		r = oci_image_load(b->s, tag.digest, &st->img, b->err);
		desc = xasprintf("FROM %s", tag.digest);
		store_tag_release(&tag);
		if (r < 0) {
			b->n_stages++;
			return build_instr_wrap(b, in);
		}
	}
	b->n_stages++;
	if (!prev) {
		/* SOURCE_DATE_EPOCH sets every timestamp a record keeps: it is part of the key */
		cleanup_free char *root =
		    xasprintf("%s\nSOURCE_DATE_EPOCH=%lld", desc, (long long)b->sde);
		build_step_key("", root, st->key);
	}
	/* an image without PATH gets the usual one, as buildkit does */
	cleanup_strv char **env = build_stage_env(st);
	if (!build_env_has(env, "PATH")) {
		build_env_set(&env, "PATH", DEFAULT_PATH);
		json_object_set_new(build_runconfig(st), "Env", build_strv_to_json(env));
	}
	cleanup_free char *title = build_instr_title(in);
	build_progress(b, "[%zu/%zu] %s\n", b->step, b->recipe->n_instrs, title);
	return 0;
}

/* ---- ARG ---- */

static const char *build_arg_value(struct builder *b, const char *name)
{
	return build_env_get(b->build_args, name);
}

static void mark_used(struct builder *b, const char *name)
{
	if (!build_env_has(b->used_args, name))
		strv_push(&b->used_args, name);
}

/* Declares the ARGs of one instruction into *args; st is NULL before the first FROM. */
int build_declare_args(struct builder *b, const struct recipe_instr *in, struct stage *st,
		       char ***args, struct strbuf *desc)
{
	for (size_t i = 0; in->args && in->args[i]; i++) {
		const char *word = in->args[i];
		const char *eq = strchr(word, '=');
		cleanup_free char *name = eq ? xstrndup(word, (size_t)(eq - word)) : xstrdup(word);
		cleanup_free char *value = NULL;
		int r;
		if (eq && (r = build_expand_word(b, in, st, eq + 1, &value)) < 0)
			return r;
		const char *given = build_arg_value(b, name);
		if (given) {
			mark_used(b, name);
			build_env_set(args, name, given);
		} else if (value) {
			build_env_set(args, name, value);
		} else if (st && build_env_get(b->meta_args, name)) {
			build_env_set(args, name, build_env_get(b->meta_args, name));
		} else {
			build_env_set(args, name, NULL);
		}
		const char *v = build_env_get(*args, name);
		strbuf_addf(desc, " %s%s%s", name, v ? "=" : "", v ? v : "");
	}
	return 0;
}

/* ---- the whole build ---- */

static int read_recipe(struct builder *b, char **text, size_t *len)
{
	const struct build_opts *o = b->o;
	if (o->recipe_path) {
		b->recipe_name = xstrdup(o->recipe_path);
		return util_read_file(AT_FDCWD, o->recipe_path, text, len, b->err);
	}
	static const char *const names[] = {"Recipe", "Dockerfile"};
	for (size_t i = 0; i < 2; i++) {
		cleanup_free char *p = xasprintf("%s/%s", o->context_dir, names[i]);
		if (access(p, F_OK) == 0) {
			b->recipe_name = steal_pointer(&p);
			return util_read_file(AT_FDCWD, b->recipe_name, text, len, b->err);
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
			build_env_set(&b->build_args, name, eq + 1);
		} else if (getenv(a)) {
			build_env_set(&b->build_args, a, getenv(a));
		}
	}
	return 0;
}

static void warn_unused_args(struct builder *b)
{
	static const char *const predefined[] = {
	    "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy",
	    "NO_PROXY",	  "no_proxy",	"ALL_PROXY",   "all_proxy",   NULL};
	for (size_t i = 0; b->build_args[i]; i++) {
		cleanup_free char *name =
		    xstrndup(b->build_args[i], strcspn(b->build_args[i], "="));
		bool pre = false;
		for (size_t j = 0; predefined[j]; j++)
			pre = pre || !strcmp(predefined[j], name);
		if (!pre && !build_env_has(b->used_args, name))
			build_progress(b, "warning: build argument %s was not used by any ARG\n",
				       name);
	}
}

static int run_instructions(struct builder *b)
{
	struct stage *st = NULL;
	for (size_t i = 0; i < b->recipe->n_instrs; i++) {
		const struct recipe_instr *in = &b->recipe->instrs[i];
		b->step = i + 1;
		if (util_interrupted)
			return cairn_error_set(b->err, EINTR, "interrupted");
		int r;
		switch (in->kind) {
		case RECIPE_FROM:
			r = exec_from(b, in);
			st = r == 0 ? &b->stages[b->n_stages - 1] : NULL;
			break;
		case RECIPE_ARG:
			if (!st) {
				cleanup_strbuf struct strbuf by = STRBUF_INIT;
				r = build_declare_args(b, in, NULL, &b->meta_args, &by);
				if (r == 0) {
					cleanup_free char *t = build_instr_title(in);
					build_progress(b, "[%zu/%zu] %s\n", b->step,
						       b->recipe->n_instrs, t);
				}
				break;
			}
			r = build_exec_metadata(b, st, in);
			break;
		case RECIPE_WORKDIR:
			r = st ? build_exec_workdir(b, st, in) : -EINVAL;
			break;
		case RECIPE_RUN:
			r = st ? build_exec_run(b, st, in) : -EINVAL;
			break;
		case RECIPE_COPY:
		case RECIPE_ADD:
			r = st ? build_exec_copy(b, st, in) : -EINVAL;
			break;
		case RECIPE_ONBUILD:
		case RECIPE_HEALTHCHECK:
			r = build_instr_error(b, in, ENOTSUP, "not supported yet");
			break;
		default:
			r = st ? build_exec_metadata(b, st, in) : -EINVAL;
			break;
		}
		if (r == -EINVAL && !st && !b->err->msg)
			r = build_instr_error(b, in, EINVAL, "the first instruction must be FROM");
		if (r < 0)
			return r;
	}
	if (!st)
		return cairn_error_set(b->err, EINVAL, "%s: no FROM instruction", b->recipe_name);
	return 0;
}

int build_run(struct store *s, const struct build_opts *o, char digest[DIGEST_LEN],
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
			/* "FILE:LINE:COL", with only the parts the parser knows */
			cleanup_free char *where =
			    rerr.line <= 0 ? xstrdup(b.recipe_name)
			    : rerr.column <= 0
				? xasprintf("%s:%d", b.recipe_name, rerr.line)
				: xasprintf("%s:%d:%d", b.recipe_name, rerr.line, rerr.column);
			r = cairn_error_set(err, EINVAL, "%s: %s", where,
					    rerr.msg ? rerr.msg : "syntax error");
			recipe_error_clear(&rerr);
		}
	}
	if (r == 0)
		r = context_open(o->context_dir, &b.ctx, err);
	if (r == 0)
		r = run_instructions(&b);
	if (r == 0) {
		struct stage *final = &b.stages[b.n_stages - 1];
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
		if (r == 0) {
			memcpy(digest, final->img.digest, DIGEST_LEN);
			warn_unused_args(&b);
		}
	}
	for (size_t i = 0; i < b.n_stages; i++)
		stage_release(&b.stages[i]);
	free(b.stages);
	strv_free(b.meta_args);
	strv_free(b.build_args);
	strv_free(b.used_args);
	context_close(b.ctx);
	recipe_free(b.recipe);
	free(b.recipe_name);
	return r;
}

int build_source_open(struct builder *b, const struct recipe_instr *in, const char *from,
		      struct build_source *out)
{
	memset(out, 0, sizeof *out);
	return build_instr_error(b, in, ENOTSUP, "--from=%s: not supported yet", from);
}

void build_source_close(struct build_source *src)
{
	if (src->mounted)
		sandbox_overlay_umount(src->path, NULL);
	if (src->tmp)
		util_rm_rf(AT_FDCWD, src->tmp, NULL);
	free(src->tmp);
	free(src->path);
	memset(src, 0, sizeof *src);
}
