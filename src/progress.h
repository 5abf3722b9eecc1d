/* progress: how cairn build shows a build's progress (--progress), as the renderers
 * of the builder's events (struct builder_progress): plain lines, a live terminal
 * view, nothing, or JSON events. */
#ifndef CAIRN_PROGRESS_H
#define CAIRN_PROGRESS_H

#include "builder/builder.h"

#include <stdbool.h>

enum progress_mode {
	PROGRESS_PLAIN,	  /* the lines cairn has always printed, step output as it comes */
	PROGRESS_TTY,	  /* a live view of the running steps, redrawn in place */
	PROGRESS_QUIET,	  /* nothing: a failed RUN step's output ends its error */
	PROGRESS_RAWJSON, /* one JSON event a line (cairn-build(1), PROGRESS) */
};

/* The getopt value of cairn build's --progress. */
#define PROGRESS_OPTION 0x480

/* The mode --progress=arg names (arg NULL: $BUILDKIT_PROGRESS, then auto); auto is
 * tty when stderr is a terminal whose TERM is not dumb, else plain. -1 after
 * printing an error naming the flag (or the variable) and what it accepts. */
int build_progress_mode_parse(const char *arg, enum progress_mode *out);

/* Prints a note of the command's own (a line, no newline) on stderr as mode shows
 * one: a message event with rawjson, else the line. */
void build_progress_note(enum progress_mode mode, const char *text);

struct build_progress;
/* Starts showing a build's progress in mode: *events is what builder_opts.events
 * takes (borrowed from the progress until build_progress_finish). -1 with err set when it
 * cannot (no temporary directory in the store s for the steps' output). */
int build_progress_start(enum progress_mode mode, struct store *s, struct build_progress **out,
			 const struct builder_progress **events, struct cairn_error *err);
/* Shows the final state (a tty view: its last redraw, and the whole output of a
 * failed step), removes what the progress kept and frees it; NULL does nothing. */
void build_progress_finish(struct build_progress *p);

#endif
