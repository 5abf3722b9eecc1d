/* store: leases, what running processes use, so that a gc never takes it from them.
 *
 * A process leases a digest (a blob or an unpacked layer tree) before it relies on
 * it being there: it appends the digest to cairn/tmp/proc-X/leases, its own temp
 * dir, which lives exactly as long as the process (its flocked .lock; a crashed
 * process's dir is swept by the next cairn, releasing its leases). The append and
 * the check that follows it (does the blob exist?) are made under a shared flock of
 * cairn/gc.lock; a gc holds it exclusively while it reads the leases, marks and
 * moves its garbage aside. So either the lease came first and the gc keeps the
 * digest, or the gc came first and the process sees the digest gone (and fetches
 * or builds it again). Once leased, a digest needs no lock: no gc takes it while the
 * process lives. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

/* cairn/gc.lock, opened once; -1 when the store cannot be written. */
/* cairn/gc.lock, opened once per process: a forked child opens its own, since a
 * flock belongs to the open file, and a child's unlock of an inherited one would
 * drop its parent's lock too. */
static int gc_lock_fd(struct store *s)
{
	if (s->readonly || s->cairn_fd < 0)
		return -1;
	if (s->gc_lock_fd >= 0 && s->gc_lock_pid != getpid())
		s->gc_lock_fd = -1; /* the parent's: left open for it */
	if (s->gc_lock_fd < 0) {
		s->gc_lock_fd = openat(s->cairn_fd, "gc.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		s->gc_lock_pid = getpid();
	}
	return s->gc_lock_fd;
}

int store_gc_lock(struct store *s, int how, struct cairn_error *err)
{
	int fd = gc_lock_fd(s);
	if (fd < 0)
		return cairn_error_errno(err, errno ? errno : EROFS, "opening %s/cairn/gc.lock",
					 s->root);
	while (flock(fd, how) < 0) {
		if (errno == EINTR && !util_interrupted)
			continue;
		return cairn_error_errno(err, errno, "locking %s/cairn/gc.lock", s->root);
	}
	return 0;
}

void store_gc_unlock(struct store *s)
{
	if (s->gc_lock_fd >= 0)
		flock(s->gc_lock_fd, LOCK_UN);
}

/* Appends digest to this process's lease file; false when it cannot (a read-only
 * store, no temp dir): the caller goes on unprotected, as a reader of a store it
 * cannot write always is. */
static bool lease_append(struct store *s, const char *digest)
{
	if (json_object_get(s->leased, digest))
		return true;
	if (s->lease_fd < 0 || s->lease_pid != getpid()) {
		if (store_proc_dir(s, NULL) < 0 || !s->proc_dir)
			return false;
		cleanup_free char *path = xasprintf("%s/leases", s->proc_dir);
		int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0)
			return false;
		if (s->lease_fd >= 0 && s->lease_pid == getpid())
			close(s->lease_fd);
		s->lease_fd = fd;
		s->lease_pid = getpid();
	}
	char line[DIGEST_LEN + 1];
	int n = snprintf(line, sizeof line, "%s\n", digest);
	if (util_write_all(s->lease_fd, line, (size_t)n) < 0)
		return false;
	json_object_set_new(s->leased, digest, json_true());
	return true;
}

bool store_lease_begin(struct store *s, const char *digest)
{
	if (s->readonly || s->collecting || !digest_valid(digest))
		return false;
	pthread_mutex_lock(&s->lease_mu);
	if (json_object_get(s->leased, digest) || store_gc_lock(s, LOCK_SH, NULL) < 0) {
		pthread_mutex_unlock(&s->lease_mu);
		return false;
	}
	lease_append(s, digest);
	return true;
}

void store_lease_end(struct store *s, bool locked)
{
	if (!locked)
		return;
	store_gc_unlock(s);
	pthread_mutex_unlock(&s->lease_mu);
}
