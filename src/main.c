/* cairn: command dispatch. */
#include "commands.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: cairn [--root DIR] COMMAND [ARGS...]\n"
    "\n"
    "Builds container images from Dockerfile-style recipes, without a daemon.\n"
    "\n"
    "Commands:\n"
    "  build     build an image from a recipe and a context directory\n"
    "  images    list the tagged images in the store\n"
    "  inspect   show an image's manifest and config as JSON\n"
    "  history   show the steps that made an image\n"
    "  diff      show every difference between two images\n"
    "  verify    rebuild an image from its provenance and compare the digests\n"
    "  run       run a command in a new container of an image\n"
    "  ps        list containers\n"
    "  start     start stopped containers again\n"
    "  stop      stop running containers\n"
    "  logs      show a container's output\n"
    "  exec      run a command in a running container\n"
    "  rm        remove containers\n"
    "  commit    make a container's changes a new image\n"
    "  volume    create, list, inspect and remove volumes\n"
    "  tag       give an image another reference\n"
    "  rmi       remove references\n"
    "  gc        remove the blobs and layers nothing holds\n"
    "  prune     remove build cache (docker builder prune), then gc\n"
    "  df        show the space the store uses\n"
    "  fsck      check the store, and repair it\n"
    "  pull      pull an image (a registry, an OCI layout, an archive) into the store\n"
    "  push      push an image of the store to a registry\n"
    "  save      write images of the store as one archive (docker or oci)\n"
    "  load      load the images of an archive (docker save's, oci) into the store\n"
    "  login     check and store credentials for a registry\n"
    "  logout    remove the stored credentials for a registry\n"
    "  lint      check a recipe without building it\n"
    "  parse     print a recipe's syntax tree (text or JSON)\n"
    "\n"
    "Global options:\n"
    "  --root DIR   the store (default: $CAIRN_ROOT, /var/lib/cairn as root,\n"
    "               else $XDG_DATA_HOME/cairn)\n"
    "  --version    print the version\n"
    "  -h, --help   this help; `cairn COMMAND --help` for a command's own\n";

/* One command a line, as the docs test and the completion read the table. */
/* clang-format off */
static const struct {
	const char *name;
	int (*fn)(int argc, char **argv, const struct cmd_env *env);
} commands[] = {
	{"build", cmd_build},
	{"images", cmd_images},
	{"inspect", cmd_inspect},
	{"history", cmd_history},
	{"diff", cmd_diff},
	{"verify", cmd_verify},
	{"run", cmd_run},
	{"ps", cmd_ps},
	{"start", cmd_start},
	{"stop", cmd_stop},
	{"logs", cmd_logs},
	{"exec", cmd_exec},
	{"rm", cmd_rm},
	{"commit", cmd_commit},
	{"volume", cmd_volume},
	{"tag", cmd_tag},
	{"rmi", cmd_rmi},
	{"gc", cmd_gc},
	{"prune", cmd_prune},
	{"df", cmd_df},
	{"fsck", cmd_fsck},
	{"pull", cmd_pull},
	{"push", cmd_push},
	{"save", cmd_save},
	{"load", cmd_load},
	{"login", cmd_login},
	{"logout", cmd_logout},
	{"lint", cmd_lint},
	{"parse", cmd_parse},
};
/* clang-format on */

int main(int argc, char **argv)
{
	cleanup_free char *root = NULL;
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(usage, stdout);
			return 0;
		} else if (!strcmp(argv[i], "--version")) {
			printf("cairn %s\n", CAIRN_VERSION);
			return 0;
		} else if (!strcmp(argv[i], "--root") && i + 1 < argc) {
			free(root);
			root = xstrdup(argv[++i]);
		} else if (!strncmp(argv[i], "--root=", 7)) {
			free(root);
			root = xstrdup(argv[i] + 7);
		} else {
			fprintf(stderr, "cairn: unknown option %s\n%s", argv[i], usage);
			return 2;
		}
	}
	if (i >= argc) {
		fputs(usage, stderr);
		return 2;
	}
	if (root && !*root) {
		fprintf(stderr, "cairn: --root needs a directory\n");
		return 2;
	}
	if (!root)
		root = store_default_root();
	struct cmd_env env = {.root = root};
	for (size_t c = 0; c < sizeof commands / sizeof commands[0]; c++)
		if (!strcmp(argv[i], commands[c].name))
			return commands[c].fn(argc - i, argv + i, &env);
	fprintf(stderr, "cairn: unknown command \"%s\" (see cairn --help)\n", argv[i]);
	return 2;
}
