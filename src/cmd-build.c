/* cairn build: a recipe and a context directory to an image. */
#include "builder/builder.h"
#include "commands.h"
#include "progress.h"
#include "container/container.h"
#include "ref/ref.h"
#include "registry/registry.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char usage[] =
    "usage: cairn build [-f FILE] [-t REF]... [--build-arg K=V]... [--no-cache] [--target STAGE]\n"
    "                   [--check] [--secret id=ID,src=PATH|env=VAR]... [--network MODE]\n"
    "                   [--compression zstd|gzip|none] [--pull[=POLICY]] [--push]\n"
    "                   [--cache-from REF]... [--cache-to REF] [--tls-verify=false]\n"
    "                   [--cert-dir DIR] [--isolation auto|oci|rootless|chroot] [-q]\n"
    "                   [--source-date-epoch EPOCH] [--timestamp EPOCH] [--verify[=N]]\n"
    "                   [--provenance=true|false|mode=min|max]\n"
    "                   [--on-error=fail|shell|keep] [-o SPEC]... [--add-host HOST:IP]...\n"
    "                   [--hostname NAME] [--shm-size SIZE] [--ulimit TYPE=SOFT[:HARD]]...\n"
    "                   [-m|--memory SIZE] [--cpu-quota N] [--allow ENTITLEMENT]...\n"
    "                   [--ssh default|ID[=SOCKET]]... [--label K=V]...\n"
    "                   [--annotation [manifest:]K=V]... [--platform PLATFORM]\n"
    "                   [--no-cache-filter STAGE]... [--iidfile FILE]\n"
    "                   [--metadata-file FILE] [--load] [--build-context NAME=VALUE]...\n"
    "                   [--squash]\n"
    "                   [--progress auto|plain|tty|quiet|rawjson] CONTEXT|-|TARFILE\n"
    "\n"
    "Builds the recipe (default CONTEXT/Recipe, then CONTEXT/Dockerfile) into an image\n"
    "in the store, runs every RUN step in a namespace sandbox and tags the result.\n"
    "The image's manifest digest is printed on stdout; progress goes to stderr.\n"
    "\n"
    "  -f, --file FILE          the recipe (- reads it from stdin)\n"
    "  -t, --tag REF            tag the image (\":latest\" when REF has no tag); repeatable\n"
    "      --build-arg K[=V]    set a build argument (K alone: from the environment)\n"
    "      --no-cache           run every step; do not reuse cached layers\n"
    "      --target STAGE       build that stage (and what it needs), not the last\n"
    "      --check              check the recipe (as cairn lint) and build nothing\n"
    "      --secret SPEC        a secret for RUN --mount=type=secret: id=ID,src=FILE or\n"
    "                           id=ID,env=VAR (id=ID alone: variable ID); repeatable\n"
    "      --network MODE       the network of RUN steps: private (default: their own,\n"
    "                           outbound through slirp4netns, the host's loopback out\n"
    "                           of reach), none (only loopback) or host (this system's)\n"
    "      --compression ALGO   layer compression: zstd (default), gzip or none\n"
    "      --pull[=POLICY]      pull FROM images: missing (default: when the store\n"
    "                           lacks them), always (--pull alone) or never\n"
    "      --push               push the image to every -t REF's registry\n"
    "      --cache-from SPEC    reuse the steps of a build cache in a registry:\n"
    "                           type=registry,ref=REF or REF; repeatable\n"
    "      --cache-to SPEC      push this build's cache: type=registry,ref=REF\n"
    "                           [,mode=min|max] or REF (mode=max: every stage)\n"
    "      --tls-verify=false   registries: do not check certificates; plain HTTP\n"
    "      --cert-dir DIR       registries: trust the CA certificates DIR/*.crt\n"
    "      --isolation MODE     how RUN steps are isolated: auto (default: the strongest\n"
    "                           this system allows), oci (root: namespaces), rootless\n"
    "                           (a user namespace) or chroot (no namespace: inside an\n"
    "                           unprivileged container); default from $CAIRN_ISOLATION\n"
    "      --source-date-epoch EPOCH\n"
    "                           SOURCE_DATE_EPOCH for this build, over the environment's\n"
    "      --timestamp EPOCH    set every file time in the layers this build writes and\n"
    "                           every created date to EPOCH (buildah's --timestamp)\n"
    "      --verify[=N]         build, then build again from nothing N times (default\n"
    "                           1) under varied conditions and compare the digests;\n"
    "                           tag and push only when they agree (exit 1 otherwise)\n"
    "      --provenance=BOOL    attach an SLSA provenance statement to the image\n"
    "                           (default true; mode=min and mode=max mean true)\n"
    "      --on-error=MODE      when a RUN step fails: fail (default), shell (an\n"
    "                           interactive shell in the failed step's sandbox, on a\n"
    "                           terminal) or keep (keep its state as a container)\n"
    "  -o, --output SPEC        also write the image out after the build, as buildx:\n"
    "                           type=image[,name=REF][,push=true] (the store; name=\n"
    "                           as -t), type=oci,dest=FILE (an oci-archive),\n"
    "                           type=docker,dest=FILE (what docker load reads),\n"
    "                           type=tar,dest=FILE (the filesystem as a tar),\n"
    "                           type=local,dest=DIR (the filesystem into DIR); DIR\n"
    "                           alone is type=local, - a tar on stdout; repeatable\n"
    "      --add-host HOST:IP   add HOST to RUN steps' /etc/hosts (IP may be host-gateway);\n"
    "                           repeatable\n"
    "      --hostname NAME      the hostname of RUN steps (default cairn)\n"
    "      --shm-size SIZE      the size of RUN steps' /dev/shm (default 64m)\n"
    "      --ulimit TYPE=SOFT[:HARD]\n"
    "                           a resource limit of RUN steps (nofile, nproc, core, ...);\n"
    "                           repeatable\n"
    "  -m, --memory SIZE        limit RUN steps' memory (cgroup v2 memory.max)\n"
    "      --cpu-quota N        limit RUN steps to N microseconds of CPU per 100 ms\n"
    "                           (cgroup v2 cpu.max)\n"
    "      --allow ENTITLEMENT  allow RUN --security=insecure (security.insecure) or\n"
    "                           RUN --network=host (network.host); repeatable\n"
    "      --ssh SPEC           an ssh-agent for RUN --mount=type=ssh: default or ID\n"
    "                           ($SSH_AUTH_SOCK), or ID=SOCKET; repeatable\n"
    "      --progress MODE      how progress shows: auto (default: $BUILDKIT_PROGRESS,\n"
    "                           else tty on a terminal, else plain), plain (lines),\n"
    "                           tty (a live view of the running steps), quiet (as -q)\n"
    "                           or rawjson (a JSON event a line on stderr)\n"
    "      --label K=V          set a label on the image, after the recipe's; repeatable\n"
    "      --annotation [manifest:]K=V\n"
    "                           annotate the image's manifest; repeatable\n"
    "      --platform PLATFORM  the target platform: this system's (linux/ARCH or\n"
    "                           local); another is refused\n"
    "      --no-cache-filter STAGE\n"
    "                           run that stage's steps without the cache (a list\n"
    "                           or repeatable)\n"
    "      --iidfile FILE       write the image's config digest (its ID) to FILE\n"
    "      --metadata-file FILE write buildx's build metadata (JSON) to FILE\n"
    "      --load               accepted: the image goes into the store anyway\n"
    "      --build-context NAME=VALUE\n"
    "                           what FROM NAME, COPY --from=NAME and RUN mounts\n"
    "                           from=NAME read: a DIR, docker-image://REF or\n"
    "                           oci-layout://DIR[:TAG][@DIGEST]; repeatable\n"
    "      --squash             make the image's new layers (above its base image)\n"
    "                           one, as docker build --squash\n"
    "  -q, --quiet              print only the manifest digest\n"
    "  -h, --help               this help\n"
    "\n"
    "SOURCE_DATE_EPOCH, when set, clamps file times and sets every timestamp in the\n"
    "image, so the same inputs give the same digest.\n";

/* A --cache-from/--cache-to spec: buildx's "type=registry,ref=REF[,mode=min|max]"
 * or buildah's plain "REF" (mode max: buildah caches every layer). buildx's format
 * keys that describe what cairn writes anyway are accepted; ignore-error=true makes
 * a failed export a warning. */
static int cache_spec(const char *opt, const char *spec, char **ref, bool *max, bool *ignore)
{
	*ref = NULL;
	if (!strchr(spec, '=')) {
		*ref = xstrdup(spec);
		*max = true;
		return 0;
	}
	*max = false;
	for (const char *f = spec; *f;) {
		size_t n = strcspn(f, ",");
		cleanup_free char *field = xstrndup(f, n);
		f += n + (f[n] == ',');
		char *v = strchr(field, '=');
		if (!v)
			goto bad;
		*v++ = '\0';
		if (!strcmp(field, "type") && strcmp(v, "registry")) {
			fprintf(stderr, "cairn build: %s %s: only type=registry is supported\n",
				opt, spec);
			free(*ref);
			return -1;
		}
		if (!strcmp(field, "ref")) {
			free(*ref);
			*ref = xstrdup(v);
		} else if (!strcmp(field, "mode") && (!strcmp(v, "min") || !strcmp(v, "max"))) {
			*max = !strcmp(v, "max");
		} else if (!strcmp(field, "ignore-error") &&
			   (!strcmp(v, "true") || !strcmp(v, "false"))) {
			*ignore = !strcmp(v, "true");
		} else if (strcmp(field, "type") && strcmp(field, "image-manifest") &&
			   strcmp(field, "oci-mediatypes")) {
			goto bad;
		}
	}
	if (*ref && **ref)
		return 0;
bad:
	fprintf(stderr,
		"cairn build: %s %s: expected type=registry,ref=REF[,mode=min|max] or REF\n", opt,
		spec);
	free(*ref);
	*ref = NULL;
	return -1;
}

/* The ref of a --cache-from/--cache-to spec, checked before anything is built (as
 * buildx checks its flags): a bad one would show only once the build is done, and
 * not at all with ignore-error=true. A cache is pushed under a tag: its manifest's
 * digest is not known before the build. */
static int check_cache_ref(const char *opt, const char *spec, const char *ref, bool push)
{
	struct cairn_error err = CAIRN_ERROR_INIT;
	cleanup_ref struct ref r = {0};
	if (registry_ref_parse(ref, &r, &err) < 0) {
		fprintf(stderr, "cairn build: %s %s: %s\n", opt, spec, err.msg);
		cairn_error_clear(&err);
		return -1;
	}
	if (push && r.digest) {
		fprintf(stderr, "cairn build: %s %s: a cache is pushed to a tag, not a digest\n",
			opt, spec);
		return -1;
	}
	return 0;
}

/* A --secret spec as buildx takes it: key=value fields (id, src or source, env,
 * type=file|env), id required. The build reads the value when a RUN mounts it. */
static bool secret_spec_ok(const char *spec)
{
	bool id = false;
	for (const char *f = spec; *f;) {
		size_t n = strcspn(f, ",");
		const char *eq = memchr(f, '=', n);
		if (!eq)
			return false;
		size_t kn = (size_t)(eq - f);
		bool known = false;
		static const char *const keys[] = {"id", "src", "source", "env", "type"};
		for (size_t i = 0; i < 5; i++)
			known = known || (strlen(keys[i]) == kn && !strncmp(keys[i], f, kn));
		if (!known || eq + 1 == f + n)
			return false;
		size_t vn = n - kn - 1;
		if (kn == 4 && !strncmp(f, "type", 4) &&
		    !(vn == 4 && !strncmp(eq + 1, "file", 4)) &&
		    !(vn == 3 && !strncmp(eq + 1, "env", 3)))
			return false;
		id = id || (kn == 2 && !strncmp(f, "id", 2));
		f += n + (f[n] == ',');
	}
	return id;
}

/* ---- reproducibility: --source-date-epoch, --timestamp, --verify ---- */

/* A number of seconds since 1970, as SOURCE_DATE_EPOCH takes it. */
static int parse_epoch(const char *opt, const char *s, int64_t *out)
{
	char *end = NULL;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || !*s || *end || v < 0) {
		fprintf(stderr, "cairn build: %s %s: not a number of seconds since 1970\n", opt, s);
		return -1;
	}
	*out = v;
	return 0;
}

static void cleanup_reportp(struct builder_report *r)
{
	builder_report_release(r);
}
#define cleanup_report __attribute__((cleanup(cleanup_reportp)))

/* Tags digest (a manifest in s) with every tag. */
static int tag_image(struct store *s, const char *digest, char **tags, struct cairn_error *err)
{
	uint64_t size = 0;
	int r = store_blob_size(s, digest, &size, err);
	for (size_t i = 0; r == 0 && tags[i]; i++) {
		struct store_tag t = {
		    .ref = tags[i],
		    .digest = (char *)digest,
		    .media_type = (char *)MEDIA_TYPE_OCI_MANIFEST,
		    .size = (int64_t)size,
		};
		r = store_tag_set(s, &t, err);
	}
	return r;
}

/* --provenance: buildx's spellings; mode=min and mode=max both mean on (cairn's
 * statement is the same). */
static int parse_provenance(const char *s, bool *on)
{
	if (!strcmp(s, "true") || !strcmp(s, "1") || !strcmp(s, "mode=min") ||
	    !strcmp(s, "mode=max")) {
		*on = true;
		return 0;
	}
	if (!strcmp(s, "false") || !strcmp(s, "0")) {
		*on = false;
		return 0;
	}
	fprintf(stderr,
		"cairn build: --provenance=%s: expected true, false, mode=min or mode=max\n", s);
	return -1;
}

/* --verify[=N]: N rebuilds, at least one. */
static int parse_verify(const char *s, unsigned *n)
{
	if (!s) {
		*n = 1;
		return 0;
	}
	char *end = NULL;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || !*s || *end || v < 1 || v > 100 || *s == '-') {
		fprintf(stderr,
			"cairn build: --verify=%s: expected a number of rebuilds, 1 to 100\n", s);
		return -1;
	}
	*n = (unsigned)v;
	return 0;
}

/* The rebuilds of --verify after the first build (digest in s, its report rp): 0
 * when each gave digest, 1 when one did not (its differences and the step that
 * made the first differing layer printed), -1 on an error (printed). Every
 * temporary store is gone when it returns. */
static int verify_rebuilds(struct store *s, const struct builder_opts *bo,
			   const struct builder_report *rp, const char *digest, unsigned n,
			   bool quiet)
{
	for (unsigned i = 0; i < n; i++) {
		struct cairn_error err = CAIRN_ERROR_INIT;
		struct builder_rebuild rb = {0};
		if (!quiet)
			fprintf(stderr, "verify: rebuild %u of %u, from nothing\n", i + 1, n);
		int r = builder_rebuild(bo, rp, s, i, &rb, &err);
		if (r < 0) {
			builder_rebuild_release(&rb);
			cmd_fail(&err);
			return -1;
		}
		if (!strcmp(rb.digest, digest)) {
			if (!quiet)
				fprintf(stderr, "verify: rebuild %u gave %s\n", i + 1, rb.digest);
			builder_rebuild_release(&rb);
			continue;
		}
		/* the differences go to stdout, as cairn diff prints them */
		fprintf(stderr, "verify: rebuild %u gave %s, not %s\n", i + 1, rb.digest, digest);
		cmd_show_rebuild_diff(s, digest, &rb, rp);
		fprintf(stderr, "verify: not reproducible: nothing was tagged or pushed\n");
		builder_rebuild_release(&rb);
		return 1;
	}
	return 0;
}

/* --on-error: what happens to a failed RUN step before the build fails. */
enum on_error_mode { ON_ERROR_FAIL, ON_ERROR_SHELL, ON_ERROR_KEEP };
struct on_error {
	enum on_error_mode mode;
	struct store *s;
};

/* --on-error=shell: an interactive shell in the failed step's sandbox (its root,
 * mounts, env, user, working directory and network), on this terminal. */
static void failed_step_shell(const struct builder_failed_step *f)
{
	if (!isatty(0) || !isatty(2)) {
		fprintf(stderr,
			"cairn: %s: %s failed; no terminal for a shell in it (--on-error=shell "
			"needs one: use --on-error=keep)\n",
			f->location, f->instruction);
		return;
	}
	char *shell[] = {(char *)"/bin/sh", NULL};
	struct sandbox_io io = SANDBOX_IO_INIT;
	io.stdin_fd = 0;
	io.tty = true;
	io.term_fd = 0;
	io.forward_signals = true;
	struct sandbox_spec spec = *f->spec;
	spec.argv = shell;
	spec.stdout_fd = 2;
	spec.stderr_fd = 2;
	spec.io = &io;
	if (f->status >= 0)
		fprintf(stderr,
			"cairn: %s: %s failed with exit status %d; a shell in its sandbox (exit "
			"it to end the build)\n",
			f->location, f->instruction, f->status);
	else
		fprintf(stderr,
			"cairn: %s: %s could not start; a shell in its sandbox (exit it to end the "
			"build)\n",
			f->location, f->instruction);
	struct cairn_error err = CAIRN_ERROR_INIT;
	int status = 0;
	if (sandbox_run(&spec, &status, &err) < 0) {
		cairn_error_wrap(&err, "no shell in the failed step");
		cmd_fail(&err);
	}
}

/* --on-error=keep: a container of the failed step's state (the builder wrote it as
 * an image), with its env, user and working directory, whose command is a shell. */
static void failed_step_keep(struct store *s, const struct builder_failed_step *f)
{
	struct cairn_error err = CAIRN_ERROR_INIT;
	if (!f->image) {
		cleanup_free char *why =
		    f->image_error ? cairn_error_format(f->image_error) : xstrdup("no image of it");
		cairn_error_set(&err, EIO, "%s", why);
		cairn_error_wrap(&err, "%s: the failed step cannot be kept", f->location);
		cmd_fail(&err);
		return;
	}
	cleanup_oci_image struct oci_image img = {0};
	char *shell[] = {(char *)"/bin/sh", NULL};
	char *no_entrypoint[] = {(char *)"", NULL};
	struct container_run_opts o = {
	    .entrypoint = no_entrypoint,
	    .cmd = shell,
	    .env = (char **)f->spec->env,
	    .cwd = f->spec->cwd,
	    .user = f->spec->user,
	    .network = f->spec->network,
	    .tty = true,
	    .interactive = true,
	};
	struct container_config cfg = {0};
	struct container c = {0};
	if (oci_image_load(s, f->image, &img, &err) < 0 ||
	    container_config_make(&img, f->image, &o, &cfg, &err) < 0 ||
	    container_create(s, &cfg, NULL, &c, &err) < 0) {
		cairn_error_wrap(&err, "%s: keeping the failed step", f->location);
		cmd_fail(&err);
	} else {
		fprintf(stderr,
			"cairn: %s: %s failed; kept as container %s (cairn start -ai %s for a "
			"shell in it, cairn commit %s REF for an image)\n",
			f->location, f->instruction, c.name, c.name, c.name);
	}
	container_release(&c);
	container_config_release(&cfg);
}

static void failed_step(void *ctx, const struct builder_failed_step *f)
{
	struct on_error *oe = ctx;
	if (oe->mode == ON_ERROR_SHELL)
		failed_step_shell(f);
	else if (oe->mode == ON_ERROR_KEEP)
		failed_step_keep(oe->s, f);
}

/* The collection after a build, run as cmd_build returns (not when interrupted). */
struct gc_after_build {
	struct store *s;
	uint64_t budget;
	bool off, quiet;
	char keep[DIGEST_LEN]; /* the image built: kept even untagged */
};

static void gc_after_build(struct gc_after_build *g)
{
	if (g->s && !g->off && !util_interrupted)
		cmd_gc_after_build(g->s, g->budget, g->quiet, g->keep);
}
#define cleanup_gc_after_build __attribute__((cleanup(gc_after_build)))

int cmd_build(int argc, char **argv, const struct cmd_env *env)
{
	if (cmd_wants_help(argc, argv, usage))
		return 0;
	static const struct option opts[] = {
	    {"file", required_argument, NULL, 'f'},
	    {"tag", required_argument, NULL, 't'},
	    {"build-arg", required_argument, NULL, 'a'},
	    {"no-cache", no_argument, NULL, 'n'},
	    {"network", required_argument, NULL, 'N'},
	    {"target", required_argument, NULL, 'T'},
	    {"check", no_argument, NULL, 'C'},
	    {"secret", required_argument, NULL, 'S'},
	    {"compression", required_argument, NULL, 'c'},
	    {"pull", optional_argument, NULL, 'P'},
	    {"push", no_argument, NULL, 'p'},
	    {"cache-from", required_argument, NULL, 'F'},
	    {"cache-to", required_argument, NULL, 'O'},
	    {"isolation", required_argument, NULL, 'I'},
	    /* reproducibility: --source-date-epoch, --timestamp, --verify */
	    {"source-date-epoch", required_argument, NULL, 'E'},
	    {"timestamp", required_argument, NULL, 'M'},
	    {"verify", optional_argument, NULL, 'V'},
	    {"provenance", required_argument, NULL, 'R'},
	    {"on-error", required_argument, NULL, 'X'},
	    {"output", required_argument, NULL, 'o'},
	    {"progress", required_argument, NULL, PROGRESS_OPTION},
	    CMD_BUILD_RUN_OPTIONS,
	    CMD_BUILD_IMAGE_OPTIONS,
	    CMD_BUILD_REFUSED_BUILDX_FLAGS,
	    CMD_REGISTRY_OPTIONS,
	    CMD_QUIET_OPTION,
	    {NULL, 0, NULL, 0},
	};
	struct cairn_error err = CAIRN_ERROR_INIT;
	struct builder_opts bo = {.network = SANDBOX_NET_PRIVATE, .compression = LAYER_ZSTD};
	struct on_error on_error = {.mode = ON_ERROR_FAIL};
	cleanup_build_run struct cmd_build_run run_opts = {0};
	cleanup_build_image struct cmd_build_image image_opts = {0};
	bool network_given = false;
	cleanup_strv char **tags = xcalloc(1, sizeof(char *));
	cleanup_strv char **args = xcalloc(1, sizeof(char *));
	cleanup_strv char **secrets = xcalloc(1, sizeof(char *));
	cleanup_strv char **cache_from = xcalloc(1, sizeof(char *));
	cleanup_free char *cache_to = NULL;
	cleanup_outputs struct cmd_outputs outs = {0};
	struct registry_opts ro = REGISTRY_OPTS_INIT;
	ro.progress = stderr; /* NULL after -q */
	bool check = false, push = false;
	const char *progress = NULL; /* --progress */
	unsigned verify = 0;	     /* --verify: how many rebuilds */
	bool provenance = true;
	const char *isolation = getenv("CAIRN_ISOLATION");
	if (isolation && !*isolation)
		isolation = NULL;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+f:t:o:qm:", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			bo.recipe_path = optarg;
			break;
		case 't': {
			char *ref = NULL;
			if (ref_local_name(optarg, &ref, &err) < 0)
				return cmd_fail(&err);
			strv_push_take(&tags, ref);
			break;
		}
		case 'o':
			if (cmd_outputs_add(&outs, optarg, &tags, &push) < 0)
				return 2;
			break;
		case 'a':
			strv_push(&args, optarg);
			break;
		case 'n':
			bo.no_cache = true;
			break;
		case 'T':
			bo.target = optarg;
			break;
		case 'C':
			check = true;
			break;
		case 'S':
			if (!secret_spec_ok(optarg)) {
				fprintf(stderr,
					"cairn build: --secret %s: expected "
					"id=ID[,src=FILE|,env=VAR]\n",
					optarg);
				return 2;
			}
			strv_push(&secrets, optarg);
			break;
		case 'N':
			network_given = strcmp(optarg, "default") != 0;
			if (network_given && sandbox_network_parse(optarg, &bo.network) < 0) {
				fprintf(
				    stderr,
				    "cairn build: --network %s: expected private, none, host or "
				    "default\n",
				    optarg);
				return 2;
			}
			break;
		case 'c':
			if (layer_compression_parse(optarg, &bo.compression) < 0) {
				fprintf(
				    stderr,
				    "cairn build: --compression %s: expected zstd, gzip or none\n",
				    optarg);
				return 2;
			}
			break;
		case 'P':
			if (!optarg || !strcmp(optarg, "always") || !strcmp(optarg, "true")) {
				bo.pull = BUILDER_PULL_ALWAYS;
			} else if (!strcmp(optarg, "missing")) {
				bo.pull = BUILDER_PULL_MISSING;
			} else if (!strcmp(optarg, "never") || !strcmp(optarg, "false")) {
				bo.pull = BUILDER_PULL_NEVER;
			} else {
				fprintf(
				    stderr,
				    "cairn build: --pull=%s: expected missing, always or never\n",
				    optarg);
				return 2;
			}
			break;
		case 'p':
			push = true;
			break;
		case 'F': {
			char *ref = NULL;
			bool max = false, ignore = false;
			if (cache_spec("--cache-from", optarg, &ref, &max, &ignore) < 0)
				return 2;
			strv_push_take(&cache_from, ref);
			if (check_cache_ref("--cache-from", optarg, ref, false) < 0)
				return 2;
			break;
		}
		case 'O':
			free(cache_to);
			if (cache_spec("--cache-to", optarg, &cache_to, &bo.cache_to_max,
				       &bo.cache_to_ignore_error) < 0 ||
			    check_cache_ref("--cache-to", optarg, cache_to, true) < 0)
				return 2;
			break;
		case 'I':
			isolation = optarg;
			break;
		case 'X':
			if (!strcmp(optarg, "shell"))
				on_error.mode = ON_ERROR_SHELL;
			else if (!strcmp(optarg, "keep"))
				on_error.mode = ON_ERROR_KEEP;
			else if (!strcmp(optarg, "fail"))
				on_error.mode = ON_ERROR_FAIL;
			else {
				fprintf(stderr,
					"cairn build: --on-error=%s: expected fail, shell "
					"or keep\n",
					optarg);
				return 2;
			}
			break;
		/* reproducibility */
		case 'E':
			if (parse_epoch("--source-date-epoch", optarg, &bo.source_date_epoch) < 0)
				return 2;
			bo.source_date_epoch_set = true;
			break;
		case 'M':
			if (parse_epoch("--timestamp", optarg, &bo.timestamp) < 0)
				return 2;
			bo.timestamp_set = true;
			break;
		case 'V':
			if (parse_verify(optarg, &verify) < 0)
				return 2;
			break;
		case 'R':
			if (parse_provenance(optarg, &provenance) < 0)
				return 2;
			break;
		case PROGRESS_OPTION:
			progress = optarg;
			break;
		default: {
			int taken = cmd_build_run_option(c, optarg, &run_opts, &bo);
			if (taken == 0)
				taken = cmd_build_image_option(c, optarg, &image_opts, &bo);
			if (taken < 0)
				return 2;
			if (!taken && cmd_registry_option("build", c, optarg, &ro, usage) < 0)
				return 2;
		}
		}
	}
	enum progress_mode pmode = PROGRESS_QUIET;
	if (build_progress_mode_parse(progress, &pmode) < 0)
		return 2;
	if (!ro.progress) /* -q */
		pmode = PROGRESS_QUIET;
	/* --on-error's shell needs the terminal, and its notes would be drawn over */
	if (pmode == PROGRESS_TTY && on_error.mode != ON_ERROR_FAIL)
		pmode = PROGRESS_PLAIN;
	/* rawjson: stderr has events only; tty: registry progress would break the view */
	const bool quiet = pmode == PROGRESS_QUIET || pmode == PROGRESS_RAWJSON;
	if (quiet)
		ro.progress = NULL;
	if (optind != argc - 1) {
		fprintf(stderr,
			"cairn build: expected exactly one CONTEXT (a directory, a tar file or "
			"-)\n%s",
			usage);
		return 2;
	}
	bo.context_dir = argv[optind];
	if (check) {
		/* the recipe the build would read, linted instead of built */
		if (bo.recipe_path)
			return cmd_lint_file(strcmp(bo.recipe_path, "-") ? bo.recipe_path
									 : "/dev/stdin");
		return cmd_lint(2, (char *[]){"lint", argv[optind], NULL}, env);
	}
	/* -f -: the recipe from stdin, held to the size every recipe is */
	cleanup_free char *stdin_recipe = NULL;
	if (bo.recipe_path && !strcmp(bo.recipe_path, "-")) {
		if (!strcmp(bo.context_dir, "-")) {
			fprintf(stderr, "cairn build: -f - and CONTEXT - cannot both be stdin\n");
			return 2;
		}
		if (builder_read_recipe("/dev/stdin", &stdin_recipe, &bo.recipe_len, &err) < 0)
			return cmd_fail(&err);
		bo.recipe_text = stdin_recipe;
		bo.recipe_path = "stdin";
	}
	if (cmd_output_check(outs.v, outs.n, layer_compression_name(bo.compression)) < 0)
		return 2;
	bo.tags = tags;
	bo.build_args = args;
	bo.secrets = secrets;
	bo.progress = pmode == PROGRESS_PLAIN ? stderr : NULL;
	bo.registry = &ro;
	bo.cache_from = cache_from;
	bo.cache_to = cache_to;
	if (push && !tags[0]) {
		fprintf(stderr, "cairn build: --push needs a -t REF to push to\n");
		return 2;
	}
	/* --verify: the report names the bases and steps; tags wait for the rebuilds;
	 * steps have no network unless --network says otherwise; SOURCE_DATE_EPOCH
	 * from the inputs when nothing sets it */
	cleanup_report struct builder_report report = {0};
	if (provenance)
		bo.report = &report;
	if (verify) {
		bo.report = &report;
		bo.tags = NULL;
		bo.source_date_epoch_from_inputs = true;
	}

	int entered = cmd_sandbox_enter(isolation, &err);
	if (entered < 0) {
		cmd_fail(&err);
		return entered == -EINVAL ? 2 : 1;
	}
	cleanup_free char *notice = NULL;
	/* --verify: no network for steps, where the isolation has a namespace for none */
	if (verify && !network_given) {
		if (sandbox_network_check(SANDBOX_NET_NONE, &err) == 0) {
			bo.network = SANDBOX_NET_NONE;
			network_given = true;
		} else if (!quiet) {
			cleanup_free char *why = cairn_error_format(&err);
			fprintf(stderr, "--verify: RUN steps keep the default network: %s\n", why);
		}
		cairn_error_clear(&err);
	}
	/* once per build: the steps' network, and why it is not private when it is not */
	bo.network_defaulted = !network_given;
	if (network_given ? sandbox_network_check(bo.network, &err) < 0
			  : sandbox_network_default(&bo.network, &notice, &err) < 0)
		return cmd_fail(&err);
	if (notice)
		build_progress_note(pmode, notice);
	util_catch_signals();
	cleanup_store struct store *s = NULL;
	if (store_open(env->root, &s, &err) < 0)
		return cmd_fail(&err);
	/* the collection when the build ends, whichever way (a bad budget fails first) */
	/* off until the budget is known: a bad config.json fails the build, and must
	 * not prune it to nothing on the way out */
	cleanup_gc_after_build struct gc_after_build gc = {.s = s, .quiet = quiet, .off = true};
	bool gc_off = true;
	if (cmd_gc_budget(store_root(s), &gc.budget, &gc_off, &err) < 0)
		return cmd_fail(&err);
	gc.off = gc_off;
	cleanup_build_context struct cmd_build_context context = {0};
	if (cmd_build_context_prepare(s, &bo, &context, &err) < 0 ||
	    cmd_build_named_contexts(s, image_opts.build_contexts, &bo, &context, &err) < 0)
		return cmd_fail(&err);
	if (on_error.mode != ON_ERROR_FAIL) {
		on_error.s = s;
		bo.on_error = failed_step;
		bo.on_error_ctx = &on_error;
		bo.on_error_image = on_error.mode == ON_ERROR_KEEP;
	}
	char digest[DIGEST_LEN];
	double t0 = util_now();
	int64_t started = (int64_t)time(NULL);
	struct build_progress *shown = NULL;
	if (build_progress_start(pmode, s, &shown, &bo.events, &err) < 0) {
		build_progress_finish(shown);
		return cmd_fail(&err);
	}
	int built = builder_run(s, &bo, digest, &err);
	if (built >= 0)
		memcpy(gc.keep, digest, DIGEST_LEN);
	/* slirp4netns ends with the build, before anything is printed */
	sandbox_network_release();
	build_progress_finish(shown);
	bo.events = NULL;
	bo.progress = quiet ? NULL : stderr; /* --verify's rebuilds: plain lines */
	if (built < 0) {
		/* interrupted: the shell's convention for "killed by SIGINT" */
		int sig = util_interrupted;
		cmd_fail(&err);
		return sig ? 128 + sig : 1;
	}
	if (!quiet) {
		cleanup_free char *d = util_human_duration(util_now() - t0);
		fprintf(stderr, "built %s in %s\n", digest, d);
	}
	/* --verify: the rebuilds, then the tags the first build did not set */
	if (verify) {
		int v = verify_rebuilds(s, &bo, &report, digest, verify, quiet);
		if (v != 0) {
			int sig = util_interrupted;
			return sig ? 128 + sig : 1;
		}
		if ((built = tag_image(s, digest, tags, &err)) < 0)
			return cmd_fail(&err);
		if (!quiet)
			fprintf(stderr, "verified: %u rebuild%s gave %s\n", verify,
				verify == 1 ? "" : "s", digest);
	}
	for (size_t i = 0; !quiet && tags[i]; i++)
		fprintf(stderr, "tagged %s\n", tags[i]);
	/* --provenance: the statement, attached once the image is final */
	char artifact[DIGEST_LEN] = "";
	if (provenance) {
		bo.tags = tags;
		cleanup_free char *st = builder_provenance_statement(&bo, &report, digest, started,
								     (int64_t)time(NULL));
		if (builder_provenance_attach(s, digest, st, artifact, &err) < 0)
			return cmd_fail(&err);
		if (!quiet)
			fprintf(stderr, "provenance %s\n", artifact);
	}
	for (size_t i = 0; push && tags[i]; i++) {
		ro.progress = quiet ? NULL : stderr;
		char pushed[DIGEST_LEN];
		const char *how = NULL;
		if (registry_push(s, tags[i], NULL, &ro, pushed, &err) < 0 ||
		    (*artifact &&
		     registry_push_referrer(s, artifact, tags[i], &ro, &how, &err) < 0))
			return cmd_fail(&err);
		if (!quiet)
			fprintf(stderr, "pushed %s\n", tags[i]);
		if (!quiet && how)
			fprintf(stderr, "pushed provenance %s (%s)\n", artifact, how);
	}
	/* -o: after the build, tags and pushes; the digest leaves stdout to an archive */
	for (size_t i = 0; i < outs.n; i++)
		if (cmd_output_write(s, outs.v, outs.n, i, digest, tags, &err) < 0)
			return cmd_fail(&err);
	if (cmd_build_image_finish(s, &image_opts, digest, tags, &err) < 0)
		return cmd_fail(&err);
	fprintf(outs.to_stdout ? stderr : stdout, "%s\n", digest);
	return 0;
}
