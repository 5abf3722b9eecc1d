/* builder: the planner and executors. Turns a parsed recipe into an image in the
 * store: ARG/ENV expansion, a cache key per step, and the executor of each
 * instruction (FROM, COPY/ADD from the build context, RUN in the sandbox, and the
 * metadata instructions). */
#ifndef CAIRN_BUILDER_H
#define CAIRN_BUILDER_H

#include "../diff/diff.h"
#include "../layer/layer.h"
#include "../registry/registry.h"
#include "../sandbox/sandbox.h"
#include "../store/store.h"

/* When FROM and --from images are pulled (docker's --pull policies). */
enum builder_pull {
	BUILDER_PULL_MISSING, /* when the store does not have the image */
	BUILDER_PULL_ALWAYS,  /* every time, for the newest the tag names */
	BUILDER_PULL_NEVER,   /* never: a missing image is an error */
};

/* A RUN step that failed, while its root is still mounted and its mounts exist
 * (cairn build --on-error): what a shell in it, or a container kept of it, needs. */
struct builder_failed_step {
	const struct sandbox_spec *spec; /* how it ran: root, env, cwd, user, mounts, network */
	const char *location;		 /* "Recipe:4" */
	const char *instruction;	 /* the instruction, one line */
	int status;			 /* its exit status; -1 when it could not start */
	/* with on_error_image: the manifest digest (in the store, untagged) of the stage's
	 * image plus what the step changed before it failed, as one more layer; NULL when
	 * it could not be written (the root is no overlay: the error says why) */
	const char *image;
	const struct cairn_error *image_error;
};
/* Called by the builder with the failed step; the build still fails after it. */
typedef void (*builder_on_error_fn)(void *ctx, const struct builder_failed_step *f);

/* ---- progress: what the build reports while it runs (report.c) ---- */

enum builder_event_kind {
	BUILDER_EVENT_MESSAGE, /* a line for the user: a warning, a pull, a note */
	/* a step begins; a RUN step the cache lacks begins once more, as it runs,
	 * with plain's line for it */
	BUILDER_EVENT_STEP_START,
	BUILDER_EVENT_STEP_CACHED, /* a step was done by a cached result */
	BUILDER_EVENT_STEP_DONE,   /* a step is done */
	BUILDER_EVENT_STEP_FAILED, /* a step failed; the build fails */
};
struct builder_event {
	enum builder_event_kind kind;
	/* the line plain progress prints for it (ending in a newline), or NULL */
	const char *text;
	size_t step;		 /* the instruction's 1-based index in the recipe; 0: none */
	size_t n_steps;		 /* how many instructions the recipe has */
	const char *instruction; /* the step's instruction as one line, or NULL */
	const char *key;	 /* CACHED, DONE: the step's cache key, or NULL */
	const char *error;	 /* FAILED: what went wrong, or NULL */
	double time;		 /* when, in seconds since 1970 */
	double duration;	 /* DONE, FAILED: how long the step took, in seconds */
};
/* Where a build's progress goes. Both calls may come from a forked child of the
 * build's process (stages built at once, each in its own), so they may only write
 * to file descriptors, never change the caller's memory. */
struct builder_progress {
	void (*event)(void *ctx, const struct builder_event *ev);
	/* a new fd for the output of the RUN step `step` (the builder closes it), or -1:
	 * the output is kept aside and its end quoted when the step fails */
	int (*output)(void *ctx, size_t step);
	void *ctx;
};

/* --build-context NAME=...: what FROM NAME, COPY --from=NAME and RUN
 * --mount=from=NAME read instead of a stage or image of that name (it wins over a
 * stage of the recipe, as in BuildKit): an image (a reference the store finds,
 * "name@sha256:..." too) or a local directory. */
struct builder_named_context {
	const char *name;
	const char *image; /* or NULL */
	const char *dir;   /* or NULL */
};

struct builder_opts {
	const char *context_dir; /* the build context */
	const char *recipe_path; /* NULL: CONTEXT/Recipe, then CONTEXT/Dockerfile */
	/* the recipe itself (-f -, read from stdin): recipe_path is then its name in
	 * messages */
	const char *recipe_text;
	size_t recipe_len;
	/* the context is a temp dir unpacked for this build (a tar context): it keeps
	 * no stat cache, which would only push out those of real directories */
	bool context_unpacked;
	char **labels;		/* --label "K=V": the final image's, after the recipe's */
	char **annotations;	/* --annotation "K=V": on the final image's manifest */
	char **no_cache_stages; /* --no-cache-filter: stages whose steps ignore the cache */
	bool squash;		/* --squash: the final image's new layers become one */
	const struct builder_named_context *named_contexts;
	size_t n_named_contexts;
	char **tags;	   /* normalized references to tag the result with */
	char **build_args; /* "K=V" or "K" (value from the environment) */
	char **secrets;	   /* --secret specs as given: "id=ID,src=PATH", "id=ID,env=VAR" */
	bool no_cache;
	enum sandbox_network network;
	/* the build named no network: network is what this system has for private
	 * (host in a container without /dev/net/tun), and steps are keyed as private */
	bool network_defaulted;
	enum layer_compression compression;
	const char *target; /* stage to build (--target); NULL: the last */
	/* where registry pulls and --verify's rebuilds print their progress, and,
	 * without events, the build's progress and step output; NULL for none (-q) */
	FILE *progress;
	const struct builder_progress *events; /* the build's progress, or NULL */
	enum builder_pull pull;
	const struct registry_opts *registry; /* for pulls and the registry cache */
	char **cache_from;	    /* references of build caches in a registry to reuse */
	const char *cache_to;	    /* where to push this build's cache, or NULL */
	bool cache_to_max;	    /* every stage's steps, not only the final image's */
	bool cache_to_ignore_error; /* a failed export is a warning */
	/* SOURCE_DATE_EPOCH given by the caller (--source-date-epoch), which overrides
	 * the environment's */
	bool source_date_epoch_set;
	int64_t source_date_epoch;
	/* --timestamp (buildah's): every file time and created date is this */
	bool timestamp_set;
	int64_t timestamp;
	struct builder_report *report; /* filled in when non-NULL (builder_report_release) */
	/* no SOURCE_DATE_EPOCH given (opts or environment): use the newest mtime of the
	 * files the build reads, the recipe and the context after .dockerignore
	 * (--verify), and say so on progress */
	bool source_date_epoch_from_inputs;
	/* the hostname RUN steps see (--hostname; part of their keys, as in BuildKit's
	 * exec op); NULL: "cairn". A rebuild of --verify varies it with hostname_varied,
	 * which keeps it out of the keys. */
	const char *hostname;
	bool hostname_varied;
	/* a failed RUN step is handed to on_error first (--on-error); with
	 * on_error_image its state is written as an image */
	builder_on_error_fn on_error;
	void *on_error_ctx;
	bool on_error_image;
	/* what every RUN step gets: --add-host, --shm-size, --ulimit, --memory,
	 * --cpu-quota (sandbox_spec says what each means); --allow security.insecure
	 * lets RUN --security=insecure run; --ssh: "default" or "ID=SOCKET" */
	char **add_hosts;
	uint64_t shm_size;
	struct sandbox_ulimit *ulimits;
	size_t n_ulimits;
	uint64_t memory;
	int64_t cpu_quota;
	bool allow_insecure;
	bool allow_network_host; /* --allow network.host: RUN --network=host may run */
	char **ssh;
};

/* Checks one --ssh value ("default", "ID" or "ID=SOCKET"): the socket exists and is
 * one; an error naming spec otherwise. */
int builder_ssh_check(const char *spec, struct cairn_error *err);

/* What a build did: enough to rebuild it (provenance) and to tell which step made
 * which layer (--verify). */
struct builder_report_step {
	int line;	   /* of the instruction in the recipe */
	char *stage;	   /* the stage's name, or its index as text */
	char *instruction; /* as builder progress shows it: one line */
	char key[DIGEST_LEN];
	bool cached;
	long layer; /* the 0-based index of its layer in the final image, or -1 */
};
struct builder_report_base {
	char *name; /* as FROM named it (after ARG expansion) */
	char digest[DIGEST_LEN];
};
struct builder_report {
	char *recipe;			/* its path as given or found */
	char recipe_digest[DIGEST_LEN]; /* sha256 of its bytes */
	/* what the build read from its context: sha256 over the digests of the
	 * context sources of its COPY/ADD steps and RUN bind mounts (those their cache
	 * keys hold: each covers the matched entries' paths, types, modes, link targets
	 * and contents), sorted, one per line. Files the build does not read do not
	 * change it, and it costs nothing the build does not already do. */
	char context_digest[DIGEST_LEN];
	int64_t source_date_epoch; /* -1: none */
	char **build_args;	   /* "K=V" the recipe declared and the build was given */
	char *target;		   /* the stage built, or NULL */
	/* images FROM, COPY --from and RUN --mount from= read, resolved; sorted by name */
	struct builder_report_base *bases;
	size_t n_bases;
	struct builder_report_step *steps; /* the final image's steps, in order */
	size_t n_steps;
	long n_base_layers; /* layers the final image has from its base image */
};
void builder_report_release(struct builder_report *r);
/* The step whose layer is the final image's layer index (0-based), or NULL when a
 * base image made it (index < n_base_layers) or no step did. */
const struct builder_report_step *builder_report_layer_step(const struct builder_report *r,
							    long layer);

/* ---- rebuilding from nothing (verify.c): --verify and cairn verify ---- */

/* One rebuild: the image it made, in the temporary store it made it in. */
struct builder_rebuild {
	char digest[DIGEST_LEN];	 /* the rebuilt image's manifest digest */
	struct store *store;		 /* the temporary store, open (for diff_images) */
	char *root;			 /* its path */
	bool tmpfs;			 /* it is on a tmpfs cairn mounted */
	char *varied;			 /* what this rebuild varied, one line for the user */
	char context_digest[DIGEST_LEN]; /* what it read from the context (as the report's) */
};

/* Builds again, from nothing, what a build of opts did: in a new empty store (no
 * cache, empty cache mounts) holding only the base images report->bases names,
 * copied by digest from the store `from` and tagged with the names the recipe used,
 * never pulled; with report's SOURCE_DATE_EPOCH (when it had one) and opts' other
 * settings (tags, pushes, --cache-from/to and the report are left out). The rebuild
 * runs in a child process under the conditions of variation (0, 1, ...: another
 * store path and filesystem, a later second of the wall clock, TZ, umask, the
 * hostname of RUN steps and the builder, LANG/LC_ALL, fewer CPUs: see
 * cairn-build(1), REPRODUCIBILITY). On success *out holds the digest and the open
 * temporary store; builder_rebuild_release removes it, which the caller must call in
 * every case (also after a failure: nothing is left then). */
int builder_rebuild(const struct builder_opts *opts, const struct builder_report *report,
		    struct store *from, unsigned variation, struct builder_rebuild *out,
		    struct cairn_error *err);
/* Closes and removes the temporary store (unmounting its tmpfs); out may be zeroed. */
void builder_rebuild_release(struct builder_rebuild *rb);

/* Compares the first build's image (first_digest in first) with the rebuild's under
 * strict diff_opts, writing the differences as cairn diff's table to out (NULL:
 * none); *count gets how many there were and *first_layer the lowest layer index any of
 * them is in (-1: none is in a layer). */
int builder_rebuild_diff(struct store *first, const char *first_digest,
			 const struct builder_rebuild *rb, FILE *out, size_t *count,
			 long *first_layer, struct cairn_error *err);

/* ---- provenance (provenance.c): how an image was made, attached to it ---- */

/* The buildType of cairn's statements (cairn-build(1), PROVENANCE). */
#define BUILDER_PROVENANCE_BUILD_TYPE "urn:cairn:build-type:recipe:v1"
/* The builder.id of cairn's statements. */
#define BUILDER_PROVENANCE_BUILDER_ID "urn:cairn:builder"
/* The mediaType of the byproducts that are the final image's steps. */
#define BUILDER_PROVENANCE_STEP_TYPE "application/vnd.cairn.step.v1+json"

/* The SLSA v1 provenance statement (in-toto v1, canonical JSON; a new string) of the
 * image digest a build of o made, from its report rp; started and finished are when
 * the build ran (seconds since 1970). */
char *builder_provenance_statement(const struct builder_opts *o, const struct builder_report *rp,
				   const char *digest, int64_t started, int64_t finished);
/* Attaches statement to the image digest in the store: an artifact manifest whose
 * subject is the image, recorded as its referrer. An image has one: the one it has
 * is kept when its buildDefinition is statement's (an unchanged rebuild: nothing
 * is written), else replaced. artifact gets the artifact manifest's digest. */
int builder_provenance_attach(struct store *s, const char *digest, const char *statement,
			      char artifact[DIGEST_LEN], struct cairn_error *err);
/* The statement attached to the image digest in the store (caller frees);
 * -ENOENT when there is none. */
int builder_provenance_find(struct store *s, const char *digest, char **statement, size_t *len,
			    struct cairn_error *err);

/* A statement read back: what a rebuild needs. */
struct builder_provenance {
	char subject[DIGEST_LEN]; /* the image's manifest digest */
	/* recipe (its path relative to the context), recipe and context digests, build
	 * args, target, SOURCE_DATE_EPOCH, bases (name as FROM named it, digest), steps */
	struct builder_report report;
	enum sandbox_network network;
	bool network_defaulted;
	enum layer_compression compression;
	bool timestamp_set;
	int64_t timestamp;
	char *platform; /* "linux/amd64" */
	char *version;	/* cairn's version that built it */
};
/* Parses a statement builder_provenance_statement wrote; -EBADMSG naming what is
 * missing or wrong. Release with builder_provenance_release (also after a failure). */
int builder_provenance_parse(const char *text, size_t len, struct builder_provenance *out,
			     struct cairn_error *err);
void builder_provenance_release(struct builder_provenance *p);

/* Builds the recipe; on success the image's manifest digest is in digest and every
 * tag points to it. On failure nothing is tagged and no temp state is left. */
int builder_run(struct store *s, const struct builder_opts *opts, char digest[DIGEST_LEN],
		struct cairn_error *err);

/* The recipe of a directory: DIR/Recipe, else DIR/Dockerfile, the first that exists
 * (a new string); NULL when neither does. */
char *builder_recipe_in(const char *dir);
/* Reads the recipe at path whole (a file or a pipe), refusing one of more than
 * RECIPE_MAX_SIZE bytes before it has read it all (a file by its size): that error
 * says so, is located at path and is of kind CAIRN_ERR_INVALID. Caller frees *text
 * (NUL-terminated; *len excludes the NUL). */
int builder_read_recipe(const char *path, char **text, size_t *len, struct cairn_error *err);

/* ---- checks without a build (lint.c) ---- */

struct recipe;
struct recipe_instr;

/* One problem lint found. */
struct builder_problem {
	int line;   /* of the instruction */
	bool error; /* the build would fail; else a warning */
	/* buildkit's check name where there is one; NULL for what the build itself
	 * refuses (msg is then the build's message) */
	const char *rule;
	const char *msg;
	const struct recipe_instr *instr;
};
typedef void (*builder_lint_fn)(void *ctx, const struct builder_problem *p);

/* Reports every problem in the parsed recipe (name is its file, for messages) to
 * report; returns how many there were. */
size_t builder_lint(const struct recipe *rc, const char *name, builder_lint_fn report, void *ctx);

/* Go's time.ParseDuration, in nanoseconds: "1m30s", "1.5h", "500ms", "-2s", "0";
 * on error returns -EINVAL and sets *why (Go's words; caller frees). HEALTHCHECK's
 * flags and cairn prune's --filter until= read durations with it. */
int builder_duration_parse(const char *s, int64_t *out, char **why);

#endif
