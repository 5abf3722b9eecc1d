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

void builder_proxy_env(struct builder *b, char *const *declared, char ***vars)
{
	/* builder_proxy_args pairs each upper-case name with its lower-case one; a value
	 * given under either sets both, as BuildKit's proxy settings do (the upper-case
	 * one wins when both are given) */
	for (size_t i = 0; builder_proxy_args[i] && builder_proxy_args[i + 1]; i += 2) {
		const char *v = builder_env_get(b->build_args, builder_proxy_args[i]);
		if (!v)
			v = builder_env_get(b->build_args, builder_proxy_args[i + 1]);
		for (size_t j = i; v && j < i + 2; j++) {
			const char *name = builder_proxy_args[j];
			if (!builder_env_has(declared, name) && !builder_env_has(*vars, name))
				builder_env_set(vars, name, v);
		}
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

/* ---- RUN ---- */

void builder_run_step_release(struct run_step *rs)
{
	strv_free(rs->argv);
	strv_free(rs->env);
	free(rs->script);
	free(rs->script_path);
	builder_run_plan_release(&rs->plan);
	builder_step_release(&rs->sp);
	memset(rs, 0, sizeof *rs);
}

/* The history text: the build args in scope, then the command, as BuildKit writes
 * it. BuildKit lists every ARG of the stage, "NAME=" for one without a value; the key
 * (with_unset false) leaves those out, since the step does not see them. */
static char *run_history(struct stage *st, char *const *argv, bool with_unset)
{
	struct strbuf by = STRBUF_INIT;
	strbuf_addstr(&by, "RUN ");
	size_t nargs = 0;
	for (size_t i = 0; st->args && st->args[i]; i++)
		nargs += with_unset || strchr(st->args[i], '=');
	if (nargs) {
		strbuf_addf(&by, "|%zu ", nargs);
		for (size_t i = 0; st->args[i]; i++)
			if (strchr(st->args[i], '='))
				strbuf_addf(&by, "%s ", st->args[i]);
			else if (with_unset)
				strbuf_addf(&by, "%s= ", st->args[i]);
	}
	for (size_t i = 0; argv[i]; i++)
		strbuf_addf(&by, "%s%s", i ? " " : "", argv[i]);
	strbuf_addstr(&by, " # buildkit");
	return strbuf_detach(&by);
}

/* A step's network in its key: "host" when it shares the host's network because it
 * or the build asked for it; a build that named none keys its steps as private even
 * where it got the container's network instead (no /dev/net/tun), so that runners in
 * containers and on VMs share one cache. */
static const char *run_net_key(struct builder *b, const struct builder_instr *in,
			       enum sandbox_network net)
{
	bool asked = in->run.network_set || !b->o->network_defaulted;
	return net == SANDBOX_NET_HOST && asked ? "host" : "none";
}

/* Item 16 of issue 14: a step that failed without a network may have failed for
 * want of one; the error says so, and which flag took it away. */
static const char *run_no_network_note(struct builder *b, const struct builder_instr *in,
				       enum sandbox_network net)
{
	if (net != SANDBOX_NET_NONE || sandbox_caps()->isolation == SANDBOX_ISOLATION_CHROOT)
		return "";
	if (in->run.network_set)
		return " (the step ran without a network: RUN --network=none)";
	if (b->o->network_defaulted)
		return " (the step ran without a network: this system keeps /dev/net/tun from "
		       "cairn)";
	return " (the step ran without a network: --network none)";
}

int builder_run_prepare(struct builder *b, struct stage *st, const struct builder_instr *in,
			struct run_step *rs, struct cairn_error *err)
{
	memset(rs, 0, sizeof *rs);
	/* as buildkit: none (and private) a step may always ask for; the host's network,
	 * loopback services included, only when the build gives it */
	rs->net = in->run.network_set ? in->run.network : b->o->network;
	if (rs->net == SANDBOX_NET_HOST && b->o->network != SANDBOX_NET_HOST &&
	    !b->o->allow_network_host)
		return builder_instr_error(b, in->syn, err, EPERM,
					   "RUN --network=host needs `cairn build --allow "
					   "network.host` (or --network host)");
	if (in->run.insecure && !b->o->allow_insecure)
		return builder_instr_error(
		    b, in->syn, err, EPERM,
		    "RUN --security=insecure needs `cairn build --allow security.insecure`");
	rs->argv = in->syn->n_heredocs
		       ? builder_heredoc_words(st, in->syn, &rs->script, &rs->script_path)
		       : builder_command_words(st, in->syn);
	rs->env = run_env(st);
	rs->user = builder_config_str(st, "User");
	rs->cwd = builder_stage_workdir(st);
	int r = builder_run_plan_parse(b, st, in, rs->cwd, &rs->plan, err);
	cleanup_json json_t *mounts = NULL;
	if (r == 0)
		r = builder_run_plan_key(b, st, in, &rs->plan, &mounts, err);
	if (r < 0)
		return r;

	rs->sp = (struct step){.in = in->syn, .t0 = util_now()};
	rs->sp.created_by = run_history(st, rs->argv, true);
	cleanup_free char *key_text = run_history(st, rs->argv, false);
	/* "net" says whether the step shares the host's network (and so its loopback):
	 * none and private, a namespace of the step's own, key alike, so that private
	 * becoming the default moved no key. What a step fetches is not in its key. */
	cleanup_json json_t *desc =
	    json_pack("{s:s, s:o, s:o, s:s, s:s, s:s, s:s}", "run", key_text, "argv",
		      util_strv_to_json(rs->argv), "env", util_strv_to_json(rs->env), "user",
		      rs->user, "cwd", rs->cwd, "net", run_net_key(b, in, rs->net), "comp",
		      layer_compression_name(b->o->compression));
	/* only when present, so the keys of plain steps stay what they were */
	if (json_array_size(mounts))
		json_object_set(desc, "mounts", mounts);
	if (rs->script)
		json_object_set_new(desc, "script", json_string(rs->script));
	if (b->o->hostname && !b->o->hostname_varied)
		json_object_set_new(desc, "hostname", json_string(b->o->hostname));
	/* as buildkit's op: extra hosts are part of the step */
	if (b->o->add_hosts && b->o->add_hosts[0])
		json_object_set_new(desc, "add_hosts", util_strv_to_json(b->o->add_hosts));
	/* as buildkit's op: an insecure step is another step */
	if (in->run.insecure)
		json_object_set_new(desc, "security", json_string("insecure"));
	cleanup_free char *desc_text = util_json_canonical(desc);
	builder_step_key(st->key, desc_text, rs->sp.key);
	return 0;
}

/* The failed step's state as an image: the stage's image plus its upper dir as one
 * more layer (history: the instruction), in the store untagged. */
static int failed_image(struct builder *b, struct stage *st, const struct builder_instr *in,
			const struct rootfs *rf, char digest[DIGEST_LEN], struct cairn_error *err)
{
	if (!rf->upper || !rf->mounted)
		return cairn_error_set(err, ENOTSUP,
				       "the step's root is not an overlay here, so what it changed "
				       "cannot be kept");
	cleanup_close int dfd = open(rf->upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return cairn_error_errno(err, errno, "opening %s", rf->upper);
	struct layer_write_opts wo = {
	    .compression = b->o->compression, .source_date_epoch = -1, .overlay_upper = true};
	struct layer_info info;
	int r = layer_write_dir(b->s, dfd, &wo, &info, err);
	if (r < 0)
		return r;
	cleanup_oci_image struct oci_image img = {0};
	oci_image_copy(&img, &st->img);
	struct oci_layer l = {.size = info.size, .media_type = (char *)info.media_type};
	memcpy(l.digest, info.digest, DIGEST_LEN);
	memcpy(l.diff_id, info.diff_id, DIGEST_LEN);
	oci_image_add_layer(&img, &l);
	cleanup_free char *title = builder_instr_title(in->syn);
	cleanup_free char *now = util_rfc3339((int64_t)time(NULL));
	cleanup_free char *by = xasprintf("%s # failed", title);
	oci_image_add_history(&img, now, by, false);
	int64_t size = 0;
	if ((r = oci_image_write(b->s, &img, &size, err)) < 0)
		return r;
	memcpy(digest, img.digest, DIGEST_LEN);
	return 0;
}

/* Hands the failed step to the build's on_error, its root still mounted. */
static void step_failed(struct builder *b, struct stage *st, const struct builder_instr *in,
			const struct sandbox_spec *spec, const struct rootfs *rf, int status)
{
	cleanup_free char *title = builder_instr_title(in->syn);
	cleanup_free char *where = xasprintf("%s:%d", b->recipe_name, in->syn->line);
	char digest[DIGEST_LEN] = "";
	struct cairn_error e = CAIRN_ERROR_INIT;
	bool image = b->o->on_error_image && failed_image(b, st, in, rf, digest, &e) == 0;
	struct builder_failed_step f = {
	    .spec = spec,
	    .location = where,
	    .instruction = title,
	    .status = status,
	    .image = image ? digest : NULL,
	    .image_error = image || !b->o->on_error_image ? NULL : &e,
	};
	b->o->on_error(b->o->on_error_ctx, &f);
	cairn_error_clear(&e);
}

/* Runs the prepared step in the sandbox on rf; *status is its exit status. A step
 * that failed on a full in-memory upper dir runs once more on disk. */
static int run_sandboxed(struct builder *b, struct stage *st, const struct builder_instr *in,
			 struct run_step *rs, struct rootfs *rf, int step_out, int quiet_out,
			 int *status, struct cairn_error *err)
{
	int r = 0;
	for (bool again = true; again;) {
		again = false;
		if ((r = builder_rootfs_mount(b, st, rf, err)) < 0)
			break;
		int out = step_out >= 0 ? step_out : quiet_out;
		/* secrets as variables reach the step only, never the key or the image */
		cleanup_strv char **run_vars = strv_dup(rs->env);
		builder_proxy_env(b, st->args, &run_vars);
		for (size_t i = 0; rs->plan.env && rs->plan.env[i]; i++) {
			size_t n = strcspn(rs->plan.env[i], "=");
			cleanup_free char *name = xstrndup(rs->plan.env[i], n);
			builder_env_set(&run_vars, name, rs->plan.env[i] + n + 1);
		}
		struct sandbox_spec spec = {
		    .rootfs = rf->merged,
		    .argv = rs->argv,
		    .env = run_vars,
		    .cwd = rs->cwd,
		    .user = rs->user,
		    .hostname = b->o->hostname ? b->o->hostname : "cairn",
		    .network = rs->net,
		    .stdout_fd = out,
		    .stderr_fd = out,
		    .mounts = rs->plan.sm,
		    .n_mounts = rs->plan.n_sm,
		    .add_hosts = b->o->add_hosts,
		    .shm_size = b->o->shm_size,
		    .ulimits = b->o->ulimits,
		    .n_ulimits = b->o->n_ulimits,
		    .memory = b->o->memory,
		    .cpu_quota = b->o->cpu_quota,
		    .insecure = in->run.insecure,
		};
		rf->ran_step = true;
		r = sandbox_run(&spec, status, err);
		if (r < 0)
			builder_instr_wrap(b, in->syn, err);
		bool full = r == 0 && *status != 0 && builder_rootfs_full(rf);
		if (b->o->on_error && !full && !util_interrupted &&
		    ((r == 0 && *status != 0) || (r < 0 && r != -EINTR)))
			step_failed(b, st, in, &spec, rf, r == 0 ? *status : -1);
		for (size_t i = 0; rs->plan.env && run_vars[i]; i++)
			explicit_bzero(run_vars[i], strlen(run_vars[i]));
		if (full) {
			cleanup_free char *title = builder_instr_title(in->syn);
			builder_progress(
			    b, "[%zu/%zu] %s: out of room in memory; running again on disk\n",
			    b->step, b->recipe->n_instrs, title);
			builder_rootfs_release(rf);
			rf->on_disk = true;
			if (quiet_out >= 0 && ftruncate(quiet_out, 0) == 0)
				lseek(quiet_out, 0, SEEK_SET);
			again = true;
		}
	}
	return r;
}

int builder_exec_run(struct builder *b, struct stage *st, const struct builder_instr *in,
		     struct cairn_error *err)
{
	struct run_step rs;
	int r = builder_run_prepare(b, st, in, &rs, err);
	if (r < 0) {
		builder_run_step_release(&rs);
		return r;
	}
	if (builder_cache_load(b, &rs.sp)) {
		r = builder_step_commit(b, st, &rs.sp, err);
		builder_run_step_release(&rs);
		return r;
	}

	cleanup_free char *title = builder_instr_title(in->syn);
	builder_progress_step(b, BUILDER_EVENT_STEP_START, in->syn, util_now(), NULL,
			      "[%zu/%zu] %s\n", b->step, b->recipe->n_instrs, title);
	struct rootfs rf = {0};
	if (rs.plan.n && !sandbox_caps()->can_mount)
		r = builder_instr_error(b, in->syn, err, EPERM,
					"RUN --mount needs mounts, which this system does not "
					"allow (isolation chroot without CAP_SYS_ADMIN)");
	if (r == 0)
		r = builder_run_plan_prepare(b, in, &rs.plan, rs.script, rs.script_path, err);
	int status = 0;
	/* without a fd for it (-q) the step's output is kept aside and shown only when it
	 * fails */
	cleanup_close int step_out = builder_progress_output(b);
	cleanup_close int quiet_out = -1;
	if (r == 0 && step_out < 0) {
		cleanup_free char *dir = xasprintf("%s/cairn/tmp", store_root(b->s));
		quiet_out = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	}
	if (r == 0)
		r = run_sandboxed(b, st, in, &rs, &rf, step_out, quiet_out, &status, err);
	if (r == 0 && status != 0) {
		cleanup_free char *tail = output_tail(quiet_out);
		r = cairn_error_set(
		    err, ECANCELED, "step %zu/%zu `%s` failed: exit status %d%s%s%s", b->step,
		    b->recipe->n_instrs, title, status, run_no_network_note(b, in, rs.net),
		    *tail ? "; its output ended with:\n" : "", tail);
		cairn_error_kind(err, CAIRN_ERR_STEP);
		/* the message quotes the instruction, and its output ends it: the line
		 * under it only when the title does not say the same */
		cleanup_free char *line = util_source_line(b->text, b->text_len, in->syn->line);
		builder_locate(b, in->syn->line, !*tail && line && !strstr(title, line), err);
	}
	builder_run_plan_release(&rs.plan);
	r = builder_rootfs_finish(b, &rf, &rs.sp, r, err);
	if (r == 0)
		r = builder_step_commit(b, st, &rs.sp, err);
	builder_run_step_release(&rs);
	return r;
}
