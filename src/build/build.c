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
#include "build.h"

#include "../oci/oci.h"
#include "recipe.h"

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

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

struct stage {
	char *name; /* `AS name`, or NULL */
	struct oci_image img;
	char key[DIGEST_LEN];
	char **shell; /* SHELL, default /bin/sh -c */
	char **args;  /* declared ARGs: "K=V", or "K" when declared without a value */
	bool cmd_set; /* CMD given in this stage (ENTRYPOINT then keeps it) */
};

struct builder {
	struct store *s;
	const struct build_opts *o;
	struct build_context *ctx;
	struct recipe *recipe;
	char *recipe_name;
	char **meta_args;  /* ARGs before the first FROM: "K=V" or "K" */
	char **build_args; /* --build-arg values: "K=V" */
	char **used_args;  /* build-arg names that some ARG declared */
	int64_t sde;       /* SOURCE_DATE_EPOCH or -1 */
	size_t step;       /* current step, 1-based */
	struct stage *stages;
	size_t n_stages;
	struct cairn_error *err;
};

/* What one step adds to the image. */
struct step {
	const struct recipe_instr *in;
	char key[DIGEST_LEN];
	char *created_by;
	bool cached;
	bool has_layer;
	struct oci_layer layer;
	char *created; /* from the cache record, or new */
	double t0;
};

/* ---- small helpers ---- */

static const char *env_get(char *const *env, const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; env && env[i]; i++)
		if (!strncmp(env[i], name, n) && env[i][n] == '=')
			return env[i] + n + 1;
	return NULL;
}

static bool env_has(char *const *env, const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; env && env[i]; i++)
		if (!strncmp(env[i], name, n) && (env[i][n] == '=' || env[i][n] == '\0'))
			return true;
	return false;
}

/* Sets K=V (or declares K when value is NULL) in *env, replacing an existing K. */
static void env_set(char ***env, const char *name, const char *value)
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

static char **json_to_strv(const json_t *arr)
{
	char **v = xcalloc(1, sizeof(char *));
	size_t i;
	json_t *x;
	json_array_foreach(arr, i, x)
	{
		if (json_is_string(x))
			strv_push(&v, json_string_value(x));
	}
	return v;
}

static json_t *strv_to_json(char *const *v)
{
	json_t *a = json_array();
	for (size_t i = 0; v && v[i]; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

static char *strv_json_text(char *const *v)
{
	cleanup_json json_t *j = strv_to_json(v);
	char *s = json_dumps(j, JSON_COMPACT);
	return s ? s : xstrdup("[]");
}

static json_t *runconfig(struct stage *st)
{
	return oci_image_runconfig(&st->img);
}

static char **stage_env(struct stage *st)
{
	json_t *env = json_object_get(runconfig(st), "Env");
	return env ? json_to_strv(env) : xcalloc(1, sizeof(char *));
}

static const char *config_str(struct stage *st, const char *field)
{
	const char *s = json_string_value(json_object_get(runconfig(st), field));
	return s ? s : "";
}

static void stage_release(struct stage *st)
{
	free(st->name);
	oci_image_release(&st->img);
	strv_free(st->shell);
	strv_free(st->args);
	memset(st, 0, sizeof *st);
}

static void step_release(struct step *sp)
{
	free(sp->created_by);
	free(sp->created);
	free(sp->layer.media_type);
}

/* "/a/b/../c" → "/a/c"; always absolute, no trailing slash except for "/". */
static char *clean_abs_path(const char *path)
{
	cleanup_free char *copy = xstrdup(path);
	cleanup_strv char **parts = xcalloc(1, sizeof(char *));
	char *save = NULL;
	for (char *t = strtok_r(copy, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
		if (!strcmp(t, "."))
			continue;
		if (!strcmp(t, "..")) {
			size_t n = strv_len(parts);
			if (n) {
				free(parts[n - 1]);
				parts[n - 1] = NULL;
			}
			continue;
		}
		strv_push(&parts, t);
	}
	struct strbuf sb = STRBUF_INIT;
	for (size_t i = 0; parts[i]; i++)
		strbuf_addf(&sb, "/%s", parts[i]);
	if (!sb.len)
		strbuf_addch(&sb, '/');
	return strbuf_detach(&sb);
}

/* ---- errors tied to the recipe ---- */

__attribute__((format(printf, 4, 5))) static int instr_error(struct builder *b,
							     const struct recipe_instr *in,
							     int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *what = NULL;
	if (vasprintf(&what, fmt, ap) < 0)
		abort();
	va_end(ap);
	int r = cairn_error_set(b->err, code, "%s:%d: %s: %s", b->recipe_name, in->line,
				recipe_kind_name(in->kind), what);
	free(what);
	return r;
}

/* Adds "FILE:LINE: INSTRUCTION" before a lower module's error message. */
static int instr_wrap(struct builder *b, const struct recipe_instr *in)
{
	return cairn_error_wrap(b->err, "%s:%d: %s", b->recipe_name, in->line,
				recipe_kind_name(in->kind));
}

/* ---- progress ---- */

__attribute__((format(printf, 2, 3))) static void progress(struct builder *b, const char *fmt,
							   ...)
{
	if (!b->o->progress)
		return;
	va_list ap;
	va_start(ap, fmt);
	vfprintf(b->o->progress, fmt, ap);
	va_end(ap);
	fflush(b->o->progress);
}

/* The instruction as a short single line for progress output. */
static char *instr_title(const struct recipe_instr *in)
{
	struct strbuf sb = STRBUF_INIT;
	bool space = false;
	for (const char *p = in->original; *p; p++) {
		if (isspace((unsigned char)*p)) {
			space = true;
			continue;
		}
		if (space && sb.len)
			strbuf_addch(&sb, ' ');
		space = false;
		strbuf_addch(&sb, *p);
	}
	if (sb.len > 110) {
		sb.len = 107;
		strbuf_addstr(&sb, "...");
	}
	return strbuf_detach(&sb);
}

/* ---- variable expansion ---- */

struct lookup_ctx {
	char *const *env;
	char *const *args;
};

static const char *lookup_var(void *p, const char *name)
{
	struct lookup_ctx *l = p;
	const char *v = env_get(l->env, name);
	if (v || env_has(l->env, name))
		return v;
	return env_get(l->args, name);
}

static int expand_word(struct builder *b, const struct recipe_instr *in, struct stage *st,
		       const char *word, char **out)
{
	cleanup_strv char **env = st ? stage_env(st) : NULL;
	struct lookup_ctx l = {env, st ? st->args : b->meta_args};
	struct recipe_error rerr = {0};
	int r = recipe_process_word(word, b->recipe->escape, lookup_var, &l, out, &rerr);
	if (r < 0) {
		r = instr_error(b, in, EINVAL, "%s", rerr.msg ? rerr.msg : "bad substitution");
		recipe_error_clear(&rerr);
	}
	return r;
}

static int expand_words(struct builder *b, const struct recipe_instr *in, struct stage *st,
			const char *src, char ***out)
{
	cleanup_strv char **env = st ? stage_env(st) : NULL;
	struct lookup_ctx l = {env, st ? st->args : b->meta_args};
	struct recipe_error rerr = {0};
	int r = recipe_process_words(src, b->recipe->escape, lookup_var, &l, out, &rerr);
	if (r < 0) {
		r = instr_error(b, in, EINVAL, "%s", rerr.msg ? rerr.msg : "bad substitution");
		recipe_error_clear(&rerr);
	}
	return r;
}

/* ---- flags ---- */

/* Splits "--name=value" flags; every flag must be in allowed ("chown,chmod"). */
static int check_flags(struct builder *b, const struct recipe_instr *in, const char *allowed)
{
	for (size_t i = 0; in->flags && in->flags[i]; i++) {
		const char *f = in->flags[i] + 2;
		size_t n = strcspn(f, "=");
		bool ok = false;
		for (const char *a = allowed; *a;) {
			size_t an = strcspn(a, ",");
			if (an == n && !strncmp(a, f, n))
				ok = true;
			a += an + (a[an] == ',');
		}
		if (!ok)
			return instr_error(b, in, EINVAL, "unknown flag: --%.*s", (int)n, f);
	}
	return 0;
}

static const char *flag_value(const struct recipe_instr *in, const char *name)
{
	size_t n = strlen(name);
	const char *v = NULL;
	for (size_t i = 0; in->flags && in->flags[i]; i++) {
		const char *f = in->flags[i] + 2;
		if (!strncmp(f, name, n) && (f[n] == '=' || f[n] == '\0'))
			v = f[n] == '=' ? f + n + 1 : "";
	}
	return v;
}

/* ---- the cache ---- */

static void step_key(const char *parent, const char *desc, char out[DIGEST_LEN])
{
	struct sha256 h;
	sha256_init(&h);
	sha256_update(&h, parent, strlen(parent) + 1);
	sha256_update(&h, desc, strlen(desc) + 1);
	sha256_final(&h, out);
}

static char *now_created(struct builder *b)
{
	return util_rfc3339(b->sde >= 0 ? b->sde : (int64_t)time(NULL));
}

/* Fills sp from the record under sp->key; false when there is none usable. */
static bool cache_load(struct builder *b, struct step *sp)
{
	if (b->o->no_cache)
		return false;
	cleanup_free char *text = NULL;
	struct cairn_error e = CAIRN_ERROR_INIT;
	if (store_cache_get(b->s, sp->key, &text, &e) < 0) {
		cairn_error_clear(&e);
		return false;
	}
	cleanup_json json_t *rec = json_loads(text, 0, NULL);
	const char *created = json_string_value(json_object_get(rec, "created"));
	if (!created)
		return false;
	json_t *layer = json_object_get(rec, "layer");
	if (layer) {
		const char *digest = json_string_value(json_object_get(layer, "digest"));
		const char *diff_id = json_string_value(json_object_get(layer, "diff_id"));
		const char *mt = json_string_value(json_object_get(layer, "mediaType"));
		json_t *size = json_object_get(layer, "size");
		if (!digest_valid(digest) || !digest_valid(diff_id) || !mt ||
		    !json_is_integer(size) || !store_has_blob(b->s, digest))
			return false;
		strcpy(sp->layer.digest, digest);
		strcpy(sp->layer.diff_id, diff_id);
		sp->layer.size = (uint64_t)json_integer_value(size);
		sp->layer.media_type = xstrdup(mt);
		sp->has_layer = true;
	}
	sp->created = xstrdup(created);
	sp->cached = true;
	return true;
}

static int cache_save(struct builder *b, struct step *sp)
{
	cleanup_json json_t *rec = json_object();
	json_object_set_new(rec, "created", json_string(sp->created));
	json_object_set_new(rec, "created_by", json_string(sp->created_by));
	if (sp->has_layer)
		json_object_set_new(rec, "layer",
				    json_pack("{s:s, s:s, s:I, s:s}", "digest", sp->layer.digest,
					      "diff_id", sp->layer.diff_id, "size",
					      (json_int_t)sp->layer.size, "mediaType",
					      sp->layer.media_type));
	cleanup_free char *text = util_json_canonical(rec);
	return store_cache_put(b->s, sp->key, text, b->err);
}

/* Records the step in the image (history and layer) and moves the stage's key on. */
static int step_commit(struct builder *b, struct stage *st, struct step *sp)
{
	if (!sp->cached) {
		if (!sp->created)
			sp->created = now_created(b);
		/* --no-cache skips lookups only: the records it writes serve later builds */
		int r = cache_save(b, sp);
		if (r < 0)
			return r;
	}
	if (sp->has_layer)
		oci_image_add_layer(&st->img, &sp->layer);
	oci_image_add_history(&st->img, sp->created, sp->created_by, !sp->has_layer);
	memcpy(st->key, sp->key, DIGEST_LEN);
	cleanup_free char *title = instr_title(sp->in);
	if (sp->cached) {
		progress(b, "[%zu/%zu] %s CACHED\n", b->step, b->recipe->n_instrs, title);
	} else {
		cleanup_free char *d = util_human_duration(util_now() - sp->t0);
		progress(b, "[%zu/%zu] %s %s\n", b->step, b->recipe->n_instrs, title, d);
	}
	return 0;
}

/* ---- layer trees for overlay ---- */

/* The unpacked tree of a layer, extracting its blob when the store has none yet. */
static int layer_dir(struct builder *b, const struct oci_layer *l, char **path)
{
	struct cairn_error e = CAIRN_ERROR_INIT;
	int r = store_layer_dir(b->s, l->diff_id, path, &e);
	if (r != -ENOENT) {
		if (r < 0) {
			*b->err = e;
			return r;
		}
		return 0;
	}
	cairn_error_clear(&e);
	cleanup_free char *tmp = NULL;
	if ((r = store_mkdtemp(b->s, "unpack-", &tmp, b->err)) < 0)
		return r;
	cleanup_close int blob = -1;
	cleanup_close int dfd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct layer_extract_opts xo = {.overlay_whiteouts = true, .uid = -1, .gid = -1};
	if (dfd < 0)
		r = cairn_error_errno(b->err, errno, "opening %s", tmp);
	else if ((r = store_open_blob(b->s, l->digest, &blob, b->err)) == 0)
		r = layer_extract(blob, dfd, &xo, l->digest, b->err);
	if (r == 0)
		r = store_layer_dir_adopt(b->s, l->diff_id, tmp, b->err);
	if (r < 0) {
		util_rm_rf(AT_FDCWD, tmp, NULL);
		return r;
	}
	return store_layer_dir(b->s, l->diff_id, path, b->err);
}

/* A mounted overlay of a stage's layers with a fresh upper dir. */
struct rootfs {
	char *tmp; /* step dir: upper/, work/, merged/ */
	char *upper;
	char *merged;
	bool mounted;
};

static void rootfs_release(struct rootfs *rf)
{
	if (rf->mounted)
		sandbox_overlay_umount(rf->merged, NULL);
	if (rf->tmp)
		util_rm_rf(AT_FDCWD, rf->tmp, NULL);
	free(rf->tmp);
	free(rf->upper);
	free(rf->merged);
	memset(rf, 0, sizeof *rf);
}

static int rootfs_mount(struct builder *b, struct stage *st, struct rootfs *rf)
{
	int r = store_mkdtemp(b->s, "step-", &rf->tmp, b->err);
	if (r < 0)
		return r;
	rf->upper = xasprintf("%s/upper", rf->tmp);
	rf->merged = xasprintf("%s/merged", rf->tmp);
	cleanup_free char *work = xasprintf("%s/work", rf->tmp);
	if (mkdir(rf->upper, 0755) < 0 || mkdir(rf->merged, 0755) < 0 || mkdir(work, 0755) < 0)
		return cairn_error_errno(b->err, errno, "creating step directories in %s", rf->tmp);
	size_t n = st->img.n_layers;
	char **lower = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n && r == 0; i++)
		r = layer_dir(b, &st->img.layers[n - 1 - i], &lower[i]);
	if (r == 0)
		r = sandbox_overlay_mount(lower, n, rf->upper, work, rf->merged, b->err);
	strv_free(lower);
	if (r == 0)
		rf->mounted = true;
	return r;
}

static int rootfs_umount(struct builder *b, struct rootfs *rf)
{
	rf->mounted = false;
	return sandbox_overlay_umount(rf->merged, b->err);
}

static bool dir_is_empty(const char *path)
{
	DIR *d = opendir(path);
	if (!d)
		return true;
	struct dirent *de;
	bool empty = true;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			empty = false;
			break;
		}
	closedir(d);
	return empty;
}

/* Turns the upper dir into the step's layer (none when nothing changed). */
static int rootfs_commit_layer(struct builder *b, struct rootfs *rf, struct step *sp)
{
	if (dir_is_empty(rf->upper))
		return 0;
	cleanup_close int ufd = open(rf->upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ufd < 0)
		return cairn_error_errno(b->err, errno, "opening %s", rf->upper);
	struct layer_write_opts wo = {
		.compression = b->o->compression,
		.source_date_epoch = b->sde,
		.overlay_upper = true,
	};
	struct layer_info info;
	int r = layer_write_dir(b->s, ufd, &wo, &info, b->err);
	if (r < 0)
		return r;
	if (info.entries == 0)
		return 0;
	memcpy(sp->layer.digest, info.digest, DIGEST_LEN);
	memcpy(sp->layer.diff_id, info.diff_id, DIGEST_LEN);
	sp->layer.size = info.size;
	sp->layer.media_type = xstrdup(info.media_type);
	sp->has_layer = true;
	r = store_layer_dir_adopt(b->s, info.diff_id, rf->upper, b->err);
	if (r == 0) {
		free(rf->upper);
		rf->upper = NULL;
	}
	return r;
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
	int r = check_flags(b, in, "platform");
	if (r < 0)
		return r;
	size_t nargs = strv_len(in->args);
	if (nargs != 1 && !(nargs == 3 && !strcasecmp(in->args[1], "as")))
		return instr_error(b, in, EINVAL, "expected FROM IMAGE [AS NAME]");
	cleanup_free char *image = NULL;
	if ((r = expand_word(b, in, NULL, in->args[0], &image)) < 0)
		return r;
	const char *platform = flag_value(in, "platform");
	if (platform) {
		cleanup_free char *p = NULL;
		if ((r = expand_word(b, in, NULL, platform, &p)) < 0)
			return r;
		cleanup_free char *mine = xasprintf("linux/%s", oci_arch());
		if (strcmp(p, mine) && strncmp(p, mine, strlen(mine)))
			return instr_error(b, in, ENOTSUP,
					   "--platform=%s: only %s can be built on this machine", p,
					   mine);
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
			return instr_wrap(b, in);
		}
		r = oci_image_load(b->s, tag.digest, &st->img, b->err);
		desc = xasprintf("FROM %s", tag.digest);
		store_tag_release(&tag);
		if (r < 0) {
			b->n_stages++;
			return instr_wrap(b, in);
		}
	}
	b->n_stages++;
	if (!prev) {
		/* SOURCE_DATE_EPOCH sets every timestamp a record keeps: it is part of the key */
		cleanup_free char *root = xasprintf("%s\nSOURCE_DATE_EPOCH=%lld", desc,
						    (long long)b->sde);
		step_key("", root, st->key);
	}
	/* an image without PATH gets the usual one, as buildkit does */
	cleanup_strv char **env = stage_env(st);
	if (!env_has(env, "PATH")) {
		env_set(&env, "PATH", DEFAULT_PATH);
		json_object_set_new(runconfig(st), "Env", strv_to_json(env));
	}
	cleanup_free char *title = instr_title(in);
	progress(b, "[%zu/%zu] %s\n", b->step, b->recipe->n_instrs, title);
	return 0;
}

/* ---- ARG ---- */

static const char *build_arg_value(struct builder *b, const char *name)
{
	return env_get(b->build_args, name);
}

static void mark_used(struct builder *b, const char *name)
{
	if (!env_has(b->used_args, name))
		strv_push(&b->used_args, name);
}

/* Declares the ARGs of one instruction into *args; st is NULL before the first FROM. */
static int declare_args(struct builder *b, const struct recipe_instr *in, struct stage *st,
			char ***args, struct strbuf *desc)
{
	for (size_t i = 0; in->args && in->args[i]; i++) {
		const char *word = in->args[i];
		const char *eq = strchr(word, '=');
		cleanup_free char *name = eq ? xstrndup(word, (size_t)(eq - word)) : xstrdup(word);
		cleanup_free char *value = NULL;
		int r;
		if (eq && (r = expand_word(b, in, st, eq + 1, &value)) < 0)
			return r;
		const char *given = build_arg_value(b, name);
		if (given) {
			mark_used(b, name);
			env_set(args, name, given);
		} else if (value) {
			env_set(args, name, value);
		} else if (st && env_get(b->meta_args, name)) {
			env_set(args, name, env_get(b->meta_args, name));
		} else {
			env_set(args, name, NULL);
		}
		const char *v = env_get(*args, name);
		strbuf_addf(desc, " %s%s%s", name, v ? "=" : "", v ? v : "");
	}
	return 0;
}

/* ---- metadata instructions ---- */

/* Parses the digits of one port number (1-65535). */
static int parse_port_number(const char *s, size_t n, long *port)
{
	if (n == 0 || n > 5)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return -EINVAL;
	*port = strtol(s, NULL, 10);
	return *port < 1 || *port > 65535 ? -EINVAL : 0;
}

/* "PORT[-END][/PROTO]" → "PORT/proto" for each port, appended to *out (a range is
 * every port in it, as docker's EXPOSE). */
static int parse_ports(const char *s, char ***out)
{
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	const char *proto = slash ? slash + 1 : "tcp";
	const char *dash = memchr(s, '-', n);
	long first, last;
	if (parse_port_number(s, dash ? (size_t)(dash - s) : n, &first) < 0)
		return -EINVAL;
	last = first;
	if (dash && (parse_port_number(dash + 1, n - (size_t)(dash + 1 - s), &last) < 0 ||
		     last < first))
		return -EINVAL;
	cleanup_free char *lp = xstrdup(proto);
	for (char *p = lp; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	if (strcmp(lp, "tcp") && strcmp(lp, "udp") && strcmp(lp, "sctp"))
		return -EINVAL;
	for (long port = first; port <= last; port++)
		strv_push_take(out, xasprintf("%ld/%s", port, lp));
	return 0;
}

static const char *const signals[] = {
	"HUP",  "INT",  "QUIT", "ILL",    "TRAP", "ABRT", "BUS",  "FPE",  "KILL", "USR1",
	"SEGV", "USR2", "PIPE", "ALRM",   "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP",
	"TTIN", "TTOU", "URG",  "XCPU",   "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "PWR",
	"SYS",  NULL,
};

static bool signal_valid(const char *s)
{
	if (!*s)
		return false;
	bool digits = true;
	for (const char *p = s; *p; p++)
		digits = digits && isdigit((unsigned char)*p);
	if (digits)
		return atoi(s) > 0 && atoi(s) < 65;
	const char *name = strncasecmp(s, "SIG", 3) ? s : s + 3;
	if (!strncasecmp(name, "RTMIN", 5) || !strncasecmp(name, "RTMAX", 5))
		return true;
	for (size_t i = 0; signals[i]; i++)
		if (!strcasecmp(name, signals[i]))
			return true;
	return false;
}

/* Command words for CMD/ENTRYPOINT/RUN: JSON as written, or SHELL + the line. */
static char **command_words(struct stage *st, const struct recipe_instr *in)
{
	if (in->json)
		return strv_dup(in->args);
	char **v = strv_dup(st->shell);
	strv_push(&v, in->args && in->args[0] ? in->args[0] : "");
	return v;
}

/* Applies a metadata instruction to the stage; fills the history text. */
static int apply_metadata(struct builder *b, struct stage *st, const struct recipe_instr *in,
			  struct strbuf *by)
{
	json_t *cfg = runconfig(st);
	int r = 0;
	switch (in->kind) {
	case RECIPE_ENV: {
		if ((r = check_flags(b, in, "")) < 0)
			return r;
		/* every value sees the environment from before the instruction */
		cleanup_strv char **env = stage_env(st);
		cleanup_strv char **pairs = NULL;
		strbuf_addstr(by, "ENV");
		for (size_t i = 0; in->args[i] && in->args[i + 1]; i += 3) {
			char *name = NULL, *value = NULL;
			if ((r = expand_word(b, in, st, in->args[i], &name)) < 0)
				return r;
			if ((r = expand_word(b, in, st, in->args[i + 1], &value)) < 0) {
				free(name);
				return r;
			}
			if (!*name) {
				free(name);
				free(value);
				return instr_error(b, in, EINVAL, "empty variable name");
			}
			strbuf_addf(by, " %s=%s", name, value);
			strv_push_take(&pairs, name);
			strv_push_take(&pairs, value);
			if (!in->args[i + 2])
				break;
		}
		for (size_t i = 0; pairs && pairs[i]; i += 2)
			env_set(&env, pairs[i], pairs[i + 1]);
		json_object_set_new(cfg, "Env", strv_to_json(env));
		return 0;
	}
	case RECIPE_LABEL: {
		if ((r = check_flags(b, in, "")) < 0)
			return r;
		json_t *labels = json_object_get(cfg, "Labels");
		if (!json_is_object(labels)) {
			labels = json_object();
			json_object_set_new(cfg, "Labels", labels);
		}
		strbuf_addstr(by, "LABEL");
		for (size_t i = 0; in->args[i] && in->args[i + 1]; i += 3) {
			cleanup_free char *name = NULL, *value = NULL;
			if ((r = expand_word(b, in, st, in->args[i], &name)) < 0 ||
			    (r = expand_word(b, in, st, in->args[i + 1], &value)) < 0)
				return r;
			if (!*name)
				return instr_error(b, in, EINVAL, "empty label name");
			json_object_set_new(labels, name, json_string(value));
			strbuf_addf(by, " %s=%s", name, value);
			if (!in->args[i + 2])
				break;
		}
		return 0;
	}
	case RECIPE_MAINTAINER: {
		cleanup_free char *v = NULL;
		if ((r = expand_word(b, in, st, in->args[0], &v)) < 0)
			return r;
		json_object_set_new(st->img.config, "author", json_string(v));
		strbuf_addf(by, "MAINTAINER %s", v);
		return 0;
	}
	case RECIPE_EXPOSE: {
		if ((r = check_flags(b, in, "")) < 0)
			return r;
		json_t *ports = json_object_get(cfg, "ExposedPorts");
		if (!json_is_object(ports)) {
			ports = json_object();
			json_object_set_new(cfg, "ExposedPorts", ports);
		}
		strbuf_addstr(by, "EXPOSE");
		for (size_t i = 0; in->args[i]; i++) {
			cleanup_strv char **words = NULL;
			if ((r = expand_words(b, in, st, in->args[i], &words)) < 0)
				return r;
			for (size_t j = 0; words[j]; j++) {
				cleanup_strv char **list = xcalloc(1, sizeof(char *));
				if (parse_ports(words[j], &list) < 0)
					return instr_error(b, in, EINVAL,
							   "invalid port \"%s\": expected "
							   "PORT, PORT-PORT or PORT/PROTOCOL "
							   "(tcp, udp, sctp)",
							   words[j]);
				for (size_t k = 0; list[k]; k++) {
					json_object_set_new(ports, list[k], json_object());
					strbuf_addf(by, " %s", list[k]);
				}
			}
		}
		return 0;
	}
	case RECIPE_VOLUME: {
		if ((r = check_flags(b, in, "")) < 0)
			return r;
		json_t *vols = json_object_get(cfg, "Volumes");
		if (!json_is_object(vols)) {
			vols = json_object();
			json_object_set_new(cfg, "Volumes", vols);
		}
		cleanup_strv char **all = NULL;
		for (size_t i = 0; in->args[i]; i++) {
			cleanup_strv char **words = NULL;
			if (in->json) {
				char *w = NULL;
				if ((r = expand_word(b, in, st, in->args[i], &w)) < 0)
					return r;
				strv_push_take(&all, w);
				continue;
			}
			if ((r = expand_words(b, in, st, in->args[i], &words)) < 0)
				return r;
			for (size_t j = 0; words[j]; j++)
				strv_push(&all, words[j]);
		}
		for (size_t i = 0; all && all[i]; i++) {
			if (!*all[i])
				return instr_error(b, in, EINVAL, "VOLUME path cannot be empty");
			json_object_set_new(vols, all[i], json_object());
		}
		cleanup_free char *j = strv_json_text(all);
		strbuf_addf(by, "VOLUME %s", j);
		return 0;
	}
	case RECIPE_USER: {
		cleanup_free char *v = NULL;
		if ((r = check_flags(b, in, "")) < 0 ||
		    (r = expand_word(b, in, st, in->args[0], &v)) < 0)
			return r;
		json_object_set_new(cfg, "User", json_string(v));
		strbuf_addf(by, "USER %s", v);
		return 0;
	}
	case RECIPE_WORKDIR: {
		cleanup_free char *v = NULL;
		if ((r = check_flags(b, in, "")) < 0 ||
		    (r = expand_word(b, in, st, in->args[0], &v)) < 0)
			return r;
		if (!*v)
			return instr_error(b, in, EINVAL, "WORKDIR cannot be empty");
		const char *cur = config_str(st, "WorkingDir");
		cleanup_free char *joined = v[0] == '/' ? xstrdup(v)
							: xasprintf("%s/%s", *cur ? cur : "/", v);
		cleanup_free char *clean = clean_abs_path(joined);
		json_object_set_new(cfg, "WorkingDir", json_string(clean));
		strbuf_addf(by, "WORKDIR %s", clean);
		return 0;
	}
	case RECIPE_STOPSIGNAL: {
		cleanup_free char *v = NULL;
		if ((r = check_flags(b, in, "")) < 0 ||
		    (r = expand_word(b, in, st, in->args[0], &v)) < 0)
			return r;
		if (!signal_valid(v))
			return instr_error(b, in, EINVAL, "invalid signal \"%s\"", v);
		json_object_set_new(cfg, "StopSignal", json_string(v));
		strbuf_addf(by, "STOPSIGNAL %s", v);
		return 0;
	}
	case RECIPE_CMD:
	case RECIPE_ENTRYPOINT: {
		if ((r = check_flags(b, in, "")) < 0)
			return r;
		bool is_cmd = in->kind == RECIPE_CMD;
		cleanup_strv char **words = command_words(st, in);
		json_object_set_new(cfg, is_cmd ? "Cmd" : "Entrypoint", strv_to_json(words));
		if (is_cmd)
			st->cmd_set = true;
		else if (!st->cmd_set)
			json_object_del(cfg, "Cmd"); /* an inherited CMD does not survive */
		cleanup_free char *j = strv_json_text(words);
		strbuf_addf(by, "%s %s", is_cmd ? "CMD" : "ENTRYPOINT", j);
		return 0;
	}
	case RECIPE_SHELL: {
		if ((r = check_flags(b, in, "")) < 0)
			return r;
		if (!in->json || !in->args || !in->args[0])
			return instr_error(b, in, EINVAL,
					   "SHELL requires the arguments in JSON form, "
					   "e.g. SHELL [\"/bin/bash\", \"-c\"]");
		strv_free(st->shell);
		st->shell = strv_dup(in->args);
		json_object_set_new(cfg, "Shell", strv_to_json(st->shell));
		cleanup_free char *j = strv_json_text(st->shell);
		strbuf_addf(by, "SHELL %s", j);
		return 0;
	}
	case RECIPE_ARG: {
		if ((r = check_flags(b, in, "")) < 0)
			return r;
		strbuf_addstr(by, "ARG");
		return declare_args(b, in, st, &st->args, by);
	}
	default:
		return instr_error(b, in, ENOTSUP, "not supported yet");
	}
}

static int exec_metadata(struct builder *b, struct stage *st, const struct recipe_instr *in)
{
	cleanup_strbuf struct strbuf by = STRBUF_INIT;
	struct step sp = {.in = in, .t0 = util_now()};
	int r = apply_metadata(b, st, in, &by);
	if (r < 0)
		return r;
	sp.created_by = strbuf_detach(&by);
	step_key(st->key, sp.created_by, sp.key);
	cache_load(b, &sp);
	r = step_commit(b, st, &sp);
	step_release(&sp);
	return r;
}

/* WORKDIR sets the config and, as buildkit, creates the directory (owned by USER)
 * when the image lacks it; that makes a layer. */
static int exec_workdir(struct builder *b, struct stage *st, const struct recipe_instr *in)
{
	cleanup_strbuf struct strbuf by = STRBUF_INIT;
	struct step sp = {.in = in, .t0 = util_now()};
	int r = apply_metadata(b, st, in, &by);
	if (r < 0)
		return r;
	sp.created_by = strbuf_detach(&by);
	const char *wd = config_str(st, "WorkingDir");
	const char *user = config_str(st, "User");
	cleanup_free char *desc = xasprintf("%s\nuser=%s\ncomp=%s", sp.created_by, user,
					    layer_compression_name(b->o->compression));
	step_key(st->key, desc, sp.key);
	if (!cache_load(b, &sp) && strcmp(wd, "/")) {
		struct rootfs rf = {0};
		uid_t uid = 0;
		gid_t gid = 0;
		r = rootfs_mount(b, st, &rf);
		if (r == 0 && *user && (r = sandbox_resolve_user(rf.merged, user, &uid, &gid, b->err)) < 0)
			instr_wrap(b, in);
		if (r == 0) {
			cleanup_close int root_fd = open(rf.merged, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			r = root_fd < 0 ? cairn_error_errno(b->err, errno, "opening %s", rf.merged)
					: context_mkdir(root_fd, wd, uid, gid, b->err);
			if (r < 0)
				instr_wrap(b, in);
		}
		if (r == 0)
			r = rootfs_umount(b, &rf);
		if (r == 0)
			r = rootfs_commit_layer(b, &rf, &sp);
		rootfs_release(&rf);
	}
	if (r == 0)
		r = step_commit(b, st, &sp);
	step_release(&sp);
	return r;
}

/* ---- RUN ---- */

/* The environment a RUN step sees: the image's ENV, then the declared ARGs. */
static char **run_env(struct stage *st)
{
	char **env = stage_env(st);
	for (size_t i = 0; st->args && st->args[i]; i++) {
		const char *eq = strchr(st->args[i], '=');
		if (!eq)
			continue;
		cleanup_free char *name = xstrndup(st->args[i], (size_t)(eq - st->args[i]));
		if (!env_has(env, name))
			strv_push(&env, st->args[i]);
	}
	return env;
}

/* The last few lines written to fd (a temp file), or "". Caller frees. */
static char *output_tail(int fd)
{
	if (fd < 0)
		return xstrdup("");
	off_t end = lseek(fd, 0, SEEK_END);
	off_t start = end > 4096 ? end - 4096 : 0;
	char buf[4097];
	ssize_t n = pread(fd, buf, (size_t)(end - start), start);
	if (n <= 0)
		return xstrdup("");
	buf[n] = '\0';
	const char *p = buf;
	if (start > 0 && strchr(p, '\n'))
		p = strchr(p, '\n') + 1;
	size_t len = strlen(p);
	while (len && p[len - 1] == '\n')
		len--;
	return xstrndup(p, len);
}

static int exec_run(struct builder *b, struct stage *st, const struct recipe_instr *in)
{
	int r = check_flags(b, in, "network");
	if (r < 0)
		return r;
	if (in->n_heredocs)
		return instr_error(b, in, ENOTSUP, "heredocs are not supported yet");
	enum sandbox_network net = b->o->network;
	const char *nflag = flag_value(in, "network");
	if (nflag) {
		if (!strcmp(nflag, "none"))
			net = SANDBOX_NET_NONE;
		else if (!strcmp(nflag, "host"))
			net = SANDBOX_NET_HOST;
		else if (strcmp(nflag, "default"))
			return instr_error(b, in, EINVAL,
					   "--network=%s: expected none, host or default", nflag);
	}
	if (net == SANDBOX_NET_HOST && b->o->network != SANDBOX_NET_HOST)
		return instr_error(b, in, EPERM,
				   "RUN --network=host needs `cairn build --network host`");
	cleanup_strv char **argv = command_words(st, in);
	cleanup_strv char **env = run_env(st);
	const char *user = config_str(st, "User");
	const char *cwd = *config_str(st, "WorkingDir") ? config_str(st, "WorkingDir") : "/";

	/* history shows the build args in scope, as docker does */
	cleanup_strbuf struct strbuf by = STRBUF_INIT;
	strbuf_addstr(&by, "RUN ");
	size_t nargs = 0;
	for (size_t i = 0; st->args && st->args[i]; i++)
		nargs += strchr(st->args[i], '=') != NULL;
	if (nargs) {
		strbuf_addf(&by, "|%zu ", nargs);
		for (size_t i = 0; st->args[i]; i++)
			if (strchr(st->args[i], '='))
				strbuf_addf(&by, "%s ", st->args[i]);
	}
	for (size_t i = 0; argv[i]; i++)
		strbuf_addf(&by, "%s%s", i ? " " : "", argv[i]);

	cleanup_json json_t *desc = json_pack("{s:s, s:o, s:o, s:s, s:s, s:s, s:s}", "run",
					      by.buf, "argv", strv_to_json(argv), "env",
					      strv_to_json(env), "user", user, "cwd", cwd, "net",
					      net == SANDBOX_NET_HOST ? "host" : "none", "comp",
					      layer_compression_name(b->o->compression));
	cleanup_free char *desc_text = util_json_canonical(desc);
	struct step sp = {.in = in, .t0 = util_now()};
	sp.created_by = strbuf_detach(&by);
	step_key(st->key, desc_text, sp.key);
	if (cache_load(b, &sp)) {
		r = step_commit(b, st, &sp);
		step_release(&sp);
		return r;
	}

	cleanup_free char *title = instr_title(in);
	progress(b, "[%zu/%zu] %s\n", b->step, b->recipe->n_instrs, title);
	struct rootfs rf = {0};
	r = rootfs_mount(b, st, &rf);
	int status = 0;
	/* with -q the step's output is kept aside and shown only when it fails */
	cleanup_close int quiet_out = -1;
	if (r == 0 && !b->o->progress) {
		cleanup_free char *dir = xasprintf("%s/cairn/tmp", store_root(b->s));
		quiet_out = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	}
	if (r == 0) {
		int out = b->o->progress ? fileno(b->o->progress) : quiet_out;
		struct sandbox_spec spec = {
			.rootfs = rf.merged,
			.argv = argv,
			.env = env,
			.cwd = cwd,
			.user = user,
			.hostname = "cairn",
			.network = net,
			.stdout_fd = out,
			.stderr_fd = out,
		};
		r = sandbox_run(&spec, &status, b->err);
		if (r < 0)
			instr_wrap(b, in);
	}
	if (r == 0 && status != 0) {
		cleanup_free char *tail = output_tail(quiet_out);
		r = cairn_error_set(b->err, ECANCELED,
				    "%s:%d: step %zu/%zu `%s` failed: exit status %d%s%s",
				    b->recipe_name, in->line, b->step, b->recipe->n_instrs, title,
				    status, *tail ? "; its output ended with:\n" : "", tail);
	}
	if (r == 0)
		r = rootfs_umount(b, &rf);
	if (r == 0)
		r = rootfs_commit_layer(b, &rf, &sp);
	rootfs_release(&rf);
	if (r == 0)
		r = step_commit(b, st, &sp);
	step_release(&sp);
	return r;
}

/* ---- COPY / ADD ---- */

static bool is_url(const char *s)
{
	return !strncmp(s, "http://", 7) || !strncmp(s, "https://", 8) || !strncmp(s, "git@", 4);
}

static int parse_chmod(const char *s, int *mode)
{
	if (!*s || strlen(s) > 4)
		return -EINVAL;
	for (const char *p = s; *p; p++)
		if (*p < '0' || *p > '7')
			return -EINVAL;
	*mode = (int)strtol(s, NULL, 8);
	return 0;
}

/* --chown=USER[:GROUP] as buildkit: a name takes its uid and primary gid from the
 * image's /etc/passwd, but a numeric USER without GROUP is also the gid (unlike
 * USER, which takes the gid from /etc/passwd). */
static int resolve_chown(const char *rootfs, const char *spec, uid_t *uid, gid_t *gid,
			 struct cairn_error *err)
{
	size_t n = strcspn(spec, ":");
	bool numeric = n > 0 && strspn(spec, "0123456789") == n;
	int r = sandbox_resolve_user(rootfs, spec, uid, gid, err);
	if (r == 0 && numeric && !spec[n])
		*gid = (gid_t)*uid;
	return r;
}

static int exec_copy(struct builder *b, struct stage *st, const struct recipe_instr *in)
{
	bool is_add = in->kind == RECIPE_ADD;
	int r = check_flags(b, in, is_add ? "chown,chmod,link" : "chown,chmod,link,from");
	if (r < 0)
		return r;
	if (flag_value(in, "from"))
		return instr_error(b, in, ENOTSUP, "--from is not supported yet");
	if (in->n_heredocs)
		return instr_error(b, in, ENOTSUP, "heredocs are not supported yet");
	size_t nargs = strv_len(in->args);
	if (nargs < 2)
		return instr_error(b, in, EINVAL, "requires at least two arguments: SRC... DEST");
	cleanup_strv char **words = NULL;
	for (size_t i = 0; i < nargs; i++) {
		char *w = NULL;
		if ((r = expand_word(b, in, st, in->args[i], &w)) < 0)
			return r;
		strv_push_take(&words, w);
	}
	char *dest_word = words[nargs - 1];
	words[nargs - 1] = NULL;
	cleanup_free char *dest_raw = dest_word;
	for (size_t i = 0; words[i]; i++)
		if (is_url(words[i]))
			return instr_error(b, in, ENOTSUP,
					   "%s: remote sources are not supported (cairn builds "
					   "offline); download the file into the build context",
					   words[i]);
	const char *wd = *config_str(st, "WorkingDir") ? config_str(st, "WorkingDir") : "/";
	cleanup_free char *dest_joined =
		dest_raw[0] == '/' ? xstrdup(dest_raw) : xasprintf("%s/%s", wd, dest_raw);
	cleanup_free char *dest = clean_abs_path(dest_joined);
	size_t dl = strlen(dest_raw);
	bool dest_is_dir = (dl && dest_raw[dl - 1] == '/') || !strcmp(dest_raw, ".") ||
			   (dl >= 2 && !strcmp(dest_raw + dl - 2, "/."));

	const char *chown_raw = flag_value(in, "chown");
	const char *chmod_raw = flag_value(in, "chmod");
	cleanup_free char *chown_v = NULL, *chmod_v = NULL;
	if (chown_raw && (r = expand_word(b, in, st, chown_raw, &chown_v)) < 0)
		return r;
	if (chmod_raw && (r = expand_word(b, in, st, chmod_raw, &chmod_v)) < 0)
		return r;
	int mode = -1;
	if (chmod_v && parse_chmod(chmod_v, &mode) < 0)
		return instr_error(b, in, EINVAL, "--chmod=%s: expected an octal mode like 755",
				   chmod_v);

	struct context_source *srcs = NULL;
	size_t nsrc = 0;
	if ((r = context_match(b->ctx, words, &srcs, &nsrc, b->err)) < 0)
		return instr_wrap(b, in);
	if (nsrc > 1 && !dest_is_dir) {
		context_sources_free(srcs, nsrc);
		return instr_error(b, in, EINVAL,
				   "when copying more than one source file, the destination "
				   "must be a directory and end with a /");
	}
	char inputs[DIGEST_LEN];
	if ((r = context_digest(b->ctx, srcs, nsrc, inputs, b->err)) < 0) {
		context_sources_free(srcs, nsrc);
		return instr_wrap(b, in);
	}

	cleanup_strbuf struct strbuf by = STRBUF_INIT;
	strbuf_addstr(&by, is_add ? "ADD" : "COPY");
	if (chown_v)
		strbuf_addf(&by, " --chown=%s", chown_v);
	if (chmod_v)
		strbuf_addf(&by, " --chmod=%s", chmod_v);
	for (size_t i = 0; words[i]; i++)
		strbuf_addf(&by, " %s", words[i]);
	strbuf_addf(&by, " %s", dest_raw);
	cleanup_json json_t *desc =
		json_pack("{s:s, s:s, s:s, s:b, s:s}", "copy", by.buf, "dest", dest, "inputs",
			  inputs, "dir", dest_is_dir, "comp",
			  layer_compression_name(b->o->compression));
	cleanup_free char *desc_text = util_json_canonical(desc);
	struct step sp = {.in = in, .t0 = util_now()};
	sp.created_by = strbuf_detach(&by);
	step_key(st->key, desc_text, sp.key);
	if (cache_load(b, &sp)) {
		context_sources_free(srcs, nsrc);
		r = step_commit(b, st, &sp);
		step_release(&sp);
		return r;
	}

	struct rootfs rf = {0};
	r = rootfs_mount(b, st, &rf);
	struct context_copy_opts co = {.uid = -1, .gid = -1, .chmod = mode, .extract = is_add};
	if (r == 0 && chown_v) {
		uid_t uid;
		gid_t gid;
		r = resolve_chown(rf.merged, chown_v, &uid, &gid, b->err);
		if (r < 0) {
			instr_wrap(b, in);
		} else {
			co.uid = uid;
			co.gid = gid;
		}
	}
	cleanup_close int root_fd = -1;
	if (r == 0) {
		root_fd = open(rf.merged, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (root_fd < 0)
			r = cairn_error_errno(b->err, errno, "opening %s", rf.merged);
	}
	for (size_t i = 0; r == 0 && i < nsrc; i++) {
		r = context_copy(b->ctx, &srcs[i], root_fd, dest, dest_is_dir, &co, b->err);
		if (r < 0)
			instr_wrap(b, in);
	}
	context_sources_free(srcs, nsrc);
	if (root_fd >= 0) {
		close(root_fd);
		root_fd = -1;
	}
	if (r == 0)
		r = rootfs_umount(b, &rf);
	if (r == 0)
		r = rootfs_commit_layer(b, &rf, &sp);
	rootfs_release(&rf);
	if (r == 0)
		r = step_commit(b, st, &sp);
	step_release(&sp);
	return r;
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
			env_set(&b->build_args, name, eq + 1);
		} else if (getenv(a)) {
			env_set(&b->build_args, a, getenv(a));
		}
	}
	return 0;
}

static void warn_unused_args(struct builder *b)
{
	static const char *const predefined[] = {"HTTP_PROXY", "http_proxy", "HTTPS_PROXY",
						 "https_proxy", "FTP_PROXY", "ftp_proxy",
						 "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy",
						 NULL};
	for (size_t i = 0; b->build_args[i]; i++) {
		cleanup_free char *name = xstrndup(b->build_args[i], strcspn(b->build_args[i], "="));
		bool pre = false;
		for (size_t j = 0; predefined[j]; j++)
			pre = pre || !strcmp(predefined[j], name);
		if (!pre && !env_has(b->used_args, name))
			progress(b, "warning: build argument %s was not used by any ARG\n", name);
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
				r = declare_args(b, in, NULL, &b->meta_args, &by);
				if (r == 0) {
					cleanup_free char *t = instr_title(in);
					progress(b, "[%zu/%zu] %s\n", b->step, b->recipe->n_instrs,
						 t);
				}
				break;
			}
			r = exec_metadata(b, st, in);
			break;
		case RECIPE_WORKDIR:
			r = st ? exec_workdir(b, st, in) : -EINVAL;
			break;
		case RECIPE_RUN:
			r = st ? exec_run(b, st, in) : -EINVAL;
			break;
		case RECIPE_COPY:
		case RECIPE_ADD:
			r = st ? exec_copy(b, st, in) : -EINVAL;
			break;
		case RECIPE_ONBUILD:
		case RECIPE_HEALTHCHECK:
			r = instr_error(b, in, ENOTSUP, "not supported yet");
			break;
		default:
			r = st ? exec_metadata(b, st, in) : -EINVAL;
			break;
		}
		if (r == -EINVAL && !st && !b->err->msg)
			r = instr_error(b, in, EINVAL, "the first instruction must be FROM");
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
				rerr.line <= 0     ? xstrdup(b.recipe_name)
				: rerr.column <= 0 ? xasprintf("%s:%d", b.recipe_name, rerr.line)
						   : xasprintf("%s:%d:%d", b.recipe_name, rerr.line,
							       rerr.column);
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
