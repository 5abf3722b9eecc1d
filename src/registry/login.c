/* registry: login and logout — credentials checked against the registry, then
 * kept docker-style in the auth file, which is rewritten atomically, mode 0600. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *registry_auth_file(void)
{
	return auth_file(false);
}

/* "https://host:5000/" → "host:5000"; anything with a path is refused. */
static int registry_key(const char *registry, char **out, struct cairn_error *err)
{
	const char *s = registry;
	if (!strncmp(s, "https://", 8))
		s += 8;
	else if (!strncmp(s, "http://", 7))
		s += 7;
	size_t n = strlen(s);
	while (n && s[n - 1] == '/')
		n--;
	if (!n || memchr(s, '/', n) || memchr(s, '@', n) || memchr(s, ' ', n))
		return cairn_error_set(err, EINVAL, "\"%s\": expected a registry (HOST[:PORT])",
				       registry);
	*out = xstrndup(s, n);
	return 0;
}

int registry_login(const char *registry, const char *user, const char *pass,
		   const struct registry_opts *o, struct cairn_error *err)
{
	cleanup_free char *key = NULL;
	int r = registry_key(registry, &key, err);
	if (r < 0)
		return r;
	struct registry_conn c = {.user = user, .pass = pass};
	c.ref.domain = key;
	r = conn_open(&c, o, err);
	conn_release(&c);
	if (r < 0)
		return cairn_error_wrap(err, "logging in to %s", key);
	return 0;
}

/* Temp file in the same directory, 0600, fsync, rename. */
static int save_auth_file(const char *path, json_t *doc, struct cairn_error *err)
{
	cleanup_free char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		int r = util_mkdir_p(AT_FDCWD, dir, 0700, err);
		if (r < 0)
			return r;
	}
	cleanup_secret char *text = json_dumps(doc, JSON_INDENT(1) | JSON_SORT_KEYS);
	if (!text)
		return cairn_error_set(err, ENOMEM, "%s: encoding JSON failed", path);
	cleanup_free char *tmp = xasprintf("%s.XXXXXX", path);
	int fd = mkstemp(tmp);
	if (fd < 0)
		return cairn_error_errno(err, errno, "%s", tmp);
	size_t n = strlen(text);
	int r = 0;
	if (fchmod(fd, 0600) < 0 || util_write_all(fd, text, n) < 0 ||
	    util_write_all(fd, "\n", 1) < 0 || fsync(fd) < 0)
		r = cairn_error_errno(err, errno, "writing %s", tmp);
	if (close(fd) < 0 && r == 0)
		r = cairn_error_errno(err, errno, "writing %s", tmp);
	if (r == 0 && rename(tmp, path) < 0)
		r = cairn_error_errno(err, errno, "renaming %s to %s", tmp, path);
	if (r < 0)
		unlink(tmp);
	return r;
}

/* The auth file read, changed and written back: the credentials for registry set to
 * user and pass, or removed when user is NULL. *file: its path (new string). */
static int auth_file_update(const char *registry, const char *user, const char *pass, char **file,
			    struct cairn_error *err)
{
	*file = NULL;
	const char *doing = user ? "storing credentials" : "removing credentials";
	cleanup_free char *key = NULL;
	int r = registry_key(registry, &key, err);
	if (r < 0)
		return r;
	cleanup_free char *path = registry_auth_file();
	if (!path && user)
		return cairn_error_set(
		    err, ENOENT, "no auth file: set REGISTRY_AUTH_FILE, XDG_RUNTIME_DIR or HOME");
	if (!path)
		return cairn_error_set(err, ENOENT, "not logged in to %s (no auth file)", key);
	cleanup_json json_t *doc = NULL;
	if ((r = auth_file_load(path, &doc, err)) < 0)
		return cairn_error_wrap(err, "%s", doing);
	json_t *auths = json_object_get(doc, "auths");
	if (user) {
		if (!json_is_object(auths)) {
			auths = json_object();
			json_object_set_new(doc, "auths", auths);
		}
		cleanup_secret char *b64 = auth_encode(user, pass);
		json_object_set_new(auths, key, json_pack("{s:s}", "auth", b64));
	} else if (json_object_del(auths, key) != 0) {
		return cairn_error_set(err, ENOENT, "not logged in to %s (in %s)", key, path);
	}
	if ((r = save_auth_file(path, doc, err)) < 0)
		return cairn_error_wrap(err, "%s", doing);
	*file = steal_pointer(&path);
	return 0;
}

int registry_auth_store(const char *registry, const char *user, const char *pass, char **file,
			struct cairn_error *err)
{
	return auth_file_update(registry, user, pass, file, err);
}

int registry_auth_remove(const char *registry, char **file, struct cairn_error *err)
{
	return auth_file_update(registry, NULL, NULL, file, err);
}
