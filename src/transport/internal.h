/* transport: what the files of the module share (not part of its API). One file a job:
 *   transport.c       specs, opening and releasing, store and registry images, an
 *                     index resolved, an image copied into another store
 *   layout.c          oci: and oci-archive: (a layout's index.json, a tar of a layout)
 *   docker-archive.c  docker-archive: (manifest.json, configs and layers as files) */
#ifndef CAIRN_TRANSPORT_INTERNAL_H
#define CAIRN_TRANSPORT_INTERNAL_H

#include "transport.h"

#include <archive.h>

/* The largest JSON file read from an archive or layout (index.json, manifest.json). */
#define TRANSPORT_JSON_MAX (16u << 20)

/* ---- transport.c ---- */
/* Gives img a temporary store of its own: a private directory under $TMPDIR (else
 * /var/tmp) holding a new store; img->s and img->own are that store. */
int transport_temp_store(struct transport_image *img, struct cairn_error *err);
/* The part of a spec "PATH[:REF]" before the first ':' and after it (*ref NULL when
 * there is no ':'). *path is new; caller frees. Either part empty is -EINVAL. */
int transport_split(const char *spec, const char *rest, char **path, const char **ref,
		    struct cairn_error *err);
/* The first steps of opening an archive transport "FILE[:REF]" (rest, of img->name):
 * *file and *ref as transport_split gives them, *where "PREFIX:FILE" for messages,
 * *fd the file opened for reading, and img given its temporary store. Caller frees
 * *file and *where (NULL on error before them) and closes *fd (-1 when not open). */
int transport_archive_file(struct transport_image *img, const char *rest, const char *prefix,
			   char **file, const char **ref, char **where, int *fd,
			   struct cairn_error *err);
/* A tar reader (any compression) on fd, positioned at its start. */
int transport_archive_open(int fd, const char *what, struct archive **out, struct cairn_error *err);
void transport_archive_closep(struct archive **a);
#define cleanup_archive __attribute__((cleanup(transport_archive_closep)))
/* Reads the data of the archive's current entry (at most max bytes, else -EFBIG) into
 * a new NUL-terminated buffer. */
int transport_archive_read(struct archive *a, const char *what, size_t max, char **out, size_t *len,
			   struct cairn_error *err);
/* Streams the archive's current entry into a new blob of s (checked against expect
 * when not NULL). magic (may be NULL) gets its first 4 bytes (zeros when shorter). */
int transport_archive_blob(struct archive *a, struct store *s, const char *expect, const char *what,
			   char digest[DIGEST_LEN], uint64_t *size, unsigned char magic[4],
			   struct cairn_error *err);
/* The name a pull gives an image whose archive or layout at path calls it name: a
 * reference with a name part as written (":latest" added), a bare tag after the
 * file's base name ("DIR:TAG"). NULL when neither makes a valid reference. */
char *transport_local_tag(const char *path, const char *name);

/* ---- layout.c ---- */
int transport_open_oci(struct transport_image *img, const char *rest, struct cairn_error *err);
int transport_open_oci_archive(struct transport_image *img, const char *rest,
			       struct cairn_error *err);

/* ---- docker-archive.c ---- */
int transport_open_docker_archive(struct transport_image *img, const char *rest,
				  struct cairn_error *err);

#endif
