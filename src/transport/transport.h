/* transport: images named the way skopeo and podman name them, wherever they are,
 * each given back as a store and the digest of a manifest or index in it:
 *
 *   REF                         an image of the caller's store (a tag, NAME@DIGEST
 *                               as registry_store_lookup finds it, or a manifest
 *                               digest alone)
 *   oci:DIR[:REF]               an OCI image layout, read where it is
 *   oci-archive:FILE[:REF]      a tar of an OCI image layout
 *   docker-archive:FILE[:REF]   what `docker save` (or skopeo) writes: manifest.json,
 *                               each image's config and its layers as files
 *   docker://REF                an image of a registry
 *
 * REF of a layout is the org.opencontainers.image.ref.name annotation of its
 * index.json (as skopeo writes it: "latest", or "app:1"), of a docker archive one of
 * its RepoTags; "@N" is the Nth image (from 0) of either. Without REF the archive or
 * layout must hold one image, else the error lists what it holds.
 *
 * Nothing is written to the caller's store. A layout is opened in place, read-only;
 * archives and registry images go into a temporary store of the image's own, in a
 * private directory under $TMPDIR (else /var/tmp), removed when the image is released
 * (on error too: nothing is left behind); one whose process died without releasing it
 * (its .lock free) is removed by the next one made. Everything read from outside is checked
 * against its digest: a layout's JSON documents when they are read (the store's
 * reader), an oci-archive's blobs against their names while they are imported, a
 * docker archive's layers against the config's diff_ids, a registry's blobs as pull
 * checks them. The layers of a layout read in place are checked by transport_verify
 * (or by transport_copy as it copies them). Archive entries are read in place, never extracted:
 * no entry name becomes a path, and names that leave the archive ("..") are refused. */
#ifndef CAIRN_TRANSPORT_H
#define CAIRN_TRANSPORT_H

#include "../registry/registry.h"
#include "../store/store.h"

#include <stdio.h>

enum transport_kind {
	TRANSPORT_STORE,	  /* a reference in the caller's store */
	TRANSPORT_OCI,		  /* oci:DIR[:REF] */
	TRANSPORT_OCI_ARCHIVE,	  /* oci-archive:FILE[:REF] */
	TRANSPORT_DOCKER_ARCHIVE, /* docker-archive:FILE[:REF] */
	TRANSPORT_DOCKER,	  /* docker://REF */
};

/* What spec names: *kind, and *rest, the part after the transport's prefix (borrowed
 * from spec; spec itself for TRANSPORT_STORE). A prefix of a transport cairn does not
 * read ("dir:", "containers-storage:", "docker:" without "//") is -EINVAL, the message
 * listing those it reads; so is an empty path or reference. */
int transport_parse(const char *spec, enum transport_kind *kind, const char **rest,
		    struct cairn_error *err);

/* An image opened by transport_open. */
struct transport_image {
	struct store *s;	 /* where it is: the caller's store (borrowed) or its own */
	char digest[DIGEST_LEN]; /* its top manifest or index: an index is not resolved */
	char *name;		 /* spec as written (a store image: the tag found) */
	/* The names a pull tags it with: the layout's ref name (the name as written
	 * when it has a name part, as cairn's own store writes "app:1"; a bare tag
	 * takes the entry's io.containerd.image.name, made full, when it has one, else
	 * goes after the layout's file name: "DIR-BASENAME:TAG"), or the docker
	 * archive's RepoTags (REF alone when given), normalized as pull tags registry
	 * images ("docker.io/library/busybox:latest"). NULL-terminated; NULL when
	 * there are none (and for store and registry images). */
	char **tags;
	/* How many images the archive or layout holds (artifacts not counted), so that
	 * "@0" … "@N-1" name each; 1 for store and registry images. */
	size_t count;
	/* private */
	bool unchecked;	   /* a layout read in place: its layers not yet hashed */
	struct store *own; /* s when it is the image's own */
	char *tmp_dir;	   /* the temporary store's private directory, removed on release */
	int lock_fd;	   /* with tmp_dir: its .lock, flocked while the image is open */
};

/* Opens the image spec names. local is the caller's store, for plain references
 * (NULL: there is none, and a plain reference is -ENOENT); it is only read. ro says
 * how to reach a registry for docker:// (NULL: the defaults, quietly); the image
 * pulled is the manifest of ro->platform, as registry_pull picks it. On error out
 * is empty and every temporary file is gone. Errors name the file and what is wrong
 * with it; malformed input is CAIRN_ERR_INVALID (a missing manifest.json, a path
 * that leaves the archive, a digest that does not match). */
int transport_open(struct store *local, const char *spec, const struct registry_opts *ro,
		   struct transport_image *out, struct cairn_error *err);
/* Closes the image's own store and removes its temporary directory. Safe on an
 * empty or released image. */
void transport_image_release(struct transport_image *img);
void cleanup_transport_imagep(struct transport_image *img);
#define cleanup_transport_image __attribute__((cleanup(cleanup_transport_imagep)))

/* Hashes the blobs of img (an index resolved for platform, as oci_resolve) that
 * were not checked when it was opened: the config and layers of a layout read in
 * place, each against its descriptor's digest and size. 0 at once for any other
 * image (the store's blobs were checked when written, an archive's and a registry's
 * when imported). A mismatch is CAIRN_ERR_INVALID, naming the layout and the blob.
 * It reads each layer once; a caller that reads every layer anyway may check them
 * as it reads instead. */
int transport_verify(const struct transport_image *img, const char *platform,
		     struct cairn_error *err);

/* Copies img into dst: its manifest (an index resolved with oci_resolve for
 * platform), then its config and layers, each checked against its descriptor's
 * digest and size as it is copied; blobs dst has are not copied again, and the
 * manifest goes in last. progress (may be NULL) gets one line per blob ("copy
 * sha256:… SIZE", "have sha256:…"). out gets the manifest's digest, media type and
 * size (out->ref NULL), ready to be tagged; release it with store_tag_release. */
int transport_copy(const struct transport_image *img, struct store *dst, const char *platform,
		   FILE *progress, struct store_tag *out, struct cairn_error *err);

/* ---- writing: images out of a store ----
 * One place writes each format, for cairn save and build -o. dest is a file, written
 * under a temporary name beside it and renamed when complete (nothing is left when
 * writing fails), or "-": stdout (the caller decides whether a terminal may get it).
 * Entries have mtime 0 and owner 0:0: the same images give the same bytes. */
enum transport_format {
	/* a tar of an OCI image layout (what oci-archive: reads): an index.json entry
	 * per name (ref.name annotation as given, io.containerd.image.name normalized),
	 * the blobs as the store has them, so manifest digests are kept */
	TRANSPORT_FORMAT_OCI,
	/* what docker load reads (docker-archive:), as skopeo writes it: <hex>.json
	 * configs, <diff_id hex>.tar layers uncompressed (each checked against its
	 * diff_id), manifest.json with RepoTags as docker shows them, repositories */
	TRANSPORT_FORMAT_DOCKER,
};

/* An image to write: a manifest (or an index, resolved for this machine) of the store
 * and the names the archive gives it (NULL-terminated, may be NULL: unnamed). A
 * docker archive holds tags only: a name with a digest is left out of RepoTags. */
struct transport_out {
	const char *digest;
	char *const *names;
};

/* Writes n images of s as one archive of format to dest. Blobs (layers: diff_ids)
 * shared by images are written once. */
int transport_write_archive(struct store *s, enum transport_format format,
			    const struct transport_out *imgs, size_t n, const char *dest,
			    struct cairn_error *err);

/* Writes the filesystem of image digest of s (its layers applied in order, whiteouts
 * honoured, owners and modes kept; a user other than root owns what is written): as
 * one uncompressed tar to dest (a file or "-") when tar, else into the directory dest
 * (made when missing; what it holds stays unless the image replaces it). */
int transport_write_rootfs(struct store *s, const char *digest, bool tar, const char *dest,
			   struct cairn_error *err);

/* Which archive file holds: TRANSPORT_DOCKER_ARCHIVE when it has a manifest.json (docker
 * save, skopeo; docker 25 writes index.json too), TRANSPORT_OCI_ARCHIVE when it has an
 * index.json only. Neither is CAIRN_ERR_INVALID naming file. */
int transport_archive_detect(const char *file, enum transport_kind *kind, struct cairn_error *err);

#endif
