/* sandbox internals shared by the files of src/sandbox/; not part of the module's API. */
#ifndef CAIRN_SANDBOX_INTERNAL_H
#define CAIRN_SANDBOX_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <signal.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "sandbox.h"

/* A resolved USER: the ids to switch to and the supplementary groups (the primary
 * group first), as docker computes them. */
struct sandbox_user {
	uid_t uid;
	gid_t gid;
	gid_t *groups; /* owned */
	size_t n_groups;
	char *home; /* owned: the passwd entry's home, or "/" */
};

/* Resolves user against the /etc/passwd and /etc/group below rootfd (never leaving it). */
int sandbox_lookup_user(int rootfd, const char *user, struct sandbox_user *out,
			struct cairn_error *err);
void sandbox_user_release(struct sandbox_user *u);

struct sandbox_plan;

/* One of spec->mounts as the parent prepared it for the child. */
struct sandbox_mount_plan {
	const struct sandbox_mount *mount;
	char *target; /* resolved below the root: relative, no symlinks; writable */
	char *source; /* BIND: the source's canonical host path */
	char *data;   /* TMPFS: mount options */
	bool file;    /* the target is a file (the bind of a non-directory) */
};

/* Something the parent created in the root for a mount target, to remove after the
 * step; "anchor" entries were created in a directory that existed before, whose
 * mtime is put back when the step did not change it. */
struct sandbox_stub {
	char *path; /* resolved below the root */
	bool dir;
	dev_t dev;
	ino_t ino;
	bool anchor;
	struct timespec anchor_mtime;	/* the parent's mtime before the sandbox touched it */
	struct timespec prepared_mtime; /* and once every mount target was prepared */
};

struct sandbox_stubs {
	char *root; /* the root's canonical path */
	struct sandbox_stub *v;
	size_t n, alloc;
};

struct sock_fprog;
/* The step's seccomp filter: made with libseccomp when cairn is built
 * (seccomp/seccomp-gen.c writes it as seccomp-filter.c). */
extern const struct sock_fprog sandbox_seccomp_fprog;

/* Validates spec->mounts and prepares their targets (before the clone); fills
 * p->mounts. What it created is in stubs, also on failure. */
int sandbox_prepare_mounts(int rootfd, const struct sandbox_spec *spec, struct sandbox_plan *p,
			   struct sandbox_stubs *stubs, struct cairn_error *err);
void sandbox_release_mounts(struct sandbox_plan *p);

/* Removes what the sandbox created for mount targets, deepest first, when still
 * empty; frees stubs. */
void sandbox_remove_stubs(int rootfd, struct sandbox_stubs *stubs);

/* Moves the caller (single-threaded) into a new user namespace where it is root
 * (userns.c). Root keeps every id as it is (the map written by a helper outside,
 * as root may no longer write it once inside). Another user's own uid and gid become 0,
 * and the ranges /etc/subuid and /etc/subgid give the user (by name or uid, every
 * line in order) become 1, 2, ... after it, mapped by newuidmap and newgidmap run
 * from a helper process outside the namespace; setgroups stays allowed. Without
 * ranges in both files, or without those two programs, only the own ids are mapped
 * (setgroups denied) and *notice (a new string, else NULL) is the one line to show
 * the user: what is missing and how to get it. Nothing is printed. A newuidmap or
 * newgidmap that fails (a range the system refuses) is an error quoting what it
 * said; the process is then in a namespace without a map and must give up. */
int sandbox_userns_enter(char **notice, struct cairn_error *err);
/* Set once sandbox_userns_enter made this process a user namespace. */
extern bool sandbox_userns_entered;
/* Whether this process may create a user namespace (tried in a child). */
bool sandbox_userns_possible(void);

/* What a chroot step is lent where nothing can be mounted (lend.c). */
struct sandbox_lent_item {
	int fd;		/* dir: the directory, whose times come back; owned */
	int parent;	/* else: the directory (an fd of a dir item) and the name */
	char *name;	/* owned */
	bool dir, made; /* made: created for the step, removed after it */
	bool times;	/* dir: its times are put back */
	bool dir_made;	/* made, and a directory */
	struct stat st; /* as it was */
	char *data;	/* a file written over: its content before; owned */
	size_t len;
};
struct sandbox_lent {
	struct sandbox_lent_item *v;
	size_t n;
};
/* Lends the step device nodes in /dev, this system's /etc/resolv.conf and
 * /etc/hosts, and copies of its read-only file mounts (any other mount is an error);
 * what it did is in l, also on failure. */
struct sandbox_plan;
int sandbox_lend(int rootfd, const struct sandbox_plan *p, struct sandbox_lent *l,
		 struct cairn_error *err);
/* Puts back what sandbox_lend changed; frees l. */
void sandbox_unlend(struct sandbox_lent *l);

/* The private network of one step (network.c): slirp4netns. */
struct sandbox_slirp {
	char *path;  /* slirp4netns, found on PATH */
	pid_t pid;   /* slirp4netns, or -1 */
	int exit_fd; /* write end of slirp4netns's exit pipe */
	int log_fd;  /* a memfd with slirp4netns's stderr */
};
#define SANDBOX_SLIRP_INIT                                                                         \
	{                                                                                          \
		.pid = -1, .exit_fd = -1, .log_fd = -1                                             \
	}
/* Finds slirp4netns (an error naming its package when it is missing). */
int sandbox_slirp_prepare(struct sandbox_slirp *s, struct cairn_error *err);

/* The name files of a step (namefiles.c): /etc/resolv.conf, /etc/hosts and
 * /etc/hostname, mounted before the step's own mounts. */
struct sandbox_names {
	char *resolv, *hosts, *hostname; /* their content */
	struct sandbox_mount *mounts;	 /* the three, then the step's own mounts */
	struct sandbox_spec spec;	 /* the step's spec with those mounts */
};
/* s->spec is spec with the step's name files before its own mounts: hosts names
 * hostname and spec->add_hosts; resolv.conf the private network's forwarder when
 * the step has it, else this system's (its loopback resolvers left out when
 * own_network). An error names an --add-host the step cannot have. */
int sandbox_names_prepare(const struct sandbox_spec *spec, const char *hostname, bool own_network,
			  struct sandbox_names *nf, struct cairn_error *err);
void sandbox_names_release(struct sandbox_names *nf);

/* The build's private network namespace in *ns (borrowed): made, with slirp4netns
 * started on it and ready, by the first call in this process (an error quoting
 * slirp4netns when it fails, or when it died since). */
int sandbox_slirp_join(struct sandbox_slirp *s, bool with_api, int *ns, struct cairn_error *err);
/* Publishes ports on the process's private network (made by sandbox_slirp_join with
 * them): slirp4netns's add_hostfwd, its refusal quoted. */
int sandbox_slirp_publish(const struct sandbox_port *ports, size_t n, struct cairn_error *err);
/* Frees what sandbox_slirp_prepare made; s is SANDBOX_SLIRP_INIT again. */
void sandbox_slirp_release(struct sandbox_slirp *s);

/* True when the process runs in a user namespace other than the initial one. */
bool sandbox_in_user_namespace(void);

/* A step's cgroup (limits.c), for spec->memory and spec->cpu_quota. */
struct sandbox_cgroup {
	char *path; /* made for the step, removed after it; NULL: none */
	int dir_fd; /* the group, which the child is cloned into; or -1 */
};
/* Makes the step's cgroup when the spec limits memory or CPU (else nothing); an error
 * naming the flag and why where it cannot. What it made is in cg, also on failure. */
int sandbox_cgroup_prepare(const struct sandbox_spec *spec, struct sandbox_cgroup *cg,
			   struct cairn_error *err);
void sandbox_cgroup_release(struct sandbox_cgroup *cg);

/* Everything the sandbox child needs, prepared by the parent before the clone: the
 * child runs on a copy of the parent's memory and does not allocate (another thread
 * of the builder may have held the allocator's lock at the moment of the clone). */
struct sandbox_plan {
	const struct sandbox_spec *spec;
	const char *hostname;
	bool new_network;
	bool in_user_namespace;
	bool chroot;	 /* isolation chroot: chroot(2), no namespace but maybe mounts */
	bool can_mount;	 /* mounts can be made (else chroot lends what it needs) */
	bool proc_bound; /* /proc is this system's, bound: no procfs can be mounted */
	struct sandbox_user user;
	char *cwd;     /* spec->cwd cleaned and relative to the root, for mkdir -p */
	char *cwd_buf; /* room for getcwd, to check the working directory */
	size_t cwd_buf_size;
	char *const *env; /* spec->env (+ HOME from passwd when it has none) */
	char **env_owned; /* the copy env points to when HOME was added */
	const char *path; /* PATH from env, or the default */
	char *exec_buf;	  /* room for "PATH-element/argv[0]" */
	char **sh_argv;	  /* room for "/bin/sh file args..." (a script without #!) */
	int report_fd;	  /* write end of the CLOEXEC pipe carrying setup errors */
	int net_fd;	  /* private network: the build's namespace, which the step joins;
			     else -1 */
	int out_fd;	  /* the step's stdout and stderr: the spec's, or a relay pipe */
	int err_fd;
	int in_fd;  /* the command's stdin: the io's, a relay pipe, or -1: /dev/null */
	int tty_fd; /* io->tty: the socket the child sends its pty's master over */
	/* sandbox_exec: net_fd is a pidfd of the container's PID 1, whose namespaces
	 * (join_flags) the child joins instead of making its own */
	bool join;
	int join_flags;
	bool readonly_root;
	int init_fd;			   /* a sealed memfd holding cairn-init */
	char init_arg[24];		   /* cairn-init's arguments: two numbers of at
					      most 11 characters, at 0 and 12 */
	const struct sock_fprog *seccomp;  /* the filter; NULL for none */
	char shm_opts[64];		   /* /dev/shm's mount options */
	int cgroup_fd;			   /* the step's cgroup (CLONE_INTO_CGROUP), or -1 */
	struct sandbox_mount_plan *mounts; /* spec->mounts, prepared */
	size_t n_mounts;
};

/* What the child sends the parent when the step cannot start. */
struct sandbox_report {
	int code;      /* errno value */
	int add_errno; /* append strerror(code) to msg */
	char msg[2048];
};

/* Runs in the clone: sets up the namespaces' view, becomes PID 1 for the command and
 * exits with its status. Never returns. */
_Noreturn void sandbox_child_main(struct sandbox_plan *p);

#endif
