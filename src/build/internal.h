/* Private to the build module: the builder's state and the helpers its files share
 * (step.c: expansion, flags, cache records, overlay roots; meta.c: metadata
 * instructions; run.c: RUN; copy.c: COPY/ADD; build.c: stages and the build). */
#ifndef CAIRN_BUILD_INTERNAL_H
#define CAIRN_BUILD_INTERNAL_H

#include "build.h"

#include "../oci/oci.h"
#include "recipe.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

struct stage {
	char *name; /* `AS name`, or NULL */
	struct oci_image img;
	char key[DIGEST_LEN];
	char **shell; /* SHELL, default /bin/sh -c */
	char **args;  /* declared ARGs: "K=V", or "K" when declared without a value */
	bool cmd_set; /* CMD given in this stage (ENTRYPOINT then keeps it) */
	char **keys;  /* the cache keys of its steps, in order (from its base stage on) */
	/* the plan (build.c) */
	size_t index;          /* 0-based, as COPY --from=N names it */
	size_t first, end;     /* its instructions: [first, end), first is the FROM */
	char *base;            /* FROM's image, expanded with the global ARGs */
	size_t *deps;          /* indices of the earlier stages it reads */
	size_t n_deps;
	bool needed;           /* the target depends on it */
	enum { STAGE_PENDING = 0, STAGE_RUNNING, STAGE_DONE } state;
	pid_t pid;             /* while RUNNING in a child process */
	int result_fd;         /* that child's report */
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
	int64_t sde;	   /* SOURCE_DATE_EPOCH or -1 */
	size_t step;	   /* current step, 1-based */
	struct stage *stages;
	size_t n_stages;
	char **pulled;	    /* images pulled by this build (--pull=always pulls each once) */
	json_t *remote;	    /* records of the --cache-from caches: key → {record, from} */
	struct cairn_error *err;
	/* layers this process made whose trees still live in memory (step.c) */
	struct mem_layer *mem_layers;
	size_t n_mem_layers;
	int64_t mem_budget; /* bytes of tmpfs steps may still use, once mem_budget_set */
	bool mem_budget_set;
};

/* A layer's tree kept where its step wrote it, on a tmpfs, and used from there as a
 * lower dir by later steps instead of being written to disk and read again. */
struct mem_layer {
	char diff_id[DIGEST_LEN];
	char *mount; /* the tmpfs, in the process's temp dir */
	char *tree;  /* the tree in it */
	pid_t owner; /* the process that mounted it (a forked stage inherits the list) */
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

/* A mounted overlay of a stage's layers with a fresh upper dir. */
struct rootfs {
	char *tmp; /* step dir: merged/, and upper/ and work/ unless they are in mem */
	char *upper;
	char *merged;
	char *mem; /* a tmpfs holding upper/ and work/, or NULL */
	bool mounted;
	bool on_disk; /* asked for: no tmpfs (a step that filled one runs again) */
};

/* A read-only view of another stage's or an image's root filesystem, for
 * COPY --from and RUN --mount from=. */
struct build_source {
	char *path;           /* the root directory to read from */
	char *what;	      /* for messages: "stage builder", "image alpine:3" */
	char key[DIGEST_LEN]; /* names its content (a stage key or manifest digest), for cache keys */
	char *tmp;            /* private: the mount's directory */
	bool mounted;
};

/* ---- step.c: shared helpers ---- */

/* ---- small helpers ---- */
const char *build_env_get(char *const *env, const char *name);

bool build_env_has(char *const *env, const char *name);

/* Sets K=V (or declares K when value is NULL) in *env, replacing an existing K. */
void build_env_set(char ***env, const char *name, const char *value);

char **build_json_to_strv(const json_t *arr);

json_t *build_strv_to_json(char *const *v);

char *build_strv_json_text(char *const *v);

json_t *build_runconfig(struct stage *st);

char **build_stage_env(struct stage *st);

const char *build_config_str(struct stage *st, const char *field);

void build_step_release(struct step *sp);

/* "/a/b/../c" → "/a/c"; always absolute, no trailing slash except for "/". */
char *build_clean_abs_path(const char *path);

/* ---- errors tied to the recipe ---- */
__attribute__((format(printf, 4, 5))) int
build_instr_error(struct builder *b, const struct recipe_instr *in, int code, const char *fmt, ...);

/* Adds "FILE:LINE: INSTRUCTION" before a lower module's error message. */
int build_instr_wrap(struct builder *b, const struct recipe_instr *in);

/* ---- progress ---- */
__attribute__((format(printf, 2, 3))) void build_progress(struct builder *b, const char *fmt, ...);

/* The instruction as a short single line for progress output. */
char *build_instr_title(const struct recipe_instr *in);

int build_expand_word(struct builder *b, const struct recipe_instr *in, struct stage *st,
		      const char *word, char **out);

int build_expand_words(struct builder *b, const struct recipe_instr *in, struct stage *st,
		       const char *src, char ***out);

/* ---- flags ---- */
/* Splits "--name=value" flags; every flag must be in allowed ("chown,chmod"). */
int build_check_flags(struct builder *b, const struct recipe_instr *in, const char *allowed);

const char *build_flag_value(const struct recipe_instr *in, const char *name);

/* ---- the cache ---- */
void build_step_key(const char *parent, const char *desc, char out[DIGEST_LEN]);

/* Fills sp from the record under sp->key; false when there is none usable. */
bool build_cache_load(struct builder *b, struct step *sp);

/* Records the step in the image (history and layer) and moves the stage's key on. */
int build_step_commit(struct builder *b, struct stage *st, struct step *sp);

/* ---- layer trees for overlay ---- */
/* Sets nosuid and nodev on the mount at path (and those below it): for what the
 * builder mounts from the store. Steps need neither (they run with no_new_privs,
 * their root and binds are nodev), and the builder itself must never open a device
 * node or run a setuid file a step or an image left there. */
int build_mount_nosuid_nodev(const char *path, struct cairn_error *err);

/* The unpacked tree of a layer, extracting its blob when the store has none yet. */
int build_layer_dir(struct builder *b, const struct oci_layer *l, char **path);

void build_rootfs_release(struct rootfs *rf);

/* Mounts the stage's layers with a fresh upper dir: on a tmpfs while the build's
 * memory budget lasts (unless rf->on_disk), else in the store's temp space. */
int build_rootfs_mount(struct builder *b, struct stage *st, struct rootfs *rf);

/* True when rf's upper dir is on a tmpfs that is (all but) full: a step that failed
 * then may have failed for want of room, and runs again with rf->on_disk. */
bool build_rootfs_full(const struct rootfs *rf);

/* Unmounts the in-memory trees this process made; called when the builder is done
 * (and by a forked stage before it exits: the mount namespace is shared). */
void build_mem_layers_release(struct builder *b);

int build_rootfs_umount(struct builder *b, struct rootfs *rf);

/* The end of a step that ran on rf (r: its result so far): unmounts it, makes the
 * layer, releases rf. */
int build_rootfs_finish(struct builder *b, struct rootfs *rf, struct step *sp, int r);

/* Turns the upper dir into the step's layer (none when nothing changed). */
int build_rootfs_commit_layer(struct builder *b, struct rootfs *rf, struct step *sp);

/* Command words for CMD/ENTRYPOINT/RUN: JSON as written, or SHELL + the line. */
char **build_command_words(struct stage *st, const struct recipe_instr *in);

/* ---- meta.c: metadata instructions ---- */

int build_exec_metadata(struct builder *b, struct stage *st, const struct recipe_instr *in);

/* WORKDIR sets the config and, as buildkit, creates the directory (owned by USER)
 * when the image lacks it; that makes a layer. */
int build_exec_workdir(struct builder *b, struct stage *st, const struct recipe_instr *in);

/* ---- run.c: RUN ---- */

int build_exec_run(struct builder *b, struct stage *st, const struct recipe_instr *in);

/* ---- copy.c: COPY and ADD ---- */

int build_exec_copy(struct builder *b, struct stage *st, const struct recipe_instr *in);

/* ---- build.c ---- */

/* Declares the ARGs of one instruction into *args; st is NULL before the first FROM. */
int build_declare_args(struct builder *b, const struct recipe_instr *in, struct stage *st,
		       char ***args, struct strbuf *desc);

/* HTTP_PROXY and the other predefined build args; NULL-terminated. */
extern const char *const build_proxy_args[];

/* The registry options of the build (--tls-verify, --cert-dir), with its progress. */
struct registry_opts build_registry_opts(const struct builder *b);

/* The image name names (FROM, --from): from the store, pulled first as --pull says. */
int build_load_image(struct builder *b, const char *name, struct oci_image *img);

/* Resolves from (an earlier stage's name or index, else an image reference in the
 * store) as docker does and mounts its root read-only at out->path. Call
 * build_source_close afterwards, also when it failed. */
int build_source_open(struct builder *b, const struct recipe_instr *in, const char *from,
		      struct build_source *out);
void build_source_close(struct build_source *src);

/* ---- cache.c: the build cache in a registry ---- */

/* Reads the records of the --cache-from caches into b->remote. A cache that cannot
 * be read is a warning: a first build has none. */
void build_cache_import(struct builder *b);

/* The record for key from the imported caches, its layer blob downloaded and the
 * record kept in the local cache; NULL when there is none usable. Caller frees. */
char *build_cache_remote(struct builder *b, const char *key);

/* Pushes the records (and layers) of this build's steps — the final stage's, or every
 * built stage's with cache_to_max — as an OCI artifact to --cache-to. */
int build_cache_export(struct builder *b, struct stage *final);

/* ---- meta.c: ONBUILD triggers ---- */

/* Runs the ONBUILD triggers of the stage's base image (its config's OnBuild), in
 * order, as if written right after from_instr, and removes OnBuild from the config.
 * Call it at the end of FROM. A trigger's error reads
 * "FILE:LINE: FROM: ONBUILD trigger `RUN ...`: ...", LINE the FROM's. */
int build_run_onbuild_triggers(struct builder *b, struct stage *st,
			       const struct recipe_instr *from_instr);

#endif
