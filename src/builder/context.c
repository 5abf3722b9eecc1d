/* The build context: matching COPY/ADD sources, digesting what they bring in, and
 * copying them into an image root. Every path is resolved beneath the context
 * root (and beneath the image root when writing) by fs (RESOLVE_IN_ROOT), so
 * neither a recipe nor a symlink in the context reads outside the context; the copy
 * itself is fs's, with the context's .dockerignore and --exclude as its filter. */
#include "internal.h"

#include "../fs/fs.h"
#include "recipe.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct build_context {
	int fd;
	char *dir;
	char *name;		  /* what messages call it: "the build context", "stage builder" */
	struct recipe_ignore *ig; /* .dockerignore rules (context-relative), or NULL */
	struct recipe_ignore *exclude; /* the current COPY's --exclude (source-relative), or NULL */
	struct stat_cache *stat_cache; /* NULL: every digest reads every file */
	int64_t *newest; /* during context_digest_all: the newest mtime of a non-directory */
};

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
	cleanup_free char *clean = fs_clean_path(pattern, FS_CLEAN_NO_ESCAPE);
	if (!clean)
		return cairn_error_set(err, EPERM, "forbidden path outside %s: %s", what, pattern);
	char **v = xcalloc(1, sizeof(char *));
	char *save = NULL;
	for (char *tok = strtok_r(clean, "/", &save); tok; tok = strtok_r(NULL, "/", &save))
		strv_push(&v, tok);
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

/* Names in directory rel (of the context) matching pattern, sorted. */
static int list_matching(struct build_context *c, const char *rel, const char *pattern, char ***out,
			 struct cairn_error *err)
{
	*out = NULL;
	int fd = fs_open(c->fd, rel, O_RDONLY | O_DIRECTORY, 0);
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
		strv_sort(names);
	*out = names;
	return 0;
}

static int stat_in_context(struct build_context *c, const char *rel, struct stat *st)
{
	cleanup_close int fd = fs_open(c->fd, rel, O_PATH, 0);
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
					   : fs_open(c->fd, rel, O_RDONLY, 0);
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
	if (c->newest && !S_ISDIR(st->st_mode) && take == TAKE && st->st_mtim.tv_sec > *c->newest)
		*c->newest = st->st_mtim.tv_sec;
	/* a DESCEND directory is digested as any other: when an exception brings back
	 * something below it, the copy gives it this directory's mode */
	cleanup_strbuf struct strbuf sb = STRBUF_INIT;
	strbuf_addf(&sb, "%s%c%o%c%lld%c", rel, 0, (unsigned)st->st_mode, 0,
		    S_ISREG(st->st_mode) ? (long long)st->st_size : 0LL, 0);
	sha256_update(h, sb.buf, sb.len);
	if (S_ISLNK(st->st_mode)) {
		cleanup_free char *target = fs_readlinkat(dirfd, name);
		if (!target)
			return cairn_error_errno(err, errno, "reading link %s", rel);
		sha256_update(h, target, strlen(target) + 1);
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
		strv_sort(names);
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
			int fd = fs_open(c->fd, s[i].path, O_RDONLY | O_DIRECTORY, 0);
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

int context_digest_all(struct build_context *c, char digest[DIGEST_LEN], int64_t *newest,
		       struct cairn_error *err)
{
	*newest = -1;
	int fd = openat(c->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return cairn_error_errno(err, errno, "reading %s", c->name);
	struct sha256 h;
	sha256_init(&h);
	c->newest = newest;
	int r = digest_dir(c, ".", "", fd, &h, err);
	c->newest = NULL;
	if (r < 0) {
		sha256_abort(&h);
		return r;
	}
	sha256_final(&h, digest);
	struct cairn_error e = CAIRN_ERROR_INIT;
	if (stat_cache_save(c->stat_cache, &e) < 0)
		cairn_error_clear(&e);
	return 0;
}

/* ---- copy: fs's engine, with what the context skips as its filter ---- */

/* A walk of one source: what it skips is decided on context-relative paths. */
struct walk {
	const struct build_context *c;
	const char *src; /* the source's context-relative path */
};

static enum fs_take copy_filter(void *ctx, const char *rel, bool is_dir)
{
	const struct walk *w = ctx;
	enum walk_take t = walk_take(w->c, w->src, rel, is_dir);
	return t == SKIP ? FS_SKIP : t == DESCEND ? FS_DESCEND : FS_TAKE;
}

/* Owners as docker: -1 is root. */
static struct fs_owner owner_of(int64_t uid, int64_t gid)
{
	return (struct fs_owner){uid >= 0 ? (uid_t)uid : 0, gid >= 0 ? (gid_t)gid : 0};
}

static struct fs_copy_opts copy_opts(const struct context_copy_opts *o)
{
	return (struct fs_copy_opts){.owner = owner_of(o->uid, o->gid),
				     .keep_owner = o->keep_owner,
				     .chmod = o->chmod,
				     .chmod_symbolic = o->chmod_symbolic};
}

int context_mkdir(int root_fd, const char *path, int64_t uid, int64_t gid, struct cairn_error *err)
{
	struct fs_owner owner = owner_of(uid, gid);
	return fs_mkdir_p(root_fd, path, 0755, &owner, NULL, err);
}

int context_copy(struct build_context *c, const struct context_source *src, int root_fd,
		 const char *dest, bool dest_is_dir, const struct context_copy_opts *opts,
		 struct cairn_error *err)
{
	/* Only files and directories are read: opening a device node (one a step made in
	 * the stage COPY --from reads) opens the host's device, and a fifo blocks the
	 * build. The named source itself is followed when it is a symlink, as docker does. */
	struct stat st;
	cleanup_close int sfd = -1;
	int r = fs_open_source(c->fd, src->path, &sfd, &st);
	if (r < 0)
		return cairn_error_errno(err, -r, "reading %s in %s", src->path, c->name);
	if (sfd < 0)
		return cairn_error_set(err, EINVAL,
				       "%s in %s: a device, fifo or socket cannot be copied",
				       src->path, c->name);
	struct fs_copy_opts fo = copy_opts(opts);
	if (src->is_dir) {
		struct walk w = {.c = c, .src = src->path};
		fo.filter = copy_filter;
		fo.ctx = &w;
		r = fs_copy_tree(sfd, src->path, root_fd, dest, &fo, err);
	} else {
		r = context_copy_fd(sfd, &st, base_name(src->path), root_fd, dest, dest_is_dir,
				    opts, err);
	}
	return r < 0 ? cairn_error_wrap(err, "copying %s to %s", src->path, dest) : 0;
}

int context_copy_fd(int fd, const struct stat *st, const char *name, int root_fd, const char *dest,
		    bool dest_is_dir, const struct context_copy_opts *opts, struct cairn_error *err)
{
	struct fs_copy_opts fo = copy_opts(opts);
	if (opts->extract && layer_is_archive(fd)) {
		cleanup_close int dfd = -1, wfd = -1;
		int r = fs_mkdir_p(root_fd, dest, 0755, &fo.owner, &dfd, err);
		if (r < 0)
			return r;
		wfd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (wfd < 0)
			return cairn_error_errno(err, errno, "opening %s", dest);
		/* --chown owns the extracted entries too, as buildkit >= 0.23; without it
		 * they keep the archive's owners */
		struct layer_extract_opts xo = {
		    .overlay_whiteouts = false, .uid = opts->uid, .gid = opts->gid};
		return layer_extract(fd, wfd, &xo, name, err);
	}
	return fs_copy_file(fd, st, root_fd, dest, dest_is_dir, name, &fo, err);
}

/* ---- opening paths for RUN --mount ---- */

int context_open_path(struct build_context *c, const char *path, int flags, int *out,
		      struct cairn_error *err)
{
	int fd = fs_open(c->fd, path, flags, 0);
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
		fd = fs_open(c->fd, name, O_RDONLY, 0);
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
		r = cairn_error_set(err, EINVAL, "%s", rerr.msg ? rerr.msg : "invalid pattern");
		cairn_error_locate(err, name, rerr.line, 0, NULL);
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

int context_write_file(int root_fd, const char *dest, bool dest_is_dir, const char *name,
		       const char *data, size_t len, int64_t mtime,
		       const struct context_copy_opts *opts, struct cairn_error *err)
{
	struct fs_copy_opts fo = copy_opts(opts);
	return fs_write_file(root_fd, dest, dest_is_dir, name, data, len, mtime, &fo, err);
}
