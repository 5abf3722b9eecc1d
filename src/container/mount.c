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
			    err, EINVAL, "-v %s: expected [SRC:]DST[:OPTIONS] (too many colons)",
			    spec);
		parts[n++] = tok;
	}
	if (n == 0)
		return cairn_error_set(err, EINVAL, "-v: empty");
	/* -v DST and -v DST:OPTS: an anonymous volume */
	bool anonymous = n == 1 || (n == 2 && parts[1][0] != '/' && parts[0][0] == '/');
	const char *src = anonymous ? NULL : parts[0];
	const char *dst = anonymous ? parts[0] : parts[1];
	char *opts = anonymous ? (n == 2 ? parts[1] : NULL) : parts[2];
	for (char *save = NULL, *tok = opts ? strtok_r(opts, ",", &save) : NULL; tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (!strcmp(tok, "ro"))
			out->readonly = true;
		else if (!strcmp(tok, "rw"))
			out->readonly = false;
		else if (!strcmp(tok, "nocopy"))
			out->nocopy = true;
		else if (strcmp(tok, "z") && strcmp(tok, "Z")) /* SELinux labels: none here */
			return cairn_error_set(
			    err, EINVAL,
			    "-v %s: unknown option %s (expected ro, rw, nocopy, z "
			    "or Z)",
			    spec, tok);
	}
	if (src && src[0] != '/' && !container_volume_name_valid(src))
		return cairn_error_set(err, EINVAL,
				       "-v %s: %s is neither an absolute host path nor a volume "
				       "name ([a-zA-Z0-9][a-zA-Z0-9_.-]+)",
				       spec, src);
	int r = parse_target("-v", spec, dst, &out->target, err);
	if (r < 0)
		return r;
	if (!src || src[0] != '/') {
		out->type = CONTAINER_MOUNT_VOLUME;
		out->source = src ? xstrdup(src) : NULL;
		out->anonymous = !src;
		return 0;
	}
	out->type = CONTAINER_MOUNT_BIND;
	out->source = fs_clean_path(src, FS_CLEAN_IN_ROOT_ABS);
	return 0;
}

static bool boolean_value(const char *v, bool *out)
{
	if (!v || !strcmp(v, "true") || !strcmp(v, "1")) {
		*out = true;
		return true;
	}
	if (!strcmp(v, "false") || !strcmp(v, "0")) {
		*out = false;
		return true;
	}
	return false;
}

int container_mount_parse_mount(const char *spec, struct container_mount *out,
				struct cairn_error *err)
{
	memset(out, 0, sizeof *out);
	cleanup_free char *copy = xstrdup(spec);
	const char *type = "volume", *src = NULL, *dst = NULL;
	int r = 0;
	for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok && r == 0;
	     tok = strtok_r(NULL, ",", &save)) {
		char *v = strchr(tok, '=');
		if (v)
			*v++ = '\0';
		bool b = false;
		if (!strcmp(tok, "type") && v)
			type = v;
		else if ((!strcmp(tok, "source") || !strcmp(tok, "src")) && v)
			src = v;
		else if ((!strcmp(tok, "target") || !strcmp(tok, "destination") ||
			  !strcmp(tok, "dst")) &&
			 v)
			dst = v;
		else if ((!strcmp(tok, "readonly") || !strcmp(tok, "ro")) && boolean_value(v, &b))
			out->readonly = b;
		else if (!strcmp(tok, "volume-nocopy") && boolean_value(v, &b))
			out->nocopy = b;
		else if (!strcmp(tok, "tmpfs-size") && v && util_parse_size(v, &out->size) == 0)
			continue;
		else
			r = cairn_error_set(err, EINVAL, "--mount %s: unknown or bad field %s%s%s",
					    spec, tok, v ? "=" : "", v ? v : "");
	}
	if (r < 0)
		return r;
	if (!dst)
		return cairn_error_set(err, EINVAL, "--mount %s: no target", spec);
	if (!strcmp(type, "bind")) {
		struct stat st;
		if (!src || src[0] != '/')
			return cairn_error_set(err, EINVAL,
					       "--mount %s: a bind needs an absolute source", spec);
		if (stat(src, &st) < 0) /* docker's --mount does not make it */
			return cairn_error_errno(err, errno, "--mount %s: bind source %s", spec,
						 src);
		out->type = CONTAINER_MOUNT_BIND;
		out->source = fs_clean_path(src, FS_CLEAN_IN_ROOT_ABS);
	} else if (!strcmp(type, "volume")) {
		if (src && !container_volume_name_valid(src))
			return cairn_error_set(err, EINVAL, "--mount %s: %s is not a volume name",
					       spec, src);
		out->type = CONTAINER_MOUNT_VOLUME;
		out->source = src ? xstrdup(src) : NULL;
		out->anonymous = !src;
	} else if (!strcmp(type, "tmpfs")) {
		if (src)
			return cairn_error_set(err, EINVAL, "--mount %s: a tmpfs has no source",
					       spec);
		out->type = CONTAINER_MOUNT_TMPFS;
	} else {
		return cairn_error_set(
		    err, EINVAL, "--mount %s: type %s: expected bind, volume or tmpfs", spec, type);
	}
	if ((r = parse_target("--mount", spec, dst, &out->target, err)) < 0)
		container_mount_release(out);
	return r;
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
