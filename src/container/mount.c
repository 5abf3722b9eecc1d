/* container: the mounts of cairn run: -v SRC:DST[:OPTS] binds and --tmpfs DST[:OPTS],
 * with docker's grammar and its errors. */
#include "internal.h"

#include "../fs/fs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void container_mount_release(struct container_mount *m)
{
	free(m->source);
	free(m->target);
	memset(m, 0, sizeof *m);
}

/* DST: absolute, cleaned, not "/". */
static int parse_target(const char *opt, const char *spec, const char *dst, char **out,
			struct cairn_error *err)
{
	if (!*dst || dst[0] != '/')
		return cairn_error_set(err, EINVAL,
				       "%s %s: the path in the container (%s) must be absolute",
				       opt, spec, *dst ? dst : "empty");
	char *clean = fs_clean_path(dst, FS_CLEAN_IN_ROOT_ABS);
	if (!strcmp(clean, "/")) {
		free(clean);
		return cairn_error_set(err, EINVAL, "%s %s: cannot mount over /", opt, spec);
	}
	*out = clean;
	return 0;
}

int container_mount_parse_v(const char *spec, struct container_mount *out, struct cairn_error *err)
{
	memset(out, 0, sizeof *out);
	cleanup_free char *copy = xstrdup(spec);
	char *parts[4] = {NULL};
	size_t n = 0;
	for (char *save = NULL, *tok = strtok_r(copy, ":", &save); tok;
	     tok = strtok_r(NULL, ":", &save)) {
		if (n == 3)
			return cairn_error_set(
			    err, EINVAL, "-v %s: expected SRC:DST[:OPTIONS] (too many colons)",
			    spec);
		parts[n++] = tok;
	}
	if (n < 2)
		return cairn_error_set(err, EINVAL,
				       n == 1 && parts[0][0] == '/'
					   ? "-v %s: anonymous volumes are not supported yet; "
					     "bind a host directory: -v /host/dir:%s"
					   : "-v %s: expected SRC:DST[:OPTIONS]%s",
				       spec, n == 1 && parts[0][0] == '/' ? parts[0] : "");
	if (parts[0][0] != '/')
		return cairn_error_set(err, EINVAL,
				       "-v %s: %s is not an absolute host path (named volumes are "
				       "not supported yet)",
				       spec, parts[0]);
	for (char *o = parts[2], *save = NULL, *tok = o ? strtok_r(o, ",", &save) : NULL; tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (!strcmp(tok, "ro"))
			out->readonly = true;
		else if (!strcmp(tok, "rw"))
			out->readonly = false;
		else if (strcmp(tok, "z") && strcmp(tok, "Z")) /* SELinux labels: none here */
			return cairn_error_set(err, EINVAL,
					       "-v %s: unknown option %s (expected ro, rw, z or Z)",
					       spec, tok);
	}
	int r = parse_target("-v", spec, parts[1], &out->target, err);
	if (r < 0)
		return r;
	out->type = CONTAINER_MOUNT_BIND;
	out->source = fs_clean_path(parts[0], FS_CLEAN_IN_ROOT_ABS);
	return 0;
}

int container_mount_parse_tmpfs(const char *spec, struct container_mount *out,
				struct cairn_error *err)
{
	memset(out, 0, sizeof *out);
	cleanup_free char *copy = xstrdup(spec);
	char *opts = strchr(copy, ':');
	if (opts)
		*opts++ = '\0';
	int r = parse_target("--tmpfs", spec, copy, &out->target, err);
	if (r < 0)
		return r;
	out->type = CONTAINER_MOUNT_TMPFS;
	for (char *save = NULL, *tok = opts ? strtok_r(opts, ",", &save) : NULL; tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (!strcmp(tok, "ro"))
			out->readonly = true;
		else if (!strcmp(tok, "rw"))
			out->readonly = false;
		else if (!strncmp(tok, "size=", 5) && util_parse_size(tok + 5, &out->size) == 0 &&
			 out->size > 0)
			continue;
		else {
			container_mount_release(out);
			return cairn_error_set(err, EINVAL,
					       "--tmpfs %s: unknown or bad option %s (expected "
					       "size=N[k|m|g], ro or rw)",
					       spec, tok);
		}
	}
	return 0;
}
