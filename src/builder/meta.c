/* The metadata instructions (ENV, LABEL, EXPOSE, VOLUME, USER, WORKDIR, CMD,
 * ENTRYPOINT, SHELL, STOPSIGNAL, MAINTAINER, ARG, HEALTHCHECK, ONBUILD): they change
 * the config and add a history entry; WORKDIR may also create its directory. And the
 * ONBUILD triggers of a stage's base image, run right after its FROM. */
#include "internal.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- metadata instructions ---- */

/* Parses the digits of one port number (1-65535). */
static int parse_port_number(const char *s, size_t n, long *port)
{
	if (n == 0 || n > 5)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return -EINVAL;
	*port = strtol(s, NULL, 10);
	return *port < 1 || *port > 65535 ? -EINVAL : 0;
}

/* "PORT[-END][/PROTO]" → "PORT/proto" for each port, appended to *out (a range is
 * every port in it, as docker's EXPOSE). */
static int parse_ports(const char *s, char ***out)
{
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	const char *proto = slash ? slash + 1 : "tcp";
	const char *dash = memchr(s, '-', n);
	long first, last;
	if (parse_port_number(s, dash ? (size_t)(dash - s) : n, &first) < 0)
		return -EINVAL;
	last = first;
	if (dash &&
	    (parse_port_number(dash + 1, n - (size_t)(dash + 1 - s), &last) < 0 || last < first))
		return -EINVAL;
	cleanup_free char *lp = xstrdup(proto);
	for (char *p = lp; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	if (strcmp(lp, "tcp") && strcmp(lp, "udp") && strcmp(lp, "sctp"))
		return -EINVAL;
	for (long port = first; port <= last; port++)
		strv_push_take(out, xasprintf("%ld/%s", port, lp));
	return 0;
}

static const char *const signals[] = {
    "HUP",  "INT",  "QUIT", "ILL",    "TRAP",	"ABRT",	 "BUS",	 "FPE",	 "KILL", "USR1", "SEGV",
    "USR2", "PIPE", "ALRM", "TERM",   "STKFLT", "CHLD",	 "CONT", "STOP", "TSTP", "TTIN", "TTOU",
    "URG",  "XCPU", "XFSZ", "VTALRM", "PROF",	"WINCH", "IO",	 "PWR",	 "SYS",	 NULL,
};

static bool signal_valid(const char *s)
{
	if (!*s)
		return false;
	bool digits = true;
	for (const char *p = s; *p; p++)
		digits = digits && isdigit((unsigned char)*p);
	if (digits)
		return atoi(s) > 0 && atoi(s) < 65;
	const char *name = strncasecmp(s, "SIG", 3) ? s : s + 3;
	if (!strncasecmp(name, "RTMIN", 5) || !strncasecmp(name, "RTMAX", 5))
		return true;
	for (size_t i = 0; signals[i]; i++)
		if (!strcasecmp(name, signals[i]))
			return true;
	return false;
}

/* ---- HEALTHCHECK ---- */

/* strconv.ParseInt(s, 10, 32), which docker uses for --retries. */
static bool parse_int32(const char *s, long long *out)
{
	const char *p = s + (*s == '-' || *s == '+');
	if (!*p || strspn(p, "0123456789") != strlen(p) || strlen(p) > 12)
		return false;
	*out = strtoll(s, NULL, 10);
	return *out >= INT32_MIN && *out <= INT32_MAX;
}

static const char *const healthcheck_flags[] = {"interval", "timeout", "start-period",
						"start-interval", "retries"};
static const char *const healthcheck_fields[] = {"Interval", "Timeout", "StartPeriod",
						 "StartInterval", "Retries"};
#define N_HEALTHCHECK_FLAGS (sizeof healthcheck_flags / sizeof healthcheck_flags[0])

/* HEALTHCHECK NONE, or HEALTHCHECK [flags] CMD ...: the config's Healthcheck as
 * docker writes it (durations in nanoseconds, zero fields left out). The history text
 * is "HEALTHCHECK NONE" or "HEALTHCHECK [--FLAG=VALUE...] TEST" with the durations
 * as Go prints them and TEST the Test array in JSON. */
static int apply_healthcheck(struct builder *b, struct stage *st, const struct recipe_instr *in,
			     struct strbuf *by, struct cairn_error *err)
{
	json_t *cfg = builder_runconfig(st);
	if (!strcasecmp(in->args[0], "NONE")) {
		if (in->flags && in->flags[0])
			return builder_instr_error(b, in, err, EINVAL,
						   "HEALTHCHECK NONE takes no flags (%s)",
						   in->flags[0]);
		json_object_set_new(cfg, "Healthcheck", json_pack("{s:[s]}", "Test", "NONE"));
		strbuf_addstr(by, "HEALTHCHECK NONE");
		return 0;
	}
	int r =
	    builder_check_flags(b, in, "interval,timeout,start-period,start-interval,retries", err);
	if (r < 0)
		return r;
	const char *values[N_HEALTHCHECK_FLAGS] = {0};
	for (size_t i = 0; in->flags && in->flags[i]; i++) {
		const char *f = in->flags[i] + 2;
		size_t n = strcspn(f, "=");
		for (size_t k = 0; k < N_HEALTHCHECK_FLAGS; k++) {
			if (strlen(healthcheck_flags[k]) != n ||
			    strncmp(f, healthcheck_flags[k], n))
				continue;
			if (values[k])
				return builder_instr_error(b, in, err, EINVAL,
							   "duplicate flag --%s",
							   healthcheck_flags[k]);
			if (f[n] != '=')
				return builder_instr_error(b, in, err, EINVAL, "--%s needs a value",
							   healthcheck_flags[k]);
			values[k] = f + n + 1;
		}
	}

	cleanup_json json_t *hc = json_object();
	json_t *test = json_array();
	json_object_set_new(hc, "Test", test);
	json_array_append_new(test, json_string(in->json ? "CMD" : "CMD-SHELL"));
	for (size_t i = 1; in->args[i]; i++)
		json_array_append_new(test, json_string(in->args[i]));
	strbuf_addstr(by, "HEALTHCHECK");
	for (size_t k = 0; k < N_HEALTHCHECK_FLAGS; k++) {
		const char *v = values[k];
		if (!v || !*v) /* docker: an empty value is the default */
			continue;
		const char *flag = healthcheck_flags[k];
		if (!strcmp(flag, "retries")) {
			long long n = 0;
			if (!parse_int32(v, &n))
				return builder_instr_error(b, in, err, EINVAL,
							   "--retries=%s: not a 32-bit integer", v);
			if (n < 0)
				return builder_instr_error(b, in, err, EINVAL,
							   "--retries=%s: cannot be negative", v);
			if (n > 0) {
				json_object_set_new(hc, healthcheck_fields[k], json_integer(n));
				strbuf_addf(by, " --retries=%lld", n);
			}
			continue;
		}
		int64_t d = 0;
		cleanup_free char *why = NULL;
		if (builder_duration_parse(v, &d, &why) < 0)
			return builder_instr_error(b, in, err, EINVAL, "--%s=%s: %s", flag, v, why);
		if (d == 0)
			continue;
		if (d < NS_PER_MS)
			return builder_instr_error(
			    b, in, err, EINVAL, "--%s=%s: the duration must be 0 or at least 1ms",
			    flag, v);
		json_object_set_new(hc, healthcheck_fields[k], json_integer(d));
		cleanup_free char *text = builder_duration_string(d);
		strbuf_addf(by, " --%s=%s", flag, text);
	}
	cleanup_free char *t = json_dumps(test, JSON_COMPACT);
	strbuf_addf(by, " %s", t);
	json_object_set(cfg, "Healthcheck", hc);
	return 0;
}

/* The object field of the config (Labels, ExposedPorts, ...), created when missing;
 * borrowed. */
static json_t *config_object(json_t *cfg, const char *field)
{
	json_t *o = json_object_get(cfg, field);
	if (!json_is_object(o)) {
		o = json_object();
		json_object_set_new(cfg, field, o);
	}
	return o;
}

/* Applies a metadata instruction to the stage; fills the history text. */
static int apply_metadata(struct builder *b, struct stage *st, const struct recipe_instr *in,
			  struct strbuf *by, struct cairn_error *err)
{
	json_t *cfg = builder_runconfig(st);
	int r = 0;
	switch (in->kind) {
	case RECIPE_ENV: {
		if ((r = builder_check_flags(b, in, "", err)) < 0)
			return r;
		/* every value sees the environment from before the instruction */
		cleanup_strv char **env = builder_stage_env(st);
		cleanup_strv char **pairs = NULL;
		strbuf_addstr(by, "ENV");
		for (size_t i = 0; in->args[i] && in->args[i + 1]; i += 3) {
			char *name = NULL, *value = NULL;
			if ((r = builder_expand_word(b, in, st, in->args[i], &name, err)) < 0)
				return r;
			if ((r = builder_expand_word(b, in, st, in->args[i + 1], &value, err)) <
			    0) {
				free(name);
				return r;
			}
			if (!*name) {
				free(name);
				free(value);
				return builder_instr_error(b, in, err, EINVAL,
							   "empty variable name");
			}
			strbuf_addf(by, " %s=%s", name, value);
			strv_push_take(&pairs, name);
			strv_push_take(&pairs, value);
			if (!in->args[i + 2])
				break;
		}
		for (size_t i = 0; pairs && pairs[i]; i += 2)
			builder_env_set(&env, pairs[i], pairs[i + 1]);
		json_object_set_new(cfg, "Env", builder_strv_to_json(env));
		return 0;
	}
	case RECIPE_LABEL: {
		if ((r = builder_check_flags(b, in, "", err)) < 0)
			return r;
		json_t *labels = config_object(cfg, "Labels");
		strbuf_addstr(by, "LABEL");
		for (size_t i = 0; in->args[i] && in->args[i + 1]; i += 3) {
			cleanup_free char *name = NULL, *value = NULL;
			if ((r = builder_expand_word(b, in, st, in->args[i], &name, err)) < 0 ||
			    (r = builder_expand_word(b, in, st, in->args[i + 1], &value, err)) < 0)
				return r;
			if (!*name)
				return builder_instr_error(b, in, err, EINVAL, "empty label name");
			json_object_set_new(labels, name, json_string(value));
			strbuf_addf(by, " %s=%s", name, value);
			if (!in->args[i + 2])
				break;
		}
		return 0;
	}
	case RECIPE_MAINTAINER: {
		cleanup_free char *v = NULL;
		if ((r = builder_expand_word(b, in, st, in->args[0], &v, err)) < 0)
			return r;
		json_object_set_new(st->img.config, "author", json_string(v));
		strbuf_addf(by, "MAINTAINER %s", v);
		return 0;
	}
	case RECIPE_EXPOSE: {
		if ((r = builder_check_flags(b, in, "", err)) < 0)
			return r;
		json_t *ports = config_object(cfg, "ExposedPorts");
		strbuf_addstr(by, "EXPOSE");
		for (size_t i = 0; in->args[i]; i++) {
			cleanup_strv char **words = NULL;
			if ((r = builder_expand_words(b, in, st, in->args[i], &words, err)) < 0)
				return r;
			for (size_t j = 0; words[j]; j++) {
				cleanup_strv char **list = xcalloc(1, sizeof(char *));
				if (parse_ports(words[j], &list) < 0)
					return builder_instr_error(
					    b, in, err, EINVAL,
					    "invalid port \"%s\": expected "
					    "PORT, PORT-PORT or PORT/PROTOCOL "
					    "(tcp, udp, sctp)",
					    words[j]);
				for (size_t k = 0; list[k]; k++) {
					json_object_set_new(ports, list[k], json_object());
					strbuf_addf(by, " %s", list[k]);
				}
			}
		}
		return 0;
	}
	case RECIPE_VOLUME: {
		if ((r = builder_check_flags(b, in, "", err)) < 0)
			return r;
		json_t *vols = config_object(cfg, "Volumes");
		cleanup_strv char **all = NULL;
		for (size_t i = 0; in->args[i]; i++) {
			cleanup_strv char **words = NULL;
			if (in->json) {
				char *w = NULL;
				if ((r = builder_expand_word(b, in, st, in->args[i], &w, err)) < 0)
					return r;
				strv_push_take(&all, w);
				continue;
			}
			if ((r = builder_expand_words(b, in, st, in->args[i], &words, err)) < 0)
				return r;
			for (size_t j = 0; words[j]; j++)
				strv_push(&all, words[j]);
		}
		for (size_t i = 0; all && all[i]; i++) {
			if (!*all[i])
				return builder_instr_error(b, in, err, EINVAL,
							   "VOLUME path cannot be empty");
			json_object_set_new(vols, all[i], json_object());
		}
		cleanup_free char *j = builder_strv_json_text(all);
		strbuf_addf(by, "VOLUME %s", j);
		return 0;
	}
	case RECIPE_USER: {
		cleanup_free char *v = NULL;
		if ((r = builder_check_flags(b, in, "", err)) < 0 ||
		    (r = builder_expand_word(b, in, st, in->args[0], &v, err)) < 0)
			return r;
		json_object_set_new(cfg, "User", json_string(v));
		strbuf_addf(by, "USER %s", v);
		return 0;
	}
	case RECIPE_WORKDIR: {
		cleanup_free char *v = NULL;
		if ((r = builder_check_flags(b, in, "", err)) < 0 ||
		    (r = builder_expand_word(b, in, st, in->args[0], &v, err)) < 0)
			return r;
		if (!*v)
			return builder_instr_error(b, in, err, EINVAL, "WORKDIR cannot be empty");
		const char *cur = builder_config_str(st, "WorkingDir");
		cleanup_free char *joined =
		    v[0] == '/' ? xstrdup(v) : xasprintf("%s/%s", *cur ? cur : "/", v);
		cleanup_free char *clean = builder_clean_abs_path(joined);
		json_object_set_new(cfg, "WorkingDir", json_string(clean));
		strbuf_addf(by, "WORKDIR %s", clean);
		return 0;
	}
	case RECIPE_STOPSIGNAL: {
		cleanup_free char *v = NULL;
		if ((r = builder_check_flags(b, in, "", err)) < 0 ||
		    (r = builder_expand_word(b, in, st, in->args[0], &v, err)) < 0)
			return r;
		if (!signal_valid(v))
			return builder_instr_error(b, in, err, EINVAL, "invalid signal \"%s\"", v);
		json_object_set_new(cfg, "StopSignal", json_string(v));
		strbuf_addf(by, "STOPSIGNAL %s", v);
		return 0;
	}
	case RECIPE_CMD:
	case RECIPE_ENTRYPOINT: {
		if ((r = builder_check_flags(b, in, "", err)) < 0)
			return r;
		bool is_cmd = in->kind == RECIPE_CMD;
		cleanup_strv char **words = builder_command_words(st, in);
		json_object_set_new(cfg, is_cmd ? "Cmd" : "Entrypoint",
				    builder_strv_to_json(words));
		if (is_cmd)
			st->cmd_set = true;
		else if (!st->cmd_set)
			json_object_del(cfg, "Cmd"); /* an inherited CMD does not survive */
		cleanup_free char *j = builder_strv_json_text(words);
		strbuf_addf(by, "%s %s", is_cmd ? "CMD" : "ENTRYPOINT", j);
		return 0;
	}
	case RECIPE_SHELL: {
		if ((r = builder_check_flags(b, in, "", err)) < 0)
			return r;
		if (!in->json || !in->args || !in->args[0])
			return builder_instr_error(b, in, err, EINVAL,
						   "SHELL requires the arguments in JSON form, "
						   "e.g. SHELL [\"/bin/bash\", \"-c\"]");
		strv_free(st->shell);
		st->shell = strv_dup(in->args);
		json_object_set_new(cfg, "Shell", builder_strv_to_json(st->shell));
		cleanup_free char *j = builder_strv_json_text(st->shell);
		strbuf_addf(by, "SHELL %s", j);
		return 0;
	}
	case RECIPE_ARG: {
		if ((r = builder_check_flags(b, in, "", err)) < 0)
			return r;
		strbuf_addstr(by, "ARG");
		return builder_declare_args(b, in, st, &st->args, by, err);
	}
	case RECIPE_HEALTHCHECK:
		return apply_healthcheck(b, st, in, by, err);
	case RECIPE_ONBUILD:
		return builder_onbuild_add(b, st, in, by, err);
	default:
		return builder_instr_error(b, in, err, ENOTSUP, "not supported yet");
	}
}

int builder_exec_metadata(struct builder *b, struct stage *st, const struct recipe_instr *in,
			  struct cairn_error *err)
{
	cleanup_strbuf struct strbuf by = STRBUF_INIT;
	struct step sp = {.in = in, .t0 = util_now()};
	int r = apply_metadata(b, st, in, &by, err);
	if (r < 0)
		return r;
	sp.created_by = strbuf_detach(&by);
	builder_step_key(st->key, sp.created_by, sp.key);
	builder_cache_load(b, &sp);
	r = builder_step_commit(b, st, &sp, err);
	builder_step_release(&sp);
	return r;
}

/* WORKDIR sets the config and, as buildkit, creates the directory (owned by USER)
 * when the image lacks it; that makes a layer. */
int builder_exec_workdir(struct builder *b, struct stage *st, const struct recipe_instr *in,
			 struct cairn_error *err)
{
	cleanup_strbuf struct strbuf by = STRBUF_INIT;
	struct step sp = {.in = in, .t0 = util_now()};
	int r = apply_metadata(b, st, in, &by, err);
	if (r < 0)
		return r;
	sp.created_by = strbuf_detach(&by);
	const char *wd = builder_config_str(st, "WorkingDir");
	const char *user = builder_config_str(st, "User");
	cleanup_free char *desc = xasprintf("%s\nuser=%s\ncomp=%s", sp.created_by, user,
					    layer_compression_name(b->o->compression));
	builder_step_key(st->key, desc, sp.key);
	if (!builder_cache_load(b, &sp) && strcmp(wd, "/")) {
		struct rootfs rf = {0};
		uid_t uid = 0;
		gid_t gid = 0;
		r = builder_rootfs_mount(b, st, &rf, err);
		if (r == 0 && *user &&
		    (r = sandbox_resolve_user(rf.merged, user, &uid, &gid, err)) < 0)
			builder_instr_wrap(b, in, err);
		if (r == 0) {
			cleanup_close int root_fd =
			    open(rf.merged, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			r = root_fd < 0 ? cairn_error_errno(err, errno, "opening %s", rf.merged)
					: context_mkdir(root_fd, wd, uid, gid, err);
			if (r < 0)
				builder_instr_wrap(b, in, err);
		}
		r = builder_rootfs_finish(b, &rf, &sp, r, err);
	}
	if (r == 0)
		r = builder_step_commit(b, st, &sp, err);
	builder_step_release(&sp);
	return r;
}
