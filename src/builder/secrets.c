/* The values of --secret: a file's content or a variable's, never more than a
 * secret may hold, and never in a message. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The most a secret holds, as buildkit: it lives in memory and on a tmpfs. */
#define SECRET_MAX (500u << 10)

static int secret_too_large(struct builder *b, const char *id, const char *what,
			    struct cairn_error *err)
{
	return cairn_error_set(err, EFBIG,
			       "secret %s: %s holds more than %u KiB, the most a secret may hold",
			       id, what, SECRET_MAX >> 10);
}

/* Reads the secret file path, never more than SECRET_MAX + 1 bytes of it: /dev/zero,
 * a fifo fed without end or a huge file costs no more than a secret that fits. */
static int read_secret_file(struct builder *b, const char *id, const char *path, char **data,
			    size_t *len, struct cairn_error *err)
{
	cleanup_close int fd = open(path, O_RDONLY | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return cairn_error_errno(err, errno, "secret %s: opening %s", id, path);
	char *buf = xmalloc(SECRET_MAX + 2);
	size_t got = 0;
	int e = 0;
	while (got <= SECRET_MAX) {
		ssize_t n = read(fd, buf + got, SECRET_MAX + 1 - got);
		if (n < 0 && errno == EINTR && !util_interrupted)
			continue;
		if (n < 0)
			e = errno;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (e || got > SECRET_MAX) {
		explicit_bzero(buf, got);
		free(buf);
		return e ? cairn_error_errno(err, e, "secret %s: reading %s", id, path)
			 : secret_too_large(b, id, path, err);
	}
	buf[got] = '\0';
	*data = buf;
	*len = got;
	return 0;
}

/* The value of --secret id=ID: a file's content (src=) or a variable's (env=); an id
 * alone names a variable, as buildx. *found false when no --secret gives the id.
 * Messages never hold a value. */
int builder_secret_value(struct builder *b, const char *id, char **data, size_t *len, bool *found,
			 struct cairn_error *err)
{
	*found = false;
	for (size_t i = 0; b->o->secrets && b->o->secrets[i]; i++) {
		const char *spec = b->o->secrets[i];
		cleanup_free char *sid = NULL, *src = NULL, *env = NULL, *type = NULL;
		cleanup_free char *copy = xstrdup(spec);
		char *save = NULL;
		for (char *f = strtok_r(copy, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
			char *eq = strchr(f, '=');
			if (!eq)
				return cairn_error_set(err, EINVAL,
						       "--secret %s: field \"%s\" is not key=value",
						       spec, f);
			*eq = '\0';
			char **slot = !strcmp(f, "id")				  ? &sid
				      : !strcmp(f, "src") || !strcmp(f, "source") ? &src
				      : !strcmp(f, "env")			  ? &env
				      : !strcmp(f, "type")			  ? &type
										  : NULL;
			if (!slot)
				return cairn_error_set(err, EINVAL,
						       "--secret %s: unknown key \"%s\"", spec, f);
			free(*slot);
			*slot = xstrdup(eq + 1);
		}
		if (!sid || !*sid || strcmp(sid, id))
			continue;
		*found = true;
		if (src && (!type || !strcmp(type, "file")))
			return read_secret_file(b, id, src, data, len, err);
		const char *var = env ? env : src ? src : id;
		const char *v = getenv(var);
		if (!v)
			return cairn_error_set(
			    err, ENOENT, "secret %s: environment variable %s is not set", id, var);
		if (strlen(v) > SECRET_MAX) {
			cleanup_free char *what = xasprintf("environment variable %s", var);
			return secret_too_large(b, id, what, err);
		}
		*data = xstrdup(v);
		*len = strlen(v);
		return 0;
	}
	return 0;
}
