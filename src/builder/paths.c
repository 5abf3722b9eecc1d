/* Absolute paths inside an image, cleaned lexically. */
#include "internal.h"

#include "../fs/fs.h"

#include <errno.h>
#include <string.h>

/* "/a/b/../c" → "/a/c"; always absolute, no trailing slash except for "/". */
char *builder_clean_abs_path(const char *path)
{
	return fs_clean_path(path, FS_CLEAN_IN_ROOT_ABS);
}

char *builder_path_under(const char *cwd, const char *path)
{
	cleanup_free char *joined = path[0] == '/' ? xstrdup(path) : xasprintf("%s/%s", cwd, path);
	return builder_clean_abs_path(joined);
}
