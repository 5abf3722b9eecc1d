/* sandbox: overlay root filesystems and the namespace sandbox one RUN step runs in.
 * The builder process itself works in a private mount namespace (sandbox_enter),
 * so every mount it makes disappears with it, even on SIGKILL. */
#ifndef CAIRN_SANDBOX_H
#define CAIRN_SANDBOX_H

#include "../util/util.h"

/* How RUN steps are isolated (isolation.c says what each mode does). */
enum sandbox_isolation {
	SANDBOX_ISOLATION_AUTO = 0, /* the strongest the environment allows */
	SANDBOX_ISOLATION_OCI,	    /* root: namespaces of its own for each step */
	SANDBOX_ISOLATION_ROOTLESS, /* a user namespace first, then the same */
	SANDBOX_ISOLATION_CHROOT,   /* no namespace: chroot into a materialized root */
};
/* Parses "auto", "oci", "rootless" or "chroot"; -EINVAL otherwise. */
int sandbox_isolation_parse(const char *name, enum sandbox_isolation *out);
const char *sandbox_isolation_name(enum sandbox_isolation i);

/* What the process may do once sandbox_enter chose. */
struct sandbox_caps {
	enum sandbox_isolation isolation; /* never AUTO */
	bool can_mount;			  /* overlay, tmpfs and bind mounts can be made */
	bool proc_bound; /* steps get this system's /proc bound, not a procfs of their own */
};

/* Chooses the isolation (want, or with AUTO the strongest the environment allows)
 * and enters it: a user namespace for rootless, a private mount namespace where
 * mounts can be made, so every mount the builder makes disappears with it, even on
 * SIGKILL. *notice is a new string saying what the steps lack, when AUTO chose less
 * than full isolation or ids are missing, else NULL. Call once, before any thread. */
int sandbox_enter(enum sandbox_isolation want, char **notice, struct cairn_error *err);
/* What sandbox_enter chose (before it: oci, as root on a full host). */
const struct sandbox_caps *sandbox_caps(void);
/* Paths of the root ("etc/resolv.conf") the sandbox writes for a step and puts
 * back after it, which a step's layer must leave out; NULL when there are none. */
const char *const *sandbox_lent_paths(void);

/* Mounts an overlay at merged: lower dirs top-most first (n_lower may be 0: an empty
 * root), upper and work dirs on the same filesystem, created by the caller. */
int sandbox_overlay_mount(char *const *lower, size_t n_lower, const char *upper, const char *work,
			  const char *merged, struct cairn_error *err);
/* Mounts a read-only overlay of lower dirs (top-most first) at merged, with no upper
 * dir: for reading an earlier stage's or an image's files. n_lower 0 gives an empty
 * read-only directory. A single lower dir is bound read-only (overlayfs wants two
 * without an upper dir), so whiteouts in it show as they are. */
int sandbox_overlay_mount_ro(char *const *lower, size_t n_lower, const char *merged,
			     struct cairn_error *err);
/* Unmounts what sandbox_overlay_mount or sandbox_overlay_mount_ro mounted at merged. */
int sandbox_overlay_umount(const char *merged, struct cairn_error *err);

enum sandbox_network {
	SANDBOX_NET_NONE = 0, /* new network namespace with only loopback up */
	SANDBOX_NET_HOST,     /* the host's network namespace */
	SANDBOX_NET_PRIVATE,  /* a new one whose way out is slirp4netns: what the host
				 reaches, but not the host's loopback */
};
/* Parses "none", "host" or "private"; -EINVAL otherwise. */
int sandbox_network_parse(const char *name, enum sandbox_network *out);
/* 0 when steps can have network n here; else an error saying what is missing (for
 * private: slirp4netns on PATH, with the package to install, or /dev/net/tun) and
 * the modes that need nothing. In chroot isolation a step has the system's network
 * whatever it asks: only host is 0 there (RUN --network=none of a recipe is not
 * refused, as kaniko does not; the man page says so). */
int sandbox_network_check(enum sandbox_network n, struct cairn_error *err);
/* The network of RUN steps when the build names none: private; host where there is
 * no /dev/net/tun (a docker container), none where it cannot be opened (its mode),
 * *notice then being a new string saying so (else NULL); an error when slirp4netns
 * is missing (never silently the host's loopback). Call after sandbox_enter. */
int sandbox_network_default(enum sandbox_network *out, char **notice, struct cairn_error *err);
/* Stops the build's private network (slirp4netns), if this process started one;
 * call when the build ends, and in a forked process that built. */
void sandbox_network_release(void);

enum sandbox_mount_type {
	SANDBOX_MOUNT_BIND = 0,
	SANDBOX_MOUNT_TMPFS,
	SANDBOX_MOUNT_FILE, /* a read-only file holding data, on no disk: made in the
			       step's own /dev tmpfs, bound, and unlinked there */
};

/* An extra mount of a step (RUN --mount). The target is resolved inside the root, as
 * if the root were "/"; what is missing of it is created (a directory, or an empty
 * file for the bind of a file) and removed again after the step when still empty. */
struct sandbox_mount {
	enum sandbox_mount_type type;
	const char *source; /* BIND: host path (file or directory) */
	const char *target; /* absolute path inside the root; not /, not in /proc, /dev, /sys */
	bool readonly;
	uint64_t size;	  /* TMPFS: size limit in bytes, 0 = kernel default */
	const char *data; /* FILE: the file's content */
};

/* A port of a container published on the host (cairn run -p): connections to
 * host_ip:host_port reach container_port inside it. Only the private network
 * publishes, through slirp4netns's own forwarding. */
struct sandbox_port {
	char host_ip[46];   /* "" = every address of the host (0.0.0.0), as docker */
	uint16_t host_port; /* 0: the same as container_port */
	uint16_t container_port;
	bool udp; /* else tcp */
};
/* Parses docker's -p forms: "CTR", "HOST:CTR", "IP:HOST:CTR" and "IP::CTR", each with
 * an optional "/tcp" or "/udp" (IPv4 addresses); -EINVAL naming spec otherwise. */
int sandbox_port_parse(const char *spec, struct sandbox_port *out, struct cairn_error *err);

/* The terminal and input of an interactive command (cairn run, cairn exec, the shell
 * of cairn build --on-error=shell). A spec without one is a RUN step: stdin reads
 * /dev/null, output is relayed when it is a terminal, and SIGINT/SIGTERM/SIGHUP kill
 * it. */
struct sandbox_io {
	/* -1: /dev/null; else what the command reads. A terminal is never handed over:
	 * its bytes are relayed (into the pty with tty, else a pipe). */
	int stdin_fd;
	/* The command gets a pty of the sandbox's own devpts as its stdin, stdout, stderr
	 * and controlling terminal; what it writes goes to the spec's stdout_fd. */
	bool tty;
	/* With tty: the user's terminal, put in raw mode while the command runs and
	 * restored after; the pty takes its window size at the start and on SIGWINCH.
	 * -1: none (the pty is 24x80). */
	int term_fd;
	/* SIGINT, SIGTERM and SIGHUP the caller gets are sent to the command (through
	 * its PID 1, which passes them on) instead of killing it; the call returns when
	 * the command exits, with its status. */
	bool forward_signals;
	/* -1, or every byte of the command's output is also appended here (cairn logs). */
	int log_fd;
	/* Called in the caller once the command's PID 1 runs, with its pid as this
	 * process sees it (what sandbox_exec and kill take); NULL: not called. */
	void (*started)(void *ctx, pid_t pid);
	void *ctx;
};
#define SANDBOX_IO_INIT                                                                            \
	{                                                                                          \
		.stdin_fd = -1, .term_fd = -1, .log_fd = -1                                        \
	}

/* A resource limit of a step (docker's --ulimit): setrlimit(resource, soft, hard). */
struct sandbox_ulimit {
	int resource;	     /* RLIMIT_* */
	uint64_t soft, hard; /* RLIM_INFINITY for -1 */
};
/* Parses docker's "TYPE=SOFT[:HARD]" (nofile, nproc, core, ... ; -1: unlimited);
 * -EINVAL naming text otherwise. */
int sandbox_ulimit_parse(const char *text, struct sandbox_ulimit *out, struct cairn_error *err);
/* Parses a size in docker's units ("64m", "1g", "512k", "100"; binary); -EINVAL
 * naming flag and text otherwise. */
int sandbox_size_parse(const char *flag, const char *text, uint64_t *out, struct cairn_error *err);

struct sandbox_spec {
	const char *rootfs; /* mounted root (e.g. an overlay's merged dir) */
	char *const *argv;  /* command; argv[0] looked up in the PATH of env */
	char *const *env;   /* KEY=VALUE, NULL-terminated */
	const char *cwd;    /* absolute path inside the root; created when missing */
	const char *user;   /* "", "name", "uid", "name:group", "uid:gid": resolved from
			       the root's /etc/passwd and /etc/group; "" = root */
	const char *hostname;
	enum sandbox_network network;
	int stdout_fd; /* where the step's stdout and stderr go */
	int stderr_fd;
	const struct sandbox_mount *mounts; /* applied in order, after /proc, /dev, /sys */
	size_t n_mounts;
	/* NULL: a RUN step; else an interactive command (struct sandbox_io) */
	const struct sandbox_io *io;
	/* the root is mounted read-only (cairn run --read-only); mounts keep their own */
	bool readonly_root;
	/* published on the host for as long as the process's private network lives
	 * (a container); sandbox_run refuses them on another network */
	const struct sandbox_port *ports;
	size_t n_ports;
	/* docker's --add-host entries, "HOST:IP" (IP may be host-gateway), added to the
	 * step's /etc/hosts; NULL-terminated or NULL */
	char *const *add_hosts;
	uint64_t shm_size;		      /* /dev/shm's size in bytes; 0: 64 MiB */
	const struct sandbox_ulimit *ulimits; /* set in the step before its command runs */
	size_t n_ulimits;
	/* the step in a cgroup v2 group of its own with memory.max (bytes) and cpu.max
	 * (cpu_quota microseconds per 100 ms); 0: no limit. sandbox_run fails, naming
	 * --memory or --cpu-quota and why, where it cannot make the group. */
	uint64_t memory;
	int64_t cpu_quota;
	/* BuildKit's security.insecure: every capability and no seccomp filter */
	bool insecure;
};

/* Checks one --add-host value: "HOST:IP" or "HOST=IP", IP an IPv4 or IPv6 address
 * (IPv6 may be bracketed) or host-gateway; -EINVAL naming it otherwise. */
int sandbox_add_host_parse(const char *spec, struct cairn_error *err);

/* Runs spec->argv in fresh mount/pid/ipc/uts/net(unless host)/cgroup namespaces with
 * its own /proc, a minimal /dev, /dev/shm, pivot_root into rootfs, capabilities cut to
 * docker's default set, no_new_privs, and no inherited fd beyond 0-2. Mount points it
 * had to create in rootfs are removed again. With the private network, slirp4netns
 * runs for the step and no longer than it. Every step (but a chroot step without
 * mounts, which is lent this system's) gets /etc/resolv.conf (nameserver 10.0.2.3
 * with the private network, else this system's), /etc/hosts (localhost, ::1, its
 * hostname, add_hosts) and /etc/hostname as files of its own, read-only, over the
 * image's (made for it where the image has none, and removed after). *status is the exit code, or
 * 128+signal. A step that cannot start (no such command, bad user) is an error, not a status.
 * SIGINT/SIGTERM to the builder kill the step; the call then returns -EINTR. */
int sandbox_run(const struct sandbox_spec *spec, int *status, struct cairn_error *err);

/* A command run inside a running container (cairn exec): it joins every namespace of
 * the container's PID 1 (its user namespace too, when that is not this process's)
 * and so its root and mounts, then gets the same capabilities, user switch,
 * no_new_privs, seccomp filter and io handling as the container's command. Its
 * parent is a cairn-init outside the pid namespace that passes signals on. */
struct sandbox_exec_spec {
	pid_t pid;	   /* the container's PID 1, as sandbox_io.started gave it */
	char *const *argv; /* argv[0] looked up in the PATH of env */
	char *const *env;
	const char *cwd;  /* absolute inside the container; "" or NULL: / */
	const char *user; /* as sandbox_spec.user, resolved in the container's root */
	int stdout_fd;
	int stderr_fd;
	const struct sandbox_io *io; /* NULL: stdin /dev/null, no pty */
};
/* Runs x->argv in the container and waits for it; *status is its exit code, or
 * 128+signal. -ESRCH when the container's PID 1 is gone; an error in isolation chroot,
 * which has no namespaces to join. Call without sandbox_enter. */
int sandbox_exec(const struct sandbox_exec_spec *x, int *status, struct cairn_error *err);

/* Resolves user ("name[:group]" or numbers) against rootfs's /etc/passwd and
 * /etc/group, as docker does (a numeric uid needs no passwd entry). */
int sandbox_resolve_user(const char *rootfs, const char *user, uid_t *uid, gid_t *gid,
			 struct cairn_error *err);

#endif
