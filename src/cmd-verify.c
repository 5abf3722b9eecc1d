/* cairn verify: rebuilds an image from its provenance and says whether the rebuild
 * has the same digest, with the differences when it has not. */
#include "builder/builder.h"
#include "commands.h"
#include "ref/ref.h"
#include "registry/registry.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: cairn verify [--tls-verify=false] [--cert-dir DIR] [-f FILE]\n"
    "                    [--secret id=ID,src=PATH|env=VAR]... [--isolation MODE]\n"
    "                    [--network MODE] [--print] [-q] REF [CONTEXT]\n"
    "\n"
    "Rebuilds the image REF from its provenance (the SLSA statement cairn build\n"
    "attached to it) and the build context CONTEXT (default \".\"), and compares\n"
    "the digests. REF is an image of the store, else of a registry (docker://REF:\n"
    "always the registry's). The recipe must have the digest the provenance\n"
    "records; a context that differs is said and rebuilt anyway, so the differences\n"
    "show. The rebuild uses the recorded build args, target, SOURCE_DATE_EPOCH,\n"
    "--timestamp, network, compression and base images (by digest: from the store,\n"
    "else pulled), in a temporary store. Exit 0: the same digest; 1: another (the\n"
    "differences are printed); 2: an error.\n"
    "\n" CMD_REGISTRY_USAGE
    "  -f, --file FILE     the recipe (default: CONTEXT/ the path recorded)\n"
    "      --secret SPEC   a secret the recipe's RUN steps mount, as for cairn build\n"
    "      --isolation MODE  how RUN steps are isolated: auto (default), oci,\n"
    "                      rootless or chroot, as for cairn build\n"
    "      --network MODE  the network of RUN steps instead of the one recorded:\n"
    "                      private, none or host; an image built with host's is\n"
    "                      rebuilt only with --network host given here\n"
    "      --print         print the provenance statement (JSON) and rebuild nothing\n"
    "  -q, --quiet         no progress on stderr\n";

/* Errors: printed, exit status 2. */
static int fail(struct cairn_error *err)
{
	cmd_fail(err);
	return 2;
}

/* The store an image from a registry goes into: a temp dir of the user's store,
 * removed at the end. */
struct scratch {
	char *dir;
	struct store *s;
};

static void cleanup_scratchp(struct scratch *t)
{
	if (t->s)
		store_close(t->s);
	if (t->dir)
		util_rm_rf(AT_FDCWD, t->dir, NULL);
	free(t->dir);
}

/* Puts every base image the statement names into from, by digest: there already,
 * copied from the user's store s, or pulled from the registry its name is on. */
static int fetch_bases(struct store *from, struct store *s, const struct builder_report *rp,
		       const struct registry_opts *ro, struct cairn_error *err)
{
	for (size_t i = 0; i < rp->n_bases; i++) {
		const struct builder_report_base *b = &rp->bases[i];
		if (store_has_blob(from, b->digest))
			continue;
		if (from != s && store_has_blob(s, b->digest)) {
			if (oci_image_copy_blobs(from, s, b->digest, true, err) < 0)
				return cairn_error_wrap(err, "base image %s (%s)", b->name,
							b->digest);
			continue;
		}
		cleanup_ref struct ref r = {0};
		char got[DIGEST_LEN];
		if (ref_parse(b->name, &r, err) < 0)
			return cairn_error_wrap(err, "base image %s", b->name);
		cleanup_free char *name = ref_name(&r);
		cleanup_free char *by_digest = xasprintf("%s@%s", name, b->digest);
		if (registry_pull(from, by_digest, ro, got, err) < 0)
			return cairn_error_wrap(err,
						"base image %s (%s) is not in the store, and "
						"pulling it failed",
						b->name, b->digest);
	}
	return 0;
}

/* The image of a registry: pulled into t (a new temp store in s), its provenance
 * found with the referrers API or the fallback tag, and read. */
static int from_registry(struct store *s, const char *ref, const struct registry_opts *ro,
			 struct scratch *t, char digest[DIGEST_LEN], char **text, size_t *len,
			 struct cairn_error *err)
{
	cleanup_free char *tmp = NULL;
	int r = store_mkdtemp(s, "verify-image-", &tmp, err);
	if (r < 0)
		return r;
	t->dir = steal_pointer(&tmp);
	cleanup_free char *root = xasprintf("%s/store", t->dir);
	char artifact[DIGEST_LEN], got[DIGEST_LEN];
	cleanup_free char *subject = NULL;
	if ((r = store_open(root, &t->s, err)) < 0 ||
	    (r = registry_pull(t->s, ref, ro, digest, err)) < 0 ||
	    (r = registry_find_referrer(ref, digest, MEDIA_TYPE_INTOTO, ro, artifact, err)) < 0)
		return r;
	cleanup_ref struct ref rr = {0};
	if ((r = registry_ref_parse(ref, &rr, err)) < 0)
		return r;
	cleanup_free char *name = ref_name(&rr);
	cleanup_free char *by_digest = xasprintf("%s@%s", name, artifact);
	if ((r = registry_pull(t->s, by_digest, ro, got, err)) < 0 ||
	    (r = oci_artifact_read(t->s, artifact, MEDIA_TYPE_INTOTO, &subject, text, len, err)) <
		0)
		return cairn_error_wrap(err, "the provenance of %s", ref);
	if (!subject || strcmp(subject, digest))
		return cairn_error_set(err, EBADMSG, "%s: artifact %s is not about %s", ref,
				       artifact, digest);
	return 0;
}

int cmd_verify(int argc, char **argv, const struct cmd_env *env)
{
	if (cmd_wants_help(argc, argv, usage))
		return 0;
	static const struct option opts[] = {
	    {"file", required_argument, NULL, 'f'},
	    {"secret", required_argument, NULL, 'S'},
	    {"isolation", required_argument, NULL, 'I'},
	    {"print", no_argument, NULL, 'P'},
	    {"network", required_argument, NULL, 'N'},
	    CMD_REGISTRY_OPTIONS,
	    CMD_QUIET_OPTION,
	    {NULL, 0, NULL, 0},
	};
	struct registry_opts ro = REGISTRY_OPTS_INIT;
	ro.progress = stderr;
	const char *recipe_opt = NULL;
	bool print = false;
	cleanup_strv char **secrets = xcalloc(1, sizeof(char *));
	const char *isolation = getenv("CAIRN_ISOLATION");
	if (isolation && !*isolation)
		isolation = NULL;
	enum sandbox_network network = SANDBOX_NET_PRIVATE;
	bool network_given = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+f:q", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			recipe_opt = optarg;
			break;
		case 'S':
			strv_push(&secrets, optarg);
			break;
		case 'I':
			isolation = optarg;
			break;
		case 'P':
			print = true;
			break;
		case 'N':
			if (sandbox_network_parse(optarg, &network) < 0) {
				fprintf(stderr,
					"cairn verify: --network %s: expected private, none or "
					"host\n",
					optarg);
				return 2;
			}
			network_given = true;
			break;
		default:
			if (cmd_registry_option("verify", c, optarg, &ro, usage) < 0)
				return 2;
		}
	}
	const bool quiet = !ro.progress;
	if (argc - optind != 1 && argc - optind != 2)
		return cmd_usage_error(usage);
	const char *ref = argv[optind];
	const char *context = argc - optind == 2 ? argv[optind + 1] : ".";
	struct cairn_error err = CAIRN_ERROR_INIT;

	/* the sandbox first: it is chosen before any thread (the registry's) starts */
	enum sandbox_isolation iso = SANDBOX_ISOLATION_AUTO;
	if (isolation && sandbox_isolation_parse(isolation, &iso) < 0) {
		fprintf(stderr,
			"cairn verify: --isolation %s: expected auto, oci, rootless or chroot\n",
			isolation);
		return 2;
	}
	cleanup_free char *notice = NULL;
	if (!print && sandbox_enter(iso, &notice, &err) < 0)
		return fail(&err);
	if (notice && !quiet)
		fprintf(stderr, "%s\n", notice);
	util_catch_signals();
	cleanup_store struct store *s = NULL;
	if (store_open(env->root, &s, &err) < 0)
		return fail(&err);

	/* the image and its statement: from the store, else the registry */
	__attribute__((cleanup(cleanup_scratchp))) struct scratch t = {0};
	struct store *from = s;
	char digest[DIGEST_LEN];
	cleanup_free char *text = NULL;
	size_t len = 0;
	bool remote = !strncmp(ref, "docker://", 9);
	const char *name = remote ? ref + 9 : ref;
	struct store_tag tag = {0};
	bool local = !remote && digest_valid(name) && store_has_blob(s, name);
	if (local)
		memcpy(digest, name, DIGEST_LEN);
	else if (!remote && registry_store_lookup(s, name, &tag, &err) == 0) {
		memcpy(digest, tag.digest, DIGEST_LEN);
		store_tag_release(&tag);
		local = true;
	}
	if (local) {
		if (builder_provenance_find(s, digest, &text, &len, &err) < 0) {
			if (err.code != ENOENT)
				return fail(&err);
			cairn_error_clear(&err);
			fprintf(stderr,
				"cairn verify: %s (%s) has no provenance in the store: it was "
				"built with --provenance=false, or not by cairn\n",
				name, digest);
			return 2;
		}
	} else if (digest_valid(name)) {
		fprintf(stderr, "cairn verify: %s: no such image in the store\n", name);
		return 2;
	} else {
		cairn_error_clear(&err);
		if (from_registry(s, name, &ro, &t, digest, &text, &len, &err) < 0)
			return fail(&err);
		from = t.s;
	}
	if (print) {
		fwrite(text, 1, len, stdout);
		putchar('\n');
		return 0;
	}
	struct builder_provenance p = {0};
	if (builder_provenance_parse(text, len, &p, &err) < 0) {
		builder_provenance_release(&p);
		cairn_error_wrap(&err, "%s", name);
		return fail(&err);
	}
	int status = 2;
	cleanup_free char *recipe =
	    recipe_opt ? xstrdup(recipe_opt) : xasprintf("%s/%s", context, p.report.recipe);
	cleanup_free char *rtext = NULL;
	size_t rlen = 0;
	char rdigest[DIGEST_LEN];
	cleanup_free char *platform = xasprintf("linux/%s", oci_arch());
	if (strcmp(p.subject, digest)) {
		fprintf(stderr, "cairn verify: the provenance of %s is about %s\n", digest,
			p.subject);
		goto out;
	}
	if (*p.platform && strcmp(p.platform, platform)) {
		fprintf(stderr, "cairn verify: %s was built for %s; this machine builds %s\n", name,
			p.platform, platform);
		goto out;
	}
	if (strcmp(p.version, CAIRN_VERSION))
		fprintf(stderr,
			"verify: warning: %s was built by cairn %s, this is cairn %s: a "
			"difference may come from that\n",
			name, *p.version ? p.version : "(unknown)", CAIRN_VERSION);
	/* the recipe must be the one recorded */
	if (builder_read_recipe(recipe, &rtext, &rlen, &err) < 0) {
		cmd_fail(&err);
		goto out;
	}
	sha256_digest(rtext, rlen, rdigest);
	if (strcmp(rdigest, p.report.recipe_digest)) {
		fprintf(stderr,
			"cairn verify: the recipe %s has digest %s; %s was built from a recipe "
			"with digest %s\n",
			recipe, rdigest, name, p.report.recipe_digest);
		goto out;
	}
	if (fetch_bases(from, s, &p.report, &ro, &err) < 0) {
		cmd_fail(&err);
		goto out;
	}
	struct builder_opts bo = {
	    .context_dir = context,
	    .recipe_path = recipe,
	    .build_args = p.report.build_args,
	    .secrets = secrets,
	    .no_cache = true,
	    .network = p.network,
	    .network_defaulted = p.network_defaulted,
	    .compression = p.compression,
	    .target = p.report.target,
	    .progress = quiet ? NULL : stderr,
	    .pull = BUILDER_PULL_NEVER,
	    .registry = &ro,
	    .timestamp_set = p.timestamp_set,
	    .timestamp = p.timestamp,
	};
	/* the host's network is the user's to give, never a statement's (it may come from
	 * any registry) */
	if (network_given) {
		bo.network = network;
		bo.network_defaulted = false;
	} else if (bo.network == SANDBOX_NET_HOST) {
		fprintf(stderr,
			"cairn verify: %s was built with the host's network (--network host); "
			"its RUN steps get it again only when you say so: cairn verify --network "
			"host (or --network private to try without)\n",
			name);
		goto out;
	}
	if (sandbox_network_check(bo.network, &err) < 0) {
		cairn_error_wrap(&err, "the network %s was built with", name);
		cmd_fail(&err);
		goto out;
	}
	struct builder_rebuild rb = {0};
	if (!quiet)
		fprintf(stderr, "verify: rebuilding %s (%s) from %s\n", name, digest, context);
	int r = builder_rebuild(&bo, &p.report, from, 0, &rb, &err);
	sandbox_network_release();
	if (r < 0) {
		builder_rebuild_release(&rb);
		int sig = util_interrupted;
		cmd_fail(&err);
		status = sig ? 128 + sig : 2;
		goto out;
	}
	/* the context is known to differ once the rebuild has read it */
	if (strcmp(rb.context_digest, p.report.context_digest))
		fprintf(stderr,
			"verify: what the rebuild read from the context %s is not what %s was "
			"built from (digest %s, recorded %s)\n",
			context, name, rb.context_digest, p.report.context_digest);
	if (!strcmp(rb.digest, digest)) {
		printf("verified: %s rebuilds to %s (match)\n", name, digest);
		status = 0;
	} else {
		fprintf(stderr, "verify: %s is %s; the rebuild gave %s\n", name, digest, rb.digest);
		cmd_show_rebuild_diff(from, digest, &rb, &p.report);
		fprintf(stderr, "verify: %s does not rebuild to its digest\n", name);
		status = 1;
	}
	builder_rebuild_release(&rb);
out:
	builder_provenance_release(&p);
	return status;
}
