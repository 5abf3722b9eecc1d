/* cairn build --progress: the renderers of the builder's events. plain and quiet act
 * in the callbacks themselves. tty and rawjson send each event as a JSON line through
 * a pipe to one thread of this process, and give each RUN step a file for its output:
 * a stage built in a forked child reaches them the same way. The thread alone keeps
 * the state, reads the output files and draws. */
#include "progress.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define TAIL_LINES 6   /* of a running step's output, under it (as buildx) */
#define TICK_MS 100    /* how often the tty view is redrawn */
#define FIELD_MAX 1024 /* bytes of one text field of an event in the pipe */

/* A step as the thread knows it. */
struct step_view {
	bool started, finished, cached, failed;
	char *instruction;
	double t0, duration; /* wall clock: when it started, how long it took */
	int fd;		     /* its output file, read up to where the thread is */
	struct strbuf line;  /* the output's last line, unfinished */
	char *tail[TAIL_LINES];
	size_t n_tail;
};

struct build_progress {
	enum progress_mode mode;
	struct builder_progress events;
	int pipe[2];
	char *dir; /* the RUN steps' output files, named by step index */
	bool threaded;
	pthread_t thread;
	/* the thread's from here on */
	struct step_view *steps; /* steps[i - 1] is step i */
	size_t n_steps;
	size_t *order; /* the step indexes in the order they started */
	size_t n_order;
	size_t total;		/* how many instructions the recipe has */
	double t0;		/* util_now() when the progress started */
	size_t drawn;		/* lines of the tty view now on the terminal */
	struct strbuf messages; /* tty: lines still to print above the view */
	struct strbuf in;	/* what the pipe gave, up to its last newline */
};

static double wall_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		buf += n;
		len -= (size_t)n;
	}
}

/* The length of the valid UTF-8 sequence at s (of n bytes left), 0 when none is. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	size_t len = s[0] < 0x80		    ? 1
		     : s[0] >= 0xc2 && s[0] <= 0xdf ? 2
		     : s[0] >= 0xe0 && s[0] <= 0xef ? 3
		     : s[0] >= 0xf0 && s[0] <= 0xf4 ? 4
						    : 0;
	if (!len || len > n)
		return 0;
	unsigned v = len == 1	? s[0]
		     : len == 2 ? s[0] & 0x1f
		     : len == 3 ? s[0] & 0x0f
				: s[0] & 0x07;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		v = v << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && (v < 0x800 || (v >= 0xd800 && v <= 0xdfff))) ||
	    (len == 4 && (v < 0x10000 || v > 0x10ffff)))
		return 0;
	return len;
}

/* s (n bytes) as valid UTF-8 of at most max bytes, each invalid byte a '?', and
 * without control characters when printable; a new string. */
static char *clean(const char *s, size_t n, size_t max, bool printable)
{
	struct strbuf sb = STRBUF_INIT;
	strbuf_addstr(&sb, "");
	for (size_t i = 0; i < n;) {
		size_t len = utf8_len((const unsigned char *)s + i, n - i);
		if (sb.len + (len ? len : 1) > max)
			break;
		if (!len)
			strbuf_addch(&sb, '?');
		else if (printable && len == 1 && ((unsigned char)s[i] < 0x20 || s[i] == 0x7f))
			strbuf_addch(&sb, s[i] == '\t' ? ' ' : '?');
		else
			strbuf_add(&sb, s + i, len);
		i += len ? len : 1;
	}
	return strbuf_detach(&sb);
}

static void set_text(json_t *j, const char *key, const char *s)
{
	if (!s)
		return;
	size_t n = strlen(s);
	while (n && s[n - 1] == '\n')
		n--;
	cleanup_free char *c = clean(s, n, FIELD_MAX, false);
	json_object_set_new(j, key, json_string(c));
}

/* ---- plain and quiet: in the callbacks ---- */

static void plain_event(void *ctx, const struct builder_event *ev)
{
	(void)ctx;
	if (!ev->text)
		return;
	fputs(ev->text, stderr);
	fflush(stderr);
}

static int plain_output(void *ctx, size_t step)
{
	(void)ctx;
	(void)step;
	return fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
}

static void quiet_event(void *ctx, const struct builder_event *ev)
{
	(void)ctx;
	(void)ev;
}

/* ---- tty and rawjson: the callbacks send, the thread draws ---- */

static void send_event(void *ctx, const struct builder_event *ev)
{
	struct build_progress *p = ctx;
	cleanup_json json_t *j = json_pack(
	    "{s:i, s:I, s:I, s:f, s:f}", "kind", (int)ev->kind, "step", (json_int_t)ev->step,
	    "steps", (json_int_t)ev->n_steps, "time", ev->time, "duration", ev->duration);
	set_text(j, "text", ev->text);
	set_text(j, "instruction", ev->instruction);
	set_text(j, "key", ev->key);
	set_text(j, "error", ev->error);
	cleanup_free char *s = json_dumps(j, JSON_COMPACT);
	if (!s)
		return;
	/* one write of less than PIPE_BUF bytes: lines from several processes never mix */
	cleanup_free char *line = xasprintf("%s\n", s);
	write_all(p->pipe[1], line, strlen(line));
}

static char *step_file(const struct build_progress *p, size_t step)
{
	return xasprintf("%s/%zu", p->dir, step);
}

static int file_output(void *ctx, size_t step)
{
	cleanup_free char *path = step_file(ctx, step);
	return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
}

static json_t *json_time(double t)
{
	time_t s = (time_t)t;
	struct tm tm;
	gmtime_r(&s, &tm);
	char buf[64];
	strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
	int ms = (int)((t - (double)s) * 1000);
	return json_sprintf("%s.%03dZ", buf, ms < 0 ? 0 : ms > 999 ? 999 : ms);
}

static void emit_json(json_t *j)
{
	cleanup_free char *s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(6));
	if (!s)
		return;
	cleanup_free char *line = xasprintf("%s\n", s);
	write_all(STDERR_FILENO, line, strlen(line));
}

static struct step_view *view(struct build_progress *p, size_t step)
{
	if (step > p->n_steps) {
		p->steps = xrealloc(p->steps, step * sizeof *p->steps);
		for (size_t i = p->n_steps; i < step; i++) {
			memset(&p->steps[i], 0, sizeof p->steps[i]);
			p->steps[i].fd = -1;
		}
		p->n_steps = step;
	}
	return &p->steps[step - 1];
}

static void tail_push(struct step_view *v)
{
	if (v->n_tail == TAIL_LINES) {
		free(v->tail[0]);
		memmove(v->tail, v->tail + 1, (TAIL_LINES - 1) * sizeof *v->tail);
		v->n_tail--;
	}
	v->tail[v->n_tail++] = xstrdup(strbuf_str(&v->line));
	strbuf_reset(&v->line);
}

/* Reads what step wrote since the last call: rawjson sends it as output events, tty
 * keeps its last lines. */
static void read_output(struct build_progress *p, size_t step)
{
	struct step_view *v = view(p, step);
	if (v->fd < 0) {
		cleanup_free char *path = step_file(p, step);
		if ((v->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
			return;
	}
	char buf[4096];
	ssize_t n;
	while ((n = read(v->fd, buf, sizeof buf)) > 0) {
		if (p->mode == PROGRESS_RAWJSON) {
			cleanup_free char *b64 = xmalloc(4 * (((size_t)n + 2) / 3) + 1);
			EVP_EncodeBlock((unsigned char *)b64, (unsigned char *)buf, (int)n);
			cleanup_json json_t *j =
			    json_pack("{s:s, s:I, s:o, s:s}", "event", "output", "step",
				      (json_int_t)step, "time", json_time(wall_now()), "data", b64);
			emit_json(j);
			continue;
		}
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == '\n')
				tail_push(v);
			else if (buf[i] == '\r' && !(i + 1 < n && buf[i + 1] == '\n'))
				strbuf_reset(&v->line); /* a line drawn over, as a terminal shows */
			else if (buf[i] != '\r' && v->line.len < 4096)
				strbuf_addch(&v->line, buf[i]);
		}
	}
}

static void handle(struct build_progress *p, json_t *j)
{
	enum builder_event_kind kind =
	    (enum builder_event_kind)json_integer_value(json_object_get(j, "kind"));
	size_t step = (size_t)json_integer_value(json_object_get(j, "step"));
	size_t steps = (size_t)json_integer_value(json_object_get(j, "steps"));
	double time = json_real_value(json_object_get(j, "time"));
	double duration = json_real_value(json_object_get(j, "duration"));
	const char *text = json_string_value(json_object_get(j, "text"));
	const char *instruction = json_string_value(json_object_get(j, "instruction"));
	if (steps > p->total)
		p->total = steps;
	if (kind == BUILDER_EVENT_MESSAGE || !step) {
		if (!text)
			return;
		if (p->mode == PROGRESS_TTY) {
			cleanup_free char *c = clean(text, strlen(text), 4096, true);
			strbuf_addf(&p->messages, "%s\n", c);
			return;
		}
		cleanup_json json_t *m = json_pack("{s:s, s:o, s:s}", "event", "message", "time",
						   json_time(time), "text", text);
		emit_json(m);
		return;
	}
	struct step_view *v = view(p, step);
	if (!v->started) {
		v->started = true;
		v->t0 = kind == BUILDER_EVENT_STEP_START ? time : time - duration;
		v->instruction = xstrdup(instruction ? instruction : "");
		p->order = xrealloc(p->order, (p->n_order + 1) * sizeof *p->order);
		p->order[p->n_order++] = step;
	} else if (kind == BUILDER_EVENT_STEP_START) {
		return; /* a RUN step not in the cache says so once more, for plain */
	}
	static const char *const names[] = {
	    [BUILDER_EVENT_STEP_START] = "start",
	    [BUILDER_EVENT_STEP_CACHED] = "cached",
	    [BUILDER_EVENT_STEP_DONE] = "done",
	    [BUILDER_EVENT_STEP_FAILED] = "failed",
	};
	if (kind != BUILDER_EVENT_STEP_START) {
		read_output(p, step); /* the output first: all of it was written by now */
		v->finished = true;
		v->cached = kind == BUILDER_EVENT_STEP_CACHED;
		v->failed = kind == BUILDER_EVENT_STEP_FAILED;
		v->duration = duration;
	}
	if (p->mode != PROGRESS_RAWJSON || kind > BUILDER_EVENT_STEP_FAILED)
		return;
	cleanup_json json_t *e = json_pack("{s:s, s:I, s:I, s:s, s:o}", "event", names[kind],
					   "step", (json_int_t)step, "steps", (json_int_t)steps,
					   "instruction", v->instruction, "time", json_time(time));
	if (kind != BUILDER_EVENT_STEP_START)
		json_object_set_new(e, "duration", json_real(duration));
	json_t *key = json_object_get(j, "key");
	if (key)
		json_object_set(e, "digest", key);
	json_t *error = json_object_get(j, "error");
	if (error)
		json_object_set(e, "error", error);
	emit_json(e);
}

/* s cut to cols columns (a UTF-8 character one column), padded to them when pad. */
static void add_fit(struct strbuf *sb, const char *s, size_t cols, bool pad)
{
	size_t used = 0;
	for (; *s; s++) {
		if (((unsigned char)*s & 0xc0) != 0x80) {
			if (used == cols)
				break;
			used++;
		}
		strbuf_addch(sb, *s);
	}
	while (pad && used++ < cols)
		strbuf_addch(sb, ' ');
}

/* Draws the tty view over the one on the terminal; final: its last state, whole. */
static void draw(struct build_progress *p, bool final)
{
	size_t cols = 80, rows = 24;
	struct winsize ws;
	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20 && ws.ws_row > 3) {
		cols = ws.ws_col;
		rows = ws.ws_row;
	}
	double now = wall_now();
	size_t finished = 0;
	bool failed = false;
	for (size_t i = 0; i < p->n_order; i++) {
		finished += p->steps[p->order[i] - 1].finished;
		failed |= p->steps[p->order[i] - 1].failed;
	}
	cleanup_strv char **lines = NULL;
	strv_push_take(&lines, xasprintf("[+] Building %.1fs (%zu/%zu)%s", util_now() - p->t0,
					 finished, p->total, final && !failed ? " FINISHED" : ""));
	for (size_t i = 0; i < p->n_order; i++) {
		size_t step = p->order[i];
		struct step_view *v = &p->steps[step - 1];
		cleanup_free char *left = xasprintf(" => %s[%zu/%zu] %s",
						    v->failed	? "ERROR "
						    : v->cached ? "CACHED "
								: "",
						    step, p->total, v->instruction);
		struct strbuf sb = STRBUF_INIT;
		add_fit(&sb, left, cols - 9, true);
		strbuf_addf(&sb, " %6.1fs", v->finished ? v->duration : now - v->t0);
		strv_push_take(&lines, strbuf_detach(&sb));
		if (v->finished || final)
			continue;
		for (size_t k = 0; k <= v->n_tail; k++) {
			const char *t = k < v->n_tail ? v->tail[k] : strbuf_str(&v->line);
			if (k == v->n_tail && !*t)
				break;
			if (k == 0 && v->n_tail == TAIL_LINES && v->line.len)
				continue; /* the unfinished line is one of the last ones */
			cleanup_free char *c = clean(t, strlen(t), 4096, true);
			cleanup_free char *l = xasprintf(" => => # %s", c);
			struct strbuf lb = STRBUF_INIT;
			add_fit(&lb, l, cols - 1, false);
			strv_push_take(&lines, strbuf_detach(&lb));
		}
	}
	size_t n = strv_len(lines);
	/* live, the view fits the terminal: the header and the newest lines */
	size_t skip = !final && n > rows - 1 ? n - (rows - 1) : 0;
	cleanup_strbuf struct strbuf out = STRBUF_INIT;
	if (p->drawn)
		strbuf_addf(&out, "\033[%zuA\r", p->drawn);
	for (const char *m = strbuf_str(&p->messages); *m;) {
		size_t len = strcspn(m, "\n");
		strbuf_addstr(&out, "\033[2K");
		strbuf_add(&out, m, len);
		strbuf_addch(&out, '\n');
		m += len + (m[len] == '\n');
	}
	strbuf_reset(&p->messages);
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && i <= skip)
			continue;
		strbuf_addf(&out, "\033[2K%s\n", lines[i]);
	}
	strbuf_addstr(&out, "\033[J");
	p->drawn = n - skip;
	write_all(STDERR_FILENO, out.buf, out.len);
}

static void *run(void *arg)
{
	struct build_progress *p = arg;
	for (bool end = false; !end;) {
		struct pollfd pfd = {.fd = p->pipe[0], .events = POLLIN};
		if (poll(&pfd, 1, TICK_MS) > 0) {
			char buf[8192];
			ssize_t n = read(p->pipe[0], buf, sizeof buf);
			if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
				end = true;
			if (n > 0)
				strbuf_add(&p->in, buf, (size_t)n);
		}
		size_t used = 0;
		for (char *nl; !end && (nl = memchr(p->in.buf + used, '\n', p->in.len - used));) {
			*nl = '\0';
			const char *line = p->in.buf + used;
			used = (size_t)(nl - p->in.buf) + 1;
			if (!strcmp(line, "end")) {
				end = true;
				break;
			}
			cleanup_json json_t *j = json_loads(line, 0, NULL);
			if (j)
				handle(p, j);
		}
		if (used) {
			memmove(p->in.buf, p->in.buf + used, p->in.len - used);
			strbuf_setlen(&p->in, p->in.len - used);
		}
		for (size_t i = 0; i < p->n_order; i++)
			if (!p->steps[p->order[i] - 1].finished)
				read_output(p, p->order[i]);
		if (p->mode == PROGRESS_TTY && !end)
			draw(p, false);
	}
	return NULL;
}

/* ---- the interface ---- */

void build_progress_note(enum progress_mode mode, const char *text)
{
	if (mode != PROGRESS_RAWJSON) {
		fprintf(stderr, "%s\n", text);
		return;
	}
	cleanup_free char *c = clean(text, strlen(text), 4096, false);
	cleanup_json json_t *m = json_pack("{s:s, s:o, s:s}", "event", "message", "time",
					   json_time(wall_now()), "text", c);
	emit_json(m);
}

int build_progress_mode_parse(const char *arg, enum progress_mode *out)
{
	const char *what = "--progress";
	if (!arg) {
		what = "BUILDKIT_PROGRESS";
		arg = getenv("BUILDKIT_PROGRESS");
		if (!arg || !*arg)
			arg = "auto";
	}
	if (!strcmp(arg, "auto")) {
		const char *term = getenv("TERM");
		*out = isatty(STDERR_FILENO) && (!term || strcmp(term, "dumb")) ? PROGRESS_TTY
										: PROGRESS_PLAIN;
	} else if (!strcmp(arg, "plain")) {
		*out = PROGRESS_PLAIN;
	} else if (!strcmp(arg, "tty")) {
		*out = PROGRESS_TTY;
	} else if (!strcmp(arg, "quiet")) {
		*out = PROGRESS_QUIET;
	} else if (!strcmp(arg, "rawjson")) {
		*out = PROGRESS_RAWJSON;
	} else {
		fprintf(stderr, "cairn build: %s=%s: expected auto, plain, tty, quiet or rawjson\n",
			what, arg);
		return -1;
	}
	return 0;
}

int build_progress_start(enum progress_mode mode, struct store *s, struct build_progress **out,
			 const struct builder_progress **events, struct cairn_error *err)
{
	struct build_progress *p = xcalloc(1, sizeof *p);
	p->mode = mode;
	p->pipe[0] = p->pipe[1] = -1;
	p->t0 = util_now();
	*out = p;
	*events = &p->events;
	p->events.ctx = p;
	if (mode == PROGRESS_PLAIN) {
		p->events.event = plain_event;
		p->events.output = plain_output;
		return 0;
	}
	if (mode == PROGRESS_QUIET) {
		p->events.event = quiet_event;
		return 0;
	}
	p->events.event = send_event;
	p->events.output = file_output;
	/* in the store's temp space, which a later cairn sweeps should this one be killed */
	int r = store_mkdtemp(s, "progress", &p->dir, err);
	if (r < 0)
		return cairn_error_wrap(err, "--progress: a directory for the steps' output");
	if (pipe2(p->pipe, O_CLOEXEC) < 0)
		return cairn_error_errno(err, errno, "--progress: a pipe for the build's events");
	/* signals are the build's to take (util_interrupted), not the thread's */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&p->thread, NULL, run, p);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0)
		return cairn_error_errno(err, r, "--progress: starting its thread");
	p->threaded = true;
	return 0;
}

/* The whole output of a failed step, as buildx shows it under the view. */
static void show_failed(struct build_progress *p, size_t step)
{
	struct step_view *v = &p->steps[step - 1];
	cleanup_strbuf struct strbuf out = STRBUF_INIT;
	strbuf_addf(&out, "------\n > [%zu/%zu] %s:\n", step, p->total, v->instruction);
	cleanup_free char *path = step_file(p, step);
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return; /* it wrote nothing: the error says what failed */
	char buf[4096];
	ssize_t n;
	while ((n = read(fd, buf, sizeof buf)) > 0)
		strbuf_add(&out, buf, (size_t)n);
	if (out.buf[out.len - 1] != '\n')
		strbuf_addch(&out, '\n');
	strbuf_addstr(&out, "------\n");
	write_all(STDERR_FILENO, out.buf, out.len);
}

void build_progress_finish(struct build_progress *p)
{
	if (!p)
		return;
	if (p->threaded) {
		write_all(p->pipe[1], "end\n", 4);
		pthread_join(p->thread, NULL);
		if (p->mode == PROGRESS_TTY) {
			draw(p, true);
			for (size_t i = 0; i < p->n_order; i++)
				if (p->steps[p->order[i] - 1].failed)
					show_failed(p, p->order[i]);
		}
	}
	for (size_t i = 0; i < p->n_steps; i++) {
		struct step_view *v = &p->steps[i];
		free(v->instruction);
		if (v->fd >= 0)
			close(v->fd);
		strbuf_release(&v->line);
		for (size_t k = 0; k < v->n_tail; k++)
			free(v->tail[k]);
	}
	if (p->dir) {
		DIR *d = opendir(p->dir);
		for (struct dirent *e; d && (e = readdir(d));)
			if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
				unlinkat(dirfd(d), e->d_name, 0);
		if (d)
			closedir(d);
		rmdir(p->dir);
		free(p->dir);
	}
	if (p->pipe[0] >= 0)
		close(p->pipe[0]);
	if (p->pipe[1] >= 0)
		close(p->pipe[1]);
	free(p->steps);
	free(p->order);
	strbuf_release(&p->messages);
	strbuf_release(&p->in);
	free(p);
}
