/* sandbox: the builder's own mount namespace, and running one RUN step: prepare
 * everything in the parent (user, mount points, the step's mounts, buffers, the
 * seccomp filter, cairn-init), clone the child into fresh namespaces (child.c), start
 * its private network (network.c), wait for it while watching for SIGINT/SIGTERM and
 * relaying its output to a terminal, and clean up the mount points it needed. */
#include "internal.h"

#include "../fs/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <linux/sched.h> /* struct clone_args */
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define DEFAULT_HOSTNAME "cairn"

/* ---- mount points ---- */

static const char *const mount_points[] = {"proc", "dev", "sys"};
#define N_MOUNT_POINTS (sizeof mount_points / sizeof *mount_points)

/* Makes sure /proc, /dev and /sys are real directories of the root (never symlinks
 * that could lead a mount out of it); created[i] says which ones had to be made. */
static int create_mount_points(int rootfd, const char *rootfs, bool created[N_MOUNT_POINTS],
			       struct cairn_error *err)
{
	for (size_t i = 0; i < N_MOUNT_POINTS; i++) {
		const char *name = mount_points[i];
		struct stat st;
		created[i] = false;
		if (fstatat(rootfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
			if (!S_ISDIR(st.st_mode))
				return cairn_error_set(
				    err, ENOTDIR, "%s/%s: not a directory, cannot mount %s there",
				    rootfs, name, name);
			continue;
		}
		if (errno != ENOENT)
			return cairn_error_errno(err, errno, "%s/%s", rootfs, name);
		if (mkdirat(rootfd, name, 0755) < 0)
			return cairn_error_errno(err, errno, "creating mount point %s/%s", rootfs,
						 name);
		created[i] = true;
	}
	return 0;
}

/* Removes the mount points the sandbox made, so they do not end up in the layer; one
 * the step filled is the step's to keep. */
static void remove_mount_points(int rootfd, const bool created[N_MOUNT_POINTS])
{
	for (size_t i = 0; i < N_MOUNT_POINTS; i++)
		if (created[i])
			unlinkat(rootfd, mount_points[i], AT_REMOVEDIR);
}

/* ---- cairn-init ---- */

/* The step's PID 1 (init/cairn-init.c), linked statically and embedded at build time. */
extern const unsigned char sandbox_init_blob[];
extern const size_t sandbox_init_blob_len;

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U /* Linux 6.3; older kernels make every memfd executable */
#endif

/* cairn-init in a sealed memfd, made once per process: the child executes it after
 * pivot_root, where no file of the host is in reach. */
static int init_memfd(struct cairn_error *err)
{
	static int fd = -1;
	if (fd >= 0)
		return fd;
	unsigned flags = MFD_CLOEXEC | MFD_ALLOW_SEALING;
	int m = memfd_create("cairn-init", flags | MFD_EXEC);
	if (m < 0 && errno == EINVAL)
		m = memfd_create("cairn-init", flags);
	if (m < 0)
		return cairn_error_errno(err, errno, "creating a memfd for cairn-init");
	int r = util_write_all(m, sandbox_init_blob, sandbox_init_blob_len);
	if (r == 0 &&
	    fcntl(m, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0)
		r = -errno;
	if (r < 0) {
		close(m);
		return cairn_error_errno(err, -r, "writing cairn-init into a memfd");
	}
	fd = m;
	return fd;
}

/* ---- the plan ---- */

static const char *path_of(char *const *env)
{
	const char *path = DEFAULT_PATH;
	for (size_t i = 0; env && env[i]; i++)
		if (!strncmp(env[i], "PATH=", 5))
			path = env[i] + 5;
	return path;
}

static int check_spec(const struct sandbox_spec *spec, struct cairn_error *err)
{

	if (!spec->rootfs || !*spec->rootfs)
		return cairn_error_set(err, EINVAL, "sandbox: no root filesystem");
	if (!spec->argv || !spec->argv[0] || !*spec->argv[0])
		return cairn_error_set(err, EINVAL, "sandbox: empty command");
	if (spec->cwd && *spec->cwd && spec->cwd[0] != '/')
		return cairn_error_set(err, EINVAL, "working directory %s is not absolute",
				       spec->cwd);
	if (spec->n_mounts && !spec->mounts)
		return cairn_error_set(err, EINVAL, "sandbox: %zu mounts but no list",
				       spec->n_mounts);
	return 0;
}

static int prepare_plan(const struct sandbox_spec *spec, int rootfd, struct sandbox_plan *p,
			struct cairn_error *err)
{
	static char *const no_env[] = {NULL};
	memset(p, 0, sizeof *p);
	p->spec = spec;
	p->hostname = spec->hostname && *spec->hostname ? spec->hostname : DEFAULT_HOSTNAME;
	p->new_network = spec->network != SANDBOX_NET_HOST;
	p->in_user_namespace = sandbox_in_user_namespace();
	const struct sandbox_caps *caps = sandbox_caps();
	p->chroot = caps->isolation == SANDBOX_ISOLATION_CHROOT;
	p->can_mount = caps->can_mount;
	p->proc_bound = caps->proc_bound;
	/* a chroot step has the network of the system it runs on */
	if (p->chroot)
		p->new_network = false;
	p->cwd = fs_clean_path(spec->cwd && *spec->cwd ? spec->cwd : "/", FS_CLEAN_IN_ROOT);
	p->cwd_buf_size = PATH_MAX + 2 * strlen(p->cwd);
	p->cwd_buf = xmalloc(p->cwd_buf_size);
	p->env = spec->env ? spec->env : no_env;
	p->path = path_of(p->env);
	p->exec_buf = xmalloc(strlen(p->path) + strlen(spec->argv[0]) + 2);
	p->sh_argv = xcalloc(strv_len(spec->argv) + 2, sizeof(char *));
	p->report_fd = -1;
	p->net_fd = -1;
	p->out_fd = spec->stdout_fd;
	p->err_fd = spec->stderr_fd;
	p->in_fd = -1;
	p->tty_fd = -1;
	p->readonly_root = spec->readonly_root;
	int r = init_memfd(err);
	if (r < 0)
		return r;
	p->init_fd = r;
	p->seccomp = spec->insecure ? NULL : &sandbox_seccomp_fprog;
	p->cgroup_fd = -1;
	snprintf(p->shm_opts, sizeof p->shm_opts, "mode=1777,size=%" PRIu64 "k",
		 spec->shm_size ? (spec->shm_size + 1023) / 1024 : 65536);
	r = sandbox_lookup_user(rootfd, spec->user, &p->user, err);
	if (r < 0)
		return cairn_error_wrap(err, "USER %s", spec->user ? spec->user : "");
	bool has_home = false;
	for (size_t i = 0; p->env[i]; i++)
		has_home = has_home || !strncmp(p->env[i], "HOME=", 5);
	if (!has_home) {
		p->env_owned = strv_dup(p->env);
		strv_push_take(&p->env_owned, xasprintf("HOME=%s", p->user.home));
		p->env = p->env_owned;
	}
	return 0;
}

static void release_plan(struct sandbox_plan *p)
{
	sandbox_user_release(&p->user);
	strv_free(p->env_owned);
	sandbox_release_mounts(p);
	free(p->cwd);
	free(p->cwd_buf);
	free(p->exec_buf);
	free(p->sh_argv);
}

/* ---- the child ---- */

/* A raw clone behaves like fork (the child runs on a copy of the stack, which also
 * keeps AddressSanitizer happy) but can create the namespaces at once. */
static pid_t clone_child(unsigned long flags, int cgroup_fd)
{
	/* --memory, --cpu-quota: born in the step's cgroup, which its cgroup
	 * namespace then has as its root (Linux 5.7) */
	if (cgroup_fd >= 0) {
		struct clone_args args = {.flags = flags | CLONE_INTO_CGROUP,
					  .exit_signal = SIGCHLD,
					  .cgroup = (uint64_t)cgroup_fd};
		return (pid_t)syscall(SYS_clone3, &args, sizeof args);
	}
#if defined(__s390__) || defined(__s390x__)
	return (pid_t)syscall(SYS_clone, NULL, flags | SIGCHLD, NULL, NULL, NULL);
#else
	return (pid_t)syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, NULL);
#endif
}

static unsigned long namespace_flags(const struct sandbox_plan *p)
{
	if (p->join)
		return 0;
	if (p->chroot)
		return p->can_mount ? CLONE_NEWNS : 0;
	unsigned long flags =
	    CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP;
	if (p->new_network && p->net_fd < 0)
		flags |= CLONE_NEWNET;
	return flags;
}

/* Kills the step's PID 1 (and with it the whole pid namespace) and reaps it. */
static void kill_child(pid_t pid)
{
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

/* A step whose output goes to a terminal writes into a pipe instead, and the parent
 * copies it over: the step never holds an fd of the user's terminal, which it could
 * make its controlling terminal and push input into. An interactive command's input
 * from a terminal comes the same way, and its pty's master is relayed too. */
struct relay {
	int from;     /* the read end, or -1 once done */
	int to;	      /* where it goes */
	int tee;      /* -1, or a copy of what goes to `to` (the container's log) */
	bool input;   /* into the command: done when the command is, not read to the end */
	bool owns_to; /* `to` is a pipe's write end to close at the end of input */
};
#define MAX_RELAYS 4

/* Copies what is available; false once the source is closed. */
static bool relay_copy(struct relay *rl)
{
	char buf[65536];
	ssize_t n = read(rl->from, buf, sizeof buf);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return true;
	/* EIO: a pty's master once every fd of its peer is closed */
	if (n <= 0) {
		close(rl->from);
		rl->from = -1;
		if (rl->owns_to) {
			close(rl->to);
			rl->owns_to = false;
		}
		return false;
	}
	util_write_all(rl->to, buf, (size_t)n);
	if (rl->tee >= 0)
		util_write_all(rl->tee, buf, (size_t)n);
	return true;
}

static void close_relays(struct relay *relays, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (relays[i].from >= 0)
			close(relays[i].from);
		if (relays[i].owns_to)
			close(relays[i].to);
		relays[i].from = -1;
		relays[i].owns_to = false;
	}
}

/* SIGWINCH while an interactive command has a pty: its size follows the terminal's. */
static volatile sig_atomic_t window_changed;

static void on_window_change(int sig)
{
	(void)sig;
	window_changed = 1;
}

static void copy_window_size(int term_fd, int master)
{
	struct winsize ws = {.ws_row = 24, .ws_col = 80};
	if (term_fd >= 0 && ioctl(term_fd, TIOCGWINSZ, &ws) < 0)
		ws = (struct winsize){.ws_row = 24, .ws_col = 80};
	ioctl(master, TIOCSWINSZ, &ws);
}

/* Waits for the child with the interrupt signals blocked except inside ppoll, so a
 * signal cannot slip in between the check of util_interrupted and the wait; the
 * timeout covers a signal taken by another thread of the builder. A RUN step is
 * killed by an interrupt; an interactive command gets it (forward). Relays are served
 * meanwhile; once the child is gone, every process of its pid namespace is, so the
 * output relays are read to their end. */
static int wait_for_child(pid_t pid, const sigset_t *unblocked, struct relay *relays,
			  size_t n_relays, const struct sandbox_io *io, int master, int *wstatus,
			  struct cairn_error *err)
{
	cleanup_close int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	bool forward = io && io->forward_signals;
	for (;;) {
		if (util_interrupted && forward) {
			kill(pid, util_interrupted);
			util_interrupted = 0;
		} else if (util_interrupted) {
			kill_child(pid);
			return cairn_error_set(err, EINTR, "interrupted");
		}
		if (window_changed && master >= 0) {
			window_changed = 0;
			copy_window_size(io->term_fd, master);
		}
		struct pollfd pfd[1 + MAX_RELAYS] = {{.fd = pidfd, .events = POLLIN}};
		for (size_t i = 0; i < n_relays; i++)
			pfd[1 + i] = (struct pollfd){.fd = relays[i].from, .events = POLLIN};
		struct timespec tick = {.tv_sec = 0, .tv_nsec = 200 * 1000 * 1000};
		if (ppoll(pfd, 1 + n_relays, &tick, unblocked) < 0 && errno != EINTR) {
			int e = errno;
			kill_child(pid);
			return cairn_error_errno(err, e, "waiting for the step");
		}
		for (size_t i = 0; i < n_relays; i++)
			if (relays[i].from >= 0 && pfd[1 + i].revents)
				relay_copy(&relays[i]);
		pid_t r = waitpid(pid, wstatus, WNOHANG);
		if (r == pid) {
			for (size_t i = 0; i < n_relays; i++)
				while (!relays[i].input && relays[i].from >= 0 &&
				       relay_copy(&relays[i]))
					;
			return 0;
		}
		if (r < 0 && errno != EINTR)
			return cairn_error_errno(err, errno, "waiting for the step");
	}
}

/* Waits until the command runs: the report pipe is close-on-exec in the child, in
 * cairn-init and in the command, so it reaches its end once the command is executed,
 * or carries why the setup failed first (*report, then true). Interruptible as
 * wait_for_child is. */
static int wait_for_exec(pid_t pid, int report_in, const sigset_t *unblocked,
			 const struct sandbox_io *io, struct sandbox_report *report, bool *failed,
			 struct cairn_error *err)
{
	size_t got = 0;
	*failed = false;
	for (;;) {
		if (util_interrupted && !(io && io->forward_signals)) {
			kill_child(pid);
			return cairn_error_set(err, EINTR, "interrupted");
		}
		struct pollfd pfd = {.fd = report_in, .events = POLLIN};
		struct timespec tick = {.tv_sec = 0, .tv_nsec = 200 * 1000 * 1000};
		if (ppoll(&pfd, 1, &tick, unblocked) < 0 && errno != EINTR) {
			int e = errno;
			kill_child(pid);
			return cairn_error_errno(err, e, "waiting for the step to start");
		}
		if (!pfd.revents)
			continue;
		ssize_t n = read(report_in, (char *)report + got, sizeof *report - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || got + (size_t)n == sizeof *report) {
			got += n > 0 ? (size_t)n : 0;
			*failed = got > 0;
			if (*failed)
				((char *)report)[got < sizeof *report ? got : sizeof *report - 1] =
				    '\0';
			return 0;
		}
		got += (size_t)n;
	}
}

/* The setup error the child reported. */
static int report_error(struct sandbox_report *report, struct cairn_error *err)
{
	report->msg[sizeof report->msg - 1] = '\0';
	if (report->add_errno)
		return cairn_error_errno(err, report->code, "%s", report->msg);
	return cairn_error_set(err, report->code ? report->code : EIO, "%s", report->msg);
}

/* The fds the child gets that the parent must close once it is cloned. */
struct child_ends {
	int fd[4];
	size_t n;
};

static void close_child_ends(struct child_ends *ce)
{
	for (size_t i = 0; i < ce->n; i++)
		close(ce->fd[i]);
	ce->n = 0;
}

/* Gives the step a pipe instead of each of its outputs that is a terminal (or, for an
 * interactive command with a log, each output), relayed; an interactive command's
 * input from a terminal comes through a pipe too, and its pty's master is relayed
 * once the child sent it. */
static int make_relays(struct sandbox_plan *p, struct relay *relays, size_t *n,
		       struct child_ends *ce, struct cairn_error *err)
{
	const struct sandbox_spec *spec = p->spec;
	const struct sandbox_io *io = spec->io;
	int tee = io ? io->log_fd : -1;
	*n = 0;
	if (io && io->tty) {
		/* output and input go through the pty's master (run_child) */
		int sv[2];
		if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) < 0)
			return cairn_error_errno(err, errno, "creating a socket for the terminal");
		p->tty_fd = sv[1];
		ce->fd[ce->n++] = sv[1];
		relays[(*n)++] = (struct relay){.from = sv[0], .to = -1, .tee = -1};
		return 0;
	}
	int *fds[2] = {&p->out_fd, &p->err_fd};
	const int to[2] = {spec->stdout_fd, spec->stderr_fd};
	int write_ends[2] = {-1, -1};
	for (int i = 0; i < 2; i++) {
		if (to[i] < 0 || (!isatty(to[i]) && tee < 0))
			continue;
		if (i == 1 && to[1] == to[0] && write_ends[0] >= 0) {
			*fds[1] = write_ends[0];
			continue;
		}
		int pfd[2];
		if (pipe2(pfd, O_CLOEXEC) < 0)
			return cairn_error_errno(err, errno,
						 "creating a pipe for the step's output");
		relays[(*n)++] = (struct relay){.from = pfd[0], .to = to[i], .tee = tee};
		ce->fd[ce->n++] = pfd[1];
		write_ends[i] = pfd[1];
		*fds[i] = pfd[1];
	}
	if (io && io->stdin_fd >= 0) {
		if (!isatty(io->stdin_fd)) {
			p->in_fd = io->stdin_fd;
			return 0;
		}
		int pfd[2];
		if (pipe2(pfd, O_CLOEXEC) < 0)
			return cairn_error_errno(err, errno, "creating a pipe for the input");
		relays[(*n)++] = (struct relay){
		    .from = io->stdin_fd, .to = pfd[1], .tee = -1, .input = true, .owns_to = true};
		/* the terminal is the caller's: only borrowed */
		relays[*n - 1].from = fcntl(io->stdin_fd, F_DUPFD_CLOEXEC, 3);
		ce->fd[ce->n++] = pfd[0];
		p->in_fd = pfd[0];
	}
	return 0;
}

/* Receives the pty's master the child sends (-1 when the child failed before it:
 * its report says why) and turns relays[0] from the socket into the master's
 * output, adding the input relay. */
static int take_terminal(struct sandbox_plan *p, struct relay *relays, size_t *n)
{
	const struct sandbox_io *io = p->spec->io;
	char byte;
	struct iovec iov = {.iov_base = &byte, .iov_len = 1};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} control;
	struct msghdr msg = {.msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = control.buf,
			     .msg_controllen = sizeof control.buf};
	ssize_t got;
	do
		got = recvmsg(relays[0].from, &msg, MSG_CMSG_CLOEXEC);
	while (got < 0 && errno == EINTR);
	close(relays[0].from);
	relays[0].from = -1;
	struct cmsghdr *c = got > 0 ? CMSG_FIRSTHDR(&msg) : NULL;
	if (!c || c->cmsg_type != SCM_RIGHTS)
		return -1;
	int master;
	memcpy(&master, CMSG_DATA(c), sizeof master);
	copy_window_size(io->term_fd, master);
	relays[0] = (struct relay){.from = master, .to = p->spec->stdout_fd, .tee = io->log_fd};
	if (io->stdin_fd >= 0) {
		int in = fcntl(io->stdin_fd, F_DUPFD_CLOEXEC, 3);
		int out = fcntl(master, F_DUPFD_CLOEXEC, 3);
		if (in >= 0 && out >= 0)
			relays[(*n)++] = (struct relay){
			    .from = in, .to = out, .tee = -1, .input = true, .owns_to = true};
		else {
			if (in >= 0)
				close(in);
			if (out >= 0)
				close(out);
		}
	}
	return master;
}

/* The user's terminal in raw mode while an interactive command has a pty: every key
 * goes to the command, whose own pty does the line editing. */
struct raw_terminal {
	int fd;
	struct termios saved;
};

static void terminal_raw(struct raw_terminal *rt, const struct sandbox_io *io)
{
	rt->fd = -1;
	if (!io || !io->tty || io->term_fd < 0 || tcgetattr(io->term_fd, &rt->saved) < 0)
		return;
	struct termios raw = rt->saved;
	cfmakeraw(&raw);
	if (tcsetattr(io->term_fd, TCSANOW, &raw) == 0)
		rt->fd = io->term_fd;
}

static void terminal_restore(struct raw_terminal *rt)
{
	if (rt->fd >= 0)
		tcsetattr(rt->fd, TCSANOW, &rt->saved);
	rt->fd = -1;
}

static int run_child(struct sandbox_plan *p, int *status, struct cairn_error *err)
{
	const struct sandbox_io *io = p->spec->io;
	struct relay relays[MAX_RELAYS];
	size_t n_relays = 0;
	struct child_ends ce = {.n = 0};
	int r = make_relays(p, relays, &n_relays, &ce, err);
	if (r < 0) {
		close_relays(relays, n_relays);
		close_child_ends(&ce);
		return r;
	}
	int pipefd[2];
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		r = cairn_error_errno(err, errno, "creating a pipe");
		pipefd[0] = pipefd[1] = -1;
	}
	cleanup_close int report_in = pipefd[0];
	cleanup_close int report_out = pipefd[1];
	p->report_fd = report_out;

	sigset_t interrupts, unblocked;
	sigemptyset(&interrupts);
	sigaddset(&interrupts, SIGINT);
	sigaddset(&interrupts, SIGTERM);
	sigaddset(&interrupts, SIGHUP);
	struct sigaction winch_old;
	bool winch = io && io->tty;
	if (winch) {
		struct sigaction sa = {.sa_handler = on_window_change};
		sigemptyset(&sa.sa_mask);
		sigaction(SIGWINCH, &sa, &winch_old);
		sigaddset(&interrupts, SIGWINCH);
	}
	pthread_sigmask(SIG_BLOCK, &interrupts, &unblocked);

	pid_t pid = -1;
	int clone_errno = 0;
	if (r == 0) {
		pid = clone_child(namespace_flags(p), p->cgroup_fd);
		if (pid == 0)
			sandbox_child_main(p);
		clone_errno = errno;
	}
	close(steal_fd(&report_out));
	close_child_ends(&ce);

	int wstatus = 0;
	int master = -1;
	struct raw_terminal rt = {.fd = -1};
	if (r == 0 && pid < 0)
		r = cairn_error_errno(err, clone_errno, "creating the sandbox namespaces");
	if (r == 0 && io && io->tty)
		master = take_terminal(p, relays, &n_relays);
	struct sandbox_report report;
	bool failed = false;
	if (r == 0)
		r = wait_for_exec(pid, report_in, &unblocked, io, &report, &failed, err);
	if (r == 0 && !failed && io && io->started)
		io->started(io->ctx, pid);
	if (r == 0 && master >= 0 && !failed)
		terminal_raw(&rt, io);
	if (r == 0)
		r = wait_for_child(pid, &unblocked, relays, n_relays, io, master, &wstatus, err);
	terminal_restore(&rt);
	/* without a pid namespace, what the step left running in its session dies here
	 * (a process that made a session of its own survives: chroot says so) */
	if (p->chroot && pid > 0)
		kill(-pid, SIGKILL);
	pthread_sigmask(SIG_SETMASK, &unblocked, NULL);
	if (winch)
		sigaction(SIGWINCH, &winch_old, NULL);
	close_relays(relays, n_relays);
	if (r < 0)
		return r;
	if (failed)
		return report_error(&report, err);
	*status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
	return 0;
}

int sandbox_run(const struct sandbox_spec *spec, int *status, struct cairn_error *err)
{
	int r = check_spec(spec, err);
	if (r < 0)
		return r;
	if (spec->n_ports && (spec->network != SANDBOX_NET_PRIVATE ||
			      sandbox_caps()->isolation == SANDBOX_ISOLATION_CHROOT))
		return cairn_error_set(err, EINVAL,
				       "publishing ports needs the private network (--network "
				       "private), which has its own addresses to forward to");
	if (util_interrupted)
		return cairn_error_set(err, EINTR, "interrupted");
	cleanup_close int rootfd = open(spec->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return cairn_error_errno(err, errno, "opening root %s", spec->rootfs);

	struct sandbox_plan plan;
	r = prepare_plan(spec, rootfd, &plan, err);
	/* the name files are mounted before the step's own mounts; a chroot step that
	 * cannot mount is lent this system's (lend.c) */
	struct sandbox_names names = {0};
	const struct sandbox_spec *mounted = spec;
	if (r == 0 && !(plan.chroot && !plan.can_mount)) {
		char host[256] = "";
		/* without a uts namespace the step has this system's name */
		const char *hostname = plan.hostname;
		if (plan.chroot && gethostname(host, sizeof host - 1) == 0)
			hostname = host;
		r = sandbox_names_prepare(spec, hostname, plan.new_network, &names, err);
		mounted = &names.spec;
	}
	/* before slirp4netns is started: cairn may have to leave its cgroup first */
	struct sandbox_cgroup cgroup = {.dir_fd = -1};
	if (r == 0) {
		r = sandbox_cgroup_prepare(spec, &cgroup, err);
		plan.cgroup_fd = cgroup.dir_fd;
	}
	struct sandbox_slirp slirp = SANDBOX_SLIRP_INIT;
	bool private_net = r == 0 && spec->network == SANDBOX_NET_PRIVATE && plan.new_network;
	if (private_net) {
		r = sandbox_slirp_prepare(&slirp, err);
		if (r == 0)
			r = sandbox_slirp_join(&slirp, spec->n_ports > 0, &plan.net_fd, err);
		if (r == 0 && spec->n_ports)
			r = sandbox_slirp_publish(spec->ports, spec->n_ports, err);
	}
	bool created[N_MOUNT_POINTS] = {false};
	struct sandbox_stubs stubs = {0};
	if (r == 0)
		r = create_mount_points(rootfd, spec->rootfs, created, err);
	struct sandbox_lent lent = {0};
	if (r == 0)
		r = sandbox_prepare_mounts(rootfd, mounted, &plan, &stubs, err);
	if (r == 0 && plan.chroot && !plan.can_mount)
		r = sandbox_lend(rootfd, &plan, &lent, err);
	if (r == 0)
		r = run_child(&plan, status, err);
	sandbox_slirp_release(&slirp);
	sandbox_cgroup_release(&cgroup);
	sandbox_names_release(&names);
	sandbox_unlend(&lent);
	sandbox_remove_stubs(rootfd, &stubs);
	remove_mount_points(rootfd, created);
	release_plan(&plan);
	if (r < 0 && r != -EINTR)
		return cairn_error_wrap(err, "running %s", spec->argv[0]);
	return r;
}

/* The namespaces of pid to join: all but the user namespace when it is this
 * process's own (setns refuses to join the one a process is in). */
static int join_flags(pid_t pid)
{
	int flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNET |
		    CLONE_NEWCGROUP;
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/ns/user", (int)pid);
	struct stat theirs, ours;
	if (stat(path, &theirs) == 0 && stat("/proc/self/ns/user", &ours) == 0 &&
	    (theirs.st_ino != ours.st_ino || theirs.st_dev != ours.st_dev))
		flags |= CLONE_NEWUSER;
	return flags;
}

int sandbox_exec(const struct sandbox_exec_spec *x, int *status, struct cairn_error *err)
{
	if (sandbox_caps()->isolation == SANDBOX_ISOLATION_CHROOT)
		return cairn_error_set(
		    err, EINVAL,
		    "isolation chroot has no namespaces to join: cairn exec needs "
		    "oci or rootless");
	cleanup_close int pidfd = (int)syscall(SYS_pidfd_open, x->pid, 0);
	if (pidfd < 0)
		return cairn_error_errno(err, errno == ESRCH ? ESRCH : errno,
					 "the container's PID %d", (int)x->pid);
	char root[64];
	snprintf(root, sizeof root, "/proc/%d/root", (int)x->pid);
	struct sandbox_spec spec = {
	    .rootfs = root,
	    .argv = x->argv,
	    .env = x->env,
	    .cwd = x->cwd,
	    .user = x->user,
	    .network = SANDBOX_NET_HOST, /* the container's, joined: nothing to set up */
	    .stdout_fd = x->stdout_fd,
	    .stderr_fd = x->stderr_fd,
	    .io = x->io,
	};
	int r = check_spec(&spec, err);
	if (r < 0)
		return r;
	cleanup_close int rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return cairn_error_errno(err, errno == ENOENT ? ESRCH : errno, "opening %s", root);
	struct sandbox_plan plan;
	r = prepare_plan(&spec, rootfd, &plan, err);
	if (r == 0) {
		plan.join = true;
		plan.join_flags = join_flags(x->pid);
		plan.chroot = false;
		plan.new_network = false;
		plan.net_fd = pidfd;
		r = run_child(&plan, status, err);
	}
	release_plan(&plan);
	if (r < 0 && r != -EINTR)
		return cairn_error_wrap(err, "running %s in the container", x->argv[0]);
	return r;
}
