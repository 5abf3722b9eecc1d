/* Helpers the build executors share: variables and expansion, flags, cache keys and
 * records, history, and overlay roots whose upper dir becomes a layer. */
#include "internal.h"

#include "../fs/fs.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

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

char **builder_json_to_strv(const json_t *arr)
{
	/* sized once: strv_push is linear, and an image's Env may be long */
	char **v = xcalloc(json_array_size(arr) + 1, sizeof(char *));
	size_t i, n = 0;
	json_t *x;
	json_array_foreach(arr, i, x)
	{
		if (json_is_string(x))
			v[n++] = xstrdup(json_string_value(x));
	}
	return v;
}

json_t *builder_strv_to_json(char *const *v)
{
	json_t *a = json_array();
	for (size_t i = 0; v && v[i]; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

char *builder_strv_json_text(char *const *v)
{
	cleanup_json json_t *j = builder_strv_to_json(v);
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
	return env ? builder_json_to_strv(env) : xcalloc(1, sizeof(char *));
}

const char *builder_config_str(struct stage *st, const char *field)
{
	const char *s = json_string_value(json_object_get(builder_runconfig(st), field));
	return s ? s : "";
}

void builder_step_release(struct step *sp)
{
	free(sp->created_by);
	free(sp->created);
	free(sp->layer.media_type);
}

/* "/a/b/../c" → "/a/c"; always absolute, no trailing slash except for "/". */
char *builder_clean_abs_path(const char *path)
{
	return fs_clean_path(path, FS_CLEAN_IN_ROOT_ABS);
}

/* ---- errors tied to the recipe ---- */

__attribute__((format(printf, 4, 5))) int builder_instr_error(struct builder *b,
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
int builder_instr_wrap(struct builder *b, const struct recipe_instr *in)
{
	return cairn_error_wrap(b->err, "%s:%d: %s", b->recipe_name, in->line,
				recipe_kind_name(in->kind));
}

/* ---- progress ---- */

__attribute__((format(printf, 2, 3))) void builder_progress(struct builder *b, const char *fmt, ...)
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
char *builder_instr_title(const struct recipe_instr *in)
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
	const char *v = builder_env_get(l->env, name);
	if (v || builder_env_has(l->env, name))
		return v;
	return builder_env_get(l->args, name);
}

/* The parser's error as the build's; an interruption (the parser watches
 * util_interrupted: a hostile pattern may take long) as every other one. */
static int expand_error(struct builder *b, const struct recipe_instr *in, int r,
			struct recipe_error *rerr)
{
	if (r == -EINTR)
		r = cairn_error_set(b->err, EINTR, "interrupted");
	else
		r = builder_instr_error(b, in, r == -E2BIG ? E2BIG : EINVAL, "%s",
					rerr->msg ? rerr->msg : "bad substitution");
	recipe_error_clear(rerr);
	return r;
}

int builder_expand_word(struct builder *b, const struct recipe_instr *in, struct stage *st,
			const char *word, char **out)
{
	cleanup_strv char **env = st ? builder_stage_env(st) : NULL;
	struct lookup_ctx l = {env, st ? st->args : b->meta_args};
	struct recipe_word_opts o = {.escape = b->recipe->escape,
				     .lookup = lookup_var,
				     .ctx = &l,
				     .interrupt = &util_interrupted};
	struct recipe_error rerr = {0};
	int r = recipe_expand_word(word, &o, out, &rerr);
	return r < 0 ? expand_error(b, in, r, &rerr) : r;
}

int builder_expand_words(struct builder *b, const struct recipe_instr *in, struct stage *st,
			 const char *src, char ***out)
{
	cleanup_strv char **env = st ? builder_stage_env(st) : NULL;
	struct lookup_ctx l = {env, st ? st->args : b->meta_args};
	struct recipe_word_opts o = {.escape = b->recipe->escape,
				     .lookup = lookup_var,
				     .ctx = &l,
				     .interrupt = &util_interrupted};
	struct recipe_error rerr = {0};
	int r = recipe_expand_words(src, &o, out, &rerr);
	return r < 0 ? expand_error(b, in, r, &rerr) : r;
}

/* ---- flags ---- */

/* Splits "--name=value" flags; every flag must be in allowed ("chown,chmod"). */
int builder_check_flags(struct builder *b, const struct recipe_instr *in, const char *allowed)
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
			return builder_instr_error(b, in, EINVAL, "unknown flag: --%.*s", (int)n,
						   f);
	}
	return 0;
}

const char *builder_flag_value(const struct recipe_instr *in, const char *name)
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

void builder_step_key(const char *parent, const char *desc, char out[DIGEST_LEN])
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
/* Fills sp from a record's text; false when it is not usable (its layer's blob
 * missing, say). */
static bool cache_apply(struct builder *b, struct step *sp, const char *text)
{
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

bool builder_cache_load(struct builder *b, struct step *sp)
{
	if (b->o->no_cache)
		return false;
	cleanup_free char *text = NULL;
	struct cairn_error e = CAIRN_ERROR_INIT;
	if (store_cache_get(b->s, sp->key, &text, &e) == 0 && cache_apply(b, sp, text))
		return true;
	cairn_error_clear(&e);
	free(text);
	text = builder_cache_remote(b, sp->key);
	return text && cache_apply(b, sp, text);
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
int builder_step_commit(struct builder *b, struct stage *st, struct step *sp)
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
	strv_push(&st->keys, sp->key);
	cleanup_free char *title = builder_instr_title(sp->in);
	if (sp->cached) {
		builder_progress(b, "[%zu/%zu] %s CACHED\n", b->step, b->recipe->n_instrs, title);
	} else {
		cleanup_free char *d = util_human_duration(util_now() - sp->t0);
		builder_progress(b, "[%zu/%zu] %s %s\n", b->step, b->recipe->n_instrs, title, d);
	}
	return 0;
}

/* ---- layer trees for overlay ---- */

/* ---- in-memory upper dirs ----
 * A step's upper dir is a tmpfs while the build's budget lasts: writing many small
 * files costs a fraction of what it costs on a disk filesystem, and the tree is read
 * back at once for the layer. The tree then stays mounted as the lower dir of later
 * steps of this build; it never goes to cairn/layers (a later build that needs it
 * unpacks it from its blob, as for any layer without a tree). A step that fills its
 * tmpfs and fails runs again on disk. */

/* Smallest tmpfs worth mounting; below it the step goes to disk at once. */
#define MEM_UPPER_MIN (64ll << 20)
/* At most this much of the build's memory, whatever the machine has. */
#define MEM_UPPER_MAX (4ll << 30)

/* A number from a one-line file (cgroup v2 memory.max is "max" when unlimited). */
static int64_t read_number(const char *path)
{
	cleanup_free char *text = NULL;
	if (util_read_file(AT_FDCWD, path, &text, NULL, NULL) < 0)
		return -1;
	char *end;
	errno = 0;
	long long v = strtoll(text, &end, 10);
	return errno || end == text || v < 0 ? -1 : (int64_t)v;
}

/* The memory limit and use of the cgroup cairn runs in (v2 "0::/path", or v1's
 * memory controller "N:memory:/path"); -1 when unknown. */
static void cgroup_memory(int64_t *max, int64_t *cur)
{
	cleanup_free char *text = NULL;
	if (util_read_file(AT_FDCWD, "/proc/self/cgroup", &text, NULL, NULL) < 0)
		return;
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *v1 = strstr(line, ":memory:/");
		cleanup_free char *max_path = NULL, *cur_path = NULL;
		if (v1) {
			max_path =
			    xasprintf("/sys/fs/cgroup/memory%s/memory.limit_in_bytes", v1 + 8);
			cur_path =
			    xasprintf("/sys/fs/cgroup/memory%s/memory.usage_in_bytes", v1 + 8);
		} else if (!strncmp(line, "0::/", 4)) {
			max_path = xasprintf("/sys/fs/cgroup%s/memory.max", line + 3);
			cur_path = xasprintf("/sys/fs/cgroup%s/memory.current", line + 3);
		} else {
			continue;
		}
		int64_t m = read_number(max_path), c = read_number(cur_path);
		if (m >= 0 && c >= 0) {
			*max = m;
			*cur = c;
			return;
		}
	}
}

/* A quarter of the memory the machine (or the cgroup cairn is in) has free, at most
 * MEM_UPPER_MAX; $CAIRN_TMPFS_LIMIT (bytes, 0: never) overrides. */
static int64_t mem_budget_default(void)
{
	const char *env = getenv("CAIRN_TMPFS_LIMIT");
	if (env && *env) {
		char *end;
		long long v = strtoll(env, &end, 10);
		return *end || v < 0 ? 0 : (int64_t)v;
	}
	int64_t avail = -1;
	cleanup_fclose FILE *f = fopen("/proc/meminfo", "re");
	char line[256];
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "MemAvailable: %" SCNd64 " kB", &avail) == 1) {
			avail *= 1024;
			break;
		}
	int64_t max = -1, cur = -1;
	cgroup_memory(&max, &cur);
	if (max >= 0 && cur >= 0 && (avail < 0 || max - cur < avail))
		avail = max > cur ? max - cur : 0;
	if (avail < 0)
		return 0;
	return avail / 4 < MEM_UPPER_MAX ? avail / 4 : MEM_UPPER_MAX;
}

static int64_t tmpfs_used(const char *path)
{
	struct statvfs sv;
	if (statvfs(path, &sv) < 0)
		return 0;
	return (int64_t)(sv.f_blocks - sv.f_bfree) * (int64_t)sv.f_frsize;
}

bool builder_rootfs_full(const struct rootfs *rf)
{
	struct statvfs sv;
	if (!rf->mem || statvfs(rf->mem, &sv) < 0)
		return false;
	/* a few blocks or inodes may be left over by a write that did not fit */
	return sv.f_bavail * sv.f_frsize < (1u << 20) || sv.f_favail < 64;
}

/* Mounts a tmpfs for rf's upper and work dirs when the budget allows; false when
 * the step is to use the disk. */
static bool mount_mem_upper(struct builder *b, struct rootfs *rf)
{
	if (!b->mem_budget_set) {
		b->mem_budget = mem_budget_default();
		b->mem_budget_set = true;
	}
	if (rf->on_disk || b->mem_budget < MEM_UPPER_MIN)
		return false;
	struct cairn_error e = CAIRN_ERROR_INIT;
	cleanup_free char *dir = NULL;
	if (store_mkdtemp(b->s, "mem-", &dir, &e) < 0) {
		cairn_error_clear(&e);
		return false;
	}
	cleanup_free char *opts = xasprintf("mode=0755,size=%" PRId64 ",nr_inodes=%" PRId64,
					    b->mem_budget, b->mem_budget / 1024);
	/* nosuid and nodev change nothing a step sees (see builder_mount_nosuid_nodev);
	 * they keep what a step left here inert outside it */
	if (mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0) {
		rmdir(dir);
		return false;
	}
	rf->mem = steal_pointer(&dir);
	return true;
}

static void mem_umount(const char *dir)
{
	umount2(dir, MNT_DETACH);
	rmdir(dir);
}

/* Keeps rf's upper dir, now the tree of diff_id, mounted for later steps. */
static void keep_mem_layer(struct builder *b, struct rootfs *rf, const char *diff_id)
{
	for (size_t i = 0; i < b->n_mem_layers; i++)
		if (!strcmp(b->mem_layers[i].diff_id, diff_id))
			return; /* the same tree twice: release frees this one */
	cleanup_free char *work = xasprintf("%s/work", rf->mem);
	util_rm_rf(AT_FDCWD, work, NULL);
	b->mem_budget -= tmpfs_used(rf->mem);
	b->mem_layers = xrealloc(b->mem_layers, (b->n_mem_layers + 1) * sizeof *b->mem_layers);
	struct mem_layer *m = &b->mem_layers[b->n_mem_layers++];
	memcpy(m->diff_id, diff_id, DIGEST_LEN);
	m->mount = steal_pointer(&rf->mem);
	m->tree = steal_pointer(&rf->upper);
	m->owner = getpid();
}

void builder_mem_layers_release(struct builder *b)
{
	for (size_t i = 0; i < b->n_mem_layers; i++) {
		if (b->mem_layers[i].owner == getpid())
			mem_umount(b->mem_layers[i].mount);
		free(b->mem_layers[i].mount);
		free(b->mem_layers[i].tree);
	}
	free(b->mem_layers);
	b->mem_layers = NULL;
	b->n_mem_layers = 0;
}

/* The unpacked tree of a layer: in memory when this build made it, else in the
 * store, extracting its blob when the store has none yet. */
int builder_layer_dir(struct builder *b, const struct oci_layer *l, char **path)
{
	for (size_t i = 0; i < b->n_mem_layers; i++)
		if (!strcmp(b->mem_layers[i].diff_id, l->diff_id)) {
			*path = xstrdup(b->mem_layers[i].tree);
			return 0;
		}
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
	/* The tree's root is the / of a read-only view (RUN --mount from=, COPY --from),
	 * and extraction leaves the root's own mode alone: 0755 as docker's, not the temp
	 * dir's 0700. The private cairn/layers keeps other users out. */
	if (dfd >= 0 && fchmod(dfd, 0755) < 0)
		r = cairn_error_errno(b->err, errno, "unpacking layer %s into %s", l->diff_id, tmp);
	/* the tree is kept under the diff_id: it must be what the diff_id names */
	struct layer_extract_opts xo = {
	    .overlay_whiteouts = true, .uid = -1, .gid = -1, .diff_id = l->diff_id};
	if (dfd < 0)
		r = cairn_error_errno(b->err, errno, "opening %s", tmp);
	else if (r == 0 && (r = store_open_blob(b->s, l->digest, &blob, b->err)) == 0)
		r = layer_extract(blob, dfd, &xo, l->digest, b->err);
	if (r == 0)
		r = store_layer_dir_adopt(b->s, l->diff_id, tmp, b->err);
	if (r < 0) {
		util_rm_rf(AT_FDCWD, tmp, NULL);
		return r;
	}
	return store_layer_dir(b->s, l->diff_id, path, b->err);
}

void builder_rootfs_release(struct rootfs *rf)
{
	if (rf->mounted)
		sandbox_overlay_umount(rf->merged, NULL);
	if (rf->tmp)
		util_rm_rf(AT_FDCWD, rf->tmp, NULL);
	if (rf->mem)
		mem_umount(rf->mem);
	free(rf->mem);
	free(rf->tmp);
	free(rf->upper);
	free(rf->merged);
	bool on_disk = rf->on_disk;
	memset(rf, 0, sizeof *rf);
	rf->on_disk = on_disk;
}

int builder_mount_nosuid_nodev(const char *path, struct cairn_error *err)
{
	struct mount_attr attr = {.attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV};
	if (mount_setattr(AT_FDCWD, path, AT_RECURSIVE | AT_SYMLINK_NOFOLLOW, &attr, sizeof attr) <
	    0)
		return cairn_error_errno(err, errno, "making the mount on %s nosuid and nodev",
					 path);
	return 0;
}

int builder_rootfs_mount(struct builder *b, struct stage *st, struct rootfs *rf)
{
	int r = store_mkdtemp(b->s, "step-", &rf->tmp, b->err);
	if (r < 0)
		return r;
	const char *updir = mount_mem_upper(b, rf) ? rf->mem : rf->tmp;
	rf->upper = xasprintf("%s/upper", updir);
	rf->merged = xasprintf("%s/merged", rf->tmp);
	cleanup_free char *work = xasprintf("%s/work", updir);
	if (mkdir(rf->upper, 0755) < 0 || mkdir(rf->merged, 0755) < 0 || mkdir(work, 0755) < 0)
		return cairn_error_errno(b->err, errno, "creating step directories in %s", rf->tmp);
	size_t n = st->img.n_layers;
	char **lower = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n && r == 0; i++)
		r = builder_layer_dir(b, &st->img.layers[n - 1 - i], &lower[i]);
	bool lowers_ok = r == 0;
	if (r == 0)
		r = sandbox_overlay_mount(lower, n, rf->upper, work, rf->merged, b->err);
	if (r < 0 && rf->mem && lowers_ok) {
		/* an overlay that refuses a tmpfs upper (old kernel, rootless xattrs): disk */
		mem_umount(rf->mem);
		free(rf->mem);
		rf->mem = NULL;
		free(rf->upper);
		rf->upper = xasprintf("%s/upper", rf->tmp);
		cleanup_free char *disk_work = xasprintf("%s/work", rf->tmp);
		cairn_error_clear(b->err);
		if (mkdir(rf->upper, 0755) < 0 || mkdir(disk_work, 0755) < 0)
			r = cairn_error_errno(b->err, errno, "creating step directories in %s",
					      rf->tmp);
		else
			r = sandbox_overlay_mount(lower, n, rf->upper, disk_work, rf->merged,
						  b->err);
	}
	strv_free(lower);
	if (r == 0)
		rf->mounted = true;
	if (r == 0)
		r = builder_mount_nosuid_nodev(rf->merged, b->err);
	return r;
}

int builder_rootfs_umount(struct builder *b, struct rootfs *rf)
{
	rf->mounted = false;
	return sandbox_overlay_umount(rf->merged, b->err);
}

int builder_rootfs_finish(struct builder *b, struct rootfs *rf, struct step *sp, int r)
{
	if (r == 0)
		r = builder_rootfs_umount(b, rf);
	if (r == 0)
		r = builder_rootfs_commit_layer(b, rf, sp);
	builder_rootfs_release(rf);
	return r;
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
int builder_rootfs_commit_layer(struct builder *b, struct rootfs *rf, struct step *sp)
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
	if (rf->mem) {
		keep_mem_layer(b, rf, info.diff_id);
		return 0;
	}
	r = store_layer_dir_adopt(b->s, info.diff_id, rf->upper, b->err);
	if (r == 0) {
		free(rf->upper);
		rf->upper = NULL;
	}
	return r;
}

/* Command words for CMD/ENTRYPOINT/RUN: JSON as written, or SHELL + the line. */
char **builder_command_words(struct stage *st, const struct recipe_instr *in)
{
	if (in->json)
		return strv_dup(in->args);
	char **v = strv_dup(st->shell);
	strv_push(&v, in->args && in->args[0] ? in->args[0] : "");
	return v;
}
