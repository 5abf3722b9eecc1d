/* cairn logs: a container's output. */
#include "commands.h"
#include "container/container.h"

#include <getopt.h>

static const char usage[] =
    "usage: cairn logs [-f] CONTAINER\n"
    "\n"
    "Prints what the container's command wrote (stdout and stderr, in the order it\n"
    "wrote them), over every time it ran.\n"
    "\n"
    "Options:\n"
    "  -f, --follow   then keep printing what it writes until it stops\n";

int cmd_logs(int argc, char **argv, const struct cmd_env *env)
{
	static const struct option longopts[] = {
	    {"follow", no_argument, NULL, 'f'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	bool follow = false;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "fh", longopts, NULL)) != -1) {
		if (c == 'f') {
			follow = true;
		} else if (c == 'h') {
			fputs(usage, stdout);
			return 0;
		} else {
			fprintf(stderr, "cairn logs: unknown option %s\n", argv[optind - 1]);
			return cmd_usage_error(usage);
		}
	}
	if (argc - optind != 1) {
		fprintf(stderr, "cairn logs: expected one container\n");
		return cmd_usage_error(usage);
	}
	struct cairn_error err = CAIRN_ERROR_INIT;
	cleanup_store struct store *s = NULL;
	struct container ct;
	if (store_open(env->root, &s, &err) < 0 || container_get(s, argv[optind], &ct, &err) < 0)
		return cmd_fail(&err);
	util_catch_signals();
	int r = container_logs(&ct, stdout, follow, &err);
	container_release(&ct);
	return r < 0 ? cmd_fail(&err) : 0;
}
