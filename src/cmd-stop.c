/* cairn stop: stop running containers, SIGTERM first. */
#include "commands.h"
#include "container/container.h"

#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: cairn stop [-t SECONDS] [-s SIGNAL] CONTAINER...\n"
    "\n"
    "Stops each running container: SIGTERM (or SIGNAL) to its command, then SIGKILL\n"
    "when it has not exited after SECONDS (10). A container not running is left as\n"
    "it is.\n"
    "\n"
    "Options:\n"
    "  -t, --time SECONDS    how long to wait before SIGKILL (default 10)\n"
    "  -s, --signal SIGNAL   the first signal: a name (TERM, SIGINT) or number\n";

static int parse_signal(const char *s)
{
	static const struct {
		const char *name;
		int sig;
	} names[] = {{"TERM", SIGTERM}, {"INT", SIGINT},   {"HUP", SIGHUP},  {"QUIT", SIGQUIT},
		     {"KILL", SIGKILL}, {"USR1", SIGUSR1}, {"USR2", SIGUSR2}};
	char *end = NULL;
	long n = strtol(s, &end, 10);
	if (*s && !*end)
		return n > 0 && n < 65 ? (int)n : -1;
	if (!strncasecmp(s, "SIG", 3))
		s += 3;
	for (size_t i = 0; i < sizeof names / sizeof *names; i++)
		if (!strcasecmp(s, names[i].name))
			return names[i].sig;
	return -1;
}

int cmd_stop(int argc, char **argv, const struct cmd_env *env)
{
	static const struct option longopts[] = {
	    {"time", required_argument, NULL, 't'},
	    {"signal", required_argument, NULL, 's'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int timeout = 10, sig = SIGTERM;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "t:s:h", longopts, NULL)) != -1) {
		char *end = NULL;
		switch (c) {
		case 't':
			timeout = (int)strtol(optarg, &end, 10);
			if (!*optarg || *end || timeout < 0 || timeout > 86400) {
				fprintf(stderr, "cairn stop: -t %s: expected seconds (0-86400)\n",
					optarg);
				return 2;
			}
			break;
		case 's':
			if ((sig = parse_signal(optarg)) < 0) {
				fprintf(stderr, "cairn stop: -s %s: not a signal\n", optarg);
				return 2;
			}
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fprintf(stderr, "cairn stop: unknown option or missing value: %s\n",
				argv[optind - 1]);
			return cmd_usage_error(usage);
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "cairn stop: no container given\n");
		return cmd_usage_error(usage);
	}
	struct cairn_error err = CAIRN_ERROR_INIT;
	cleanup_store struct store *s = NULL;
	if (store_open(env->root, &s, &err) < 0)
		return cmd_fail(&err);
	int status = 0;
	for (int i = optind; i < argc; i++) {
		struct container ct = {0};
		if (container_get(s, argv[i], &ct, &err) < 0 ||
		    container_stop(&ct, sig, timeout, &err) < 0)
			status = cmd_fail(&err);
		else
			printf("%s\n", argv[i]);
		if (ct.dir)
			container_release(&ct);
	}
	return status;
}
