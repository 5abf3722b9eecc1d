/* sandbox internals shared by the files of src/sandbox/; not part of the module's API. */
#ifndef CAIRN_SANDBOX_PRIVATE_H
#define CAIRN_SANDBOX_PRIVATE_H

#include <stdbool.h>
#include <sys/types.h>

#include "sandbox.h"

/* A resolved USER: the ids to switch to and the supplementary groups (the primary
 * group first), as docker computes them. */
struct sandbox_user {
	uid_t uid;
	gid_t gid;
	gid_t *groups; /* owned */
	size_t n_groups;
};

/* Resolves user against the /etc/passwd and /etc/group below rootfd (never leaving it). */
int sandbox_lookup_user(int rootfd, const char *user, struct sandbox_user *out,
			struct cairn_error *err);
void sandbox_user_release(struct sandbox_user *u);

/* Opens path below rootfd as if rootfd were "/" (symlinks cannot leave it); returns
 * the fd or -errno. */
int sandbox_open_in_root(int rootfd, const char *path, int flags);

/* True when the process runs in a user namespace other than the initial one. */
bool sandbox_in_user_namespace(void);

/* Everything the sandbox child needs, prepared by the parent before the clone: the
 * child runs on a copy of the parent's memory and does not allocate (another thread
 * of the builder may have held the allocator's lock at the moment of the clone). */
struct sandbox_plan {
	const struct sandbox_spec *spec;
	const char *hostname;
	bool new_network;
	bool in_user_namespace;
	struct sandbox_user user;
	char *cwd;	  /* writable copy of spec->cwd, for mkdir -p */
	char *const *env; /* spec->env, or an empty list */
	const char *path; /* PATH from env, or the default */
	char *exec_buf;	  /* room for "PATH-element/argv[0]" */
	char **sh_argv;	  /* room for "/bin/sh file args..." (a script without #!) */
	int report_fd;	  /* write end of the CLOEXEC pipe carrying setup errors */
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
