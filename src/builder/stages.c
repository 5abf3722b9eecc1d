/* Running the stages the target needs: one in this process when it is the only one
 * ready, else each in a forked child that reports its result through a pipe. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- stages: running them ---- */

static int run_steps(struct builder *b, struct stage *st, struct cairn_error *err)
{
	for (size_t i = st->first; i < st->end; i++) {
		const struct builder_instr *in = &b->instrs[i];
		b->step = i + 1;
		if (util_interrupted)
			return cairn_error_set(err, EINTR, "interrupted");
		double t0 = util_now();
		builder_progress_step(b, BUILDER_EVENT_STEP_START, in->syn, t0, NULL, NULL);
		int r = builder_instr_check(b, in, err);
		if (r == 0)
			r = in->def->exec(b, st, in, err);
		/* every error names the instruction (a lower module's does not yet) */
		if (r < 0 && !err->loc.file && !util_interrupted)
			builder_instr_wrap(b, in->syn, err);
		if (r < 0) {
			builder_progress_step(b, BUILDER_EVENT_STEP_FAILED, in->syn, t0, err->msg,
					      NULL);
			return r;
		}
	}
	return 0;
}

/* The stage's snapshot root, if it had one, is needed only while it runs. */
static int run_stage(struct builder *b, struct stage *st, struct cairn_error *err)
{
	int r = run_steps(b, st, err);
	builder_tree_release(st);
	return r;
}

/* How many stages may build at once. */
static size_t parallel_stages(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 2 ? 2 : (size_t)n;
}

json_t *builder_error_to_json(const struct cairn_error *err)
{
	json_t *j =
	    json_pack("{s:{s:i, s:i, s:s?, s:s?, s:i, s:i, s:s?}}", "error", "code", err->code,
		      "kind", (int)err->kind, "msg", err->msg, "file", err->loc.file, "line",
		      err->loc.line, "column", err->loc.column, "text", err->loc.text);
	if (!j)
		abort();
	return j;
}

int builder_error_from_json(const json_t *j, struct cairn_error *err)
{
	json_t *e = json_object_get(j, "error");
	if (!json_is_object(e))
		return 1;
	const char *text = json_string_value(json_object_get(e, "msg"));
	int code = (int)json_integer_value(json_object_get(e, "code"));
	json_int_t kind = json_integer_value(json_object_get(e, "kind"));
	int r = cairn_error_set(err, code > 0 ? code : EIO, "%s", text ? text : "failed");
	if (kind > CAIRN_ERR_NONE && kind <= CAIRN_ERR_INTERRUPTED)
		cairn_error_kind(err, (enum cairn_error_kind)kind);
	cairn_error_locate(err, json_string_value(json_object_get(e, "file")),
			   (int)json_integer_value(json_object_get(e, "line")),
			   (int)json_integer_value(json_object_get(e, "column")),
			   json_string_value(json_object_get(e, "text")));
	return r;
}

/* The report a forked stage sends its parent, as JSON: its stage key, the manifest of
 * its image (written to the store), its step keys (the parent exports the cache), its
 * steps' record, the images and context sources it read (the build's report), or its
 * error whole (kind, code, message and place). */
static char *stage_report(struct builder *b, const struct stage *st, int r,
			  const struct cairn_error *err)
{
	cleanup_json json_t *j = NULL;
	if (r == 0)
		j = json_pack("{s:s, s:s, s:o, s:O?, s:I, s:O?, s:O?}", "key", st->key, "digest",
			      st->img.digest, "keys", util_strv_to_json(st->keys), "steps",
			      st->steps, "n_base_layers", (json_int_t)st->n_base_layers, "bases",
			      b->bases, "inputs", b->inputs);
	else
		j = builder_error_to_json(err);
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	if (!text)
		abort();
	return text;
}

/* Takes a forked stage's report into st, or its error into err; 1 when msg is not a
 * report (the stage died before it could send one). */
static int stage_take_report(struct builder *b, struct stage *st, const char *msg, size_t len,
			     struct cairn_error *err)
{
	cleanup_json json_t *j = json_loadb(msg, len, 0, NULL);
	int r = builder_error_from_json(j, err);
	if (r <= 0)
		return r;
	const char *key = json_string_value(json_object_get(j, "key"));
	const char *digest = json_string_value(json_object_get(j, "digest"));
	json_t *keys = json_object_get(j, "keys");
	if (!digest_valid(key) || !digest_valid(digest) || !json_is_array(keys))
		return 1;
	memcpy(st->key, key, DIGEST_LEN);
	strv_free(st->keys);
	st->keys = util_json_to_strv(keys);
	json_decref(st->steps);
	st->steps = json_incref(json_object_get(j, "steps"));
	st->n_base_layers = (long)json_integer_value(json_object_get(j, "n_base_layers"));
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(j, "bases"), i, v)
	{
		const char *name = json_string_value(json_array_get(v, 0));
		const char *d = json_string_value(json_array_get(v, 1));
		if (name && digest_valid(d))
			builder_record_base(b, name, d);
	}
	const char *input;
	json_object_foreach(json_object_get(j, "inputs"), input, v)
	{
		if (digest_valid(input))
			builder_record_input(b, input);
	}
	return oci_image_load(b->s, digest, &st->img, err);
}

/* Builds st in a child process; its result (stage key and the manifest of its image,
 * written to the store) comes back through a pipe. Independent stages build at once
 * this way without sharing any state but the store, which is made for that. */
static int fork_stage(struct builder *b, struct stage *st, struct cairn_error *err)
{
	/* the children lease into this process's dir: what a stage made stays
	 * leased after it exits, until this process has read its report */
	int claimed = store_tmp_claim(b->s, err);
	if (claimed < 0)
		return claimed;
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) < 0)
		return cairn_error_errno(err, errno, "starting stage %zu", st->index);
	/* the parent reads the report after waitpid: it must fit in the pipe (1 MiB:
	 * some 14,000 step keys; where the kernel allows less, fewer) */
	(void)fcntl(fds[1], F_SETPIPE_SZ, 1 << 20);
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return cairn_error_errno(err, errno, "starting stage %zu", st->index);
	}
	if (pid == 0) {
		close(fds[0]);
		int64_t size = 0;
		int r = run_stage(b, st, err);
		if (r == 0)
			r = oci_image_write(b->s, &st->img, &size, err);
		cleanup_free char *msg = stage_report(b, st, r, err);
		util_write_all(fds[1], msg, strlen(msg));
		fflush(NULL);
		builder_mem_layers_release(b);
		sandbox_network_release();
		store_tmp_release(b->s);
		_exit(r == 0 ? 0 : 1);
	}
	close(fds[1]);
	st->pid = pid;
	st->result_fd = fds[0];
	st->state = STAGE_RUNNING;
	return 0;
}

/* Waits for one forked stage and takes its result. */
static int reap_stage(struct builder *b, size_t *running, struct cairn_error *err)
{
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, 0)) < 0 && errno == EINTR)
		;
	if (pid < 0)
		return cairn_error_errno(err, errno, "waiting for a stage");
	struct stage *st = NULL;
	for (size_t i = 0; i < b->n_stages; i++)
		if (b->stages[i].state == STAGE_RUNNING && b->stages[i].pid == pid)
			st = &b->stages[i];
	if (!st)
		return 0;
	(*running)--;
	cleanup_free char *msg = NULL;
	size_t len = 0;
	int r = util_read_fd(st->result_fd, &msg, &len);
	close(st->result_fd);
	st->result_fd = -1;
	st->state = STAGE_DONE;
	if (r == 0 && (r = stage_take_report(b, st, msg, len, err)) <= 0)
		return r;
	return cairn_error_set(err, EIO, "stage %zu%s%s ended without a result (%s %d)", st->index,
			       st->name ? " " : "", st->name ? st->name : "",
			       WIFSIGNALED(status) ? "signal" : "exit status",
			       WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
}

static void stop_stages(struct builder *b, size_t *running)
{
	for (size_t i = 0; i < b->n_stages; i++)
		if (b->stages[i].state == STAGE_RUNNING)
			kill(b->stages[i].pid, SIGTERM);
	/* their errors are not the build's: it failed already */
	struct cairn_error e = CAIRN_ERROR_INIT;
	while (*running) {
		reap_stage(b, running, &e);
		cairn_error_clear(&e);
	}
}

static bool stage_ready(struct builder *b, struct stage *st)
{
	if (!st->needed || st->state != STAGE_PENDING)
		return false;
	for (size_t i = 0; i < st->n_deps; i++)
		if (b->stages[st->deps[i]].state != STAGE_DONE)
			return false;
	return true;
}

/* Builds every stage the target needs, independent ones at the same time. */
int builder_run_stages(struct builder *b, struct cairn_error *err)
{
	size_t running = 0, limit = parallel_stages();
	for (;;) {
		size_t ready = 0;
		for (size_t i = 0; i < b->n_stages; i++)
			ready += stage_ready(b, &b->stages[i]);
		if (!ready && !running)
			return 0;
		if (ready == 1 && !running) {
			/* nothing to overlap with: build it here */
			for (size_t i = 0; i < b->n_stages; i++) {
				struct stage *st = &b->stages[i];
				if (!stage_ready(b, st))
					continue;
				st->state = STAGE_RUNNING;
				int r = run_stage(b, st, err);
				st->state = STAGE_DONE;
				if (r < 0)
					return r;
				break; /* what it unblocked may run side by side */
			}
			continue;
		}
		for (size_t i = 0; i < b->n_stages && running < limit; i++) {
			struct stage *st = &b->stages[i];
			if (!stage_ready(b, st))
				continue;
			int r = fork_stage(b, st, err);
			if (r < 0) {
				stop_stages(b, &running);
				return r;
			}
			running++;
		}
		int r = reap_stage(b, &running, err);
		if (r < 0) {
			stop_stages(b, &running);
			return r;
		}
	}
}
