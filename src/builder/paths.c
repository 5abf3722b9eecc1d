/* Absolute paths inside an image, cleaned lexically. */
#include "internal.h"

#include <errno.h>
#include <string.h>

/* "/a/b/../c" → "/a/c"; always absolute, no trailing slash except for "/". */
char *builder_clean_abs_path(const char *path)
{
	cleanup_free char *copy = xstrdup(path);
	cleanup_strv char **parts = xcalloc(1, sizeof(char *));
	char *save = NULL;
	for (char *t = strtok_r(copy, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
		if (!strcmp(t, "."))
			continue;
		if (!strcmp(t, "..")) {
			size_t n = strv_len(parts);
			if (n) {
				free(parts[n - 1]);
				parts[n - 1] = NULL;
			}
			continue;
		}
		strv_push(&parts, t);
	}
	struct strbuf sb = STRBUF_INIT;
	for (size_t i = 0; parts[i]; i++)
		strbuf_addf(&sb, "/%s", parts[i]);
	if (!sb.len)
		strbuf_addch(&sb, '/');
	return strbuf_detach(&sb);
}

char *builder_path_under(const char *cwd, const char *path)
{
	cleanup_free char *joined = path[0] == '/' ? xstrdup(path) : xasprintf("%s/%s", cwd, path);
	return builder_clean_abs_path(joined);
}
