/* The metadata instructions (ENV, LABEL, EXPOSE, VOLUME, USER, WORKDIR, CMD,
 * ENTRYPOINT, SHELL, STOPSIGNAL, MAINTAINER, ARG, HEALTHCHECK, ONBUILD): each applies
 * its typed form to the config and says its history text; the step's key is the
 * parent's moved on by that text. WORKDIR may also create its directory. */
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

/* ---- history text as BuildKit writes it ---- */

/* words as Go prints a []string with %v: "[a b c]". */
static void add_go_list(struct strbuf *by, char *const *words)
{
	strbuf_addch(by, '[');
	for (size_t i = 0; words && words[i]; i++)
		strbuf_addf(by, "%s%s", i ? " " : "", words[i]);
	strbuf_addch(by, ']');
}

/* words as Go prints a []string with %q: "[\"a\" \"b c\"]", each quoted as Go's
 * strconv.Quote does (printable UTF-8 kept, the rest escaped). */
static void add_go_quoted_list(struct strbuf *by, char *const *words)
{
	static const char esc[] = "\a\b\t\n\v\f\r";
	strbuf_addch(by, '[');
	for (size_t i = 0; words && words[i]; i++) {
		strbuf_addstr(by, i ? " \"" : "\"");
		for (const unsigned char *p = (const unsigned char *)words[i]; *p; p++) {
			if (*p == '"' || *p == '\\')
				strbuf_addf(by, "\\%c", *p);
			else if (*p >= '\a' && *p <= '\r')
				strbuf_addf(by, "\\%c", esc[2 * (*p - '\a') + 1]);
			else if (*p < 0x20 || *p == 0x7f)
				strbuf_addf(by, "\\x%02x", *p);
			else
				strbuf_addch(by, (char)*p);
		}
		strbuf_addch(by, '"');
	}
	strbuf_addch(by, ']');
}

/* ---- HEALTHCHECK ---- */

static const char *const healthcheck_fields[] = {"Interval", "Timeout", "StartPeriod",
						 "StartInterval", "Retries"};

/* The config's Healthcheck as docker writes it (durations in nanoseconds, zero fields
 * left out). The history text is BuildKit's: the Healthcheck as Go prints the struct
 * with %+v, "HEALTHCHECK {Test:[CMD-SHELL curl x] Interval:5s Timeout:0s
 * StartPeriod:0s StartInterval:0s Retries:0}" (Test [NONE] for HEALTHCHECK NONE). */
int builder_apply_healthcheck(struct builder *b, struct stage *st, const struct builder_instr *in,
			      struct strbuf *by, struct cairn_error *err)
{
	const struct builder_healthcheck *h = &in->healthcheck;
	json_t *cfg = builder_runconfig(st);
	if (h->none) {
		json_object_set_new(cfg, "Healthcheck", json_pack("{s:[s]}", "Test", "NONE"));
		strbuf_addstr(by, "HEALTHCHECK {Test:[NONE] Interval:0s Timeout:0s StartPeriod:0s "
				  "StartInterval:0s Retries:0}");
		return 0;
	}
	cleanup_json json_t *hc = json_object();
	json_t *test = json_array();
	json_object_set_new(hc, "Test", test);
	json_array_append_new(test, json_string(in->syn->json ? "CMD" : "CMD-SHELL"));
	for (size_t i = 0; h->test[i]; i++)
		json_array_append_new(test, json_string(h->test[i]));
	cleanup_strv char **words = util_json_to_strv(test);
	strbuf_addstr(by, "HEALTHCHECK {Test:");
	add_go_list(by, words);
	for (int k = 0; k < BUILDER_HEALTHCHECK_VALUES; k++) {
		if (h->value[k])
			json_object_set_new(hc, healthcheck_fields[k], json_integer(h->value[k]));
		if (k == BUILDER_HEALTHCHECK_RETRIES) {
			strbuf_addf(by, " %s:%lld}", healthcheck_fields[k], (long long)h->value[k]);
			continue;
		}
		cleanup_free char *text = builder_duration_string(h->value[k]);
		strbuf_addf(by, " %s:%s", healthcheck_fields[k], text);
	}
	json_object_set(cfg, "Healthcheck", hc);
	return 0;
}

/* ---- the others ---- */

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

/* An ENV or LABEL pair expanded; an empty name is refused (what says which). */
static int expand_pair(struct builder *b, struct stage *st, const struct builder_instr *in,
		       const struct builder_pair *p, const char *what, char **name, char **value,
		       struct cairn_error *err)
{
	int r;
	if ((r = builder_expand_word(b, in->syn, st, p->name, name, err)) < 0 ||
	    (r = builder_expand_word(b, in->syn, st, p->value, value, err)) < 0)
		return r;
	if (!**name)
		return builder_instr_error(b, in->syn, err, EINVAL, "empty %s name", what);
	return 0;
}

int builder_apply_env(struct builder *b, struct stage *st, const struct builder_instr *in,
		      struct strbuf *by, struct cairn_error *err)
{
	/* every value sees the environment from before the instruction */
	cleanup_strv char **env = builder_stage_env(st);
	cleanup_strv char **pairs = NULL;
	strbuf_addstr(by, "ENV");
	for (size_t i = 0; i < in->pairs.n; i++) {
		cleanup_free char *name = NULL, *value = NULL;
		int r = expand_pair(b, st, in, &in->pairs.v[i], "variable", &name, &value, err);
		if (r < 0)
			return r;
		strbuf_addf(by, " %s=%s", name, value);
		strv_push_take(&pairs, steal_pointer(&name));
		strv_push_take(&pairs, steal_pointer(&value));
	}
	for (size_t i = 0; pairs && pairs[i]; i += 2)
		builder_env_set(&env, pairs[i], pairs[i + 1]);
	json_object_set_new(builder_runconfig(st), "Env", util_strv_to_json(env));
	return 0;
}

int builder_apply_label(struct builder *b, struct stage *st, const struct builder_instr *in,
			struct strbuf *by, struct cairn_error *err)
{
	json_t *labels = config_object(builder_runconfig(st), "Labels");
	strbuf_addstr(by, "LABEL");
	for (size_t i = 0; i < in->pairs.n; i++) {
		cleanup_free char *name = NULL, *value = NULL;
		int r = expand_pair(b, st, in, &in->pairs.v[i], "label", &name, &value, err);
		if (r < 0)
			return r;
		json_object_set_new(labels, name, json_string(value));
		strbuf_addf(by, " %s=%s", name, value);
	}
	return 0;
}

/* Sets field of obj to the instruction's word, expanded (refused when valid, if given,
 * says no: STOPSIGNAL's check of a signal); its history text is "KEYWORD VALUE". */
static int set_word(struct builder *b, struct stage *st, const struct builder_instr *in,
		    json_t *obj, const char *field, bool (*valid)(const char *), struct strbuf *by,
		    struct cairn_error *err)
{
	cleanup_free char *v = NULL;
	int r = builder_expand_word(b, in->syn, st, in->word, &v, err);
	if (r < 0)
		return r;
	if (valid && !valid(v))
		return builder_instr_error(b, in->syn, err, EINVAL, "invalid signal \"%s\"", v);
	json_object_set_new(obj, field, json_string(v));
	strbuf_addf(by, "%s %s", recipe_kind_name(in->syn->kind), v);
	return 0;
}

int builder_apply_maintainer(struct builder *b, struct stage *st, const struct builder_instr *in,
			     struct strbuf *by, struct cairn_error *err)
{
	return set_word(b, st, in, st->img.config, "author", NULL, by, err);
}
int builder_apply_expose(struct builder *b, struct stage *st, const struct builder_instr *in,
			 struct strbuf *by, struct cairn_error *err)
{
	json_t *ports = config_object(builder_runconfig(st), "ExposedPorts");
	/* BuildKit sorts the words as written, before they are expanded, and its history
	 * text is the ports as Go prints a list: "EXPOSE [1234/udp 80/tcp]" */
	size_t n = 0;
	while (in->words[n])
		n++;
	cleanup_free char **sorted = xcalloc(n + 1, sizeof *sorted);
	memcpy(sorted, in->words, n * sizeof *sorted);
	strv_sort(sorted);
	cleanup_strv char **all = xcalloc(1, sizeof(char *));
	for (size_t i = 0; sorted[i]; i++) {
		cleanup_strv char **words = NULL;
		int r = builder_expand_words(b, in->syn, st, sorted[i], &words, err);
		if (r < 0)
			return r;
		for (size_t j = 0; words[j]; j++) {
			cleanup_strv char **list = xcalloc(1, sizeof(char *));
			if (parse_ports(words[j], &list) < 0)
				return builder_instr_error(b, in->syn, err, EINVAL,
							   "invalid port \"%s\": expected "
							   "PORT, PORT-PORT or PORT/PROTOCOL "
							   "(tcp, udp, sctp)",
							   words[j]);
			for (size_t k = 0; list[k]; k++) {
				json_object_set_new(ports, list[k], json_object());
				strv_push(&all, list[k]);
			}
		}
	}
	strbuf_addstr(by, "EXPOSE ");
	add_go_list(by, all);
	return 0;
}

int builder_apply_volume(struct builder *b, struct stage *st, const struct builder_instr *in,
			 struct strbuf *by, struct cairn_error *err)
{
	json_t *vols = config_object(builder_runconfig(st), "Volumes");
	cleanup_strv char **all = NULL;
	for (size_t i = 0; in->words[i]; i++) {
		cleanup_strv char **words = NULL;
		int r;
		if (in->syn->json) {
			char *w = NULL;
			if ((r = builder_expand_word(b, in->syn, st, in->words[i], &w, err)) < 0)
				return r;
			strv_push_take(&all, w);
			continue;
		}
		if ((r = builder_expand_words(b, in->syn, st, in->words[i], &words, err)) < 0)
			return r;
		for (size_t j = 0; words[j]; j++)
			strv_push(&all, words[j]);
	}
	for (size_t i = 0; all && all[i]; i++) {
		if (!*all[i])
			return builder_instr_error(b, in->syn, err, EINVAL,
						   "VOLUME path cannot be empty");
		json_object_set_new(vols, all[i], json_object());
	}
	strbuf_addstr(by, "VOLUME ");
	add_go_list(by, all);
	return 0;
}

int builder_apply_user(struct builder *b, struct stage *st, const struct builder_instr *in,
		       struct strbuf *by, struct cairn_error *err)
{
	return set_word(b, st, in, builder_runconfig(st), "User", NULL, by, err);
}

int builder_apply_workdir(struct builder *b, struct stage *st, const struct builder_instr *in,
			  struct strbuf *by, struct cairn_error *err)
{
	cleanup_free char *v = NULL;
	int r = builder_expand_word(b, in->syn, st, in->word, &v, err);
	if (r < 0)
		return r;
	if (!*v)
		return builder_instr_error(b, in->syn, err, EINVAL, "WORKDIR cannot be empty");
	cleanup_free char *clean = builder_path_under(builder_stage_workdir(st), v);
	json_object_set_new(builder_runconfig(st), "WorkingDir", json_string(clean));
	strbuf_addf(by, "WORKDIR %s", clean);
	return 0;
}

int builder_apply_stopsignal(struct builder *b, struct stage *st, const struct builder_instr *in,
			     struct strbuf *by, struct cairn_error *err)
{
	return set_word(b, st, in, builder_runconfig(st), "StopSignal", signal_valid, by, err);
}

/* CMD and ENTRYPOINT. */
int builder_apply_command(struct builder *b, struct stage *st, const struct builder_instr *in,
			  struct strbuf *by, struct cairn_error *err)
{
	json_t *cfg = builder_runconfig(st);
	bool is_cmd = in->syn->kind == RECIPE_CMD;
	cleanup_strv char **words = builder_command_words(st, in->syn);
	json_object_set_new(cfg, is_cmd ? "Cmd" : "Entrypoint", util_strv_to_json(words));
	if (is_cmd)
		st->cmd_set = true;
	else if (!st->cmd_set)
		json_object_del(cfg, "Cmd"); /* an inherited CMD does not survive */
	strbuf_addstr(by, is_cmd ? "CMD " : "ENTRYPOINT ");
	add_go_quoted_list(by, words);
	return 0;
}

int builder_apply_shell(struct builder *b, struct stage *st, const struct builder_instr *in,
			struct strbuf *by, struct cairn_error *err)
{
	strv_free(st->shell);
	st->shell = strv_dup((char **)in->words);
	json_object_set_new(builder_runconfig(st), "Shell", util_strv_to_json(st->shell));
	strbuf_addstr(by, "SHELL ");
	add_go_list(by, st->shell);
	return 0;
}

int builder_apply_arg(struct builder *b, struct stage *st, const struct builder_instr *in,
		      struct strbuf *by, struct cairn_error *err)
{
	strbuf_addstr(by, "ARG");
	return builder_declare_args(b, in, st, &st->args, by, err);
}

int builder_metadata_prepare(struct builder *b, struct stage *st, const struct builder_instr *in,
			     struct step *sp, struct cairn_error *err)
{
	cleanup_strbuf struct strbuf by = STRBUF_INIT;
	*sp = (struct step){.in = in->syn, .t0 = util_now()};
	int r = in->def->apply(b, st, in, &by, err);
	if (r < 0)
		return r;
	sp->created_by = strbuf_detach(&by);
	sp->no_history = in->syn->kind == RECIPE_ONBUILD;
	builder_step_key(st->key, sp->created_by, sp->key);
	return 0;
}

int builder_exec_metadata(struct builder *b, struct stage *st, const struct builder_instr *in,
			  struct cairn_error *err)
{
	struct step sp;
	int r = builder_metadata_prepare(b, st, in, &sp, err);
	if (r == 0) {
		builder_cache_load(b, &sp);
		r = builder_step_commit(b, st, &sp, err);
	}
	builder_step_release(&sp);
	return r;
}

/* WORKDIR sets the config and, as buildkit, creates the directory (owned by USER)
 * when the image lacks it; that makes a layer. */
int builder_exec_workdir(struct builder *b, struct stage *st, const struct builder_instr *in,
			 struct cairn_error *err)
{
	cleanup_strbuf struct strbuf by = STRBUF_INIT;
	struct step sp = {.in = in->syn, .t0 = util_now()};
	int r = builder_apply_workdir(b, st, in, &by, err);
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
			builder_instr_wrap(b, in->syn, err);
		if (r == 0) {
			cleanup_close int root_fd =
			    open(rf.merged, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			r = root_fd < 0 ? cairn_error_errno(err, errno, "opening %s", rf.merged)
					: context_mkdir(root_fd, wd, uid, gid, err);
			if (r < 0)
				builder_instr_wrap(b, in->syn, err);
		}
		r = builder_rootfs_finish(b, &rf, &sp, r, err);
	}
	if (r == 0)
		r = builder_step_commit(b, st, &sp, err);
	builder_step_release(&sp);
	return r;
}
