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

static int run_stage(struct builder *b, struct stage *st)
{
	const struct recipe *rc = b->recipe;
	for (size_t i = st->first; i < st->end; i++) {
		const struct recipe_instr *in = &rc->instrs[i];
		b->step = i + 1;
		if (util_interrupted)
			return cairn_error_set(b->err, EINTR, "interrupted");
		int r;
		switch (in->kind) {
		case RECIPE_FROM:
			r = builder_exec_from(b, st, in);
			break;
		case RECIPE_WORKDIR:
			r = builder_exec_workdir(b, st, in);
			break;
		case RECIPE_RUN:
			r = builder_exec_run(b, st, in);
			break;
		case RECIPE_COPY:
		case RECIPE_ADD:
			r = builder_exec_copy(b, st, in);
			break;
		default:
			r = builder_exec_metadata(b, st, in);
			break;
		}
		/* every error names the instruction (a lower module's does not) */
		if (r < 0 && b->err->msg && !util_interrupted &&
		    (strncmp(b->err->msg, b->recipe_name, strlen(b->recipe_name)) ||
		     b->err->msg[strlen(b->recipe_name)] != ':'))
			builder_instr_wrap(b, in);
		if (r < 0)
			return r;
	}
	return 0;
}

/* How many stages may build at once. */
static size_t parallel_stages(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 2 ? 2 : (size_t)n;
}

/* Builds st in a child process; its result (stage key and the manifest of its image,
 * written to the store) comes back through a pipe. Independent stages build at once
 * this way without sharing any state but the store, which is made for that. */
static int fork_stage(struct builder *b, struct stage *st)
{
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) < 0)
		return cairn_error_errno(b->err, errno, "starting stage %zu", st->index);
	/* the parent reads the report after waitpid: it must fit in the pipe (1 MiB:
	 * some 14,000 step keys; where the kernel allows less, fewer) */
	(void)fcntl(fds[1], F_SETPIPE_SZ, 1 << 20);
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return cairn_error_errno(b->err, errno, "starting stage %zu", st->index);
	}
	if (pid == 0) {
		close(fds[0]);
		int64_t size = 0;
		int r = run_stage(b, st);
		if (r == 0)
			r = oci_image_write(b->s, &st->img, &size, b->err);
		cleanup_free char *msg = NULL;
		if (r == 0) {
			/* the step keys too: the parent exports the cache */
			cleanup_strbuf struct strbuf sb = STRBUF_INIT;
			strbuf_addf(&sb, "OK %s %s", st->key, st->img.digest);
			for (size_t i = 0; st->keys && st->keys[i]; i++)
				strbuf_addf(&sb, " %s", st->keys[i]);
			msg = strbuf_detach(&sb);
		} else {
			msg = xasprintf("ERR %d %s", b->err->code,
					b->err->msg ? b->err->msg : "failed");
		}
		util_write_all(fds[1], msg, strlen(msg));
		fflush(NULL);
		builder_mem_layers_release(b);
		_exit(r == 0 ? 0 : 1);
	}
	close(fds[1]);
	st->pid = pid;
	st->result_fd = fds[0];
	st->state = STAGE_RUNNING;
	return 0;
}

/* Waits for one forked stage and takes its result. */
static int reap_stage(struct builder *b, size_t *running)
{
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, 0)) < 0 && errno == EINTR)
		;
	if (pid < 0)
		return cairn_error_errno(b->err, errno, "waiting for a stage");
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
	char key[DIGEST_LEN], digest[DIGEST_LEN];
	if (r == 0 && len > 3 && !strncmp(msg, "OK ", 3) &&
	    sscanf(msg + 3, "%71s %71s", key, digest) == 2 && digest_valid(key) &&
	    digest_valid(digest)) {
		memcpy(st->key, key, DIGEST_LEN);
		strv_free(st->keys);
		st->keys = xcalloc(1, sizeof(char *));
		/* "OK KEY DIGEST K1 K2 …": the step keys follow the two digests */
		const char *p = msg + 3;
		for (int skip = 0; skip < 2; skip++)
			p += strcspn(p, " "), p += strspn(p, " ");
		while (*p) {
			size_t n = strcspn(p, " ");
			cleanup_free char *k = xstrndup(p, n);
			if (!digest_valid(k))
				break;
			strv_push(&st->keys, k);
			p += n;
			p += strspn(p, " ");
		}
		if ((r = oci_image_load(b->s, digest, &st->img, b->err)) < 0)
			return r;
		return 0;
	}
	if (r == 0 && !strncmp(msg, "ERR ", 4)) {
		int code = atoi(msg + 4);
		const char *text = strchr(msg + 4, ' ');
		return cairn_error_set(b->err, code ? code : EIO, "%s", text ? text + 1 : msg);
	}
	return cairn_error_set(b->err, EIO, "stage %zu%s%s ended without a result (%s %d)",
			       st->index, st->name ? " " : "", st->name ? st->name : "",
			       WIFSIGNALED(status) ? "signal" : "exit status",
			       WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
}

static void stop_stages(struct builder *b, size_t *running)
{
	for (size_t i = 0; i < b->n_stages; i++)
		if (b->stages[i].state == STAGE_RUNNING)
			kill(b->stages[i].pid, SIGTERM);
	struct cairn_error e = CAIRN_ERROR_INIT;
	struct cairn_error *saved = b->err;
	b->err = &e;
	while (*running)
		reap_stage(b, running);
	b->err = saved;
	cairn_error_clear(&e);
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
int builder_run_stages(struct builder *b, struct stage *target)
{
	builder_mark_needed(b, target);
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
				int r = run_stage(b, st);
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
			int r = fork_stage(b, st);
			if (r < 0) {
				stop_stages(b, &running);
				return r;
			}
			running++;
		}
		int r = reap_stage(b, &running);
		if (r < 0) {
			stop_stages(b, &running);
			return r;
		}
	}
}
