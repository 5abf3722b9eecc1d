/* cairn rmi: remove references. */
#include "commands.h"
#include "registry/registry.h"

#include <errno.h>
#include <string.h>

static const char usage[] =
    "usage: cairn rmi REF...\n"
    "\n"
    "Removes each reference from the store's index. Blobs and cached layers stay\n"
    "(the build cache still reaches them).\n";

int cmd_rmi(int argc, char **argv, const struct cmd_env *env)
{
	int status = cmd_begin(argc, argv, usage, 1, -1);
	if (status >= 0)
		return status;
	struct cairn_error err = CAIRN_ERROR_INIT;
	cleanup_store struct store *s = NULL;
	if (store_open(env->root, &s, &err) < 0)
		return cmd_fail(&err);
	status = 0;
	for (int i = 1; i < argc; i++) {
		/* the tag the name finds: as written, else the one pull made */
		struct store_tag t = {0};
		int r =
		    strchr(argv[i], '@')
			? cairn_error_set(&err, EINVAL, "%s: remove a tag, not a digest", argv[i])
			: registry_store_lookup(s, argv[i], &t, &err);
		if (r < 0 || store_tag_remove(s, t.ref, &err) < 0) {
			store_tag_release(&t);
			status = cmd_fail(&err);
			continue;
		}
		printf("untagged %s\n", t.ref);
		store_tag_release(&t);
	}
	return status;
}
