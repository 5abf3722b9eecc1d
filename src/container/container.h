/* container: the containers of local development (cairn run, ps, rm, commit, diff
 * NAME). A container is an image plus a writable layer of its own (an overlay upper
 * dir) and the settings cairn run was given. It lives in the store:
 *   cairn/containers/<id>/config.json  what run was asked (struct container_config)
 *   cairn/containers/<id>/state.json   created, running (pid, boot id) or exited
 *   cairn/containers/<id>/lock         held (flock) by the process running it
 *   cairn/containers/<id>/upper/       the writable layer; work/ overlay's work dir,
 *                                      root/ where the root is mounted while it runs
 *   cairn/containers/<id>/log          the container's output
 * Names follow docker's rule, [a-zA-Z0-9][a-zA-Z0-9_.-]*; an id is 64 hex digits and
 * every unique prefix of it names the container too. A container runs exactly while
 * a process holds its lock, so one whose runner was killed, or that ran before a
 * reboot, is "exited" whatever state.json last said.
 *
 * Depends on sandbox, layer, oci, store, fs and util (never on the builder). */
#ifndef CAIRN_CONTAINER_H
#define CAIRN_CONTAINER_H

#include "../layer/layer.h"
#include "../oci/oci.h"
#include "../sandbox/sandbox.h"
#include "../store/store.h"

#include <stdio.h>

/* ---- mounts of a container: -v, --mount and --tmpfs ---- */

enum container_mount_type {
	CONTAINER_MOUNT_BIND = 0, /* a host path */
	CONTAINER_MOUNT_TMPFS,
	CONTAINER_MOUNT_VOLUME, /* a named volume, or an anonymous one */
};
struct container_mount {
	enum container_mount_type type;
	char *source; /* BIND: absolute host path; VOLUME: its name, NULL for an
			 anonymous one not made yet */
	char *target; /* absolute path in the container, cleaned */
	bool readonly;
	uint64_t size;	/* TMPFS: bytes, 0 = the kernel's default */
	bool nocopy;	/* VOLUME: a new one is not filled from the image */
	bool anonymous; /* VOLUME: made for this container (-v DST, an image's VOLUME) */
};
/* -v SRC:DST[:OPTS] (SRC an absolute host path: a bind; else a volume name; -v DST
 * alone: an anonymous volume; OPTS a comma list of ro, rw, z, Z, nocopy), --mount
 * type=bind|volume|tmpfs,source=,target=,readonly,volume-nocopy,tmpfs-size= and
 * --tmpfs DST[:OPTS] (size=N[kmg], ro, rw), as docker parses them. The error names
 * the option, the spec and what is wrong. out holds new strings
 * (container_mount_release). */
int container_mount_parse_v(const char *spec, struct container_mount *out, struct cairn_error *err);
int container_mount_parse_mount(const char *spec, struct container_mount *out,
				struct cairn_error *err);
int container_mount_parse_tmpfs(const char *spec, struct container_mount *out,
				struct cairn_error *err);
void container_mount_release(struct container_mount *m);

/* ---- volumes: cairn/volumes/<name>/{volume.json,_data} ---- */

struct container_volume {
	char *name;
	char *path; /* its _data directory */
	int64_t created;
	bool anonymous;
	char **users; /* names of the containers (any state) that mount it */
};
void container_volume_release(struct container_volume *v);
void container_volumes_free(struct container_volume *v, size_t n);
/* Docker's volume name grammar: [a-zA-Z0-9][a-zA-Z0-9_.-]+ */
bool container_volume_name_valid(const char *name);
/* Makes the volume name (NULL: an anonymous one with a generated name); -EEXIST when
 * it exists. *out may be NULL. */
int container_volume_create(struct store *s, const char *name, bool anonymous,
			    struct container_volume *out, struct cairn_error *err);
/* -ENOENT "no such volume: NAME". */
int container_volume_get(struct store *s, const char *name, struct container_volume *out,
			 struct cairn_error *err);
/* Every volume, sorted by name. */
int container_volume_list(struct store *s, struct container_volume **out, size_t *n,
			  struct cairn_error *err);
/* Removes the volume and its data: -EBUSY naming the containers that use it
 * (running or not), unless force. */
int container_volume_remove(struct store *s, const char *name, bool force, struct cairn_error *err);
/* Removes the volumes no container uses: anonymous ones, named ones too with all;
 * appends their names to *removed. */
int container_volume_prune(struct store *s, bool all, char ***removed, struct cairn_error *err);

/* ---- containers ---- */

/* What cairn run was asked, as config.json keeps it. */
struct container_config {
	char *image;		       /* as the user named it */
	char image_digest[DIGEST_LEN]; /* the manifest it was made from */
	char **argv;		       /* the command: entrypoint + cmd, resolved */
	char **env;		       /* the image's env, then -e / --env-file */
	char *cwd;		       /* "" = / */
	char *user;		       /* "" = root */
	char *hostname;		       /* "" = the id's first 12 digits */
	enum sandbox_network network;
	struct sandbox_port *ports; /* -p: published on the private network */
	size_t n_ports;
	struct container_mount *mounts;
	size_t n_mounts;
	bool tty, interactive, readonly_root, auto_remove;
};
void container_config_release(struct container_config *c);

/* The settings of cairn run before the image fills in its defaults. */
struct container_run_opts {
	char **entrypoint; /* NULL: the image's; {""} (one empty word): none */
	char **cmd;	   /* NULL or empty: the image's */
	char **env;	   /* "K=V", or "K" for this process's value (skipped when unset) */
	const char *cwd, *user, *hostname; /* NULL: the image's / the default */
	enum sandbox_network network;
	const struct sandbox_port *ports; /* copied */
	size_t n_ports;
	const struct container_mount *mounts; /* copied */
	size_t n_mounts;
	bool tty, interactive, readonly_root, auto_remove;
};
/* Fills cfg from the image img (named ref) and o, docker's way: entrypoint + cmd
 * (a --entrypoint drops the image's Cmd), the image's env then o's, WorkingDir, User,
 * and an anonymous volume for each of the image's Volumes no mount covers. -EINVAL
 * when there is no command. */
int container_config_make(const struct oci_image *img, const char *ref,
			  const struct container_run_opts *o, struct container_config *cfg,
			  struct cairn_error *err);

enum container_status {
	CONTAINER_CREATED = 0,
	CONTAINER_RUNNING,
	CONTAINER_EXITED,
};
const char *container_status_name(enum container_status st);

struct container {
	char id[65];
	char *name;
	char *dir; /* cairn/containers/<id> */
	struct container_config cfg;
	enum container_status status;
	pid_t pid;		   /* RUNNING: its PID 1 as the host sees it */
	int exit_code;		   /* EXITED: the command's status; -1 when its runner died */
	int64_t created;	   /* unix seconds */
	int64_t started, finished; /* 0: never */
};
void container_release(struct container *c);

/* Creates the container (its dir, empty upper, config.json, state "created") under
 * name (NULL: a generated one): -EEXIST naming the container that has the name. */
int container_create(struct store *s, const struct container_config *cfg, const char *name,
		     struct container *out, struct cairn_error *err);
/* The container a name, id or unique id prefix names, with its current state;
 * -ENOENT "no such container: NAME". */
int container_get(struct store *s, const char *name, struct container *out,
		  struct cairn_error *err);
/* Every container, newest first. */
int container_list(struct store *s, struct container **out, size_t *n, struct cairn_error *err);
void containers_free(struct container *c, size_t n);

/* Runs a created or exited container in this process, attached to its stdio (stdin
 * only with cfg.interactive; a pty with cfg.tty): mounts its root (the image's layers
 * under its writable layer) and its mounts, and runs cfg.argv in the sandbox (which
 * sandbox_enter has set up), forwarding SIGINT, SIGTERM and SIGHUP. *status is the
 * command's exit status; when the container cannot start, the error, and *status is
 * what docker exits with then: 127 (command not found), 126 (not executable) or 125.
 * Output goes to its log too. -EBUSY when it is running. An auto_remove container is
 * gone afterwards. */
int container_start(struct store *s, struct container *c, int *status, struct cairn_error *err);
/* The same, detached (cairn run -d, cairn start): a monitor process of its own (a
 * new session, stdio on /dev/null, the command's output only in the log) runs the
 * container and records how it ended; this returns once its command runs, or with
 * the error that kept it from starting (*status then as container_start gives it).
 * Its stdin is /dev/null. */
int container_start_detached(struct store *s, struct container *c, int *status,
			     struct cairn_error *err);
/* sig (SIGTERM when 0) to the running container's command, then SIGKILL when it has
 * not exited after timeout seconds; returns once it has exited (its runner let go
 * of it). A container not running is left alone: 0. */
int container_stop(struct container *c, int sig, int timeout, struct cairn_error *err);
/* Runs argv in the running container c (cairn exec), attached to this process's
 * stdio (stdin with interactive, a pty with tty) with signals forwarded: env is
 * added to the container's, cwd and user replace its own when non-NULL. -EINVAL
 * "container NAME is not running". *status is the command's, or as container_start
 * gives it when the command cannot start. */
int container_exec(struct container *c, char *const *argv, char *const *env, const char *cwd,
		   const char *user, bool interactive, bool tty, int *status,
		   struct cairn_error *err);
/* The container's output (its log) to out; with follow, then what it writes until it
 * is no longer running. */
int container_logs(struct container *c, FILE *out, bool follow, struct cairn_error *err);
/* Removes the container and its writable layer (and its anonymous volumes with
 * volumes: rm -v, run --rm): -EBUSY when it runs, unless force (SIGKILL to its
 * command first, then waiting for it to be gone). */
int container_remove(struct store *s, struct container *c, bool force, bool volumes,
		     struct cairn_error *err);

/* ---- what a container changed ---- */

struct container_commit_opts {
	const char *author;
	const char *message;
	char **changes; /* docker commit -c: "CMD ...", "ENTRYPOINT ...", "ENV K=V",
			   "WORKDIR D", "USER U", "LABEL K=V", "EXPOSE P" */
	enum layer_compression compression;
};
/* Makes the writable layer a new image: the container's image plus one layer (the
 * upper dir as a tar, whiteouts as .wh. entries), a history entry (created_by: the
 * container's command, comment: message) and the changes applied to its config;
 * tags it ref when non-NULL. A running container's layer is read as it is at that
 * moment (docker pauses it; cairn does not). *digest is the new manifest's. */
int container_commit(struct store *s, struct container *c, const char *ref,
		     const struct container_commit_opts *o, char digest[DIGEST_LEN],
		     struct cairn_error *err);

/* What the container changed against its image, as docker diff: kind 'A' (added),
 * 'C' (changed) or 'D' (deleted) and the absolute path, sorted by path. A directory
 * that holds a change is 'C' (the overlay copied it up). */
struct container_change {
	char kind;
	char *path;
};
int container_changes(struct store *s, struct container *c, struct container_change **out,
		      size_t *n, struct cairn_error *err);
void container_changes_free(struct container_change *v, size_t n);

#endif
