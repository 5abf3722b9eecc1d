/* cairn pull: an image from a registry into the store. */
#include "commands.h"
#include "registry/registry.h"

#include <getopt.h>
#include <string.h>

static const char usage[] =
    "usage: cairn pull [--platform OS/ARCH[/VARIANT]] [--tls-verify=false]\n"
    "                  [--cert-dir DIR] [-q] REF\n"
    "\n"
    "Pulls REF (\"debian\", \"host:port/team/app:1\", \"name@sha256:…\") from its\n"
    "registry into the store, tags it under its full name (\"docker.io/library/\n"
    "debian:latest\"; nothing when pulled by digest) and prints the manifest digest.\n"
    "\n"
    "  --platform P        the platform to pick from a multi-platform image\n"
    "                      (default: linux/<this machine>)\n" CMD_REGISTRY_USAGE
    "  -q, --quiet         no progress on stderr\n";

int cmd_pull(int argc, char **argv, const struct cmd_env *env)
{
	if (cmd_wants_help(argc, argv, usage))
		return 0;
	static const struct option opts[] = {
	    {"platform", required_argument, NULL, 'p'},
	    CMD_REGISTRY_OPTIONS,
	    CMD_QUIET_OPTION,
	    {NULL, 0, NULL, 0},
	};
	struct registry_opts o = REGISTRY_OPTS_INIT;
	o.progress = stderr;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+q", opts, NULL)) != -1) {
		if (c == 'p')
			o.platform = optarg;
		else if (cmd_registry_option("pull", c, optarg, &o, usage) < 0)
			return 2;
	}
	if (argc - optind != 1) {
		return cmd_usage_error(usage);
	}
	struct cairn_error err = CAIRN_ERROR_INIT;
	cleanup_store struct store *s = NULL;
	if (store_open(env->root, &s, &err) < 0)
		return cmd_fail(&err);
	util_catch_signals();
	char digest[DIGEST_LEN];
	if (registry_pull(s, argv[optind], &o, digest, &err) < 0)
		return cmd_fail(&err);
	printf("%s\n", digest);
	return 0;
}
