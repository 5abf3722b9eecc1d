/* oci: image configs and manifests (OCI image spec v1), as jansson values, written
 * to and read from the store. */
#ifndef CAIRN_OCI_H
#define CAIRN_OCI_H

#include "../store/store.h"

/* One layer of an image, as the manifest and config see it. */
struct oci_layer {
	char digest[DIGEST_LEN];  /* blob digest */
	char diff_id[DIGEST_LEN]; /* uncompressed tar digest */
	uint64_t size;
	char *media_type;
};

/* An image loaded from the store, or being built. */
struct oci_image {
	char digest[DIGEST_LEN]; /* manifest digest ("" while being built) */
	json_t *manifest;	 /* owned; NULL while being built */
	json_t *config;		 /* owned: the full config document */
	struct oci_layer *layers;
	size_t n_layers;
	/* owned; the manifest's annotations when oci_image_write writes it (NULL or
	 * empty: none). Not loaded, not copied. */
	json_t *annotations;
};

void oci_image_release(struct oci_image *img);
void cleanup_oci_imagep(struct oci_image *img);
#define cleanup_oci_image __attribute__((cleanup(cleanup_oci_imagep)))

/* A new empty image (FROM scratch): architecture and os of this machine (GOARCH
 * names: amd64, arm64, ...), empty config, no layers, no history. */
void oci_image_init_scratch(struct oci_image *img);
/* Deep copy (the copy has no manifest and an empty digest). */
void oci_image_copy(struct oci_image *dst, const struct oci_image *src);

/* Loads the image whose manifest has this digest; checks that config and layer
 * descriptors agree (one diff_id per layer). An OCI index is followed to the
 * manifest for this machine's platform. */
int oci_image_load(struct store *s, const char *manifest_digest, struct oci_image *img,
		   struct cairn_error *err);

/* Reads blob digest of s as a JSON object (what: "manifest", "image config", for
 * messages); the store checks its digest. With bytes, *bytes gets the blob as stored
 * (caller frees); with len, *len its size. */
int oci_read_json(struct store *s, const char *digest, const char *what, json_t **out, char **bytes,
		  size_t *len, struct cairn_error *err);
/* Whether doc is an image index (OCI) or manifest list (docker). */
bool oci_is_index(const json_t *doc);
/* Checks a platform as users write it: OS/ARCH[/VARIANT]. NULL (this machine's) is
 * fine. */
int oci_platform_check(const char *platform, struct cairn_error *err);
/* The digest of the entry of index (whose digest is index_digest, for messages) for
 * platform: OS/ARCH[/VARIANT]; a variant given must match, none matches any; NULL is
 * linux/oci_arch(). -ENOENT when there is none, with a message listing those it has. */
int oci_index_pick(const json_t *index, const char *index_digest, const char *platform,
		   char out[DIGEST_LEN], struct cairn_error *err);
/* Follows digest (a manifest, or an index of them, nested at most a few deep) to the
 * manifest for platform (as oci_index_pick). With index, *index gets the outermost
 * index, or NULL when digest is a manifest (caller decrefs). */
int oci_resolve(struct store *s, const char *digest, const char *platform, char out[DIGEST_LEN],
		json_t **index, struct cairn_error *err);

/* Puts the image manifest digest of src (its manifest, config and layers; an index
 * followed to this machine's manifest, which is copied as well) into dst, each blob
 * as store_copy_blob does with link. */
int oci_image_copy_blobs(struct store *dst, struct store *src, const char *digest, bool link,
			 struct cairn_error *err);

/* The "config" object inside the config document (created when missing; borrowed). */
json_t *oci_image_runconfig(struct oci_image *img);

/* Appends a layer (to manifest layers and rootfs.diff_ids). */
void oci_image_add_layer(struct oci_image *img, const struct oci_layer *layer);
/* Appends a history entry; created is RFC 3339. Also sets the config's "created". */
void oci_image_add_history(struct oci_image *img, const char *created, const char *created_by,
			   bool empty_layer);

/* Writes config and manifest blobs (canonical JSON) and fills img->digest and
 * img->manifest; *manifest_size gets the manifest's size. */
int oci_image_write(struct store *s, struct oci_image *img, int64_t *manifest_size,
		    struct cairn_error *err);

/* GOARCH name of this machine ("amd64", "arm64", ...). */
const char *oci_arch(void);

/* ---- artifacts (OCI 1.1): documents about an image, such as its provenance ---- */

#define MEDIA_TYPE_OCI_EMPTY "application/vnd.oci.empty.v1+json"
#define MEDIA_TYPE_INTOTO "application/vnd.in-toto+json"

/* Writes an artifact manifest about the image manifest subject (in the store): an
 * image manifest with artifactType, the empty config (the 2-byte blob "{}"), one
 * layer holding data (of media type layer_type, with layer_annotations when
 * non-NULL, borrowed, which the manifest gets too) and subject's descriptor. Every
 * blob goes into the store (canonical JSON); digest and *size get the manifest's. */
int oci_artifact_write(struct store *s, const char *subject, const char *artifact_type,
		       const void *data, size_t len, const char *layer_type,
		       json_t *layer_annotations, char digest[DIGEST_LEN], int64_t *size,
		       struct cairn_error *err);
/* Reads the artifact manifest digest from the store: its subject's digest (a new
 * string, NULL when it has none) and the whole blob of its only layer, which must be
 * of media type layer_type. Caller frees *subject and *data. */
int oci_artifact_read(struct store *s, const char *digest, const char *layer_type, char **subject,
		      char **data, size_t *len, struct cairn_error *err);

#endif
