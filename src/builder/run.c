/* RUN: a step in the namespace sandbox on an overlay of the image so far, with its
 * heredocs and its --mount flags (bind, cache, tmpfs, secret), as buildkit. */
#include "internal.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Where a heredoc with a shebang is mounted to be executed. buildkit uses /dev/pipes/,
 * but /dev is the sandbox's own tmpfs; a target here is created for the step and
 * removed after it, so nothing reaches the layer. */
#define HEREDOC_DIR "/run/cairn-heredoc"

/* ---- the environment and output of a step ---- */

/* The environment a RUN step sees: the image's ENV, then the declared ARGs. */
static char **run_env(struct stage *st)
{
	char **env = builder_stage_env(st);
	for (size_t i = 0; st->args && st->args[i]; i++) {
		const char *eq = strchr(st->args[i], '=');
		if (!eq)
			continue;
		cleanup_free char *name = xstrndup(st->args[i], (size_t)(eq - st->args[i]));
		if (!builder_env_has(env, name))
			strv_push(&env, st->args[i]);
	}
	return env;
}

/* The predefined proxy build args (--build-arg HTTP_PROXY=...) reach RUN steps
 * without an ARG, as docker's; undeclared, they stay out of the history and the
 * cache key, since they say how to reach the network, not what to build. */
static void add_proxy_args(struct builder *b, struct stage *st, char ***vars)
{
	for (size_t i = 0; builder_proxy_args[i]; i++) {
		const char *name = builder_proxy_args[i];
		const char *v = builder_env_get(b->build_args, name);
		if (v && !builder_env_has(st->args, name) && !builder_env_has(*vars, name))
			builder_env_set(vars, name, v);
	}
}

/* The last few lines written to fd (a temp file), or "". Caller frees. */
static char *output_tail(int fd)
{
	if (fd < 0)
		return xstrdup("");
	off_t end = lseek(fd, 0, SEEK_END);
	off_t start = end > 4096 ? end - 4096 : 0;
	char buf[4097];
	ssize_t n = pread(fd, buf, (size_t)(end - start), start);
	if (n <= 0)
		return xstrdup("");
	buf[n] = '\0';
	const char *p = buf;
	if (start > 0 && strchr(p, '\n'))
		p = strchr(p, '\n') + 1;
	size_t len = strlen(p);
	while (len && p[len - 1] == '\n')
		len--;
	return xstrndup(p, len);
}

/* ---- heredocs ---- */

static const char *lookup_nothing(void *ctx, const char *name)
{
	(void)ctx;
	(void)name;
	return NULL;
}

/* True when the whole command is one heredoc ("<<EOF", "<<-'EOF'"), as buildkit's
 * MustParseHeredoc: then the body is the script, not input for the shell. */
static bool is_whole_heredoc(const char *cmd)
{
	const char *p = cmd;
	while (isdigit((unsigned char)*p))
		p++;
	if (strncmp(p, "<<", 2))
		return false;
	p += 2 + (p[2] == '-');
	if (!*p || strchr(p, '<'))
		return false;
	char **words = NULL;
	struct recipe_error rerr = {0};
	int r = recipe_process_words(p, '\\', lookup_nothing, NULL, &words, &rerr);
	recipe_error_clear(&rerr);
	bool one = r == 0 && strv_len(words) == 1;
	strv_free(words);
	return one;
}

/* A heredoc delimiter as a file name. */
static char *script_name(const char *delim)
{
	if (!*delim || strchr(delim, '/') || !strcmp(delim, ".") || !strcmp(delim, ".."))
		return xstrdup("script");
	return xstrdup(delim);
}

/* The command of a RUN with heredocs, as buildkit: a lone heredoc is the script
 * (run by SHELL, or written to a file and executed when it starts with "#!");
 * otherwise the shell gets the line followed by each body and its delimiter.
 * *script is set (a new string) for the shebang case. Bodies are not expanded: the
 * shell does that, or not, as the delimiter's quotes say. */
static char **heredoc_words(struct stage *st, const struct recipe_instr *in, char **script,
			    char **script_path)
{
	char **v = strv_dup(st->shell);
	const char *cmd = in->args && in->args[0] ? in->args[0] : "";
	if (is_whole_heredoc(cmd)) {
		const char *data = in->heredocs[0].content;
		if (!strncmp(data, "#!", 2)) {
			cleanup_free char *name = script_name(in->heredocs[0].name);
			*script = xstrdup(data);
			*script_path = xasprintf("%s/%s", HEREDOC_DIR, name);
			strv_push(&v, *script_path);
		} else {
			strv_push(&v, data);
		}
		return v;
	}
	struct strbuf sb = STRBUF_INIT;
	strbuf_addstr(&sb, cmd);
	for (size_t i = 0; i < in->n_heredocs; i++)
		strbuf_addf(&sb, "\n%s%s", in->heredocs[i].content, in->heredocs[i].name);
	strv_push_take(&v, strbuf_detach(&sb));
	return v;
}

/* ---- --mount: parsing ---- */

enum mount_kind { MOUNT_BIND, MOUNT_CACHE, MOUNT_TMPFS, MOUNT_SECRET, MOUNT_SSH };

static const char *const mount_kind_names[] = {"bind", "cache", "tmpfs", "secret", "ssh"};

enum cache_sharing { SHARING_SHARED, SHARING_PRIVATE, SHARING_LOCKED };

static const char *const sharing_names[] = {"shared", "private", "locked"};

struct run_mount {
	const char *spec; /* the flag's value, borrowed, for messages */
	enum mount_kind kind;
	char *target; /* absolute and clean; NULL for a secret exposed only as a variable */
	char *source; /* bind: path in the source root, absolute and clean */
	char *from;
	char *id;  /* cache and secret */
	char *env; /* secret: the variable to set */
	enum cache_sharing sharing;
	bool sharing_set;
	bool readonly;
	bool required;
	int64_t mode, uid, gid; /* -1: not given */
	uint64_t size;		/* tmpfs: 0 = kernel default */
};

static void run_mount_release(struct run_mount *m)
{
	free(m->target);
	free(m->source);
	free(m->from);
	free(m->id);
	free(m->env);
}

/* Splits one CSV record as Go's encoding/csv (buildkit reads --mount with it): fields
 * separated by commas, a field starting with '"' quoted with "" for a quote. */
static int csv_fields(const char *s, char ***out, const char **emsg)
{
	char **v = xcalloc(1, sizeof(char *));
	if (!*s) {
		*emsg = "EOF";
		goto fail;
	}
	for (const char *p = s;;) {
		struct strbuf f = STRBUF_INIT;
		if (*p == '"') {
			for (p++;; p++) {
				if (!*p) {
					strbuf_release(&f);
					*emsg = "extraneous or missing \" in quoted-field";
					goto fail;
				}
				if (*p == '"' && p[1] == '"') {
					strbuf_addch(&f, '"');
					p++;
				} else if (*p == '"') {
					p++;
					break;
				} else {
					strbuf_addch(&f, *p);
				}
			}
			if (*p && *p != ',') {
				strbuf_release(&f);
				*emsg = "extraneous or missing \" in quoted-field";
				goto fail;
			}
		} else {
			size_t n = strcspn(p, ",");
			if (memchr(p, '"', n)) {
				strbuf_release(&f);
				*emsg = "bare \" in non-quoted-field";
				goto fail;
			}
			strbuf_add(&f, p, n);
			p += n;
		}
		strv_push_take(&v, strbuf_detach(&f));
		if (!*p)
			break;
		p++; /* the comma */
	}
	*out = v;
	return 0;
fail:
	strv_free(v);
	return -EINVAL;
}

/* Go's strconv.ParseBool. */
static bool parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True"};
	static const char *const no[] = {"0", "f", "F", "FALSE", "false", "False"};
	for (size_t i = 0; i < 6; i++) {
		if (!strcmp(s, yes[i]) || !strcmp(s, no[i])) {
			*out = !strcmp(s, yes[i]);
			return true;
		}
	}
	return false;
}

/* A size as docker's units.RAMInBytes: a number with an optional k, m, g, t or p
 * (times 1024 each), optionally followed by "b" or "ib", any case. */
static bool parse_size(const char *s, uint64_t *out)
{
	char *end = NULL;
	errno = 0;
	double n = strtod(s, &end);
	if (end == s || errno || n < 0 || !isdigit((unsigned char)*s))
		return false;
	static const char units[] = "kmgtp";
	double mult = 1;
	if (*end) {
		const char *u = strchr(units, tolower((unsigned char)*end));
		if (u) {
			for (const char *x = units; x <= u; x++)
				mult *= 1024;
			end++;
			if (tolower((unsigned char)*end) == 'i' &&
			    tolower((unsigned char)end[1]) == 'b')
				end += 2;
			else if (tolower((unsigned char)*end) == 'b')
				end++;
		} else if (tolower((unsigned char)*end) == 'b') {
			end++;
		}
	}
	if (*end || n * mult > 1.8e19)
		return false;
	*out = (uint64_t)(n * mult);
	return true;
}

__attribute__((format(printf, 5, 6))) static int mount_error(struct builder *b,
							     const struct recipe_instr *in,
							     const char *spec, int code,
							     const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *what = NULL;
	if (vasprintf(&what, fmt, ap) < 0)
		abort();
	va_end(ap);
	int r = builder_instr_error(b, in, code, "--mount=%s: %s", spec, what);
	free(what);
	return r;
}

static bool parse_uint(const char *s, int base, uint64_t max, int64_t *out)
{
	char *end = NULL;
	errno = 0;
	if (!*s || *s == '-' || *s == '+')
		return false;
	unsigned long long v = strtoull(s, &end, base);
	if (errno || *end || v > max)
		return false;
	*out = (int64_t)v;
	return true;
}

/* One field "key=value" (or a bare boolean key) of a --mount flag into m. */
static int mount_field(struct builder *b, const struct recipe_instr *in, struct stage *st,
		       struct run_mount *m, const char *field, bool *ro_auto)
{
	const char *eq = strchr(field, '=');
	cleanup_free char *key = eq ? xstrndup(field, (size_t)(eq - field)) : xstrdup(field);
	for (char *k = key; *k; k++)
		*k = (char)tolower((unsigned char)*k);
	const char *type = mount_kind_names[m->kind];
	if (!eq) {
		if (!strcmp(key, "readonly") || !strcmp(key, "ro") || !strcmp(key, "readwrite") ||
		    !strcmp(key, "rw")) {
			m->readonly = !strcmp(key, "readonly") || !strcmp(key, "ro");
			*ro_auto = false;
			return 0;
		}
		if (!strcmp(key, "required")) {
			if (m->kind != MOUNT_SECRET && m->kind != MOUNT_SSH)
				return mount_error(b, in, m->spec, EINVAL,
						   "unexpected key 'required' for mount type '%s'",
						   type);
			m->required = true;
			return 0;
		}
		return mount_error(b, in, m->spec, EINVAL,
				   "invalid field '%s' must be a key=value pair", field);
	}
	cleanup_free char *value = NULL;
	int r;
	if (!strcmp(key, "from")) {
		for (const char *d = strchr(eq + 1, '$'); d; d = strchr(d + 1, '$'))
			if (d[1])
				return mount_error(b, in, m->spec, EINVAL,
						   "'from' doesn't support variable expansion, "
						   "define alias stage instead");
		value = xstrdup(eq + 1);
	} else if ((r = builder_expand_word(b, in, st, eq + 1, &value)) < 0) {
		return r;
	}
	bool flag;
	uint64_t size;
	if (!strcmp(key, "type")) {
		size_t i;
		for (i = 0; i < 5; i++)
			if (!strcasecmp(value, mount_kind_names[i]))
				break;
		if (i == 5)
			return mount_error(b, in, m->spec, EINVAL,
					   "unsupported mount type \"%s\" (expected bind, cache, "
					   "tmpfs, secret or ssh)",
					   value);
		m->kind = (enum mount_kind)i;
	} else if (!strcmp(key, "from")) {
		free(m->from);
		m->from = steal_pointer(&value);
	} else if (!strcmp(key, "source") || !strcmp(key, "src")) {
		free(m->source);
		m->source = steal_pointer(&value);
	} else if (!strcmp(key, "target") || !strcmp(key, "dst") || !strcmp(key, "destination")) {
		free(m->target);
		m->target = steal_pointer(&value);
	} else if (!strcmp(key, "readonly") || !strcmp(key, "ro") || !strcmp(key, "readwrite") ||
		   !strcmp(key, "rw")) {
		if (!parse_bool(value, &flag))
			return mount_error(b, in, m->spec, EINVAL, "invalid value for %s: %s", key,
					   value);
		m->readonly = (!strcmp(key, "readonly") || !strcmp(key, "ro")) ? flag : !flag;
		*ro_auto = false;
	} else if (!strcmp(key, "required")) {
		if (m->kind != MOUNT_SECRET && m->kind != MOUNT_SSH)
			return mount_error(b, in, m->spec, EINVAL,
					   "unexpected key 'required' for mount type '%s'", type);
		if (!parse_bool(value, &m->required))
			return mount_error(b, in, m->spec, EINVAL, "invalid value for %s: %s", key,
					   value);
	} else if (!strcmp(key, "size")) {
		if (m->kind != MOUNT_TMPFS)
			return mount_error(b, in, m->spec, EINVAL,
					   "unexpected key 'size' for mount type '%s'", type);
		if (!parse_size(value, &size))
			return mount_error(b, in, m->spec, EINVAL, "invalid value for %s: %s", key,
					   value);
		m->size = size;
	} else if (!strcmp(key, "id")) {
		free(m->id);
		m->id = steal_pointer(&value);
	} else if (!strcmp(key, "env")) {
		if (m->kind != MOUNT_SECRET)
			return mount_error(b, in, m->spec, EINVAL,
					   "unexpected key 'env' for mount type '%s'", type);
		free(m->env);
		m->env = steal_pointer(&value);
	} else if (!strcmp(key, "sharing")) {
		size_t i;
		for (i = 0; i < 3; i++)
			if (!strcasecmp(value, sharing_names[i]))
				break;
		if (i == 3)
			return mount_error(b, in, m->spec, EINVAL,
					   "unsupported sharing value \"%s\" (expected shared, "
					   "private or locked)",
					   value);
		m->sharing = (enum cache_sharing)i;
		m->sharing_set = true;
	} else if (!strcmp(key, "mode")) {
		if (!parse_uint(value, 8, 07777, &m->mode))
			return mount_error(b, in, m->spec, EINVAL, "invalid value %s for mode",
					   value);
	} else if (!strcmp(key, "uid") || !strcmp(key, "gid")) {
		if (!parse_uint(value, 10, UINT32_MAX, key[0] == 'u' ? &m->uid : &m->gid))
			return mount_error(b, in, m->spec, EINVAL, "invalid value %s for %s", value,
					   key);
	} else {
		return mount_error(b, in, m->spec, EINVAL,
				   "unexpected key '%s' in '%s' (expected type, target, source, "
				   "from, readonly, readwrite, id, sharing, mode, uid, gid, size, "
				   "required or env)",
				   key, field);
	}
	return 0;
}

/* An absolute clean target: relative ones are under the WORKDIR, as buildkit. */
static char *mount_target(const char *target, const char *cwd)
{
	if (target[0] == '/')
		return builder_clean_abs_path(target);
	cleanup_free char *joined = xasprintf("%s/%s", cwd, target);
	return builder_clean_abs_path(joined);
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');
	return s && s[1] ? s + 1 : path;
}

/* Parses one --mount value and checks it as buildkit does. */
static int parse_mount(struct builder *b, const struct recipe_instr *in, struct stage *st,
		       const char *cwd, const char *spec, struct run_mount *m)
{
	*m = (struct run_mount){.spec = spec, .mode = -1, .uid = -1, .gid = -1};
	cleanup_strv char **fields = NULL;
	const char *emsg = NULL;
	if (csv_fields(spec, &fields, &emsg) < 0)
		return mount_error(b, in, spec, EINVAL, "failed to parse csv mounts: %s", emsg);
	bool ro_auto = true;
	for (size_t i = 0; fields[i]; i++) {
		int r = mount_field(b, in, st, m, fields[i], &ro_auto);
		if (r < 0)
			return r;
	}
	const char *type = mount_kind_names[m->kind];
	if (m->kind == MOUNT_BIND || m->kind == MOUNT_TMPFS) {
		const char *what = m->mode >= 0 ? "mode" : m->uid >= 0 ? "uid" : "gid";
		if (m->mode >= 0 || m->uid >= 0 || m->gid >= 0)
			return mount_error(b, in, spec, EINVAL,
					   "%s not allowed for \"%s\" type mounts", what, type);
	}
	if (ro_auto)
		m->readonly = m->kind != MOUNT_CACHE && m->kind != MOUNT_TMPFS;
	if (m->sharing_set && m->kind != MOUNT_CACHE)
		return mount_error(b, in, spec, EINVAL, "invalid cache sharing set for %s mount",
				   type);
	switch (m->kind) {
	case MOUNT_SSH:
		return mount_error(b, in, spec, ENOTSUP, "type=ssh is not supported");
	case MOUNT_SECRET:
		if (m->from)
			return mount_error(b, in, spec, EINVAL,
					   "secret mount should not have a from");
		if (m->source && m->id)
			return mount_error(b, in, spec, EINVAL, "both source and id can't be set");
		if (m->source) {
			m->id = steal_pointer(&m->source);
		}
		if (!m->id && !m->target)
			return mount_error(b, in, spec, EINVAL,
					   "invalid secret mount. one of source, target required");
		if (!m->id)
			m->id = xstrdup(base_name(m->target));
		if (m->target) {
			char *t = mount_target(m->target, cwd);
			free(m->target);
			m->target = t;
		} else if (!m->env) {
			m->target = xasprintf("/run/secrets/%s", base_name(m->id));
		}
		break;
	case MOUNT_CACHE:
		if (m->from || m->source)
			return mount_error(b, in, spec, ENOTSUP,
					   "a cache mount seeded with from= or source= is not "
					   "supported");
		/* fall through */
	case MOUNT_BIND:
	case MOUNT_TMPFS: {
		if (!m->target || !*m->target)
			return mount_error(b, in, spec, EINVAL, "target is required");
		char *t = mount_target(m->target, cwd);
		free(m->target);
		m->target = t;
		if (m->kind == MOUNT_CACHE && !m->id)
			m->id = xstrdup(m->target);
		if (m->kind == MOUNT_BIND) {
			char *s = builder_clean_abs_path(m->source ? m->source : "/");
			free(m->source);
			m->source = s;
		}
		break;
	}
	}
	if (m->target && !strcmp(m->target, "/"))
		return mount_error(b, in, spec, EINVAL, "invalid mount target \"/\"");
	return 0;
}

/* ---- --mount: what a step needs, and what it leaves to release ---- */

struct run_plan {
	struct run_mount *m;
	size_t n;
	struct builder_source *src; /* one per mount; used for from= */
	/* while the step runs */
	char *tmp;  /* private dir in the store's tmp: rw overlays, copies */
	char *priv; /* tmp/private: a tmpfs for secrets and scripts, when it could be mounted */
	bool priv_mounted;
	struct sandbox_mount *sm;
	size_t n_sm;
	char **strs;	 /* strings sm points to */
	char **overlays; /* merged dirs of rw overlays to unmount */
	int fds[64];	 /* O_PATH fds named by /proc/self/fd sources */
	size_t n_fds;
	int locks[64]; /* flocked cache lock files */
	size_t n_locks;
	char **env; /* secrets as variables: "NAME=value" */
};

static void run_plan_release(struct run_plan *p)
{
	for (size_t i = 0; p->overlays && p->overlays[i]; i++)
		sandbox_overlay_umount(p->overlays[i], NULL);
	strv_free(p->overlays);
	for (size_t i = 0; i < p->n; i++) {
		if (p->src)
			builder_source_close(&p->src[i]);
		run_mount_release(&p->m[i]);
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

static int run_plan_parse(struct builder *b, const struct recipe_instr *in, struct stage *st,
			  const char *cwd, struct run_plan *p)
{
	for (size_t i = 0; in->flags && in->flags[i]; i++) {
		if (strncmp(in->flags[i], "--mount=", 8))
			continue;
		if (p->n == 32)
			return builder_instr_error(b, in, EINVAL,
						   "too many --mount flags (at most 32)");
		p->m = xrealloc(p->m, (p->n + 1) * sizeof *p->m);
		int r = parse_mount(b, in, st, cwd, in->flags[i] + 8, &p->m[p->n]);
		p->n++;
		if (r < 0)
			return r;
	}
	p->src = xcalloc(p->n + 1, sizeof *p->src);
	return 0;
}

/* The bind source of m opened as an O_PATH fd: beneath the context root, or beneath
 * the root of its from= source. */
static int open_bind_source(struct builder *b, const struct recipe_instr *in, struct run_plan *p,
			    size_t i, int *out)
{
	const struct run_mount *m = &p->m[i];
	const char *rel = m->source[1] ? m->source + 1 : ".";
	if (!m->from) {
		int r = context_open_path(b->ctx, rel, O_PATH, out, b->err);
		return r < 0 ? cairn_error_wrap(b->err, "%s:%d: RUN: --mount=%s", b->recipe_name,
						in->line, m->spec)
			     : 0;
	}
	cleanup_close int root = open(p->src[i].path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	int fd = root < 0 ? -errno : context_open_beneath(root, rel, O_PATH);
	if (fd < 0)
		return mount_error(b, in, m->spec, -fd, "source %s in %s: %s", m->source, m->from,
				   strerror(-fd));
	*out = fd;
	return 0;
}

/* The part of the cache key the mounts make: what they are, and for binds the
 * digest of what they show. Cache contents and secret values are not in it. */
static int run_plan_key(struct builder *b, const struct recipe_instr *in, struct run_plan *p,
			json_t **out)
{
	json_t *arr = json_array();
	*out = arr;
	for (size_t i = 0; i < p->n; i++) {
		const struct run_mount *m = &p->m[i];
		json_t *o = json_pack("{s:s, s:s?, s:b}", "type", mount_kind_names[m->kind],
				      "target", m->target, "ro", m->readonly);
		json_array_append_new(arr, o);
		int r;
		switch (m->kind) {
		case MOUNT_BIND: {
			if (m->from && (r = builder_source_open(b, in, m->from, &p->src[i])) < 0)
				return r;
			cleanup_close int fd = -1;
			if ((r = open_bind_source(b, in, p, i, &fd)) < 0)
				return r;
			char digest[DIGEST_LEN];
			if (m->from) {
				memcpy(digest, p->src[i].key, DIGEST_LEN);
			} else {
				struct stat sb;
				if (fstat(fd, &sb) < 0)
					return cairn_error_errno(b->err, errno, "reading %s",
								 m->source);
				struct context_source cs = {
				    .path = (char *)(m->source[1] ? m->source + 1 : "."),
				    .is_dir = S_ISDIR(sb.st_mode)};
				if ((r = context_digest(b->ctx, &cs, 1, digest, b->err)) < 0)
					return builder_instr_wrap(b, in);
			}
			json_object_set_new(o, "source", json_string(m->source));
			json_object_set_new(o, "from", json_string(m->from ? m->from : ""));
			json_object_set_new(o, "digest", json_string(digest));
			break;
		}
		case MOUNT_CACHE:
			json_object_set_new(o, "id", json_string(m->id));
			json_object_set_new(o, "sharing", json_string(sharing_names[m->sharing]));
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
static int plan_tmp(struct builder *b, struct run_plan *p)
{
	if (p->tmp)
		return 0;
	int r = store_mkdtemp(b->s, "mounts-", &p->tmp, b->err);
	if (r < 0)
		return r;
	p->priv = xasprintf("%s/private", p->tmp);
	if (mkdir(p->priv, 0700) < 0)
		return cairn_error_errno(b->err, errno, "creating %s", p->priv);
	/* secrets stay in memory when a tmpfs can be had; else they live in the
	 * private dir only for the step */
	p->priv_mounted = mount("tmpfs", p->priv, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0700") == 0;
	return 0;
}

/* Writes data to a new file in the private dir with mode and owner; returns its path. */
static int plan_file(struct builder *b, struct run_plan *p, const char *name, const void *data,
		     size_t len, mode_t mode, uid_t uid, gid_t gid, char **path)
{
	int r = plan_tmp(b, p);
	if (r < 0)
		return r;
	*path = xasprintf("%s/%s", p->priv, name);
	cleanup_close int fd = open(*path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || util_write_all(fd, data, len) < 0 || fchown(fd, uid, gid) < 0 ||
	    fchmod(fd, mode) < 0)
		return cairn_error_errno(b->err, errno, "writing %s", name);
	return 0;
}

static int prepare_bind(struct builder *b, const struct recipe_instr *in, struct run_plan *p,
			size_t i)
{
	const struct run_mount *m = &p->m[i];
	if (p->n_fds == sizeof p->fds / sizeof *p->fds)
		return builder_instr_error(b, in, EINVAL, "too many mounts");
	int fd = -1;
	int r = open_bind_source(b, in, p, i, &fd);
	if (r < 0)
		return r;
	p->fds[p->n_fds++] = fd;
	struct stat sb;
	if (fstat(fd, &sb) < 0)
		return cairn_error_errno(b->err, errno, "reading %s", m->source);
	cleanup_free char *fdpath = xasprintf("/proc/self/fd/%d", fd);
	if (m->readonly) {
		plan_add(p, SANDBOX_MOUNT_BIND, fdpath, m->target, true, 0);
		return 0;
	}
	/* writable: the step writes into a throwaway copy (an overlay for a directory) */
	if ((r = plan_tmp(b, p)) < 0)
		return r;
	cleanup_free char *dir = xasprintf("%s/rw%zu", p->tmp, i);
	if (mkdir(dir, 0700) < 0)
		return cairn_error_errno(b->err, errno, "creating %s", dir);
	if (S_ISDIR(sb.st_mode)) {
		cleanup_free char *upper = xasprintf("%s/upper", dir);
		cleanup_free char *work = xasprintf("%s/work", dir);
		cleanup_free char *merged = xasprintf("%s/merged", dir);
		if (mkdir(upper, 0755) < 0 || mkdir(work, 0755) < 0 || mkdir(merged, 0755) < 0)
			return cairn_error_errno(b->err, errno, "creating directories in %s", dir);
		char *lower[] = {fdpath, NULL};
		if ((r = sandbox_overlay_mount(lower, 1, upper, work, merged, b->err)) < 0)
			return builder_instr_wrap(b, in);
		strv_push(&p->overlays, merged);
		if ((r = builder_mount_nosuid_nodev(merged, b->err)) < 0)
			return builder_instr_wrap(b, in);
		plan_add(p, SANDBOX_MOUNT_BIND, merged, m->target, false, 0);
		return 0;
	}
	cleanup_close int src = open(fdpath, O_RDONLY | O_CLOEXEC);
	cleanup_free char *copy = xasprintf("%s/file", dir);
	cleanup_close int dst = open(copy, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (src < 0 || dst < 0)
		return cairn_error_errno(b->err, errno, "copying %s", m->source);
	char buf[65536];
	ssize_t n;
	while ((n = read(src, buf, sizeof buf)) > 0)
		if (util_write_all(dst, buf, (size_t)n) < 0)
			return cairn_error_errno(b->err, errno, "copying %s", m->source);
	if (n < 0 || fchmod(dst, sb.st_mode & 07777) < 0)
		return cairn_error_errno(b->err, errno, "copying %s", m->source);
	plan_add(p, SANDBOX_MOUNT_BIND, copy, m->target, false, 0);
	return 0;
}

/* The cache dir of the id in the store; locked for sharing=locked (and private: a
 * simplification, waiting instead of taking a fresh dir). Created with mode and
 * owner the first time. */
static int prepare_cache(struct builder *b, struct run_plan *p, size_t i)
{
	const struct run_mount *m = &p->m[i];
	char d[DIGEST_LEN];
	sha256_digest(m->id, strlen(m->id), d);
	cleanup_free char *base = xasprintf("%s/cairn/mounts", store_root(b->s));
	/* store_open made it; private as all of cairn/: the dirs in it keep the modes the
	 * steps see, and steps leave setuid files and device nodes in them */
	int r = util_mkdir_p(AT_FDCWD, base, 0700, b->err);
	if (r < 0)
		return r;
	cleanup_free char *dir = xasprintf("%s/%s", base, digest_hex(d));
	if (m->sharing != SHARING_SHARED) {
		if (p->n_locks == sizeof p->locks / sizeof *p->locks)
			return cairn_error_set(b->err, EINVAL, "too many cache mounts");
		cleanup_free char *lock = xasprintf("%s.lock", dir);
		int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0)
			return cairn_error_errno(b->err, errno, "opening %s", lock);
		p->locks[p->n_locks++] = fd;
		while (flock(fd, LOCK_EX) < 0) {
			if (errno != EINTR || util_interrupted)
				return cairn_error_errno(b->err, errno,
							 "waiting for the cache mount %s", m->id);
		}
	}
	if (mkdir(dir, 0755) == 0) {
		if (chown(dir, m->uid >= 0 ? (uid_t)m->uid : 0, m->gid >= 0 ? (gid_t)m->gid : 0) <
			0 ||
		    chmod(dir, m->mode >= 0 ? (mode_t)m->mode : 0755) < 0)
			return cairn_error_errno(b->err, errno, "setting up the cache mount %s",
						 m->id);
	} else if (errno != EEXIST) {
		return cairn_error_errno(b->err, errno, "creating the cache mount %s", m->id);
	}
	plan_add(p, SANDBOX_MOUNT_BIND, dir, m->target, m->readonly, 0);
	return 0;
}

/* The most a secret holds, as buildkit: it lives in memory and on a tmpfs. */
#define SECRET_MAX (500u << 10)

static int secret_too_large(struct builder *b, const char *id, const char *what)
{
	return cairn_error_set(b->err, EFBIG,
			       "secret %s: %s holds more than %u KiB, the most a secret may hold",
			       id, what, SECRET_MAX >> 10);
}

/* Reads the secret file path, never more than SECRET_MAX + 1 bytes of it: /dev/zero,
 * a fifo fed without end or a huge file costs no more than a secret that fits. */
static int read_secret_file(struct builder *b, const char *id, const char *path, char **data,
			    size_t *len)
{
	cleanup_close int fd = open(path, O_RDONLY | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return cairn_error_errno(b->err, errno, "secret %s: opening %s", id, path);
	char *buf = xmalloc(SECRET_MAX + 2);
	size_t got = 0;
	int e = 0;
	while (got <= SECRET_MAX) {
		ssize_t n = read(fd, buf + got, SECRET_MAX + 1 - got);
		if (n < 0 && errno == EINTR && !util_interrupted)
			continue;
		if (n < 0)
			e = errno;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (e || got > SECRET_MAX) {
		explicit_bzero(buf, got);
		free(buf);
		return e ? cairn_error_errno(b->err, e, "secret %s: reading %s", id, path)
			 : secret_too_large(b, id, path);
	}
	buf[got] = '\0';
	*data = buf;
	*len = got;
	return 0;
}

/* The value of --secret id=ID: a file's content (src=) or a variable's (env=); an id
 * alone names a variable, as buildx. *found false when no --secret gives the id.
 * Messages never hold a value. */
static int secret_value(struct builder *b, const char *id, char **data, size_t *len, bool *found)
{
	*found = false;
	for (size_t i = 0; b->o->secrets && b->o->secrets[i]; i++) {
		const char *spec = b->o->secrets[i];
		cleanup_free char *sid = NULL, *src = NULL, *env = NULL, *type = NULL;
		cleanup_free char *copy = xstrdup(spec);
		char *save = NULL;
		for (char *f = strtok_r(copy, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
			char *eq = strchr(f, '=');
			if (!eq)
				return cairn_error_set(b->err, EINVAL,
						       "--secret %s: field \"%s\" is not key=value",
						       spec, f);
			*eq = '\0';
			char **slot = !strcmp(f, "id")				  ? &sid
				      : !strcmp(f, "src") || !strcmp(f, "source") ? &src
				      : !strcmp(f, "env")			  ? &env
				      : !strcmp(f, "type")			  ? &type
										  : NULL;
			if (!slot)
				return cairn_error_set(b->err, EINVAL,
						       "--secret %s: unknown key \"%s\"", spec, f);
			free(*slot);
			*slot = xstrdup(eq + 1);
		}
		if (!sid || !*sid || strcmp(sid, id))
			continue;
		*found = true;
		if (src && (!type || !strcmp(type, "file")))
			return read_secret_file(b, id, src, data, len);
		const char *var = env ? env : src ? src : id;
		const char *v = getenv(var);
		if (!v)
			return cairn_error_set(b->err, ENOENT,
					       "secret %s: environment variable %s is not set", id,
					       var);
		if (strlen(v) > SECRET_MAX) {
			cleanup_free char *what = xasprintf("environment variable %s", var);
			return secret_too_large(b, id, what);
		}
		*data = xstrdup(v);
		*len = strlen(v);
		return 0;
	}
	return 0;
}

static int prepare_secret(struct builder *b, const struct recipe_instr *in, struct run_plan *p,
			  size_t i)
{
	const struct run_mount *m = &p->m[i];
	char *data = NULL;
	size_t len = 0;
	bool found = false;
	int r = secret_value(b, m->id, &data, &len, &found);
	if (r < 0)
		return builder_instr_wrap(b, in);
	if (!found) {
		if (m->required)
			return builder_instr_error(b, in, ENOENT,
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
			      &path);
		if (r == 0)
			plan_add(p, SANDBOX_MOUNT_BIND, path, m->target, true, 0);
	}
	explicit_bzero(data, len);
	free(data);
	return r;
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
static int run_plan_prepare(struct builder *b, const struct recipe_instr *in, struct run_plan *p,
			    const char *script, const char *script_path)
{
	int r = 0;
	for (size_t i = 0; i < p->n && r == 0; i++) {
		switch (p->m[i].kind) {
		case MOUNT_BIND:
			r = prepare_bind(b, in, p, i);
			break;
		case MOUNT_CACHE:
			r = prepare_cache(b, p, i);
			break;
		case MOUNT_TMPFS:
			plan_add(p, SANDBOX_MOUNT_TMPFS, NULL, p->m[i].target, false, p->m[i].size);
			break;
		case MOUNT_SECRET:
			r = prepare_secret(b, in, p, i);
			break;
		case MOUNT_SSH:
			r = builder_instr_error(b, in, ENOTSUP, "type=ssh is not supported");
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
		r = plan_file(b, p, "script", script, strlen(script), 0755, 0, 0, &path);
		if (r < 0)
			return r;
		plan_add(p, SANDBOX_MOUNT_BIND, path, script_path, true, 0);
	}
	return 0;
}

/* ---- RUN ---- */

int builder_exec_run(struct builder *b, struct stage *st, const struct recipe_instr *in)
{
	int r = builder_check_flags(b, in, "network,mount");
	if (r < 0)
		return r;
	if (in->n_heredocs && in->json)
		return builder_instr_error(b, in, EINVAL,
					   "a heredoc needs the shell form of RUN, not JSON");
	enum sandbox_network net = b->o->network;
	const char *nflag = builder_flag_value(in, "network");
	if (nflag) {
		if (!strcmp(nflag, "none"))
			net = SANDBOX_NET_NONE;
		else if (!strcmp(nflag, "host"))
			net = SANDBOX_NET_HOST;
		else if (strcmp(nflag, "default"))
			return builder_instr_error(
			    b, in, EINVAL, "--network=%s: expected none, host or default", nflag);
	}
	if (net == SANDBOX_NET_HOST && b->o->network != SANDBOX_NET_HOST)
		return builder_instr_error(b, in, EPERM,
					   "RUN --network=host needs `cairn build --network host`");
	cleanup_free char *script = NULL, *script_path = NULL;
	cleanup_strv char **argv = in->n_heredocs ? heredoc_words(st, in, &script, &script_path)
						  : builder_command_words(st, in);
	cleanup_strv char **env = run_env(st);
	const char *user = builder_config_str(st, "User");
	const char *cwd =
	    *builder_config_str(st, "WorkingDir") ? builder_config_str(st, "WorkingDir") : "/";

	struct run_plan plan = {0};
	r = run_plan_parse(b, in, st, cwd, &plan);
	cleanup_json json_t *mounts = NULL;
	if (r == 0)
		r = run_plan_key(b, in, &plan, &mounts);
	if (r < 0) {
		run_plan_release(&plan);
		return r;
	}

	/* history shows the build args in scope, as docker does */
	cleanup_strbuf struct strbuf by = STRBUF_INIT;
	strbuf_addstr(&by, "RUN ");
	size_t nargs = 0;
	for (size_t i = 0; st->args && st->args[i]; i++)
		nargs += strchr(st->args[i], '=') != NULL;
	if (nargs) {
		strbuf_addf(&by, "|%zu ", nargs);
		for (size_t i = 0; st->args[i]; i++)
			if (strchr(st->args[i], '='))
				strbuf_addf(&by, "%s ", st->args[i]);
	}
	for (size_t i = 0; argv[i]; i++)
		strbuf_addf(&by, "%s%s", i ? " " : "", argv[i]);

	cleanup_json json_t *desc =
	    json_pack("{s:s, s:o, s:o, s:s, s:s, s:s, s:s}", "run", by.buf, "argv",
		      builder_strv_to_json(argv), "env", builder_strv_to_json(env), "user", user,
		      "cwd", cwd, "net", net == SANDBOX_NET_HOST ? "host" : "none", "comp",
		      layer_compression_name(b->o->compression));
	/* only when present, so the keys of plain steps stay what they were */
	if (json_array_size(mounts))
		json_object_set(desc, "mounts", mounts);
	if (script)
		json_object_set_new(desc, "script", json_string(script));
	cleanup_free char *desc_text = util_json_canonical(desc);
	struct step sp = {.in = in, .t0 = util_now()};
	sp.created_by = strbuf_detach(&by);
	builder_step_key(st->key, desc_text, sp.key);
	if (builder_cache_load(b, &sp)) {
		run_plan_release(&plan);
		r = builder_step_commit(b, st, &sp);
		builder_step_release(&sp);
		return r;
	}

	cleanup_free char *title = builder_instr_title(in);
	builder_progress(b, "[%zu/%zu] %s\n", b->step, b->recipe->n_instrs, title);
	struct rootfs rf = {0};
	r = run_plan_prepare(b, in, &plan, script, script_path);
	int status = 0;
	/* with -q the step's output is kept aside and shown only when it fails */
	cleanup_close int quiet_out = -1;
	if (r == 0 && !b->o->progress) {
		cleanup_free char *dir = xasprintf("%s/cairn/tmp", store_root(b->s));
		quiet_out = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	}
	/* a step that failed on a full in-memory upper dir runs once more on disk */
	for (bool again = true; again;) {
		again = false;
		if (r == 0)
			r = builder_rootfs_mount(b, st, &rf);
		if (r < 0)
			break;
		int out = b->o->progress ? fileno(b->o->progress) : quiet_out;
		/* secrets as variables reach the step only, never the key or the image */
		cleanup_strv char **run_vars = strv_dup(env);
		add_proxy_args(b, st, &run_vars);
		for (size_t i = 0; plan.env && plan.env[i]; i++) {
			size_t n = strcspn(plan.env[i], "=");
			cleanup_free char *name = xstrndup(plan.env[i], n);
			builder_env_set(&run_vars, name, plan.env[i] + n + 1);
		}
		struct sandbox_spec spec = {
		    .rootfs = rf.merged,
		    .argv = argv,
		    .env = run_vars,
		    .cwd = cwd,
		    .user = user,
		    .hostname = "cairn",
		    .network = net,
		    .stdout_fd = out,
		    .stderr_fd = out,
		    .mounts = plan.sm,
		    .n_mounts = plan.n_sm,
		};
		r = sandbox_run(&spec, &status, b->err);
		if (r < 0)
			builder_instr_wrap(b, in);
		for (size_t i = 0; plan.env && run_vars[i]; i++)
			explicit_bzero(run_vars[i], strlen(run_vars[i]));
		if (r == 0 && status != 0 && builder_rootfs_full(&rf)) {
			builder_progress(
			    b, "[%zu/%zu] %s: out of room in memory; running again on disk\n",
			    b->step, b->recipe->n_instrs, title);
			builder_rootfs_release(&rf);
			rf.on_disk = true;
			if (quiet_out >= 0 && ftruncate(quiet_out, 0) == 0)
				lseek(quiet_out, 0, SEEK_SET);
			again = true;
		}
	}
	if (r == 0 && status != 0) {
		cleanup_free char *tail = output_tail(quiet_out);
		r = cairn_error_set(b->err, ECANCELED,
				    "%s:%d: step %zu/%zu `%s` failed: exit status %d%s%s",
				    b->recipe_name, in->line, b->step, b->recipe->n_instrs, title,
				    status, *tail ? "; its output ended with:\n" : "", tail);
	}
	run_plan_release(&plan);
	r = builder_rootfs_finish(b, &rf, &sp, r);
	if (r == 0)
		r = builder_step_commit(b, st, &sp);
	builder_step_release(&sp);
	return r;
}
