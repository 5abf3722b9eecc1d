/* container: containers in the store (cairn/containers/<id>): made, found by name or
 * id, listed with their state, removed. */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void container_release(struct container *c)
{
	free(c->name);
	free(c->dir);
	container_config_release(&c->cfg);
	memset(c, 0, sizeof *c);
}

void containers_free(struct container *c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		container_release(&c[i]);
	free(c);
}

/* docker's container name grammar */
static bool name_valid(const char *name)
{
	if (!((name[0] >= 'a' && name[0] <= 'z') || (name[0] >= 'A' && name[0] <= 'Z') ||
	      (name[0] >= '0' && name[0] <= '9')))
		return false;
	for (const char *p = name + 1; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '_' || *p == '.' || *p == '-'))
			return false;
	return true;
}

static bool is_id(const char *s)
{
	size_t n = strlen(s);
	if (n != 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

int container_lock(const struct container *c, int *fd, struct cairn_error *err)
{
	cleanup_free char *path = xasprintf("%s/lock", c->dir);
	int lfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lfd < 0)
		return cairn_error_errno(err, errno, "opening %s", path);
	if (flock(lfd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		close(lfd);
		if (e == EWOULDBLOCK)
			return cairn_error_set(err, EBUSY, "container %s is running", c->name);
		return cairn_error_errno(err, e, "locking %s", path);
	}
	*fd = lfd;
	return 0;
}

int container_lock_wait(const struct container *c, int *fd, int tenths, struct cairn_error *err)
{
	for (int tick = 0;; tick++) {
		struct cairn_error e = CAIRN_ERROR_INIT;
		int r = container_lock(c, fd, &e);
		if (r != -EBUSY || tick >= tenths) {
			if (r < 0 && err)
				cairn_error_move(err, &e);
			cairn_error_clear(&e);
			return r;
		}
		cairn_error_clear(&e);
		struct timespec ts = {.tv_nsec = 100 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
}

/* The state: state.json, corrected by the lock (a container runs exactly while its
 * runner holds the lock). */
static void load_state(struct container *c)
{
	cleanup_free char *path = xasprintf("%s/state.json", c->dir);
	cleanup_json json_t *doc = json_load_file(path, 0, NULL);
	const char *status = json_string_value(json_object_get(doc, "Status"));
	c->status = CONTAINER_CREATED;
	if (status && !strcmp(status, "running"))
		c->status = CONTAINER_RUNNING;
	else if (status && !strcmp(status, "exited"))
		c->status = CONTAINER_EXITED;
	c->pid = (pid_t)json_integer_value(json_object_get(doc, "Pid"));
	c->exit_code = (int)json_integer_value(json_object_get(doc, "ExitCode"));
	c->started = json_integer_value(json_object_get(doc, "StartedAt"));
	c->finished = json_integer_value(json_object_get(doc, "FinishedAt"));
	cleanup_free char *lock = xasprintf("%s/lock", c->dir);
	cleanup_close int fd = open(lock, O_RDONLY | O_CLOEXEC);
	bool held = fd >= 0 && flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
	if (held) {
		c->status = CONTAINER_RUNNING;
	} else if (c->status == CONTAINER_RUNNING) {
		/* its runner died (kill -9, a reboot) without saying how it ended */
		c->status = CONTAINER_EXITED;
		c->exit_code = -1;
		c->pid = 0;
	}
}

static int load(struct store *s, const char *id, struct container *out, struct cairn_error *err)
{
	memset(out, 0, sizeof *out);
	memcpy(out->id, id, 64);
	out->id[64] = '\0';
	cleanup_free char *dir = store_containers_dir(s);
	out->dir = xasprintf("%s/%s", dir, id);
	out->name = xstrdup(id);
	int r = container_config_load(out, err);
	if (r < 0) {
		container_release(out);
		return r;
	}
	load_state(out);
	return 0;
}

/* The ids of every container dir (a dir being made has no config.json yet and is
 * skipped by load's callers). */
static int list_ids(struct store *s, char ***ids, struct cairn_error *err)
{
	cleanup_free char *dir = store_containers_dir(s);
	DIR *d = opendir(dir);
	if (!d)
		return cairn_error_errno(err, errno, "opening %s", dir);
	*ids = xcalloc(1, sizeof(char *));
	struct dirent *e;
	while ((e = readdir(d)))
		if (is_id(e->d_name))
			strv_push(ids, e->d_name);
	closedir(d);
	return 0;
}

static int by_created(const void *a, const void *b)
{
	const struct container *x = a, *y = b;
	if (x->created != y->created)
		return x->created > y->created ? -1 : 1;
	return strcmp(x->id, y->id);
}

int container_list(struct store *s, struct container **out, size_t *n, struct cairn_error *err)
{
	cleanup_strv char **ids = NULL;
	int r = list_ids(s, &ids, err);
	if (r < 0)
		return r;
	*out = xcalloc(strv_len(ids) + 1, sizeof **out);
	*n = 0;
	for (size_t i = 0; ids[i]; i++) {
		struct cairn_error e = CAIRN_ERROR_INIT;
		if (load(s, ids[i], &(*out)[*n], &e) == 0)
			(*n)++;
		cairn_error_clear(&e); /* one being made or removed right now */
	}
	qsort(*out, *n, sizeof **out, by_created);
	return 0;
}

int container_get(struct store *s, const char *name, struct container *out, struct cairn_error *err)
{
	struct container *all = NULL;
	size_t n = 0;
	int r = container_list(s, &all, &n, err);
	if (r < 0)
		return r;
	size_t found = n, prefix_matches = 0, prefix = n;
	size_t len = strlen(name);
	for (size_t i = 0; i < n && found == n; i++) {
		if (!strcmp(all[i].name, name) || !strcmp(all[i].id, name))
			found = i;
		else if (len && !strncmp(all[i].id, name, len)) {
			prefix = i;
			prefix_matches++;
		}
	}
	if (found == n && prefix_matches == 1)
		found = prefix;
	if (found == n) {
		containers_free(all, n);
		if (prefix_matches > 1)
			return cairn_error_set(err, EINVAL,
					       "%s names more than one container: give more of "
					       "the id",
					       name);
		return cairn_error_set(err, ENOENT, "no such container: %s", name);
	}
	*out = all[found];
	memset(&all[found], 0, sizeof all[found]);
	containers_free(all, n);
	return 0;
}

static void random_hex(char *out, size_t bytes)
{
	unsigned char raw[32];
	for (size_t done = 0; done < bytes;) {
		ssize_t got = getrandom(raw + done, bytes - done, 0);
		if (got > 0)
			done += (size_t)got;
	}
	for (size_t i = 0; i < bytes; i++)
		snprintf(out + 2 * i, 3, "%02x", raw[i]);
}

int container_create(struct store *s, const struct container_config *cfg, const char *name,
		     struct container *out, struct cairn_error *err)
{
	memset(out, 0, sizeof *out);
	if (name && !name_valid(name))
		return cairn_error_set(err, EINVAL,
				       "invalid container name %s: use letters, digits and _.- "
				       "(not first)",
				       name);
	char id[65];
	random_hex(id, 32);
	cleanup_free char *generated = name ? NULL : xasprintf("cairn-%.12s", id);
	if (!name)
		name = generated;
	/* names are unique: checked under the index lock's folder-wide guard below */
	cleanup_free char *dir = store_containers_dir(s);
	cleanup_free char *lockpath = xasprintf("%s/.names.lock", dir);
	cleanup_close int lock = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lock < 0 || flock(lock, LOCK_EX) < 0)
		return cairn_error_errno(err, errno, "locking %s", lockpath);
	struct container other;
	struct cairn_error e = CAIRN_ERROR_INIT;
	if (container_get(s, name, &other, &e) == 0 && !strcmp(other.name, name)) {
		int r = cairn_error_set(err, EEXIST,
					"the container name %s is in use by container %.12s: "
					"remove it (cairn rm %s) or choose another name",
					name, other.id, name);
		container_release(&other);
		return r;
	}
	if (e.code == 0)
		container_release(&other);
	cairn_error_clear(&e);

	memcpy(out->id, id, sizeof id);
	out->name = xstrdup(name);
	out->dir = xasprintf("%s/%s", dir, id);
	out->created = (int64_t)time(NULL);
	out->status = CONTAINER_CREATED;
	out->cfg = *cfg;
	/* a deep copy: cfg stays the caller's */
	out->cfg.image = xstrdup(cfg->image);
	out->cfg.argv = strv_dup(cfg->argv);
	out->cfg.env = strv_dup(cfg->env);
	out->cfg.cwd = xstrdup(cfg->cwd ? cfg->cwd : "");
	out->cfg.user = xstrdup(cfg->user ? cfg->user : "");
	out->cfg.hostname = xstrdup(cfg->hostname && *cfg->hostname ? cfg->hostname : "");
	if (!*out->cfg.hostname) {
		free(out->cfg.hostname);
		out->cfg.hostname = xstrndup(id, 12);
	}
	out->cfg.ports = xcalloc(cfg->n_ports + 1, sizeof *cfg->ports);
	if (cfg->n_ports)
		memcpy(out->cfg.ports, cfg->ports, cfg->n_ports * sizeof *cfg->ports);
	out->cfg.mounts = xcalloc(cfg->n_mounts + 1, sizeof *cfg->mounts);
	for (size_t i = 0; i < cfg->n_mounts; i++) {
		out->cfg.mounts[i] = cfg->mounts[i];
		out->cfg.mounts[i].source =
		    cfg->mounts[i].source ? xstrdup(cfg->mounts[i].source) : NULL;
		out->cfg.mounts[i].target = xstrdup(cfg->mounts[i].target);
	}
	int r = 0;
	cleanup_free char *upper = xasprintf("%s/upper", out->dir);
	cleanup_free char *work = xasprintf("%s/work", out->dir);
	cleanup_free char *root = xasprintf("%s/root", out->dir);
	if (mkdir(out->dir, 0700) < 0 || mkdir(upper, 0755) < 0 || mkdir(work, 0700) < 0 ||
	    mkdir(root, 0755) < 0)
		r = cairn_error_errno(err, errno, "creating container %s in %s", name, out->dir);
	/* state first: a dir with a config.json is a container */
	if (r == 0)
		r = container_state_save(out, err);
	if (r == 0)
		r = container_config_save(out, err);
	if (r < 0) {
		util_rm_rf(AT_FDCWD, out->dir, NULL);
		container_release(out);
	}
	return r;
}

int container_remove(struct store *s, struct container *c, bool force, bool volumes,
		     struct cairn_error *err)
{
	int lock = -1;
	int r = container_lock(c, &lock, err);
	if (r == -EBUSY && force) {
		cairn_error_clear(err);
		if (c->pid > 0)
			kill(c->pid, SIGKILL);
		/* its runner records the end and lets go of the lock */
		if ((r = container_lock_wait(c, &lock, 100, NULL)) < 0)
			return cairn_error_set(
			    err, EBUSY, "container %s did not stop within 10 seconds", c->name);
	} else if (r == -EBUSY) {
		return cairn_error_set(err, EBUSY,
				       "container %s is running: stop it first, or remove it with "
				       "cairn rm -f",
				       c->name);
	}
	if (r < 0)
		return r;
	/* config.json first: from then on the dir is no container */
	cleanup_free char *config = xasprintf("%s/config.json", c->dir);
	if (unlink(config) < 0 && errno != ENOENT)
		r = cairn_error_errno(err, errno, "removing %s", config);
	if (r == 0)
		r = util_rm_rf(AT_FDCWD, c->dir, err);
	close(lock);
	/* its anonymous volumes, unless another container took one up (-v of its
	 * generated name) */
	for (size_t i = 0; r == 0 && volumes && i < c->cfg.n_mounts; i++) {
		const struct container_mount *m = &c->cfg.mounts[i];
		struct cairn_error e = CAIRN_ERROR_INIT;
		if (m->type == CONTAINER_MOUNT_VOLUME && m->anonymous && m->source)
			container_volume_remove(s, m->source, false, &e);
		cairn_error_clear(&e);
	}
	return r;
}
