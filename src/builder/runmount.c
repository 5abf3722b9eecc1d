/* RUN --mount: the flag's grammar (a CSV record of key=value fields, as buildkit
 * reads it) and its checks. Read twice, as buildkit does: when the instruction is
 * parsed, without variables (what needs none is checked there, and lint sees it),
 * and when the step runs, with the values expanded with the stage's variables. */
#include "internal.h"

#include "../fs/fs.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *const builder_mount_kind_names[] = {"bind", "cache", "tmpfs", "secret", "ssh"};

const char *const builder_sharing_names[] = {"shared", "private", "locked"};

void builder_mount_release(struct builder_mount *m)
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

/* "RUN: --mount=SPEC: what" */
#define mount_error(err, spec, code, fmt, ...)                                                     \
	cairn_error_set(err, code, "RUN: --mount=%s: " fmt, spec, ##__VA_ARGS__)

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

/* The index of value (any case) in names, or -1. */
static int name_index(const char *const *names, int n, const char *value)
{
	for (int i = 0; i < n; i++)
		if (!strcasecmp(value, names[i]))
			return i;
	return -1;
}

/* A field's value as the step will see it: expanded, or at parse time unquoted when it
 * holds no variable; *out NULL (and 0) when it is left for the step. */
static int mount_value(const struct builder_mount_words *w, const char *raw, char **out,
		       struct cairn_error *err)
{
	*out = NULL;
	if (w->expand)
		return w->expand(w->ctx, raw, out, err);
	if (strchr(raw, '$'))
		return 0;
	struct recipe_word_opts o = {.escape = w->escape, .interrupt = &util_interrupted};
	struct recipe_error rerr = {0};
	/* a word that does not process is reported when the step expands it */
	if (recipe_expand_word(raw, &o, out, &rerr) < 0)
		*out = NULL;
	recipe_error_clear(&rerr);
	return 0;
}

/* One field "key=value" (or a bare boolean key) of a --mount flag into m. A value left
 * for the step (and the type, when it is one) skips the checks that need it. */
static int mount_field(const struct builder_mount_words *w, struct builder_mount *m,
		       const char *field, bool *ro_auto, bool *kind_known, struct cairn_error *err)
{
	const char *eq = strchr(field, '=');
	cleanup_free char *key = eq ? xstrndup(field, (size_t)(eq - field)) : xstrdup(field);
	for (char *k = key; *k; k++)
		*k = (char)tolower((unsigned char)*k);
	const char *type = builder_mount_kind_names[m->kind];
	if (!eq) {
		if (!strcmp(key, "readonly") || !strcmp(key, "ro") || !strcmp(key, "readwrite") ||
		    !strcmp(key, "rw")) {
			m->readonly = !strcmp(key, "readonly") || !strcmp(key, "ro");
			*ro_auto = false;
			return 0;
		}
		if (!strcmp(key, "required")) {
			if (*kind_known && m->kind != MOUNT_SECRET && m->kind != MOUNT_SSH)
				return mount_error(err, m->spec, EINVAL,
						   "unexpected key 'required' for mount type '%s'",
						   type);
			m->required = true;
			return 0;
		}
		return mount_error(err, m->spec, EINVAL,
				   "invalid field '%s' must be a key=value pair", field);
	}
	cleanup_free char *value = NULL;
	int r;
	if (!strcmp(key, "from")) {
		for (const char *d = strchr(eq + 1, '$'); d; d = strchr(d + 1, '$'))
			if (d[1])
				return mount_error(err, m->spec, EINVAL,
						   "'from' doesn't support variable expansion, "
						   "define alias stage instead");
		value = xstrdup(eq + 1);
	} else if ((r = mount_value(w, eq + 1, &value, err)) < 0) {
		return r;
	}
	if (!value) {
		/* the step will know it */
		m->deferred = true;
		if (!strcmp(key, "type"))
			*kind_known = false;
		return 0;
	}
	bool flag;
	uint64_t size;
	if (!strcmp(key, "type")) {
		int i = name_index(builder_mount_kind_names, 5, value);
		if (i < 0)
			return mount_error(err, m->spec, EINVAL,
					   "unsupported mount type \"%s\" (expected bind, cache, "
					   "tmpfs, secret or ssh)",
					   value);
		m->kind = (enum mount_kind)i;
		*kind_known = true;
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
			return mount_error(err, m->spec, EINVAL, "invalid value for %s: %s", key,
					   value);
		m->readonly = (!strcmp(key, "readonly") || !strcmp(key, "ro")) ? flag : !flag;
		*ro_auto = false;
	} else if (!strcmp(key, "required")) {
		if (*kind_known && m->kind != MOUNT_SECRET && m->kind != MOUNT_SSH)
			return mount_error(err, m->spec, EINVAL,
					   "unexpected key 'required' for mount type '%s'", type);
		if (!parse_bool(value, &m->required))
			return mount_error(err, m->spec, EINVAL, "invalid value for %s: %s", key,
					   value);
	} else if (!strcmp(key, "size")) {
		if (*kind_known && m->kind != MOUNT_TMPFS)
			return mount_error(err, m->spec, EINVAL,
					   "unexpected key 'size' for mount type '%s'", type);
		if (!parse_size(value, &size))
			return mount_error(err, m->spec, EINVAL, "invalid value for %s: %s", key,
					   value);
		m->size = size;
	} else if (!strcmp(key, "id")) {
		free(m->id);
		m->id = steal_pointer(&value);
	} else if (!strcmp(key, "env")) {
		if (*kind_known && m->kind != MOUNT_SECRET)
			return mount_error(err, m->spec, EINVAL,
					   "unexpected key 'env' for mount type '%s'", type);
		free(m->env);
		m->env = steal_pointer(&value);
	} else if (!strcmp(key, "sharing")) {
		int i = name_index(builder_sharing_names, 3, value);
		if (i < 0)
			return mount_error(err, m->spec, EINVAL,
					   "unsupported sharing value \"%s\" (expected shared, "
					   "private or locked)",
					   value);
		m->sharing = (enum cache_sharing)i;
		m->sharing_set = true;
	} else if (!strcmp(key, "mode")) {
		if (!parse_uint(value, 8, 07777, &m->mode))
			return mount_error(err, m->spec, EINVAL, "invalid value %s for mode",
					   value);
	} else if (!strcmp(key, "uid") || !strcmp(key, "gid")) {
		if (!parse_uint(value, 10, UINT32_MAX, key[0] == 'u' ? &m->uid : &m->gid))
			return mount_error(err, m->spec, EINVAL, "invalid value %s for %s", value,
					   key);
	} else {
		return mount_error(err, m->spec, EINVAL,
				   "unexpected key '%s' in '%s' (expected type, target, source, "
				   "from, readonly, readwrite, id, sharing, mode, uid, gid, size, "
				   "required or env)",
				   key, field);
	}
	return 0;
}

/* Makes *target absolute and clean: a relative one is under the WORKDIR, as buildkit.
 * False when it is relative and cwd is not known yet (at parse time). */
static bool mount_target(char **target, const char *cwd)
{
	if ((*target)[0] != '/' && !cwd)
		return false;
	char *t = builder_path_under(cwd, *target);
	free(*target);
	*target = t;
	return true;
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');
	return s && s[1] ? s + 1 : path;
}

int builder_mount_parse(const char *spec, const struct builder_mount_words *w, const char *cwd,
			struct builder_mount *m, struct cairn_error *err)
{
	*m = (struct builder_mount){.spec = spec, .mode = -1, .uid = -1, .gid = -1};
	cleanup_strv char **fields = NULL;
	const char *emsg = NULL;
	if (csv_fields(spec, &fields, &emsg) < 0)
		return mount_error(err, spec, EINVAL, "failed to parse csv mounts: %s", emsg);
	bool ro_auto = true, kind_known = true;
	for (size_t i = 0; fields[i]; i++) {
		int r = mount_field(w, m, fields[i], &ro_auto, &kind_known, err);
		if (r < 0)
			return r;
	}
	/* what depends on a value the step will know is checked then */
	if (m->deferred)
		return 0;
	const char *type = builder_mount_kind_names[m->kind];
	if (m->kind == MOUNT_BIND || m->kind == MOUNT_TMPFS) {
		const char *what = m->mode >= 0 ? "mode" : m->uid >= 0 ? "uid" : "gid";
		if (m->mode >= 0 || m->uid >= 0 || m->gid >= 0)
			return mount_error(err, spec, EINVAL,
					   "%s not allowed for \"%s\" type mounts", what, type);
	}
	if (ro_auto)
		m->readonly = m->kind != MOUNT_CACHE && m->kind != MOUNT_TMPFS;
	if (m->sharing_set && m->kind != MOUNT_CACHE)
		return mount_error(err, spec, EINVAL, "invalid cache sharing set for %s mount",
				   type);
	switch (m->kind) {
	case MOUNT_SSH:
		/* buildkit's: the agent --ssh gives id (default "default"), its socket at
		 * target (default /run/buildkit/ssh_agent.N, chosen when it is mounted) */
		if (m->from || m->source)
			return mount_error(err, spec, EINVAL, "ssh mount should not have a %s",
					   m->from ? "from" : "source");
		if (!m->id)
			m->id = xstrdup("default");
		if (m->target && !mount_target(&m->target, cwd))
			return 0;
		break;
	case MOUNT_SECRET:
		if (m->from)
			return mount_error(err, spec, EINVAL,
					   "secret mount should not have a from");
		if (m->source && m->id)
			return mount_error(err, spec, EINVAL, "both source and id can't be set");
		if (m->source) {
			m->id = steal_pointer(&m->source);
		}
		if (!m->id && !m->target)
			return mount_error(err, spec, EINVAL,
					   "invalid secret mount. one of source, target required");
		if (!m->id)
			m->id = xstrdup(base_name(m->target));
		if (m->target) {
			if (!mount_target(&m->target, cwd))
				return 0;
		} else if (!m->env) {
			m->target = xasprintf("/run/secrets/%s", base_name(m->id));
		}
		break;
	case MOUNT_CACHE:
		if (m->from || m->source)
			return mount_error(err, spec, ENOTSUP,
					   "a cache mount seeded with from= or source= is not "
					   "supported");
		/* fall through */
	case MOUNT_BIND:
	case MOUNT_TMPFS: {
		if (!m->target || !*m->target)
			return mount_error(err, spec, EINVAL, "target is required");
		if (!mount_target(&m->target, cwd))
			return 0;
		if (m->kind == MOUNT_CACHE && !m->id)
			m->id = xstrdup(m->target);
		if (m->kind == MOUNT_BIND) {
			char *s = fs_clean_path(m->source ? m->source : "/", FS_CLEAN_IN_ROOT_ABS);
			free(m->source);
			m->source = s;
		}
		break;
	}
	}
	if (m->target && !strcmp(m->target, "/"))
		return mount_error(err, spec, EINVAL, "invalid mount target \"/\"");
	return 0;
}
