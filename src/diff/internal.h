/* What the diff module's files share (not API): the walk's state, one layer's tar
 * entries as records, and their comparison. */
#ifndef CAIRN_DIFF_INTERNAL_H
#define CAIRN_DIFF_INTERNAL_H

#include "diff.h"

#include "../oci/oci.h"

#include <sys/types.h>

/* The walk: options, the caller's reporter and what was found so far. */
struct differ {
	const struct diff_opts *o;
	diff_report_fn report;
	void *ctx;
	size_t count;
	/* differences an option left out, since the last reset (a layer's comparison
	 * uses it to tell "nothing differs" from "nothing differs that counts") */
	size_t suppressed;
	struct cairn_error *err;
};

/* Reports one difference (a or b NULL: absent on that side); the name is formatted.
 * A negative return (the reporter's) stops the walk. */
int diff_emit(struct differ *d, const char *type, long layer, const char *a, const char *b,
	      const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* One tar entry as compared: everything its headers say, and its content's digest. */
struct diff_xattr {
	char *name;
	char *value; /* as text: printable as it is, else "0x" and hex */
};

struct diff_entry {
	char *name;  /* as the tar has it */
	char *key;   /* what entries are matched by: name, or its canonical form */
	char *link;  /* symlink or hard link target; NULL: none */
	char *uname; /* NULL: not in the header */
	char *gname;
	struct diff_xattr *xattrs; /* sorted by name */
	size_t n_xattrs;
	mode_t type; /* AE_IF* */
	bool hardlink;
	uint32_t mode; /* the header's mode field when it was read, else the permission bits */
	int64_t uid, gid;
	unsigned devmajor, devminor;
	uint64_t size;
	char sha256[DIGEST_LEN]; /* regular files with content; "" otherwise */
	int64_t mtime, atime, ctime;
	long mtime_ns, atime_ns, ctime_ns;
	bool atime_set, ctime_set;
	int format; /* ARCHIVE_FORMAT_TAR_* */
	size_t pos; /* 0-based place in its layer */
	long layer; /* the layer it came from */
	bool gone;  /* merged view: removed by a later layer */
};

struct diff_entries {
	struct diff_entry *v;
	size_t n, alloc;
};

/* Frees what an entry holds (not the entry); a list's entries and array. */
void diff_entry_release(struct diff_entry *e);
void diff_entries_release(struct diff_entries *e);

/* Reads the layer blob digest of store s and appends its entries to out (layer: its
 * index, for the records). With canonical, keys are canonical names ("/a"), else the
 * names as they are. */
int diff_scan_layer(struct store *s, const char *digest, long layer, bool canonical,
		    struct diff_entries *out, struct cairn_error *err);

/* The merged filesystem of the layers scanned into each element of layers (in
 * order): whiteouts applied, later layers winning; keys are canonical. Consumes
 * layers' contents into *out. */
void diff_merge_layers(struct diff_entries *layers, size_t n, struct diff_entries *out);

/* Sorts by key, then place (stable pairing of duplicate names). */
void diff_entries_sort(struct diff_entries *e);

/* A set of keys that differ, for the report directory, per layer and side. */
struct diff_keyset {
	char **keys; /* sorted once complete */
	size_t n, alloc;
};

/* Compares two sorted entry lists (one layer each, or two merged views): each pair's
 * fields, entries on one side only, and (unless ignored, and not merged) their order.
 * Items name the layer of a's entry (of b's when a has none; -1 for a merged item
 * only b has). The key of each entry that differs is added to ka[its layer] (kb for
 * b's; both may be NULL). */
int diff_compare_entries(struct differ *d, struct diff_entries *a, struct diff_entries *b,
			 bool merged, struct diff_keyset *ka, struct diff_keyset *kb);

/* Adds a copy of key; sort once all are in, then ask (binary search). */
void diff_keyset_add(struct diff_keyset *k, const char *key);
void diff_keyset_sort(struct diff_keyset *k);
bool diff_keyset_has(const struct diff_keyset *k, const char *key);
void diff_keyset_release(struct diff_keyset *k);

/* Writes the entries of the layer blob digest whose key is in keys beneath the
 * directory root (an fd), by their cleaned names, never outside it. */
int diff_write_entries(struct store *s, const char *digest, bool canonical,
		       const struct diff_keyset *keys, int root, struct cairn_error *err);

#endif
