/* registry: references as a registry takes them, credentials, insecure hosts. */
#include "registry/internal.h"
#include "tap.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* The grammar is ref's (tests/unit/test-ref.c); a registry adds the tag "latest"
 * when none is named, and needs a port it can connect to. */
static void parses(const char *in, const char *domain, const char *path, const char *tag,
		   const char *digest, const char *full)
{
	struct cairn_error err = CAIRN_ERROR_INIT;
	cleanup_ref struct ref r = {0};
	if (!ok(registry_ref_parse(in, &r, &err) == 0, "'%s' parses", in)) {
		diag("%s", err.msg ? err.msg : "?");
		cairn_error_clear(&err);
		return;
	}
	is_str(r.domain, domain, "'%s': domain", in);
	is_str(r.path, path, "'%s': path", in);
	is_str(r.tag, tag, "'%s': tag", in);
	is_str(r.digest, digest, "'%s': digest", in);
	cleanup_free char *s = ref_string(&r);
	is_str(s, full, "'%s': full form", in);
}

static void rejects(const char *in, const char *why)
{
	struct cairn_error err = CAIRN_ERROR_INIT;
	struct ref r = {0};
	int rc = registry_ref_parse(in, &r, &err);
	ok(rc == -EINVAL && err.msg && r.domain == NULL, "'%s' is rejected: %s", in, why);
	if (err.msg)
		diag("%s", err.msg);
	cairn_error_clear(&err);
}

static void test_parse(void)
{
	parses("debian", "docker.io", "library/debian", "latest", NULL,
	       "docker.io/library/debian:latest");
	parses("localhost:5000/team/app:1", "localhost:5000", "team/app", "1", NULL,
	       "localhost:5000/team/app:1");
	parses("debian@sha256:" HEX64, "docker.io", "library/debian", NULL, "sha256:" HEX64,
	       "docker.io/library/debian@sha256:" HEX64);
	parses("host:5000/app:1@sha256:" HEX64, "host:5000", "app", "1", "sha256:" HEX64,
	       "host:5000/app:1@sha256:" HEX64);
	parses("[::1]:65535/app", "[::1]:65535", "app", "latest", NULL, "[::1]:65535/app:latest");
	parses("host:000080/app", "host:000080", "app", "latest", NULL, "host:000080/app:latest");

	rejects("Debian", "the grammar's refusals are the registry's");
	rejects("app@sha512:" HEX64 HEX64, "not sha256");
	rejects("host:65536/app", "a port above 65535");
	rejects("host:99999999999999999999999/app", "a port far above 65535");
	rejects("[::1]:70000/app", "a port above 65535 after an IPv6 host");
}

static void test_api_host(void)
{
	struct cairn_error err = CAIRN_ERROR_INIT;
	cleanup_ref struct ref a = {0};
	cleanup_ref struct ref b = {0};
	ok(registry_ref_parse("debian", &a, &err) == 0 &&
	       registry_ref_parse("localhost:5000/x", &b, &err) == 0,
	   "refs for api host parse");
	is_str(registry_ref_api_host(&a), "registry-1.docker.io",
	       "docker.io is served from registry-1");
	is_str(registry_ref_api_host(&b), "localhost:5000", "other domains serve themselves");
}

static void write_auth(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
}

static void test_credentials(void)
{
	struct cairn_error err = CAIRN_ERROR_INIT;
	char dir[] = "/tmp/cairn-test-registry.XXXXXX";
	if (!mkdtemp(dir))
		return;
	cleanup_free char *file = xasprintf("%s/auth.json", dir);
	setenv("REGISTRY_AUTH_FILE", file, 1);
	/* dXNlcjpwYTpzcw== is base64("user:pa:ss"), YTpi is "a:b", Ym9iOng= is "bob:x" */
	write_auth(file, "{\"auths\": {\"localhost:5000\": {\"auth\": \"dXNlcjpwYTpzcw==\"},"
			 " \"https://index.docker.io/v1/\": {\"auth\": \"YTpi\"},"
			 " \"quay.io/team\": {\"auth\": \"Ym9iOng=\"},"
			 " \"bad.io\": {\"auth\": \"%%%\"}}}");
	char *user = NULL, *pass = NULL, *src = NULL;
	is_int(auth_find_credentials("localhost:5000", "x/y", &user, &pass, &src, &err), 1,
	       "credentials for host:port are found");
	is_str(user, "user", "user is before the first ':'");
	is_str(pass, "pa:ss", "the password keeps its ':'");
	is_str(src, file, "the source is the auth file");
	free(user), free(pass), free(src);
	is_int(auth_find_credentials("docker.io", "library/debian", &user, &pass, &src, &err), 1,
	       "docker.io finds docker's https://index.docker.io/v1/ key");
	is_str(pass, "b", "its password");
	free(user), free(pass), free(src);
	is_int(auth_find_credentials("quay.io", "team/app", &user, &pass, &src, &err), 1,
	       "a host/namespace key matches the repositories under it");
	is_str(user, "bob", "its user");
	free(user), free(pass), free(src);
	is_int(auth_find_credentials("quay.io", "other/app", &user, &pass, &src, &err), 0,
	       "a namespace key does not match another namespace");
	is_int(auth_find_credentials("nothere.io", "a", &user, &pass, &src, &err), 0,
	       "no entry: not found");
	int r = auth_find_credentials("bad.io", "a", &user, &pass, &src, &err);
	ok(r == -EINVAL && err.msg && strstr(err.msg, "not base64"), "bad base64 is an error");
	cairn_error_clear(&err);
	write_auth(file, "{\"auths\": {\"h.io\": {\"auth\": s3cretvalue}}}");
	r = auth_find_credentials("h.io", "a", &user, &pass, &src, &err);
	ok(r < 0 && err.msg && !strstr(err.msg, "s3cret"),
	   "a broken auth file is an error that does not quote it");
	if (err.msg)
		diag("%s", err.msg);
	cairn_error_clear(&err);
	unlink(file);
	is_int(auth_find_credentials("h.io", "a", &user, &pass, &src, &err), 0,
	       "a missing auth file means no credentials");
	unsetenv("REGISTRY_AUTH_FILE");
	rmdir(dir);
}

static void test_plain_allowed(void)
{
	struct http_client c = {.tls_verify = true};
	ok(http_plain_allowed(&c, "localhost:5000"), "plain HTTP for localhost");
	ok(http_plain_allowed(&c, "127.0.0.1:5000"), "plain HTTP for 127.0.0.1");
	ok(http_plain_allowed(&c, "127.3.2.1"), "plain HTTP for all of 127/8");
	ok(http_plain_allowed(&c, "[::1]:5000"), "plain HTTP for ::1");
	ok(!http_plain_allowed(&c, "128.0.0.1"), "no plain HTTP for 128.0.0.1");
	ok(!http_plain_allowed(&c, "localhost.example.com"), "no plain HTTP for localhost.*");
	ok(!http_plain_allowed(&c, "registry.example"), "no plain HTTP for other hosts");
	c.tls_verify = false;
	ok(http_plain_allowed(&c, "registry.example"),
	   "plain HTTP anywhere with --tls-verify=false");
}

static void test_conf_insecure(void)
{
	char dir[] = "/tmp/cairn-test-registry.XXXXXX";
	if (!mkdtemp(dir))
		return;
	cleanup_free char *file = xasprintf("%s/registries.conf", dir);
	setenv("CONTAINERS_REGISTRIES_CONF", file, 1);
	write_auth(file, "unqualified-search-registries = [\"docker.io\"]\n"
			 "\n"
			 "[[registry]]\n"
			 "location = \"10.0.0.5:5000\"  # the CI cache\n"
			 "insecure = true\n"
			 "\n"
			 "[[registry]]\n"
			 "prefix = \"ci.example/team\"\n"
			 "location = \"mirror.example\"\n"
			 "insecure = true\n"
			 "\n"
			 "[[registry]]\n"
			 "location = \"reg.example/team/ns\"\n"
			 "insecure = true\n"
			 "\n"
			 "[[registry]]\n"
			 "location = \"secure.example\"\n"
			 "insecure = false\n"
			 "\n"
			 "[registries.insecure]\n"
			 "registries = [\n"
			 "  'old.example:5000',\n"
			 "  \"older.example\",\n"
			 "]\n");
	ok(conf_insecure("10.0.0.5:5000"), "a [[registry]] location with insecure = true");
	ok(!conf_insecure("10.0.0.5"), "another port is another registry");
	ok(!conf_insecure("ci.example") && !conf_insecure("mirror.example"),
	   "a mirror table (prefix) relaxes neither the prefix's host nor the mirror's");
	ok(!conf_insecure("reg.example"), "a location with a path does not relax its host");
	ok(!conf_insecure("secure.example"), "insecure = false");
	ok(conf_insecure("old.example:5000") && conf_insecure("older.example"),
	   "the v1 [registries.insecure] list, spread over lines");
	ok(!conf_insecure("docker.io") && !conf_insecure("example"), "other hosts are not");
	unlink(file);
	ok(!conf_insecure("10.0.0.5:5000"), "no registries.conf: nothing is insecure");
	unsetenv("CONTAINERS_REGISTRIES_CONF");
	rmdir(dir);
}

/* What a registry answered or served is an error of kind CAIRN_ERR_REMOTE, its code
 * saying which answer: the callers ask the kind and the code, never the message. */
static void test_remote_errors(void)
{
	struct cairn_error err = CAIRN_ERROR_INIT;
	struct http_xfer x = {.method = "GET", .url = "http://r.example/v2/a/manifests/1"};
	x.status = 404;
	strbuf_addstr(&x.body, "{\"errors\": [{\"code\": \"MANIFEST_UNKNOWN\", "
			       "\"message\": \"unknown\"}]}");
	is_int(http_status_error(&x, &err), -ENOENT, "a 404 is -ENOENT");
	is_int(err.kind, CAIRN_ERR_REMOTE, "a 404 is the registry's answer: kind remote");
	is_str(err.msg,
	       "GET http://r.example/v2/a/manifests/1: 404 Not Found: MANIFEST_UNKNOWN unknown",
	       "its message has the registry's own words");
	cairn_error_clear(&err);
	x.status = 401;
	is_int(http_status_error(&x, &err), -EACCES, "a 401 is -EACCES");
	is_int(err.kind, CAIRN_ERR_REMOTE, "a 401 is kind remote");
	cairn_error_clear(&err);
	strbuf_release(&x.body);
}

/* A port on loopback where nothing answers: bound (so nobody else takes it) but not
 * listening, so a connection is refused at once. Returns the socket to close. */
static int dead_port(int *port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof a;
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		return -1;
	*port = ntohs(a.sin_port);
	return fd;
}

/* Each public call says once what it was doing, whatever the message under it holds:
 * the repository "v2" makes the ping's URL (http://HOST/v2/) contain the reference,
 * which once made fetch_config leave its context out. */
static void test_wrapped_once(void)
{
	setenv("NO_PROXY", "*", 1);
	int port = 0;
	int fd = dead_port(&port);
	if (!ok(fd >= 0, "a dead port on loopback"))
		return;
	cleanup_free char *ref = xasprintf("127.0.0.1:%d/v2", port);
	cleanup_free char *want = xasprintf("fetching %s: GET http://%s/: ", ref, ref);
	struct registry_opts o = REGISTRY_OPTS_INIT;
	struct cairn_error err = CAIRN_ERROR_INIT;
	char *config = NULL, *media_type = NULL;
	size_t len = 0;
	ok(registry_fetch_config(ref, &o, &config, &len, &media_type, &err) < 0,
	   "fetching a config from a dead registry fails");
	if (!ok(err.msg && !strncmp(err.msg, want, strlen(want)), "it says what it fetched, once"))
		diag("%s", err.msg ? err.msg : "(none)");
	cairn_error_clear(&err);
	is_int(registry_fetch_config("Bad//ref", &o, &config, &len, &media_type, &err), -EINVAL,
	       "a bad reference is -EINVAL");
	ok(err.msg && !strstr(err.msg, "fetching"),
	   "and the parser's message, naming the reference, is not wrapped again");
	cairn_error_clear(&err);
	close(fd);
	unsetenv("NO_PROXY");
}

/* A registry on loopback, in a thread, for what a real one will not serve: /v2/
 * answers 200, manifests/missing 404, any other manifest the document it is given,
 * anything else 404. TLS is refused by closing the connection (the client then speaks
 * plain HTTP, as it may to loopback). */
struct fake_registry {
	int fd;
	int port;
	const char *manifest;
	volatile bool stop;
	pthread_t thread;
};

static void fake_answer(int c, int status, const char *ctype, const char *body)
{
	cleanup_free char *head = xasprintf("HTTP/1.1 %d X\r\nContent-Type: %s\r\n"
					    "Content-Length: %zu\r\n\r\n",
					    status, ctype, strlen(body));
	if (util_write_all(c, head, strlen(head)) < 0 || util_write_all(c, body, strlen(body)) < 0)
		return;
}

static void fake_serve(struct fake_registry *f, int c)
{
	cleanup_strbuf struct strbuf req = STRBUF_INIT;
	char buf[4096];
	for (;;) {
		ssize_t n = read(c, buf, sizeof buf);
		if (n <= 0 || (req.len == 0 && buf[0] == 0x16))
			return;
		strbuf_add(&req, buf, (size_t)n);
		char *end;
		while ((end = strstr(strbuf_str(&req), "\r\n\r\n"))) {
			char path[512] = "";
			sscanf(req.buf, "%*s %511s", path);
			if (!strcmp(path, "/v2/"))
				fake_answer(c, 200, "application/json", "{}");
			else if (strstr(path, "/manifests/") && !strstr(path, "/manifests/missing"))
				fake_answer(c, 200, MEDIA_TYPE_OCI_MANIFEST, f->manifest);
			else
				fake_answer(c, 404, "application/json",
					    "{\"errors\": [{\"code\": \"MANIFEST_UNKNOWN\", "
					    "\"message\": \"unknown\"}]}");
			size_t used = (size_t)(end + 4 - req.buf);
			memmove(req.buf, req.buf + used, req.len - used + 1);
			req.len -= used;
		}
	}
}

static void *fake_loop(void *ud)
{
	struct fake_registry *f = ud;
	while (!f->stop) {
		struct pollfd p = {.fd = f->fd, .events = POLLIN};
		if (poll(&p, 1, 50) <= 0)
			continue;
		int c = accept4(f->fd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		fake_serve(f, c);
		close(c);
	}
	return NULL;
}

static bool fake_start(struct fake_registry *f, const char *manifest)
{
	f->manifest = manifest;
	f->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof a;
	if (f->fd < 0 || bind(f->fd, (struct sockaddr *)&a, sizeof a) < 0 ||
	    getsockname(f->fd, (struct sockaddr *)&a, &len) < 0 || listen(f->fd, 8) < 0)
		return false;
	f->port = ntohs(a.sin_port);
	return pthread_create(&f->thread, NULL, fake_loop, f) == 0;
}

static void fake_stop(struct fake_registry *f)
{
	f->stop = true;
	pthread_join(f->thread, NULL);
	close(f->fd);
}

/* What the registry served wrong, or refused, is kind remote through the public calls
 * too, and each says once what it was doing. */
static void test_remote_content(void)
{
	setenv("NO_PROXY", "*", 1);
	struct fake_registry f = {0};
	if (!ok(fake_start(&f, "{\"schemaVersion\": 2, \"mediaType\": \"" MEDIA_TYPE_OCI_MANIFEST
			       "\", \"config\": {\"mediaType\": \"" MEDIA_TYPE_OCI_CONFIG
			       "\", \"digest\": \"md5:abc\", \"size\": 3}, \"layers\": []}"),
		"a registry on loopback"))
		return;
	char dir[] = "/tmp/cairn-test-registry.XXXXXX";
	cleanup_store struct store *s = NULL;
	struct cairn_error err = CAIRN_ERROR_INIT;
	if (!ok(mkdtemp(dir) && store_open(dir, &s, &err) == 0, "a store")) {
		fake_stop(&f);
		return;
	}
	struct registry_opts o = REGISTRY_OPTS_INIT;
	char digest[DIGEST_LEN];
	cleanup_free char *bad = xasprintf("127.0.0.1:%d/t/bad:1", f.port);
	is_int(registry_pull(s, bad, &o, digest, &err), -EBADMSG,
	       "pulling a manifest with a malformed config digest is -EBADMSG");
	is_int(err.kind, CAIRN_ERR_REMOTE, "of kind remote");
	cleanup_free char *want = xasprintf("pulling %s: manifest sha256:", bad);
	if (!ok(err.msg && !strncmp(err.msg, want, strlen(want)) &&
		    strstr(err.msg, ": config digest \"md5:abc\" is not sha256"),
		"the message says what was pulled, once, and what is wrong"))
		diag("%s", err.msg ? err.msg : "(none)");
	cairn_error_clear(&err);

	char *config = NULL, *media_type = NULL;
	size_t len = 0;
	is_int(registry_fetch_config(bad, &o, &config, &len, &media_type, &err), -EBADMSG,
	       "fetching the config of that manifest is -EBADMSG");
	is_int(err.kind, CAIRN_ERR_REMOTE, "of kind remote");
	want = (free(want), xasprintf("fetching %s: manifest sha256:", bad));
	ok(err.msg && !strncmp(err.msg, want, strlen(want)) && strstr(err.msg, "no valid config"),
	   "the message says what was fetched, once, and what is wrong");
	cairn_error_clear(&err);

	cleanup_free char *missing = xasprintf("127.0.0.1:%d/t/bad:missing", f.port);
	is_int(registry_pull(s, missing, &o, digest, &err), -ENOENT,
	       "pulling a tag the registry does not have is -ENOENT");
	is_int(err.kind, CAIRN_ERR_REMOTE, "of kind remote: the registry's answer");
	cleanup_free char *msg404 = xasprintf(
	    "pulling %s: GET http://127.0.0.1:%d/v2/t/bad/manifests/missing: 404 Not Found",
	    missing, f.port);
	if (!ok(err.msg && !strncmp(err.msg, msg404, strlen(msg404)), "and says so, once"))
		diag("%s", err.msg ? err.msg : "(none)");
	cairn_error_clear(&err);

	struct registry_blob blob = {.digest = "sha256:" HEX64, .size = 1};
	is_int(registry_fetch_blobs(s, "Bad//ref", &blob, 1, &o, &err), -EINVAL,
	       "fetching blobs from a bad reference is -EINVAL");
	ok(err.msg && !strstr(err.msg, "fetching"),
	   "and the parser's message, naming the reference, is not wrapped again");
	cairn_error_clear(&err);
	cleanup_free char *gone = xasprintf("127.0.0.1:%d/t/gone", f.port);
	is_int(registry_fetch_blobs(s, gone, &blob, 1, &o, &err), -ENOENT,
	       "fetching a blob the registry lacks is -ENOENT");
	is_int(err.kind, CAIRN_ERR_REMOTE, "of kind remote");
	cleanup_free char *from = xasprintf("fetching from %s: GET ", gone);
	if (!ok(err.msg && !strncmp(err.msg, from, strlen(from)), "and says where from, once"))
		diag("%s", err.msg ? err.msg : "(none)");
	cairn_error_clear(&err);
	fake_stop(&f);
	store_close(steal_pointer(&s));
	util_rm_rf(AT_FDCWD, dir, NULL);
	unsetenv("NO_PROXY");
}

int main(void)
{
	test_parse();
	test_api_host();
	test_credentials();
	test_plain_allowed();
	test_conf_insecure();
	test_remote_errors();
	test_wrapped_once();
	test_remote_content();
	return done_testing();
}
