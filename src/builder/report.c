/* What the build tells the user: progress lines, instruction titles, and errors
 * tied to an instruction of the recipe. */
#include "internal.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- errors tied to the recipe ---- */

__attribute__((format(printf, 4, 5))) int builder_instr_error(struct builder *b,
							      const struct recipe_instr *in,
							      int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *what = NULL;
	if (vasprintf(&what, fmt, ap) < 0)
		abort();
	va_end(ap);
	int r = cairn_error_set(b->err, code, "%s:%d: %s: %s", b->recipe_name, in->line,
				recipe_kind_name(in->kind), what);
	free(what);
	return r;
}

/* Adds "FILE:LINE: INSTRUCTION" before a lower module's error message. */
int builder_instr_wrap(struct builder *b, const struct recipe_instr *in)
{
	return cairn_error_wrap(b->err, "%s:%d: %s", b->recipe_name, in->line,
				recipe_kind_name(in->kind));
}

/* ---- progress ---- */

__attribute__((format(printf, 2, 3))) void builder_progress(struct builder *b, const char *fmt, ...)
{
	if (!b->o->progress)
		return;
	va_list ap;
	va_start(ap, fmt);
	vfprintf(b->o->progress, fmt, ap);
	va_end(ap);
	fflush(b->o->progress);
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
