/* COPY and ADD: sources from the build context (or, with --from, another stage or an
 * image) and here-documents into an overlay of the image. */
#include "internal.h"

#include "../fs/fs.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- COPY / ADD ---- */

static bool is_git(const char *s)
{
	size_t n = strlen(s);
	return !strncmp(s, "git@", 4) || !strncmp(s, "git://", 6) ||
	       ((!strncmp(s, "http://", 7) || !strncmp(s, "https://", 8)) &&
		((n > 4 && !strcmp(s + n - 4, ".git")) || strstr(s, ".git#")));
}

static bool is_url(const char *s)
{
	return !strncmp(s, "http://", 7) || !strncmp(s, "https://", 8) || is_git(s);
}

/* --chmod as buildkit: an octal mode up to 07777, else a symbolic one ("u+x,g-w"). */
static int parse_chmod(const char *s, int *mode, bool *symbolic)
{
	*symbolic = false;
	if (*s && strspn(s, "0123456789") == strlen(s)) {
		if (strspn(s, "01234567") != strlen(s) || strlen(s) > 12)
			return -EINVAL;
		unsigned long v = strtoul(s, NULL, 8);
		if (v > 07777)
			return -EINVAL;
		*mode = (int)v;
		return 0;
	}
	mode_t probe;
	if (!*s || fs_chmod_symbolic(s, S_IFREG | 0644, &probe) < 0)
		return -EINVAL;
	*symbolic = true;
	return 0;
}

/* --chown=USER[:GROUP] as buildkit: a name takes its uid and primary gid from the
 * image's /etc/passwd, but a numeric USER without GROUP is also the gid (unlike
 * USER, which takes the gid from /etc/passwd). */
static int resolve_chown(const char *rootfs, const char *spec, uid_t *uid, gid_t *gid,
			 struct cairn_error *err)
{
	size_t n = strcspn(spec, ":");
	bool numeric = n > 0 && strspn(spec, "0123456789") == n;
	int r = sandbox_resolve_user(rootfs, spec, uid, gid, err);
	if (r == 0 && numeric && !spec[n])
		*gid = (gid_t)*uid;
	return r;
}

/* ---- one COPY/ADD ---- */

void builder_copy_plan_release(struct copy_plan *p)
{
	for (size_t i = 0; i < p->n_items; i++) {
		free(p->items[i].src.path);
		free(p->items[i].dest);
		free(p->items[i].doc);
		free(p->items[i].url);
		builder_git_release(&p->items[i].git);
	}
	free(p->items);
	if (p->ctx)
		context_set_exclude(p->ctx, NULL, NULL);
	if (p->own_ctx)
		context_close(p->ctx);
	builder_source_close(&p->src);
	free(p->from);
	free(p->chown);
	free(p->chmod);
	strv_free(p->excludes);
	strv_free(p->paths);
	free(p->dest_raw);
	free(p->dest);
	builder_step_release(&p->sp);
	memset(p, 0, sizeof *p);
}

static struct copy_item *add_item(struct copy_plan *p)
{
	p->items = xrealloc(p->items, (p->n_items + 1) * sizeof *p->items);
	struct copy_item *it = &p->items[p->n_items++];
	memset(it, 0, sizeof *it);
	return it;
}

/* The flags' values expanded with the stage's variables, as buildkit. */
static int plan_flags(struct builder *b, struct stage *st, const struct builder_instr *ti,
		      struct copy_plan *p, struct cairn_error *err)
{
	const struct recipe_instr *in = ti->syn;
	const struct builder_copy *c = &ti->copy;
	int r;
	p->link = c->link;
	p->no_unpack = p->is_add && c->unpack == 0;
	p->unpack = p->is_add && c->unpack == 1;
	p->keep_git_dir = c->keep_git_dir;
	p->parents = c->parents;
	if (c->from && (r = builder_expand_word(b, in, st, c->from, &p->from, err)) < 0)
		return r;
	if (c->chown && (r = builder_expand_word(b, in, st, c->chown, &p->chown, err)) < 0)
		return r;
	if (c->chmod && (r = builder_expand_word(b, in, st, c->chmod, &p->chmod, err)) < 0)
		return r;
	p->mode = -1;
	if (p->chmod && parse_chmod(p->chmod, &p->mode, &p->symbolic) < 0)
		return builder_instr_error(b, in, err, EINVAL,
					   "--chmod=%s: invalid mode: expected an octal mode up to "
					   "07777 (like 755) or a symbolic one (like u+x,go-w)",
					   p->chmod);
	p->excludes = xcalloc(1, sizeof(char *));
	for (size_t i = 0; c->excludes[i]; i++) {
		char *w = NULL;
		if ((r = builder_expand_word(b, in, st, c->excludes[i], &w, err)) < 0)
			return r;
		strv_push_take(&p->excludes, w);
	}
	return 0;
}

/* Sources, heredocs and destination; checks what buildkit checks before copying. */
static int plan_sources(struct builder *b, struct stage *st, const struct builder_instr *ti,
			struct copy_plan *p, struct cairn_error *err)
{
	const struct recipe_instr *in = ti->syn;
	const struct builder_copy *c = &ti->copy;
	int r = builder_expand_word(b, in, st, c->dest, &p->dest_raw, err);
	if (r < 0)
		return r;
	p->paths = xcalloc(1, sizeof(char *));
	for (size_t i = 0; i < c->n_sources; i++) {
		const struct recipe_heredoc *h = c->sources[i].doc;
		if (h) {
			struct copy_item *it = add_item(p);
			it->doc_name = h->name;
			if (h->expand)
				r = builder_expand_heredoc(b, in, st, h->content, &it->doc, err);
			else
				it->doc = xstrdup(h->content);
			if (r < 0)
				return r;
			continue;
		}
		char *w = NULL;
		if ((r = builder_expand_word(b, in, st, c->sources[i].word, &w, err)) < 0)
			return r;
		strv_push_take(&p->paths, w);
	}
	const char *checksum = c->checksum;
	if (checksum) {
		if (strncmp(checksum, "sha256:", 7) || strlen(checksum) != 7 + 64 ||
		    strspn(checksum + 7, "0123456789abcdef") != 64)
			return builder_instr_error(
			    b, in, err, EINVAL, "--checksum=%s: invalid checksum digest", checksum);
		if (strv_len(p->paths) + p->n_items != 1)
			return builder_instr_error(
			    b, in, err, EINVAL, "checksum can't be specified for multiple sources");
		if (!p->paths[0] || !is_url(p->paths[0]))
			return builder_instr_error(b, in, err, EINVAL,
						   "checksum requires HTTP(S) or Git sources");
	}
	for (size_t i = 0; p->paths[i]; i++) {
		if (is_url(p->paths[i]) && !p->is_add)
			return builder_instr_error(b, in, err, EINVAL,
						   is_git(p->paths[i])
						       ? "source can't be a git ref for COPY"
						       : "source can't be a URL for COPY");
		if (is_git(p->paths[i])) {
			if (checksum)
				return builder_instr_error(
				    b, in, err, ENOTSUP,
				    "--checksum of a git source is not supported yet");
			/* resolved now: the commit is part of the step's key */
			struct copy_item *it = add_item(p);
			it->is_git = true;
			if ((r = builder_git_parse(p->paths[i], &it->git, err)) < 0 ||
			    (r = builder_git_resolve(b, &it->git, err)) < 0)
				return builder_instr_wrap(b, in, err);
			continue;
		}
		if (!is_url(p->paths[i]))
			continue;
		/* fetched now: its content is part of the step's key */
		struct copy_item *it = add_item(p);
		it->url = xstrdup(p->paths[i]);
		if ((r = builder_fetch_url(b, it->url, checksum, &it->remote, err)) < 0)
			return builder_instr_wrap(b, in, err);
	}
	p->dest = builder_path_under(builder_stage_workdir(st), p->dest_raw);
	size_t dl = strlen(p->dest_raw);
	p->dest_is_dir = (dl && p->dest_raw[dl - 1] == '/') || !strcmp(p->dest_raw, ".") ||
			 (dl >= 2 && !strcmp(p->dest_raw + dl - 2, "/."));
	for (size_t i = 0; i < p->n_items; i++) {
		p->items[i].dest = xstrdup(p->dest);
		p->items[i].dest_is_dir = p->dest_is_dir;
	}
	return 0;
}

/* "dir/./sub/x" → "dir": the part of a --parents source that is not kept. */
static char *parents_pivot(const char *word)
{
	const char *cut = strstr(word, "/./");
	if (!cut)
		return xstrdup("");
	cleanup_free char *head = xstrndup(word, (size_t)(cut - word));
	cleanup_free char *clean = fs_clean_path(head, FS_CLEAN_IN_ROOT_ABS);
	return xstrdup(clean + 1);
}

/* Matches the source words in p->ctx; each source gets its destination. */
static int plan_match(struct builder *b, const struct recipe_instr *in, struct copy_plan *p,
		      struct cairn_error *err)
{
	if (context_set_exclude(p->ctx, p->excludes, err) < 0)
		return builder_instr_wrap(b, in, err);
	for (size_t i = 0; p->paths[i]; i++) {
		if (is_url(p->paths[i]))
			continue; /* its item is made and fetched already (plan_sources) */
		struct context_source *s = NULL;
		size_t n = 0;
		char *one[] = {p->paths[i], NULL};
		if (context_match(p->ctx, one, &s, &n, err) < 0)
			return builder_instr_wrap(b, in, err);
		cleanup_free char *pivot = p->parents ? parents_pivot(p->paths[i]) : NULL;
		size_t pl = pivot ? strlen(pivot) : 0;
		for (size_t j = 0; j < n; j++) {
			struct copy_item *it = add_item(p);
			it->src = s[j];
			if (!p->parents) {
				it->dest = xstrdup(p->dest);
				it->dest_is_dir = p->dest_is_dir;
				continue;
			}
			/* as buildkit: the path below the pivot is kept under the destination */
			const char *keep = s[j].path;
			if (!strcmp(keep, "."))
				keep = "";
			else if (pl && !strncmp(keep, pivot, pl) && (keep[pl] == '/' || !keep[pl]))
				keep += pl + (keep[pl] == '/');
			cleanup_free char *joined = xasprintf("%s/%s", p->dest, keep);
			it->dest = fs_clean_path(joined, FS_CLEAN_IN_ROOT_ABS);
			it->dest_is_dir = s[j].is_dir || !*keep;
		}
		free(s); /* the paths moved into the items */
	}
	/* as BuildKit, the source words count, not what they match: several words need
	 * a directory destination; one wildcard matching several makes it one */
	size_t n_words = strv_len(p->paths);
	for (size_t i = 0; i < p->n_items; i++)
		n_words += p->items[i].doc != NULL;
	if (n_words > 1 && !p->dest_is_dir && !p->parents)
		return builder_instr_error(
		    b, in, err, EINVAL,
		    "when copying more than one source file, the destination "
		    "must be a directory and end with a /");
	for (size_t i = 0; p->n_items > 1 && !p->parents && i < p->n_items; i++)
		p->items[i].dest_is_dir = true;
	return 0;
}

/* What the step's cache key covers besides the instruction text. */
static int plan_inputs(struct builder *b, const struct recipe_instr *in, struct copy_plan *p,
		       json_t **inputs, struct cairn_error *err)
{
	json_t *v = json_object();
	*inputs = v;
	size_t n = 0;
	struct context_source *s = xcalloc(p->n_items + 1, sizeof *s);
	for (size_t i = 0; i < p->n_items; i++)
		if (p->items[i].src.path)
			s[n++] = p->items[i].src;
	char digest[DIGEST_LEN];
	/* another stage's or image's files key by their content too, as BuildKit: a
	 * change elsewhere in that stage keeps this step cached */
	int r = p->from ? builder_source_digest(b, &p->src, p->ctx, s, n, digest, err)
			: context_digest(p->ctx, s, n, digest, err);
	free(s);
	if (r < 0)
		return builder_instr_wrap(b, in, err);
	if (!p->from)
		builder_record_input(b, digest);
	json_object_set_new(v, p->from ? "from" : "context", json_string(digest));
	json_t *docs = json_array();
	json_t *dests = json_array();
	for (size_t i = 0; i < p->n_items; i++) {
		if (p->items[i].doc)
			json_array_append_new(
			    docs, json_pack("[s, s]", p->items[i].doc_name, p->items[i].doc));
		json_array_append_new(
		    dests, json_pack("[s, b]", p->items[i].dest, p->items[i].dest_is_dir));
	}
	json_t *urls = json_array();
	for (size_t i = 0; i < p->n_items; i++)
		if (p->items[i].is_git)
			json_array_append_new(
			    urls, json_pack("[s, s, s, s, b]", "git", p->items[i].git.url,
					    p->items[i].git.commit,
					    p->items[i].git.subdir ? p->items[i].git.subdir : "",
					    p->keep_git_dir));
		else if (p->items[i].url)
			json_array_append_new(
			    urls, json_pack("[s, s, I]", p->items[i].url, p->items[i].remote.digest,
					    (json_int_t)p->items[i].remote.mtime));
	/* only when there are some, so the keys of other steps stay */
	if (json_array_size(urls))
		json_object_set(v, "urls", urls);
	json_decref(urls);
	if (p->unpack)
		json_object_set_new(v, "unpack", json_true());
	json_object_set_new(v, "heredocs", docs);
	json_object_set_new(v, "dests", dests);
	json_object_set_new(v, "exclude", util_strv_to_json(p->excludes));
	if (p->no_unpack) /* only when given, so keys of earlier builds still match */
		json_object_set_new(v, "unpack", json_false());
	return 0;
}

/* A URL's content, from its blob: mode 0600 and the mtime of Last-Modified (else
 * the build's), named after the URL's last path component ("__unnamed__" without
 * one) when dest is a directory; not extracted unless --unpack=true, as BuildKit. */
static int copy_url(struct builder *b, struct copy_plan *p, struct copy_item *it, int root_fd,
		    int64_t mtime, const struct context_copy_opts *co, struct cairn_error *err)
{
	cleanup_close int fd = -1;
	if (store_open_blob(b->s, it->remote.digest, &fd, err) < 0)
		return -1;
	struct stat st;
	if (fstat(fd, &st) < 0)
		return cairn_error_errno(err, errno, "reading the download of %s", it->url);
	st.st_mode = S_IFREG | 0600;
	st.st_mtim = (struct timespec){
	    .tv_sec = it->remote.mtime >= 0 && !b->o->timestamp_set ? it->remote.mtime : mtime};
	const char *path = it->url + strcspn(it->url + 8, "/") + 8;
	size_t plen = strcspn(path, "?#");
	cleanup_free char *base = NULL;
	while (plen && path[plen - 1] == '/')
		plen--;
	if (*path == '/' && plen > 1) {
		const char *slash = memrchr(path, '/', plen);
		base = xstrndup(slash + 1, plen - (size_t)(slash + 1 - path));
	}
	struct context_copy_opts o = *co;
	o.extract = p->unpack;
	return context_copy_fd(fd, &st, base && *base ? base : "__unnamed__", root_fd, it->dest,
			       it->dest_is_dir, &o, err);
}

/* A git repository's tree at the commit (or its subdir) into dest, a directory,
 * as a directory source is copied; .git only with --keep-git-dir. */
static int copy_git(struct builder *b, struct copy_plan *p, struct copy_item *it, int root_fd,
		    const struct context_copy_opts *co, struct cairn_error *err)
{
	cleanup_free char *tmp = NULL, *dir = NULL;
	struct build_context *ctx = NULL;
	int r = builder_git_checkout(b, &it->git, p->keep_git_dir, &tmp, &dir, err);
	if (r == 0 && (r = context_open(dir, &ctx, err)) == 0) {
		cleanup_free char *what = xasprintf("git repository %s", it->git.url);
		context_set_name(ctx, what);
		struct context_source src = {.path = it->git.subdir ? it->git.subdir : ".",
					     .is_dir = true};
		r = context_copy(ctx, &src, root_fd, it->dest, true, co, err);
	}
	if (ctx)
		context_close(ctx);
	if (tmp)
		util_rm_rf(AT_FDCWD, tmp, NULL);
	return r;
}

static int copy_items(struct builder *b, const struct recipe_instr *in, struct copy_plan *p,
		      struct rootfs *rf, struct cairn_error *err)
{
	struct context_copy_opts co = {
	    .uid = -1,
	    .gid = -1,
	    .chmod = p->symbolic ? -1 : p->mode,
	    .extract = p->is_add && !p->from && !p->no_unpack,
	    .chmod_symbolic = p->symbolic ? p->chmod : NULL,
	    .keep_owner = p->from && !p->chown,
	};
	if (p->chown) {
		uid_t uid;
		gid_t gid;
		if (resolve_chown(rf->merged, p->chown, &uid, &gid, err) < 0)
			return builder_instr_wrap(b, in, err);
		co.uid = uid;
		co.gid = gid;
	}
	cleanup_close int root_fd = open(rf->merged, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root_fd < 0)
		return cairn_error_errno(err, errno, "opening %s", rf->merged);
	int64_t mtime = b->o->timestamp_set ? b->o->timestamp
			: b->sde >= 0	    ? b->sde
					    : (int64_t)time(NULL);
	/* as buildkit: the files first, then the heredocs */
	for (size_t k = 0; k < 2 * p->n_items; k++) {
		struct copy_item *it = &p->items[k % p->n_items];
		if ((k < p->n_items) != (it->doc == NULL))
			continue;
		int r = it->is_git ? copy_git(b, p, it, root_fd, &co, err)
			: it->url  ? copy_url(b, p, it, root_fd, mtime, &co, err)
			: it->src.path
			    ? context_copy(p->ctx, &it->src, root_fd, it->dest, it->dest_is_dir,
					   &co, err)
			    : context_write_file(root_fd, it->dest, it->dest_is_dir, it->doc_name,
						 it->doc, strlen(it->doc), mtime, &co, err);
		if (r < 0)
			return builder_instr_wrap(b, in, err);
	}
	return 0;
}

int builder_copy_prepare(struct builder *b, struct stage *st, const struct builder_instr *ti,
			 struct copy_plan *p, struct cairn_error *err)
{
	const struct recipe_instr *in = ti->syn;
	memset(p, 0, sizeof *p);
	p->is_add = in->kind == RECIPE_ADD;
	int r;
	if ((r = plan_flags(b, st, ti, p, err)) < 0 || (r = plan_sources(b, st, ti, p, err)) < 0)
		return r;
	p->ctx = b->ctx;
	if (p->from) {
		if ((r = builder_source_open(b, st, in, p->from, &p->src, err)) < 0)
			return r;
		/* another stage's or image's files: no .dockerignore there */
		if (context_open(p->src.path, &p->ctx, err) < 0)
			return builder_instr_wrap(b, in, err);
		p->own_ctx = true;
		context_set_name(p->ctx, p->src.what);
	}
	if ((r = plan_match(b, in, p, err)) < 0)
		return r;
	cleanup_json json_t *inputs = NULL;
	if ((r = plan_inputs(b, in, p, &inputs, err)) < 0)
		return r;

	/* history as BuildKit writes it: not --from, --link or --exclude */
	cleanup_strbuf struct strbuf by = STRBUF_INIT;
	strbuf_addstr(&by, p->is_add ? "ADD" : "COPY");
	if (p->parents)
		strbuf_addstr(&by, " --parents");
	if (p->chown)
		strbuf_addf(&by, " --chown=%s", p->chown);
	if (p->chmod)
		strbuf_addf(&by, " --chmod=%s", p->chmod);
	for (size_t i = 0; p->paths[i]; i++)
		strbuf_addf(&by, " %s", p->paths[i]);
	for (size_t i = 0; i < p->n_items; i++)
		if (p->items[i].doc)
			strbuf_addf(&by, " <<%s", p->items[i].doc_name);
	strbuf_addf(&by, " %s # buildkit", p->dest_raw);
	cleanup_json json_t *desc = json_pack("{s:s, s:s, s:O, s:b, s:s}", "copy", by.buf, "dest",
					      p->dest, "inputs", inputs, "dir", p->dest_is_dir,
					      "comp", layer_compression_name(b->o->compression));
	cleanup_free char *desc_text = util_json_canonical(desc);
	p->sp = (struct step){.in = in, .t0 = util_now()};
	p->sp.created_by = strbuf_detach(&by);
	builder_step_key(st->key, desc_text, p->sp.key);
	return 0;
}

int builder_exec_copy(struct builder *b, struct stage *st, const struct builder_instr *ti,
		      struct cairn_error *err)
{
	const struct recipe_instr *in = ti->syn;
	struct copy_plan p;
	int r = builder_copy_prepare(b, st, ti, &p, err);
	if (r < 0 || builder_cache_load(b, &p.sp)) {
		if (r == 0)
			r = builder_step_commit(b, st, &p.sp, err);
		builder_copy_plan_release(&p);
		return r;
	}
	struct rootfs rf = {0};
	r = builder_rootfs_mount(b, st, &rf, err);
	if (r == 0)
		r = copy_items(b, in, &p, &rf, err);
	if (r < 0 && builder_rootfs_full(&rf)) {
		/* more than memory holds: again, on disk */
		cairn_error_clear(err);
		builder_rootfs_release(&rf);
		rf.on_disk = true;
		r = builder_rootfs_mount(b, st, &rf, err);
		if (r == 0)
			r = copy_items(b, in, &p, &rf, err);
	}
	r = builder_rootfs_finish(b, &rf, &p.sp, r, err);
	if (r == 0)
		r = builder_step_commit(b, st, &p.sp, err);
	builder_copy_plan_release(&p);
	return r;
}
