/* registry: a client of the OCI distribution API (docker registry v2): references
 * as a registry takes them (on src/ref's grammar), an HTTP client on libcurl with
 * retries, bearer/basic auth with credentials from auth.json/docker config, and
 * registry_pull, which streams an image's blobs into the store, checking every
 * digest and size on the way; registry_push, the way back; login and logout. */
#ifndef CAIRN_REGISTRY_H
#define CAIRN_REGISTRY_H

#include "../ref/ref.h"
#include "../store/store.h"

/* A reference as a registry takes it: ref_parse (docker's grammar), then what a
 * registry needs on top: a port a connection can use (at most 65535), and the tag
 * "latest" when the reference names neither tag nor digest. On error out is empty. */
int registry_ref_parse(const char *s, struct ref *out, struct cairn_error *err);
/* The host[:port] the API is served from: registry-1.docker.io for docker.io, else
 * the domain (borrowed). */
const char *registry_ref_api_host(const struct ref *r);

struct registry_opts {
	const char *platform; /* "os/arch[/variant]"; NULL = linux/<this machine> */
	bool tls_verify;      /* false: plain HTTP allowed and certificates not checked */
	const char *cert_dir; /* *.crt files in it are trusted CAs (as podman's); NULL = none */
	FILE *progress;	      /* per-blob progress and a summary; NULL = quiet */
	/* push: blobs larger than this go up in chunks of this size (PATCH each, resumed
	 * from what the registry has after a failure); 0 = REGISTRY_CHUNK_SIZE;
	 * UINT64_MAX = always in one request */
	uint64_t chunk_size;
};
#define REGISTRY_CHUNK_SIZE (64ull << 20)
#define REGISTRY_OPTS_INIT                                                                         \
	{                                                                                          \
		NULL, true, NULL, NULL, 0                                                          \
	}

/* Pulls ref (tag or digest) into the store: the platform manifest (an index or
 * manifest list is resolved to linux/<this arch> or o->platform), its config and
 * layers, exactly as served, each checked against its digest and size while it
 * streams in. Blobs the store has are not fetched. A reference with a tag is then
 * tagged in the store under its full form ("docker.io/library/debian:latest");
 * one by digest tags nothing. manifest_digest gets the platform manifest's digest. */
int registry_pull(struct store *s, const char *ref, const struct registry_opts *o,
		  char manifest_digest[DIGEST_LEN], struct cairn_error *err);

/* Pushes the image src names in the store (a tag, or a manifest digest) to dest (a
 * reference with a registry; NULL: src itself): each blob the repository lacks
 * (layers, then config) is mounted from another repository of the same registry
 * that the store has an image of with that blob, else uploaded from its store file
 * (in chunks when large); then the manifest, byte for byte as stored, under dest's
 * tag (or its digest). Progress: one line per blob ("push sha256:…", "exists …",
 * "mount …") and a summary. manifest_digest gets the digest pushed. */
int registry_push(struct store *s, const char *src, const char *dest, const struct registry_opts *o,
		  char manifest_digest[DIGEST_LEN], struct cairn_error *err);

/* Pushes the artifact manifest artifact (in the store, with a subject: an image's
 * provenance) to the repository of dest (its tag is ignored), by digest and without
 * progress, then makes it findable from its subject: by the registry itself when it
 * answered the PUT with OCI-Subject (the referrers API), else by the referrers tag
 * schema, the image index under the tag sha256-<hex of the subject> getting its
 * descriptor (artifactType and annotations; one of the same artifactType and
 * in-toto predicate type there replaced). *how (when non-NULL) gets which of the
 * two it was (a static string). */
int registry_push_referrer(struct store *s, const char *artifact, const char *dest,
			   const struct registry_opts *o, const char **how,
			   struct cairn_error *err);
/* Finds the referrer of artifact_type about subject (a manifest digest) in the
 * repository ref names (its tag or digest ignored): GET
 * referrers/<subject>?artifactType=, then, when that is 404 or lists none, the index
 * under the tag sha256-<hex>; the last one listed (the newest) into digest. -ENOENT
 * with a message when there is none. */
int registry_find_referrer(const char *ref, const char *subject, const char *artifact_type,
			   const struct registry_opts *o, char digest[DIGEST_LEN],
			   struct cairn_error *err);

/* Finds the image name names in the store: a digest reference the store has, the
 * tag as written (":latest" added: "app:1", "debian:latest"), else its full form
 * (the one pull tags: "debian" → "docker.io/library/debian:latest"), else its
 * familiar one ("docker.io/library/debian:12" → "debian:12"). -ENOENT with a message
 * when there is none. out->ref is the tag found (the name itself for a digest). */
int registry_store_lookup(struct store *s, const char *name, struct store_tag *out,
			  struct cairn_error *err);

/* A blob wanted from a repository. */
struct registry_blob {
	char digest[DIGEST_LEN];
	uint64_t size;
};
/* Downloads the blobs of want that the store lacks from the repository ref names
 * (its tag or digest is ignored), checked against digest and size, several at once. */
int registry_fetch_blobs(struct store *s, const char *ref, const struct registry_blob *want,
			 size_t n, const struct registry_opts *o, struct cairn_error *err);
/* Fetches the image manifest ref names and its config blob into memory (checked
 * against its digest), not the layers: for small artifacts such as a build cache.
 * *media_type is the config's. Caller frees *config and *media_type. */
int registry_fetch_config(const char *ref, const struct registry_opts *o, char **config,
			  size_t *len, char **media_type, struct cairn_error *err);

/* Checks user/pass with registry (HOST[:PORT]): GET /v2/, the challenge answered
 * with them. Borrows everything for the call. */
int registry_login(const char *registry, const char *user, const char *pass,
		   const struct registry_opts *o, struct cairn_error *err);
/* The auth file login writes: $REGISTRY_AUTH_FILE, else
 * $XDG_RUNTIME_DIR/containers/auth.json, else ~/.docker/config.json; NULL when
 * none can be named. Caller frees. */
char *registry_auth_file(void);
/* Stores {"auths": {registry: {"auth": base64(user:pass)}}} in that file, keeping its
 * other entries (atomic rewrite, mode 0600). *file gets its path (caller frees). */
int registry_auth_store(const char *registry, const char *user, const char *pass, char **file,
			struct cairn_error *err);
/* Removes registry's entry; -ENOENT when there is none. *file as above. */
int registry_auth_remove(const char *registry, char **file, struct cairn_error *err);

/* ---- plain downloads: ADD of a URL (fetch.c) ---- */
struct registry_fetch {
	const char *url;
	/* the validators of a copy kept from before: the server answers 304 when it
	 * still holds (NULL: none) */
	const char *if_none_match, *if_modified_since;
	/* the proxy for url's scheme and its exceptions (NULL: the environment's) */
	const char *proxy, *no_proxy;
	/* the answer */
	long status;		 /* 200, or 304 (not modified: nothing stored) */
	char digest[DIGEST_LEN]; /* with 200: the body, stored as a blob of the store */
	uint64_t size;
	char *etag, *last_modified; /* the response's, or NULL */
};
/* GETs f->url (http or https; TLS as ro says) into a blob of s. An answer other
 * than 200 or 304, or no answer, is an error naming the URL and why. */
int registry_fetch_url(struct store *s, struct registry_fetch *f, const struct registry_opts *ro,
		       struct cairn_error *err);
void registry_fetch_release(struct registry_fetch *f);

#endif
