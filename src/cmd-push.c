/* cairn push: an image of the store to a registry. */
#include "commands.h"
#include "oci/oci.h"
#include "registry/registry.h"

#include <getopt.h>
#include <stdint.h>
#include <string.h>

static const char usage[] =
    "usage: cairn push [--tls-verify=false] [--cert-dir DIR] [--chunk-size SIZE] [-q]\n"
    "                  [--provenance=false] REF [DEST]\n"
    "\n"
    "Pushes the image REF names in the store (a tag or a manifest digest) to DEST\n"
    "(\"host:port/team/app:1\"; default: REF itself, which must then name a\n"
    "registry). Blobs the registry has are not sent, blobs of another repository\n"
    "of the same registry are mounted from it; the manifest goes byte for byte, so\n"
    "the digest stays. Then the image's provenance, when the store has one (cairn\n"
    "build attaches it), goes by digest to the same repository, found from the image\n"
    "by the registry's referrers API or its fallback tag sha256-<hex of the image's\n"
    "digest>. Prints the manifest digest.\n"
    "\n" CMD_REGISTRY_USAGE "  --provenance=false  push the image only, not its provenance\n"
    "  --chunk-size SIZE   upload blobs larger than SIZE (bytes; k, M, G) in chunks\n"
    "                      of SIZE, resumed after a failure (default 64M; 0: never)\n"
    "  -q, --quiet         no progress on stderr\n";

int cmd_push(int argc, char **argv, const struct cmd_env *env)
{
	if (cmd_wants_help(argc, argv, usage))
		return 0;
	static const struct option opts[] = {
	    CMD_REGISTRY_OPTIONS,
	    CMD_QUIET_OPTION,
	    {"chunk-size", required_argument, NULL, 'C'},
	    {"provenance", required_argument, NULL, 'R'},
	    {NULL, 0, NULL, 0},
	};
	struct registry_opts o = REGISTRY_OPTS_INIT;
	o.progress = stderr;
	int c;
	optind = 1;
	bool provenance = true;
	while ((c = getopt_long(argc, argv, "+q", opts, NULL)) != -1) {
		if (c == 'R') {
			if (strcmp(optarg, "true") && strcmp(optarg, "false")) {
				fprintf(stderr,
					"cairn push: --provenance=%s: expected true or false\n",
					optarg);
				return 2;
			}
			provenance = !strcmp(optarg, "true");
			continue;
		}
		if (c != 'C') {
			if (cmd_registry_option("push", c, optarg, &o, usage) < 0)
				return 2;
			continue;
		}
		if (util_parse_size(optarg, &o.chunk_size) < 0) {
			fprintf(stderr,
				"cairn push: --chunk-size %s: expected a size such as 4096, 512k "
				"or 64M\n",
				optarg);
			return 2;
		}
		if (o.chunk_size == 0)
			o.chunk_size = UINT64_MAX;
	}
	if (argc - optind != 1 && argc - optind != 2) {
		return cmd_usage_error(usage);
	}
	struct cairn_error err = CAIRN_ERROR_INIT;
	cleanup_store struct store *s = NULL;
	/* pushing only reads the store */
	if (cmd_store_open_reading(env->root, &s, &err) < 0)
		return cmd_fail(&err);
	util_catch_signals();
	char digest[DIGEST_LEN];
	const char *dest = argc - optind == 2 ? argv[optind + 1] : NULL;
	if (registry_push(s, argv[optind], dest, &o, digest, &err) < 0)
		return cmd_fail(&err);
	/* the image's provenance after it, to the same repository */
	char artifact[DIGEST_LEN];
	if (provenance && store_referrer_get(s, digest, MEDIA_TYPE_INTOTO, artifact, &err) == 0) {
		const char *how = NULL;
		if (registry_push_referrer(s, artifact, dest ? dest : argv[optind], &o, &how,
					   &err) < 0)
			return cmd_fail(&err);
		if (o.progress)
			fprintf(stderr, "pushed provenance %s (%s)\n", artifact, how);
	}
	cairn_error_clear(&err);
	printf("%s\n", digest);
	return 0;
}
