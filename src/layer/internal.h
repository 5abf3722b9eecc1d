/* Private helpers shared by the layer module's files (static inline: not API). */
#ifndef CAIRN_LAYER_INTERNAL_H
#define CAIRN_LAYER_INTERNAL_H

#include <locale.h>
#include <stdbool.h>
#include <sys/stat.h>

#include "layer.h"

/* One entry of a layer_snapshot (snapshot.c), as stat showed it. */
struct snapshot_entry {
	char *path; /* relative to the root: "etc", "etc/passwd" */
	ino_t ino;
	mode_t mode;
	uid_t uid;
	gid_t gid;
	off_t size;
	dev_t rdev;
	struct timespec mtime, ctime;
	struct timespec btime; /* directories: birth time, when the filesystem has it */
	/* a file changed so close to the snapshot that a change in the same clock
	 * tick would not show in its times: its content's digest, else NULL */
	char *racy_digest;
};

/* The entry at path, or NULL when the snapshot has none. */
const struct snapshot_entry *snapshot_find(const struct layer_snapshot *s, const char *path);
/* Calls fn with the name of each entry directly in dir ("" for the root, else "a/b/"). */
void snapshot_children(const struct layer_snapshot *s, const char *dir,
		       void (*fn)(const char *name, void *ctx), void *ctx);
/* The birth time of the directory at dirfd/name ({0, 0} when unknown): a directory
 * removed and made again may get the same inode number, never the same birth. */
struct timespec snapshot_dir_btime(int dirfd, const char *name);
/* The sha256 of the regular file dirfd/name, into out; false when it cannot be read. */
bool snapshot_file_digest(int dirfd, const char *name, char out[DIGEST_LEN]);
/* True when st (of the same path, now) shows a change since the snapshot. */
bool snapshot_changed(const struct snapshot_entry *e, const struct stat *st);

/* libarchive converts names between the locale's charset and pax's UTF-8. Under a
 * UTF-8 locale, UTF-8 names pass through as they are and other bytes go out as
 * hdrcharset=BINARY; so a layer's bytes do not depend on the caller's locale. */
struct utf8_locale {
	locale_t old, utf8;
};

static inline struct utf8_locale utf8_locale_enter(void)
{
	struct utf8_locale l = {(locale_t)0, newlocale(LC_ALL_MASK, "C.UTF-8", (locale_t)0)};
	if (l.utf8)
		l.old = uselocale(l.utf8);
	return l;
}

static inline void utf8_locale_leavep(struct utf8_locale *l)
{
	if (!l->utf8)
		return;
	uselocale(l->old);
	freelocale(l->utf8);
}

#define cleanup_utf8_locale __attribute__((cleanup(utf8_locale_leavep), unused))

#endif
