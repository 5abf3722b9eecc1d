/* store: unpacked layer trees, cairn/layers/<diff_id hex>, the lower dirs of
 * overlay mounts. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Layer dirs are not synced to disk when they are adopted (a syncfs waits for every
 * dirty page of the filesystem, other processes' too: seconds to minutes on a busy CI
 * machine). Instead each carries a marker, cairn/layers/<hex>.boot, holding the boot
 * id it was made in. Until the machine restarts the page cache is the truth; after a
 * restart a tree whose data may not have reached the disk is dropped and unpacked
 * again from its blob, which is synced. A tree without a marker predates this rule. */
static char *current_boot_id(void)
{
	cleanup_free char *id = NULL;
	size_t len = 0;
	if (util_read_file(AT_FDCWD, "/proc/sys/kernel/random/boot_id", &id, &len, NULL) < 0)
		return xstrdup("unknown");
	id[strcspn(id, "\n")] = '\0';
	return steal_pointer(&id);
}

/* True when the tree hex was made before the last restart of the machine. */
static bool layer_dir_stale(struct store *s, const char *hex)
{
	cleanup_free char *marker = xasprintf("%s.boot", hex);
	cleanup_free char *id = NULL;
	size_t len = 0;
	struct cairn_error e = CAIRN_ERROR_INIT;
	if (util_read_file(s->layers_fd, marker, &id, &len, &e) < 0) {
		cairn_error_clear(&e);
		return false;
	}
	id[strcspn(id, "\n")] = '\0';
	cleanup_free char *now = current_boot_id();
	return strcmp(id, now) != 0;
}

/* Moves a stale tree out of the way (atomically) and deletes it. */
static void drop_layer_dir(struct store *s, const char *hex)
{
	cleanup_free char *tmp = NULL;
	if (store_mkdtemp(s, "stale-", &tmp, NULL) < 0)
		return;
	cleanup_free char *dst = xasprintf("%s/tree", tmp);
	if (renameat(s->layers_fd, hex, AT_FDCWD, dst) == 0) {
		cleanup_free char *marker = xasprintf("%s.boot", hex);
		cleanup_free char *du = xasprintf("%s.du", hex);
		unlinkat(s->layers_fd, marker, 0);
		unlinkat(s->layers_fd, du, 0);
	}
	util_rm_rf(AT_FDCWD, tmp, NULL);
}

int store_layer_dir(struct store *s, const char *diff_id, char **path, struct cairn_error *err)
{
	int r = store_check_digest(diff_id, "looking up layer dir", err);
	if (r < 0)
		return r;
	if (s->layers_fd < 0)
		return cairn_error_set(err, ENOENT, "layer %s is not unpacked in %s", diff_id,
				       s->root);
	struct stat st;
	if (fstatat(s->layers_fd, digest_hex(diff_id), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    layer_dir_stale(s, digest_hex(diff_id)))
		drop_layer_dir(s, digest_hex(diff_id));
	/* leased before it is looked for (lease.c) */
	bool locked = store_lease_begin(s, diff_id);
	r = fstatat(s->layers_fd, digest_hex(diff_id), &st, AT_SYMLINK_NOFOLLOW);
	int e = errno;
	store_lease_end(s, locked);
	errno = e;
	if (r < 0) {
		if (errno == ENOENT)
			return cairn_error_set(err, ENOENT, "layer %s is not unpacked in %s",
					       diff_id, s->root);
		return cairn_error_errno(err, errno, "looking up the unpacked layer %s", diff_id);
	}
	if (!S_ISDIR(st.st_mode))
		return cairn_error_set(err, ENOTDIR, "%s/cairn/layers/%s: not a directory", s->root,
				       digest_hex(diff_id));
	*path = xasprintf("%s/cairn/layers/%s", s->root, digest_hex(diff_id));
	return 0;
}

/* No "complete" marker is needed: callers fill a private dir under cairn/tmp and hand it
 * over only once it is complete, and a directory rename is atomic, so cairn/layers/<hex>
 * either does not exist or is whole. A crash mid-extraction leaves only a tmp dir
 * behind (for gc). A power cut is what the boot marker (above) is for: it is written
 * and synced before the rename, so a tree that reached the disk has one. */
int store_layer_dir_adopt(struct store *s, const char *diff_id, const char *tmp_path,
			  struct cairn_error *err)
{
	int r = store_check_digest(diff_id, "adopting layer dir", err);
	if (r < 0 || (r = store_need_write(s, "adopting a layer dir", err)) < 0)
		return r;
	const char *hex = digest_hex(diff_id);
	cleanup_free char *marker = xasprintf("%s.boot", hex);
	cleanup_free char *boot = current_boot_id();
	struct stat st;
	/* a tree already in place keeps its marker */
	if (fstatat(s->layers_fd, hex, &st, AT_SYMLINK_NOFOLLOW) < 0 &&
	    (r = store_write_file(s, s->layers_fd, marker, boot, strlen(boot), err)) < 0)
		return cairn_error_wrap(err, "adopting layer %s", diff_id);
	/* RENAME_NOREPLACE: an existing (possibly empty, possibly mounted) tree is never
	 * replaced; the first process to get there wins. Leased first, as a blob is. */
	bool locked = store_lease_begin(s, diff_id);
	r = renameat2(AT_FDCWD, tmp_path, s->layers_fd, hex, RENAME_NOREPLACE);
	if (r < 0 && errno == EINVAL)
		r = renameat(AT_FDCWD, tmp_path, s->layers_fd, hex);
	int e = errno;
	store_lease_end(s, locked);
	errno = e;
	if (r == 0)
		return 0;
	if (errno != EEXIST && errno != ENOTEMPTY)
		return cairn_error_errno(err, errno, "moving %s to %s/cairn/layers/%s", tmp_path,
					 s->root, hex);
	/* Another process won: the tree is the same (same diff_id), drop ours. */
	r = util_rm_rf(AT_FDCWD, tmp_path, err);
	if (r < 0)
		return cairn_error_wrap(err, "adopting layer %s: removing the duplicate", diff_id);
	return 0;
}
