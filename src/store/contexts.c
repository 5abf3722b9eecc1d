/* store: the build contexts' stat caches, cairn/contexts/<hex>: opaque files the
 * builder owns, bounded in size when read and in number when written. */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int store_stat_cache_read(struct store *s, const char *key, size_t max, char **data, size_t *len,
			  struct cairn_error *err)
{
	int r = store_check_digest(key, "reading a context stat cache", err);
	if (r < 0)
		return r;
	if (s->contexts_fd < 0)
		return cairn_error_set(err, ENOENT, "no context stat cache %s", key);
	cleanup_close int fd =
	    openat(s->contexts_fd, digest_hex(key), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return cairn_error_errno(err, errno, "reading context stat cache %s", key);
	/* bounded before anything is allocated: a cache is never worth much memory */
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > max)
		return cairn_error_set(
		    err, EFBIG, "context stat cache %s: not a file of at most %zu bytes", key, max);
	size_t want = (size_t)st.st_size, got = 0;
	cleanup_free char *buf = xmalloc(want + 1);
	while (got < want) {
		ssize_t n = read(fd, buf + got, want - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return cairn_error_errno(err, errno, "reading context stat cache %s", key);
		if (n == 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	*len = got;
	*data = steal_pointer(&buf);
	return 0;
}

struct cache_file {
	char *name;
	struct timespec mtime;
};

static int cmp_cache_file_age(const void *a, const void *b)
{
	const struct cache_file *x = a, *y = b;
	if (x->mtime.tv_sec != y->mtime.tv_sec)
		return x->mtime.tv_sec < y->mtime.tv_sec ? 1 : -1;
	return x->mtime.tv_nsec < y->mtime.tv_nsec   ? 1
	       : x->mtime.tv_nsec > y->mtime.tv_nsec ? -1
						     : 0;
}

/* Keeps cairn/contexts bounded: the STORE_STAT_CACHES most recently written caches
 * stay, older ones (and temp files a crash left an hour ago) go. Best effort. */
static void prune_stat_caches(struct store *s)
{
	DIR *d = store_dir_stream(s->contexts_fd);
	if (!d)
		return;
	struct cache_file *files = NULL;
	size_t n = 0, alloc = 0;
	time_t now = time(NULL);
	struct dirent *de;
	while ((de = readdir(d))) {
		struct stat st;
		if (de->d_name[0] == '.' ||
		    fstatat(s->contexts_fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (strstr(de->d_name, ".tmp.")) {
			if (st.st_mtime < now - 3600)
				unlinkat(s->contexts_fd, de->d_name, 0);
			continue;
		}
		if (n == alloc) {
			alloc = alloc ? alloc * 2 : 64;
			files = xrealloc(files, alloc * sizeof *files);
		}
		files[n++] = (struct cache_file){xstrdup(de->d_name), st.st_mtim};
	}
	closedir(d);
	if (n > STORE_STAT_CACHES)
		qsort(files, n, sizeof *files, cmp_cache_file_age);
	for (size_t i = 0; i < n; i++) {
		if (i >= STORE_STAT_CACHES)
			unlinkat(s->contexts_fd, files[i].name, 0);
		free(files[i].name);
	}
	free(files);
}

int store_stat_cache_write(struct store *s, const char *key, const void *data, size_t len,
			   struct cairn_error *err)
{
	int r = store_check_digest(key, "writing a context stat cache", err);
	if (r < 0 || (r = store_need_write(s, "writing a context stat cache", err)) < 0)
		return r;
	r = store_write_file(s, s->contexts_fd, digest_hex(key), data, len, err);
	if (r < 0)
		return cairn_error_wrap(err, "writing context stat cache %s", key);
	prune_stat_caches(s);
	return 0;
}
