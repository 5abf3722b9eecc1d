/* The sandbox child, top to bottom: out of reach of the step's ptrace and /proc,
 * only its stdio and report pipe kept (no fd of the builder survives the first step),
 * a session of its own, a keyring of its own; private mounts, the root bound onto
 * itself, a fresh /proc with containerd's paths masked, a minimal /dev, a read-only
 * /sys, the step's own mounts, pivot_root, hostname, loopback, the working directory
 * resolved beneath the root, capabilities, user, the seccomp filter; then, once its
 * private network is up (the parent says so), it starts the command and becomes PID 1
 * of the step by executing cairn-init (init/), a fresh process image that holds
 * nothing of the builder and reaps until the command exits.
 *
 * The child is a copy of the parent made by a raw clone, which skips glibc's fork
 * handlers: it must not allocate, and it calls the kernel directly where glibc would
 * coordinate with other threads (setuid, setgroups). Any failure goes to the parent
 * through the report pipe, then the child exits. */
#include "internal.h"

#include "../fs/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/keyctl.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h> /* ST_* flags of statfs */
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

/* docker's default capability set */
static const uint64_t default_caps =
    (1ULL << CAP_CHOWN) | (1ULL << CAP_DAC_OVERRIDE) | (1ULL << CAP_FSETID) | (1ULL << CAP_FOWNER) |
    (1ULL << CAP_MKNOD) | (1ULL << CAP_NET_RAW) | (1ULL << CAP_SETGID) | (1ULL << CAP_SETUID) |
    (1ULL << CAP_SETFCAP) | (1ULL << CAP_SETPCAP) | (1ULL << CAP_NET_BIND_SERVICE) |
    (1ULL << CAP_SYS_CHROOT) | (1ULL << CAP_KILL) | (1ULL << CAP_AUDIT_WRITE);

static const char *const host_devices[] = {"null", "zero", "full", "random", "urandom", "tty"};

static _Noreturn void child_report(struct sandbox_plan *p, int code, bool add_errno,
				   const char *fmt, va_list ap)
{
	struct sandbox_report r = {.code = code, .add_errno = add_errno};
	vsnprintf(r.msg, sizeof r.msg, fmt, ap);
	/* one write below PIPE_BUF arrives whole */
	size_t len = offsetof(struct sandbox_report, msg) + strlen(r.msg) + 1;
	if (write(p->report_fd, &r, len) < 0) {
	}
	_exit(127);
}

__attribute__((format(printf, 2, 3))) static _Noreturn void child_fail_errno(struct sandbox_plan *p,
									     const char *fmt, ...)
{
	int e = errno;
	va_list ap;
	va_start(ap, fmt);
	child_report(p, e, true, fmt, ap);
}

__attribute__((format(printf, 3, 4))) static _Noreturn void
child_fail(struct sandbox_plan *p, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	child_report(p, code, false, fmt, ap);
}

static void reset_signals(void)
{
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
}

static void make_mounts_private(struct sandbox_plan *p)
{
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		child_fail_errno(p, "making mounts private");
}

/* pivot_root needs the new root to be a mount point; from here on paths are relative
 * to the root (the parent made sure the mount points are real directories). */
static void bind_rootfs_onto_itself(struct sandbox_plan *p)
{
	const char *root = p->spec->rootfs;
	if (mount(root, root, NULL, MS_BIND | MS_REC, NULL) < 0)
		child_fail_errno(p, "binding root %s onto itself", root);
	/* no device cgroup guards the host's devices: a node in the root (made by the
	 * step with CAP_MKNOD, or from a layer) must not open one */
	struct mount_attr nodev = {.attr_set = MOUNT_ATTR_NODEV};
	if (mount_setattr(AT_FDCWD, root, AT_RECURSIVE, &nodev, sizeof nodev) < 0)
		child_fail_errno(p, "making root %s nodev", root);
	if (chdir(root) < 0)
		child_fail_errno(p, "entering root %s", root);
	/* --read-only: the root's own mount only; what is mounted on it later keeps its
	 * own flags (/dev, /proc, a tmpfs or volume of the command) */
	struct mount_attr ro = {.attr_set = MOUNT_ATTR_RDONLY};
	if (p->readonly_root && mount_setattr(AT_FDCWD, ".", 0, &ro, sizeof ro) < 0)
		child_fail_errno(p, "making root %s read-only", root);
}

/* containerd's masked paths: what they show of the host (kernel memory, keys, timers,
 * hardware) reads as empty: a file becomes /dev/null, a directory an empty read-only
 * tmpfs. Paths this kernel lacks are skipped. */
static void mask_paths(struct sandbox_plan *p, const char *const *paths, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct stat st;
		if (lstat(paths[i], &st) < 0) {
			if (errno == ENOENT)
				continue;
			child_fail_errno(p, "masking /%s", paths[i]);
		}
		int r = S_ISDIR(st.st_mode) ? mount("tmpfs", paths[i], "tmpfs",
						    MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
						    "size=4k,mode=555")
					    : mount("/dev/null", paths[i], NULL, MS_BIND, NULL);
		if (r < 0)
			child_fail_errno(p, "masking /%s", paths[i]);
	}
}

/* Where no procfs can be mounted (a container that masks paths of its /proc, or no
 * pid namespace), the step gets this system's, bound with the masks and read-only
 * paths its container runtime put on it (BuildKit's no-process-sandbox). */
static void bind_proc(struct sandbox_plan *p)
{
	if (mount("/proc", "proc", NULL, MS_BIND | MS_REC, NULL) < 0)
		child_fail_errno(p, "binding /proc on %s/proc", p->spec->rootfs);
	struct mount_attr attr = {.attr_set =
				      MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC};
	if (mount_setattr(AT_FDCWD, "proc", AT_RECURSIVE, &attr, sizeof attr) < 0)
		child_fail_errno(p, "making the bind of /proc nosuid, nodev and noexec");
}

static void mount_proc(struct sandbox_plan *p)
{
	if (p->proc_bound) {
		bind_proc(p);
		return;
	}
	if (mount("proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		child_fail_errno(p, "mounting proc on %s/proc", p->spec->rootfs);
	/* as docker's readonly paths: root of a step must not set the host's sysctls
	 * (kernel.core_pattern runs a program on the host) or trigger sysrq */
	static const char *const readonly[] = {"proc/sys", "proc/sysrq-trigger", "proc/irq",
					       "proc/bus", "proc/fs"};
	for (size_t i = 0; i < sizeof readonly / sizeof *readonly; i++) {
		if (mount(readonly[i], readonly[i], NULL, MS_BIND | MS_REC, NULL) < 0) {
			if (errno == ENOENT)
				continue;
			child_fail_errno(p, "binding /%s", readonly[i]);
		}
		if (mount(NULL, readonly[i], NULL,
			  MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
			  NULL) < 0)
			child_fail_errno(p, "making /%s read-only", readonly[i]);
	}
	static const char *const masked[] = {
	    "proc/acpi",	"proc/asound",	      "proc/kcore",
	    "proc/keys",	"proc/latency_stats", "proc/timer_list",
	    "proc/timer_stats", "proc/sched_debug",   "proc/scsi",
	};
	mask_paths(p, masked, sizeof masked / sizeof *masked);
}

/* Binds the host's path onto target (an fd opened in the root, or a path relative to
 * cwd when target_fd is AT_FDCWD), read-only and recursively. */
static void bind_readonly(struct sandbox_plan *p, const char *source, int target_fd,
			  const char *target)
{
	int tree = open_tree(AT_FDCWD, source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
	if (tree < 0)
		child_fail_errno(p, "binding %s", source);
	struct mount_attr attr = {
	    .attr_set =
		MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
	};
	if (mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) < 0)
		child_fail_errno(p, "making the bind of %s read-only", source);
	unsigned flags = MOVE_MOUNT_F_EMPTY_PATH | (*target ? 0 : MOVE_MOUNT_T_EMPTY_PATH);
	if (move_mount(tree, "", target_fd, target, flags) < 0)
		child_fail_errno(p, "binding %s into the root", source);
	close(tree);
}

static void bind_host_device(struct sandbox_plan *p, const char *name)
{
	char source[64], target[64];
	snprintf(source, sizeof source, "/dev/%s", name);
	snprintf(target, sizeof target, "dev/%s", name);
	struct stat st;
	if (stat(source, &st) < 0) /* a host without it (no /dev/tty): the step goes without */
		return;
	int fd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	if (fd < 0)
		child_fail_errno(p, "creating /%s", target);
	close(fd);
	if (mount(source, target, NULL, MS_BIND, NULL) < 0)
		child_fail_errno(p, "binding %s", source);
}

static void mount_dev_pts(struct sandbox_plan *p)
{
	if (mkdir("dev/pts", 0755) < 0)
		child_fail_errno(p, "creating /dev/pts");
	unsigned long flags = MS_NOSUID | MS_NOEXEC;
	/* gid=5 (tty) is not mapped in every user namespace */
	if (mount("devpts", "dev/pts", "devpts", flags,
		  "newinstance,ptmxmode=0666,mode=0620,gid=5") < 0 &&
	    mount("devpts", "dev/pts", "devpts", flags, "newinstance,ptmxmode=0666,mode=0620") < 0)
		child_fail_errno(p, "mounting devpts on /dev/pts");
	if (symlink("pts/ptmx", "dev/ptmx") < 0)
		child_fail_errno(p, "creating /dev/ptmx");
}

static void mount_dev_shm(struct sandbox_plan *p)
{
	if (mkdir("dev/shm", 01777) < 0)
		child_fail_errno(p, "creating /dev/shm");
	if (mount("shm", "dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, p->shm_opts) < 0)
		child_fail_errno(p, "mounting tmpfs on /dev/shm");
}

static void link_dev_fd(struct sandbox_plan *p)
{
	static const char *const links[][2] = {
	    {"/proc/self/fd", "dev/fd"},
	    {"/proc/self/fd/0", "dev/stdin"},
	    {"/proc/self/fd/1", "dev/stdout"},
	    {"/proc/self/fd/2", "dev/stderr"},
	};
	for (size_t i = 0; i < sizeof links / sizeof *links; i++)
		if (symlink(links[i][0], links[i][1]) < 0)
			child_fail_errno(p, "creating /%s", links[i][1]);
}

static void mount_dev(struct sandbox_plan *p)
{
	/* nodev: the host's nodes below are binds, mounts of their own */
	if (mount("tmpfs", "dev", "tmpfs", MS_NOSUID | MS_NODEV | MS_STRICTATIME,
		  "mode=755,size=65536k") < 0)
		child_fail_errno(p, "mounting tmpfs on %s/dev", p->spec->rootfs);
	for (size_t i = 0; i < sizeof host_devices / sizeof *host_devices; i++)
		bind_host_device(p, host_devices[i]);
	mount_dev_pts(p);
	mount_dev_shm(p);
	link_dev_fd(p);
}

/* A sysfs of our own shows the step's network namespace; where the kernel refuses one
 * (host network inside a user namespace) the host's is bound read-only instead. */
static void mount_sys(struct sandbox_plan *p)
{
	if (mount("sysfs", "sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) <
	    0) {
		if (errno != EPERM)
			child_fail_errno(p, "mounting sysfs on %s/sys", p->spec->rootfs);
		bind_readonly(p, "/sys", AT_FDCWD, "sys");
	}
	static const char *const masked[] = {"sys/firmware", "sys/devices/virtual/powercap"};
	mask_paths(p, masked, sizeof masked / sizeof *masked);
}

/* A target as the parent resolved it, without following symlinks: the parent did,
 * and one inside an earlier mount must not lead elsewhere (into /proc). A target
 * that an earlier mount hides is created in that mount. */
static int open_mount_target(struct sandbox_plan *p, int rootfd,
			     const struct sandbox_mount_plan *mp)
{
	struct fs_create_opts o = {.mode = 0755, .file = mp->file, .how = FS_NO_SYMLINKS};
	int fd = fs_open_creating(rootfd, mp->target, &o, NULL);
	if (fd < 0) {
		errno = -fd;
		child_fail_errno(p, "mount target %s", mp->mount->target);
	}
	return fd;
}

/* The remount keeps the flags the kernel locked on the source's mount (nosuid, nodev
 * of a mount from outside the user namespace); it reaches only the top mount, so
 * mount_setattr makes the binds below read-only too. */
static void remount_readonly(struct sandbox_plan *p, int rootfd,
			     const struct sandbox_mount_plan *mp)
{
	static const struct {
		unsigned long st, ms;
	} lockable[] = {
	    {ST_NOSUID, MS_NOSUID},   {ST_NODEV, MS_NODEV},	      {ST_NOEXEC, MS_NOEXEC},
	    {ST_NOATIME, MS_NOATIME}, {ST_NODIRATIME, MS_NODIRATIME}, {ST_RELATIME, MS_RELATIME},
	};
	/* a new fd: the one the bind went onto shows what is below the bind */
	int fd = open_mount_target(p, rootfd, mp);
	char where[32];
	snprintf(where, sizeof where, "/proc/self/fd/%d", fd);
	unsigned long flags = MS_REMOUNT | MS_BIND | MS_RDONLY;
	if (mount(NULL, where, NULL, flags, NULL) < 0) {
		struct statfs sfs;
		if (errno != EPERM || fstatfs(fd, &sfs) < 0)
			child_fail_errno(p, "making the bind on %s read-only", mp->mount->target);
		for (size_t i = 0; i < sizeof lockable / sizeof *lockable; i++)
			if ((unsigned long)sfs.f_flags & lockable[i].st)
				flags |= lockable[i].ms;
		if (mount(NULL, where, NULL, flags, NULL) < 0)
			child_fail_errno(p, "making the bind on %s read-only", mp->mount->target);
	}
	struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY};
	if (mount_setattr(fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) < 0)
		child_fail_errno(p, "making the binds below %s read-only", mp->mount->target);
	close(fd);
}

/* A file of the step's own (SANDBOX_MOUNT_FILE, the i-th mount): written into the
 * step's /dev tmpfs, bound onto the target, made read-only and unlinked from /dev, so
 * that it is on no disk and nothing is left of it when the step is gone. */
static void mount_file(struct sandbox_plan *p, int rootfd, const struct sandbox_mount_plan *mp,
		       size_t i, const char *where)
{
	const struct sandbox_mount *m = mp->mount;
	char src[48];
	snprintf(src, sizeof src, "dev/.cairn-file-%zu", i);
	int f = open(src, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (f < 0)
		child_fail_errno(p, "creating the file for %s", m->target);
	for (size_t done = 0, len = strlen(m->data); done < len;) {
		ssize_t n = write(f, m->data + done, len - done);
		if (n < 0 && errno != EINTR)
			child_fail_errno(p, "writing the file for %s", m->target);
		done += n > 0 ? (size_t)n : 0;
	}
	close(f);
	if (mount(src, where, NULL, MS_BIND, NULL) < 0)
		child_fail_errno(p, "binding a file on %s", m->target);
	remount_readonly(p, rootfd, mp);
	if (unlink(src) < 0)
		child_fail_errno(p, "removing /%s", src);
}

/* The step's own mounts (RUN --mount), in order, over /proc, /dev and /sys. */
static void mount_extras(struct sandbox_plan *p)
{
	if (!p->n_mounts)
		return;
	int rootfd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		child_fail_errno(p, "opening root %s", p->spec->rootfs);
	for (size_t i = 0; i < p->n_mounts; i++) {
		const struct sandbox_mount_plan *mp = &p->mounts[i];
		const struct sandbox_mount *m = mp->mount;
		int fd = open_mount_target(p, rootfd, mp);
		char where[32];
		snprintf(where, sizeof where, "/proc/self/fd/%d", fd);
		if (m->type == SANDBOX_MOUNT_FILE) {
			mount_file(p, rootfd, mp, i, where);
		} else if (m->type == SANDBOX_MOUNT_TMPFS) {
			unsigned long flags = MS_NOSUID | MS_NODEV | (m->readonly ? MS_RDONLY : 0);
			if (mount("tmpfs", where, "tmpfs", flags, mp->data) < 0)
				child_fail_errno(p, "mounting tmpfs on %s", m->target);
		} else {
			if (mount(mp->source, where, NULL, MS_BIND | MS_REC, NULL) < 0)
				child_fail_errno(p, "binding %s on %s", mp->source, m->target);
			/* a cache dir is writable and outlives the step, in a store other
			 * users may reach: no device nodes, no setuid programs */
			int bfd = open_mount_target(p, rootfd, mp);
			struct mount_attr attr = {.attr_set = MOUNT_ATTR_NODEV | MOUNT_ATTR_NOSUID};
			if (mount_setattr(bfd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr,
					  sizeof attr) < 0)
				child_fail_errno(p, "making the bind on %s nodev and nosuid",
						 m->target);
			close(bfd);
			if (m->readonly)
				remount_readonly(p, rootfd, mp);
		}
		close(fd);
	}
	close(rootfd);
}

/* pivot_root(".", ".") stacks the old root on the new one; detaching it leaves only
 * the new root (bubblewrap and runc do the same). */
static void pivot_into_root(struct sandbox_plan *p)
{
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		child_fail_errno(p, "pivot_root into %s", p->spec->rootfs);
	if (umount2(".", MNT_DETACH) < 0)
		child_fail_errno(p, "detaching the old root");
	if (chdir("/") < 0)
		child_fail_errno(p, "entering the new root");
}

/* Isolation chroot: the root becomes the step's by chroot(2), which needs no
 * namespace; with mounts allowed it first gets /proc, /dev, /sys and the step's own
 * mounts as in the oci sandbox, else the parent lent it device nodes and files. */
static void chroot_into_root(struct sandbox_plan *p)
{
	if (p->can_mount) {
		make_mounts_private(p);
		bind_rootfs_onto_itself(p);
		mount_proc(p);
		mount_dev(p);
		mount_sys(p);
		mount_extras(p);
	} else if (chdir(p->spec->rootfs) < 0) {
		child_fail_errno(p, "entering root %s", p->spec->rootfs);
	}
	if (chroot(".") < 0)
		child_fail_errno(p, "chroot into %s", p->spec->rootfs);
	if (chdir("/") < 0)
		child_fail_errno(p, "entering the new root");
}

static void set_hostname(struct sandbox_plan *p)
{
	if (sethostname(p->hostname, strlen(p->hostname)) < 0)
		child_fail_errno(p, "setting hostname %s", p->hostname);
}

static void bring_up_loopback(struct sandbox_plan *p)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		child_fail_errno(p, "creating a socket to configure lo");
	struct ifreq ifr;
	memset(&ifr, 0, sizeof ifr);
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		child_fail_errno(p, "reading the flags of lo");
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		child_fail_errno(p, "bringing lo up");
	close(s);
}

/* mkdir -p of the working directory beneath the new root, never following a /proc
 * magic link (runc CVE-2024-21626: a WORKDIR of /proc/self/fd/N led to a directory of
 * the host); what it creates belongs to the step's user, as with docker. Then, as
 * runc does, it checks that the working directory is inside the root. */
static void enter_cwd(struct sandbox_plan *p)
{
	const char *shown = p->spec->cwd && *p->spec->cwd ? p->spec->cwd : "/";
	int rootfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		child_fail_errno(p, "opening the root");
	int fd = rootfd;
	if (*p->cwd) {
		struct fs_owner owner = {p->user.uid, p->user.gid};
		struct fs_create_opts o = {.mode = 0755, .owner = &owner};
		fd = fs_open_creating(rootfd, p->cwd, &o, NULL);
		if (fd < 0) {
			errno = -fd;
			child_fail_errno(p, "working directory %s", shown);
		}
	}
	if (fchdir(fd) < 0)
		child_fail_errno(p, "entering working directory %s", shown);
	/* the raw call: glibc's getcwd hides the "(unreachable)" of a directory outside */
	if (syscall(SYS_getcwd, p->cwd_buf, p->cwd_buf_size) < 0 || p->cwd_buf[0] != '/')
		child_fail(p, EXDEV, "working directory %s is outside the root", shown);
	if (fd != rootfd)
		close(fd);
	close(rootfd);
}

/* The first step: 0 reads /dev/null (or the plan's input), 1 and 2 go where the plan
 * says, the report pipe moves to 3, cairn-init to 4, the private network's socket to 5
 * and the terminal's socket to 6, and every other
 * fd is closed, so that nothing of the builder (the store, the context, a pidfd) is
 * open while the child works in the step's root. */
static void keep_only_step_fds(struct sandbox_plan *p)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null < 0)
		child_fail_errno(p, "opening /dev/null");
	int in = fcntl(p->in_fd >= 0 ? p->in_fd : null, F_DUPFD_CLOEXEC, 7);
	int out = fcntl(p->out_fd >= 0 ? p->out_fd : null, F_DUPFD_CLOEXEC, 7);
	int err = fcntl(p->err_fd >= 0 ? p->err_fd : null, F_DUPFD_CLOEXEC, 7);
	int report = fcntl(p->report_fd, F_DUPFD_CLOEXEC, 7);
	int init = p->init_fd >= 0 ? fcntl(p->init_fd, F_DUPFD_CLOEXEC, 7) : -1;
	int net = p->net_fd >= 0 ? fcntl(p->net_fd, F_DUPFD_CLOEXEC, 7) : -1;
	int tty = p->tty_fd >= 0 ? fcntl(p->tty_fd, F_DUPFD_CLOEXEC, 7) : -1;
	if (in < 0 || out < 0 || err < 0 || report < 0 || (p->init_fd >= 0 && init < 0) ||
	    (p->net_fd >= 0 && net < 0) || (p->tty_fd >= 0 && tty < 0))
		child_fail_errno(p, "duplicating the step's fds");
	p->report_fd = report;
	if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
		child_fail_errno(p, "setting up stdin, stdout and stderr");
	if (dup3(report, 3, O_CLOEXEC) < 0)
		child_fail_errno(p, "moving the report pipe");
	p->report_fd = 3;
	if (init >= 0 && dup3(init, 4, O_CLOEXEC) < 0)
		child_fail_errno(p, "moving cairn-init");
	p->init_fd = init >= 0 ? 4 : -1;
	if (net >= 0 && dup3(net, 5, O_CLOEXEC) < 0)
		child_fail_errno(p, "moving the private network's namespace");
	p->net_fd = net >= 0 ? 5 : -1;
	if (tty >= 0 && dup3(tty, 6, O_CLOEXEC) < 0)
		child_fail_errno(p, "moving the terminal's socket");
	p->tty_fd = tty >= 0 ? 6 : -1;
	/* the slots not taken may hold fds the builder inherited */
	for (int fd = 4; fd < 7; fd++)
		if (fd != p->init_fd && fd != p->net_fd && fd != p->tty_fd)
			close(fd);
	if (close_range(7, ~0U, 0) < 0)
		child_fail_errno(p, "closing inherited fds");
}

/* A session of its own: the user's terminal is not the step's controlling terminal,
 * so the step cannot push input into it (TIOCSTI, bubblewrap CVE-2017-5226) nor take
 * it over. */
static void leave_the_session(struct sandbox_plan *p)
{
	if (setsid() < 0)
		child_fail_errno(p, "starting a new session");
}

/* A new anonymous session keyring. The seccomp filter refuses the keyring calls
 * anyway; this keeps the step off the builder's session keyring when it is off. A
 * kernel without keys (or a filter around cairn refusing keyctl) is fine. */
static void join_new_keyring(void)
{
	syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, NULL, 0, 0, 0);
}

/* --ulimit: set while the step still may raise a hard limit (CAP_SYS_RESOURCE) */
static void set_ulimits(struct sandbox_plan *p)
{
	for (size_t i = 0; i < p->spec->n_ulimits; i++) {
		const struct sandbox_ulimit *u = &p->spec->ulimits[i];
		struct rlimit rl = {.rlim_cur = u->soft, .rlim_max = u->hard};
		if (setrlimit(u->resource, &rl) < 0)
			child_fail_errno(p, "--ulimit: setting resource limit %d to %llu:%llu",
					 u->resource, (unsigned long long)u->soft,
					 (unsigned long long)u->hard);
	}
}

static void limit_capabilities(struct sandbox_plan *p)
{
	/* security.insecure: every capability the builder has */
	if (p->spec->insecure)
		return;
	/* a chroot step that may chroot again walks out of its root */
	uint64_t keep = p->chroot ? default_caps & ~(1ULL << CAP_SYS_CHROOT) : default_caps;
	for (int cap = 0; cap < 64; cap++) {
		if (keep & (1ULL << cap))
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
			if (errno == EINVAL) /* past the last capability this kernel knows */
				break;
			child_fail_errno(p, "dropping capability %d from the bounding set", cap);
		}
	}
	struct __user_cap_header_struct head = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[2];
	if (syscall(SYS_capget, &head, data) < 0)
		child_fail_errno(p, "reading capabilities");
	for (int i = 0; i < 2; i++) {
		uint32_t kept = (uint32_t)(keep >> (32 * i));
		data[i].effective &= kept;
		data[i].permitted &= kept;
		data[i].inheritable = 0;
	}
	if (syscall(SYS_capset, &head, data) < 0)
		child_fail_errno(p, "setting capabilities");
}

/* An interactive command's terminal: a pty of the sandbox's own devpts (so ttyname
 * names it inside), whose master goes to the parent over the socket at fd 6 and whose
 * peer becomes stdin, stdout, stderr and the controlling terminal of the child's
 * session (which cairn-init and the command inherit). The peer belongs to the
 * command's user, as runc does. */
static void open_terminal(struct sandbox_plan *p)
{
	if (p->tty_fd < 0)
		return;
	if (p->chroot && !p->can_mount)
		child_fail(p, ENOTTY,
			   "a terminal (-t) needs a devpts of the sandbox's own, and isolation "
			   "chroot without mounts has none");
	int master = open("/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0)
		child_fail_errno(p, "opening /dev/pts/ptmx");
	int unlock = 0;
	if (ioctl(master, TIOCSPTLCK, &unlock) < 0)
		child_fail_errno(p, "unlocking the pty");
	int peer = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (peer < 0)
		child_fail_errno(p, "opening the pty's peer");
	if (fchown(peer, p->user.uid, (gid_t)-1) < 0 && errno != EINVAL)
		child_fail_errno(p, "giving the pty to uid %u", (unsigned)p->user.uid);
	char byte = 0;
	struct iovec iov = {.iov_base = &byte, .iov_len = 1};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} control;
	memset(&control, 0, sizeof control);
	struct msghdr msg = {.msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = control.buf,
			     .msg_controllen = sizeof control.buf};
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &master, sizeof master);
	if (sendmsg(p->tty_fd, &msg, MSG_NOSIGNAL) < 0)
		child_fail_errno(p, "passing the pty to cairn");
	close(master);
	close(p->tty_fd);
	p->tty_fd = -1;
	if (dup2(peer, 0) < 0 || dup2(peer, 1) < 0 || dup2(peer, 2) < 0)
		child_fail_errno(p, "making the pty stdin, stdout and stderr");
	close(peer);
	if (ioctl(0, TIOCSCTTY, 0) < 0)
		child_fail_errno(p, "making the pty the controlling terminal");
}

/* Raw syscalls: glibc's setuid and setgroups would try to synchronise with threads
 * that exist only in the parent. Switching to a non-root uid clears the permitted and
 * effective capabilities, as for docker. */
static void switch_user(struct sandbox_plan *p)
{
	const struct sandbox_user *u = &p->user;
	if (syscall(SYS_setgroups, u->n_groups, u->groups) < 0 &&
	    !(errno == EPERM && p->in_user_namespace))
		child_fail_errno(p, "setting supplementary groups of user %s",
				 p->spec->user ? p->spec->user : "");
	if (syscall(SYS_setresgid, u->gid, u->gid, u->gid) < 0)
		child_fail_errno(p, "setting gid %u", (unsigned)u->gid);
	if (syscall(SYS_setresuid, u->uid, u->uid, u->uid) < 0)
		child_fail_errno(p, "setting uid %u", (unsigned)u->uid);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		child_fail_errno(p, "setting no_new_privs");
}

static void apply_seccomp(struct sandbox_plan *p)
{
	if (!p->seccomp)
		return;
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, p->seccomp, 0, 0) < 0)
		child_fail_errno(p, "loading the seccomp filter");
}

/* A file the kernel cannot execute (a script without #!) runs with /bin/sh, as
 * execvp does. */
static void exec_file(struct sandbox_plan *p, const char *file)
{
	char *const *argv = p->spec->argv;
	execve(file, argv, p->env);
	if (errno != ENOEXEC)
		return;
	size_t n = 0;
	p->sh_argv[n++] = (char *)"/bin/sh";
	p->sh_argv[n++] = (char *)file;
	for (size_t i = 1; argv[i]; i++)
		p->sh_argv[n++] = argv[i];
	p->sh_argv[n] = NULL;
	execve("/bin/sh", p->sh_argv, p->env);
	errno = ENOEXEC;
}

/* execvpe, but with the PATH of the step's environment rather than the builder's. */
static _Noreturn void exec_command(struct sandbox_plan *p)
{
	const char *name = p->spec->argv[0];
	if (strchr(name, '/')) {
		exec_file(p, name);
		child_fail_errno(p, "exec %s", name);
	}
	bool denied = false;
	size_t name_len = strlen(name);
	for (const char *dir = p->path;;) {
		const char *end = strchrnul(dir, ':');
		size_t len = (size_t)(end - dir);
		char *file = p->exec_buf;
		memcpy(file, dir, len);
		if (len)
			file[len++] = '/';
		memcpy(file + len, name, name_len + 1);
		exec_file(p, file);
		if (errno == EACCES)
			denied = true;
		else if (errno != ENOENT && errno != ENOTDIR && errno != ESTALE &&
			 errno != ENODEV && errno != ETIMEDOUT && errno != ELOOP)
			child_fail_errno(p, "exec %s", file);
		if (!*end)
			break;
		dir = end + 1;
	}
	if (denied)
		child_fail(p, EACCES, "exec \"%s\": permission denied", name);
	child_fail(p, ENOENT, "exec \"%s\": executable file not found in $PATH", name);
}

/* With the private network, the step joins the build's namespace (fd 5), before
 * it mounts the sysfs that shows it. */
static void join_network(struct sandbox_plan *p)
{
	if (p->net_fd < 0)
		return;
	if (setns(p->net_fd, p->join ? p->join_flags : CLONE_NEWNET) < 0)
		child_fail_errno(p, p->join ? "joining the container's namespaces"
					    : "joining the private network");
	close(p->net_fd);
	p->net_fd = -1;
}

/* Forks the command, then becomes cairn-init (PID 1 of the step, a fresh process
 * image: runc CVE-2016-9962 was a PID 1 whose memory and environment the step could
 * read). The command waits until the init has made itself non-dumpable again (exec
 * undoes it) and closes the pipe it waits on. When the command exits, so does PID 1,
 * and the kernel kills whatever the command left running in the namespace. */
static _Noreturn void start_command_and_become_init(struct sandbox_plan *p)
{
	int sync[2];
	if (pipe2(sync, O_CLOEXEC) < 0)
		child_fail_errno(p, "creating a pipe");
	pid_t command = (pid_t)syscall(SYS_clone, SIGCHLD, NULL, NULL, NULL, NULL);
	if (command < 0)
		child_fail_errno(p, "starting %s", p->spec->argv[0]);
	if (command == 0) {
		close(sync[1]);
		char c;
		while (read(sync[0], &c, 1) < 0 && errno == EINTR)
			;
		close(sync[0]);
		exec_command(p);
	}
	close(sync[0]);
	if (fcntl(sync[1], F_SETFD, 0) < 0)
		child_fail_errno(p, "passing a pipe to cairn-init");
	snprintf(p->init_arg, sizeof p->init_arg, "%d", (int)command);
	snprintf(p->init_arg + 12, sizeof p->init_arg - 12, "%d", sync[1]);
	char *argv[] = {(char *)"cairn-init", p->init_arg, p->init_arg + 12, NULL};
	char *envp[] = {NULL};
	syscall(SYS_execveat, p->init_fd, "", argv, envp, AT_EMPTY_PATH);
	child_fail_errno(p, "starting cairn-init, PID 1 of the step");
}

_Noreturn void sandbox_child_main(struct sandbox_plan *p)
{
	reset_signals();
	umask(022);
	/* the step dies with the builder, whatever kills the builder */
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	/* until it is cairn-init, this process is a copy of the builder: out of reach of
	 * the step's /proc/1/mem, environ and ptrace */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	keep_only_step_fds(p);
	join_network(p);
	leave_the_session(p);
	join_new_keyring();

	if (p->join) {
		/* a running container's (sandbox_exec): its root is this mount
		 * namespace's, its mounts made; what is forked next is in its pid
		 * namespace */
		if (chdir("/") < 0)
			child_fail_errno(p, "entering the container's root");
	} else if (p->chroot) {
		chroot_into_root(p);
	} else {
		make_mounts_private(p);
		bind_rootfs_onto_itself(p);
		mount_proc(p);
		mount_dev(p);
		mount_sys(p);
		mount_extras(p);
		pivot_into_root(p);
		set_hostname(p);
	}

	if (p->new_network)
		bring_up_loopback(p);
	open_terminal(p);
	enter_cwd(p);
	set_ulimits(p);
	limit_capabilities(p);
	switch_user(p);
	apply_seccomp(p);
	start_command_and_become_init(p);
}
