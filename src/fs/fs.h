/* fs: the one place where paths beneath a root are cleaned, resolved and written.
 *
 * Whatever cairn reads or writes inside a tree it does not trust (the build context,
 * an image's root, the target of an archive, the root of a step) goes through here,
 * so path safety has one place to audit. The rules:
 *
 * - Every path is resolved beneath a root fd with openat2(RESOLVE_IN_ROOT |
 *   RESOLVE_NO_MAGICLINKS): "/" and a ".." at the top are the root itself, a symlink
 *   resolves as it would in a chroot at the root, and /proc's magic links
 *   (/proc/self/root, /proc/N/fd/M) are refused, never followed to the host.
 * - What is created or changed is the last component, with *at() calls that do not
 *   follow it: a symlink planted there is replaced, not written through.
 * - Nothing removed crosses a mount or follows a symlink (util_rm_rf's rule).
 *
 * Every function here works on an fd of the root ("root": any fd of a directory,
 * O_PATH will do) and returns 0 or a negative errno value; those that take a struct
 * cairn_error fill it. On util only. */
#ifndef CAIRN_FS_H
#define CAIRN_FS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "../util/util.h"

/* ---- cleaning paths: the one lexical rule, with an explicit policy ----
 * Every policy splits on '/', drops empty and "." components, and lets ".." remove
 * the component before it. They differ only in a ".." with nothing left before it
 * (one that would climb above the top), and in the form of the result:
 *
 *   FS_CLEAN_IN_ROOT      ".." at the top stays there; relative, "a/b" or "" for the top.
 *                         For the sandbox (mount targets, the working directory) and this
 *                         module's own verbs.
 *   FS_CLEAN_IN_ROOT_ABS  ".." at the top stays there; absolute, "/a/b" or "/".
 *                         For the builder: COPY/ADD destinations, WORKDIR, --mount paths.
 *   FS_CLEAN_NO_ESCAPE    ".." at the top is refused (NULL); relative, "a/b" or "".
 *                         For layer extraction (entry names, hard link targets) and the
 *                         build context's sources.
 *
 * The first two say lexically what RESOLVE_IN_ROOT does when it resolves the path.
 * The last is for names that come with a promise to stay inside (an archive's
 * entries; docker's "forbidden path outside the build context"). */
enum fs_clean_policy {
	FS_CLEAN_IN_ROOT,
	FS_CLEAN_IN_ROOT_ABS,
	FS_CLEAN_NO_ESCAPE,
};

/* The cleaned path (new string; caller frees), or NULL when FS_CLEAN_NO_ESCAPE
 * refuses it. The result has no empty, "." or ".." component and no trailing '/';
 * cleaning it again gives it back. */
char *fs_clean_path(const char *path, enum fs_clean_policy policy);

/* ---- opening beneath a root ---- */

/* Also refuse every symlink on the way (the last component included). */
#define FS_NO_SYMLINKS 1u

/* Opens path beneath root (RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS, and
 * RESOLVE_NO_SYMLINKS with FS_NO_SYMLINKS in how); flags are open(2)'s (O_CLOEXEC is
 * added; O_CREAT creates with mode 0). A leading '/' means the root, as does "".
 * Returns the fd or -errno; retries when the kernel asks to (EAGAIN: a rename
 * raced the lookup). Does not allocate: safe in the sandbox child. */
int fs_open(int root, const char *path, int flags, unsigned how);

/* True when path beneath root is a directory (symlinks followed inside root). */
bool fs_is_dir(int root, const char *path);

/* Where fd is, relative to root_path (the root's canonical path, as /proc shows it):
 * "" for the root itself, "a/b" below it; NULL when fd is not beneath root_path.
 * New string; caller frees. */
char *fs_fd_path_below(const char *root_path, int fd);

/* The target of the symlink name in dirfd (AT_FDCWD: a path), whatever its length.
 * New string; caller frees. NULL with errno set when it cannot be read. */
char *fs_readlinkat(int dirfd, const char *name);

/* The target of the symlink at path beneath root (the last component is not
 * followed). Caller frees *out. */
int fs_readlink(int root, const char *path, char **out, struct cairn_error *err);

/* Reads the whole file at path beneath root into *out (NUL-terminated; *len, when
 * not NULL, excludes the NUL); caller frees. Messages name "/PATH in the root". */
int fs_read_file(int root, const char *path, char **out, size_t *len, struct cairn_error *err);

/* ---- creating beneath a root ---- */

struct fs_owner {
	uid_t uid;
	gid_t gid;
};

/* How fs_open_creating makes what is missing. */
struct fs_create_opts {
	mode_t mode;		      /* of the directories it makes (whatever the umask) */
	bool file;		      /* the last component is made an empty file (0644), not
					 a directory */
	unsigned how;		      /* fs_open's: 0 or FS_NO_SYMLINKS */
	const struct fs_owner *owner; /* owner of what it makes; NULL: the caller */
	/* Called for each entry made, with an O_PATH fd of it (borrowed) and, for the
	 * first one only, the stat of the directory it was made in taken before (NULL
	 * for the others); may be NULL. */
	void (*made)(void *ctx, int fd, bool dir, const struct stat *parent_before);
	void *ctx;
};

/* Opens rel beneath root as an O_PATH fd, making what is missing one component at a
 * time, each resolved afresh beneath the root (so a symlink on the way leads inside
 * it). rel must be clean and relative (fs_clean_path FS_CLEAN_IN_ROOT); it is
 * changed during the call and given back as it was. A component that exists but
 * cannot be opened (a dangling symlink) is -EEXIST. On failure *failed_end (may be
 * NULL) is the length of the prefix of rel that failed.
 * Allocates nothing and calls nothing that does (but o->made): the sandbox child,
 * which runs in a raw clone on a copy of the builder's memory, uses it with made
 * NULL to create its mount targets and working directory. */
int fs_open_creating(int root, char *rel, const struct fs_create_opts *o, size_t *failed_end);

/* fs_open_creating, following a dangling symlink on the way inside the root and
 * making what it points to, as runc does for mount targets and BuildKit for COPY's
 * destination (COPY f /link/ with /link -> ../tmp/t writes /tmp/t/f). *rel (clean
 * and relative, a new string) becomes the path it led to. -ELOOP after 40 links;
 * -EEXIST when a component is something else that cannot be opened. Allocates:
 * not for the sandbox child. */
int fs_open_creating_follow(int root, char **rel, const struct fs_create_opts *o,
			    size_t *failed_end);

/* mkdir -p of path beneath root: directories it makes get mode (whatever the umask)
 * and owner (NULL: the caller); existing ones are left as they are. *out (may be
 * NULL) gets an O_PATH fd of the directory. A dangling symlink on the way is an error
 * (EEXIST), never followed out of the root. */
int fs_mkdir_p(int root, const char *path, mode_t mode, const struct fs_owner *owner, int *out,
	       struct cairn_error *err);

/* Makes room for a new entry name in the directory dirfd: a directory stays when
 * keep_dir is set (*kept_dir, may be NULL, says so), anything else there is removed
 * (a directory with what is in it, not crossing mounts, as util_rm_rf). */
int fs_make_room(int dirfd, const char *name, bool keep_dir, bool *kept_dir,
		 struct cairn_error *err);

/* rm -rf of path beneath root (the root itself cannot be removed: -EINVAL). Never
 * follows a symlink (one at path is removed, not what it points to), never crosses a
 * mount (-EBUSY); what is missing is no error. */
int fs_remove(int root, const char *path, struct cairn_error *err);

/* ---- copying into a root ---- */

/* What a copy does with an entry of a source tree. */
enum fs_take {
	FS_TAKE,    /* copy it */
	FS_SKIP,    /* leave it out */
	FS_DESCEND, /* a directory left out unless something below it is taken */
};

struct fs_copy_opts {
	struct fs_owner owner;	    /* of everything written, and of directories made */
	bool keep_owner;	    /* what is written keeps the source's owner instead */
	int chmod;		    /* permission bits of everything written; -1: the source's */
	const char *chmod_symbolic; /* "u+x,go-w", applied to each entry's own mode; NULL */
	/* Which entries of a tree are copied; rel is the entry's path joined to the rel
	 * fs_copy_tree was given. NULL: all. */
	enum fs_take (*filter)(void *ctx, const char *rel, bool is_dir);
	void *ctx;
};

/* Applies a symbolic chmod (chmod(1)'s clauses [ugoa]*[+-=][rwxXst]* or [+-=][ugo],
 * comma-separated) to mode (with its type bits, for X); -EINVAL when malformed. */
int fs_chmod_symbolic(const char *spec, mode_t mode, mode_t *out);

/* Opens path beneath root (symlinks followed inside it) to copy from: a regular file
 * or a directory is opened O_RDONLY into *fd; anything else (a device, fifo or
 * socket) is never opened: *fd is -1 and *st says what it is. The type is checked
 * before opening and again on the open fd (the tree may change meanwhile). */
int fs_open_source(int root, const char *path, int *fd, struct stat *st);

/* Copies the contents of the directory src_fd (rel: its path, for the filter) into
 * dest beneath root, made as with fs_mkdir_p (0755, o->owner); dest takes src_fd's
 * mode, owner rules and mtime when this made it. Symlinks are copied as links, hard
 * links as separate files; devices, fifos and sockets are left out; extended
 * attributes are not copied. */
int fs_copy_tree(int src_fd, const char *rel, int root, const char *dest,
		 const struct fs_copy_opts *o, struct cairn_error *err);

/* Copies the file open as in (whose stat is st) to dest beneath root, or to
 * dest/name when dest names a directory (dest_is_dir, or an existing directory; name
 * NULL is then an error); the parent is made as with fs_mkdir_p, what was at the
 * name is replaced. */
int fs_copy_file(int in, const struct stat *st, int root, const char *dest, bool dest_is_dir,
		 const char *name, const struct fs_copy_opts *o, struct cairn_error *err);

/* Writes a new regular file holding data (mode 0644 before o's chmod, mtime) to dest
 * beneath root, or to dest/name as fs_copy_file. */
int fs_write_file(int root, const char *dest, bool dest_is_dir, const char *name, const void *data,
		  size_t len, int64_t mtime, const struct fs_copy_opts *o, struct cairn_error *err);

#endif
