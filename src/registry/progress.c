/* registry: progress of blob transfers. On a terminal every blob has a line that
 * is redrawn in place (a few times a second) with its bytes so far; elsewhere
 * (a CI log) a blob gets one line when it is done. Both end with a summary of
 * bytes and throughput. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define REDRAW_INTERVAL 0.1

struct progress_line {
	char digest[DIGEST_LEN];
	uint64_t size, done;
	const char *state; /* "waiting", the verb while moving, then what happened */
};

struct progress {
	FILE *out;
	bool tty;
	const char *verb; /* "pull", "push" */
	struct progress_line *lines;
	size_t n;
	size_t drawn; /* lines on screen from the last redraw */
	double last, t0;
};

struct progress *progress_new(FILE *out, const char *verb)
{
	if (!out)
		return NULL;
	struct progress *p = xcalloc(1, sizeof *p);
	p->out = out;
	p->tty = isatty(fileno(out)) && getenv("TERM") && strcmp(getenv("TERM"), "dumb");
	p->verb = verb;
	p->t0 = util_now();
	return p;
}

size_t progress_add(struct progress *p, const char *digest, uint64_t size)
{
	if (!p)
		return 0;
	p->lines = xrealloc(p->lines, (p->n + 1) * sizeof *p->lines);
	struct progress_line *l = &p->lines[p->n];
	memset(l, 0, sizeof *l);
	memcpy(l->digest, digest, DIGEST_LEN);
	l->size = size;
	l->state = "waiting";
	return p->n++;
}

static void redraw(struct progress *p)
{
	if (p->drawn)
		fprintf(p->out, "\033[%zuA", p->drawn);
	for (size_t i = 0; i < p->n; i++) {
		struct progress_line *l = &p->lines[i];
		cleanup_free char *done = util_human_size(l->done);
		cleanup_free char *size = util_human_size(l->size);
		unsigned pct = l->size ? (unsigned)(l->done * 100 / l->size) : 100;
		fprintf(p->out, "\r\033[K%-7s %.19s… %s / %s (%u%%)\n", l->state, l->digest, done,
			size, pct);
	}
	p->drawn = p->n;
	fflush(p->out);
	p->last = util_now();
}

void progress_update(struct progress *p, size_t i, uint64_t done)
{
	if (!p || i >= p->n)
		return;
	p->lines[i].done = done;
	p->lines[i].state = p->verb;
	if (p->tty && util_now() - p->last >= REDRAW_INTERVAL)
		redraw(p);
}

void progress_done(struct progress *p, size_t i, const char *state)
{
	if (!p || i >= p->n)
		return;
	struct progress_line *l = &p->lines[i];
	/* on a terminal a blob that moved reads "done" */
	l->state = p->tty && !strcmp(state, p->verb) ? "done" : state;
	l->done = l->size;
	if (p->tty) {
		redraw(p);
		return;
	}
	cleanup_free char *hs = util_human_size(l->size);
	fprintf(p->out, "%s %.19s… %s\n", state, l->digest, hs);
	fflush(p->out);
}

void progress_finish(struct progress *p, const char *what, size_t blobs, uint64_t bytes)
{
	if (!p)
		return;
	if (p->tty && p->n)
		redraw(p);
	double secs = util_now() - p->t0;
	cleanup_free char *hs = util_human_size(bytes);
	cleanup_free char *hd = util_human_duration(secs);
	cleanup_free char *rate =
	    util_human_size(secs > 0 ? (uint64_t)((double)bytes / secs) : bytes);
	fprintf(p->out, "%s %zu blob%s, %s in %s (%s/s)\n", what, blobs, blobs == 1 ? "" : "s", hs,
		hd, rate);
	fflush(p->out);
}

void progress_free(struct progress *p)
{
	if (!p)
		return;
	free(p->lines);
	free(p);
}
