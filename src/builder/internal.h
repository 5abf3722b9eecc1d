/* Private to the builder: its state and what its files share, each section headed by
 * the file that defines it. */
#ifndef CAIRN_BUILD_INTERNAL_H
#define CAIRN_BUILD_INTERNAL_H

#include "builder.h"

#include "../oci/oci.h"
#include "recipe.h"

#include <sys/stat.h>

/* ---- the build context (context.c) ---- */

struct build_context;
/* Opens the context directory. */
int context_open(const char *dir, struct build_context **out, struct cairn_error *err);
/* Saves the stat cache (when it has news; a failure only costs the next build a
 * hash) and frees c. */
void context_close(struct build_context *c);
/* What messages about c's files call it ("stage builder" for another stage's root
 * read as a context by COPY --from); "the build context" until set. Copies name. */
void context_set_name(struct build_context *c, const char *name);
/* Makes digests of c use and feed the store's stat cache for this directory
 * (statcache.c), so that unchanged files are not read again. */
void context_use_stat_cache(struct build_context *c, struct store *s);

/* One file or directory a COPY/ADD source named, relative to the context root. */
struct context_source {
	char *path; /* cleaned relative path ("." for the root) */
	bool is_dir;
};

/* Expands the source patterns (wildcards as docker's filepath.Match, per path
 * component) into the paths they name, in order, never outside the context. A
 * pattern that matches nothing is an error naming it. */
int context_match(struct build_context *c, char *const *patterns, struct context_source **out,
		  size_t *n, struct cairn_error *err);
void context_sources_free(struct context_source *s, size_t n);

/* Digest of everything the sources bring into a layer: relative paths, types,
 * permission bits, sizes, contents and link targets (not owners or times). */
int context_digest(struct build_context *c, const struct context_source *s, size_t n,
		   char digest[DIGEST_LEN], struct cairn_error *err);

/* Digest of the whole context after .dockerignore (not --exclude): each entry's path,
 * type and mode, size, link target and content digest, in the walk's order (each
 * directory's names in byte order, depth first); *newest gets the newest mtime of
 * the files among them (not directories), -1 when there is none. */
int context_digest_all(struct build_context *c, char digest[DIGEST_LEN], int64_t *newest,
		       struct cairn_error *err);

/* ---- the context's stat cache (statcache.c): path + stat identity → digest ---- */

struct stat_cache;
/* The cache of the context at dir (its real path) from the store; a missing,
 * damaged or foreign file gives an empty cache. Never fails. */
struct stat_cache *stat_cache_load(struct store *s, const char *dir);
/* A cache from the bytes of a cache file (for dir, or any when NULL) that is never
 * saved; bad bytes give an empty cache. */
struct stat_cache *stat_cache_parse(const void *data, size_t len, const char *dir);
size_t stat_cache_count(const struct stat_cache *c);
/* True, with the content digest, when name was recorded with exactly st's identity
 * and is old enough to be trusted. c may be NULL. */
bool stat_cache_lookup(struct stat_cache *c, const char *name, const struct stat *st,
		       char digest[DIGEST_LEN]);
/* Remembers that the file name, as st says before it was read, has digest; files
 * changed too recently to be trusted are not remembered. c may be NULL. */
void stat_cache_record(struct stat_cache *c, const char *name, const struct stat *st,
		       const char *digest);
/* Appends the file's bytes to sb. */
void stat_cache_serialize(const struct stat_cache *c, struct strbuf *sb);
/* Writes the cache into the store when it changed (a loaded cache only). */
int stat_cache_save(struct stat_cache *c, struct cairn_error *err);
void stat_cache_free(struct stat_cache *c);

struct context_copy_opts {
	int64_t uid, gid;	    /* owner of everything written; -1: 0 (root), as docker */
	int chmod;		    /* permission bits for everything written; -1: keep */
	bool extract;		    /* ADD: a local tar archive is extracted into the destination */
	const char *chmod_symbolic; /* "u+x,go-w": applied to each entry's own mode; NULL: none */
	bool keep_owner; /* COPY --from without --chown: entries keep their owner, as buildkit */
};

/* Copies one source into the root dirfd at dest (an absolute path inside that root;
 * dest_is_dir says it names a directory: sources go inside it). Directory sources
 * copy their contents. Paths are resolved beneath root_fd, so a symlink in the image
 * cannot send the copy elsewhere. */
int context_copy(struct build_context *c, const struct context_source *src, int root_fd,
		 const char *dest, bool dest_is_dir, const struct context_copy_opts *opts,
		 struct cairn_error *err);
/* One file open as fd (st its stat: the mode and mtime it gets, before opts'
 * chmod), as context_copy copies a file: to dest, or dest/name when dest is a
 * directory; extracted into dest with opts->extract when it is an archive. */
int context_copy_fd(int fd, const struct stat *st, const char *name, int root_fd, const char *dest,
		    bool dest_is_dir, const struct context_copy_opts *opts,
		    struct cairn_error *err);

/* mkdir -p of path beneath root_fd (symlinks resolved inside it); directories it
 * creates are 0755 and owned by uid:gid (-1: root). */
int context_mkdir(int root_fd, const char *path, int64_t uid, int64_t gid, struct cairn_error *err);

/* Opens path (relative to the context root; never outside it) with flags (O_PATH,
 * O_RDONLY...); the caller closes *out. A missing path is -ENOENT naming it. */
int context_open_path(struct build_context *c, const char *path, int flags, int *out,
		      struct cairn_error *err);

/* ---- .dockerignore and COPY/ADD filters (context.c) ---- */

struct recipe_ignore;
/* Makes the context hide what ig excludes (context-relative rules) from matching,
 * digests and copies; takes ig (NULL: nothing hidden). */
void context_set_ignore(struct build_context *c, struct recipe_ignore *ig);

/* Reads the .dockerignore rules as buildkit: RECIPE.dockerignore beside the recipe
 * (recipe_path, borrowed; may be NULL), else CONTEXT/.dockerignore; neither is no rule. */
int context_load_ignore(struct build_context *c, const char *recipe_path, struct cairn_error *err);

/* Sets the --exclude patterns (.dockerignore syntax) of the next matches, digests and
 * copies: an entry inside a directory source is matched by its path relative to that
 * source, a file source by its name. NULL or empty clears them. */
int context_set_exclude(struct build_context *c, char *const *patterns, struct cairn_error *err);

/* Writes a new regular file (mode 0644 before opts->chmod) with data at dest beneath
 * root_fd, or at dest/name when dest names a directory; owners as context_copy. */
int context_write_file(int root_fd, const char *dest, bool dest_is_dir, const char *name,
		       const char *data, size_t len, int64_t mtime,
		       const struct context_copy_opts *opts, struct cairn_error *err);

/* The format of cache records and of what a step records (history text, which steps
 * have layers): part of every stage's root key, so that a cairn whose rules changed
 * never reuses records an older one wrote. 2: BuildKit's history text and a layer for
 * every RUN, COPY, ADD and WORKDIR. */
#define BUILDER_CACHE_FORMAT 2

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

struct stage {
	char *name; /* `AS name`, or NULL */
	struct oci_image img;
	char key[DIGEST_LEN];
	char **shell; /* SHELL, default /bin/sh -c */
	char **args;  /* declared ARGs: "K=V", or "K" when declared without a value */
	bool cmd_set; /* CMD given in this stage (ENTRYPOINT then keeps it) */
	char **keys;  /* the cache keys of its steps, in order (from its base stage on) */
	/* the report's record of its steps, in order (from its base stage on): objects
	 * {line, stage, instruction, key, cached, layer}; and the layers its image has
	 * from the base image */
	json_t *steps;
	long n_base_layers;
	/* the plan (build.c) */
	size_t index;	   /* 0-based, as COPY --from=N names it */
	size_t first, end; /* its instructions: [first, end), first is the FROM */
	char *base;	   /* FROM's image, expanded with the global ARGs */
	size_t *deps;	   /* indices of the earlier stages it reads */
	size_t n_deps;
	bool needed;   /* the target depends on it */
	bool no_cache; /* --no-cache-filter names it: its steps ignore the cache */
	enum { STAGE_PENDING = 0, STAGE_RUNNING, STAGE_DONE } state;
	pid_t pid;     /* while RUNNING in a child process */
	int result_fd; /* that child's report */
	/* b->snapshot: the stage's root filesystem as a directory (tree.c) */
	char *tree_tmp;	    /* its temp dir in the store */
	char *tree;	    /* the root in it */
	char **tree_layers; /* the diff_ids it holds, bottom first */
};

struct builder {
	struct store *s;
	const struct builder_opts *o;
	struct build_context *ctx;
	struct recipe *recipe;
	struct builder_instr *instrs; /* recipe->instrs parsed, one each (plan.c) */
	char *recipe_name;
	char *text; /* the recipe as read: errors show their line of it */
	size_t text_len;
	char **meta_args;  /* ARGs before the first FROM: "K=V" or "K" */
	char **build_args; /* --build-arg values: "K=V" */
	char **used_args;  /* build-arg names that some ARG declared */
	int64_t sde;	   /* SOURCE_DATE_EPOCH or -1 */
	size_t step;	   /* current step, 1-based */
	struct stage *stages;
	size_t n_stages;
	char **pulled;	/* images pulled by this build (--pull=always pulls each once) */
	json_t *remote; /* records of the --cache-from caches: key → {record, from} */
	json_t *bases;	/* images FROM and --from loaded: [name, manifest digest] pairs */
	json_t *inputs; /* digests of the context sources steps read: a set (object keys) */
	/* layers this process made whose trees still live in memory (memlayer.c) */
	struct mem_layer *mem_layers;
	size_t n_mem_layers;
	int64_t mem_budget; /* bytes of tmpfs steps may still use, once mem_budget_set */
	bool mem_budget_set;
	/* no overlay can be mounted (isolation chroot, or overlayfs refused the store):
	 * each stage's root is a directory, and a step's layer what changed in it */
	bool snapshot;
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
	bool no_history; /* ONBUILD: BuildKit writes no history entry for it */
	struct oci_layer layer;
	char *created; /* from the cache record, or new */
	double t0;
};

/* A mounted overlay of a stage's layers with a fresh upper dir. */
struct rootfs {
	char *tmp; /* step dir: merged/, and upper/ and work/ unless they are in mem */
	char *upper;
	char *merged;
	char *mem;    /* a tmpfs holding upper/ and work/, or NULL */
	char **lower; /* the overlay's lower dirs, top-most first */
	bool mounted;
	bool on_disk; /* asked for: no tmpfs (a step that filled one runs again) */
	/* b->snapshot: the stage whose tree merged is, and the tree before the step */
	struct stage *stage;
	struct layer_snapshot *snap;
	bool overlay_failed; /* the overlay mount itself failed (not what came before) */
	bool ran_step;	     /* a RUN step ran on it in the sandbox */
};

/* A read-only view of another stage's or an image's root filesystem, for
 * COPY --from and RUN --mount from=. */
struct builder_source {
	char *path;	      /* the root directory to read from */
	char *what;	      /* for messages: "stage builder", "image alpine:3" */
	char key[DIGEST_LEN]; /* names its content (a stage key or manifest digest), for cache keys
			       */
	char layers[DIGEST_LEN]; /* digest of its layers' diff_ids: names its files exactly */
	bool is_dir;		 /* a --build-context directory: path is it, read in place */
	char *tmp;		 /* private: the mount's directory */
	bool mounted;
};

/* ---- runmount.c: the --mount grammar ---- */

enum mount_kind { MOUNT_BIND, MOUNT_CACHE, MOUNT_TMPFS, MOUNT_SECRET, MOUNT_SSH };
enum cache_sharing { SHARING_SHARED, SHARING_PRIVATE, SHARING_LOCKED };
/* "bind", "cache", ... by enum mount_kind; "shared", ... by enum cache_sharing */
extern const char *const builder_mount_kind_names[];
extern const char *const builder_sharing_names[];

/* One --mount, typed. */
struct builder_mount {
	const char *spec; /* the flag's value, borrowed, for messages */
	enum mount_kind kind;
	char *target; /* absolute and clean; NULL for a secret exposed only as a variable */
	char *source; /* bind: path in the source root, absolute and clean */
	char *from;   /* as written: it takes no variable */
	char *id;     /* cache and secret */
	char *env;    /* secret: the variable to set */
	enum cache_sharing sharing;
	bool sharing_set;
	bool readonly;
	bool required;
	int64_t mode, uid, gid; /* -1: not given */
	uint64_t size;		/* tmpfs: 0 = kernel default */
	bool deferred;		/* parsed without variables: some value is the step's to know */
};

/* How the values of a --mount are read. */
struct builder_mount_words {
	/* expands a value with the step's variables; NULL when the instruction is
	 * parsed: a value holding a variable is then left for the step, with the checks
	 * that need it, and the others are only unquoted (with escape) */
	int (*expand)(void *ctx, const char *word, char **out, struct cairn_error *err);
	void *ctx;
	char escape;
};

/* Parses one --mount value and checks it as buildkit does; a relative target is under
 * cwd (NULL when parsing the instruction: it stays relative). Errors read
 * "RUN: --mount=SPEC: what", not yet located. */
int builder_mount_parse(const char *spec, const struct builder_mount_words *w, const char *cwd,
			struct builder_mount *m, struct cairn_error *err);
void builder_mount_release(struct builder_mount *m);
/* ---- instructions.c: typed instructions ----
 * Each instruction of the syntax tree is parsed once, by its kind's entry in one
 * table (its flags, its parse, its executor), into a struct builder_instr; lint, the
 * planner, ONBUILD triggers and the executors all read that. Values that may hold
 * variables stay as written (borrowed from the tree) and are expanded when the step
 * runs, with the stage's variables, as buildkit does. */

#define BUILDER_MAX_FLAGS 8
#define BUILDER_MAX_MOUNTS 32

/* A flag's type, as buildkit's BFlags. */
enum builder_flag_type {
	BUILDER_FLAG_BOOL,    /* --name, --name=true or --name=false; the last counts */
	BUILDER_FLAG_STRING,  /* --name=value; the last counts, "" when bare */
	BUILDER_FLAG_STRINGS, /* --name=value, repeatable: every value, in order */
};

/* A flag an instruction takes. */
struct builder_flag {
	const char *name; /* without "--" */
	enum builder_flag_type type;
	bool once; /* at most once and with a value (HEALTHCHECK's, as docker checks them) */
};

struct builder_instr;
/* Runs an instruction in the stage. */
typedef int (*builder_exec_fn)(struct builder *b, struct stage *st, const struct builder_instr *in,
			       struct cairn_error *err);
/* A metadata instruction's change to the stage's config; its history text goes to by. */
typedef int (*builder_apply_fn)(struct builder *b, struct stage *st, const struct builder_instr *in,
				struct strbuf *by, struct cairn_error *err);

/* A kind's entry in the table. */
struct builder_instr_def {
	enum recipe_kind kind;
	const struct builder_flag *flags; /* the flags it takes; a NULL name ends them */
	builder_exec_fn exec;
	builder_apply_fn apply; /* metadata instructions: what exec applies */
};

struct builder_from {
	const char *image;    /* as written */
	const char *name;     /* AS NAME, or NULL */
	const char *platform; /* --platform, or NULL */
};

struct builder_arg {
	char *name;
	const char *value; /* as written, or NULL: declared without one */
};

struct builder_pair {
	const char *name, *value; /* as written */
};

struct builder_run {
	bool network_set; /* --network=private|none|host; "default" or none given: the build's */
	enum sandbox_network network;
	bool insecure; /* --security=insecure (the build must --allow security.insecure) */
	struct builder_mount *mounts; /* as parsed without variables: spec, from= */
	size_t n_mounts;
};

/* A COPY/ADD source word as written, or a heredoc. */
struct builder_copy_source {
	const char *word;
	const struct recipe_heredoc *doc; /* when word is its "<<NAME" */
};

struct builder_copy {
	const char *from, *chown, *chmod, *checksum; /* as written; NULL when not given */
	bool link, parents, keep_git_dir;
	int unpack;	 /* ADD --unpack: 1, 0, or -1 when not given */
	char **excludes; /* as written; the vector is owned, not the strings */
	struct builder_copy_source *sources;
	size_t n_sources;
	const char *dest; /* as written */
};

enum builder_healthcheck_value {
	BUILDER_HEALTHCHECK_INTERVAL,
	BUILDER_HEALTHCHECK_TIMEOUT,
	BUILDER_HEALTHCHECK_START_PERIOD,
	BUILDER_HEALTHCHECK_START_INTERVAL,
	BUILDER_HEALTHCHECK_RETRIES,
	BUILDER_HEALTHCHECK_VALUES
};

struct builder_healthcheck {
	bool none;
	char *const *test; /* the command after CMD */
	/* the durations in nanoseconds, then --retries; 0: not given */
	int64_t value[BUILDER_HEALTHCHECK_VALUES];
};

struct builder_instr {
	const struct recipe_instr *syn; /* the tree's node (borrowed): line, text, args */
	const struct builder_instr_def *def;
	/* a parse that failed; the build reports it when the step is reached, as it
	 * reported a bad flag before there was a parse */
	struct cairn_error error;
	union {
		struct builder_from from;
		struct builder_run run;
		struct builder_copy copy; /* COPY, ADD */
		struct builder_healthcheck healthcheck;
		struct {
			char *expression;
		} onbuild;
		struct {
			struct builder_arg *v;
			size_t n;
		} arg;
		struct {
			struct builder_pair *v;
			size_t n;
		} pairs;	    /* ENV, LABEL */
		const char *word;   /* USER, WORKDIR, STOPSIGNAL, MAINTAINER */
		char *const *words; /* EXPOSE, VOLUME, CMD, ENTRYPOINT, SHELL */
	};
};

/* The table's entry for kind, NULL for none. */
const struct builder_instr_def *builder_instr_def(enum recipe_kind kind);
/* True when kind takes flag ("--name" or "--name=value"). */
bool builder_instr_takes_flag(enum recipe_kind kind, const char *flag);
/* Parses syn (escape: its recipe's) into *in; on failure err says "KIND: what", not
 * yet located. Release *in either way. */
int builder_instr_parse(const struct recipe_instr *syn, char escape, struct builder_instr *in,
			struct cairn_error *err);
void builder_instr_release(struct builder_instr *in);

/* ---- env.c: a stage's variables and expansion ---- */

/* The value of name in "K=V" entries; NULL when unset or declared without a value. */
const char *builder_env_get(char *const *env, const char *name);
/* True when env sets or declares name. */
bool builder_env_has(char *const *env, const char *name);
/* Sets K=V (or declares K when value is NULL) in *env, replacing an existing K. */
void builder_env_set(char ***env, const char *name, const char *value);
/* v as compact JSON text; caller frees. */
char *builder_strv_json_text(char *const *v);
/* The stage's image's runtime config ("config" of the image config); borrowed. */
json_t *builder_runconfig(struct stage *st);
/* The stage's Env, a new vector. */
char **builder_stage_env(struct stage *st);
/* A string field of the runtime config, "" when unset; borrowed. */
const char *builder_config_str(struct stage *st, const char *field);
/* The stage's WORKDIR, "/" when unset; borrowed. */
const char *builder_stage_workdir(struct stage *st);
/* Expands word with the stage's variables (its ENV, then its ARGs), or with the
 * global ARGs when st is NULL; *out is new. */
int builder_expand_word(struct builder *b, const struct recipe_instr *in, struct stage *st,
			const char *word, char **out, struct cairn_error *err);
/* The same, split into words after expansion (buildkit's ProcessWords). */
int builder_expand_words(struct builder *b, const struct recipe_instr *in, struct stage *st,
			 const char *src, char ***out, struct cairn_error *err);
/* A COPY heredoc's body with variables expanded as buildkit's ExpandRaw: its lexer with
 * quotes as plain characters (SkipProcessQuotes) and '\' as the escape; an error
 * reads "KIND: heredoc: what". */
int builder_expand_heredoc(struct builder *b, const struct recipe_instr *in, struct stage *st,
			   const char *body, char **out, struct cairn_error *err);

/* ---- paths.c ---- */

/* path, when relative, under cwd (a step's WORKDIR), cleaned. Caller frees. */
char *builder_path_under(const char *cwd, const char *path);

/* ---- report.c: progress and errors tied to the recipe ----
 * An error about an instruction carries its place as a value (cairn_error_locate:
 * the recipe, the instruction's first line and that line's text); its message starts
 * with the instruction's name ("COPY: ..."). */

/* Ties err to line of the recipe, with that line's text when show_text (an error
 * whose message quotes the instruction already goes without). A located error
 * keeps its place. */
void builder_locate(struct builder *b, int line, bool show_text, struct cairn_error *err);
/* Sets err to "KIND: what", located at in. */
__attribute__((format(printf, 5, 6))) int builder_instr_error(struct builder *b,
							      const struct recipe_instr *in,
							      struct cairn_error *err, int code,
							      const char *fmt, ...);
/* Reports in's failed parse, if it failed: its error, located. */
int builder_instr_check(struct builder *b, const struct builder_instr *in, struct cairn_error *err);
/* Puts "KIND" before a lower module's message and locates err at in. */
int builder_instr_wrap(struct builder *b, const struct recipe_instr *in, struct cairn_error *err);
/* The one place the build reports progress: to the opts' events when it has them,
 * else as plain lines on its progress FILE. builder_progress reports a message. */
__attribute__((format(printf, 2, 3))) void builder_progress(struct builder *b, const char *fmt,
							    ...);
/* Reports an event of the step b->step, the instruction in (kind: a
 * BUILDER_EVENT_STEP_*), begun at t0 (util_now()); plain progress prints fmt when not
 * NULL. detail is the key of a CACHED or DONE step, the error of a FAILED one. */
__attribute__((format(printf, 6, 7))) void builder_progress_step(struct builder *b,
								 enum builder_event_kind kind,
								 const struct recipe_instr *in,
								 double t0, const char *detail,
								 const char *fmt, ...);
/* A new fd for the output of the RUN step b->step, or -1: keep it aside. */
int builder_progress_output(struct builder *b);
/* The instruction as a short single line for progress output. */
char *builder_instr_title(const struct recipe_instr *in);

/* ---- cache.c: keys and records ---- */

/* sha256(parent key, description): a step's key. */
void builder_step_key(const char *parent, const char *desc, char out[DIGEST_LEN]);
/* Fills sp from the record under sp->key; false when there is none usable. */
bool builder_cache_load(struct builder *b, struct step *sp);
/* Writes sp's record under sp->key. */
int builder_cache_save(struct builder *b, struct step *sp, struct cairn_error *err);

/* ---- step.c ---- */

void builder_step_release(struct step *sp);
/* Records the step in the image (history and layer) and moves the stage's key on. */
int builder_step_commit(struct builder *b, struct stage *st, struct step *sp,
			struct cairn_error *err);

/* ---- memlayer.c: in-memory upper dirs ---- */

/* Mounts a tmpfs for rf's upper and work dirs when the budget allows (at rf->mem);
 * false when the step is to use the disk. */
bool builder_mem_upper_mount(struct builder *b, struct rootfs *rf);
/* Detaches the tmpfs at dir and removes dir. */
void builder_mem_umount(const char *dir);
/* Keeps rf's upper dir, now the tree of diff_id, mounted for later steps. */
void builder_mem_layer_keep(struct builder *b, struct rootfs *rf, const char *diff_id);
/* Unmounts the in-memory trees this process made; called when the builder is done
 * (and by a forked stage before it exits: the mount namespace is shared). */
void builder_mem_layers_release(struct builder *b);
/* True when rf's upper dir is on a tmpfs that is (all but) full: a step that failed
 * then may have failed for want of room, and runs again with rf->on_disk. */
bool builder_rootfs_full(const struct rootfs *rf);

/* ---- layerdir.c ---- */

/* The unpacked tree of a layer, extracting its blob when the store has none yet. */
int builder_layer_dir(struct builder *b, const struct oci_layer *l, char **path,
		      struct cairn_error *err);

/* ---- rootfs.c: a step's overlay root ---- */

/* Sets nosuid and nodev on the mount at path (and those below it): for what the
 * builder mounts from the store. Steps need neither (they run with no_new_privs,
 * their root and binds are nodev), and the builder itself must never open a device
 * node or run a setuid file a step or an image left there. */
int builder_mount_nosuid_nodev(const char *path, struct cairn_error *err);
void builder_rootfs_release(struct rootfs *rf);
/* Mounts the stage's layers with a fresh upper dir: on a tmpfs while the build's
 * memory budget lasts (unless rf->on_disk), else in the store's temp space. */
int builder_rootfs_mount(struct builder *b, struct stage *st, struct rootfs *rf,
			 struct cairn_error *err);
int builder_rootfs_umount(struct builder *b, struct rootfs *rf, struct cairn_error *err);
/* The end of a step that ran on rf (r: its result so far): unmounts it, makes the
 * layer, releases rf. */
int builder_rootfs_finish(struct builder *b, struct rootfs *rf, struct step *sp, int r,
			  struct cairn_error *err);
/* Turns the upper dir into the step's layer (none when nothing changed). */
int builder_rootfs_commit_layer(struct builder *b, struct rootfs *rf, struct step *sp,
				struct cairn_error *err);

/* ---- tree.c: snapshot roots, where no overlay can be mounted ---- */

/* Writes the layers' blobs, bottom first, into the directory dirfd with their
 * whiteouts applied: a whole root filesystem. */
int builder_tree_fill(struct builder *b, const struct oci_layer *layers, size_t n, int dirfd,
		      struct cairn_error *err);
/* Brings the stage's tree up to its layers and snapshots it into rf. */
int builder_tree_mount(struct builder *b, struct stage *st, struct rootfs *rf,
		       struct cairn_error *err);
/* The end of a step on a tree: its layer is what changed since the snapshot (none
 * when nothing did); a failed step leaves the tree to be made again. */
int builder_tree_finish(struct builder *b, struct rootfs *rf, struct step *sp, int r,
			struct cairn_error *err);
/* Removes the stage's tree. */
void builder_tree_release(struct stage *st);
/* How the build's layers are written: its compression, SOURCE_DATE_EPOCH clamp and
 * --timestamp; the caller adds what tree it is (overlay_upper, since, ignore). */
struct layer_write_opts builder_layer_opts(const struct builder *b);
/* --squash: the layers of st's image above its base image's become one, the change
 * from the base's tree to the final one (whiteouts and opaque directories
 * included); the history stays, only its last entry with a layer keeping one. */
int builder_squash(struct builder *b, struct stage *st, struct cairn_error *err);

/* ---- command.c: command words ---- */

/* Command words for CMD/ENTRYPOINT/RUN: JSON as written, or SHELL + the line. */
char **builder_command_words(struct stage *st, const struct recipe_instr *in);
/* The command of a RUN with heredocs; *script and *script_path are set (new) when a
 * lone heredoc with "#!" is to be mounted and executed. */
char **builder_heredoc_words(struct stage *st, const struct recipe_instr *in, char **script,
			     char **script_path);

/* ---- args.c: build arguments ---- */

/* Declares the ARGs of one instruction into *args; st is NULL before the first FROM. */
int builder_declare_args(struct builder *b, const struct builder_instr *in, struct stage *st,
			 char ***args, struct strbuf *desc, struct cairn_error *err);
/* HTTP_PROXY and the other predefined build args; NULL-terminated. */
extern const char *const builder_proxy_args[];
/* The proxy build args (--build-arg HTTP_PROXY=...) set in *vars: a value given in
 * either spelling sets both, as BuildKit's proxy settings do; names in declared (a
 * stage's ARGs, may be NULL) or already in *vars are left alone. RUN steps get them
 * without an ARG (undeclared, they stay out of the history and the key: they say
 * how to reach the network, not what to build), and so do ADD's downloads. */
void builder_proxy_env(struct builder *b, char *const *declared, char ***vars);
/* b->build_args from the --build-arg options ("K" alone: from the environment). */
int builder_resolve_build_args(struct builder *b, struct cairn_error *err);
/* Warns about each --build-arg no ARG declared (the predefined ones aside). */
void builder_warn_unused_args(struct builder *b);
/* The automatic platform ARGs of the global scope, as buildkit defines them. */
void builder_add_platform_args(struct builder *b);

/* ---- plan.c: stages ---- */

/* b->instrs: every instruction of b->recipe parsed (a failed parse is kept in it). */
void builder_parse_instrs(struct builder *b);

/* An earlier stage (index below before) named by name (case-insensitive) or, when
 * by_index, by number; NULL when none. */
struct stage *builder_find_stage(struct builder *b, const char *name, size_t before, bool by_index);
/* The --build-context named name (case-insensitively, as stage names), or NULL. */
const struct builder_named_context *builder_named_context(struct builder *b, const char *name);
/* Splits the recipe into stages, runs the global ARGs, and finds what each stage
 * reads from the others. */
int builder_plan_stages(struct builder *b, struct cairn_error *err);
/* The stage --target names, else the last. */
int builder_choose_target(struct builder *b, struct stage **out, struct cairn_error *err);
/* Marks st and every stage it reads (through its dependencies) as needed. */
void builder_mark_needed(struct builder *b, struct stage *st);

/* ---- stages.c ---- */

/* An error whole (code, kind, message, place) as {"error": {...}}, for a child
 * process's report to its parent. */
json_t *builder_error_to_json(const struct cairn_error *err);
/* The error of such a report into err (returned, negative); 1 when j holds none. */
int builder_error_from_json(const json_t *j, struct cairn_error *err);

/* Builds every stage the plan marked needed, independent ones at the same time. */
int builder_run_stages(struct builder *b, struct cairn_error *err);

/* ---- build.c: a builder's life ---- */

/* A builder for opts o on store s (NULL for one that only plans and keys steps, as a
 * test does); SOURCE_DATE_EPOCH unset, no build args yet. */
void builder_init(struct builder *b, struct store *s, const struct builder_opts *o);
/* Takes the recipe text (copied unless it is b->text) named name, and parses it. */
int builder_set_recipe(struct builder *b, const char *name, const char *text, size_t len,
		       struct cairn_error *err);
/* The plan: global and platform ARGs, every instruction parsed, the stages and what
 * each reads, the target (*target) and the stages it needs. No store is touched. */
int builder_plan(struct builder *b, struct stage **target, struct cairn_error *err);
void builder_release(struct builder *b);

/* ---- image.c: images and other stages as sources ---- */

/* The registry options of the build (--tls-verify, --cert-dir), with its progress. */
struct registry_opts builder_registry_opts(const struct builder *b);
/* The image name names (FROM, --from): from the store, pulled first as --pull says. */
int builder_load_image(struct builder *b, const char *name, struct oci_image *img,
		       struct cairn_error *err);
/* Notes that the build read the image name as digest, for the report (once each). */
void builder_record_base(struct builder *b, const char *name, const char *digest);
/* Records the digest of context sources a step read (builder_report.context_digest). */
void builder_record_input(struct builder *b, const char *digest);
/* Resolves from (an earlier stage's name or index, else an image reference in the
 * store) as docker does and mounts its root read-only at out->path. Call
 * builder_source_close afterwards, also when it failed. */
int builder_source_open(struct builder *b, struct stage *st, const struct recipe_instr *in,
			const char *from, struct builder_source *out, struct cairn_error *err);
void builder_source_close(struct builder_source *src);
/* The content digest (context_digest) of the sources s[0..n) of src, read through
 * ctx (a context over src->path), as BuildKit keys what a step takes from another
 * stage or image: a change elsewhere in that stage does not move it. Remembered in
 * the store's cache under src->layers and the paths, so only a source with new
 * layers is read again. */
int builder_source_digest(struct builder *b, const struct builder_source *src,
			  struct build_context *ctx, const struct context_source *s, size_t n,
			  char digest[DIGEST_LEN], struct cairn_error *err);

/* ---- from.c ---- */

/* FROM: the stage starts from scratch, an earlier stage, or an image in the store. */
int builder_exec_from(struct builder *b, struct stage *st, const struct builder_instr *in,
		      struct cairn_error *err);

/* ---- meta.c: metadata instructions ---- */

/* A metadata instruction applied to the stage's config, with its history text and
 * key in *sp (release it either way); no cache, no store. */
int builder_metadata_prepare(struct builder *b, struct stage *st, const struct builder_instr *in,
			     struct step *sp, struct cairn_error *err);
int builder_exec_metadata(struct builder *b, struct stage *st, const struct builder_instr *in,
			  struct cairn_error *err);
/* WORKDIR sets the config and, as buildkit, creates the directory (owned by USER)
 * when the image lacks it; that makes a layer. */
int builder_exec_workdir(struct builder *b, struct stage *st, const struct builder_instr *in,
			 struct cairn_error *err);
int builder_apply_env(struct builder *b, struct stage *st, const struct builder_instr *in,
		      struct strbuf *by, struct cairn_error *err);
int builder_apply_label(struct builder *b, struct stage *st, const struct builder_instr *in,
			struct strbuf *by, struct cairn_error *err);
int builder_apply_maintainer(struct builder *b, struct stage *st, const struct builder_instr *in,
			     struct strbuf *by, struct cairn_error *err);
int builder_apply_expose(struct builder *b, struct stage *st, const struct builder_instr *in,
			 struct strbuf *by, struct cairn_error *err);
int builder_apply_volume(struct builder *b, struct stage *st, const struct builder_instr *in,
			 struct strbuf *by, struct cairn_error *err);
int builder_apply_user(struct builder *b, struct stage *st, const struct builder_instr *in,
		       struct strbuf *by, struct cairn_error *err);
int builder_apply_workdir(struct builder *b, struct stage *st, const struct builder_instr *in,
			  struct strbuf *by, struct cairn_error *err);
int builder_apply_stopsignal(struct builder *b, struct stage *st, const struct builder_instr *in,
			     struct strbuf *by, struct cairn_error *err);
/* CMD and ENTRYPOINT */
int builder_apply_command(struct builder *b, struct stage *st, const struct builder_instr *in,
			  struct strbuf *by, struct cairn_error *err);
int builder_apply_shell(struct builder *b, struct stage *st, const struct builder_instr *in,
			struct strbuf *by, struct cairn_error *err);
int builder_apply_arg(struct builder *b, struct stage *st, const struct builder_instr *in,
		      struct strbuf *by, struct cairn_error *err);
int builder_apply_healthcheck(struct builder *b, struct stage *st, const struct builder_instr *in,
			      struct strbuf *by, struct cairn_error *err);

/* ---- onbuild.c ---- */

/* The trigger as docker stores it in OnBuild: the wrapped instruction as written,
 * then each heredoc's body and delimiter, so the text parses again the same way.
 * Caller frees. */
char *builder_onbuild_expression(const struct recipe_instr *in);
/* Parses one trigger with the recipe parser's checks (behind a "FROM scratch" line,
 * since they want one first). On success *rc is new and (*rc)->instrs[1] is the
 * trigger; else returns -EINVAL and *why says what is wrong (caller frees). */
int builder_onbuild_parse(const char *text, struct recipe **rc, char **why);
/* ONBUILD INSTRUCTION: appends the trigger to the config's OnBuild. */
int builder_apply_onbuild(struct builder *b, struct stage *st, const struct builder_instr *in,
			  struct strbuf *by, struct cairn_error *err);
/* Runs the ONBUILD triggers of the stage's base image (its config's OnBuild), in
 * order, as if written right after from, and removes OnBuild from the config. Call it
 * at the end of FROM. A trigger's error reads "FROM: ONBUILD trigger `RUN ...`: ...",
 * located at the FROM. */
int builder_run_onbuild_triggers(struct builder *b, struct stage *st,
				 const struct builder_instr *from, struct cairn_error *err);

/* ---- duration.c: Go's durations ---- */

#define NS_PER_US INT64_C(1000)
#define NS_PER_MS INT64_C(1000000)
#define NS_PER_S INT64_C(1000000000)
/* builder_duration_parse: in builder.h (cairn prune reads durations too) */
/* Go's Duration.String: "1m30s", "1.5s", "500ms", "0s". Caller frees. */
char *builder_duration_string(int64_t d);

/* ---- mounts.c: a RUN's mounts on the host ---- */

/* The mounts of a RUN step: what they are, and what they hold while it runs. */
struct run_plan {
	struct builder_mount *m;
	size_t n;
	struct builder_source *src; /* one per mount; used for from= */
	/* while the step runs */
	char *tmp;  /* private dir in the store's tmp: rw overlays, copies */
	char *priv; /* tmp/private: a tmpfs for secrets and scripts, when it could be mounted */
	bool priv_mounted;
	struct sandbox_mount *sm;
	size_t n_sm;
	char **strs;	 /* strings sm points to */
	char **overlays; /* merged dirs of rw overlays to unmount */
	int fds[64];	 /* O_PATH fds named by /proc/self/fd sources */
	size_t n_fds;
	int locks[64]; /* flocked cache lock files */
	size_t n_locks;
	char **env; /* secrets as variables: "NAME=value" */
};

void builder_run_plan_release(struct run_plan *p);
/* The --mount flags of in, parsed again with the stage's variables into p. */
int builder_run_plan_parse(struct builder *b, struct stage *st, const struct builder_instr *in,
			   const char *cwd, struct run_plan *p, struct cairn_error *err);
/* The part of the cache key the mounts make: what they are, and for binds the
 * digest of what they show. Cache contents and secret values are not in it. */
int builder_run_plan_key(struct builder *b, struct stage *st, const struct builder_instr *in,
			 struct run_plan *p, json_t **out, struct cairn_error *err);
/* Everything the mounts need on the host, and the sandbox mounts that show it. */
int builder_run_plan_prepare(struct builder *b, const struct builder_instr *in, struct run_plan *p,
			     const char *script, const char *script_path, struct cairn_error *err);

/* ---- run.c ---- */

/* A RUN step as its key sees it: what it runs, with what, where. */
struct run_step {
	char **argv;
	char **env;	  /* the stage's ENV and declared ARGs (not proxies, not secrets) */
	const char *user; /* borrowed from the stage's config */
	const char *cwd;
	enum sandbox_network net;
	char *script, *script_path; /* a heredoc with "#!", mounted and run */
	struct run_plan plan;
	struct step sp; /* its history text and key */
};

/* Everything a RUN step is, expanded, with its key: no sandbox, no store. */
int builder_run_prepare(struct builder *b, struct stage *st, const struct builder_instr *in,
			struct run_step *rs, struct cairn_error *err);
void builder_run_step_release(struct run_step *rs);
int builder_exec_run(struct builder *b, struct stage *st, const struct builder_instr *in,
		     struct cairn_error *err);

/* ---- ssh.c ---- */

/* The agent socket --ssh gives id (a new string: "default" alone means
 * $SSH_AUTH_SOCK), or NULL when no --ssh names it. */
char *builder_ssh_socket(struct builder *b, const char *id);

/* ---- secrets.c ---- */

/* The value of --secret id=ID: a file's content (src=) or a variable's (env=); an id
 * alone names a variable, as buildx. *found false when no --secret gives the id.
 * Messages never hold a value. */
int builder_secret_value(struct builder *b, const char *id, char **data, size_t *len, bool *found,
			 struct cairn_error *err);

/* ---- copy.c ---- */

/* ---- remote.c: ADD's remote sources ---- */

struct builder_remote {
	char digest[DIGEST_LEN]; /* the content, a blob of the store */
	int64_t mtime;		 /* from Last-Modified; -1 when the server gave none */
	bool downloaded;	 /* this build fetched it (not a 304, not by --checksum) */
};
/* The content of url (http or https) as a blob of the store, revalidated against the
 * copy kept from an earlier build; checksum (may be NULL) must be its digest. */
int builder_fetch_url(struct builder *b, const char *url, const char *checksum,
		      struct builder_remote *out, struct cairn_error *err);

/* One thing to write: a matched source or a heredoc. */
/* ---- git.c: git repositories as ADD's sources ---- */

struct builder_git {
	char *url;
	char *ref;	 /* branch, tag or commit; NULL: the remote's HEAD */
	char *subdir;	 /* clean, relative; NULL: the whole tree */
	char commit[41]; /* what ref resolved to */
};
/* URL[#REF[:SUBDIR]] as BuildKit splits it; -EINVAL naming word when it is not. */
int builder_git_parse(const char *word, struct builder_git *g, struct cairn_error *err);
/* Fills g->commit: REF (or HEAD) resolved with git ls-remote, exact names only, a
 * tag's commit rather than the tag; a 40-hex REF is taken as the commit itself. */
int builder_git_resolve(struct builder *b, struct builder_git *g, struct cairn_error *err);
/* Fetches g->commit into a new temp dir of the store (*tmp, to remove) and checks it
 * out at *root; .git is removed unless keep_git_dir. */
int builder_git_checkout(struct builder *b, const struct builder_git *g, bool keep_git_dir,
			 char **tmp, char **root, struct cairn_error *err);
void builder_git_release(struct builder_git *g);

struct copy_item {
	struct context_source src; /* path NULL for a heredoc */
	char *dest;		   /* where it goes */
	bool dest_is_dir;
	const char *doc_name; /* heredoc: file name and content (expanded) */
	char *doc;
	char *url; /* ADD of a URL: it, and its content (builder_fetch_url) */
	struct builder_remote remote;
	bool is_git; /* ADD of a git repository: which commit */
	struct builder_git git;
};

struct copy_plan {
	bool is_add, parents, link;
	bool no_unpack; /* ADD --unpack=false: local archives are copied as they are */
	bool unpack;	/* ADD --unpack=true: a URL's archive is extracted too */
	bool keep_git_dir;
	char *from;  /* --from, expanded */
	char *chown; /* expanded */
	char *chmod; /* expanded */
	int mode;
	bool symbolic;
	char **excludes;
	char **paths; /* source words, expanded */
	char *dest_raw, *dest;
	bool dest_is_dir;
	struct copy_item *items;
	size_t n_items;
	struct builder_source src; /* --from */
	struct build_context *ctx; /* b->ctx, or one opened on src.path */
	bool own_ctx;
	struct step sp; /* the step: its history text and key */
};

/* Everything a COPY/ADD step is, expanded and matched, with its key. */
int builder_copy_prepare(struct builder *b, struct stage *st, const struct builder_instr *in,
			 struct copy_plan *p, struct cairn_error *err);
void builder_copy_plan_release(struct copy_plan *p);
int builder_exec_copy(struct builder *b, struct stage *st, const struct builder_instr *in,
		      struct cairn_error *err);

/* ---- cache-registry.c: the build cache in a registry ---- */

/* Reads the records of the --cache-from caches into b->remote. A cache that cannot
 * be read is a warning: a first build has none. */
void builder_cache_import(struct builder *b);
/* The record for key from the imported caches, its layer blob downloaded and the
 * record kept in the local cache; NULL when there is none usable. Caller frees. */
char *builder_cache_remote(struct builder *b, const char *key);
/* Pushes the records (and layers) of this build's steps — the final stage's, or every
 * built stage's with cache_to_max — as an OCI artifact to --cache-to. */
int builder_cache_export(struct builder *b, struct stage *final, struct cairn_error *err);

#endif
