/* Absolute paths inside an image, cleaned lexically. */
#include "internal.h"

#include "../fs/fs.h"

#include <errno.h>
#include <string.h>

char *builder_path_under(const char *cwd, const char *path)
{
	cleanup_free char *joined = path[0] == '/' ? xstrdup(path) : xasprintf("%s/%s", cwd, path);
	return fs_clean_path(joined, FS_CLEAN_IN_ROOT_ABS);
}
