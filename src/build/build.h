/* build: the planner and executors. Turns a parsed recipe into an image in the
 * store: ARG/ENV expansion, a cache key per step, and the executor of each
 * instruction (FROM, COPY/ADD from the build context, RUN in the sandbox, and the
 * metadata instructions). */
#ifndef CAIRN_BUILD_H
#define CAIRN_BUILD_H

#include <sys/stat.h>

#include "../layer/layer.h"
#include "../registry/registry.h"
#include "../sandbox/sandbox.h"
#include "../store/store.h"

/* When FROM and --from images are pulled (docker's --pull policies). */
enum build_pull {
	BUILD_PULL_MISSING, /* when the store does not have the image */
	BUILD_PULL_ALWAYS,  /* every time, for the newest the tag names */
	BUILD_PULL_NEVER,   /* never: a missing image is an error */
};

struct build_opts {
	const char *context_dir; /* the build context */
	const char *recipe_path; /* NULL: CONTEXT/Recipe, then CONTEXT/Dockerfile */
	char **tags;		 /* normalized references to tag the result with */
	char **build_args;	 /* "K=V" or "K" (value from the environment) */
	char **secrets;		 /* --secret specs as given: "id=ID,src=PATH", "id=ID,env=VAR" */
	bool no_cache;
	enum sandbox_network network;
	enum layer_compression compression;
	const char *target; /* stage to build (--target); NULL: the last */
	FILE *progress;	    /* progress and step output; NULL for none (-q) */
	enum build_pull pull;
	const struct registry_opts *registry; /* for pulls and the registry cache */
	char **cache_from;    /* references of build caches in a registry to reuse */
	const char *cache_to; /* where to push this build's cache, or NULL */
	bool cache_to_max;    /* every stage's steps, not only the final image's */
	bool cache_to_ignore_error; /* a failed export is a warning */
};

/* Builds the recipe; on success the image's manifest digest is in digest and every
 * tag points to it. On failure nothing is tagged and no temp state is left. */
int build_run(struct store *s, const struct build_opts *opts, char digest[DIGEST_LEN],
	      struct cairn_error *err);

/* ---- checks without a build (lint.c) ---- */

struct recipe;
struct recipe_instr;

/* One problem lint found. */
struct build_problem {
	int line;	  /* of the instruction */
	bool error;	  /* the build would fail; else a warning */
	const char *rule; /* buildkit's check name where there is one */
	const char *msg;
	const struct recipe_instr *instr;
};
typedef void (*build_lint_fn)(void *ctx, const struct build_problem *p);

/* Reports every problem in the parsed recipe (name is its file, for messages) to
 * report; returns how many there were. */
size_t build_lint(const struct recipe *rc, const char *name, build_lint_fn report, void *ctx);

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
};

/* Copies one source into the root dirfd at dest (an absolute path inside that root;
 * dest_is_dir says it names a directory: sources go inside it). Directory sources
 * copy their contents. Paths are resolved beneath root_fd, so a symlink in the image
 * cannot send the copy elsewhere. */
int context_copy(struct build_context *c, const struct context_source *src, int root_fd,
		 const char *dest, bool dest_is_dir, const struct context_copy_opts *opts,
		 struct cairn_error *err);

/* mkdir -p of path beneath root_fd (symlinks resolved inside it); directories it
 * creates are 0755 and owned by uid:gid (-1: root). */
int context_mkdir(int root_fd, const char *path, int64_t uid, int64_t gid, struct cairn_error *err);

/* Opens path beneath root_fd (symlinks and ".." resolved inside it, as if root_fd were
 * "/"); returns the fd or a negative errno. No message: for callers that say what
 * the root is. */
int context_open_beneath(int root_fd, const char *path, int flags);

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

/* Applies a symbolic chmod (chmod(1) clauses: [ugoa]*[+-=][rwxXst]* or [+-=][ugo],
 * comma-separated) to mode (with its type bits, for X); -EINVAL when malformed. */
int context_chmod_apply(const char *spec, mode_t mode, mode_t *out);

/* Writes a new regular file (mode 0644 before opts->chmod) with data at dest beneath
 * root_fd, or at dest/name when dest names a directory; owners as context_copy. */
int context_write_file(int root_fd, const char *dest, bool dest_is_dir, const char *name,
		       const char *data, size_t len, int64_t mtime,
		       const struct context_copy_opts *opts, struct cairn_error *err);

#endif
