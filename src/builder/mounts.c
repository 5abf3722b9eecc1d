/* RUN --mount: what each mount needs on the host (a bind source opened beneath its
 * root, a cache dir, a tmpfs, a secret's file) and the sandbox mounts that show it;
 * and the part of the step's cache key the mounts make. */
#include "internal.h"

#include "../fs/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

void builder_run_plan_release(struct run_plan *p)
{
	for (size_t i = 0; p->overlays && p->overlays[i]; i++)
		sandbox_overlay_umount(p->overlays[i], NULL);
	strv_free(p->overlays);
	for (size_t i = 0; i < p->n; i++) {
		if (p->src)
			builder_source_close(&p->src[i]);
		builder_mount_release(&p->m[i]);
	}
	free(p->src);
	free(p->m);
	if (p->priv_mounted)
		umount2(p->priv, MNT_DETACH);
	if (p->tmp)
		util_rm_rf(AT_FDCWD, p->tmp, NULL);
	free(p->tmp);
	free(p->priv);
	free(p->sm);
	strv_free(p->strs);
	for (size_t i = 0; i < p->n_fds; i++)
		close(p->fds[i]);
	for (size_t i = 0; i < p->n_locks; i++)
		close(p->locks[i]); /* drops the flock */
	for (size_t i = 0; p->env && p->env[i]; i++)
		explicit_bzero(p->env[i], strlen(p->env[i]));
	strv_free(p->env);
	memset(p, 0, sizeof *p);
}

/* Expands a --mount value with the stage's variables. */
struct mount_expand {
	struct builder *b;
	const struct builder_instr *in;
	struct stage *st;
};

static int mount_expand(void *ctx, const char *word, char **out, struct cairn_error *err)
{
	struct mount_expand *x = ctx;
	return builder_expand_word(x->b, x->in->syn, x->st, word, out, err);
}

int builder_run_plan_parse(struct builder *b, struct stage *st, const struct builder_instr *in,
			   const char *cwd, struct run_plan *p, struct cairn_error *err)
{
	struct mount_expand x = {b, in, st};
	struct builder_mount_words w = {.expand = mount_expand, .ctx = &x};
	p->m = xcalloc(in->run.n_mounts + 1, sizeof *p->m);
	p->src = xcalloc(in->run.n_mounts + 1, sizeof *p->src);
	for (size_t i = 0; i < in->run.n_mounts; i++) {
		int r = builder_mount_parse(in->run.mounts[i].spec, &w, cwd, &p->m[i], err);
		p->n++;
		if (r < 0) {
			builder_locate(b, in->syn->line, true, err);
			return r;
		}
	}
	return 0;
}

/* The bind source of m opened as an O_PATH fd: beneath the context root, or beneath
 * the root of its from= source. */
static int open_bind_source(struct builder *b, const struct recipe_instr *in, struct run_plan *p,
			    size_t i, int *out, struct cairn_error *err)
{
	const struct builder_mount *m = &p->m[i];
	const char *rel = m->source[1] ? m->source + 1 : ".";
	if (!m->from) {
		int r = context_open_path(b->ctx, rel, O_PATH, out, err);
		if (r < 0) {
			cairn_error_wrap(err, "RUN: --mount=%s", m->spec);
			builder_locate(b, in->line, true, err);
		}
		return r;
	}
	cleanup_close int root = open(p->src[i].path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	int fd = root < 0 ? -errno : fs_open(root, rel, O_PATH, 0);
	if (fd < 0) {
		cairn_error_set(err, -fd, "RUN: --mount=%s: source %s in %s: %s", m->spec,
				m->source, m->from, strerror(-fd));
		builder_locate(b, in->line, true, err);
		return fd;
	}
	*out = fd;
	return 0;
}

/* The part of the cache key the mounts make: what they are, and for binds the
 * digest of what they show. Cache contents and secret values are not in it. */
int builder_run_plan_key(struct builder *b, struct stage *st, const struct builder_instr *ti,
			 struct run_plan *p, json_t **out, struct cairn_error *err)
{
	json_t *arr = json_array();
	*out = arr;
	for (size_t i = 0; i < p->n; i++) {
		const struct builder_mount *m = &p->m[i];
		json_t *o = json_pack("{s:s, s:s?, s:b}", "type", builder_mount_kind_names[m->kind],
				      "target", m->target, "ro", m->readonly);
		json_array_append_new(arr, o);
		int r;
		switch (m->kind) {
		case MOUNT_BIND: {
			if (m->from &&
			    (r = builder_source_open(b, st, ti->syn, m->from, &p->src[i], err)) < 0)
				return r;
			cleanup_close int fd = -1;
			if ((r = open_bind_source(b, ti->syn, p, i, &fd, err)) < 0)
				return r;
			char digest[DIGEST_LEN];
			struct stat sb;
			if (fstat(fd, &sb) < 0)
				return cairn_error_errno(err, errno, "reading %s", m->source);
			struct context_source cs = {
			    .path = (char *)(m->source[1] ? m->source + 1 : "."),
			    .is_dir = S_ISDIR(sb.st_mode)};
			if (m->from) {
				/* what the mount shows, not the whole stage, as BuildKit */
				struct build_context *ctx = NULL;
				r = context_open(p->src[i].path, &ctx, err);
				if (r == 0) {
					context_set_name(ctx, p->src[i].what);
					r = builder_source_digest(b, &p->src[i], ctx, &cs, 1,
								  digest, err);
				}
				if (ctx)
					context_close(ctx);
			} else if ((r = context_digest(b->ctx, &cs, 1, digest, err)) == 0) {
				builder_record_input(b, digest);
			}
			if (r < 0)
				return builder_instr_wrap(b, ti->syn, err);
			json_object_set_new(o, "source", json_string(m->source));
			json_object_set_new(o, "from", json_string(m->from ? m->from : ""));
			json_object_set_new(o, "digest", json_string(digest));
			break;
		}
		case MOUNT_CACHE:
			json_object_set_new(o, "id", json_string(m->id));
			json_object_set_new(o, "sharing",
					    json_string(builder_sharing_names[m->sharing]));
			json_object_set_new(o, "mode", json_integer(m->mode));
			json_object_set_new(o, "uid", json_integer(m->uid));
			json_object_set_new(o, "gid", json_integer(m->gid));
			break;
		case MOUNT_TMPFS:
			json_object_set_new(o, "size", json_integer((json_int_t)m->size));
			break;
		case MOUNT_SECRET:
			json_object_set_new(o, "id", json_string(m->id));
			json_object_set_new(o, "env", json_string(m->env ? m->env : ""));
			json_object_set_new(o, "required", json_boolean(m->required));
			json_object_set_new(o, "mode", json_integer(m->mode));
			json_object_set_new(o, "uid", json_integer(m->uid));
			json_object_set_new(o, "gid", json_integer(m->gid));
			break;
		case MOUNT_SSH:
			/* which agent, not what it holds: buildkit's op has no more */
			json_object_set_new(o, "id", json_string(m->id));
			json_object_set_new(o, "required", json_boolean(m->required));
			json_object_set_new(o, "mode", json_integer(m->mode));
			json_object_set_new(o, "uid", json_integer(m->uid));
			json_object_set_new(o, "gid", json_integer(m->gid));
			break;
		}
	}
	return 0;
}

/* ---- --mount: preparing each kind ---- */

static const char *plan_str(struct run_plan *p, char *s)
{
	strv_push_take(&p->strs, s);
	return s;
}

static void plan_add(struct run_plan *p, enum sandbox_mount_type type, const char *source,
		     const char *target, bool readonly, uint64_t size)
{
	p->sm = xrealloc(p->sm, (p->n_sm + 1) * sizeof *p->sm);
	p->sm[p->n_sm++] = (struct sandbox_mount){
	    .type = type,
	    .source = source ? plan_str(p, xstrdup(source)) : NULL,
	    .target = plan_str(p, xstrdup(target)),
	    .readonly = readonly,
	    .size = size,
	};
}

/* The step's private dir, and in it a tmpfs for what must not touch the disk. */
static int plan_tmp(struct builder *b, struct run_plan *p, struct cairn_error *err)
{
	if (p->tmp)
		return 0;
	int r = store_mkdtemp(b->s, "mounts-", &p->tmp, err);
	if (r < 0)
		return r;
	p->priv = xasprintf("%s/private", p->tmp);
	if (mkdir(p->priv, 0700) < 0)
		return cairn_error_errno(err, errno, "creating %s", p->priv);
	/* secrets stay in memory when a tmpfs can be had; else they live in the
	 * private dir only for the step */
	p->priv_mounted = mount("tmpfs", p->priv, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0700") == 0;
	return 0;
}

/* Writes data to a new file in the private dir with mode and owner; returns its path. */
static int plan_file(struct builder *b, struct run_plan *p, const char *name, const void *data,
		     size_t len, mode_t mode, uid_t uid, gid_t gid, char **path,
		     struct cairn_error *err)
{
	int r = plan_tmp(b, p, err);
	if (r < 0)
		return r;
	*path = xasprintf("%s/%s", p->priv, name);
	cleanup_close int fd = open(*path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || util_write_all(fd, data, len) < 0 || fchown(fd, uid, gid) < 0 ||
	    fchmod(fd, mode) < 0)
		return cairn_error_errno(err, errno, "writing %s", name);
	return 0;
}

static int prepare_bind(struct builder *b, const struct recipe_instr *in, struct run_plan *p,
			size_t i, struct cairn_error *err)
{
	const struct builder_mount *m = &p->m[i];
	if (p->n_fds == sizeof p->fds / sizeof *p->fds)
		return builder_instr_error(b, in, err, EINVAL, "too many mounts");
	int fd = -1;
	int r = open_bind_source(b, in, p, i, &fd, err);
	if (r < 0)
		return r;
	p->fds[p->n_fds++] = fd;
	struct stat sb;
	if (fstat(fd, &sb) < 0)
		return cairn_error_errno(err, errno, "reading %s", m->source);
	cleanup_free char *fdpath = xasprintf("/proc/self/fd/%d", fd);
	if (m->readonly) {
		plan_add(p, SANDBOX_MOUNT_BIND, fdpath, m->target, true, 0);
		return 0;
	}
	/* writable: the step writes into a throwaway copy (an overlay for a directory) */
	if ((r = plan_tmp(b, p, err)) < 0)
		return r;
	cleanup_free char *dir = xasprintf("%s/rw%zu", p->tmp, i);
	if (mkdir(dir, 0700) < 0)
		return cairn_error_errno(err, errno, "creating %s", dir);
	if (S_ISDIR(sb.st_mode)) {
		cleanup_free char *upper = xasprintf("%s/upper", dir);
		cleanup_free char *work = xasprintf("%s/work", dir);
		cleanup_free char *merged = xasprintf("%s/merged", dir);
		if (mkdir(upper, 0755) < 0 || mkdir(work, 0755) < 0 || mkdir(merged, 0755) < 0)
			return cairn_error_errno(err, errno, "creating directories in %s", dir);
		char *lower[] = {fdpath, NULL};
		if ((r = sandbox_overlay_mount(lower, 1, upper, work, merged, err)) < 0)
			return builder_instr_wrap(b, in, err);
		strv_push(&p->overlays, merged);
		if ((r = builder_mount_nosuid_nodev(merged, err)) < 0)
			return builder_instr_wrap(b, in, err);
		plan_add(p, SANDBOX_MOUNT_BIND, merged, m->target, false, 0);
		return 0;
	}
	cleanup_close int src = open(fdpath, O_RDONLY | O_CLOEXEC);
	cleanup_free char *copy = xasprintf("%s/file", dir);
	cleanup_close int dst = open(copy, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (src < 0 || dst < 0)
		return cairn_error_errno(err, errno, "copying %s", m->source);
	char buf[65536];
	ssize_t n;
	while ((n = read(src, buf, sizeof buf)) > 0)
		if (util_write_all(dst, buf, (size_t)n) < 0)
			return cairn_error_errno(err, errno, "copying %s", m->source);
	if (n < 0 || fchmod(dst, sb.st_mode & 07777) < 0)
		return cairn_error_errno(err, errno, "copying %s", m->source);
	plan_add(p, SANDBOX_MOUNT_BIND, copy, m->target, false, 0);
	return 0;
}

/* The cache dir of the id in the store; locked for sharing=locked (and private: a
 * simplification, waiting instead of taking a fresh dir). Created with mode and
 * owner the first time. */
static int prepare_cache(struct builder *b, struct run_plan *p, size_t i, struct cairn_error *err)
{
	const struct builder_mount *m = &p->m[i];
	char d[DIGEST_LEN];
	sha256_digest(m->id, strlen(m->id), d);
	cleanup_free char *base = store_mounts_dir(b->s);
	/* store_open made it; private as all of cairn/: the dirs in it keep the modes the
	 * steps see, and steps leave setuid files and device nodes in them */
	int r = util_mkdir_p(AT_FDCWD, base, 0700, err);
	if (r < 0)
		return r;
	cleanup_free char *dir = xasprintf("%s/%s", base, digest_hex(d));
	/* held while the step runs: exclusively for sharing=locked, shared otherwise, so
	 * that a prune (which takes it exclusively) never removes a dir in use; its mtime
	 * is when a build last used the dir, for prune's least recently used first */
	if (p->n_locks == sizeof p->locks / sizeof *p->locks)
		return cairn_error_set(err, EINVAL, "too many cache mounts");
	cleanup_free char *lock = xasprintf("%s.lock", dir);
	int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return cairn_error_errno(err, errno, "opening %s", lock);
	p->locks[p->n_locks++] = fd;
	while (flock(fd, m->sharing == SHARING_SHARED ? LOCK_SH : LOCK_EX) < 0) {
		if (errno != EINTR || util_interrupted)
			return cairn_error_errno(err, errno, "waiting for the cache mount %s",
						 m->id);
	}
	futimens(fd, NULL);
	if (mkdir(dir, 0755) == 0) {
		if (chown(dir, m->uid >= 0 ? (uid_t)m->uid : 0, m->gid >= 0 ? (gid_t)m->gid : 0) <
			0 ||
		    chmod(dir, m->mode >= 0 ? (mode_t)m->mode : 0755) < 0)
			return cairn_error_errno(err, errno, "setting up the cache mount %s",
						 m->id);
	} else if (errno != EEXIST) {
		return cairn_error_errno(err, errno, "creating the cache mount %s", m->id);
	}
	plan_add(p, SANDBOX_MOUNT_BIND, dir, m->target, m->readonly, 0);
	return 0;
}

static int prepare_secret(struct builder *b, const struct recipe_instr *in, struct run_plan *p,
			  size_t i, struct cairn_error *err)
{
	const struct builder_mount *m = &p->m[i];
	char *data = NULL;
	size_t len = 0;
	bool found = false;
	int r = builder_secret_value(b, m->id, &data, &len, &found, err);
	if (r < 0)
		return builder_instr_wrap(b, in, err);
	if (!found) {
		if (m->required)
			return builder_instr_error(b, in, err, ENOENT,
						   "secret %s is required but was not given (cairn "
						   "build --secret id=%s,...)",
						   m->id, m->id);
		return 0;
	}
	if (m->env) {
		cleanup_free char *entry = xasprintf("%s=%.*s", m->env, (int)len, data);
		builder_env_set(&p->env, m->env, entry + strlen(m->env) + 1);
		explicit_bzero(entry, strlen(entry));
	}
	if (m->target) {
		cleanup_free char *name = xasprintf("secret%zu", i);
		cleanup_free char *path = NULL;
		r = plan_file(b, p, name, data, len, m->mode >= 0 ? (mode_t)m->mode : 0400,
			      m->uid >= 0 ? (uid_t)m->uid : 0, m->gid >= 0 ? (gid_t)m->gid : 0,
			      &path, err);
		if (r == 0)
			plan_add(p, SANDBOX_MOUNT_BIND, path, m->target, true, 0);
	}
	explicit_bzero(data, len);
	free(data);
	return r;
}

/* RUN --mount=type=ssh: the agent's socket that --ssh gives the id, bound into the
 * step (nth: its place among the step's ssh mounts, for the default target), and
 * SSH_AUTH_SOCK naming it for the first. The socket keeps the agent's owner and
 * mode; mode, uid and gid are only checked and keyed. */
static int prepare_ssh(struct builder *b, const struct recipe_instr *in, struct run_plan *p,
		       size_t i, size_t nth, struct cairn_error *err)
{
	const struct builder_mount *m = &p->m[i];
	cleanup_free char *sock = builder_ssh_socket(b, m->id);
	if (!sock) {
		if (m->required)
			return builder_instr_error(b, in, err, ENOENT,
						   "ssh agent %s is required but was not given "
						   "(cairn build --ssh %s%s)",
						   m->id, m->id,
						   strcmp(m->id, "default") ? "=SOCKET" : "");
		return 0;
	}
	cleanup_free char *target =
	    m->target ? xstrdup(m->target) : xasprintf("/run/buildkit/ssh_agent.%zu", nth);
	if (!builder_env_has(p->env, "SSH_AUTH_SOCK"))
		builder_env_set(&p->env, "SSH_AUTH_SOCK", target);
	plan_add(p, SANDBOX_MOUNT_BIND, sock, target, true, 0);
	return 0;
}

/* How deep a mount target is: shallower ones are mounted first, as docker sorts. */
static size_t path_depth(const char *path)
{
	size_t n = 0;
	for (; *path; path++)
		n += *path == '/';
	return n;
}

static int cmp_depth(const void *a, const void *b)
{
	const struct sandbox_mount *x = a, *y = b;
	size_t dx = path_depth(x->target), dy = path_depth(y->target);
	return dx < dy ? -1 : dx > dy;
}

/* Everything the mounts need on the host, and the sandbox mounts that show it. */
int builder_run_plan_prepare(struct builder *b, const struct builder_instr *ti, struct run_plan *p,
			     const char *script, const char *script_path, struct cairn_error *err)
{
	const struct recipe_instr *in = ti->syn;
	int r = 0;
	size_t n_ssh = 0;
	for (size_t i = 0; i < p->n && r == 0; i++) {
		switch (p->m[i].kind) {
		case MOUNT_BIND:
			r = prepare_bind(b, in, p, i, err);
			break;
		case MOUNT_CACHE:
			r = prepare_cache(b, p, i, err);
			break;
		case MOUNT_TMPFS:
			plan_add(p, SANDBOX_MOUNT_TMPFS, NULL, p->m[i].target, false, p->m[i].size);
			break;
		case MOUNT_SECRET:
			r = prepare_secret(b, in, p, i, err);
			break;
		case MOUNT_SSH:
			r = prepare_ssh(b, in, p, i, n_ssh++, err);
			break;
		}
	}
	if (r < 0)
		return r;
	/* a stable sort: the order written decides between mounts of one depth */
	for (size_t i = 1; i < p->n_sm; i++)
		for (size_t j = i; j > 0 && cmp_depth(&p->sm[j - 1], &p->sm[j]) > 0; j--) {
			struct sandbox_mount t = p->sm[j];
			p->sm[j] = p->sm[j - 1];
			p->sm[j - 1] = t;
		}
	if (script) {
		cleanup_free char *path = NULL;
		r = plan_file(b, p, "script", script, strlen(script), 0755, 0, 0, &path, err);
		if (r < 0)
			return r;
		plan_add(p, SANDBOX_MOUNT_BIND, path, script_path, true, 0);
	}
	return 0;
}
