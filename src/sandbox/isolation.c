/* The isolation ladder: which sandbox the environment allows, chosen once per
 * process before any thread (sandbox_enter), as buildah and BuildKit climb it:
 *   oci      — root with every namespace: each step gets mount, pid, ipc, uts, net and
 *              cgroup namespaces of its own (the builder a private mount namespace);
 *   rootless — a user namespace first (the caller's subordinate ids mapped), then the
 *              same namespaces inside it; where no procfs can be mounted (a container
 *              that masks paths of its /proc) steps get the container's /proc bound;
 *   chroot   — no namespace at all (a container with docker's default capabilities
 *              and seccomp profile): each step runs chrooted in a materialized root
 *              filesystem, with the container's network, as kaniko runs its steps. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static struct sandbox_caps caps = {.isolation = SANDBOX_ISOLATION_OCI, .can_mount = true};

static const char *const isolation_names[] = {
    [SANDBOX_ISOLATION_AUTO] = "auto",
    [SANDBOX_ISOLATION_OCI] = "oci",
    [SANDBOX_ISOLATION_ROOTLESS] = "rootless",
    [SANDBOX_ISOLATION_CHROOT] = "chroot",
};

int sandbox_isolation_parse(const char *name, enum sandbox_isolation *out)
{
	for (size_t i = 0; i < sizeof isolation_names / sizeof *isolation_names; i++)
		if (!strcmp(name, isolation_names[i])) {
			*out = (enum sandbox_isolation)i;
			return 0;
		}
	return -EINVAL;
}

const char *sandbox_isolation_name(enum sandbox_isolation i)
{
	return (size_t)i < sizeof isolation_names / sizeof *isolation_names ? isolation_names[i]
									    : "unknown";
}

const struct sandbox_caps *sandbox_caps(void)
{
	return &caps;
}

static bool have_cap(int cap)
{
	struct __user_cap_header_struct head = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[2];
	if (syscall(SYS_capget, &head, data) < 0)
		return false;
	return data[cap / 32].effective & (1u << (cap % 32));
}

/* A private mount namespace for the builder: every mount it makes goes with it. */
static int enter_mount_namespace(struct cairn_error *err)
{
	if (unshare(CLONE_NEWNS) < 0)
		return cairn_error_errno(err, errno, "creating a mount namespace");
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return cairn_error_errno(err, errno, "making / private");
	return 0;
}

/* Whether a step could mount a procfs of its own: a container that masks paths of
 * its /proc makes the kernel refuse one to a user namespace. Tried in a throwaway
 * child, in new pid and mount namespaces. */
static bool can_mount_proc(void)
{
	pid_t pid =
	    (pid_t)syscall(SYS_clone, CLONE_NEWPID | CLONE_NEWNS | SIGCHLD, NULL, NULL, NULL, NULL);
	if (pid < 0)
		return false;
	if (pid == 0) {
		if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
		    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
			_exit(1);
		_exit(0);
	}
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* Root with what the oci sandbox needs: mounts, network setup, device nodes. */
static bool oci_allowed(void)
{
	return geteuid() == 0 && have_cap(CAP_SYS_ADMIN) && have_cap(CAP_NET_ADMIN) &&
	       have_cap(CAP_SYS_CHROOT);
}

static int enter_oci(struct cairn_error *err)
{
	if (geteuid() != 0)
		return cairn_error_set(err, EPERM,
				       "isolation oci needs root (cairn runs as uid %u): "
				       "--isolation rootless is for a normal user",
				       (unsigned)geteuid());
	if (!oci_allowed())
		return cairn_error_set(err, EPERM,
				       "isolation oci needs CAP_SYS_ADMIN, CAP_NET_ADMIN and "
				       "CAP_SYS_CHROOT, which this process lacks (a container "
				       "without privileges): try --isolation rootless or chroot");
	int r = enter_mount_namespace(err);
	if (r < 0)
		return r;
	caps = (struct sandbox_caps){.isolation = SANDBOX_ISOLATION_OCI, .can_mount = true};
	return 0;
}

static int enter_rootless(char **notice, struct cairn_error *err)
{
	int r = sandbox_userns_enter(notice, err);
	if (r == 0)
		r = enter_mount_namespace(err);
	if (r < 0)
		return r;
	caps = (struct sandbox_caps){.isolation = SANDBOX_ISOLATION_ROOTLESS,
				     .can_mount = true,
				     .proc_bound = !can_mount_proc()};
	return 0;
}

static int enter_chroot(struct cairn_error *err)
{
	if (!have_cap(CAP_SYS_CHROOT))
		return cairn_error_set(err, EPERM,
				       "isolation chroot needs CAP_SYS_CHROOT (root), and cairn "
				       "runs as uid %u without it",
				       (unsigned)geteuid());
	/* where mounting is allowed after all, steps get /proc, /dev and /sys bound */
	struct cairn_error e = CAIRN_ERROR_INIT;
	bool can_mount = have_cap(CAP_SYS_ADMIN) && enter_mount_namespace(&e) == 0;
	cairn_error_clear(&e);
	/* a step runs as root in the builder's own pid namespace: it must not be able
	 * to read the builder's memory (a registry token, a secret) through /proc or
	 * ptrace */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	caps = (struct sandbox_caps){
	    .isolation = SANDBOX_ISOLATION_CHROOT, .can_mount = can_mount, .proc_bound = can_mount};
	return 0;
}

/* Appends line to *notice (a new string, or NULL). */
static void add_notice(char **notice, char *line)
{
	if (!*notice) {
		*notice = line;
		return;
	}
	char *both = xasprintf("%s\n%s", *notice, line);
	free(*notice);
	free(line);
	*notice = both;
}

/* What auto chose, when it is less than full isolation. */
static char *degraded_notice(void)
{
	if (caps.isolation == SANDBOX_ISOLATION_CHROOT)
		return xasprintf(
		    "cairn: no namespaces can be created here (a container without "
		    "privileges): isolation chroot: RUN steps run as this container's root "
		    "in a copy of the image, with its network%s; only the container "
		    "protects the host from them",
		    caps.can_mount ? "" : ", without /proc");
	if (caps.isolation == SANDBOX_ISOLATION_ROOTLESS && caps.proc_bound)
		return xstrdup("cairn: no procfs can be mounted here: RUN steps see this "
			       "container's /proc (its processes, not the host's)");
	return NULL;
}

int sandbox_enter(enum sandbox_isolation want, char **notice, struct cairn_error *err)
{
	*notice = NULL;
	switch (want) {
	case SANDBOX_ISOLATION_OCI:
		return enter_oci(err);
	case SANDBOX_ISOLATION_ROOTLESS:
		return enter_rootless(notice, err);
	case SANDBOX_ISOLATION_CHROOT:
		return enter_chroot(err);
	case SANDBOX_ISOLATION_AUTO:
		break;
	}
	int r;
	if (oci_allowed()) {
		r = enter_oci(err);
	} else if (sandbox_userns_possible()) {
		r = enter_rootless(notice, err);
	} else if (have_cap(CAP_SYS_CHROOT)) {
		r = enter_chroot(err);
	} else {
		return cairn_error_set(
		    err, EPERM,
		    "cannot isolate RUN steps here: user namespaces are not allowed and cairn "
		    "runs as uid %u, not root. Either allow user namespaces (docker run "
		    "--security-opt seccomp=unconfined --security-opt apparmor=unconfined; "
		    "in Kubernetes a pod with seccompProfile Unconfined) to build rootless, "
		    "or run cairn as root in the container to build with isolation chroot",
		    (unsigned)geteuid());
	}
	if (r < 0)
		return r;
	char *line = degraded_notice();
	if (line)
		add_notice(notice, line);
	return 0;
}
