/* The build: reads and parses the recipe, opens the context, plans the stages, builds
 * what the target needs and tags the result.
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

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void stage_release(struct stage *st)
{
	builder_tree_release(st);
	free(st->name);
	oci_image_release(&st->img);
	strv_free(st->shell);
	strv_free(st->args);
	strv_free(st->keys);
	json_decref(st->steps);
	memset(st, 0, sizeof *st);
}

/* ---- the whole build ---- */

char *builder_recipe_in(const char *dir)
{
	static const char *const names[] = {"Recipe", "Dockerfile"};
	for (size_t i = 0; i < 2; i++) {
		cleanup_free char *p = xasprintf("%s/%s", dir, names[i]);
		if (access(p, F_OK) == 0)
			return steal_pointer(&p);
	}
	return NULL;
}

int builder_read_recipe(const char *path, char **text, size_t *len, struct cairn_error *err)
{
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cairn_error_errno(err, errno, "opening %s", path);
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
				return cairn_error_errno(err, errno, "reading %s", path);
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
	cairn_error_set(err, EFBIG, "a recipe is at most %zu MiB; this one is larger",
			RECIPE_MAX_SIZE >> 20);
	cairn_error_locate(err, path, 0, 0, NULL);
	return cairn_error_kind(err, CAIRN_ERR_INVALID);
}

static int read_recipe(struct builder *b, struct cairn_error *err)
{
	const struct builder_opts *o = b->o;
	if (o->recipe_text) {
		/* read with builder_read_recipe, which holds it to RECIPE_MAX_SIZE */
		b->recipe_name = xstrdup(o->recipe_path ? o->recipe_path : "stdin");
		b->text = xstrndup(o->recipe_text, o->recipe_len);
		b->text_len = o->recipe_len;
		return 0;
	}
	if (o->recipe_path) {
		b->recipe_name = xstrdup(o->recipe_path);
		return builder_read_recipe(b->recipe_name, &b->text, &b->text_len, err);
	}
	b->recipe_name = builder_recipe_in(o->context_dir);
	if (!b->recipe_name)
		return cairn_error_set(
		    err, ENOENT, "no recipe: neither %s/Recipe nor %s/Dockerfile exists (use -f)",
		    o->context_dir, o->context_dir);
	return builder_read_recipe(b->recipe_name, &b->text, &b->text_len, err);
}

int builder_set_recipe(struct builder *b, const char *name, const char *text, size_t len,
		       struct cairn_error *err)
{
	if (name != b->recipe_name) {
		free(b->recipe_name);
		b->recipe_name = xstrdup(name);
	}
	if (text != b->text) {
		free(b->text);
		b->text = xstrndup(text, len);
	}
	b->text_len = len;
	struct recipe_error rerr = {0};
	if (recipe_parse(b->text, b->text_len, &b->recipe, &rerr) == 0)
		return 0;
	int r = cairn_error_set(err, EINVAL, "%s", rerr.msg ? rerr.msg : "syntax error");
	cleanup_free char *line = util_source_line(b->text, b->text_len, rerr.line);
	cairn_error_locate(err, b->recipe_name, rerr.line, rerr.column, line);
	recipe_error_clear(&rerr);
	return r;
}

void builder_init(struct builder *b, struct store *s, const struct builder_opts *o)
{
	memset(b, 0, sizeof *b);
	b->s = s;
	b->o = o;
	b->sde = -1;
	/* chroot steps run in plain directories, as kaniko's; so does a builder that
	 * cannot mount at all */
	const struct sandbox_caps *caps = sandbox_caps();
	b->snapshot = caps->isolation == SANDBOX_ISOLATION_CHROOT || !caps->can_mount;
	b->meta_args = xcalloc(1, sizeof(char *));
	b->used_args = xcalloc(1, sizeof(char *));
	b->build_args = xcalloc(1, sizeof(char *));
}

int builder_plan(struct builder *b, struct stage **target, struct cairn_error *err)
{
	builder_add_platform_args(b);
	builder_parse_instrs(b);
	int r = builder_plan_stages(b, err);
	if (r == 0)
		r = builder_choose_target(b, target, err);
	if (r == 0)
		builder_mark_needed(b, *target);
	return r;
}

void builder_release(struct builder *b)
{
	for (size_t i = 0; i < b->n_stages; i++) {
		free(b->stages[i].base);
		free(b->stages[i].deps);
		stage_release(&b->stages[i]);
	}
	free(b->stages);
	strv_free(b->meta_args);
	strv_free(b->build_args);
	strv_free(b->used_args);
	strv_free(b->pulled);
	json_decref(b->remote);
	json_decref(b->bases);
	json_decref(b->inputs);
	if (b->ctx)
		context_close(b->ctx);
	builder_mem_layers_release(b);
	for (size_t i = 0; b->instrs && i < b->recipe->n_instrs; i++)
		builder_instr_release(&b->instrs[i]);
	free(b->instrs);
	recipe_free(b->recipe);
	free(b->recipe_name);
	free(b->text);
	memset(b, 0, sizeof *b);
}

/* ---- the report ---- */

/* The build args the report keeps: those given that the recipe declares (an ARG of
 * any stage, or one a trigger declared); proxies only when declared, as they may
 * hold credentials. */
static char **report_build_args(struct builder *b)
{
	char **out = xcalloc(1, sizeof(char *));
	for (size_t i = 0; b->build_args[i]; i++) {
		cleanup_free char *name =
		    xstrndup(b->build_args[i], strcspn(b->build_args[i], "="));
		bool declared = builder_env_has(b->used_args, name);
		for (size_t k = 0; !declared && b->instrs && k < b->recipe->n_instrs; k++) {
			const struct builder_instr *in = &b->instrs[k];
			if (in->syn->kind != RECIPE_ARG || in->error.kind != CAIRN_ERR_NONE)
				continue;
			for (size_t j = 0; j < in->arg.n && !declared; j++)
				declared = !strcmp(in->arg.v[j].name, name);
		}
		if (declared)
			strv_push(&out, b->build_args[i]);
	}
	return out;
}

void builder_record_input(struct builder *b, const char *digest)
{
	if (!b->inputs)
		b->inputs = json_object();
	json_object_set_new(b->inputs, digest, json_true());
}

/* builder_report.context_digest: the digests of what the steps read, sorted. */
static void inputs_digest(struct builder *b, char out[DIGEST_LEN])
{
	size_t n = json_object_size(b->inputs), i = 0;
	const char **v = xcalloc(n ? n : 1, sizeof *v);
	const char *k;
	json_t *x;
	json_object_foreach(b->inputs, k, x) v[i++] = k;
	qsort(v, n, sizeof *v, strv_cmp);
	cleanup_strbuf struct strbuf sb = STRBUF_INIT;
	for (i = 0; i < n; i++)
		strbuf_addf(&sb, "%s\n", v[i]);
	free(v);
	sha256_digest(strbuf_str(&sb), sb.len, out);
}

static int base_cmp(const void *a, const void *b)
{
	const struct builder_report_base *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	return c ? c : strcmp(x->digest, y->digest);
}

/* Fills the report of a build that made final (recipe and context already in it). */
static void fill_report(struct builder *b, struct stage *final, struct builder_report *rp)
{
	rp->source_date_epoch = b->sde;
	inputs_digest(b, rp->context_digest);
	rp->build_args = report_build_args(b);
	rp->target = b->o->target ? xstrdup(b->o->target) : NULL;
	size_t i;
	json_t *v;
	rp->n_bases = json_array_size(b->bases);
	rp->bases = xcalloc(rp->n_bases ? rp->n_bases : 1, sizeof *rp->bases);
	json_array_foreach(b->bases, i, v)
	{
		rp->bases[i].name = xstrdup(json_string_value(json_array_get(v, 0)));
		snprintf(rp->bases[i].digest, DIGEST_LEN, "%s",
			 json_string_value(json_array_get(v, 1)));
	}
	/* forked stages report theirs in the order they end: sorted, a report is the
	 * same whatever the order */
	if (rp->n_bases > 1)
		qsort(rp->bases, rp->n_bases, sizeof *rp->bases, base_cmp);
	rp->n_steps = json_array_size(final->steps);
	rp->steps = xcalloc(rp->n_steps ? rp->n_steps : 1, sizeof *rp->steps);
	json_array_foreach(final->steps, i, v)
	{
		struct builder_report_step *s = &rp->steps[i];
		s->line = (int)json_integer_value(json_object_get(v, "line"));
		s->stage = xstrdup(json_string_value(json_object_get(v, "stage")));
		s->instruction = xstrdup(json_string_value(json_object_get(v, "instruction")));
		snprintf(s->key, DIGEST_LEN, "%s", json_string_value(json_object_get(v, "key")));
		s->cached = json_is_true(json_object_get(v, "cached"));
		s->layer = (long)json_integer_value(json_object_get(v, "layer"));
	}
	rp->n_base_layers = final->n_base_layers;
}

/* What the build reads: the recipe's bytes into the report (when there is one), and
 * SOURCE_DATE_EPOCH from the newest mtime of the recipe and the context after
 * .dockerignore when the build is to derive it. */
static int digest_inputs(struct builder *b, struct cairn_error *err)
{
	const struct builder_opts *o = b->o;
	bool derive = o->source_date_epoch_from_inputs && b->sde < 0;
	if (o->report) {
		builder_report_release(o->report);
		o->report->source_date_epoch = -1;
		o->report->recipe = xstrdup(b->recipe_name);
		sha256_digest(b->text, b->text_len, o->report->recipe_digest);
	}
	if (!derive)
		return 0;
	/* the whole context is walked: the steps that will read it have not run yet */
	char ctx_digest[DIGEST_LEN];
	int64_t newest = -1;
	int r = context_digest_all(b->ctx, ctx_digest, &newest, err);
	if (r < 0)
		return r;
	struct stat st;
	if (stat(b->recipe_name, &st) == 0 && S_ISREG(st.st_mode) && st.st_mtim.tv_sec > newest)
		newest = st.st_mtim.tv_sec;
	if (newest < 0)
		newest = 0;
	b->sde = newest;
	builder_progress(b,
			 "SOURCE_DATE_EPOCH=%lld: the newest mtime of the recipe and the "
			 "context's files\n",
			 (long long)newest);
	return 0;
}

/* "K=V" of a --label or --annotation: -EINVAL naming the flag when there is no
 * K. */
static int key_value(const char *flag, const char *kv, char **key, const char **value,
		     struct cairn_error *err)
{
	const char *eq = strchr(kv, '=');
	if (!eq || eq == kv)
		return cairn_error_set(err, EINVAL, "%s %s: expected KEY=VALUE", flag, kv);
	*key = xstrndup(kv, (size_t)(eq - kv));
	*value = eq + 1;
	return 0;
}

/* What the command line adds to the final image: --label after the recipe's LABELs
 * (a config change only: no step runs again), --annotation on its manifest. */
static int finish_image(struct builder *b, struct stage *final, struct cairn_error *err)
{
	const struct builder_opts *o = b->o;
	if (o->squash && builder_squash(b, final, err) < 0)
		return -1;
	for (size_t i = 0; o->labels && o->labels[i]; i++) {
		cleanup_free char *k = NULL;
		const char *v;
		if (key_value("--label", o->labels[i], &k, &v, err) < 0)
			return -EINVAL;
		json_t *cfg = builder_runconfig(final);
		json_t *labels = json_object_get(cfg, "Labels");
		if (!json_is_object(labels)) {
			labels = json_object();
			json_object_set_new(cfg, "Labels", labels);
		}
		json_object_set_new(labels, k, json_string(v));
	}
	for (size_t i = 0; o->annotations && o->annotations[i]; i++) {
		cleanup_free char *k = NULL;
		const char *v;
		if (key_value("--annotation", o->annotations[i], &k, &v, err) < 0)
			return -EINVAL;
		if (!final->img.annotations)
			final->img.annotations = json_object();
		json_object_set_new(final->img.annotations, k, json_string(v));
	}
	return 0;
}

int builder_run(struct store *s, const struct builder_opts *o, char digest[DIGEST_LEN],
		struct cairn_error *err)
{
	struct builder b;
	builder_init(&b, s, o);
	/* layers and RUN steps must not depend on the caller's umask */
	umask(022);
	int r = builder_resolve_build_args(&b, err);
	/* --source-date-epoch, else --build-arg SOURCE_DATE_EPOCH (how buildx passes it
	 * to BuildKit), else the environment */
	const char *sde_arg = builder_env_get(b.build_args, "SOURCE_DATE_EPOCH");
	if (r < 0 || o->source_date_epoch_set) {
		b.sde = o->source_date_epoch;
	} else if (sde_arg) {
		if ((r = util_source_date_epoch_parse(sde_arg, &b.sde, err)) < 0)
			cairn_error_wrap(err, "--build-arg");
	} else {
		r = util_source_date_epoch(&b.sde, err);
	}
	if (r == 0)
		r = read_recipe(&b, err);
	if (r == 0)
		r = builder_set_recipe(&b, b.recipe_name, b.text, b.text_len, err);
	if (r == 0)
		r = context_open(o->context_dir, &b.ctx, err);
	if (r == 0 && !o->context_unpacked)
		context_use_stat_cache(b.ctx, s);
	if (r == 0)
		r = context_load_ignore(b.ctx, o->recipe_text ? NULL : b.recipe_name, err);
	if (r == 0)
		r = digest_inputs(&b, err);
	struct stage *final = NULL;
	if (r == 0)
		r = builder_plan(&b, &final, err);
	if (r == 0)
		builder_cache_import(&b);
	if (r == 0)
		r = builder_run_stages(&b, err);
	if (r == 0)
		r = finish_image(&b, final, err);
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
		if (r == 0 && o->cache_to && (r = builder_cache_export(&b, final, err)) < 0 &&
		    o->cache_to_ignore_error) {
			/* the image is built and tagged: only the export failed */
			cleanup_free char *msg = cairn_error_format(err);
			builder_progress(&b, "warning: %s\n", msg);
			cairn_error_clear(err);
			r = 0;
		}
		if (r == 0) {
			memcpy(digest, final->img.digest, DIGEST_LEN);
			builder_warn_unused_args(&b);
			if (o->report)
				fill_report(&b, final, o->report);
		}
	}
	builder_release(&b);
	return r;
}

void builder_report_release(struct builder_report *r)
{
	if (!r)
		return;
	free(r->recipe);
	strv_free(r->build_args);
	free(r->target);
	for (size_t i = 0; i < r->n_bases; i++)
		free(r->bases[i].name);
	free(r->bases);
	for (size_t i = 0; i < r->n_steps; i++) {
		free(r->steps[i].stage);
		free(r->steps[i].instruction);
	}
	free(r->steps);
	memset(r, 0, sizeof *r);
}

const struct builder_report_step *builder_report_layer_step(const struct builder_report *r,
							    long layer)
{
	for (size_t i = 0; layer >= r->n_base_layers && i < r->n_steps; i++)
		if (r->steps[i].layer == layer)
			return &r->steps[i];
	return NULL;
}
