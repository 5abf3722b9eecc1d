/* store: the content-addressed store. Its root is an OCI image layout
 * (oci-layout, index.json, blobs/sha256/<hex>); beside the layout cairn keeps
 * its own folder `cairn/`:
 *   cairn/layers/<diff_id hex>/   unpacked layer trees (overlay lower dirs)
 *   cairn/version                 the store's format (STORE_FORMAT); a cairn refuses
 *                                 to write a store of a format it does not know
 *   cairn/cache/<key hex>         build-cache records (JSON)
 *   cairn/contexts/<hex>          build contexts' stat caches (builder/statcache.c)
 *   cairn/mounts/<hex>/           RUN --mount=type=cache dirs (builder/mounts.c)
 *   cairn/containers/<id>/        containers of cairn run (container module)
 *   cairn/volumes/<name>/         volumes of containers (container module)
 *   cairn/tmp/                    temp space (same filesystem as everything else)
 *   cairn/index.lock              lock file serialising index.json rewrites
 * Many processes may use one store at once: blobs, layer dirs and cache records
 * appear by rename, index.json is rewritten under an flock.
 *
 * Modes: the root and blobs/ are 0755 (other users' tools may read the layout),
 * never writable by others; cairn/ and each folder in it are 0700, because the
 * trees in them keep the modes images and steps gave them (setuid files, device
 * nodes) and only their parents keep other users from reaching those. */
#ifndef CAIRN_STORE_H
#define CAIRN_STORE_H

#include "../util/util.h"

/* The format of the store's private files this cairn writes (cairn/version). */
#define STORE_FORMAT 1

struct store;

/* Opens the store at root for reading and writing, creating what is missing. A
 * root others may write is refused, or made writable by its owner only when the
 * caller owns it; so is a cairn/ others may enter (made private). */
int store_open(const char *root, struct store **out, struct cairn_error *err);
/* Opens an existing store for reading only: nothing is created, locked or swept, so
 * a store the caller cannot write (a read-only mount, another user's) lists, loads
 * and pushes its images. Tags, blobs and their sizes read as usual; cache records,
 * layer dirs and stat caches are absent (-ENOENT); every writer fails with -EROFS.
 * -ENOENT when there is no store at root. The changes it makes, when it can: a
 * cairn/ the caller owns is made private (see store_open), and the temp dirs of dead
 * processes are removed. */
int store_open_readonly(const char *root, struct store **out, struct cairn_error *err);
void store_close(struct store *s);
void cleanup_storep(struct store **s);
#define cleanup_store __attribute__((cleanup(cleanup_storep)))

/* The root path (borrowed). */
const char *store_root(const struct store *s);
/* The folder of RUN cache mounts, cairn/mounts (made 0700 at open, when writable);
 * caller frees. Its entries are the builder's to name. */
char *store_mounts_dir(const struct store *s);
/* The folders of containers and volumes, cairn/containers and cairn/volumes (made
 * 0700 at open, when writable); caller frees. Their entries are the container
 * module's to name. */
char *store_containers_dir(const struct store *s);
char *store_volumes_dir(const struct store *s);
/* The default root: $CAIRN_ROOT, else /var/lib/cairn for root, else
 * $XDG_DATA_HOME/cairn or ~/.local/share/cairn. Caller frees. */
char *store_default_root(void);

/* ---- blobs ---- */
struct blob_writer;
/* Starts a new blob: a temp file in the store, hashed while written. */
int store_blob_begin(struct store *s, struct blob_writer **out, struct cairn_error *err);
int store_blob_write(struct blob_writer *w, const void *data, size_t len, struct cairn_error *err);
/* fsyncs and renames into blobs/sha256/<hex>; frees w in every case. When expect is
 * non-NULL the content must have that digest or nothing is stored. */
int store_blob_commit(struct blob_writer *w, const char *expect, char digest[DIGEST_LEN],
		      uint64_t *size, struct cairn_error *err);
/* Drops the temp file and frees w. NULL is fine. */
void store_blob_abort(struct blob_writer *w);
/* Writes a whole in-memory blob. */
int store_put_blob(struct store *s, const void *data, size_t len, char digest[DIGEST_LEN],
		   struct cairn_error *err);
bool store_has_blob(struct store *s, const char *digest);
/* Reads a whole blob (for JSON documents); checks its digest. Caller frees *out. */
int store_read_blob(struct store *s, const char *digest, char **out, size_t *len,
		    struct cairn_error *err);
/* Opens a blob for reading; caller closes *fd. */
int store_open_blob(struct store *s, const char *digest, int *fd, struct cairn_error *err);
/* Puts the blob digest of src into dst: with link, a hard link when both are on one
 * filesystem (for stores cairn made, whose blobs nobody rewrites); else a copy,
 * checked against its digest (-EBADMSG, nothing stored, when it does not match).
 * Nothing to do when dst has it. An interrupt stops a copy (-EINTR). */
int store_copy_blob(struct store *dst, struct store *src, const char *digest, bool link,
		    struct cairn_error *err);
/* Size in bytes of a stored blob. */
int store_blob_size(struct store *s, const char *digest, uint64_t *size, struct cairn_error *err);

/* ---- tags: descriptors in index.json ---- */
struct store_tag {
	char *ref;	  /* full reference, e.g. "app:1" */
	char *digest;	  /* manifest digest */
	char *media_type; /* manifest media type */
	int64_t size;	  /* manifest size */
};
void store_tag_release(struct store_tag *t);
/* Adds or replaces the tag ref (atomic rewrite of index.json under the lock). */
int store_tag_set(struct store *s, const struct store_tag *t, struct cairn_error *err);
/* -ENOENT (with a message) when ref is not tagged. */
int store_tag_get(struct store *s, const char *ref, struct store_tag *out, struct cairn_error *err);
/* -ENOENT when ref is not tagged. The referrers of an image no tag names any more
 * go with its last tag. */
int store_tag_remove(struct store *s, const char *ref, struct cairn_error *err);
/* All tags in index.json order; caller frees with store_tags_free. Descriptors
 * without a ref name annotation are skipped. */
int store_tag_list(struct store *s, struct store_tag **out, size_t *n, struct cairn_error *err);
void store_tags_free(struct store_tag *t, size_t n);

/* ---- referrers: artifacts about an image (its provenance) ----
 * An artifact manifest whose subject is an image is a descriptor in index.json
 * without a ref name (so tag listings, cairn images and `oci:ROOT:REF` readers never
 * take it for an image) and with its artifactType and the annotation
 * STORE_ANNOTATION_SUBJECT naming the subject's manifest digest (so it is found from
 * the image, and it reaches its blobs as any index.json entry does). One artifact of
 * a type per subject: a new one replaces the last; they go when the image's last
 * tag does (store_tag_remove). */
#define STORE_ANNOTATION_SUBJECT "dev.cairn.referrer.subject"
/* Records the artifact (manifest digest, size) of artifact_type about subject,
 * replacing the one recorded before (atomic rewrite of index.json under the lock). */
int store_referrer_set(struct store *s, const char *subject, const char *artifact_type,
		       const char *digest, int64_t size, struct cairn_error *err);
/* The artifact of artifact_type recorded about subject: its manifest digest into
 * digest; -ENOENT (with a message) when there is none. */
int store_referrer_get(struct store *s, const char *subject, const char *artifact_type,
		       char digest[DIGEST_LEN], struct cairn_error *err);

/* ---- build cache records: key is a digest string ---- */
/* -ENOENT when there is no record; caller frees *json. */
int store_cache_get(struct store *s, const char *key, char **json, struct cairn_error *err);
int store_cache_put(struct store *s, const char *key, const char *json, struct cairn_error *err);

/* ---- context stat caches: opaque files the build module owns, named by a digest ---- */
/* How many caches cairn/contexts keeps (one per build context directory). */
#define STORE_STAT_CACHES 32
/* Reads the cache named key; -ENOENT when there is none, -EFBIG when it is larger
 * than max bytes (nothing is read then). Caller frees *data. */
int store_stat_cache_read(struct store *s, const char *key, size_t max, char **data, size_t *len,
			  struct cairn_error *err);
/* Replaces the cache named key atomically (temp file, fsync, rename), then drops the
 * least recently written caches beyond STORE_STAT_CACHES. */
int store_stat_cache_write(struct store *s, const char *key, const void *data, size_t len,
			   struct cairn_error *err);

/* ---- unpacked layer dirs ---- */
/* Path of the unpacked tree of diff_id; -ENOENT when absent. Caller frees *path. */
int store_layer_dir(struct store *s, const char *diff_id, char **path, struct cairn_error *err);
/* Moves the directory at tmp_path (inside the store's tmp) into place as the tree of
 * diff_id. When another process got there first, tmp_path is removed instead. */
int store_layer_dir_adopt(struct store *s, const char *diff_id, const char *tmp_path,
			  struct cairn_error *err);

/* ---- temp space ---- */
/* A new private directory under cairn/tmp (same filesystem as the layer dirs). Caller
 * frees *path and removes the directory (util_rm_rf). */
int store_mkdtemp(struct store *s, const char *prefix, char **path, struct cairn_error *err);
/* Removes this process's temp dir under cairn/tmp (with what callers left in it), as
 * store_close does; a forked child calls it before _exit. A temp dir the process
 * inherited from its parent is the parent's and is left alone. */
void store_tmp_release(struct store *s);
/* Makes this process's temp dir (and so its lease file) now, when it has none: a
 * process about to fork children that use the store calls it, so that what they
 * lease stays leased until it lets go (a child's own dir would go with it). */
int store_tmp_claim(struct store *s, struct cairn_error *err);

/* ---- what the store holds, and collecting what nothing holds (gc.c) ----
 * A running cairn leases what it uses (the blobs it looks for, opens or writes, the
 * layer trees it looks up or adopts) for as long as it lives; a gc never takes a
 * leased digest. Readers of a store opened read-only lease nothing. */

enum store_item_kind {
	STORE_ITEM_BLOB,     /* blobs/sha256/<hex> */
	STORE_ITEM_TREE,     /* cairn/layers/<hex>: an unpacked layer */
	STORE_ITEM_RECORD,   /* cairn/cache/<hex>: a build-cache record */
	STORE_ITEM_MOUNT,    /* cairn/mounts/<hex>: a RUN cache mount */
	STORE_ITEM_CONTEXT,  /* cairn/contexts/<hex>: a context's stat cache */
	STORE_ITEM_LEFTOVER, /* a temp file or marker a killed process left */
};
struct store_item {
	enum store_item_kind kind;
	char *name;	   /* BLOB, TREE, RECORD: a digest; else the file's name */
	const char *where; /* its folder, relative to the root */
	uint64_t bytes;	   /* disk space, as du counts it */
	int64_t used;	   /* when last used (written, or a build hit it): unix seconds */
	unsigned held;	   /* BLOB, TREE: how many images and containers reach it */
	bool leased;	   /* BLOB, TREE: a running cairn uses it */
	bool cache;	   /* part of the build cache (what prune --all takes) */
	bool busy;	   /* MOUNT: a running build has it mounted */
	bool document;	   /* BLOB: a JSON document (a manifest, a config...), not a layer */
	bool taken;	   /* (internal to a collection) */
};
struct store_census_image {
	char *ref;	/* the tag; NULL for a referrer or a container's image */
	char *digest;	/* its manifest (or index) */
	bool container; /* a root the caller gave */
	size_t *items;	/* indexes of the blobs and trees it reaches */
	size_t n_items;
};
struct store_census {
	struct store_item *items;
	size_t n;
	struct store_census_image *images; /* index.json's descriptors, then the roots */
	size_t n_images;
	uint64_t cache_bytes; /* the build cache's size (the budget of prune) */
};
/* Digests that hold what they reach, besides the tags and the cache records: the
 * containers' images. Asked under the gc lock; *digests is new. */
struct store_roots {
	int (*get)(void *ctx, char ***digests, struct cairn_error *err);
	void *ctx;
};
/* Everything in the store, and what holds it. Caller releases out. */
int store_census(struct store *s, const struct store_roots *roots, struct store_census *out,
		 struct cairn_error *err);
void store_census_release(struct store_census *c);
/* A quick estimate of the build cache's size, reading no document: the last
 * census's figure plus what the store's blobs, unpacked trees (their remembered
 * sizes), records and stat caches have grown by since; without a census, their
 * whole size. Neither counts what a cache mount grew by, nor content an rmi left
 * to the cache: a census now and then does. *last is when the last census was
 * taken (unix seconds; 0: never). */
void store_cache_estimate(struct store *s, uint64_t *bytes, int64_t *last);

struct store_collect_opts {
	/* prune: take build-cache entries (records, cache mounts not in use, stat
	 * caches), least recently used first, before the gc */
	bool prune;
	bool all;	       /* prune: records an image's layers come from too */
	int64_t until;	       /* prune: only entries last used before this (0: any) */
	uint64_t keep_storage; /* prune: stop once the build cache is at most this */
	bool dry_run;	       /* take nothing, report what would be taken */
	struct store_roots roots;
};
struct store_collect_report {
	struct store_item *items; /* what was taken (or would be) */
	size_t n;
	uint64_t bytes;	    /* their size */
	uint64_t remaining; /* the build cache's size afterwards */
};
/* Prunes (when o->prune) then collects garbage: every blob and layer tree no tag,
 * root, kept record or lease reaches, and the leftovers of killed processes. Under
 * the gc lock held exclusively while it decides, which only moves what it takes
 * aside; the deleting is done after. */
int store_collect(struct store *s, const struct store_collect_opts *o,
		  struct store_collect_report *rep, struct cairn_error *err);
void store_collect_report_release(struct store_collect_report *rep);

/* ---- checking (fsck.c) ---- */
struct store_problem {
	char *name; /* what is wrong: "tag app:1", a blob's digest, a file */
	char *what; /* how */
	char *fix;  /* what fixes it */
	bool repaired;
};
struct store_fsck_opts {
	bool repair; /* remove damaged records, blobs no tag reaches, leftovers */
};
struct store_fsck_result {
	struct store_problem *problems;
	size_t n;
	/* the unpacked trees and the blobs they come from: diff_id, blob digest, ... */
	char **trees;
	size_t n_trees;
	size_t n_blobs; /* how many were hashed */
};
/* Checks every blob against its name and every descriptor's size, every tag's
 * manifests, configs and layers, every cache record and its layer, the unpacked
 * trees' sources, and dead processes' leftovers. The problems go to res (0 even
 * when there are some); comparing the trees with their blobs is the caller's (it
 * takes the layer module). */
int store_fsck(struct store *s, const struct store_fsck_opts *o, struct store_fsck_result *res,
	       struct cairn_error *err);
void store_fsck_result_release(struct store_fsck_result *r);
/* Removes the unpacked tree of diff_id (it is unpacked again when next needed). */
int store_layer_dir_drop(struct store *s, const char *diff_id, struct cairn_error *err);

#endif
