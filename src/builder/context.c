/* The build context: matching COPY/ADD sources, digesting what they bring in, and
 * copying them into an image root. Every path is resolved beneath the context
 * root (and beneath the image root when writing) with openat2 RESOLVE_IN_ROOT, so
 * neither a recipe nor a symlink in the context reads outside the context. */
#include "internal.h"

#include "recipe.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

struct build_context {
	int fd;
	char *dir;
	char *name;		  /* what messages call it: "the build context", "stage builder" */
	struct recipe_ignore *ig; /* .dockerignore rules (context-relative), or NULL */
	struct recipe_ignore *exclude; /* the current COPY's --exclude (source-relative), or NULL */
	struct stat_cache *stat_cache; /* NULL: every digest reads every file */
};

static int openat2_in_root(int root, const char *path, int flags, mode_t mode)
{
	struct open_how how = {
	    .flags = (uint64_t)(flags | O_CLOEXEC),
	    .mode = (flags & O_CREAT) ? mode : 0,
	    .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	while (*path == '/')
		path++;
	if (!*path)
		path = ".";
	long fd = syscall(SYS_openat2, root, path, &how, sizeof how);
	return fd < 0 ? -errno : (int)fd;
}

int context_open(const char *dir, struct build_context **out, struct cairn_error *err)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return cairn_error_errno(err, errno, "opening build context %s", dir);
	struct build_context *c = xcalloc(1, sizeof *c);
	c->fd = fd;
	c->dir = xstrdup(dir);
	c->name = xstrdup("the build context");
	*out = c;
	return 0;
}

void context_close(struct build_context *c)
{
	if (!c)
		return;
	struct cairn_error e = CAIRN_ERROR_INIT;
	if (stat_cache_save(c->stat_cache, &e) < 0)
		cairn_error_clear(&e);
	stat_cache_free(c->stat_cache);
	close(c->fd);
	free(c->dir);
	free(c->name);
	recipe_ignore_free(c->ig);
	recipe_ignore_free(c->exclude);
	free(c);
}

void context_set_name(struct build_context *c, const char *name)
{
	free(c->name);
	c->name = xstrdup(name);
}

void context_use_stat_cache(struct build_context *c, struct store *s)
{
	/* the real path names the cache: the same directory however it is reached */
	cleanup_free char *real = realpath(c->dir, NULL);
	if (!real || c->stat_cache)
		return;
	c->stat_cache = stat_cache_load(s, real);
}

void context_sources_free(struct context_source *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(s[i].path);
	free(s);
}

/* Splits a source pattern into cleaned components; ".." that would leave the context
 * (named what) is an error, as docker's "forbidden path outside the build context". */
static int split_clean(const char *pattern, const char *what, char ***comps,
		       struct cairn_error *err)
{
	cleanup_free char *copy = xstrdup(pattern);
	char **v = xcalloc(1, sizeof(char *));
	char *save = NULL;
	for (char *tok = strtok_r(copy, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
		if (!strcmp(tok, "."))
			continue;
		if (!strcmp(tok, "..")) {
			size_t n = strv_len(v);
			if (n == 0) {
				strv_free(v);
				return cairn_error_set(err, EPERM, "forbidden path outside %s: %s",
						       what, pattern);
			}
			free(v[n - 1]);
			v[n - 1] = NULL;
			continue;
		}
		strv_push(&v, tok);
	}
	*comps = v;
	return 0;
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

/* ---- what a walk skips ---- */

enum walk_take {
	TAKE,	 /* copy and digest the entry */
	SKIP,	 /* ignored or excluded */
	DESCEND, /* an excluded directory under which a rule may re-include something */
};

/* rel as --exclude sees it: relative to the source src (both context-relative); the
 * source itself is its base name, as in `COPY --exclude=*.txt hom* /d/`. */
static const char *under_source(const char *src, const char *rel)
{
	if (!strcmp(src, "."))
		return rel;
	size_t n = strlen(src);
	if (!strncmp(rel, src, n) && rel[n] == '/')
		return rel + n + 1;
	return base_name(rel);
}

static enum walk_take rule_take(const struct recipe_ignore *ig, const char *path, bool is_dir)
{
	if (!ig || !recipe_ignore_match(ig, path))
		return TAKE;
	return is_dir && recipe_ignore_may_include_below(ig, path) ? DESCEND : SKIP;
}

/* Whether a walk of source src takes rel (context-relative): .dockerignore applies to
 * rel, --exclude to rel relative to src. */
static enum walk_take walk_take(const struct build_context *c, const char *src, const char *rel,
				bool is_dir)
{
	enum walk_take a = rule_take(c->ig, rel, is_dir);
	if (a == SKIP)
		return SKIP;
	enum walk_take b = rule_take(c->exclude, under_source(src, rel), is_dir);
	if (b == SKIP)
		return SKIP;
	return a == DESCEND || b == DESCEND ? DESCEND : TAKE;
}

/* Whether a source component is a pattern: Go's filepath.Match (recipe_glob_match),
 * as buildkit matches COPY sources, one component at a time. */
static bool has_meta(const char *s)
{
	return strpbrk(s, "*?[\\") != NULL;
}

static char *join_rel(const char *dir, const char *name)
{
	if (!*dir || !strcmp(dir, "."))
		return xstrdup(name);
	return xasprintf("%s/%s", dir, name);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names in directory rel (of the context) matching pattern, sorted. */
static int list_matching(struct build_context *c, const char *rel, const char *pattern, char ***out,
			 struct cairn_error *err)
{
	*out = NULL;
	int fd = openat2_in_root(c->fd, rel, O_RDONLY | O_DIRECTORY, 0);
	if (fd < 0)
		return fd == -ENOENT || fd == -ENOTDIR
			   ? 0
			   : cairn_error_errno(err, -fd, "reading context directory %s", rel);
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return cairn_error_errno(err, errno, "reading context directory %s", rel);
	}
	char **names = NULL;
	struct dirent *de;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    recipe_glob_match(pattern, de->d_name) == 1)
			strv_push(&names, de->d_name);
	closedir(d);
	if (names)
		qsort(names, strv_len(names), sizeof(char *), cmp_str);
	*out = names;
	return 0;
}

static int stat_in_context(struct build_context *c, const char *rel, struct stat *st)
{
	cleanup_close int fd = openat2_in_root(c->fd, rel, O_PATH, 0);
	if (fd < 0)
		return fd;
	return fstat(fd, st) < 0 ? -errno : 0;
}

static void push_source(struct context_source **out, size_t *n, const char *path, bool is_dir)
{
	*out = xrealloc(*out, (*n + 1) * sizeof **out);
	(*out)[*n].path = xstrdup(*path ? path : ".");
	(*out)[*n].is_dir = is_dir;
	(*n)++;
}

static int match_one(struct build_context *c, const char *pattern, struct context_source **out,
		     size_t *n, struct cairn_error *err)
{
	cleanup_strv char **comps = NULL;
	int r = split_clean(pattern, c->name, &comps, err);
	if (r < 0)
		return r;
	/* Go's Match finds a malformed pattern whatever the name; buildkit drops that
	 * error and so matches nothing, failing the build: here it fails saying why */
	for (size_t i = 0; comps[i]; i++)
		if (has_meta(comps[i]) && recipe_glob_match(comps[i], "") == RECIPE_GLOB_BAD)
			return cairn_error_set(err, EINVAL, "\"%s\": syntax error in pattern",
					       pattern);
	/* candidates: relative paths matched so far */
	cleanup_strv char **cand = NULL;
	strv_push(&cand, "");
	for (size_t i = 0; comps[i]; i++) {
		char **next = NULL;
		for (size_t j = 0; cand[j]; j++) {
			if (!has_meta(comps[i])) {
				strv_push_take(&next, join_rel(cand[j], comps[i]));
				continue;
			}
			cleanup_strv char **names = NULL;
			r = list_matching(c, cand[j], comps[i], &names, err);
			if (r < 0) {
				strv_free(next);
				return r;
			}
			for (size_t k = 0; names && names[k]; k++)
				strv_push_take(&next, join_rel(cand[j], names[k]));
		}
		strv_free(cand);
		cand = next ? next : xcalloc(1, sizeof(char *));
	}
	size_t found = 0, ignored = 0;
	for (size_t j = 0; cand[j]; j++) {
		struct stat st;
		r = stat_in_context(c, cand[j], &st);
		if (r == -ENOENT || r == -ENOTDIR)
			continue;
		if (r < 0)
			return cairn_error_errno(err, -r, "reading %s in %s", cand[j], c->name);
		bool is_dir = S_ISDIR(st.st_mode);
		/* as buildkit: what .dockerignore excludes is not in the context at all */
		if (rule_take(c->ig, *cand[j] ? cand[j] : ".", is_dir) == SKIP) {
			ignored++;
			continue;
		}
		found++;
		/* --exclude drops a named file, but that is no "not found" */
		if (!is_dir && rule_take(c->exclude, base_name(cand[j]), false) == SKIP)
			continue;
		push_source(out, n, cand[j], is_dir);
	}
	if (!found && ignored)
		return cairn_error_set(err, ENOENT,
				       "\"%s\": not found in %s (excluded by .dockerignore)",
				       pattern, c->name);
	if (!found)
		return cairn_error_set(err, ENOENT, "\"%s\": no such file or directory in %s",
				       pattern, c->name);
	return 0;
}

int context_match(struct build_context *c, char *const *patterns, struct context_source **out,
		  size_t *n, struct cairn_error *err)
{
	*out = NULL;
	*n = 0;
	for (size_t i = 0; patterns[i]; i++) {
		int r = match_one(c, patterns[i], out, n, err);
		if (r < 0) {
			context_sources_free(*out, *n);
			*out = NULL;
			*n = 0;
			return r;
		}
	}
	return 0;
}

/* ---- digest ---- */

static int hash_file_content(int fd, struct sha256 *h)
{
	static __thread char *buf;
	if (!buf)
		buf = xmalloc(1 << 20);
	for (;;) {
		ssize_t got = read(fd, buf, 1 << 20);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (got == 0)
			return 0;
		sha256_update(h, buf, (size_t)got);
	}
}

/* The content digest of the regular file rel, whose stat is st: from the stat cache
 * when it knows the file as it is, else read (and remembered). The file is opened as
 * name beneath dirfd, not followed, when dirfd >= 0; else as rel beneath the context
 * root, followed there. */
static int file_digest(struct build_context *c, const char *rel, const struct stat *st, int dirfd,
		       const char *name, char digest[DIGEST_LEN], struct cairn_error *err)
{
	if (stat_cache_lookup(c->stat_cache, rel, st, digest))
		return 0;
	cleanup_close int rfd = dirfd >= 0 ? openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
					   : openat2_in_root(c->fd, rel, O_RDONLY, 0);
	if (dirfd >= 0 && rfd < 0)
		rfd = -errno;
	struct stat before;
	if (rfd < 0 || fstat(rfd, &before) < 0)
		return cairn_error_errno(err, rfd < 0 ? -rfd : errno, "reading %s in %s", rel,
					 c->name);
	struct sha256 fh;
	sha256_init(&fh);
	int r = hash_file_content(rfd, &fh);
	sha256_final(&fh, digest);
	if (r < 0)
		return cairn_error_errno(err, -r, "reading %s in %s", rel, c->name);
	/* the identity from before the read: a write during it changes mtime */
	stat_cache_record(c->stat_cache, rel, &before, digest);
	return 0;
}

static int digest_dir(struct build_context *c, const char *src, const char *rel, int fd,
		      struct sha256 *h, struct cairn_error *err);

/* Digests the entry name of the directory dirfd (rel in the context), whose stat
 * (not followed) is st. Names are single components read from the directory and
 * nothing is followed, so the walk stays beneath the directory it started in, with
 * one fstatat per entry instead of a resolution from the root. */
static int digest_entry(struct build_context *c, const char *src, int dirfd, const char *name,
			const char *rel, const struct stat *st, struct sha256 *h,
			struct cairn_error *err)
{
	/* what is ignored or excluded must not change the key */
	enum walk_take take = walk_take(c, src, rel, S_ISDIR(st->st_mode));
	if (take == SKIP)
		return 0;
	/* a DESCEND directory is digested as any other: when an exception brings back
	 * something below it, the copy gives it this directory's mode */
	cleanup_strbuf struct strbuf sb = STRBUF_INIT;
	strbuf_addf(&sb, "%s%c%o%c%lld%c", rel, 0, (unsigned)st->st_mode, 0,
		    S_ISREG(st->st_mode) ? (long long)st->st_size : 0LL, 0);
	sha256_update(h, sb.buf, sb.len);
	if (S_ISLNK(st->st_mode)) {
		char target[4097];
		ssize_t len = readlinkat(dirfd, name, target, sizeof target - 1);
		if (len < 0)
			return cairn_error_errno(err, errno, "reading link %s", rel);
		sha256_update(h, target, (size_t)len);
		sha256_update(h, "", 1);
	} else if (S_ISREG(st->st_mode)) {
		char fd_digest[DIGEST_LEN];
		int r = file_digest(c, rel, st, dirfd, name, fd_digest, err);
		if (r < 0)
			return r;
		sha256_update(h, fd_digest, strlen(fd_digest) + 1);
	} else if (S_ISDIR(st->st_mode)) {
		int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 && errno != ENOENT && errno != ENOTDIR)
			return cairn_error_errno(err, errno, "reading context directory %s", rel);
		return fd < 0 ? 0 : digest_dir(c, src, rel, fd, h, err);
	}
	return 0;
}

/* Digests the entries of the directory fd (rel in the context; fd is taken), in
 * name order. */
static int digest_dir(struct build_context *c, const char *src, const char *rel, int fd,
		      struct sha256 *h, struct cairn_error *err)
{
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return cairn_error_errno(err, errno, "reading context directory %s", rel);
	}
	cleanup_strv char **names = NULL;
	struct dirent *de;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			strv_push(&names, de->d_name);
	if (names)
		qsort(names, strv_len(names), sizeof(char *), cmp_str);
	int r = 0;
	for (size_t i = 0; r == 0 && names && names[i]; i++) {
		cleanup_free char *child = join_rel(rel, names[i]);
		struct stat st;
		if (fstatat(dirfd(d), names[i], &st, AT_SYMLINK_NOFOLLOW) < 0)
			r = cairn_error_errno(err, errno, "reading %s in %s", child, c->name);
		else
			r = digest_entry(c, src, dirfd(d), names[i], child, &st, h, err);
	}
	closedir(d);
	return r;
}

int context_digest(struct build_context *c, const struct context_source *s, size_t n,
		   char digest[DIGEST_LEN], struct cairn_error *err)
{
	struct sha256 h;
	sha256_init(&h);
	for (size_t i = 0; i < n; i++) {
		/* the named source itself is followed when it is a symlink, as docker does */
		int r;
		sha256_update(&h, s[i].path, strlen(s[i].path) + 1);
		if (s[i].is_dir) {
			/* the directory's own mode: COPY gives it to a directory it creates */
			struct stat st;
			r = stat_in_context(c, s[i].path, &st);
			if (r < 0) {
				sha256_abort(&h);
				return cairn_error_errno(err, -r, "reading %s in %s", s[i].path,
							 c->name);
			}
			cleanup_free char *meta =
			    xasprintf("dir:%o", (unsigned)(st.st_mode & 07777));
			sha256_update(&h, meta, strlen(meta) + 1);
			int fd = openat2_in_root(c->fd, s[i].path, O_RDONLY | O_DIRECTORY, 0);
			if (fd < 0 && fd != -ENOENT && fd != -ENOTDIR)
				r = cairn_error_errno(err, -fd, "reading context directory %s",
						      s[i].path);
			else
				r = fd < 0 ? 0 : digest_dir(c, s[i].path, s[i].path, fd, &h, err);
		} else {
			/* followed; the file's digest, not its bytes, so the stat cache serves */
			struct stat st;
			r = stat_in_context(c, s[i].path, &st);
			if (r < 0) {
				r = cairn_error_errno(err, -r, "reading %s in %s", s[i].path,
						      c->name);
			} else {
				cleanup_free char *meta =
				    xasprintf("%o:%lld", (unsigned)st.st_mode,
					      S_ISREG(st.st_mode) ? (long long)st.st_size : 0LL);
				sha256_update(&h, meta, strlen(meta) + 1);
				char fd_digest[DIGEST_LEN];
				if (S_ISREG(st.st_mode) &&
				    (r = file_digest(c, s[i].path, &st, -1, NULL, fd_digest,
						     err)) == 0)
					sha256_update(&h, fd_digest, strlen(fd_digest) + 1);
			}
		}
		if (r < 0) {
			sha256_abort(&h);
			return r;
		}
	}
	sha256_final(&h, digest);
	/* now, not at close: a stage built in a forked child has its own copy */
	struct cairn_error e = CAIRN_ERROR_INIT;
	if (stat_cache_save(c->stat_cache, &e) < 0)
		cairn_error_clear(&e);
	return 0;
}

/* ---- copy ---- */

/* Owner and mode rules shared by everything a copy writes. */
static int apply_meta(int dirfd, const char *name, const struct stat *src,
		      const struct context_copy_opts *o, struct cairn_error *err)
{
	uid_t uid = o->uid >= 0 ? (uid_t)o->uid : 0;
	gid_t gid = o->gid >= 0 ? (gid_t)o->gid : 0;
	if (fchownat(dirfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
		return cairn_error_errno(err, errno, "setting owner of %s", name);
	if (!S_ISLNK(src->st_mode)) {
		mode_t mode = o->chmod >= 0 ? (mode_t)o->chmod : (src->st_mode & 07777);
		if (o->chmod_symbolic &&
		    context_chmod_apply(o->chmod_symbolic, src->st_mode, &mode) < 0)
			return cairn_error_set(err, EINVAL, "--chmod=%s: invalid mode",
					       o->chmod_symbolic);
		if (fchmodat(dirfd, name, mode, 0) < 0)
			return cairn_error_errno(err, errno, "setting mode of %s", name);
	}
	struct timespec ts[2] = {src->st_mtim, src->st_mtim};
	if (utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return cairn_error_errno(err, errno, "setting times of %s", name);
	return 0;
}

static int copy_data(int in, int out)
{
	for (;;) {
		ssize_t n = copy_file_range(in, NULL, out, NULL, 1 << 30, 0);
		if (n == 0)
			return 0;
		if (n > 0)
			continue;
		if (errno == EINTR)
			continue;
		if (errno != EXDEV && errno != EINVAL && errno != EOPNOTSUPP && errno != ENOSYS)
			return -errno;
		break;
	}
	/* across filesystems (the context to a tmpfs upper dir): still in the kernel,
	 * without a buffer to fault in for every file */
	for (;;) {
		ssize_t n = sendfile(out, in, NULL, 1 << 30);
		if (n == 0)
			return 0;
		if (n > 0)
			continue;
		if (errno == EINTR)
			continue;
		if (errno != EINVAL && errno != ENOSYS)
			return -errno;
		break;
	}
	cleanup_free char *buf = xmalloc(1 << 20);
	for (;;) {
		ssize_t n = read(in, buf, 1 << 20);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		int r = util_write_all(out, buf, (size_t)n);
		if (r < 0)
			return r;
	}
}

/* Makes room for a non-directory at dirfd/name: removes what is there. */
static int clear_target(int dirfd, const char *name, struct cairn_error *err)
{
	struct stat st;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : cairn_error_errno(err, errno, "replacing %s", name);
	if (S_ISDIR(st.st_mode))
		return util_rm_rf(dirfd, name, err);
	if (unlinkat(dirfd, name, 0) < 0)
		return cairn_error_errno(err, errno, "replacing %s", name);
	return 0;
}

/* A walk of one source: what it skips is decided on context-relative paths. */
struct walk {
	const struct build_context *c;
	const char *src; /* the source's context-relative path */
};

static int copy_tree(const struct walk *w, const char *rel, int src_dir, const char *src_name,
		     int dst_dir, const char *dst_name, const struct context_copy_opts *o,
		     struct cairn_error *err);

static int copy_file(int in, const struct stat *st, int dst_dir, const char *dst_name,
		     const struct context_copy_opts *o, struct cairn_error *err)
{
	int r = clear_target(dst_dir, dst_name, err);
	if (r < 0)
		return r;
	cleanup_close int out =
	    openat(dst_dir, dst_name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (out < 0)
		return cairn_error_errno(err, errno, "creating %s", dst_name);
	r = copy_data(in, out);
	if (r < 0)
		return cairn_error_errno(err, -r, "copying %s", dst_name);
	return apply_meta(dst_dir, dst_name, st, o, err);
}

/* Copies the entries of the directory rel (open as src_fd) into dst_fd. */
static int copy_dir_contents(const struct walk *w, const char *rel, int src_fd, int dst_fd,
			     const struct context_copy_opts *o, struct cairn_error *err)
{
	int dfd = dup(src_fd);
	DIR *d = dfd < 0 ? NULL : fdopendir(dfd);
	if (!d) {
		if (dfd >= 0)
			close(dfd);
		return cairn_error_errno(err, errno, "reading directory");
	}
	char **names = NULL;
	struct dirent *de;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			strv_push(&names, de->d_name);
	closedir(d);
	int r = 0;
	for (size_t i = 0; names && names[i] && r == 0; i++) {
		cleanup_free char *child = join_rel(rel, names[i]);
		r = copy_tree(w, child, src_fd, names[i], dst_fd, names[i], o, err);
	}
	strv_free(names);
	return r;
}

static bool dir_is_empty(int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	if (!d) {
		if (fd >= 0)
			close(fd);
		return false;
	}
	struct dirent *de;
	bool empty = true;
	while (empty && (de = readdir(d)))
		empty = !strcmp(de->d_name, ".") || !strcmp(de->d_name, "..");
	closedir(d);
	return empty;
}

/* Copies src_dir/src_name (rel in the context) to dst_dir/dst_name; symlinks are
 * copied as links; what is ignored or excluded is left out. */
static int copy_tree(const struct walk *w, const char *rel, int src_dir, const char *src_name,
		     int dst_dir, const char *dst_name, const struct context_copy_opts *o,
		     struct cairn_error *err)
{
	struct stat st;
	if (fstatat(src_dir, src_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return cairn_error_errno(err, errno, "reading %s", src_name);
	enum walk_take take = walk_take(w->c, w->src, rel, S_ISDIR(st.st_mode));
	if (take == SKIP)
		return 0;
	int r;
	if (S_ISDIR(st.st_mode)) {
		struct stat dst;
		bool existed = fstatat(dst_dir, dst_name, &dst, AT_SYMLINK_NOFOLLOW) == 0;
		if (existed && !S_ISDIR(dst.st_mode)) {
			if ((r = clear_target(dst_dir, dst_name, err)) < 0)
				return r;
			existed = false;
		}
		if (mkdirat(dst_dir, dst_name, 0755) < 0 && errno != EEXIST)
			return cairn_error_errno(err, errno, "creating directory %s", dst_name);
		cleanup_close int sfd =
		    openat(src_dir, src_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		cleanup_close int dfd =
		    openat(dst_dir, dst_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sfd < 0 || dfd < 0)
			return cairn_error_errno(err, errno, "copying directory %s", src_name);
		r = copy_dir_contents(w, rel, sfd, dfd, o, err);
		if (r < 0)
			return cairn_error_wrap(err, "%s", src_name);
		/* an excluded directory only holds what its exceptions brought back */
		if (take == DESCEND && !existed && dir_is_empty(dst_dir, dst_name)) {
			if (unlinkat(dst_dir, dst_name, AT_REMOVEDIR) < 0)
				return cairn_error_errno(err, errno, "removing %s", dst_name);
			return 0;
		}
		return apply_meta(dst_dir, dst_name, &st, o, err);
	}
	if (S_ISLNK(st.st_mode)) {
		char target[4097];
		ssize_t len = readlinkat(src_dir, src_name, target, sizeof target - 1);
		if (len < 0)
			return cairn_error_errno(err, errno, "reading link %s", src_name);
		target[len] = '\0';
		if ((r = clear_target(dst_dir, dst_name, err)) < 0)
			return r;
		if (symlinkat(target, dst_dir, dst_name) < 0)
			return cairn_error_errno(err, errno, "creating link %s", dst_name);
		return apply_meta(dst_dir, dst_name, &st, o, err);
	}
	if (!S_ISREG(st.st_mode))
		return 0; /* sockets, fifos and devices in a context are not copied */
	cleanup_close int in = openat(src_dir, src_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (in < 0)
		return cairn_error_errno(err, errno, "reading %s", src_name);
	return copy_file(in, &st, dst_dir, dst_name, o, err);
}

/* mkdir -p of path beneath root; new directories are 0755 and owned per o. Returns an
 * O_PATH fd of the directory in *out. */
static int mkdir_in_root(int root, const char *path, const struct context_copy_opts *o, int *out,
			 struct cairn_error *err)
{
	cleanup_strv char **comps = NULL;
	int r = split_clean(path, "the image", &comps, err);
	if (r < 0)
		return r;
	int cur = openat2_in_root(root, ".", O_PATH | O_DIRECTORY, 0);
	if (cur < 0)
		return cairn_error_errno(err, -cur, "opening image root");
	cleanup_strbuf struct strbuf sb = STRBUF_INIT;
	for (size_t i = 0; comps[i]; i++) {
		strbuf_addf(&sb, "/%s", comps[i]);
		int next = openat2_in_root(root, sb.buf, O_PATH | O_DIRECTORY, 0);
		if (next == -ENOENT) {
			/* fchmodat: the mode must not depend on the builder's umask. Only a
			 * directory made here is touched: on EEXIST the name may be a dangling
			 * symlink, and fchmodat would follow it out of the root (to the host). */
			bool made = mkdirat(cur, comps[i], 0755) == 0;
			if ((!made && errno != EEXIST) ||
			    (made && fchmodat(cur, comps[i], 0755, 0) < 0)) {
				r = cairn_error_errno(err, errno, "creating directory %s", sb.buf);
				close(cur);
				return r;
			}
			uid_t uid = o->uid >= 0 ? (uid_t)o->uid : 0;
			gid_t gid = o->gid >= 0 ? (gid_t)o->gid : 0;
			if (made && fchownat(cur, comps[i], uid, gid, AT_SYMLINK_NOFOLLOW) < 0) {
				r = cairn_error_errno(err, errno, "setting owner of %s", sb.buf);
				close(cur);
				return r;
			}
			next = openat2_in_root(root, sb.buf, O_PATH | O_DIRECTORY, 0);
		}
		close(cur);
		if (next < 0)
			return cairn_error_errno(err, -next, "creating directory %s", sb.buf);
		cur = next;
	}
	*out = cur;
	return 0;
}

int context_mkdir(int root_fd, const char *path, int64_t uid, int64_t gid, struct cairn_error *err)
{
	struct context_copy_opts o = {.uid = uid, .gid = gid, .chmod = -1};
	int fd = -1;
	int r = mkdir_in_root(root_fd, path, &o, &fd, err);
	if (fd >= 0)
		close(fd);
	return r;
}

/* Splits dest into its parent (created) and last name; a dest of "/" has no name. */
static int open_parent(int root, const char *dest, const struct context_copy_opts *o, int *parent,
		       char **name, struct cairn_error *err)
{
	cleanup_strv char **comps = NULL;
	int r = split_clean(dest, "the image", &comps, err);
	if (r < 0)
		return r;
	size_t n = strv_len(comps);
	cleanup_strbuf struct strbuf sb = STRBUF_INIT;
	for (size_t i = 0; i + 1 < n; i++)
		strbuf_addf(&sb, "/%s", comps[i]);
	*name = n ? xstrdup(comps[n - 1]) : NULL;
	return mkdir_in_root(root, sb.len ? sb.buf : "/", o, parent, err);
}

static int special_file_error(const struct build_context *c, const char *path,
			      struct cairn_error *err)
{
	return cairn_error_set(err, EINVAL, "%s in %s: a device, fifo or socket cannot be copied",
			       path, c->name);
}

int context_copy(struct build_context *c, const struct context_source *src, int root_fd,
		 const char *dest, bool dest_is_dir, const struct context_copy_opts *opts,
		 struct cairn_error *err)
{
	int r;
	if (!dest_is_dir) {
		/* an existing directory in the image is a directory destination */
		cleanup_close int probe = openat2_in_root(root_fd, dest, O_PATH | O_DIRECTORY, 0);
		dest_is_dir = probe >= 0;
	}
	/* Only files and directories are read: opening a device node (one a step made in
	 * the stage COPY --from reads) opens the host's device, and a fifo blocks the
	 * build. Looked at before opening, and again after (the context may change). */
	struct stat sst;
	cleanup_close int spath = openat2_in_root(c->fd, src->path, O_PATH, 0);
	if (spath < 0 || fstat(spath, &sst) < 0)
		return cairn_error_errno(err, spath < 0 ? -spath : errno, "reading %s in %s",
					 src->path, c->name);
	if (!S_ISREG(sst.st_mode) && !S_ISDIR(sst.st_mode))
		return special_file_error(c, src->path, err);
	cleanup_close int sfd =
	    openat2_in_root(c->fd, src->path, O_RDONLY | O_NONBLOCK | O_NOCTTY, 0);
	if (sfd < 0 || fstat(sfd, &sst) < 0)
		return cairn_error_errno(err, sfd < 0 ? -sfd : errno, "reading %s in %s", src->path,
					 c->name);
	if (!S_ISREG(sst.st_mode) && !S_ISDIR(sst.st_mode))
		return special_file_error(c, src->path, err);
	fcntl(sfd, F_SETFL, fcntl(sfd, F_GETFL) & ~O_NONBLOCK);

	if (src->is_dir) {
		/* as buildkit: a destination directory this copy creates takes the source
		 * directory's mode, owner rules and mtime; an existing one keeps its own */
		cleanup_close int existing = openat2_in_root(root_fd, dest, O_PATH, 0);
		cleanup_close int dfd = -1;
		if ((r = mkdir_in_root(root_fd, dest, opts, &dfd, err)) < 0)
			return r;
		cleanup_close int wfd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (wfd < 0)
			return cairn_error_errno(err, errno, "opening %s", dest);
		struct walk w = {.c = c, .src = src->path};
		r = copy_dir_contents(&w, src->path, sfd, wfd, opts, err);
		if (r == 0 && existing < 0) {
			struct stat st;
			r = fstat(sfd, &st) < 0
				? cairn_error_errno(err, errno, "reading %s", src->path)
				: apply_meta(wfd, ".", &st, opts, err);
		}
		return r < 0 ? cairn_error_wrap(err, "copying %s to %s", src->path, dest) : 0;
	}

	if (opts->extract && layer_is_archive(sfd)) {
		cleanup_close int dfd = -1;
		if ((r = mkdir_in_root(root_fd, dest, opts, &dfd, err)) < 0)
			return r;
		cleanup_close int wfd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (wfd < 0)
			return cairn_error_errno(err, errno, "opening %s", dest);
		/* --chown owns the extracted entries too, as buildkit >= 0.23; without it
		 * they keep the archive's owners */
		struct layer_extract_opts xo = {
		    .overlay_whiteouts = false, .uid = opts->uid, .gid = opts->gid};
		return layer_extract(sfd, wfd, &xo, src->path, err);
	}

	cleanup_close int parent = -1;
	cleanup_free char *name = NULL;
	if (dest_is_dir) {
		if ((r = mkdir_in_root(root_fd, dest, opts, &parent, err)) < 0)
			return r;
		name = xstrdup(base_name(src->path));
	} else {
		if ((r = open_parent(root_fd, dest, opts, &parent, &name, err)) < 0)
			return r;
		if (!name)
			return cairn_error_set(err, EINVAL, "cannot copy a file to /");
	}
	cleanup_close int wparent = openat(parent, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (wparent < 0)
		return cairn_error_errno(err, errno, "opening destination of %s", src->path);
	/* the named source itself is followed when it is a symlink, as docker does */
	struct stat st;
	if (fstat(sfd, &st) < 0)
		return cairn_error_errno(err, errno, "reading %s", src->path);
	r = copy_file(sfd, &st, wparent, name, opts, err);
	return r < 0 ? cairn_error_wrap(err, "copying %s to %s", src->path, dest) : 0;
}

/* ---- opening paths for RUN --mount ---- */

int context_open_beneath(int root_fd, const char *path, int flags)
{
	return openat2_in_root(root_fd, path, flags, 0);
}

int context_open_path(struct build_context *c, const char *path, int flags, int *out,
		      struct cairn_error *err)
{
	int fd = openat2_in_root(c->fd, path, flags, 0);
	if (fd < 0) {
		*out = -1;
		return fd == -ENOENT || fd == -ENOTDIR
			   ? cairn_error_set(err, ENOENT, "\"%s\": no such file or directory in %s",
					     path, c->name)
			   : cairn_error_errno(err, -fd, "opening %s in %s", path, c->name);
	}
	*out = fd;
	return 0;
}

/* ---- .dockerignore, --exclude, --chmod, heredocs ---- */

void context_set_ignore(struct build_context *c, struct recipe_ignore *ig)
{
	recipe_ignore_free(c->ig);
	c->ig = ig;
}

int context_load_ignore(struct build_context *c, const char *recipe_path, struct cairn_error *err)
{
	/* as buildkit: RECIPE.dockerignore beside the recipe wins over CONTEXT/.dockerignore */
	cleanup_free char *specific = recipe_path && strcmp(recipe_path, "-")
					  ? xasprintf("%s.dockerignore", recipe_path)
					  : NULL;
	cleanup_close int fd = specific ? open(specific, O_RDONLY | O_CLOEXEC) : -1;
	if (fd < 0 && specific && errno != ENOENT)
		return cairn_error_errno(err, errno, "opening %s", specific);
	const char *name = specific;
	if (fd < 0) {
		name = ".dockerignore";
		fd = openat2_in_root(c->fd, name, O_RDONLY, 0);
		if (fd == -ENOENT)
			return 0;
		if (fd < 0)
			return cairn_error_errno(err, -fd,
						 "opening .dockerignore in the build context");
	}
	cleanup_free char *text = NULL;
	size_t len = 0;
	int r = util_read_fd(fd, &text, &len);
	if (r < 0)
		return cairn_error_errno(err, -r, "reading %s", name);
	struct recipe_ignore *ig = NULL;
	struct recipe_error rerr = {0};
	if (recipe_ignore_parse(text, len, &ig, &rerr) < 0) {
		r = cairn_error_set(err, EINVAL, "%s:%d: %s", name, rerr.line,
				    rerr.msg ? rerr.msg : "invalid pattern");
		recipe_error_clear(&rerr);
		return r;
	}
	context_set_ignore(c, ig);
	return 0;
}

int context_set_exclude(struct build_context *c, char *const *patterns, struct cairn_error *err)
{
	recipe_ignore_free(c->exclude);
	c->exclude = NULL;
	if (!patterns || !patterns[0])
		return 0;
	cleanup_strbuf struct strbuf sb = STRBUF_INIT;
	for (size_t i = 0; patterns[i]; i++)
		strbuf_addf(&sb, "%s\n", patterns[i]);
	struct recipe_error rerr = {0};
	if (recipe_ignore_parse(sb.buf, sb.len, &c->exclude, &rerr) < 0) {
		int line = rerr.line > 0 ? rerr.line - 1 : 0;
		int r = cairn_error_set(err, EINVAL, "--exclude=%s: %s",
					patterns[line] ? patterns[line] : "",
					rerr.msg ? rerr.msg : "invalid pattern");
		recipe_error_clear(&rerr);
		return r;
	}
	return 0;
}

/* Permission bits of one class ("u", "g" or "o") of m, copied to all three classes. */
static mode_t class_bits(char who, mode_t m)
{
	int shift = who == 'u' ? 6 : who == 'g' ? 3 : 0;
	mode_t v = (m >> shift) & 7;
	return (v << 6) | (v << 3) | v;
}

int context_chmod_apply(const char *spec, mode_t mode, mode_t *out)
{
	mode_t m = mode & 07777;
	bool x_ok = S_ISDIR(mode) || (mode & 0111);
	const char *p = spec;
	for (;;) {
		mode_t who = 0;
		for (; *p && strchr("ugoa", *p); p++)
			who |= *p == 'u' ? 04700 : *p == 'g' ? 02070 : *p == 'o' ? 01007 : 07777;
		if (!who)
			who = 07777;
		if (!*p || !strchr("+-=", *p))
			return -EINVAL;
		while (*p && strchr("+-=", *p)) {
			char op = *p++;
			mode_t bits = 0;
			if (*p && strchr("ugo", *p)) {
				bits = class_bits(*p++, m);
			} else {
				for (; *p && strchr("rwxXst", *p); p++)
					bits |= *p == 'r'   ? 0444
						: *p == 'w' ? 0222
						: *p == 'x' ? 0111
						: *p == 'X' ? (x_ok ? 0111 : 0)
						: *p == 's' ? 06000
							    : 01000;
			}
			bits &= who;
			if (op == '+')
				m |= bits;
			else if (op == '-')
				m &= ~bits;
			else
				m = (m & ~who) | bits;
		}
		if (*p == '\0')
			break;
		if (*p != ',')
			return -EINVAL;
		p++;
	}
	*out = m;
	return 0;
}

int context_write_file(int root_fd, const char *dest, bool dest_is_dir, const char *name,
		       const char *data, size_t len, int64_t mtime,
		       const struct context_copy_opts *opts, struct cairn_error *err)
{
	if (!dest_is_dir) {
		cleanup_close int probe = openat2_in_root(root_fd, dest, O_PATH | O_DIRECTORY, 0);
		dest_is_dir = probe >= 0;
	}
	cleanup_close int parent = -1;
	cleanup_free char *fname = NULL;
	int r;
	if (dest_is_dir) {
		if ((r = mkdir_in_root(root_fd, dest, opts, &parent, err)) < 0)
			return r;
		fname = xstrdup(name);
	} else {
		if ((r = open_parent(root_fd, dest, opts, &parent, &fname, err)) < 0)
			return r;
		if (!fname)
			return cairn_error_set(err, EINVAL, "cannot write a file to /");
	}
	if (!*fname || strchr(fname, '/') || !strcmp(fname, ".") || !strcmp(fname, ".."))
		return cairn_error_set(err, EINVAL, "%s: not a valid file name", fname);
	cleanup_close int wparent = openat(parent, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (wparent < 0)
		return cairn_error_errno(err, errno, "opening %s", dest);
	if ((r = clear_target(wparent, fname, err)) < 0)
		return r;
	cleanup_close int out =
	    openat(wparent, fname, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (out < 0)
		return cairn_error_errno(err, errno, "creating %s", fname);
	if ((r = util_write_all(out, data, len)) < 0)
		return cairn_error_errno(err, -r, "writing %s", fname);
	struct stat st = {.st_mode = S_IFREG | 0644};
	st.st_mtim.tv_sec = (time_t)mtime;
	return apply_meta(wparent, fname, &st, opts, err);
}
