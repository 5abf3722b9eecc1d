/* cairn pull: an image from a registry, an OCI layout or an archive into the store. */
#include "commands.h"
#include "registry/registry.h"
#include "transport/transport.h"

#include <getopt.h>
#include <string.h>

static const char usage[] =
    "usage: cairn pull [--platform OS/ARCH[/VARIANT]] [--tls-verify=false]\n"
    "                  [--cert-dir DIR] [-q] IMAGE\n"
    "\n"
    "Pulls IMAGE into the store and prints its manifest digest. IMAGE is one of:\n"
    "  REF, docker://REF          from its registry (\"debian\", \"host:port/team/app:1\",\n"
    "                             \"name@sha256:…\"), tagged under its full name\n"
    "                             (\"docker.io/library/debian:latest\"; nothing by digest)\n"
    "  oci:DIR[:REF]              from an OCI image layout, tagged with its ref name\n"
    "  oci-archive:FILE[:REF]     from a tar of an OCI image layout, the same way\n"
    "  docker-archive:FILE[:REF]  from what docker save writes, tagged with its\n"
    "                             RepoTags (REF alone when given), as pull tags\n"
    "\n"
    "  --platform P        the platform to pick from a multi-platform image\n"
    "                      (default: linux/<this machine>)\n" CMD_REGISTRY_USAGE
    "  -q, --quiet         no progress on stderr\n";

/* The exit status of a failed pull: 2 when what was given is malformed (a spec, an
 * archive, a layout), else 1. */
static int pull_failed(struct cairn_error *err)
{
	int status = err->kind == CAIRN_ERR_INVALID ? 2 : 1;
	cmd_fail(err);
	return status;
}

/* Copies the image of an archive or layout into s and tags it with its names. */
static int pull_file(struct store *s, const char *spec, const struct registry_opts *o,
		     struct cairn_error *err)
{
	cleanup_transport_image struct transport_image img = {0};
	char digest[DIGEST_LEN];
	if (cmd_import_image(s, spec, o, &img, digest, err) < 0)
		return pull_failed(err);
	if (!img.tags && o->progress)
		fprintf(o->progress, "%s names no image: it is in the store untagged\n", spec);
	printf("%s\n", digest);
	return 0;
}

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
	enum transport_kind kind;
	const char *rest;
	if (transport_parse(argv[optind], &kind, &rest, &err) < 0)
		return pull_failed(&err);
	cleanup_store struct store *s = NULL;
	if (store_open(env->root, &s, &err) < 0)
		return cmd_fail(&err);
	util_catch_signals();
	if (kind != TRANSPORT_STORE && kind != TRANSPORT_DOCKER)
		return pull_file(s, argv[optind], &o, &err);
	char digest[DIGEST_LEN];
	if (registry_pull(s, rest, &o, digest, &err) < 0)
		return cmd_fail(&err);
	printf("%s\n", digest);
	return 0;
}
