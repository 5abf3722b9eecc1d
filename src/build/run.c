/* RUN: a step in the namespace sandbox on an overlay of the image so far. */
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

/* ---- RUN ---- */

/* The environment a RUN step sees: the image's ENV, then the declared ARGs. */
static char **run_env(struct stage *st)
{
	char **env = build_stage_env(st);
	for (size_t i = 0; st->args && st->args[i]; i++) {
		const char *eq = strchr(st->args[i], '=');
		if (!eq)
			continue;
		cleanup_free char *name = xstrndup(st->args[i], (size_t)(eq - st->args[i]));
		if (!build_env_has(env, name))
			strv_push(&env, st->args[i]);
	}
	return env;
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

int build_exec_run(struct builder *b, struct stage *st, const struct recipe_instr *in)
{
	int r = build_check_flags(b, in, "network");
	if (r < 0)
		return r;
	if (in->n_heredocs)
		return build_instr_error(b, in, ENOTSUP, "heredocs are not supported yet");
	enum sandbox_network net = b->o->network;
	const char *nflag = build_flag_value(in, "network");
	if (nflag) {
		if (!strcmp(nflag, "none"))
			net = SANDBOX_NET_NONE;
		else if (!strcmp(nflag, "host"))
			net = SANDBOX_NET_HOST;
		else if (strcmp(nflag, "default"))
			return build_instr_error(
			    b, in, EINVAL, "--network=%s: expected none, host or default", nflag);
	}
	if (net == SANDBOX_NET_HOST && b->o->network != SANDBOX_NET_HOST)
		return build_instr_error(b, in, EPERM,
					 "RUN --network=host needs `cairn build --network host`");
	cleanup_strv char **argv = build_command_words(st, in);
	cleanup_strv char **env = run_env(st);
	const char *user = build_config_str(st, "User");
	const char *cwd =
	    *build_config_str(st, "WorkingDir") ? build_config_str(st, "WorkingDir") : "/";

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
		      build_strv_to_json(argv), "env", build_strv_to_json(env), "user", user, "cwd",
		      cwd, "net", net == SANDBOX_NET_HOST ? "host" : "none", "comp",
		      layer_compression_name(b->o->compression));
	cleanup_free char *desc_text = util_json_canonical(desc);
	struct step sp = {.in = in, .t0 = util_now()};
	sp.created_by = strbuf_detach(&by);
	build_step_key(st->key, desc_text, sp.key);
	if (build_cache_load(b, &sp)) {
		r = build_step_commit(b, st, &sp);
		build_step_release(&sp);
		return r;
	}

	cleanup_free char *title = build_instr_title(in);
	build_progress(b, "[%zu/%zu] %s\n", b->step, b->recipe->n_instrs, title);
	struct rootfs rf = {0};
	r = build_rootfs_mount(b, st, &rf);
	int status = 0;
	/* with -q the step's output is kept aside and shown only when it fails */
	cleanup_close int quiet_out = -1;
	if (r == 0 && !b->o->progress) {
		cleanup_free char *dir = xasprintf("%s/cairn/tmp", store_root(b->s));
		quiet_out = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	}
	if (r == 0) {
		int out = b->o->progress ? fileno(b->o->progress) : quiet_out;
		struct sandbox_spec spec = {
		    .rootfs = rf.merged,
		    .argv = argv,
		    .env = env,
		    .cwd = cwd,
		    .user = user,
		    .hostname = "cairn",
		    .network = net,
		    .stdout_fd = out,
		    .stderr_fd = out,
		};
		r = sandbox_run(&spec, &status, b->err);
		if (r < 0)
			build_instr_wrap(b, in);
	}
	if (r == 0 && status != 0) {
		cleanup_free char *tail = output_tail(quiet_out);
		r = cairn_error_set(b->err, ECANCELED,
				    "%s:%d: step %zu/%zu `%s` failed: exit status %d%s%s",
				    b->recipe_name, in->line, b->step, b->recipe->n_instrs, title,
				    status, *tail ? "; its output ended with:\n" : "", tail);
	}
	if (r == 0)
		r = build_rootfs_umount(b, &rf);
	if (r == 0)
		r = build_rootfs_commit_layer(b, &rf, &sp);
	build_rootfs_release(&rf);
	if (r == 0)
		r = build_step_commit(b, st, &sp);
	build_step_release(&sp);
	return r;
}
