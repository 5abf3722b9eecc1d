/* What the build tells the user: progress lines, instruction titles, and errors
 * tied to an instruction of the recipe. */
#include "internal.h"

#include <ctype.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- errors tied to the recipe ---- */

void builder_locate(struct builder *b, int line, bool show_text, struct cairn_error *err)
{
	cleanup_free char *text =
	    show_text && b->text ? util_source_line(b->text, b->text_len, line) : NULL;
	cairn_error_locate(err, b->recipe_name, line, 0, text);
}

__attribute__((format(printf, 5, 6))) int builder_instr_error(struct builder *b,
							      const struct recipe_instr *in,
							      struct cairn_error *err, int code,
							      const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *what = xvasprintf(fmt, ap);
	va_end(ap);
	int r = cairn_error_set(err, code, "%s: %s", recipe_kind_name(in->kind), what);
	/* a message of several lines (one quoting a heredoc) goes without the line */
	builder_locate(b, in->line, !strchr(what, '\n'), err);
	free(what);
	return r;
}

int builder_instr_check(struct builder *b, const struct builder_instr *in, struct cairn_error *err)
{
	if (in->error.kind == CAIRN_ERR_NONE)
		return 0;
	int r = cairn_error_set(err, in->error.code, "%s", in->error.msg);
	cairn_error_kind(err, in->error.kind);
	builder_locate(b, in->syn->line, true, err);
	return r;
}

int builder_instr_wrap(struct builder *b, const struct recipe_instr *in, struct cairn_error *err)
{
	int r = cairn_error_wrap(err, "%s", recipe_kind_name(in->kind));
	builder_locate(b, in->line, true, err);
	return r;
}

/* ---- progress ---- */

/* The wall clock, for events' times (util_now is monotonic, for durations). */
static double wall_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void report(struct builder *b, struct builder_event *ev, const char *fmt, va_list ap)
{
	const struct builder_progress *p = b->o->events;
	if (!p && !b->o->progress)
		return;
	cleanup_free char *text = fmt ? xvasprintf(fmt, ap) : NULL;
	if (!p) {
		if (text) {
			fputs(text, b->o->progress);
			fflush(b->o->progress);
		}
		return;
	}
	ev->text = text;
	ev->n_steps = b->recipe ? b->recipe->n_instrs : 0;
	ev->time = wall_now();
	p->event(p->ctx, ev);
}

__attribute__((format(printf, 2, 3))) void builder_progress(struct builder *b, const char *fmt, ...)
{
	struct builder_event ev = {.kind = BUILDER_EVENT_MESSAGE};
	va_list ap;
	va_start(ap, fmt);
	report(b, &ev, fmt, ap);
	va_end(ap);
}

__attribute__((format(printf, 6, 7))) void builder_progress_step(struct builder *b,
								 enum builder_event_kind kind,
								 const struct recipe_instr *in,
								 double t0, const char *detail,
								 const char *fmt, ...)
{
	if (!b->o->events && (!fmt || !b->o->progress))
		return;
	cleanup_free char *title = builder_instr_title(in);
	struct builder_event ev = {
	    .kind = kind,
	    .step = b->step,
	    .instruction = title,
	    .key = kind == BUILDER_EVENT_STEP_FAILED ? NULL : detail,
	    .error = kind == BUILDER_EVENT_STEP_FAILED ? detail : NULL,
	    .duration = kind == BUILDER_EVENT_STEP_START ? 0 : util_now() - t0,
	};
	va_list ap;
	va_start(ap, fmt);
	report(b, &ev, fmt, ap);
	va_end(ap);
}

int builder_progress_output(struct builder *b)
{
	const struct builder_progress *p = b->o->events;
	if (p)
		return p->output ? p->output(p->ctx, b->step) : -1;
	if (!b->o->progress)
		return -1;
	return fcntl(fileno(b->o->progress), F_DUPFD_CLOEXEC, 3);
}

/* The instruction as a short single line for progress output. */
char *builder_instr_title(const struct recipe_instr *in)
{
	struct strbuf sb = STRBUF_INIT;
	bool space = false;
	for (const char *p = in->original; *p; p++) {
		if (isspace((unsigned char)*p)) {
			space = true;
			continue;
		}
		if (space && sb.len)
			strbuf_addch(&sb, ' ');
		space = false;
		strbuf_addch(&sb, *p);
	}
	if (sb.len > 110) {
		sb.len = 107;
		strbuf_addstr(&sb, "...");
	}
	return strbuf_detach(&sb);
}
