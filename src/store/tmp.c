/* store: temp space. Each process gets its own dir, cairn/tmp/proc-*, held by a
 * flock on its .lock; a dir whose lock nobody holds belonged to a process that died,
 * and the next store_open removes it. */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Removes the temp dirs of cairn processes that died without cleaning up (SIGKILL,
 * a crash, a power cut): a proc-* dir whose .lock nobody holds. The dir is renamed
 * first, so two sweepers never delete the same tree. Failures are left for later:
 * a dead-* dir a sweep could not delete is taken again by the next one (renamed
 * again, so that only one sweeper has it). A rootless build's temp dirs hold files
 * of subordinate ids, which only a process in its user namespace can delete: a
 * command outside it (cairn images) leaves them, the next build deletes them. */
void store_sweep_tmp(struct store *s)
{
	DIR *d = store_dir_stream(s->tmp_fd);
	if (!d)
		return;
	char **dead = NULL;
	struct dirent *de;
	char **left = NULL;
	while ((de = readdir(d))) {
		if (!strncmp(de->d_name, "dead-", 5)) {
			strv_push(&left, de->d_name);
			continue;
		}
		if (store_tmp_abandoned(s, de->d_name)) {
			strv_push(&left, de->d_name);
			continue;
		}
		if (strncmp(de->d_name, "proc-", 5))
			continue;
		cleanup_free char *lock = xasprintf("%s/.lock", de->d_name);
		cleanup_close int lfd = openat(s->tmp_fd, lock, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (lfd < 0 || flock(lfd, LOCK_EX | LOCK_NB) < 0)
			continue;
		cleanup_free char *gone = xasprintf("dead-%s", de->d_name + 5);
		if (renameat(s->tmp_fd, de->d_name, s->tmp_fd, gone) == 0)
			strv_push(&dead, gone);
	}
	closedir(d);
	/* renamed once the directory is read, so that no sweep reads its own new names */
	for (size_t i = 0; left && left[i]; i++) {
		cleanup_free char *again =
		    xasprintf("dead-%d.%zu-%s", (int)getpid(), i, strrchr(left[i], '-') + 1);
		if (renameat(s->tmp_fd, left[i], s->tmp_fd, again) == 0)
			strv_push(&dead, again);
	}
	strv_free(left);
	for (size_t i = 0; dead && dead[i]; i++)
		util_rm_rf(s->tmp_fd, dead[i], NULL);
	strv_free(dead);
}

/* Makes this process's temp dir: created under another name, locked, then renamed to
 * proc-*, so a sweeper never sees it unlocked. */
bool store_tmp_abandoned(struct store *s, const char *name)
{
	if (strncmp(name, "new-", 4))
		return false;
	struct stat st;
	if (fstatat(s->tmp_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return false;
	/* new-<pid>-XXXXXX: its maker is gone (in this pid namespace), or it has had a
	 * minute for what takes microseconds */
	long pid = strtol(name + 4, NULL, 10);
	return (pid > 0 && kill((pid_t)pid, 0) < 0 && errno == ESRCH) ||
	       st.st_mtime < time(NULL) - 60;
}

/* One try of store_proc_dir; -ENOENT when a sweeper took the dir meanwhile (it
 * took this process for a dead one: another pid namespace). */
static int proc_dir_try(struct store *s, struct cairn_error *err);

int store_proc_dir(struct store *s, struct cairn_error *err)
{
	if (s->proc_dir)
		return 0;
	int r = 0;
	for (int tries = 0; tries < 5; tries++) {
		struct cairn_error e = CAIRN_ERROR_INIT;
		r = proc_dir_try(s, &e);
		if (r != -ENOENT) {
			if (r < 0 && err)
				cairn_error_move(err, &e);
			cairn_error_clear(&e);
			return r;
		}
		cairn_error_clear(&e);
	}
	return cairn_error_set(err, ENOENT, "creating a temp dir in %s/cairn/tmp: it vanished",
			       s->root);
}

static int proc_dir_try(struct store *s, struct cairn_error *err)
{
	cleanup_free char *tmpl = xasprintf("%s/cairn/tmp/new-%d-XXXXXX", s->root, (int)getpid());
	if (!mkdtemp(tmpl))
		return cairn_error_errno(err, errno, "creating a temp dir in %s/cairn/tmp",
					 s->root);
	cleanup_free char *lock = xasprintf("%s/.lock", tmpl);
	int fd = open(lock, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || flock(fd, LOCK_EX) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		util_rm_rf(AT_FDCWD, tmpl, NULL);
		return cairn_error_errno(err, e, "locking %s", lock);
	}
	const char *suffix = strrchr(tmpl, '-') + 1;
	char *final = xasprintf("%s/cairn/tmp/proc-%s", s->root, suffix);
	if (rename(tmpl, final) < 0) {
		int e = errno;
		close(fd);
		util_rm_rf(AT_FDCWD, tmpl, NULL);
		free(final);
		return cairn_error_errno(err, e, "creating a temp dir in %s/cairn/tmp", s->root);
	}
	s->proc_dir = final;
	s->proc_lock_fd = fd;
	s->proc_pid = getpid();
	return 0;
}

static char *random_name(const char *prefix)
{
	unsigned char rnd[8];
	if (getrandom(rnd, sizeof rnd, 0) != sizeof rnd) {
		/* getrandom on 8 bytes only fails before the pool is ready or on
		 * ancient kernels; O_EXCL still protects us. */
		uint64_t v = (uint64_t)getpid() * 2654435761u ^ (uint64_t)util_now();
		memcpy(rnd, &v, sizeof rnd);
	}
	struct strbuf sb = STRBUF_INIT;
	strbuf_addstr(&sb, prefix);
	for (size_t i = 0; i < sizeof rnd; i++)
		strbuf_addf(&sb, "%02x", rnd[i]);
	return strbuf_detach(&sb);
}

int store_tmp_file(struct store *s, char **name, struct cairn_error *err)
{
	for (int tries = 0; tries < 100; tries++) {
		cleanup_free char *n = random_name("blob-");
		int fd = openat(s->tmp_fd, n, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd >= 0) {
			*name = steal_pointer(&n);
			return fd;
		}
		if (errno != EEXIST)
			return cairn_error_errno(err, errno, "creating a temp file in %s/cairn/tmp",
						 s->root);
	}
	return cairn_error_set(err, EEXIST, "creating a temp file in %s/cairn/tmp: no free name",
			       s->root);
}

int store_mkdtemp(struct store *s, const char *prefix, char **path, struct cairn_error *err)
{
	if (!prefix)
		prefix = "";
	if (strchr(prefix, '/'))
		return cairn_error_set(err, EINVAL, "creating a temp dir: prefix '%s' contains '/'",
				       prefix);
	int r = store_need_write(s, "creating a temp dir", err);
	if (r < 0 || (r = store_proc_dir(s, err)) < 0)
		return r;
	cleanup_free char *tmpl = xasprintf("%s/%sXXXXXX", s->proc_dir, prefix);
	if (!mkdtemp(tmpl))
		return cairn_error_errno(err, errno, "creating a temp dir in %s/cairn/tmp",
					 s->root);
	*path = steal_pointer(&tmpl);
	return 0;
}

void store_tmp_release(struct store *s)
{
	if (!s || !s->proc_dir || s->proc_pid != getpid())
		return;
	/* empty unless a caller forgot a temp dir: nothing in it is wanted */
	util_rm_rf(AT_FDCWD, s->proc_dir, NULL);
	free(s->proc_dir);
	s->proc_dir = NULL;
	close(s->proc_lock_fd);
	s->proc_lock_fd = -1;
	/* the leases went with the dir */
	if (s->lease_fd >= 0 && s->lease_pid == getpid())
		close(s->lease_fd);
	s->lease_fd = -1;
	json_object_clear(s->leased);
}

int store_write_file(struct store *s, int dirfd, const char *name, const void *data, size_t len,
		     struct cairn_error *err)
{
	int r = store_need_write(s, "writing a file", err);
	if (r < 0 || (r = store_proc_dir(s, err)) < 0)
		return r;
	cleanup_free char *base = random_name("w-");
	cleanup_free char *tmp = xasprintf("%s/%s", s->proc_dir, base);
	cleanup_close int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return cairn_error_errno(err, errno, "writing %s: creating a temp file in %s", name,
					 s->proc_dir);
	r = util_write_all(fd, data, len);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (r == 0 && renameat(AT_FDCWD, tmp, dirfd, name) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		return cairn_error_errno(err, -r, "writing %s", name);
	}
	return 0;
}

int store_tmp_claim(struct store *s, struct cairn_error *err)
{
	int r = store_need_write(s, "creating a temp dir", err);
	return r < 0 ? r : store_proc_dir(s, err);
}
