/* cairn start: run a stopped container again, on the writable layer it has. */
#include "commands.h"
#include "container/container.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <unistd.h>

static const char usage[] =
    "usage: cairn start [-a] [-i] [--isolation MODE] CONTAINER...\n"
    "\n"
    "Starts each container again with the command, settings and writable layer it\n"
    "has: in the background (as cairn run -d), or attached with -a (one container;\n"
    "the exit status is its command's).\n"
    "\n"
    "Options:\n"
    "  -a, --attach          stay attached to its output and exit with its status\n"
    "  -i, --interactive     with -a, pass stdin (a container made with -i)\n"
    "      --isolation MODE  auto, oci, rootless or chroot, as for cairn build\n";

int cmd_start(int argc, char **argv, const struct cmd_env *env)
{
	static const struct option longopts[] = {
	    {"attach", no_argument, NULL, 'a'},
	    {"interactive", no_argument, NULL, 'i'},
	    {"isolation", required_argument, NULL, 'I'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	bool attach = false, interactive = false;
	const char *isolation = NULL;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "aih", longopts, NULL)) != -1) {
		switch (c) {
		case 'a':
			attach = true;
			break;
		case 'i':
			interactive = true;
			break;
		case 'I':
			isolation = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fprintf(stderr, "cairn start: unknown option or missing value: %s\n",
				argv[optind - 1]);
			return cmd_usage_error(usage);
		}
	}
	if (optind >= argc || (attach && argc - optind > 1)) {
		fprintf(stderr, "cairn start: %s\n",
			optind >= argc ? "no container given" : "-a attaches to one container");
		return cmd_usage_error(usage);
	}
	struct cairn_error err = CAIRN_ERROR_INIT;
	int r = cmd_sandbox_enter(isolation, &err);
	if (r < 0) {
		cmd_fail(&err);
		return r == -EINVAL ? 2 : 1;
	}
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
		if (attach && interactive && ct.cfg.interactive && ct.cfg.tty && !isatty(0)) {
			fprintf(stderr,
				"cairn start: the input device is not a TTY (%s has a "
				"terminal: -a -i needs one)\n",
				argv[i]);
			status = 1;
		} else if (attach) {
			ct.cfg.interactive = ct.cfg.interactive && interactive;
			util_catch_signals();
			if (container_start(s, &ct, &status, &err) < 0)
				cmd_fail(&err);
		} else if (container_start_detached(s, &ct, &status, &err) < 0) {
			cmd_fail(&err);
		} else {
			printf("%s\n", argv[i]);
		}
		container_release(&ct);
	}
	return status;
}
