/* container: running a container in this process: its root mounted (the image's layer
 * trees under its own upper dir), its mounts, the command in the sandbox, and its
 * state kept in state.json while its lock is held. */
#include "internal.h"

#include "../fs/fs.h"

#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int container_lower_dirs(struct store *s, const struct oci_image *img, char ***out,
			 struct cairn_error *err)
{
	size_t n = img->n_layers;
	char **lower = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		const struct oci_layer *l = &img->layers[n - 1 - i];
		int r = layer_tree(s, l->diff_id, l->digest, &lower[i], err);
		if (r < 0) {
			strv_free(lower);
			return r;
		}
	}
	*out = lower;
	return 0;
}

/* The root at c->dir/root: nosuid and nodev, as everything mounted from the store
 * (the command runs with no_new_privs; cairn itself must not open a node there). */
static int mount_root(struct store *s, struct container *c, struct cairn_error *err)
{
	if (!sandbox_caps()->can_mount)
		return cairn_error_set(err, EPERM,
				       "cairn run mounts an overlay for the container's root, and "
				       "isolation %s cannot mount here",
				       sandbox_isolation_name(sandbox_caps()->isolation));
	cleanup_oci_image struct oci_image img = {0};
	int r = oci_image_load(s, c->cfg.image_digest, &img, err);
	if (r < 0)
		return cairn_error_wrap(err, "image %s of container %s", c->cfg.image, c->name);
	cleanup_strv char **lower = NULL;
	if ((r = container_lower_dirs(s, &img, &lower, err)) < 0)
		return r;
	cleanup_free char *upper = xasprintf("%s/upper", c->dir);
	cleanup_free char *work = xasprintf("%s/work", c->dir);
	cleanup_free char *root = xasprintf("%s/root", c->dir);
	if ((r = sandbox_overlay_mount(lower, img.n_layers, upper, work, root, err)) < 0)
		return cairn_error_wrap(err, "mounting the root of container %s", c->name);
	struct mount_attr attr = {.attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV};
	if (mount_setattr(AT_FDCWD, root, AT_SYMLINK_NOFOLLOW, &attr, sizeof attr) < 0) {
		r = cairn_error_errno(err, errno, "making the root of container %s nosuid",
				      c->name);
		sandbox_overlay_umount(root, NULL);
	}
	return r;
}

/* Frees the n entries of v (some NULL) and v. */
static void strv_free_n(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* The directory of what the image has at target (beneath the mounted root), for a
 * new volume to start with: docker copies it in; -1 when there is nothing there. A
 * file there is an error: a volume is a directory. */
static int image_dir_at(const char *root, const char *target, int *fd, struct cairn_error *err)
{
	*fd = -1;
	cleanup_close int rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return cairn_error_errno(err, errno, "opening %s", root);
	cleanup_free char *rel = fs_clean_path(target, FS_CLEAN_IN_ROOT);
	struct stat st;
	int r = fs_open_source(rootfd, rel, fd, &st);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return cairn_error_errno(err, -r, "%s in the image", target);
	if (!S_ISDIR(st.st_mode)) {
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
		return cairn_error_set(err, ENOTDIR,
				       "%s is a file in the image: a volume mounts on a directory",
				       target);
	}
	return 0;
}

/* Makes the volumes c mounts that do not exist yet (an anonymous one gets its
 * generated name recorded in config.json, so the next start mounts it again), fills
 * each new one from the image's content at its target (docker's rule; not with
 * nocopy), and puts each volume's data dir in data[i]. */
static int prepare_volumes(struct store *s, struct container *c, const char *root, char **data,
			   struct cairn_error *err)
{
	bool named_new = false;
	for (size_t i = 0; i < c->cfg.n_mounts; i++) {
		struct container_mount *m = &c->cfg.mounts[i];
		if (m->type != CONTAINER_MOUNT_VOLUME)
			continue;
		struct container_volume v;
		bool made = false;
		int r = m->source ? container_volume_get(s, m->source, &v, err) : -ENOENT;
		if (r == -ENOENT) {
			cairn_error_clear(err);
			r = container_volume_create(s, m->source, m->anonymous, &v, err);
			if (r == -EEXIST) { /* made by another container meanwhile */
				cairn_error_clear(err);
				r = container_volume_get(s, m->source, &v, err);
			} else if (r == 0) {
				made = true;
				named_new = named_new || !m->source;
				if (!m->source)
					m->source = xstrdup(v.name);
			}
		}
		if (r < 0)
			return r;
		data[i] = xstrdup(v.path);
		container_volume_release(&v);
		if (!made || m->nocopy)
			continue;
		int src = -1;
		if ((r = image_dir_at(root, m->target, &src, err)) < 0)
			return r;
		if (src < 0)
			continue;
		cleanup_close int dst = open(data[i], O_PATH | O_DIRECTORY | O_CLOEXEC);
		struct fs_copy_opts o = {.keep_owner = true, .chmod = -1};
		r = dst < 0 ? cairn_error_errno(err, errno, "opening %s", data[i])
			    : fs_copy_tree(src, m->target, dst, "", &o, err);
		close(src);
		/* the data dir takes the image's directory's mode and owner */
		struct stat st;
		cleanup_close int again = -1;
		if (r == 0 && (again = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC)) >= 0) {
			cleanup_free char *rel = fs_clean_path(m->target, FS_CLEAN_IN_ROOT);
			if (fstatat(again, rel, &st, 0) == 0) {
				chown(data[i], st.st_uid, st.st_gid);
				chmod(data[i], st.st_mode & 07777);
			}
		}
		if (r < 0)
			return cairn_error_wrap(err, "filling volume %s from the image's %s",
						m->source, m->target);
	}
	return named_new ? container_config_save(c, err) : 0;
}

struct started {
	struct container *c;
	int notify; /* detached: the pipe to the process that waits for the start */
};

static void on_started(void *ctx, pid_t pid)
{
	struct started *st = ctx;
	st->c->pid = pid;
	st->c->status = CONTAINER_RUNNING;
	container_state_save(st->c, NULL);
	if (st->notify >= 0) {
		util_write_all(st->notify, "", 1);
		close(st->notify);
		st->notify = -1;
	}
}

/* docker's exit statuses for a container that could not start */
static int start_failure_status(int r)
{
	if (r == -ENOENT)
		return 127;
	if (r == -EACCES || r == -ENOEXEC)
		return 126;
	return 125;
}

static int start(struct store *s, struct container *c, int notify, int *status,
		 struct cairn_error *err)
{
	*status = 125;
	int lock = -1;
	int r = container_lock(c, &lock, err);
	if (r < 0)
		return r;
	cleanup_free char *root = xasprintf("%s/root", c->dir);
	if ((r = mount_root(s, c, err)) < 0) {
		close(lock);
		return r;
	}
	struct sandbox_mount *mounts = xcalloc(c->cfg.n_mounts + 1, sizeof *mounts);
	char **data = xcalloc(c->cfg.n_mounts + 1, sizeof(char *));
	r = prepare_volumes(s, c, root, data, err);
	for (size_t i = 0; r == 0 && i < c->cfg.n_mounts; i++) {
		const struct container_mount *m = &c->cfg.mounts[i];
		mounts[i] = (struct sandbox_mount){
		    .type =
			m->type == CONTAINER_MOUNT_TMPFS ? SANDBOX_MOUNT_TMPFS : SANDBOX_MOUNT_BIND,
		    .source = m->type == CONTAINER_MOUNT_VOLUME ? data[i] : m->source,
		    .target = m->target,
		    .readonly = m->readonly,
		    .size = m->size,
		};
	}
	cleanup_free char *logpath = xasprintf("%s/log", c->dir);
	cleanup_close int log = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	struct started st = {.c = c, .notify = notify};
	struct sandbox_io io = SANDBOX_IO_INIT;
	io.stdin_fd = c->cfg.interactive && notify < 0 ? 0 : -1;
	io.tty = c->cfg.tty;
	io.term_fd = c->cfg.tty && notify < 0 && isatty(0) ? 0 : -1;
	io.forward_signals = true;
	io.log_fd = log;
	io.started = on_started;
	io.ctx = &st;
	struct sandbox_spec spec = {
	    .rootfs = root,
	    .argv = c->cfg.argv,
	    .env = c->cfg.env,
	    .cwd = c->cfg.cwd,
	    .user = c->cfg.user,
	    .hostname = c->cfg.hostname,
	    .network = c->cfg.network,
	    .stdout_fd = 1,
	    .stderr_fd = 2,
	    .mounts = mounts,
	    .n_mounts = c->cfg.n_mounts,
	    .io = &io,
	    .readonly_root = c->cfg.readonly_root,
	    .ports = c->cfg.ports,
	    .n_ports = c->cfg.n_ports,
	};
	c->started = (int64_t)time(NULL);
	c->finished = 0;
	c->status = CONTAINER_RUNNING;
	c->pid = 0;
	if (r == 0)
		r = container_state_save(c, err);
	int code = 0;
	if (r == 0)
		r = sandbox_run(&spec, &code, err);
	sandbox_network_release();
	sandbox_overlay_umount(root, NULL);
	free(mounts);
	strv_free_n(data, c->cfg.n_mounts);
	c->finished = (int64_t)time(NULL);
	c->status = CONTAINER_EXITED;
	c->pid = 0;
	c->exit_code = r < 0 ? start_failure_status(r) : code;
	*status = c->exit_code;
	if (c->cfg.auto_remove) {
		close(lock);
		struct cairn_error e = CAIRN_ERROR_INIT;
		int rr = container_remove(s, c, false, true, &e);
		if (rr < 0 && r == 0) {
			cairn_error_move(err, &e);
			r = rr;
		}
		cairn_error_clear(&e);
		return r;
	}
	struct cairn_error e = CAIRN_ERROR_INIT;
	int rr = container_state_save(c, &e);
	if (rr < 0 && r == 0) {
		cairn_error_move(err, &e);
		r = rr;
	}
	cairn_error_clear(&e);
	close(lock);
	return r;
}

int container_start(struct store *s, struct container *c, int *status, struct cairn_error *err)
{
	return start(s, c, -1, status, err);
}

int container_start_detached(struct store *s, struct container *c, int *status,
			     struct cairn_error *err)
{
	*status = 125;
	int lock = -1;
	int r = container_lock(c, &lock, err); /* a clear error now, not in the monitor */
	if (r < 0)
		return r;
	close(lock);
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return cairn_error_errno(err, errno, "creating a pipe");
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		r = cairn_error_errno(err, errno, "starting the monitor of container %s", c->name);
		close(p[0]);
		close(p[1]);
		return r;
	}
	if (pid == 0) {
		/* the monitor: a session of its own, nothing of the caller's terminal */
		close(p[0]);
		setsid();
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
		}
		struct cairn_error e = CAIRN_ERROR_INIT;
		int code = 0;
		if (start(s, c, p[1], &code, &e) < 0) {
			/* not started: the waiting process shows why, with the status */
			cleanup_free char *msg = cairn_error_format(&e);
			cleanup_free char *text = xasprintf("%d %s", code, msg);
			util_write_all(p[1], text, strlen(text));
		}
		_exit(0);
	}
	close(p[1]);
	/* a NUL byte: it runs; text: why it did not start */
	struct strbuf sb = STRBUF_INIT;
	char buf[4096];
	ssize_t n;
	bool running = false;
	while ((n = read(p[0], buf, sizeof buf)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		if (!sb.len && buf[0] == '\0') {
			running = true;
			break;
		}
		strbuf_add(&sb, buf, (size_t)n);
	}
	close(p[0]);
	cleanup_free char *msg = strbuf_detach(&sb);
	if (running)
		return 0;
	waitpid(pid, NULL, 0);
	char *text = msg;
	long code = strtol(msg, &text, 10);
	if (text != msg && *text == ' ' && code > 0 && code < 256) {
		*status = (int)code;
		text++;
	}
	return cairn_error_set(
	    err, EIO, "%s", *text ? text : "the monitor of the container ended before it started");
}

int container_stop(struct container *c, int sig, int timeout, struct cairn_error *err)
{
	if (c->status != CONTAINER_RUNNING)
		return 0;
	if (c->pid > 0)
		kill(c->pid, sig ? sig : SIGTERM);
	/* its runner lets go of the lock once the command is gone */
	int lock = -1;
	int r = container_lock_wait(c, &lock, timeout * 10, err);
	if (r == -EBUSY && c->pid > 0) {
		cairn_error_clear(err);
		kill(c->pid, SIGKILL);
		if ((r = container_lock_wait(c, &lock, 100, err)) == -EBUSY) {
			cairn_error_clear(err);
			return cairn_error_set(err, EBUSY, "container %s did not stop", c->name);
		}
	}
	if (r == 0)
		close(lock);
	return r;
}

int container_logs(struct container *c, FILE *out, bool follow, struct cairn_error *err)
{
	cleanup_free char *path = xasprintf("%s/log", c->dir);
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno != ENOENT)
		return cairn_error_errno(err, errno, "opening %s", path);
	char buf[65536];
	for (;;) {
		ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf) : 0;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return cairn_error_errno(err, errno, "reading %s", path);
		if (n > 0) {
			fwrite(buf, 1, (size_t)n, out);
			continue;
		}
		fflush(out);
		if (!follow || util_interrupted)
			return 0;
		/* at the end: follow while it runs (one more read after it stopped) */
		int lock = -1;
		if (container_lock_wait(c, &lock, 0, NULL) == 0) {
			close(lock);
			follow = false;
			continue;
		}
		if (fd < 0)
			fd = open(path, O_RDONLY | O_CLOEXEC);
		struct timespec ts = {.tv_nsec = 100 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
}

int container_exec(struct container *c, char *const *argv, char *const *env, const char *cwd,
		   const char *user, bool interactive, bool tty, int *status,
		   struct cairn_error *err)
{
	*status = 1; /* docker exec's for a container that is not running */
	if (c->status != CONTAINER_RUNNING || c->pid <= 0)
		return cairn_error_set(err, EINVAL, "container %s is not running", c->name);
	cleanup_strv char **all = strv_dup(c->cfg.env);
	for (size_t i = 0; env && env[i]; i++)
		container_env_put(&all, env[i]);
	struct sandbox_io io = SANDBOX_IO_INIT;
	io.stdin_fd = interactive ? 0 : -1;
	io.tty = tty;
	io.term_fd = tty && isatty(0) ? 0 : -1;
	io.forward_signals = true;
	struct sandbox_exec_spec x = {
	    .pid = c->pid,
	    .argv = argv,
	    .env = all,
	    .cwd = cwd ? cwd : c->cfg.cwd,
	    .user = user ? user : c->cfg.user,
	    .stdout_fd = 1,
	    .stderr_fd = 2,
	    .io = &io,
	};
	int r = sandbox_exec(&x, status, err);
	if (r == -ESRCH) {
		cairn_error_clear(err);
		return cairn_error_set(err, EINVAL, "container %s is not running", c->name);
	}
	if (r < 0)
		*status = start_failure_status(r);
	return r;
}
