/* A root beside a canary, for the tests and fuzz targets that write beneath a root
 * and must prove that nothing outside it changed (tests/unit/test-fs.c,
 * tests/unit/test-extract.c, tests/fuzz/fuzz-fs.c, tests/fuzz/fuzz-extract.c):
 *
 *   TOP/jail/root/     the root the code under test works beneath
 *   TOP/jail/canary/   a directory beside it (0700), holding "file" (0600, "canary")
 *
 * TOP is a fresh directory in /dev/shm when it can be (many small writes), else in
 * /tmp. Needs util.h. */
#ifndef CAIRN_TEST_JAIL_H
#define CAIRN_TEST_JAIL_H

#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct jail {
	char *top, *dir, *root, *canary;
	char *canary_listing; /* the canary as made */
};

/* dir/rel; caller frees. */
static inline char *jail_path(const char *dir, const char *rel)
{
	return xasprintf("%s/%s", dir, rel);
}

/* Names in dir, sorted, one a line; with long, each also with its mode, size and
 * link count. "(none)" when dir cannot be read. Caller frees. */
static inline char *jail_listing(const char *dir, bool longer)
{
	DIR *d = opendir(dir);
	if (!d)
		return xstrdup("(none)");
	char **v = NULL;
	struct dirent *de;
	while ((de = readdir(d))) {
		struct stat st;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (!longer || fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			strv_push(&v, de->d_name);
		else
			strv_push_take(&v, xasprintf("%s:%o:%lld:%lu", de->d_name,
						     (unsigned)st.st_mode, (long long)st.st_size,
						     (unsigned long)st.st_nlink));
	}
	closedir(d);
	size_t n = strv_len(v);
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			if (strcmp(v[j], v[i]) < 0) {
				char *t = v[i];
				v[i] = v[j];
				v[j] = t;
			}
	struct strbuf sb = STRBUF_INIT;
	for (size_t i = 0; i < n; i++)
		strbuf_addf(&sb, "%s\n", v[i]);
	strv_free(v);
	return strbuf_detach(&sb);
}

/* A new empty root (what was in it is removed). */
static inline bool jail_fresh_root(struct jail *j)
{
	util_rm_rf(AT_FDCWD, j->root, NULL);
	return mkdir(j->root, 0755) == 0;
}

/* Makes the jail; false (errno set) when it cannot. */
static inline bool jail_make(struct jail *j, const char *name)
{
	memset(j, 0, sizeof *j);
	char *shm = xasprintf("/dev/shm/%s-XXXXXX", name), *tmp = xasprintf("/tmp/%s-XXXXXX", name);
	char *made = mkdtemp(shm) ? shm : mkdtemp(tmp);
	j->top = made ? xstrdup(made) : NULL;
	free(shm), free(tmp);
	if (!j->top)
		return false;
	j->dir = jail_path(j->top, "jail");
	j->root = jail_path(j->dir, "root");
	j->canary = jail_path(j->dir, "canary");
	char *file = jail_path(j->canary, "file");
	bool ok = mkdir(j->dir, 0755) == 0 && mkdir(j->canary, 0700) == 0 && jail_fresh_root(j);
	int fd = ok ? open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600) : -1;
	ok = fd >= 0 && util_write_all(fd, "canary", 6) == 0;
	if (fd >= 0)
		close(fd);
	free(file);
	j->canary_listing = jail_listing(j->canary, true);
	return ok;
}

/* True when nothing outside the root changed: the jail holds the canary and the
 * root only, the canary its one file, unchanged. Otherwise *why (may be NULL) says
 * what is there (caller frees). */
static inline bool jail_intact(const struct jail *j, char **why)
{
	char *top = jail_listing(j->dir, false), *canary = jail_listing(j->canary, true);
	char *file = jail_path(j->canary, "file"), *text = NULL;
	util_read_file(AT_FDCWD, file, &text, NULL, NULL);
	struct stat st;
	bool ok = !strcmp(top, "canary\nroot\n") && !strcmp(canary, j->canary_listing) && text &&
		  !strcmp(text, "canary") && stat(j->canary, &st) == 0 &&
		  st.st_mode == (S_IFDIR | 0700);
	if (!ok && why)
		*why = xasprintf("the jail holds:\n%sthe canary holds:\n%s", top, canary);
	free(top), free(canary), free(file), free(text);
	return ok;
}

/* Removes the jail and all in it. */
static inline void jail_remove(struct jail *j)
{
	if (j->top)
		util_rm_rf(AT_FDCWD, j->top, NULL);
	free(j->top), free(j->dir), free(j->root), free(j->canary), free(j->canary_listing);
	memset(j, 0, sizeof *j);
}

#endif
