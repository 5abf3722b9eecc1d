/* store: what the files of the module share (not part of its API). One file a job:
 *   store.c     opening, the folders and their modes, closing
 *   tmp.c       temp space: this process's dir in cairn/tmp, dead ones swept
 *   blob.c      blobs/sha256: written once, by name of their content
 *   index.c     index.json: the tags, rewritten under cairn/index.lock
 *   records.c   cairn/cache: build-cache records
 *   contexts.c  cairn/contexts: the build contexts' stat caches, bounded
 *   layers.c    cairn/layers: unpacked layer trees and their boot markers */
#ifndef CAIRN_STORE_INTERNAL_H
#define CAIRN_STORE_INTERNAL_H

#include "store.h"

#include <dirent.h>
#include <pthread.h>

struct store {
	char *root; /* absolute */
	int dirfd;  /* root */
	int blobs_fd;
	int layers_fd;
	int cache_fd;
	int contexts_fd;
	int tmp_fd;
	int cairn_fd;
	bool readonly; /* store_open_readonly: the cairn/ fds are -1, writers fail */
	/* this process's own temp dir, cairn/tmp/proc-XXXXXX, made on first use; its
	 * .lock is flocked as long as the process (or a child it forked) lives */
	char *proc_dir;
	pid_t proc_pid; /* the process that made proc_dir (a forked child inherits it) */
	int proc_lock_fd;
	/* leases (lease.c): the open lease file and gc lock of process *_pid, and the
	 * digests this process has leased (a JSON object used as a set) */
	int lease_fd, gc_lock_fd;
	pid_t lease_pid, gc_lock_pid;
	json_t *leased;
	/* held from store_lease_begin to store_lease_end: two threads of one process
	 * (cairn diff scans two images at once) share leased and the flock */
	pthread_mutex_t lease_mu;
	bool collecting; /* a gc of this process holds the gc lock: no leasing */
};

/* ---- store.c ---- */
/* 0, or -EROFS naming what (a writer's name for itself) on a read-only store. */
int store_need_write(struct store *s, const char *what, struct cairn_error *err);
/* 0, or -EINVAL naming what when digest is not "sha256:<64 hex>". */
int store_check_digest(const char *digest, const char *what, struct cairn_error *err);

/* A stream for readdir over the directory dirfd is open on (dirfd stays open, and
 * is not moved through); NULL on failure. Caller closes it with closedir. */
DIR *store_dir_stream(int dirfd);

/* ---- index.c ---- */
/* Takes the index lock (flock LOCK_EX on cairn/index.lock); *out is the fd to close. */
int store_lock_index(struct store *s, int *out, struct cairn_error *err);

/* ---- lease.c ---- */
/* Locks cairn/gc.lock (how: LOCK_SH or LOCK_EX). */
int store_gc_lock(struct store *s, int how, struct cairn_error *err);
void store_gc_unlock(struct store *s);
/* Leases digest for this process: returns true when it took the gc lock (shared)
 * to do so, which the caller holds while it checks that what digest names exists,
 * then drops with store_lease_end. False (nothing to drop) when digest is leased
 * already, or cannot be (a read-only store; a gc of this process). */
bool store_lease_begin(struct store *s, const char *digest);
void store_lease_end(struct store *s, bool locked);

/* ---- tmp.c ---- */
/* Replaces dirfd/name by data atomically: written and synced in this process's
 * temp dir, then renamed into place. A process killed meanwhile leaves its temp
 * file in its own dir, which the next cairn sweeps (util_write_file_atomic's would
 * stay beside name). */
int store_write_file(struct store *s, int dirfd, const char *name, const void *data, size_t len,
		     struct cairn_error *err);
/* Whether the entry name of cairn/tmp is a dir being made (new-PID-*) whose maker
 * was killed before it named it proc-*. */
bool store_tmp_abandoned(struct store *s, const char *name);
/* Makes this process's temp dir, cairn/tmp/proc-*, when it has none yet. */
int store_proc_dir(struct store *s, struct cairn_error *err);
/* Removes the temp dirs of processes that died without cleaning up. Best effort. */
void store_sweep_tmp(struct store *s);
/* A new file of a random name in cairn/tmp (O_EXCL); returns its fd, *name its name
 * (caller frees). */
int store_tmp_file(struct store *s, char **name, struct cairn_error *err);

#endif
