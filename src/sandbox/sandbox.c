/* sandbox: the builder's own mount namespace, and running one RUN step: prepare
 * everything in the parent (user, mount points, the step's mounts, buffers, the
 * seccomp filter, cairn-init), clone the child into fresh namespaces (child.c), start
 * its private network (network.c), wait for it while watching for SIGINT/SIGTERM and
 * relaying its output to a terminal, and clean up the mount points it needed. */
#include "internal.h"

#include "../fs/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
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
	int r = init_memfd(err);
	if (r < 0)
		return r;
	p->init_fd = r;
	p->seccomp = &sandbox_seccomp_fprog;
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
static pid_t clone_child(unsigned long flags)
{
#if defined(__s390__) || defined(__s390x__)
	return (pid_t)syscall(SYS_clone, NULL, flags | SIGCHLD, NULL, NULL, NULL);
#else
	return (pid_t)syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, NULL);
#endif
}

static unsigned long namespace_flags(const struct sandbox_plan *p)
{
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
 * make its controlling terminal and push input into. */
struct relay {
	int from; /* the read end of the step's pipe, or -1 */
	int to;	  /* the terminal */
};

/* Copies what is available; false once the step's side is closed. */
static bool relay_copy(struct relay *rl)
{
	char buf[65536];
	ssize_t n = read(rl->from, buf, sizeof buf);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return true;
	if (n <= 0) {
		close(rl->from);
		rl->from = -1;
		return false;
	}
	util_write_all(rl->to, buf, (size_t)n);
	return true;
}

/* Waits for the child with the interrupt signals blocked except inside ppoll, so a
 * signal cannot slip in between the check of util_interrupted and the wait; the
 * timeout covers a signal taken by another thread of the builder. Output of the step
 * is relayed meanwhile; once the child is gone, every process of its pid namespace is,
 * so the relays are read to their end. */
static int wait_for_child(pid_t pid, const sigset_t *unblocked, struct relay *relays,
			  size_t n_relays, int *wstatus, struct cairn_error *err)
{
	cleanup_close int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	for (;;) {
		if (util_interrupted) {
			kill_child(pid);
			return cairn_error_set(err, EINTR, "interrupted");
		}
		struct pollfd pfd[3] = {{.fd = pidfd, .events = POLLIN}};
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
				while (relays[i].from >= 0 && relay_copy(&relays[i]))
					;
			return 0;
		}
		if (r < 0 && errno != EINTR)
			return cairn_error_errno(err, errno, "waiting for the step");
	}
}

/* After the child is gone every writer of the pipe is too: reads cannot block. */
static int read_report(int fd, struct cairn_error *err)
{
	struct sandbox_report report;
	ssize_t n;
	do
		n = read(fd, &report, sizeof report);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return 0;
	if ((size_t)n < sizeof report.code + sizeof report.add_errno + 1)
		return cairn_error_set(err, EIO, "the step's setup failed");
	report.msg[sizeof report.msg - 1] = '\0';
	if (report.add_errno)
		return cairn_error_errno(err, report.code, "%s", report.msg);
	return cairn_error_set(err, report.code, "%s", report.msg);
}

static void close_relays(struct relay *relays, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (relays[i].from >= 0)
			close(relays[i].from);
}

/* Gives the step a pipe instead of each of its outputs that is a terminal; *n relays
 * (at most 2) copy them over. The write ends are the plan's out_fd/err_fd. */
static int make_relays(struct sandbox_plan *p, struct relay *relays, size_t *n, int write_ends[2],
		       struct cairn_error *err)
{
	const struct sandbox_spec *spec = p->spec;
	int *fds[2] = {&p->out_fd, &p->err_fd};
	const int to[2] = {spec->stdout_fd, spec->stderr_fd};
	*n = 0;
	for (int i = 0; i < 2; i++) {
		write_ends[i] = -1;
		if (to[i] < 0 || !isatty(to[i]))
			continue;
		if (i == 1 && to[1] == to[0] && write_ends[0] >= 0) {
			*fds[1] = write_ends[0];
			continue;
		}
		int pfd[2];
		if (pipe2(pfd, O_CLOEXEC) < 0)
			return cairn_error_errno(err, errno,
						 "creating a pipe for the step's output");
		relays[(*n)++] = (struct relay){.from = pfd[0], .to = to[i]};
		write_ends[i] = pfd[1];
		*fds[i] = pfd[1];
	}
	return 0;
}

static int run_child(struct sandbox_plan *p, int *status, struct cairn_error *err)
{
	struct relay relays[2];
	size_t n_relays = 0;
	int relay_in[2] = {-1, -1};
	int r = make_relays(p, relays, &n_relays, relay_in, err);
	if (r < 0) {
		close_relays(relays, n_relays);
		for (int i = 0; i < 2; i++)
			if (relay_in[i] >= 0)
				close(relay_in[i]);
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
	pthread_sigmask(SIG_BLOCK, &interrupts, &unblocked);

	pid_t pid = -1;
	int clone_errno = 0;
	if (r == 0) {
		pid = clone_child(namespace_flags(p));
		if (pid == 0)
			sandbox_child_main(p);
		clone_errno = errno;
	}
	close(steal_fd(&report_out));
	for (int i = 0; i < 2; i++)
		if (relay_in[i] >= 0)
			close(relay_in[i]);

	int wstatus = 0;
	if (r == 0 && pid < 0)
		r = cairn_error_errno(err, clone_errno, "creating the sandbox namespaces");
	if (r == 0)
		r = wait_for_child(pid, &unblocked, relays, n_relays, &wstatus, err);
	/* without a pid namespace, what the step left running in its session dies here
	 * (a process that made a session of its own survives: chroot says so) */
	if (p->chroot && pid > 0)
		kill(-pid, SIGKILL);
	pthread_sigmask(SIG_SETMASK, &unblocked, NULL);
	close_relays(relays, n_relays);
	if (r < 0)
		return r;
	r = read_report(report_in, err);
	if (r < 0)
		return r;
	*status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
	return 0;
}

int sandbox_run(const struct sandbox_spec *spec, int *status, struct cairn_error *err)
{
	int r = check_spec(spec, err);
	if (r < 0)
		return r;
	if (util_interrupted)
		return cairn_error_set(err, EINTR, "interrupted");
	cleanup_close int rootfd = open(spec->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return cairn_error_errno(err, errno, "opening root %s", spec->rootfs);

	struct sandbox_plan plan;
	r = prepare_plan(spec, rootfd, &plan, err);
	/* the private network's name files are mounted before the step's own mounts */
	struct sandbox_slirp slirp = SANDBOX_SLIRP_INIT;
	const struct sandbox_spec *mounted = spec;
	bool private_net = r == 0 && spec->network == SANDBOX_NET_PRIVATE && plan.new_network;
	if (private_net) {
		r = sandbox_slirp_prepare(spec, plan.hostname, &slirp, err);
		mounted = &slirp.spec;
		if (r == 0)
			r = sandbox_slirp_join(&slirp, &plan.net_fd, err);
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
	sandbox_unlend(&lent);
	sandbox_remove_stubs(rootfd, &stubs);
	remove_mount_points(rootfd, created);
	release_plan(&plan);
	if (r < 0 && r != -EINTR)
		return cairn_error_wrap(err, "running %s", spec->argv[0]);
	return r;
}
