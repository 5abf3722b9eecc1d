/* layer: directory tree → normalized tar → compressed blob in the store, in one
 * streaming pass; and safe extraction of tar streams into a directory. */
#ifndef CAIRN_LAYER_H
#define CAIRN_LAYER_H

#include "../store/store.h"

enum layer_compression {
	LAYER_ZSTD = 0,
	LAYER_GZIP,
	LAYER_NONE,
};

/* Parses "zstd", "gzip" or "none"; -EINVAL otherwise. */
int layer_compression_parse(const char *name, enum layer_compression *out);
const char *layer_compression_name(enum layer_compression c);
/* The OCI media type of a layer blob with this compression (static string). */
const char *layer_media_type(enum layer_compression c);

/* The stat of every entry of a tree at one moment: what a step changed in a whole
 * root filesystem is then found by comparing (layer_write_opts.since). */
struct layer_snapshot;
/* Walks the tree under dirfd (not into other filesystems); *out is new, caller frees
 * with layer_snapshot_free. */
int layer_snapshot_take(int dirfd, struct layer_snapshot **out, struct cairn_error *err);
void layer_snapshot_free(struct layer_snapshot *s);

struct layer_write_opts {
	enum layer_compression compression;
	/* Entries' mtimes are clamped to this when >= 0 (SOURCE_DATE_EPOCH). */
	int64_t source_date_epoch;
	/* Every entry's mtime is timestamp, whatever the tree says (--timestamp). */
	bool timestamp_set;
	int64_t timestamp;
	/* The tree is an overlay upper dir: a char device 0:0 becomes `.wh.NAME`, a
	 * directory with the overlay opaque xattr gets a `.wh..wh..opq` entry, and
	 * overlay's private xattrs are never written. */
	bool overlay_upper;
	/* The tree is a whole root filesystem and only what changed since this
	 * snapshot is written, as an overlay upper dir would hold it: new and changed
	 * entries with the directories above them, `.wh.NAME` for what is gone, and a
	 * directory that replaced another one opaque (`.wh..wh..opq`). */
	const struct layer_snapshot *since;
	/* Paths ("etc/hosts") never written: with since, changed or not; otherwise
	 * they and all below them. */
	const char *const *ignore;
};

struct layer_info {
	char diff_id[DIGEST_LEN]; /* sha256 of the uncompressed tar */
	char digest[DIGEST_LEN];  /* sha256 of the blob as stored */
	uint64_t size;		  /* blob size */
	const char *media_type;	  /* static string */
	uint64_t entries;	  /* tar entries written (0: the tree was empty) */
};

/* Writes the tree under dirfd as one layer blob into the store. Entries are sorted
 * (depth first, names in byte order, parents before children), uid/gid numeric, no
 * uname/gname, no atime/ctime; hard links within the tree become tar hard links.
 * Memory use does not depend on the size of the tree. */
int layer_write_dir(struct store *s, int dirfd, const struct layer_write_opts *opts,
		    struct layer_info *out, struct cairn_error *err);

struct layer_extract_opts {
	/* Target is an overlay lower dir: `.wh.NAME` becomes a char device 0:0 and
	 * `.wh..wh..opq` sets the opaque xattr on its directory. Otherwise (ADD of an
	 * archive) whiteout names are extracted as ordinary files. */
	bool overlay_whiteouts;
	/* Target is a whole root filesystem the layer goes on top of: `.wh.NAME` removes
	 * NAME and `.wh..wh..opq` empties its directory (of what earlier layers put
	 * there: a writer puts it before the directory's own entries). */
	bool apply_whiteouts;
	/* When >= 0, every entry is owned by this uid/gid instead of the archive's. */
	int64_t uid, gid;
	/* When set, the uncompressed stream must have this digest (an image's diff_id):
	 * otherwise the extraction fails (what was written stays for the caller to
	 * remove), so a tree kept under a diff_id always has that content. */
	const char *diff_id;
};

/* Extracts a tar stream read from fd (plain, gzip, bzip2, xz or zstd) into the
 * directory dirfd. Nothing is ever written outside dirfd: `..`, absolute paths and
 * symlinks are resolved beneath it (by fs: RESOLVE_IN_ROOT). `what` names the
 * archive in error messages. */
int layer_extract(int fd, int dirfd, const struct layer_extract_opts *opts, const char *what,
		  struct cairn_error *err);

/* True when the file at fd starts like a tar archive (plain or compressed), as
 * docker decides for ADD. Leaves the file offset at 0. */
bool layer_is_archive(int fd);

/* The unpacked tree of the layer diff_id (blob digest) in the store, an overlay lower
 * dir (whiteouts as char devices 0:0): cairn/layers/<hex>, extracted from the blob
 * first when the store has no tree yet (checked against diff_id). *path is new. */
int layer_tree(struct store *s, const char *diff_id, const char *digest, char **path,
	       struct cairn_error *err);

#endif
