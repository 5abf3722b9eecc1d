/* registry: an HTTP client on libcurl's multi interface — parallel transfers with
 * retries and backoff, bodies streamed to a sink, redirects followed without
 * handing the Authorization header to another host. */
#include "internal.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

enum { XFER_WAITING, XFER_RUNNING, XFER_DONE };

static void cleanup_dirp(DIR **d)
{
	if (*d)
		closedir(*d);
}

/* podman's --cert-dir: every *.crt is a CA, trusted beside the system's. */
static int load_cert_dir(struct http_client *c, const char *dir, struct cairn_error *err)
{
	cleanup_strbuf struct strbuf pem = STRBUF_INIT;
	CURL *probe = curl_easy_init();
	char *sys = NULL;
	if (probe && curl_easy_getinfo(probe, CURLINFO_CAINFO, &sys) == CURLE_OK && sys) {
		cleanup_free char *data = NULL;
		size_t len = 0;
		struct cairn_error ignored = CAIRN_ERROR_INIT;
		if (util_read_file(AT_FDCWD, sys, &data, &len, &ignored) == 0) {
			strbuf_add(&pem, data, len);
			strbuf_addch(&pem, '\n');
		}
		cairn_error_clear(&ignored);
	}
	if (probe)
		curl_easy_cleanup(probe);
	__attribute__((cleanup(cleanup_dirp))) DIR *d = opendir(dir);
	if (!d)
		return cairn_error_errno(err, errno, "--cert-dir %s", dir);
	cleanup_strv char **names = NULL;
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t n = strlen(e->d_name);
		if (n > 4 && !strcmp(e->d_name + n - 4, ".crt"))
			strv_push(&names, e->d_name);
	}
	size_t count = strv_len(names);
	strv_sort(names);
	for (size_t i = 0; i < count; i++) {
		cleanup_free char *path = xasprintf("%s/%s", dir, names[i]);
		cleanup_free char *data = NULL;
		size_t len = 0;
		if (util_read_file(AT_FDCWD, path, &data, &len, err) < 0)
			return cairn_error_wrap(err, "--cert-dir");
		strbuf_add(&pem, data, len);
		strbuf_addch(&pem, '\n');
	}
	c->ca_len = pem.len;
	c->ca_blob = strbuf_detach(&pem);
	return 0;
}

int http_client_init(struct http_client *c, const struct registry_opts *o, struct cairn_error *err)
{
	memset(c, 0, sizeof *c);
	if (http_load_curl(err) < 0)
		return -1;
	static bool global_done;
	if (!global_done) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			return cairn_error_set(err, EIO, "initialising libcurl failed");
		global_done = true;
	}
	c->tls_verify = o->tls_verify;
	if (o->cert_dir)
		return load_cert_dir(c, o->cert_dir, err);
	return 0;
}

void http_client_release(struct http_client *c)
{
	free(c->ca_blob);
	memset(c, 0, sizeof *c);
}

static void reset_response(struct http_xfer *x)
{
	x->status = 0;
	strbuf_release(&x->body);
	free(x->content_type);
	free(x->docker_digest);
	free(x->www_authenticate);
	free(x->location);
	free(x->range);
	free(x->oci_subject);
	free(x->etag);
	free(x->last_modified);
	x->content_type = x->docker_digest = x->www_authenticate = x->location = x->range =
	    x->oci_subject = x->etag = x->last_modified = NULL;
	x->body_seen = false;
	x->errbuf[0] = '\0';
}

void http_xfer_release(struct http_xfer *x)
{
	reset_response(x);
	if (x->easy)
		curl_easy_cleanup(x->easy);
	x->easy = NULL;
	curl_slist_free_all(x->slist);
	x->slist = NULL;
	cairn_error_clear(&x->sink_err);
}

bool http_plain_allowed(const struct http_client *c, const char *hostport)
{
	if (!c->tls_verify)
		return true;
	cleanup_free char *host = NULL;
	if (hostport[0] == '[') {
		const char *close = strchr(hostport, ']');
		host = xstrndup(hostport + 1, close ? (size_t)(close - hostport - 1) : 0);
	} else {
		const char *colon = strchr(hostport, ':');
		host = colon ? xstrndup(hostport, (size_t)(colon - hostport)) : xstrdup(hostport);
	}
	if (!strcasecmp(host, "localhost"))
		return true;
	struct in_addr a4;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	struct in6_addr a6;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return false;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
	struct http_xfer *x = ud;
	size_t len = size * nmemb;
	if (len >= 5 && !strncmp(p, "HTTP/", 5)) {
		/* a new response (after a redirect or a 100): forget the last one's */
		free(x->content_type);
		free(x->docker_digest);
		free(x->www_authenticate);
		free(x->location);
		free(x->range);
		free(x->oci_subject);
		free(x->etag);
		free(x->last_modified);
		x->content_type = x->docker_digest = x->www_authenticate = x->location = x->range =
		    x->oci_subject = x->etag = x->last_modified = NULL;
		return len;
	}
	const char *colon = memchr(p, ':', len);
	if (!colon)
		return len;
	size_t name_len = (size_t)(colon - p);
	const char *v = colon + 1;
	const char *end = p + len;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
		end--;
	char **slot = NULL;
	if (name_len == 12 && !strncasecmp(p, "Content-Type", 12))
		slot = &x->content_type;
	else if (name_len == 21 && !strncasecmp(p, "Docker-Content-Digest", 21))
		slot = &x->docker_digest;
	else if (name_len == 16 && !strncasecmp(p, "WWW-Authenticate", 16))
		slot = &x->www_authenticate;
	else if (name_len == 8 && !strncasecmp(p, "Location", 8))
		slot = &x->location;
	else if (name_len == 5 && !strncasecmp(p, "Range", 5))
		slot = &x->range;
	else if (name_len == 13 && !strncasecmp(p, "Content-Range", 13))
		slot = &x->range;
	else if (name_len == 11 && !strncasecmp(p, "OCI-Subject", 11))
		slot = &x->oci_subject;
	else if (name_len == 4 && !strncasecmp(p, "ETag", 4))
		slot = &x->etag;
	else if (name_len == 13 && !strncasecmp(p, "Last-Modified", 13))
		slot = &x->last_modified;
	if (slot && !*slot)
		*slot = xstrndup(v, (size_t)(end - v));
	return len;
}

/* The first bytes of a 2xx body on an attempt that asked for a Range: a 206 must
 * start where we are; a 200 is the whole body again, so the sink starts over. */
static int resume_check(struct http_xfer *x, long code)
{
	if (!x->resume_off)
		return code == 206 ? remote_error(&x->sink_err, EPROTO,
						  "%s %s: 206 for a request without a Range",
						  x->method, x->url)
				   : 0;
	if (code == 206) {
		unsigned long long start = 0;
		if (!x->range || sscanf(x->range, "bytes %llu-", &start) != 1 ||
		    start != x->resume_off)
			return remote_error(&x->sink_err, EPROTO,
					    "%s %s: asked for bytes from %llu, got \"%s\"",
					    x->method, x->url, (unsigned long long)x->resume_off,
					    x->range ? x->range : "no Content-Range");
		return 0;
	}
	x->resume_off = 0;
	return x->sink->begin ? x->sink->begin(x->sink->ud, &x->sink_err) : 0;
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
	struct http_xfer *x = ud;
	size_t len = size * nmemb;
	long code = 0;
	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
	if (code >= 200 && code < 300 && x->sink && !x->body_seen) {
		x->body_seen = true;
		if (resume_check(x, code) < 0) {
			x->sink_failed = true;
			return 0;
		}
	}
	if (code >= 200 && code < 300 && x->sink) {
		if (x->sink->write(x->sink->ud, p, len, &x->sink_err) < 0) {
			x->sink_failed = true;
			return 0;
		}
		return len;
	}
	if (x->body.len + len > HTTP_MAX_BODY) {
		if (code >= 200 && code < 300) {
			remote_error(&x->sink_err, EFBIG,
				     "%s %s: the response is larger than %u bytes", x->method,
				     x->url, HTTP_MAX_BODY);
			x->sink_failed = true;
			return 0;
		}
		return len; /* an error body: what we have is enough */
	}
	strbuf_add(&x->body, p, len);
	return len;
}

/* Before each request, redirects included: plain HTTP goes to loopback only (unless
 * TLS checks are off), judged by the address connected to, not the name. */
static int on_prereq(void *ud, char *primary_ip, char *local_ip, int primary_port, int local_port)
{
	struct http_xfer *x = ud;
	char *url = NULL;
	curl_easy_getinfo(x->easy, CURLINFO_EFFECTIVE_URL, &url);
	if (!x->plain_anywhere && url && !strncasecmp(url, "http:", 5)) {
		struct in_addr a4;
		struct in6_addr a6;
		bool loop =
		    (inet_pton(AF_INET, primary_ip, &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127) ||
		    (inet_pton(AF_INET6, primary_ip, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6));
		if (!loop) {
			/* the redirect target may carry signed query parameters: not shown */
			cairn_error_set(
			    &x->sink_err, EPERM,
			    "%s %s: plain HTTP to %s refused (only to loopback, or with "
			    "--tls-verify=false)",
			    x->method, x->url, primary_ip);
			x->sink_failed = true;
			return CURL_PREREQFUNC_ABORT;
		}
	}
	return CURL_PREREQFUNC_OK;
}

static size_t on_read(char *buf, size_t size, size_t nmemb, void *ud)
{
	struct http_xfer *x = ud;
	size_t want = size * nmemb;
	uint64_t left = x->upload_len - x->upload_off;
	if (want > left)
		want = (size_t)left;
	if (want == 0)
		return 0;
	if (x->upload_data) {
		memcpy(buf, (const char *)x->upload_data + x->upload_off, want);
	} else {
		ssize_t n;
		do
			n = pread(x->upload_fd, buf, want,
				  (off_t)(x->upload_start + x->upload_off));
		while (n < 0 && errno == EINTR);
		if (n <= 0) {
			cairn_error_set(&x->sink_err, n < 0 ? errno : EIO,
					"%s %s: reading the request body: %s", x->method, x->url,
					n < 0 ? strerror(errno) : "unexpected end of file");
			x->sink_failed = true;
			return CURL_READFUNC_ABORT;
		}
		want = (size_t)n;
	}
	x->upload_off += want;
	return want;
}

/* curl rewinds the body when it has to send it again (a redirect, an auth retry). */
static int on_seek(void *ud, curl_off_t offset, int origin)
{
	struct http_xfer *x = ud;
	if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > x->upload_len)
		return CURL_SEEKFUNC_CANTSEEK;
	x->upload_off = (uint64_t)offset;
	return CURL_SEEKFUNC_OK;
}

static int on_xferinfo(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	struct http_xfer *x = ud;
	(void)dltotal;
	(void)ultotal;
	x->on_progress(x->progress_ud,
		       x->upload ? (uint64_t)ulnow : x->resume_off + (uint64_t)dlnow);
	return 0;
}

static int xfer_start(struct http_client *c, CURLM *m, struct http_xfer *x, struct cairn_error *err)
{
	reset_response(x);
	x->tries++;
	/* a retry of a download picks up where the last attempt stopped */
	x->resume_off =
	    x->tries > 1 && x->sink && x->sink->resume_at ? x->sink->resume_at(x->sink->ud) : 0;
	if (!x->resume_off && x->sink && x->sink->begin && x->sink->begin(x->sink->ud, err) < 0)
		return -1;
	if (!x->easy) {
		x->easy = curl_easy_init();
		if (!x->easy)
			return cairn_error_set(err, ENOMEM, "%s %s: curl_easy_init failed",
					       x->method, x->url);
		for (char *const *h = x->headers; h && *h; h++)
			x->slist = curl_slist_append(x->slist, *h);
	}
	CURL *e = x->easy;
	bool plain_redirects = !c->tls_verify || !strncmp(x->url, "http:", 5);
	x->plain_anywhere = !c->tls_verify || x->allow_plain;
	curl_easy_setopt(e, CURLOPT_URL, x->url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, plain_redirects ? "http,https" : "https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(e, CURLOPT_MAXREDIRS, 10L);
	if (x->proxy)
		curl_easy_setopt(e, CURLOPT_PROXY, x->proxy);
	if (x->no_proxy)
		curl_easy_setopt(e, CURLOPT_NOPROXY, x->no_proxy);
	/* the default, said out loud: no Authorization to another host on a redirect
	 * (blob storage gets its own signed URL) */
	curl_easy_setopt(e, CURLOPT_UNRESTRICTED_AUTH, 0L);
	curl_easy_setopt(e, CURLOPT_NOBODY, strcmp(x->method, "HEAD") ? 0L : 1L);
	if (x->upload) {
		x->upload_off = 0;
		curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(e, CURLOPT_READDATA, x);
		curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, on_seek);
		curl_easy_setopt(e, CURLOPT_SEEKDATA, x);
		curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)x->upload_len);
		if (strcmp(x->method, "PUT"))
			curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, x->method);
	} else if (!strcmp(x->method, "POST")) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, 0L);
	}
	char range[32];
	snprintf(range, sizeof range, "%llu-", (unsigned long long)x->resume_off);
	curl_easy_setopt(e, CURLOPT_RANGE, x->resume_off ? range : NULL);
	if (x->on_progress) {
		curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_xferinfo);
		curl_easy_setopt(e, CURLOPT_XFERINFODATA, x);
		curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
	}
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->slist);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "cairn/" CAIRN_VERSION);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, on_prereq);
	curl_easy_setopt(e, CURLOPT_PREREQDATA, x);
	curl_easy_setopt(e, CURLOPT_PRIVATE, x);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 30L);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, 60L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, c->tls_verify ? 1L : 0L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, c->tls_verify ? 2L : 0L);
	if (c->ca_blob) {
		struct curl_blob blob = {c->ca_blob, c->ca_len, CURL_BLOB_NOCOPY};
		curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &blob);
	}
	if (curl_multi_add_handle(m, e) != CURLM_OK)
		return cairn_error_set(err, EIO, "%s %s: curl_multi_add_handle failed", x->method,
				       x->url);
	x->state = XFER_RUNNING;
	return 0;
}

static bool transient(CURLcode r)
{
	switch (r) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return true;
	default:
		return false;
	}
}

/* A finished attempt: done, retried later, or a failure (<0). */
static int xfer_finish(struct http_xfer *x, CURLcode r, struct cairn_error *err)
{
	int max = x->max_tries > 0 ? x->max_tries : HTTP_MAX_TRIES;
	if (x->sink_failed) {
		cairn_error_move(err, &x->sink_err);
		return -(err->code ? err->code : EIO);
	}
	bool retry = false;
	x->curl_result = (int)r;
	if (r == CURLE_OK) {
		curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->status);
		retry = x->status == 429 || x->status >= 500;
	} else {
		retry = transient(r);
	}
	if (retry && x->tries < max && !util_interrupted) {
		x->state = XFER_WAITING;
		x->not_before = util_now() + 0.25 * (double)(1 << (x->tries - 1));
		return 0;
	}
	if (r != CURLE_OK)
		return http_failure_error(x, NULL, err);
	x->state = XFER_DONE;
	if (x->sink && x->sink->end)
		return x->sink->end(x->sink->ud, x->status, err);
	return 0;
}

int http_run(struct http_client *c, struct http_xfer **xs, size_t n, size_t parallel,
	     struct cairn_error *err)
{
	CURLM *m = curl_multi_init();
	if (!m)
		return cairn_error_set(err, ENOMEM, "curl_multi_init failed");
	for (size_t i = 0; i < n; i++) {
		xs[i]->state = XFER_WAITING;
		xs[i]->tries = 0;
		xs[i]->not_before = 0;
	}
	size_t running = 0, done = 0;
	int r = 0;
	while (done < n && r == 0) {
		if (util_interrupted) {
			r = cairn_error_set(err, EINTR, "interrupted");
			break;
		}
		double now = util_now();
		for (size_t i = 0; i < n && running < parallel && r == 0; i++)
			if (xs[i]->state == XFER_WAITING && now >= xs[i]->not_before) {
				if ((r = xfer_start(c, m, xs[i], err)) < 0)
					break;
				running++;
			}
		if (r < 0)
			break;
		int still = 0;
		curl_multi_perform(m, &still);
		CURLMsg *msg;
		int q;
		while (r == 0 && (msg = curl_multi_info_read(m, &q))) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			struct http_xfer *x = NULL;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
			CURLcode res = msg->data.result;
			curl_multi_remove_handle(m, msg->easy_handle);
			running--;
			r = xfer_finish(x, res, err);
			if (r == 0 && x->state == XFER_DONE)
				done++;
		}
		if (r == 0 && done < n)
			curl_multi_poll(m, NULL, 0, running ? 200 : 50, NULL);
	}
	for (size_t i = 0; i < n; i++)
		if (xs[i]->state == XFER_RUNNING && xs[i]->easy)
			curl_multi_remove_handle(m, xs[i]->easy);
	curl_multi_cleanup(m);
	return r;
}

static const char *reason(long status)
{
	switch (status) {
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 429:
		return "Too Many Requests";
	case 500:
		return "Internal Server Error";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	default:
		return "";
	}
}

int http_failure_error(const struct http_xfer *x, const char *hint, struct cairn_error *err)
{
	CURLcode r = (CURLcode)x->curl_result;
	return cairn_error_set(
	    err, r == CURLE_OPERATION_TIMEDOUT ? ETIMEDOUT : EIO, "%s %s: %s (after %d tr%s)%s%s%s",
	    x->method, x->url, x->errbuf[0] ? x->errbuf : curl_easy_strerror(r), x->tries,
	    x->tries == 1 ? "y" : "ies", hint ? " (" : "", hint ? hint : "", hint ? ")" : "");
}

int http_status_error(const struct http_xfer *x, struct cairn_error *err)
{
	cleanup_strbuf struct strbuf sb = STRBUF_INIT;
	strbuf_addf(&sb, "%s %s: %ld %s", x->method, x->url, x->status, reason(x->status));
	/* the registry's own words: {"errors": [{"code": …, "message": …}]} */
	cleanup_json json_t *doc =
	    x->body.len ? json_loadb(x->body.buf, x->body.len, 0, NULL) : NULL;
	size_t i;
	json_t *e;
	json_array_foreach(json_object_get(doc, "errors"), i, e)
	{
		const char *code = json_string_value(json_object_get(e, "code"));
		const char *msg = json_string_value(json_object_get(e, "message"));
		if (code || msg)
			strbuf_addf(&sb, "%s%s%s%s", i ? "; " : ": ", code ? code : "",
				    code && msg ? " " : "", msg ? msg : "");
	}
	int code = x->status == 401 || x->status == 403 ? EACCES : x->status == 404 ? ENOENT : EIO;
	return remote_error(err, code, "%s", strbuf_str(&sb));
}
