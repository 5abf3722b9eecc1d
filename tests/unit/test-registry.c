/* registry: references as a registry takes them, credentials, insecure hosts. */
#include "registry/internal.h"
#include "tap.h"

#include <errno.h>
#include <stdlib.h>
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

int main(void)
{
	test_parse();
	test_api_host();
	test_credentials();
	test_plain_allowed();
	test_conf_insecure();
	return done_testing();
}
