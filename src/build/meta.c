/* The metadata instructions (ENV, LABEL, EXPOSE, VOLUME, USER, WORKDIR, CMD,
 * ENTRYPOINT, SHELL, STOPSIGNAL, MAINTAINER, ARG): they change the config and add a
 * history entry; WORKDIR may also create its directory. */
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

/* Applies a metadata instruction to the stage; fills the history text. */
static int apply_metadata(struct builder *b, struct stage *st, const struct recipe_instr *in,
			  struct strbuf *by)
{
	json_t *cfg = build_runconfig(st);
	int r = 0;
	switch (in->kind) {
	case RECIPE_ENV: {
		if ((r = build_check_flags(b, in, "")) < 0)
			return r;
		/* every value sees the environment from before the instruction */
		cleanup_strv char **env = build_stage_env(st);
		cleanup_strv char **pairs = NULL;
		strbuf_addstr(by, "ENV");
		for (size_t i = 0; in->args[i] && in->args[i + 1]; i += 3) {
			char *name = NULL, *value = NULL;
			if ((r = build_expand_word(b, in, st, in->args[i], &name)) < 0)
				return r;
			if ((r = build_expand_word(b, in, st, in->args[i + 1], &value)) < 0) {
				free(name);
				return r;
			}
			if (!*name) {
				free(name);
				free(value);
				return build_instr_error(b, in, EINVAL, "empty variable name");
			}
			strbuf_addf(by, " %s=%s", name, value);
			strv_push_take(&pairs, name);
			strv_push_take(&pairs, value);
			if (!in->args[i + 2])
				break;
		}
		for (size_t i = 0; pairs && pairs[i]; i += 2)
			build_env_set(&env, pairs[i], pairs[i + 1]);
		json_object_set_new(cfg, "Env", build_strv_to_json(env));
		return 0;
	}
	case RECIPE_LABEL: {
		if ((r = build_check_flags(b, in, "")) < 0)
			return r;
		json_t *labels = json_object_get(cfg, "Labels");
		if (!json_is_object(labels)) {
			labels = json_object();
			json_object_set_new(cfg, "Labels", labels);
		}
		strbuf_addstr(by, "LABEL");
		for (size_t i = 0; in->args[i] && in->args[i + 1]; i += 3) {
			cleanup_free char *name = NULL, *value = NULL;
			if ((r = build_expand_word(b, in, st, in->args[i], &name)) < 0 ||
			    (r = build_expand_word(b, in, st, in->args[i + 1], &value)) < 0)
				return r;
			if (!*name)
				return build_instr_error(b, in, EINVAL, "empty label name");
			json_object_set_new(labels, name, json_string(value));
			strbuf_addf(by, " %s=%s", name, value);
			if (!in->args[i + 2])
				break;
		}
		return 0;
	}
	case RECIPE_MAINTAINER: {
		cleanup_free char *v = NULL;
		if ((r = build_expand_word(b, in, st, in->args[0], &v)) < 0)
			return r;
		json_object_set_new(st->img.config, "author", json_string(v));
		strbuf_addf(by, "MAINTAINER %s", v);
		return 0;
	}
	case RECIPE_EXPOSE: {
		if ((r = build_check_flags(b, in, "")) < 0)
			return r;
		json_t *ports = json_object_get(cfg, "ExposedPorts");
		if (!json_is_object(ports)) {
			ports = json_object();
			json_object_set_new(cfg, "ExposedPorts", ports);
		}
		strbuf_addstr(by, "EXPOSE");
		for (size_t i = 0; in->args[i]; i++) {
			cleanup_strv char **words = NULL;
			if ((r = build_expand_words(b, in, st, in->args[i], &words)) < 0)
				return r;
			for (size_t j = 0; words[j]; j++) {
				cleanup_strv char **list = xcalloc(1, sizeof(char *));
				if (parse_ports(words[j], &list) < 0)
					return build_instr_error(b, in, EINVAL,
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
		if ((r = build_check_flags(b, in, "")) < 0)
			return r;
		json_t *vols = json_object_get(cfg, "Volumes");
		if (!json_is_object(vols)) {
			vols = json_object();
			json_object_set_new(cfg, "Volumes", vols);
		}
		cleanup_strv char **all = NULL;
		for (size_t i = 0; in->args[i]; i++) {
			cleanup_strv char **words = NULL;
			if (in->json) {
				char *w = NULL;
				if ((r = build_expand_word(b, in, st, in->args[i], &w)) < 0)
					return r;
				strv_push_take(&all, w);
				continue;
			}
			if ((r = build_expand_words(b, in, st, in->args[i], &words)) < 0)
				return r;
			for (size_t j = 0; words[j]; j++)
				strv_push(&all, words[j]);
		}
		for (size_t i = 0; all && all[i]; i++) {
			if (!*all[i])
				return build_instr_error(b, in, EINVAL,
							 "VOLUME path cannot be empty");
			json_object_set_new(vols, all[i], json_object());
		}
		cleanup_free char *j = build_strv_json_text(all);
		strbuf_addf(by, "VOLUME %s", j);
		return 0;
	}
	case RECIPE_USER: {
		cleanup_free char *v = NULL;
		if ((r = build_check_flags(b, in, "")) < 0 ||
		    (r = build_expand_word(b, in, st, in->args[0], &v)) < 0)
			return r;
		json_object_set_new(cfg, "User", json_string(v));
		strbuf_addf(by, "USER %s", v);
		return 0;
	}
	case RECIPE_WORKDIR: {
		cleanup_free char *v = NULL;
		if ((r = build_check_flags(b, in, "")) < 0 ||
		    (r = build_expand_word(b, in, st, in->args[0], &v)) < 0)
			return r;
		if (!*v)
			return build_instr_error(b, in, EINVAL, "WORKDIR cannot be empty");
		const char *cur = build_config_str(st, "WorkingDir");
		cleanup_free char *joined =
		    v[0] == '/' ? xstrdup(v) : xasprintf("%s/%s", *cur ? cur : "/", v);
		cleanup_free char *clean = build_clean_abs_path(joined);
		json_object_set_new(cfg, "WorkingDir", json_string(clean));
		strbuf_addf(by, "WORKDIR %s", clean);
		return 0;
	}
	case RECIPE_STOPSIGNAL: {
		cleanup_free char *v = NULL;
		if ((r = build_check_flags(b, in, "")) < 0 ||
		    (r = build_expand_word(b, in, st, in->args[0], &v)) < 0)
			return r;
		if (!signal_valid(v))
			return build_instr_error(b, in, EINVAL, "invalid signal \"%s\"", v);
		json_object_set_new(cfg, "StopSignal", json_string(v));
		strbuf_addf(by, "STOPSIGNAL %s", v);
		return 0;
	}
	case RECIPE_CMD:
	case RECIPE_ENTRYPOINT: {
		if ((r = build_check_flags(b, in, "")) < 0)
			return r;
		bool is_cmd = in->kind == RECIPE_CMD;
		cleanup_strv char **words = build_command_words(st, in);
		json_object_set_new(cfg, is_cmd ? "Cmd" : "Entrypoint", build_strv_to_json(words));
		if (is_cmd)
			st->cmd_set = true;
		else if (!st->cmd_set)
			json_object_del(cfg, "Cmd"); /* an inherited CMD does not survive */
		cleanup_free char *j = build_strv_json_text(words);
		strbuf_addf(by, "%s %s", is_cmd ? "CMD" : "ENTRYPOINT", j);
		return 0;
	}
	case RECIPE_SHELL: {
		if ((r = build_check_flags(b, in, "")) < 0)
			return r;
		if (!in->json || !in->args || !in->args[0])
			return build_instr_error(b, in, EINVAL,
						 "SHELL requires the arguments in JSON form, "
						 "e.g. SHELL [\"/bin/bash\", \"-c\"]");
		strv_free(st->shell);
		st->shell = strv_dup(in->args);
		json_object_set_new(cfg, "Shell", build_strv_to_json(st->shell));
		cleanup_free char *j = build_strv_json_text(st->shell);
		strbuf_addf(by, "SHELL %s", j);
		return 0;
	}
	case RECIPE_ARG: {
		if ((r = build_check_flags(b, in, "")) < 0)
			return r;
		strbuf_addstr(by, "ARG");
		return build_declare_args(b, in, st, &st->args, by);
	}
	default:
		return build_instr_error(b, in, ENOTSUP, "not supported yet");
	}
}

int build_exec_metadata(struct builder *b, struct stage *st, const struct recipe_instr *in)
{
	cleanup_strbuf struct strbuf by = STRBUF_INIT;
	struct step sp = {.in = in, .t0 = util_now()};
	int r = apply_metadata(b, st, in, &by);
	if (r < 0)
		return r;
	sp.created_by = strbuf_detach(&by);
	build_step_key(st->key, sp.created_by, sp.key);
	build_cache_load(b, &sp);
	r = build_step_commit(b, st, &sp);
	build_step_release(&sp);
	return r;
}

/* WORKDIR sets the config and, as buildkit, creates the directory (owned by USER)
 * when the image lacks it; that makes a layer. */
int build_exec_workdir(struct builder *b, struct stage *st, const struct recipe_instr *in)
{
	cleanup_strbuf struct strbuf by = STRBUF_INIT;
	struct step sp = {.in = in, .t0 = util_now()};
	int r = apply_metadata(b, st, in, &by);
	if (r < 0)
		return r;
	sp.created_by = strbuf_detach(&by);
	const char *wd = build_config_str(st, "WorkingDir");
	const char *user = build_config_str(st, "User");
	cleanup_free char *desc = xasprintf("%s\nuser=%s\ncomp=%s", sp.created_by, user,
					    layer_compression_name(b->o->compression));
	build_step_key(st->key, desc, sp.key);
	if (!build_cache_load(b, &sp) && strcmp(wd, "/")) {
		struct rootfs rf = {0};
		uid_t uid = 0;
		gid_t gid = 0;
		r = build_rootfs_mount(b, st, &rf);
		if (r == 0 && *user &&
		    (r = sandbox_resolve_user(rf.merged, user, &uid, &gid, b->err)) < 0)
			build_instr_wrap(b, in);
		if (r == 0) {
			cleanup_close int root_fd =
			    open(rf.merged, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			r = root_fd < 0 ? cairn_error_errno(b->err, errno, "opening %s", rf.merged)
					: context_mkdir(root_fd, wd, uid, gid, b->err);
			if (r < 0)
				build_instr_wrap(b, in);
		}
		if (r == 0)
			r = build_rootfs_umount(b, &rf);
		if (r == 0)
			r = build_rootfs_commit_layer(b, &rf, &sp);
		build_rootfs_release(&rf);
	}
	if (r == 0)
		r = build_step_commit(b, st, &sp);
	build_step_release(&sp);
	return r;
}
