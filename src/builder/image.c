/* The images a build reads: pulled as --pull says, loaded from the store, and
 * (with another stage's root) mounted read-only for COPY --from and RUN --mount from=. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

struct registry_opts builder_registry_opts(const struct builder *b)
{
	struct registry_opts o = REGISTRY_OPTS_INIT;
	if (b->o->registry)
		o = *b->o->registry;
	o.progress = b->o->progress;
	return o;
}

/* Pulls name into the store (its progress with the build's). */
static int pull_image(struct builder *b, const char *name, struct cairn_error *err)
{
	struct registry_opts o = builder_registry_opts(b);
	builder_progress(b, "pulling %s\n", name);
	char digest[DIGEST_LEN];
	int r = registry_pull(b->s, name, &o, digest, err);
	if (r == 0)
		strv_push(&b->pulled, name);
	return r;
}

/* The image name names (FROM, --from), from the store; pulled first as --pull says:
 * when the store lacks it (missing), every time (always, once per build), never. */
int builder_load_image(struct builder *b, const char *name, struct oci_image *img,
		       struct cairn_error *err)
{
	enum builder_pull pull = b->o->pull;
	int r;
	if (pull == BUILDER_PULL_ALWAYS && !strv_contains(b->pulled, name) &&
	    (r = pull_image(b, name, err)) < 0)
		return r;
	struct store_tag tag = {0};
	struct cairn_error e = CAIRN_ERROR_INIT;
	r = registry_store_lookup(b->s, name, &tag, &e);
	if (r == -ENOENT && pull == BUILDER_PULL_MISSING) {
		cairn_error_clear(&e);
		if ((r = pull_image(b, name, err)) < 0)
			return cairn_error_wrap(err, "%s is not in the store and pulling it failed",
						name);
		r = registry_store_lookup(b->s, name, &tag, &e);
	}
	if (r < 0) {
		cairn_error_move(err, &e);
		if (r == -ENOENT && pull == BUILDER_PULL_NEVER)
			cairn_error_wrap(err, "--pull=never");
		return r;
	}
	r = oci_image_load(b->s, tag.digest, img, err);
	store_tag_release(&tag);
	if (r == 0)
		builder_record_base(b, name, img->digest);
	return r;
}

void builder_record_base(struct builder *b, const char *name, const char *digest)
{
	if (!b->bases)
		b->bases = json_array();
	size_t i;
	json_t *v;
	json_array_foreach(b->bases, i, v)
	{
		if (!strcmp(json_string_value(json_array_get(v, 0)), name) &&
		    !strcmp(json_string_value(json_array_get(v, 1)), digest))
			return;
	}
	json_array_append_new(b->bases, json_pack("[s, s]", name, digest));
}

const struct builder_named_context *builder_named_context(struct builder *b, const char *name)
{
	for (size_t i = 0; i < b->o->n_named_contexts; i++)
		if (!strcasecmp(b->o->named_contexts[i].name, name))
			return &b->o->named_contexts[i];
	return NULL;
}

int builder_source_open(struct builder *b, struct stage *cur, const struct recipe_instr *in,
			const char *from, struct builder_source *out, struct cairn_error *err)
{
	memset(out, 0, sizeof *out);
	const struct builder_named_context *nc = builder_named_context(b, from);
	if (nc && nc->dir) {
		/* read in place, keyed by the content it gives (builder_source_digest) */
		out->path = xstrdup(nc->dir);
		out->what = xasprintf("build context %s", nc->name);
		out->is_dir = true;
		return 0;
	}
	if (nc)
		from = nc->image;
	/* an earlier stage: the instruction's own stage and later ones are not built */
	size_t current = cur->index;
	struct stage *st = nc ? NULL : builder_find_stage(b, from, current, true);
	cleanup_oci_image struct oci_image img = {0};
	const struct oci_image *src;
	int r;
	if (st) {
		if (st->state != STAGE_DONE)
			return builder_instr_error(b, in, err, EINVAL, "--from=%s: stage not built",
						   from);
		src = &st->img;
		memcpy(out->key, st->key, DIGEST_LEN);
		out->what =
		    st->name ? xasprintf("stage %s", st->name) : xasprintf("stage %zu", st->index);
	} else {
		if (current < b->n_stages && b->stages[current].name &&
		    !strcasecmp(b->stages[current].name, from))
			return builder_instr_error(
			    b, in, err, EINVAL, "--from=%s: a stage cannot read from itself", from);
		if ((r = builder_load_image(b, from, &img, err)) < 0) {
			cairn_error_wrap(err, "--from=%s: no stage of that name and no image",
					 from);
			return builder_instr_wrap(b, in, err);
		}
		src = &img;
		memcpy(out->key, img.digest, DIGEST_LEN);
		out->what = xasprintf("image %s", from);
	}
	cleanup_strbuf struct strbuf ids = STRBUF_INIT;
	for (size_t i = 0; i < src->n_layers; i++)
		strbuf_addf(&ids, "%s\n", src->layers[i].diff_id);
	builder_step_key("layers", ids.buf, out->layers);
	if ((r = store_mkdtemp(b->s, "from-", &out->tmp, err)) < 0)
		return r;
	out->path = xasprintf("%s/root", out->tmp);
	if (mkdir(out->path, 0755) < 0)
		return cairn_error_errno(err, errno, "creating %s", out->path);
	if (!sandbox_caps()->can_mount) {
		/* nothing can be mounted: a copy, made from the blobs */
		cleanup_close int dirfd = open(out->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		r = dirfd < 0 ? cairn_error_errno(err, errno, "opening %s", out->path)
			      : builder_tree_fill(b, src->layers, src->n_layers, dirfd, err);
		return r < 0 ? builder_instr_wrap(b, in, err) : 0;
	}
	size_t n = src->n_layers;
	char **lower = xcalloc(n + 1, sizeof(char *));
	r = 0;
	for (size_t i = 0; i < n && r == 0; i++)
		r = builder_layer_dir(b, &src->layers[n - 1 - i], &lower[i], err);
	if (r == 0)
		r = sandbox_overlay_mount_ro(lower, n, out->path, err);
	strv_free(lower);
	if (r < 0)
		return builder_instr_wrap(b, in, err);
	out->mounted = true;
	/* COPY --from opens the files it names: a node a step made there must not open
	 * the host's device (exec stays: RUN --mount from= runs tools from it) */
	if ((r = builder_mount_nosuid_nodev(out->path, err)) < 0)
		return builder_instr_wrap(b, in, err);
	return 0;
}

int builder_source_digest(struct builder *b, const struct builder_source *src,
			  struct build_context *ctx, const struct context_source *s, size_t n,
			  char digest[DIGEST_LEN], struct cairn_error *err)
{
	cleanup_strbuf struct strbuf desc = STRBUF_INIT;
	strbuf_addstr(&desc, "content");
	for (size_t i = 0; i < n; i++)
		strbuf_addf(&desc, "\n%s%s", s[i].path, s[i].is_dir ? "/" : "");
	if (src->is_dir)
		return context_digest(ctx, s, n, digest, err);
	char memo[DIGEST_LEN];
	builder_step_key(src->layers, desc.buf, memo);
	cleanup_free char *text = NULL;
	if (store_cache_get(b->s, memo, &text, NULL) == 0) {
		cleanup_json json_t *rec = json_loads(text, 0, NULL);
		const char *d = json_string_value(json_object_get(rec, "content"));
		if (digest_valid(d)) {
			snprintf(digest, DIGEST_LEN, "%s", d);
			return 0;
		}
	}
	int r = context_digest(ctx, s, n, digest, err);
	if (r < 0)
		return r;
	cleanup_json json_t *rec = json_pack("{s:s}", "content", digest);
	cleanup_free char *out = json_dumps(rec, JSON_COMPACT);
	/* only a lost shortcut when the store cannot keep it (read-only, say) */
	(void)store_cache_put(b->s, memo, out, NULL);
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
