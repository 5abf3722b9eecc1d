/* cairn exec: a command in a running container. */
#include "commands.h"
#include "container/container.h"

#include <getopt.h>
#include <unistd.h>

static const char usage[] =
    "usage: cairn exec [-i] [-t] [-e K[=V]] [-w DIR] [-u USER[:GROUP]] CONTAINER\n"
    "                  COMMAND [ARG...]\n"
    "\n"
    "Runs COMMAND in the running container: in its namespaces, root and mounts,\n"
    "with its environment, user and working directory unless given, and exits with\n"
    "its status. Ctrl-C, SIGTERM and SIGHUP go to the command.\n"
    "\n"
    "Options:\n"
    "  -i, --interactive        pass this process's stdin to the command\n"
    "  -t, --tty                give the command a terminal of the container's own\n"
    "  -e, --env K[=V]          add an environment variable (K alone: its value here)\n"
    "  -w, --workdir DIR        the working directory in the container\n"
    "  -u, --user USER[:GROUP]  the user (names from the container's /etc/passwd)\n";

int cmd_exec(int argc, char **argv, const struct cmd_env *env)
{
	static const struct option longopts[] = {
	    {"interactive", no_argument, NULL, 'i'},
	    {"tty", no_argument, NULL, 't'},
	    {"env", required_argument, NULL, 'e'},
	    {"workdir", required_argument, NULL, 'w'},
	    {"user", required_argument, NULL, 'u'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	bool interactive = false, tty = false;
	const char *cwd = NULL, *user = NULL;
	cleanup_strv char **extra = xcalloc(1, sizeof(char *));
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+ite:w:u:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'i':
			interactive = true;
			break;
		case 't':
			tty = true;
			break;
		case 'e':
			strv_push(&extra, optarg);
			break;
		case 'w':
			if (optarg[0] != '/') {
				fprintf(stderr,
					"cairn exec: -w %s: the working directory must be "
					"absolute\n",
					optarg);
				return 125;
			}
			cwd = optarg;
			break;
		case 'u':
			user = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fprintf(stderr, "cairn exec: unknown option or missing value: %s\n",
				argv[optind - 1]);
			fputs(usage, stderr);
			return 125;
		}
	}
	if (argc - optind < 2) {
		fprintf(stderr, "cairn exec: expected CONTAINER COMMAND [ARG...]\n");
		fputs(usage, stderr);
		return 125;
	}
	if (interactive && tty && !isatty(0)) {
		fprintf(stderr, "cairn exec: the input device is not a TTY (-i -t needs one)\n");
		return 1;
	}
	struct cairn_error err = CAIRN_ERROR_INIT;
	cleanup_store struct store *s = NULL;
	struct container ct;
	if (store_open(env->root, &s, &err) < 0 || container_get(s, argv[optind], &ct, &err) < 0) {
		cmd_fail(&err);
		return 125;
	}
	util_catch_signals();
	int status = 125;
	if (container_exec(&ct, argv + optind + 1, extra, cwd, user, interactive, tty, &status,
			   &err) < 0)
		cmd_fail(&err);
	container_release(&ct);
	return status;
}
