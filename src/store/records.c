/* store: build-cache records, cairn/cache/<key hex>: JSON the builder writes,
 * replaced atomically. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

int store_cache_get(struct store *s, const char *key, char **json, struct cairn_error *err)
{
	int r = store_check_digest(key, "reading cache record", err);
	if (r < 0)
		return r;
	if (s->cache_fd < 0)
		return cairn_error_set(err, ENOENT, "no cache record for %s", key);
	r = util_read_file(s->cache_fd, digest_hex(key), json, NULL, err);
	if (r == -ENOENT)
		return cairn_error_set(err, ENOENT, "no cache record for %s", key);
	if (r < 0)
		return cairn_error_wrap(err, "reading cache record %s", key);
	/* its mtime is when a build last used it: prune takes the oldest first */
	if (!s->readonly)
		utimensat(s->cache_fd, digest_hex(key), NULL, 0);
	return 0;
}

int store_cache_put(struct store *s, const char *key, const char *json, struct cairn_error *err)
{
	int r = store_check_digest(key, "writing cache record", err);
	if (r < 0 || (r = store_need_write(s, "writing a cache record", err)) < 0)
		return r;
	r = store_write_file(s, s->cache_fd, digest_hex(key), json, strlen(json), err);
	if (r < 0)
		return cairn_error_wrap(err, "writing cache record %s", key);
	return 0;
}
