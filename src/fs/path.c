/* Paths as text: the one cleaning rule, and where an open fd is. */
#include "fs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *fs_clean_path(const char *path, enum fs_clean_policy policy)
{
	struct strbuf sb = STRBUF_INIT;
	/* the result is built without its leading '/'; sb.len is where the top is */
	for (const char *p = path; *p;) {
		size_t len = strcspn(p, "/");
		if (len == 2 && p[0] == '.' && p[1] == '.') {
			if (sb.len == 0 && policy == FS_CLEAN_NO_ESCAPE) {
				strbuf_release(&sb);
				return NULL;
			}
			const char *slash = sb.len ? strrchr(sb.buf, '/') : NULL;
			sb.len = slash ? (size_t)(slash - sb.buf) : 0;
			if (sb.buf)
				sb.buf[sb.len] = '\0';
		} else if (len && !(len == 1 && p[0] == '.')) {
			if (sb.len)
				strbuf_addch(&sb, '/');
			strbuf_add(&sb, p, len);
		}
		p += len + (p[len] == '/');
	}
	if (policy != FS_CLEAN_IN_ROOT_ABS)
		return strbuf_detach(&sb);
	char *abs = xasprintf("/%s", strbuf_str(&sb));
	strbuf_release(&sb);
	return abs;
}

char *fs_readlinkat(int dirfd, const char *name)
{
	for (size_t size = 256;; size *= 2) {
		char *buf = xmalloc(size);
		ssize_t n = readlinkat(dirfd, name, buf, size);
		if (n >= 0 && (size_t)n < size) {
			buf[n] = '\0';
			return buf;
		}
		int e = errno;
		free(buf);
		if (n < 0) {
			errno = e;
			return NULL;
		}
	}
}

char *fs_fd_path_below(const char *root_path, int fd)
{
	char link[32];
	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	cleanup_free char *path = fs_readlinkat(AT_FDCWD, link);
	/* not a path: "anon_inode:...", or a directory outside the process's root */
	if (!path || path[0] != '/')
		return NULL;
	if (!strcmp(root_path, "/"))
		return xstrdup(path + 1);
	size_t len = strlen(root_path);
	if (strncmp(path, root_path, len) || (path[len] && path[len] != '/'))
		return NULL;
	return xstrdup(path + len + (path[len] == '/'));
}
