/* Files and directories: whole reads and writes, atomic replace, mkdir -p, rm -rf; and sizes and
 * durations as people read them. */
#include "util.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int util_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int util_read_fd(int fd, char **out, size_t *len)
{
	struct strbuf sb = STRBUF_INIT;
	for (;;) {
		strbuf_grow(&sb, 65536);
		ssize_t n = read(fd, sb.buf + sb.len, sb.alloc - sb.len - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			strbuf_release(&sb);
			return -e;
		}
		if (n == 0)
			break;
		sb.len += (size_t)n;
		sb.buf[sb.len] = '\0';
	}
	if (len)
		*len = sb.len;
	*out = strbuf_detach(&sb);
	return 0;
}

int util_read_file(int dirfd, const char *path, char **out, size_t *len, struct cairn_error *err)
{
	cleanup_close int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cairn_error_errno(err, errno, "opening %s", path);
	int r = util_read_fd(fd, out, len);
	if (r < 0)
		return cairn_error_errno(err, -r, "reading %s", path);
	return 0;
}

int util_write_file_atomic(int dirfd, const char *name, const void *data, size_t len,
			   struct cairn_error *err)
{
	cleanup_free char *tmp = xasprintf("%s.tmp.%d", name, (int)getpid());
	cleanup_close int fd =
	    openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return cairn_error_errno(err, errno, "creating %s", tmp);
	int r = util_write_all(fd, data, len);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (r == 0 && renameat(dirfd, tmp, dirfd, name) < 0)
		r = -errno;
	if (r < 0) {
		unlinkat(dirfd, tmp, 0);
		return cairn_error_errno(err, -r, "writing %s", name);
	}
	return 0;
}

int util_mkdir_p(int dirfd, const char *path, mode_t mode, struct cairn_error *err)
{
	if (!*path)
		return cairn_error_set(err, ENOENT, "creating directory: empty path");
	cleanup_free char *p = xstrdup(path);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdirat(dirfd, p, mode) < 0 && errno != EEXIST)
			return cairn_error_errno(err, errno, "creating directory %s", p);
		*s = '/';
	}
	if (mkdirat(dirfd, p, mode) < 0 && errno != EEXIST)
		return cairn_error_errno(err, errno, "creating directory %s", p);
	return 0;
}

static int rm_rf_at(int parent, const char *name, dev_t dev, struct cairn_error *err);

/* Removes everything in the directory fd (taken over: closed). */
static int rm_contents(int fd, dev_t dev, struct cairn_error *err)
{
	DIR *d = fdopendir(fd);
	if (!d) {
		int e = errno;
		close(fd);
		return cairn_error_errno(err, e, "reading directory");
	}
	int r = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		r = rm_rf_at(dirfd(d), de->d_name, dev, err);
		if (r < 0)
			break;
	}
	closedir(d);
	return r;
}

int util_rm_contents(int dirfd, struct cairn_error *err)
{
	struct stat st;
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return cairn_error_errno(err, e, "reading directory");
	}
	return rm_contents(fd, st.st_dev, err);
}

static int rm_rf_at(int parent, const char *name, dev_t dev, struct cairn_error *err)
{
	struct stat st;
	if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return 0;
		return cairn_error_errno(err, errno, "removing %s", name);
	}
	if (!S_ISDIR(st.st_mode)) {
		if (unlinkat(parent, name, 0) < 0 && errno != ENOENT)
			return cairn_error_errno(err, errno, "removing %s", name);
		return 0;
	}
	if (st.st_dev != dev)
		return cairn_error_set(err, EBUSY, "removing %s: a mount point is in the way",
				       name);
	int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		/* a directory without read or exec permission: make it usable first */
		if (errno == EACCES && fchmodat(parent, name, 0700, 0) == 0)
			fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return cairn_error_errno(err, errno, "removing %s", name);
	}
	int r = rm_contents(fd, dev, err);
	if (r < 0)
		return cairn_error_wrap(err, "%s", name);
	if (unlinkat(parent, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return cairn_error_errno(err, errno, "removing %s", name);
	return 0;
}

int util_rm_rf(int dirfd, const char *name, struct cairn_error *err)
{
	struct stat st;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return 0;
		return cairn_error_errno(err, errno, "removing %s", name);
	}
	return rm_rf_at(dirfd, name, st.st_dev, err);
}

int util_parse_size(const char *s, uint64_t *out)
{
	if (!s || !isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	char *end = NULL;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	unsigned shift = 0;
	if (*end && tolower((unsigned char)*end) != 'b') {
		const char *units = "kmgt";
		const char *u = strchr(units, tolower((unsigned char)*end));
		if (!u)
			return -EINVAL;
		shift = 10 * (unsigned)(u - units + 1);
		end++;
		/* docker's spellings: 10g, 10gb, 10GiB */
		if (tolower((unsigned char)*end) == 'i')
			end++;
	}
	if (tolower((unsigned char)*end) == 'b')
		end++;
	if (*end)
		return -EINVAL;
	if (v > (UINT64_MAX >> shift))
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

char *util_human_size(uint64_t bytes)
{
	static const char *units[] = {"B", "kB", "MB", "GB", "TB"};
	double v = (double)bytes;
	int u = 0;
	while (v >= 1000 && u < 4) {
		v /= 1000;
		u++;
	}
	if (u == 0)
		return xasprintf("%lluB", (unsigned long long)bytes);
	return xasprintf(v < 10 ? "%.2f%s" : v < 100 ? "%.1f%s" : "%.0f%s", v, units[u]);
}

char *util_human_duration(double s)
{
	if (s < 60)
		return xasprintf("%.2fs", s);
	int m = (int)(s / 60);
	return xasprintf("%dm%02ds", m, (int)(s - m * 60));
}

/* du's sum: blocks of everything under dirfd/name, not crossing mounts, each inode
 * with several links once. */
struct du_seen {
	dev_t dev;
	ino_t ino;
};

static void du_at(int parent, const char *name, dev_t dev, uint64_t *bytes, struct du_seen **seen,
		  size_t *n_seen)
{
	struct stat st;
	if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || st.st_dev != dev)
		return;
	if (!S_ISDIR(st.st_mode) && st.st_nlink > 1) {
		for (size_t i = 0; i < *n_seen; i++)
			if ((*seen)[i].dev == st.st_dev && (*seen)[i].ino == st.st_ino)
				return;
		if (*n_seen % 64 == 0)
			*seen = xrealloc(*seen, (*n_seen + 64) * sizeof **seen);
		(*seen)[(*n_seen)++] = (struct du_seen){st.st_dev, st.st_ino};
	}
	*bytes += (uint64_t)st.st_blocks * 512;
	if (!S_ISDIR(st.st_mode))
		return;
	int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	struct dirent *de;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			du_at(dirfd(d), de->d_name, dev, bytes, seen, n_seen);
	closedir(d);
}

uint64_t util_disk_usage(int dirfd, const char *name)
{
	struct stat st;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return 0;
	uint64_t bytes = 0;
	struct du_seen *seen = NULL;
	size_t n_seen = 0;
	du_at(dirfd, name, st.st_dev, &bytes, &seen, &n_seen);
	free(seen);
	return bytes;
}
