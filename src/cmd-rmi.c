/* cairn rmi: remove references. */
#include "commands.h"

#include <errno.h>

static const char usage[] =
	"usage: cairn rmi REF...\n"
	"\n"
	"Removes each reference from the store's index. Blobs and cached layers stay\n"
	"(the build cache still reaches them).\n";

int cmd_rmi(int argc, char **argv, const struct cmd_env *env)
{
	if (cmd_wants_help(argc, argv, usage))
		return 0;
	if (argc < 2) {
		fputs(usage, stderr);
		return 2;
	}
	struct cairn_error err = CAIRN_ERROR_INIT;
	cleanup_store struct store *s = NULL;
	if (store_open(env->root, &s, &err) < 0)
		return cmd_fail(&err);
	int status = 0;
	for (int i = 1; i < argc; i++) {
		cleanup_free char *ref = NULL;
		if (util_ref_normalize(argv[i], &ref, &err) < 0 ||
		    store_tag_remove(s, ref, &err) < 0) {
			status = cmd_fail(&err);
			continue;
		}
		printf("untagged %s\n", ref);
	}
	return status;
}
