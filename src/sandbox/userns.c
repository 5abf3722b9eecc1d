/* The builder's user namespace, as podman and buildah make theirs: the caller's own
 * uid and gid become 0, and the subordinate ids /etc/subuid and /etc/subgid give the
 * caller become 1, 2, ... in order, so that a step can chown, run as a USER other than
 * root and unpack files of any owner. Only newuidmap and newgidmap (setuid root,
 * Debian's package uidmap) may write such maps, and they must run outside the new
 * namespace on the pid of a process inside it: a helper forked before the unshare
 * waits on a pipe, runs them on the parent's pid once it has unshared, and reports
 * back. Where there are no ranges, or no newuidmap, only the caller's own ids are
 * mapped, as unprivileged processes may do by themselves. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define SUBUID_FILE "/etc/subuid"
#define SUBGID_FILE "/etc/subgid"
/* the kernel takes at most 340 lines in a map; one is the caller's own id */
#define MAX_RANGES 339
/* ids in the namespace are 32-bit, and (uid_t)-1 is never an id */
#define MAX_IDS 4294967295ul

struct id_range {
	unsigned long start, count;
};

struct id_ranges {
	struct id_range v[MAX_RANGES];
	size_t n;
};

/* Reads the ranges of file for the user (by name or by uid number), in the file's
 * order, as newuidmap reads them. A missing file has none. */
static int read_ranges(const char *file, const char *name, uid_t uid, struct id_ranges *out,
		       struct cairn_error *err)
{
	out->n = 0;
	cleanup_fclose FILE *f = fopen(file, "re");
	if (!f)
		return errno == ENOENT ? 0 : cairn_error_errno(err, errno, "reading %s", file);
	char uid_text[16];
	snprintf(uid_text, sizeof uid_text, "%u", (unsigned)uid);
	cleanup_free char *line = NULL;
	size_t cap = 0;
	unsigned long total = 1;
	while (getline(&line, &cap, f) >= 0) {
		char *who = line + strspn(line, " \t");
		if (*who == '#' || *who == '\n' || *who == '\0')
			continue;
		char *colon = strchr(who, ':');
		if (!colon)
			continue;
		*colon = '\0';
		if (strcmp(who, uid_text) && (!name || strcmp(who, name)))
			continue;
		char *end;
		errno = 0;
		unsigned long start = strtoul(colon + 1, &end, 10);
		if (errno || end == colon + 1 || *end != ':')
			continue;
		const char *c = end + 1;
		unsigned long count = strtoul(c, &end, 10);
		if (errno || end == c || count == 0)
			continue;
		if (out->n == MAX_RANGES || total + count > MAX_IDS || total + count < total)
			break;
		out->v[out->n++] = (struct id_range){start, count};
		total += count;
	}
	return 0;
}

/* The full path of an executable found on PATH (or the usual places); NULL if none. */
static char *find_program(const char *name)
{
	const char *path = getenv("PATH");
	if (!path || !*path)
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	for (const char *p = path;; p++) {
		const char *colon = strchrnul(p, ':');
		if (colon > p) {
			char *cand = xasprintf("%.*s/%s", (int)(colon - p), p, name);
			if (access(cand, X_OK) == 0)
				return cand;
			free(cand);
		}
		if (!*colon)
			return NULL;
		p = colon;
	}
}

/* "TOOL PID 0 OWN 1 1 START1 COUNT1 1+COUNT1 START2 COUNT2 ...": the caller's own id
 * as 0, the ranges after it, one number an argument. */
static char **map_argv(const char *tool, pid_t pid, unsigned own, const struct id_ranges *r)
{
	char **argv = NULL;
	strv_push(&argv, tool);
	strv_push_take(&argv, xasprintf("%d", (int)pid));
	strv_push(&argv, "0");
	strv_push_take(&argv, xasprintf("%u", own));
	strv_push(&argv, "1");
	unsigned long inside = 1;
	for (size_t i = 0; i < r->n; i++) {
		strv_push_take(&argv, xasprintf("%lu", inside));
		strv_push_take(&argv, xasprintf("%lu", r->v[i].start));
		strv_push_take(&argv, xasprintf("%lu", r->v[i].count));
		inside += r->v[i].count;
	}
	return argv;
}

/* What the helper tells the parent. */
struct map_report {
	int code; /* 0, or an errno value */
	char msg[1024];
};

/* Runs argv with its stdout and stderr captured; a failure fills rep with what it
 * printed. Runs in the helper. */
static void run_map_tool(char **argv, struct map_report *rep)
{
	const char *tool = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	int out[2];
	if (pipe2(out, O_CLOEXEC) < 0) {
		rep->code = errno;
		snprintf(rep->msg, sizeof rep->msg, "running %s: %s", tool, strerror(errno));
		return;
	}
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	posix_spawn_file_actions_adddup2(&fa, out[1], 2);
	pid_t pid;
	int e = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(out[1]);
	if (e) {
		close(out[0]);
		rep->code = e;
		snprintf(rep->msg, sizeof rep->msg, "running %s: %s", argv[0], strerror(e));
		return;
	}
	char said[sizeof rep->msg / 2];
	size_t len = 0;
	for (;;) {
		char buf[512];
		ssize_t n = read(out[0], buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		size_t take = (size_t)n < sizeof said - 1 - len ? (size_t)n : sizeof said - 1 - len;
		memcpy(said + len, buf, take);
		len += take;
	}
	close(out[0]);
	said[len] = '\0';
	while (len && (said[len - 1] == '\n' || said[len - 1] == ' '))
		said[--len] = '\0';
	for (char *nl = strchr(said, '\n'); nl; nl = strchr(nl, '\n'))
		*nl = ' ';
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return;
	rep->code = EPERM;
	snprintf(rep->msg, sizeof rep->msg, "mapping subordinate ids with %s failed: %s", tool,
		 len ? said : "it said nothing");
}

/* Root's map, every id as it is, written from outside the namespace: once the
 * parent has unshared it no longer has CAP_SETUID where the map must be allowed. */
static void write_root_maps(struct map_report *rep)
{
	static const char *const files[] = {"uid_map", "gid_map"};
	for (size_t i = 0; i < 2; i++) {
		char path[64];
		snprintf(path, sizeof path, "/proc/%d/%s", (int)getppid(), files[i]);
		int fd = open(path, O_WRONLY | O_CLOEXEC);
		static const char map[] = "0 0 4294967295\n";
		if (fd < 0 || write(fd, map, sizeof map - 1) != (ssize_t)(sizeof map - 1)) {
			rep->code = errno;
			snprintf(rep->msg, sizeof rep->msg, "writing %s: %s", path,
				 strerror(errno));
			if (fd >= 0)
				close(fd);
			return;
		}
		close(fd);
	}
}

/* The helper: waits until the parent has unshared (one byte; end of file means it
 * could not), maps its ids (root's: all of them; NULL argvs), reports and exits. */
static _Noreturn void helper_main(int go, int report, char **uid_argv, char **gid_argv)
{
	char c;
	ssize_t n;
	do
		n = read(go, &c, 1);
	while (n < 0 && errno == EINTR);
	if (n != 1)
		_exit(0);
	struct map_report rep = {0};
	if (!uid_argv) {
		write_root_maps(&rep);
	} else {
		run_map_tool(uid_argv, &rep);
		if (rep.code == 0)
			run_map_tool(gid_argv, &rep);
	}
	(void)util_write_all(report, &rep, sizeof rep);
	_exit(0);
}

/* Unshares the user namespace while a helper outside it maps the ranges. */
static int enter_with_ranges(char **uid_argv, char **gid_argv, struct cairn_error *err)
{
	int go[2], report[2];
	if (pipe2(go, O_CLOEXEC) < 0)
		return cairn_error_errno(err, errno, "creating a pipe");
	if (pipe2(report, O_CLOEXEC) < 0) {
		int e = errno;
		close(go[0]);
		close(go[1]);
		return cairn_error_errno(err, e, "creating a pipe");
	}
	pid_t pid = fork();
	if (pid == 0) {
		close(go[1]);
		close(report[0]);
		helper_main(go[0], report[1], uid_argv, gid_argv);
	}
	int fork_errno = errno;
	close(go[0]);
	close(report[1]);
	cleanup_close int go_w = go[1];
	cleanup_close int report_r = report[0];
	if (pid < 0)
		return cairn_error_errno(err, fork_errno, "starting the id mapping helper");
	int r = 0;
	if (unshare(CLONE_NEWUSER) < 0)
		r = cairn_error_errno(err, errno, "creating a user namespace");
	else if (util_write_all(go_w, "m", 1) < 0)
		r = cairn_error_errno(err, EIO, "waking the id mapping helper");
	close(steal_fd(&go_w));
	struct map_report rep = {0};
	ssize_t n;
	do
		n = read(report_r, &rep, sizeof rep);
	while (n < 0 && errno == EINTR);
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (r < 0)
		return r;
	if (n != (ssize_t)sizeof rep)
		return cairn_error_set(err, EIO, "mapping subordinate ids: the helper died");
	if (rep.code) {
		rep.msg[sizeof rep.msg - 1] = '\0';
		return cairn_error_set(err, rep.code, "%s", rep.msg);
	}
	return 0;
}

static int write_proc_file(const char *path, const char *text, struct cairn_error *err)
{
	cleanup_close int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return cairn_error_errno(err, errno, "opening %s", path);
	int r = util_write_all(fd, text, strlen(text));
	if (r < 0)
		return cairn_error_errno(err, -r, "writing %s", path);
	return 0;
}

/* The map an unprivileged process may write itself: its own ids as 0. */
static int enter_own_ids(uid_t uid, gid_t gid, struct cairn_error *err)
{
	if (unshare(CLONE_NEWUSER) < 0)
		return cairn_error_errno(err, errno, "creating a user namespace");
	cleanup_free char *uid_map = xasprintf("0 %u 1\n", (unsigned)uid);
	cleanup_free char *gid_map = xasprintf("0 %u 1\n", (unsigned)gid);
	int r = write_proc_file("/proc/self/setgroups", "deny", err);
	if (r == 0)
		r = write_proc_file("/proc/self/uid_map", uid_map, err);
	if (r == 0)
		r = write_proc_file("/proc/self/gid_map", gid_map, err);
	return r;
}

bool sandbox_userns_entered;

int sandbox_userns_enter(char **notice, struct cairn_error *err)
{
	*notice = NULL;
	uid_t uid = geteuid();
	gid_t gid = getegid();
	if (uid == 0) {
		int r = enter_with_ranges(NULL, NULL, err);
		sandbox_userns_entered = r == 0;
		return r;
	}
	struct passwd *pw = getpwuid(uid);
	cleanup_free char *name = pw ? xstrdup(pw->pw_name) : NULL;
	cleanup_free char *who = name ? xstrdup(name) : xasprintf("uid %u", (unsigned)uid);
	struct id_ranges *uids = xcalloc(1, sizeof *uids), *gids = xcalloc(1, sizeof *gids);
	int r = read_ranges(SUBUID_FILE, name, uid, uids, err);
	if (r == 0)
		r = read_ranges(SUBGID_FILE, name, uid, gids, err);
	cleanup_free char *newuidmap = find_program("newuidmap");
	cleanup_free char *newgidmap = find_program("newgidmap");
	if (r == 0 && uids->n && gids->n && newuidmap && newgidmap) {
		pid_t self = getpid();
		char **uid_argv = map_argv(newuidmap, self, (unsigned)uid, uids);
		char **gid_argv = map_argv(newgidmap, self, (unsigned)gid, gids);
		r = enter_with_ranges(uid_argv, gid_argv, err);
		strv_free(uid_argv);
		strv_free(gid_argv);
	} else if (r == 0) {
		const char *missing = !uids->n && !gids->n ? SUBUID_FILE " and " SUBGID_FILE
				      : !uids->n	   ? SUBUID_FILE
							   : SUBGID_FILE;
		*notice =
		    uids->n && gids->n
			? xasprintf("cairn: %s has subordinate ids, but no newuidmap and "
				    "newgidmap to map them (package uidmap): only your own uid "
				    "is mapped (as root), so files of other owners, chown and a "
				    "USER other than root fail in this build",
				    who)
			: xasprintf("cairn: no subordinate ids for %s in %s: only your own uid "
				    "is mapped (as root), so files of other owners, chown and a "
				    "USER other than root fail in this build; root can give you "
				    "some with usermod --add-subuids 100000-165535 "
				    "--add-subgids 100000-165535 %s (and newuidmap: package "
				    "uidmap)",
				    who, missing, name ? name : "USER");
		r = enter_own_ids(uid, gid, err);
	}
	free(uids);
	free(gids);
	sandbox_userns_entered = r == 0;
	if (r < 0) {
		free(*notice);
		*notice = NULL;
	}
	return r;
}

bool sandbox_userns_possible(void)
{
	pid_t pid = fork();
	if (pid < 0)
		return false;
	if (pid == 0)
		_exit(unshare(CLONE_NEWUSER) == 0 ? 0 : 1);
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}
