/* container: volumes, cairn/volumes/<name>/: volume.json (name, created, anonymous)
 * and _data/, the directory containers mount. A volume outlives its containers and
 * is removed only when none uses it (or by force). */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void container_volume_release(struct container_volume *v)
{
	free(v->name);
	free(v->path);
	strv_free(v->users);
	memset(v, 0, sizeof *v);
}

void container_volumes_free(struct container_volume *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		container_volume_release(&v[i]);
	free(v);
}

bool container_volume_name_valid(const char *name)
{
	size_t n = strlen(name);
	if (n < 2 || n > 255)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = name[i];
		bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			     (ch >= '0' && ch <= '9');
		if (!alnum && (i == 0 || (ch != '_' && ch != '.' && ch != '-')))
			return false;
	}
	return true;
}

/* Serialises volume creation and removal against each other and against containers
 * taking volumes into use (cairn/volumes/.lock). */
static int lock_volumes(struct store *s, int *fd, struct cairn_error *err)
{
	cleanup_free char *dir = store_volumes_dir(s);
	cleanup_free char *path = xasprintf("%s/.lock", dir);
	int lfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lfd < 0 || flock(lfd, LOCK_EX) < 0) {
		int e = errno;
		if (lfd >= 0)
			close(lfd);
		return cairn_error_errno(err, e, "locking %s", path);
	}
	*fd = lfd;
	return 0;
}

/* The names of the containers whose config mounts the volume name. */
static char **users_of(struct store *s, const char *name)
{
	char **users = xcalloc(1, sizeof(char *));
	struct container *all = NULL;
	size_t n = 0;
	struct cairn_error e = CAIRN_ERROR_INIT;
	if (container_list(s, &all, &n, &e) < 0) {
		cairn_error_clear(&e);
		return users;
	}
	for (size_t i = 0; i < n; i++)
		for (size_t m = 0; m < all[i].cfg.n_mounts; m++) {
			const struct container_mount *cm = &all[i].cfg.mounts[m];
			if (cm->type == CONTAINER_MOUNT_VOLUME && cm->source &&
			    !strcmp(cm->source, name)) {
				strv_push(&users, all[i].name);
				break;
			}
		}
	containers_free(all, n);
	return users;
}

static int load(struct store *s, const char *name, struct container_volume *out,
		struct cairn_error *err)
{
	memset(out, 0, sizeof *out);
	if (!container_volume_name_valid(name))
		return cairn_error_set(err, EINVAL, "invalid volume name %s", name);
	cleanup_free char *dir = store_volumes_dir(s);
	cleanup_free char *meta = xasprintf("%s/%s/volume.json", dir, name);
	cleanup_json json_t *doc = json_load_file(meta, 0, NULL);
	if (!doc) {
		struct stat st;
		if (stat(meta, &st) < 0 && errno == ENOENT)
			return cairn_error_set(err, ENOENT, "no such volume: %s", name);
		return cairn_error_set(err, EBADMSG, "%s: not what cairn wrote", meta);
	}
	out->name = xstrdup(name);
	out->path = xasprintf("%s/%s/_data", dir, name);
	out->created = json_integer_value(json_object_get(doc, "Created"));
	out->anonymous = json_is_true(json_object_get(doc, "Anonymous"));
	out->users = users_of(s, name);
	return 0;
}

int container_volume_get(struct store *s, const char *name, struct container_volume *out,
			 struct cairn_error *err)
{
	return load(s, name, out, err);
}

int container_volume_create(struct store *s, const char *name, bool anonymous,
			    struct container_volume *out, struct cairn_error *err)
{
	char generated[65];
	if (!name) {
		unsigned char raw[32];
		for (size_t done = 0; done < sizeof raw;) {
			ssize_t got = getrandom(raw + done, sizeof raw - done, 0);
			if (got > 0)
				done += (size_t)got;
		}
		for (size_t i = 0; i < sizeof raw; i++)
			snprintf(generated + 2 * i, 3, "%02x", raw[i]);
		name = generated;
	}
	if (!container_volume_name_valid(name))
		return cairn_error_set(err, EINVAL,
				       "invalid volume name %s: use letters, digits and _.- (not "
				       "first), at least two",
				       name);
	int lock = -1;
	int r = lock_volumes(s, &lock, err);
	if (r < 0)
		return r;
	cleanup_free char *dir = store_volumes_dir(s);
	cleanup_free char *vdir = xasprintf("%s/%s", dir, name);
	cleanup_free char *data = xasprintf("%s/_data", vdir);
	if (mkdir(vdir, 0700) < 0) {
		r = errno == EEXIST ? cairn_error_set(err, EEXIST, "volume %s exists", name)
				    : cairn_error_errno(err, errno, "creating %s", vdir);
		close(lock);
		return r;
	}
	cleanup_json json_t *doc = json_pack("{s:s, s:I, s:b}", "Name", name, "Created",
					     (json_int_t)time(NULL), "Anonymous", anonymous);
	cleanup_free char *text = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
	cleanup_close int vfd = open(vdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	/* the data dir is the mount's root: 0755 as docker's */
	if (mkdir(data, 0755) < 0 || chmod(data, 0755) < 0)
		r = cairn_error_errno(err, errno, "creating %s", data);
	else if (vfd < 0)
		r = cairn_error_errno(err, errno, "opening %s", vdir);
	else
		r = util_write_file_atomic(vfd, "volume.json", text, strlen(text), err);
	if (r < 0)
		util_rm_rf(AT_FDCWD, vdir, NULL);
	close(lock);
	if (r == 0 && out)
		r = load(s, name, out, err);
	return r;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct container_volume *)a)->name,
		      ((const struct container_volume *)b)->name);
}

int container_volume_list(struct store *s, struct container_volume **out, size_t *n,
			  struct cairn_error *err)
{
	cleanup_free char *dir = store_volumes_dir(s);
	DIR *d = opendir(dir);
	if (!d)
		return cairn_error_errno(err, errno, "opening %s", dir);
	size_t alloc = 8;
	*out = xcalloc(alloc, sizeof **out);
	*n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' || !container_volume_name_valid(e->d_name))
			continue;
		if (*n == alloc) {
			alloc *= 2;
			*out = xrealloc(*out, alloc * sizeof **out);
		}
		struct cairn_error le = CAIRN_ERROR_INIT;
		if (load(s, e->d_name, &(*out)[*n], &le) == 0)
			(*n)++;
		cairn_error_clear(&le); /* one being made or removed */
	}
	closedir(d);
	qsort(*out, *n, sizeof **out, by_name);
	return 0;
}

/* Removes under the volumes lock: volume.json first, so a half-removed volume is
 * none. */
static int remove_locked(struct store *s, const char *name, struct cairn_error *err)
{
	cleanup_free char *dir = store_volumes_dir(s);
	cleanup_free char *meta = xasprintf("%s/%s/volume.json", dir, name);
	if (unlink(meta) < 0 && errno != ENOENT)
		return cairn_error_errno(err, errno, "removing %s", meta);
	cleanup_free char *vdir = xasprintf("%s/%s", dir, name);
	return util_rm_rf(AT_FDCWD, vdir, err);
}

int container_volume_remove(struct store *s, const char *name, bool force, struct cairn_error *err)
{
	struct container_volume v;
	int r = load(s, name, &v, err);
	if (r < 0)
		return r;
	if (v.users[0] && !force) {
		struct strbuf sb = STRBUF_INIT;
		for (size_t i = 0; v.users[i]; i++)
			strbuf_addf(&sb, "%s%s", i ? ", " : "", v.users[i]);
		cleanup_free char *who = strbuf_detach(&sb);
		r = cairn_error_set(err, EBUSY,
				    "volume %s is in use by container%s %s: remove %s first, or "
				    "use -f",
				    name, v.users[1] ? "s" : "", who, v.users[1] ? "them" : "it");
		container_volume_release(&v);
		return r;
	}
	container_volume_release(&v);
	int lock = -1;
	if ((r = lock_volumes(s, &lock, err)) < 0)
		return r;
	r = remove_locked(s, name, err);
	close(lock);
	return r;
}

int container_volume_prune(struct store *s, bool all, char ***removed, struct cairn_error *err)
{
	struct container_volume *v = NULL;
	size_t n = 0;
	int r = container_volume_list(s, &v, &n, err);
	for (size_t i = 0; r == 0 && i < n; i++) {
		if (v[i].users[0] || (!all && !v[i].anonymous))
			continue;
		struct cairn_error e = CAIRN_ERROR_INIT;
		/* not forced: a container that took it up meanwhile keeps it */
		if (container_volume_remove(s, v[i].name, false, &e) == 0) {
			if (removed)
				strv_push(removed, v[i].name);
		} else if (e.code != EBUSY) {
			cairn_error_move(err, &e);
			r = -EIO;
		}
		cairn_error_clear(&e);
	}
	container_volumes_free(v, n);
	return r;
}
