/* cairn prune: the build cache, least recently used first (docker builder prune),
 * then gc. */
#include "builder/builder.h"
#include "commands.h"

#include <getopt.h>
#include <string.h>
#include <time.h>

static const char usage[] =
    "usage: cairn prune [-a] [--filter until=DURATION] [--keep-storage SIZE] [-n] [-f] [-q]\n"
    "\n"
    "Removes build cache, as docker builder prune: the records of build steps, RUN\n"
    "cache mounts no build is using, and the build contexts' stat caches, least\n"
    "recently used first; then runs gc, which frees the layers only they held.\n"
    "Without --all, a record whose layer a tagged image holds stays, so that\n"
    "rebuilding that image stays cached.\n"
    "\n"
    "  -a, --all                   every record, those of tagged images' layers too\n"
    "      --filter until=DURATION only what no build has used for DURATION\n"
    "                              (24h, 90m, 1h30m)\n"
    "      --keep-storage SIZE     stop once the build cache is at most SIZE\n"
    "                              (10GB, 512MB)\n"
    "  -n, --dry-run               print what would be removed, remove nothing\n"
    "  -f, --force                 accepted, as docker's: cairn never asks\n"
    "  -q, --quiet                 print only the total\n"
    "  -h, --help                  this help\n";

/* --filter KEY=VALUE: until=DURATION (docker's; a Go duration), as a time. */
static int parse_filter(const char *arg, int64_t *until)
{
	if (strncmp(arg, "until=", 6)) {
		fprintf(stderr,
			"cairn prune: --filter %s: the filter cairn knows is until=DURATION\n",
			arg);
		return -1;
	}
	int64_t ns = 0;
	cleanup_free char *why = NULL;
	if (builder_duration_parse(arg + 6, &ns, &why) < 0 || ns <= 0) {
		fprintf(stderr, "cairn prune: --filter %s: %s\n", arg,
			why ? why : "not a positive duration (24h, 90m, 1h30m)");
		return -1;
	}
	*until = (int64_t)time(NULL) - ns / 1000000000;
	return 0;
}

int cmd_prune(int argc, char **argv, const struct cmd_env *env)
{
	enum { OPT_FILTER = 0x100, OPT_KEEP };
	static const struct option longopts[] = {
	    {"all", no_argument, NULL, 'a'},
	    {"filter", required_argument, NULL, OPT_FILTER},
	    {"keep-storage", required_argument, NULL, OPT_KEEP},
	    {"dry-run", no_argument, NULL, 'n'},
	    {"force", no_argument, NULL, 'f'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct store_collect_opts o = {.prune = true};
	bool quiet = false;
	int c;
	while ((c = getopt_long(argc, argv, "anfqh", longopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			fputs(usage, stdout);
			return 0;
		case 'a':
			o.all = true;
			break;
		case 'n':
			o.dry_run = true;
			break;
		case 'f':
			break;
		case 'q':
			quiet = true;
			break;
		case OPT_FILTER:
			if (parse_filter(optarg, &o.until) < 0)
				return 2;
			break;
		case OPT_KEEP:
			if (util_parse_size(optarg, &o.keep_storage) < 0) {
				fprintf(stderr,
					"cairn prune: --keep-storage %s: not a size (10GB, 512MB, "
					"1048576)\n",
					optarg);
				return 2;
			}
			break;
		default:
			return cmd_usage_error(usage);
		}
	}
	if (optind != argc)
		return cmd_usage_error(usage);
	return cmd_gc_collect(env, &o, quiet);
}
