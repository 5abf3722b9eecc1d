/* cairn commit: a container's writable layer becomes a new image. */
#include "commands.h"
#include "container/container.h"
#include "ref/ref.h"

#include <getopt.h>

static const char usage[] =
    "usage: cairn commit [-a AUTHOR] [-m MESSAGE] [-c CHANGE]... [--compression ALGO]\n"
    "                    CONTAINER [REF]\n"
    "\n"
    "Makes a new image of the container's image plus one layer holding what the\n"
    "container changed, with a history entry, tags it REF when given, and prints its\n"
    "digest. A running container's changes are read as they are.\n"
    "\n"
    "Options:\n"
    "  -a, --author AUTHOR       the image's author\n"
    "  -m, --message MESSAGE     the history entry's comment\n"
    "  -c, --change CHANGE       apply a recipe line to the config: CMD, ENTRYPOINT,\n"
    "                            ENV, LABEL, EXPOSE, USER or WORKDIR (repeatable)\n"
    "      --compression ALGO    layer compression: zstd (default), gzip or none\n";

int cmd_commit(int argc, char **argv, const struct cmd_env *env)
{
	static const struct option longopts[] = {
	    {"author", required_argument, NULL, 'a'}, {"message", required_argument, NULL, 'm'},
	    {"change", required_argument, NULL, 'c'}, {"compression", required_argument, NULL, 'Z'},
	    {"help", no_argument, NULL, 'h'},	      {NULL, 0, NULL, 0},
	};
	struct container_commit_opts o = {.compression = LAYER_ZSTD};
	cleanup_strv char **changes = xcalloc(1, sizeof(char *));
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "a:m:c:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'a':
			o.author = optarg;
			break;
		case 'm':
			o.message = optarg;
			break;
		case 'c':
			strv_push(&changes, optarg);
			break;
		case 'Z':
			if (layer_compression_parse(optarg, &o.compression) < 0) {
				fprintf(stderr,
					"cairn commit: --compression %s: expected zstd, gzip "
					"or none\n",
					optarg);
				return 2;
			}
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fprintf(stderr, "cairn commit: unknown option or missing value: %s\n",
				argv[optind - 1]);
			return cmd_usage_error(usage);
		}
	}
	if (optind >= argc || argc - optind > 2) {
		fprintf(stderr, "cairn commit: expected CONTAINER [REF]\n");
		return cmd_usage_error(usage);
	}
	o.changes = changes;
	struct cairn_error err = CAIRN_ERROR_INIT;
	cleanup_free char *ref = NULL;
	if (optind + 1 < argc && ref_local_name(argv[optind + 1], &ref, &err) < 0)
		return cmd_fail(&err);
	cleanup_store struct store *s = NULL;
	if (store_open(env->root, &s, &err) < 0)
		return cmd_fail(&err);
	struct container ct;
	if (container_get(s, argv[optind], &ct, &err) < 0)
		return cmd_fail(&err);
	char digest[DIGEST_LEN];
	int r = container_commit(s, &ct, ref, &o, digest, &err);
	container_release(&ct);
	if (r < 0)
		return cmd_fail(&err);
	printf("%s\n", digest);
	return 0;
}
