/* registry: what the files of the module share (not part of its API). */
#ifndef CAIRN_REGISTRY_INTERNAL_H
#define CAIRN_REGISTRY_INTERNAL_H

#include "registry.h"

#include <curl/curl.h>

/* ---- http.c: an HTTP client on libcurl ---- */
struct http_client {
	bool tls_verify;
	char *ca_blob; /* PEM: the system bundle plus the cert dir's *.crt; NULL: curl's own */
	size_t ca_len;
};

/* Where a 2xx body goes, for bodies too big to hold in memory. */
struct http_sink {
	/* Before every attempt: a retry starts the body over. */
	int (*begin)(void *ud, struct cairn_error *err);
	int (*write)(void *ud, const void *data, size_t len, struct cairn_error *err);
	/* Once, when the transfer got its final response (any status; 206 for a
	 * resumed one). */
	int (*end)(void *ud, long status, struct cairn_error *err);
	/* Optional: the bytes kept so far, asked before a retry; non-zero asks the
	 * server for the rest (Range) instead of calling begin. A server that answers
	 * with the whole body (200) gets begin after all. */
	uint64_t (*resume_at)(void *ud);
	void *ud;
};

struct http_xfer {
	const char *method;	      /* "GET", "HEAD", "POST" or "PUT" */
	const char *url;	      /* borrowed; never holds credentials */
	char *const *headers;	      /* "Name: value" lines (borrowed), or NULL */
	const struct http_sink *sink; /* NULL: a 2xx body is kept in body */
	int max_tries;		      /* 0: HTTP_MAX_TRIES */
	/* A request body ("PUT", "PATCH"): upload_data (borrowed) when set, else read
	 * from upload_fd (borrowed, from offset upload_start); upload_len bytes. */
	bool upload;
	const void *upload_data;
	int upload_fd;
	uint64_t upload_start;
	uint64_t upload_len;
	/* Optional: told the bytes moved so far (sent, or received in all) now and then. */
	void (*on_progress)(void *ud, uint64_t bytes);
	void *progress_ud;
	/* the response */
	long status;
	int curl_result;    /* CURLcode of the last attempt */
	struct strbuf body; /* error bodies, and 2xx bodies without a sink (bounded) */
	char *content_type;
	char *docker_digest;
	char *www_authenticate;
	char *location;
	char *range;	   /* "Range" of an upload's status */
	char *oci_subject; /* "OCI-Subject" of a manifest PUT: the registry's referrers API */
	char *etag;	   /* "ETag" and "Last-Modified": a plain download's validators */
	char *last_modified;
	/* a plain download (ADD of a URL): http:// anywhere, as the recipe asked; the
	 * proxy and its exceptions when given (else curl takes the environment's) */
	bool allow_plain;
	const char *proxy;
	const char *no_proxy;
	/* private to http.c */
	uint64_t resume_off; /* this attempt asked for the body from here */
	bool body_seen;
	uint64_t upload_off;
	void *easy;
	struct curl_slist *slist;
	int tries;
	double not_before;
	int state;
	bool sink_failed;
	bool plain_anywhere;
	struct cairn_error sink_err;
	char errbuf[CURL_ERROR_SIZE];
};

#define HTTP_MAX_TRIES 4
#define HTTP_MAX_BODY (8u << 20)

/* curl.c: loads libcurl (once); every curl_* call goes to it. http_client_init
 * calls it first. */
int http_load_curl(struct cairn_error *err);

/* Reads the cert dir's *.crt files (when o->cert_dir is set). */
int http_client_init(struct http_client *c, const struct registry_opts *o, struct cairn_error *err);
void http_client_release(struct http_client *c);
void http_xfer_release(struct http_xfer *x);
/* Runs the transfers, at most `parallel` at once. Connection errors, 429 and 5xx
 * are retried with exponential backoff (max_tries in all). Redirects are followed;
 * curl does not send the Authorization header to another host (or port). Returns 0
 * when every transfer got a final response (check status), else the first failure. */
int http_run(struct http_client *c, struct http_xfer **x, size_t n, size_t parallel,
	     struct cairn_error *err);
/* True when plain HTTP may be used for host[:port]: loopback, or TLS checks off. */
bool http_plain_allowed(const struct http_client *c, const char *hostport);
/* Fills err with "METHOD URL: STATUS Reason[: registry's message]", of kind
 * CAIRN_ERR_REMOTE (code EACCES for 401 and 403, ENOENT for 404, else EIO); returns <0. */
int http_status_error(const struct http_xfer *x, struct cairn_error *err);
/* Fills err with why x got no response: "METHOD URL: curl's reason (after N tries)",
 * then " (hint)" when hint is set; returns <0. */
int http_failure_error(const struct http_xfer *x, const char *hint, struct cairn_error *err);

/* cairn_error_set for what a registry answered or served (a refusal, a digest or
 * size that does not match, a malformed document): the error's kind is
 * CAIRN_ERR_REMOTE, so a caller tells it from a failure of its own by asking. */
#define remote_error(err, code, ...)                                                               \
	({                                                                                         \
		int _r = cairn_error_set(err, code, __VA_ARGS__);                                  \
		cairn_error_kind(err, CAIRN_ERR_REMOTE);                                           \
		_r;                                                                                \
	})

/* ---- auth.c ---- */
/* The auth file: $REGISTRY_AUTH_FILE, else $XDG_RUNTIME_DIR/containers/auth.json,
 * else ~/.docker/config.json. existing: the first of the last two that exists (where
 * credentials are read from); else the first that can be named (where login writes).
 * NULL when there is none. Caller frees. */
char *auth_file(bool existing);
/* The auth file at path as a JSON object, an empty one when there is no file. The
 * errors never quote its text (a secret). */
int auth_file_load(const char *path, json_t **doc, struct cairn_error *err);
/* base64 of "user:pass", the "auth" of an auth file entry. Caller frees with
 * util_free_secret. */
char *auth_encode(const char *user, const char *pass);
/* Credentials for domain (and repository path) from the first auth file found:
 * $REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json,
 * ~/.docker/config.json. Returns 1 when found (*user, *pass and *source — the file —
 * are new strings), 0 when not, <0 on a broken file. */
int auth_find_credentials(const char *domain, const char *path, char **user, char **pass,
			  char **source, struct cairn_error *err);
/* Answers a 401's WWW-Authenticate challenge: Bearer (a token from the realm,
 * anonymous or with the credentials) or Basic. *header gets "Authorization: …"
 * (caller frees with util_free_secret). scope is used when the challenge has none. */
int auth_answer(struct http_client *c, const char *challenge, const struct ref *ref,
		const char *scope, char **header, struct cairn_error *err);
/* The same with the credentials given (user non-NULL) instead of the auth files'. */
int auth_answer_with(struct http_client *c, const char *challenge, const struct ref *ref,
		     const char *scope, const char *user, const char *pass, char **header,
		     struct cairn_error *err);

/* ---- conn.c: a session with one repository, for pull, push and login ---- */
struct registry_conn {
	struct http_client http;
	struct ref ref;
	const char *scope; /* borrowed: asked for when a challenge has none */
	const char *user;  /* borrowed: login's credentials (else the auth files') */
	const char *pass;
	char *origin; /* "https://host[:port]" */
	char *base;   /* origin + "/v2/PATH" */
	char *auth;   /* "Authorization: …" or NULL (a secret) */
};
/* Initialises the HTTP client and pings /v2/ (https, or plain HTTP where allowed),
 * answering the challenge. ref, scope, user and pass are set by the caller first. */
int conn_open(struct registry_conn *c, const struct registry_opts *o, struct cairn_error *err);
/* Runs x with the session's auth (and extra headers, NULL-terminated, borrowed); a
 * 401 is answered (its challenge's scope) and x retried, once. The Authorization
 * header goes only to the registry's own origin. */
int conn_request(struct registry_conn *c, struct http_xfer *x, char *const *extra,
		 struct cairn_error *err);
/* Answers the challenge of x's 401 (a new token, say, when the last one expired);
 * the session's auth is then the new header. */
int conn_answer(struct registry_conn *c, const struct http_xfer *x, struct cairn_error *err);
void conn_release(struct registry_conn *c);

/* ---- push.c, for referrers.c ---- */
/* registry_push, and *oci_subject (when non-NULL) set when the registry answered the
 * manifest's PUT with an OCI-Subject header (it keeps the referrers of a subject:
 * the distribution spec's referrers API). */
int push_image(struct store *s, const char *src, const char *dest, const struct registry_opts *o,
	       char manifest_digest[DIGEST_LEN], bool *oci_subject, struct cairn_error *err);

/* ---- pull.c, for push too ---- */
/* Checks a manifest's descriptor (what: "layer", "config") and adds it to *want,
 * once per digest; -EBADMSG when it is malformed (the caller, who knows whose
 * manifest it is, says the error's kind). */
int want_blob(struct registry_blob **want, size_t *n, json_t *desc, const char *what,
	      const char *manifest_digest, struct cairn_error *err);

/* ---- conf.c ---- */
/* True when containers' registries.conf ($CONTAINERS_REGISTRIES_CONF, else
 * /etc/containers/registries.conf) marks host[:port] insecure (plain HTTP and no
 * certificate checks, as podman does): a [[registry]] table with insecure = true
 * whose location is exactly that host (no prefix, no path), or the v1
 * [registries.insecure] registries list. A missing file marks nothing. */
bool conf_insecure(const char *hostport);

/* ---- progress.c: per-blob progress (NULL: quiet; every function takes NULL) ---- */
struct progress;
/* A terminal gets lines redrawn in place; anything else one line per finished blob.
 * verb names the moving state ("pull", "push"). NULL when out is NULL. */
struct progress *progress_new(FILE *out, const char *verb);
/* A new line for a blob; returns its index. */
size_t progress_add(struct progress *p, const char *digest, uint64_t size);
void progress_update(struct progress *p, size_t i, uint64_t done);
/* The blob is finished: state says how ("pull", "have", "exists", "mount"...). */
void progress_done(struct progress *p, size_t i, const char *state);
/* "WHAT N blobs, SIZE in TIME (RATE/s)" */
void progress_finish(struct progress *p, const char *what, size_t blobs, uint64_t bytes);
void progress_free(struct progress *p);

#endif
