/* The commands: one file each (src/cmd-NAME.c), dispatched from main.c. Each gets
 * its own argv (argv[0] is the command name) and the store root chosen by the
 * global options, prints what it has to say and returns the exit status. */
#ifndef CAIRN_COMMANDS_H
#define CAIRN_COMMANDS_H

#include "oci/oci.h"
#include "registry/registry.h"
#include "store/store.h"

struct cmd_env {
	const char *root; /* store root */
};

int cmd_build(int argc, char **argv, const struct cmd_env *env);
int cmd_images(int argc, char **argv, const struct cmd_env *env);
int cmd_inspect(int argc, char **argv, const struct cmd_env *env);
int cmd_history(int argc, char **argv, const struct cmd_env *env);
int cmd_tag(int argc, char **argv, const struct cmd_env *env);
int cmd_rmi(int argc, char **argv, const struct cmd_env *env);
int cmd_pull(int argc, char **argv, const struct cmd_env *env);
int cmd_push(int argc, char **argv, const struct cmd_env *env);
int cmd_login(int argc, char **argv, const struct cmd_env *env);
int cmd_logout(int argc, char **argv, const struct cmd_env *env);
int cmd_lint(int argc, char **argv, const struct cmd_env *env);
/* Lints one recipe file, printing its problems; returns the exit status. */
int cmd_lint_file(const char *path);
int cmd_parse(int argc, char **argv, const struct cmd_env *env);
int cmd_diff(int argc, char **argv, const struct cmd_env *env);
int cmd_verify(int argc, char **argv, const struct cmd_env *env);
int cmd_run(int argc, char **argv, const struct cmd_env *env);
int cmd_ps(int argc, char **argv, const struct cmd_env *env);
int cmd_start(int argc, char **argv, const struct cmd_env *env);
int cmd_stop(int argc, char **argv, const struct cmd_env *env);
int cmd_logs(int argc, char **argv, const struct cmd_env *env);
int cmd_exec(int argc, char **argv, const struct cmd_env *env);
int cmd_rm(int argc, char **argv, const struct cmd_env *env);
int cmd_commit(int argc, char **argv, const struct cmd_env *env);
int cmd_volume(int argc, char **argv, const struct cmd_env *env);
int cmd_save(int argc, char **argv, const struct cmd_env *env);
int cmd_load(int argc, char **argv, const struct cmd_env *env);
int cmd_gc(int argc, char **argv, const struct cmd_env *env);
int cmd_prune(int argc, char **argv, const struct cmd_env *env);
int cmd_df(int argc, char **argv, const struct cmd_env *env);
int cmd_fsck(int argc, char **argv, const struct cmd_env *env);
/* The store's upkeep (cmd-gc.c): the roots gc keeps besides tags and records (the
 * containers' images); a store item kind's name for people. */
struct store_roots cmd_store_roots(struct store *s);
/* Opens the store, collects as o says (o->roots filled in) and prints what was taken:
 * cairn gc and cairn prune. The exit status. */
int cmd_gc_collect(const struct cmd_env *env, struct store_collect_opts *o, bool quiet);
const char *cmd_store_item_kind(enum store_item_kind k);
/* The build cache's budget for the collection after a build (CAIRN_GC, cairn/config.json
 * gc.keep-storage, else 10% of the store's filesystem); *off when CAIRN_GC=0. */
int cmd_gc_budget(const char *root, uint64_t *budget, bool *off, struct cairn_error *err);
/* When the build cache is over budget: prunes it, least recently used first, to
 * within it, and says so on stderr unless quiet. keep (the image the build made,
 * maybe untagged; "" for none) stays. Failures are reported, not fatal. */
void cmd_gc_after_build(struct store *s, uint64_t budget, bool quiet, const char *keep);

/* Shared by the commands (common.c). */
/* Prints "cairn: MESSAGE" to stderr, clears err and returns exit status 1. */
int cmd_fail(struct cairn_error *err);
/* Prints usage to stdout and returns true when argv asks for help (-h/--help). */
bool cmd_wants_help(int argc, char **argv, const char *usage);
/* What a command without options does first: for -h/--help, prints usage on stdout
 * and returns 0; when the number of arguments after the command's name is below min
 * or above max (max < 0: no limit), prints usage on stderr and returns 2; else
 * returns -1, and the command goes on. */
int cmd_begin(int argc, char **argv, const char *usage, int min, int max);
/* Opens the store for a command that only reads it but reads for a while (push,
 * save, diff): for writing when the caller may write it, so that what it reads is
 * leased and no gc takes it meanwhile; else read-only (nothing leased). */
int cmd_store_open_reading(const char *root, struct store **s, struct cairn_error *err);
/* Opens the store (read-only unless write) and loads the image a reference names
 * (tag, with :latest added when it has none, or a manifest digest). */
int cmd_load_image(const struct cmd_env *env, const char *ref, bool write, struct store **s,
		   struct oci_image *img, char **full_ref, struct cairn_error *err);

struct builder_rebuild;
struct builder_report;
/* After a rebuild (build --verify, cairn verify) gave another digest than digest (an
 * image of from): the differences on stdout, as cairn diff prints them, then on
 * stderr the recipe line of the step that made the first differing layer (report:
 * the first build's, or the provenance's). */
void cmd_show_rebuild_diff(struct store *from, const char *digest, const struct builder_rebuild *rb,
			   const struct builder_report *report);

/* Enters the sandbox (sandbox_enter) with the isolation named (NULL or "": $CAIRN_ISOLATION,
 * else auto) and prints its notice: what build, run and start do first. -EINVAL
 * with a message naming the value when it is not auto, oci, rootless or chroot. */
int cmd_sandbox_enter(const char *isolation, struct cairn_error *err);

/* cairn build's options for its RUN steps' sandbox (cmd-build-run.c): their
 * getopt_long entries, and what they fill in (owned by struct cmd_build_run). */
enum {
	CMD_OPT_ADD_HOST = 0x200,
	CMD_OPT_HOSTNAME,
	CMD_OPT_SHM_SIZE,
	CMD_OPT_ULIMIT,
	CMD_OPT_CPU_QUOTA,
	CMD_OPT_ALLOW,
	CMD_OPT_SSH,
};
/* clang-format off */
#define CMD_BUILD_RUN_OPTIONS \
	{"add-host", required_argument, NULL, CMD_OPT_ADD_HOST}, \
	{"hostname", required_argument, NULL, CMD_OPT_HOSTNAME}, \
	{"shm-size", required_argument, NULL, CMD_OPT_SHM_SIZE}, \
	{"ulimit", required_argument, NULL, CMD_OPT_ULIMIT}, \
	{"memory", required_argument, NULL, 'm'}, \
	{"cpu-quota", required_argument, NULL, CMD_OPT_CPU_QUOTA}, \
	{"allow", required_argument, NULL, CMD_OPT_ALLOW}, \
	{"ssh", required_argument, NULL, CMD_OPT_SSH}
/* clang-format on */
struct builder_opts;
struct cmd_build_run {
	char **add_hosts, **ssh;
	struct sandbox_ulimit *ulimits;
	size_t n_ulimits;
};
/* Applies getopt_long's answer c (arg: its optarg) to bo when it is one of those
 * options: 1; 0 when it is not; -1 after printing why arg is wrong. */
int cmd_build_run_option(int c, const char *arg, struct cmd_build_run *o, struct builder_opts *bo);
void cmd_build_run_release(struct cmd_build_run *o);
#define cleanup_build_run __attribute__((cleanup(cmd_build_run_release)))

/* Prints usage to stderr; returns 2, the exit status of a usage error. */
int cmd_usage_error(const char *usage);

/* cairn build's CONTEXT when it is - (stdin: a tar archive, or a recipe alone) or
 * a tar file (cmd-build-context.c): unpacked into a temp dir of the store, which
 * becomes bo->context_dir, and the recipe read from it into bo->recipe_text. A
 * directory is left as it is. */
struct builder_named_context;
struct cmd_build_context {
	char *tmp, *context, *recipe, *recipe_name;
	size_t recipe_len;
	/* --build-context */
	struct builder_named_context *named;
	size_t n_named;
	char **strings; /* what named points into */
};
int cmd_build_context_prepare(struct store *s, struct builder_opts *bo, struct cmd_build_context *c,
			      struct cairn_error *err);
/* --build-context NAME=VALUE (specs, as given) into bo->named_contexts: a
 * directory, docker-image://REF, or oci-layout://DIR[:TAG][@DIGEST], whose image is
 * copied into s first (checked as it is copied). Errors name the flag. */
int cmd_build_named_contexts(struct store *s, char *const *specs, struct builder_opts *bo,
			     struct cmd_build_context *c, struct cairn_error *err);
void cmd_build_context_release(struct cmd_build_context *c);
#define cleanup_build_context __attribute__((cleanup(cmd_build_context_release)))

/* cairn build's options for the image it makes and where its result is recorded
 * (cmd-build-image.c), and the buildx flags it refuses with why. */
enum {
	CMD_OPT_LABEL = 0x300,
	CMD_OPT_ANNOTATION,
	CMD_OPT_PLATFORM,
	CMD_OPT_NO_CACHE_FILTER,
	CMD_OPT_IIDFILE,
	CMD_OPT_METADATA_FILE,
	CMD_OPT_LOAD,
	CMD_OPT_BUILD_CONTEXT,
	CMD_OPT_SQUASH,
	CMD_OPT_SBOM,
	CMD_OPT_ATTEST,
	CMD_OPT_BUILDER,
	CMD_OPT_CGROUP_PARENT,
	CMD_OPT_CALL,
};
/* clang-format off */
#define CMD_BUILD_IMAGE_OPTIONS \
	{"label", required_argument, NULL, CMD_OPT_LABEL}, \
	{"annotation", required_argument, NULL, CMD_OPT_ANNOTATION}, \
	{"platform", required_argument, NULL, CMD_OPT_PLATFORM}, \
	{"no-cache-filter", required_argument, NULL, CMD_OPT_NO_CACHE_FILTER}, \
	{"iidfile", required_argument, NULL, CMD_OPT_IIDFILE}, \
	{"metadata-file", required_argument, NULL, CMD_OPT_METADATA_FILE}, \
	{"load", no_argument, NULL, CMD_OPT_LOAD}, \
	{"build-context", required_argument, NULL, CMD_OPT_BUILD_CONTEXT}, \
	{"squash", no_argument, NULL, CMD_OPT_SQUASH}
/* buildx flags cairn refuses, each with why: not options of cairn, so neither
 * --help nor completion offer them */
#define CMD_BUILD_REFUSED_BUILDX_FLAGS \
	{"sbom", required_argument, NULL, CMD_OPT_SBOM}, \
	{"attest", required_argument, NULL, CMD_OPT_ATTEST}, \
	{"builder", required_argument, NULL, CMD_OPT_BUILDER}, \
	{"cgroup-parent", required_argument, NULL, CMD_OPT_CGROUP_PARENT}, \
	{"call", required_argument, NULL, CMD_OPT_CALL}
/* clang-format on */
struct cmd_build_image {
	char **labels, **annotations, **no_cache, **build_contexts;
	const char *iidfile, *metadata_file;
};
/* Applies getopt_long's answer c (arg: its optarg) to bo when it is one of those
 * options: 1; 0 when it is not; -1 after printing why arg (or the flag) is refused. */
int cmd_build_image_option(int c, const char *arg, struct cmd_build_image *o,
			   struct builder_opts *bo);
/* After a build of digest tagged tags: --iidfile (the config digest, as buildx) and
 * --metadata-file (buildx's keys). */
int cmd_build_image_finish(struct store *s, const struct cmd_build_image *o, const char *digest,
			   char *const *tags, struct cairn_error *err);
void cmd_build_image_release(struct cmd_build_image *o);
#define cleanup_build_image __attribute__((cleanup(cmd_build_image_release)))

/* The options build, pull, push and login share: --tls-verify[=true|false],
 * --cert-dir DIR and (not login) -q, --quiet. A command lists CMD_REGISTRY_OPTIONS
 * (and CMD_QUIET_OPTION, with "q" among its short options) in its getopt_long table
 * and hands every option it does not handle itself to cmd_registry_option. */
enum { CMD_OPT_TLS_VERIFY = 0x100, CMD_OPT_CERT_DIR };
/* clang-format off */
#define CMD_REGISTRY_OPTIONS \
	{"tls-verify", optional_argument, NULL, CMD_OPT_TLS_VERIFY}, \
	{"cert-dir", required_argument, NULL, CMD_OPT_CERT_DIR}
#define CMD_QUIET_OPTION {"quiet", no_argument, NULL, 'q'}
/* clang-format on */
/* Their lines in a usage text (pull's and push's columns). */
#define CMD_REGISTRY_USAGE                                                                         \
	"  --tls-verify=false  do not check certificates; allow plain HTTP\n"                      \
	"                      (plain HTTP is always allowed for loopback)\n"                      \
	"  --cert-dir DIR      trust the CA certificates DIR/*.crt\n"
/* Applies getopt_long's answer c (arg: its optarg) to o: --tls-verify sets
 * tls_verify, --cert-dir cert_dir (borrowing arg), -q clears progress. Anything else
 * (an unknown option: '?') prints usage to stderr. 0, or -1 after a usage error on
 * stderr naming cmd (the caller exits with status 2). */
int cmd_registry_option(const char *cmd, int c, const char *arg, struct registry_opts *o,
			const char *usage);
/* Copies all of stdin to fd (a file named name, for messages); *total (may be NULL)
 * gets the bytes copied. SIGINT/SIGTERM stop it (-EINTR). What build - and load take
 * from stdin is spooled so that it can be read twice. */
int cmd_copy_stdin(int fd, const char *name, uint64_t *total, struct cairn_error *err);
/* Reads the recipe at path for a command that only looks at it (parse, lint), as the
 * build reads it: 0, or, with the error printed, the exit status: 1 for a recipe the
 * build refuses to read (a larger one than it takes), 2 for a file that cannot be read. */
int cmd_read_recipe(const char *path, char **text, size_t *len);
/* Prints FILE:LINE[:COLUMN]: MESSAGE to stderr, then that line of text and a caret
 * under the column (when known). */
void cmd_show_recipe_error(const char *file, const char *text, size_t len, int line, int column,
			   const char *msg);

struct transport_image;
/* pull and load (cmd-load.c): copies the image spec names (an archive or a layout)
 * into s and tags it with the names it has there (img->tags, after the copy). img is
 * opened here and left to the caller (its tags and count); digest gets the manifest's.
 * On error err says why; CAIRN_ERR_INVALID when what was given is malformed. */
int cmd_import_image(struct store *s, const char *spec, const struct registry_opts *o,
		     struct transport_image *img, char digest[DIGEST_LEN], struct cairn_error *err);

/* build -o/--output (output.c): what buildx's exporters do, after the build. */
enum cmd_output_type {
	CMD_OUTPUT_IMAGE,  /* the store (with name=, tags as -t) */
	CMD_OUTPUT_OCI,	   /* an oci-archive */
	CMD_OUTPUT_DOCKER, /* a docker archive (without dest: the store, as --load) */
	CMD_OUTPUT_TAR,	   /* the filesystem as one tar */
	CMD_OUTPUT_LOCAL,  /* the filesystem into a directory */
};
struct cmd_output {
	enum cmd_output_type type;
	char *dest;	   /* NULL: none; "-": stdout */
	char **names;	   /* name= (NULL-terminated) */
	char *compression; /* compression= as given, checked against the build's */
};
/* The -o outputs of a build, in the order given. */
struct cmd_outputs {
	struct cmd_output *v;
	size_t n;
	bool to_stdout; /* one of them writes to stdout: the digest goes to stderr */
};
/* Parses one -o SPEC (buildx's: "type=T[,dest=D][,KEY=V]…", "DIR", "-") and adds it.
 * A type=image or registry adds its names to *tags and push=true sets *push. -1 after
 * an error on stderr naming the flag and the key (exit status 2). */
int cmd_outputs_add(struct cmd_outputs *o, const char *spec, char ***tags, bool *push);
void cmd_outputs_freep(struct cmd_outputs *o);
#define cleanup_outputs __attribute__((cleanup(cmd_outputs_freep)))
/* Checks the -o list together with the build's options (one stdout, compression=
 * against --compression's name): -1 after an error on stderr. */
int cmd_output_check(const struct cmd_output *o, size_t n, const char *compression);
/* Writes the image digest of s as outs[i] (of the n given) says; tags are the build's,
 * whose -t (not another output's name=) name an archive without name=. */
int cmd_output_write(struct store *s, const struct cmd_output *outs, size_t n, size_t i,
		     const char *digest, char *const *tags, struct cairn_error *err);

#endif
