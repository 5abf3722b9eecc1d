/* cairn rm: remove containers and their writable layers. */
#include "commands.h"
#include "container/container.h"

#include <getopt.h>

static const char usage[] =
    "usage: cairn rm [-f] [-v] CONTAINER...\n"
    "\n"
    "Removes each container (named, by id, or by a unique start of its id) with its\n"
    "writable layer and log. A running one is refused unless -f.\n"
    "\n"
    "Options:\n"
    "  -f, --force     kill a running container first (SIGKILL)\n"
    "  -v, --volumes   remove its anonymous volumes too\n";

int cmd_rm(int argc, char **argv, const struct cmd_env *env)
{
	static const struct option longopts[] = {
	    {"force", no_argument, NULL, 'f'},
	    {"volumes", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	bool force = false, volumes = false;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "fvh", longopts, NULL)) != -1) {
		if (c == 'f') {
			force = true;
		} else if (c == 'v') {
			volumes = true;
		} else if (c == 'h') {
			fputs(usage, stdout);
			return 0;
		} else {
			fprintf(stderr, "cairn rm: unknown option %s\n", argv[optind - 1]);
			return cmd_usage_error(usage);
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "cairn rm: no container given\n");
		return cmd_usage_error(usage);
	}
	struct cairn_error err = CAIRN_ERROR_INIT;
	cleanup_store struct store *s = NULL;
	if (store_open(env->root, &s, &err) < 0)
		return cmd_fail(&err);
	int status = 0;
	for (int i = optind; i < argc; i++) {
		struct container ct;
		if (container_get(s, argv[i], &ct, &err) < 0) {
			status = cmd_fail(&err);
			continue;
		}
		if (container_remove(s, &ct, force, volumes, &err) < 0)
			status = cmd_fail(&err);
		else
			printf("%s\n", argv[i]);
		container_release(&ct);
	}
	return status;
}
