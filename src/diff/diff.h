/* diff: compares two images, each a manifest (or index) in a store, from the index
 * down to the tar entries of their layers, and reports every difference it finds. It
 * streams: each layer is read once, its entries hashed as they pass, so memory grows
 * with the number of files, never with their size. */
#ifndef CAIRN_DIFF_H
#define CAIRN_DIFF_H

#include "../store/store.h"

#include <stdio.h>

/* What to leave out of the comparison (diffoci's flags; all false: strict). */
struct diff_opts {
	bool ignore_timestamps;		      /* config and history "created" */
	bool ignore_history;		      /* the config's history */
	bool ignore_file_order;		      /* the order of entries in a layer */
	bool ignore_file_timestamps;	      /* entries' mtime, atime, ctime */
	bool ignore_image_name;		      /* ref-name annotations */
	bool ignore_tar_format;		      /* ustar/pax/gnu header format */
	bool ignore_file_mode_redundant_bits; /* mode bits tar keeps beyond 07777 */
	bool treat_canonical_paths_equal;     /* "./a", "/a" and "a" are one name */
	const char *platform;	/* "os/arch[/variant]" of an index; NULL: this machine */
	const char *report_dir; /* write the differing files of each side here */
};
/* Sets every ignore of diffoci's --semantic. */
void diff_opts_semantic(struct diff_opts *o);

/* One side of a comparison: an image (manifest or index digest) of a store. */
struct diff_image {
	struct store *s;
	const char *digest;
	const char *name; /* for messages and the table's header */
};

/* One difference. */
struct diff_item {
	const char *type; /* what kind of thing differs: "manifest", "config", "history",
			     "layer", "file", ... (see cairn-diff(1)) */
	const char *name; /* which one: a config field, a file's path, a descriptor */
	const char *a;	  /* its value on each side as text; NULL: absent there */
	const char *b;
	/* the 0-based layer it is in, or -1 (not in a layer: index, manifest, config,
	 * history); when images with different layer counts are compared as merged
	 * filesystems, the topmost layer of a that gave the file (-1: only b has it) */
	long layer;
};
/* Called for each difference in the order found; a negative return stops the walk
 * and is returned by diff_images. */
typedef int (*diff_report_fn)(void *ctx, const struct diff_item *it);

/* Compares a and b under o, calling report (may be NULL) for every difference;
 * *count gets how many there were (0: the images are the same under o). Two layers
 * with the same diff_id are never read; the others are read once each (a's on a
 * second thread), their files hashed as they stream by. */
int diff_images(const struct diff_image *a, const struct diff_image *b, const struct diff_opts *o,
		diff_report_fn report, void *ctx, size_t *count, struct cairn_error *err);

/* The differences of a comparison, kept: diff_list_add is a diff_report_fn whose ctx
 * is the list (zeroed at first). */
struct diff_list {
	struct diff_item *items; /* copies, owned */
	size_t n, alloc;
};
int diff_list_add(void *ctx, const struct diff_item *it);
void diff_list_release(struct diff_list *l);
/* Prints l as the table people read: a header TYPE NAME a_head b_head, then a row a
 * difference, each column as wide as its widest cell, values shown as
 * diff_value_shown does at DIFF_VALUE_WIDTH. */
void diff_list_print(FILE *out, const struct diff_list *l, const char *a_head, const char *b_head);

/* How wide a table shows a value. */
#define DIFF_VALUE_WIDTH 40
/* A value as a table shows it: "-" for NULL (absent), control characters escaped
 * (\n, \t, \xHH), and cut to width characters: a digest to "sha256:" and its first
 * 12 hex digits, anything else losing its middle to "...". New string; caller frees. */
char *diff_value_shown(const char *v, size_t width);

#endif
