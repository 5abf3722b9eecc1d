/* ref: the reference grammar and its normal forms, as docker's distribution/reference
 * has them; and the names two grammars used to disagree on (issue 10). */
#include "ref/ref.h"
#include "tap.h"

#include <errno.h>
#include <stdlib.h>

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define DIGEST "sha256:" HEX64

/* A valid reference: its parts, its normalized, familiar and local forms. */
struct valid {
	const char *in;
	const char *domain, *path, *tag, *digest;
	const char *normalized, *familiar;
};

static const struct valid valid[] = {
    /* Docker Hub: the domain and library/ implied */
    {"debian", "docker.io", "library/debian", NULL, NULL, "docker.io/library/debian:latest",
     "debian"},
    {"debian:12", "docker.io", "library/debian", "12", NULL, "docker.io/library/debian:12",
     "debian:12"},
    {"user/app", "docker.io", "user/app", NULL, NULL, "docker.io/user/app:latest", "user/app"},
    {"docker.io/debian", "docker.io", "library/debian", NULL, NULL,
     "docker.io/library/debian:latest", "debian"},
    {"docker.io/library/debian:1", "docker.io", "library/debian", "1", NULL,
     "docker.io/library/debian:1", "debian:1"},
    {"index.docker.io/user/app", "docker.io", "user/app", NULL, NULL, "docker.io/user/app:latest",
     "user/app"},
    {"library/debian", "docker.io", "library/debian", NULL, NULL, "docker.io/library/debian:latest",
     "debian"},
    {"library/a/b", "docker.io", "library/a/b", NULL, NULL, "docker.io/library/a/b:latest",
     "library/a/b"},
    {"other/library", "docker.io", "other/library", NULL, NULL, "docker.io/other/library:latest",
     "other/library"},
    /* hosts: '.', ':', localhost, upper case */
    {"localhost/x", "localhost", "x", NULL, NULL, "localhost/x:latest", "localhost/x"},
    {"localhost:5000/team/app:1", "localhost:5000", "team/app", "1", NULL,
     "localhost:5000/team/app:1", "localhost:5000/team/app:1"},
    {"127.0.0.1:5000/test/img:1", "127.0.0.1:5000", "test/img", "1", NULL,
     "127.0.0.1:5000/test/img:1", "127.0.0.1:5000/test/img:1"},
    {"quay.io/a/b/c:v1.2-rc_3", "quay.io", "a/b/c", "v1.2-rc_3", NULL, "quay.io/a/b/c:v1.2-rc_3",
     "quay.io/a/b/c:v1.2-rc_3"},
    {"example.com/x", "example.com", "x", NULL, NULL, "example.com/x:latest", "example.com/x"},
    {"my-host:80/x", "my-host:80", "x", NULL, NULL, "my-host:80/x:latest", "my-host:80/x"},
    {"xn--n3h.com/img:xn--n3h.com", "xn--n3h.com", "img", "xn--n3h.com", NULL,
     "xn--n3h.com/img:xn--n3h.com", "xn--n3h.com/img:xn--n3h.com"},
    {"[::1]:5000/app", "[::1]:5000", "app", NULL, NULL, "[::1]:5000/app:latest", "[::1]:5000/app"},
    {"[2001:DB8::1]/app:t", "[2001:DB8::1]", "app", "t", NULL, "[2001:DB8::1]/app:t",
     "[2001:DB8::1]/app:t"},
    {"Foo/bar", "Foo", "bar", NULL, NULL, "Foo/bar:latest", "Foo/bar"},
    {"FOO.example/bar", "FOO.example", "bar", NULL, NULL, "FOO.example/bar:latest",
     "FOO.example/bar"},
    /* the grammar takes any digits as a port; a registry connection does not */
    {"host:99999999/app", "host:99999999", "app", NULL, NULL, "host:99999999/app:latest",
     "host:99999999/app"},
    /* a single component is a name even when it looks like a host */
    {"localhost", "docker.io", "library/localhost", NULL, NULL,
     "docker.io/library/localhost:latest", "localhost"},
    {"localhost:5000", "docker.io", "library/localhost", "5000", NULL,
     "docker.io/library/localhost:5000", "localhost:5000"},
    {"example.com", "docker.io", "library/example.com", NULL, NULL,
     "docker.io/library/example.com:latest", "example.com"},
    {"192.168.1.1:5000", "docker.io", "library/192.168.1.1", "5000", NULL,
     "docker.io/library/192.168.1.1:5000", "192.168.1.1:5000"},
    /* separators: '.', '_', '__', runs of '-' */
    {"a__b/c-d--e.f_g", "docker.io", "a__b/c-d--e.f_g", NULL, NULL,
     "docker.io/a__b/c-d--e.f_g:latest", "a__b/c-d--e.f_g"},
    {"test_com/foo", "docker.io", "test_com/foo", NULL, NULL, "docker.io/test_com/foo:latest",
     "test_com/foo"},
    {"a/b/c/d/e", "docker.io", "a/b/c/d/e", NULL, NULL, "docker.io/a/b/c/d/e:latest", "a/b/c/d/e"},
    /* tags: word characters first, then '.', '-' too; upper case allowed */
    {"app:_x", "docker.io", "library/app", "_x", NULL, "docker.io/library/app:_x", "app:_x"},
    {"app:V1.0-RC", "docker.io", "library/app", "V1.0-RC", NULL, "docker.io/library/app:V1.0-RC",
     "app:V1.0-RC"},
    /* digests, with and without a tag */
    {"debian@" DIGEST, "docker.io", "library/debian", NULL, DIGEST,
     "docker.io/library/debian@" DIGEST, "debian@" DIGEST},
    {"host:5000/app:1@" DIGEST, "host:5000", "app", "1", DIGEST, "host:5000/app:1@" DIGEST,
     "host:5000/app:1@" DIGEST},
    /* 64 hex digits are a name once they are not the whole reference */
    {"docker.io/" HEX64, "docker.io", "library/" HEX64, NULL, NULL,
     "docker.io/library/" HEX64 ":latest", "library/" HEX64},
    {HEX64 ":1", "docker.io", "library/" HEX64, "1", NULL, "docker.io/library/" HEX64 ":1",
     "library/" HEX64 ":1"},
    /* docker's familiar form would read "foo.bar" as a host: the domain stays */
    {"docker.io/foo.bar/x", "docker.io", "foo.bar/x", NULL, NULL, "docker.io/foo.bar/x:latest",
     "docker.io/foo.bar/x"},
    {"docker.io/localhost/x", "docker.io", "localhost/x", NULL, NULL,
     "docker.io/localhost/x:latest", "docker.io/localhost/x"},
};

/* An invalid reference and a word its message must hold. */
struct invalid {
	const char *in, *why;
};

static const struct invalid invalid[] = {
    {"", "empty"},
    {"Debian", "must be lowercase"},
    {"Uppercase:tag", "must be lowercase"},
    {"docker/Docker", "must be lowercase"},
    {"host.io/Team/app", "must be lowercase"},
    {"test:5000/Uppercase/lowercase:tag", "must be lowercase"},
    {"app:", "bad tag"},
    {"app:-x", "bad tag"},
    {"app:.x", "bad tag"},
    {"app:a:b", "bad tag"},
    {"app:bad tag", "bad tag"},
    {"app@sha256:abc", "bad digest"},
    {"app@sha256:" HEX64 "0", "bad digest"},
    {"app@sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef", "bad digest"},
    {"app@" HEX64, "bad digest"},
    {"app@1sha:" HEX64, "bad digest"},
    {"app@sha512:" HEX64 HEX64, "only sha256"},
    {"app@sha256+b64:" HEX64, "only sha256"},
    {"app@", "bad digest"},
    {"app@x@y", "bad digest"},
    {"a//b", "not a valid name component"},
    {"docker///docker", "not a valid name component"},
    {"a/-b", "not a valid name component"},
    {"-app", "not a valid name component"},
    {"a_/b", "not a valid name component"},
    {"docker-/docker", "not a valid name component"},
    {"a___b", "not a valid name component"},
    {"____/____", "not a valid name component"},
    {"dock..er/docker", "bad registry host"},
    {"dock_.er/docker", "bad registry host"},
    {"dock-.er/docker", "bad registry host"},
    {"aa/asdf$$^/aa", "not a valid name component"},
    {"/app", "not a valid name component"},
    {"app/", "not a valid name component"},
    {"docker.io/", "no name"},
    {":justtag", "no name"},
    {"@" DIGEST, "no name"},
    {"host:port/app", "bad registry host"},
    {"host:/app", "bad registry host"},
    {"a..b/c", "bad registry host"},
    {".a/b", "bad registry host"},
    {"-host.io/app", "bad registry host"},
    {"host-.io/app", "bad registry host"},
    {"a_b.c/d", "bad registry host"},
    {"https://github.com/docker/docker", "bad registry host"},
    {"[fc00::1]", "not a valid name component"},
    {"[fc00::1]:5000", "not a valid name component"},
    {"[]/app", "not a valid name component"},
    {"[fe80::1%eth0]:5000/app", "bad registry host"},
    {"[2001:db8:3:4::192.0.2.33]:5000/app", "bad registry host"},
    {"[::1]x/app", "bad registry host"},
    {"fc00::1:5000/app", "bad registry host"},
    {HEX64, "image ID"},
};

static void check_valid(const struct valid *v)
{
	struct cairn_error err = CAIRN_ERROR_INIT;
	cleanup_ref struct ref r = {0};
	if (!ok(ref_parse(v->in, &r, &err) == 0, "'%s' parses", v->in)) {
		diag("%s", err.msg ? err.msg : "?");
		cairn_error_clear(&err);
		return;
	}
	is_str(r.domain, v->domain, "'%s': domain", v->in);
	is_str(r.path, v->path, "'%s': path", v->in);
	is_str(r.tag, v->tag, "'%s': tag", v->in);
	is_str(r.digest, v->digest, "'%s': digest", v->in);
	cleanup_free char *norm = NULL, *local = NULL;
	ok(ref_normalize(v->in, &norm, &err) == 0, "'%s' normalizes", v->in);
	is_str(norm, v->normalized, "'%s': normalized", v->in);
	cleanup_free char *fam = ref_familiar(&r);
	is_str(fam, v->familiar, "'%s': familiar", v->in);
	/* the name a tag is stored under is the reference as written */
	ok(ref_local_name(v->in, &local, &err) == 0, "'%s' has a local name", v->in);
	bool implied = !v->tag && !v->digest;
	cleanup_free char *want = implied ? xasprintf("%s:latest", v->in) : xstrdup(v->in);
	is_str(local, want, "'%s': local name", v->in);
	cairn_error_clear(&err);
}

static void check_invalid(const struct invalid *v)
{
	struct cairn_error err = CAIRN_ERROR_INIT;
	struct ref r = {0};
	int rc = ref_parse(v->in, &r, &err);
	bool why = err.msg && strstr(err.msg, v->why);
	ok(rc == -EINVAL && why && r.domain == NULL && err.kind == CAIRN_ERR_INVALID,
	   "'%.60s' is refused: %s", v->in, v->why);
	if (err.msg && !why)
		diag("%s", err.msg);
	cairn_error_clear(&err);
	/* every function of the module refuses it the same way */
	char *out = (char *)"x";
	ok(ref_normalize(v->in, &out, &err) == -EINVAL && !out, "'%.60s': normalize refuses",
	   v->in);
	cairn_error_clear(&err);
	out = (char *)"x";
	ok(ref_local_name(v->in, &out, &err) == -EINVAL && !out, "'%.60s': local name refuses",
	   v->in);
	cairn_error_clear(&err);
}

/* The path's length is bounded once normalized: a one-component name on Docker Hub
 * has library/ in front of it. */
static void test_length(void)
{
	struct cairn_error err = CAIRN_ERROR_INIT;
	char name[300];
	cleanup_ref struct ref r = {0};

	memset(name, 'a', 247);
	name[247] = '\0';
	ok(ref_parse(name, &r, &err) == 0, "247 characters fit beside library/");
	is_int(strlen(r.path), 255, "the path is 255 long");
	ref_release(&r);
	memset(name, 'a', 248);
	name[248] = '\0';
	ok(ref_parse(name, &r, &err) == -EINVAL && strstr(err.msg, "longer than 255"),
	   "248 characters do not");
	cairn_error_clear(&err);

	/* 127 times "a/" then "a": a 255-character path on Docker Hub ("a" is no host) */
	char *p = name;
	for (int i = 0; i < 127; i++)
		p = stpcpy(p, "a/");
	strcpy(p, "a:tag-that-is-not-part-of-the-name");
	ok(ref_parse(name, &r, &err) == 0 && strlen(r.path) == 255,
	   "a 255-character path with a tag past it");
	ref_release(&r);
	p = stpcpy(name, "a/");
	for (int i = 0; i < 127; i++)
		p = stpcpy(p, "a/");
	strcpy(p, "a");
	ok(ref_parse(name, &r, &err) == -EINVAL, "a 257-character path is refused");
	cairn_error_clear(&err);

	/* the domain does not count */
	p = stpcpy(name, "registry.example.com:5000/");
	memset(p, 'b', 255);
	p[255] = '\0';
	ok(ref_parse(name, &r, &err) == 0 && strlen(r.path) == 255,
	   "the host is not part of the 255");
	ref_release(&r);

	/* tags: at most 128 */
	strcpy(name, "app:");
	memset(name + 4, 't', 128);
	name[132] = '\0';
	ok(ref_parse(name, &r, &err) == 0, "a 128-character tag");
	ref_release(&r);
	strcpy(name + 132, "t");
	ok(ref_parse(name, &r, &err) == -EINVAL && strstr(err.msg, "bad tag"),
	   "a 129-character tag is refused");
	cairn_error_clear(&err);
}

/* Issue 10: util_ref_normalize (build -t, tag, the store) and registry_ref_parse
 * (pull, push, FROM) disagreed on these; both are ref_parse now. */
static void test_former_disagreements(void)
{
	struct cairn_error err = CAIRN_ERROR_INIT;
	cleanup_ref struct ref r = {0};
	ok(ref_parse("host:99999999/app", &r, &err) == 0, "host:99999999/app is a name");
	ref_release(&r);
	ok(ref_parse("a..b/c", &r, &err) == -EINVAL, "a..b/c is not");
	cairn_error_clear(&err);
	char name[301];
	memset(name, 'a', 300);
	name[300] = '\0';
	ok(ref_parse(name, &r, &err) == -EINVAL, "nor is a 300-character name");
	cairn_error_clear(&err);
	ok(ref_parse("Foo/bar", &r, &err) == 0 && !strcmp(r.domain, "Foo"),
	   "Foo/bar is bar on the host Foo");
}

/* The forms are fixed points: normalizing a normalized reference, or the familiar
 * form of one, gives it back. */
static void test_round_trips(void)
{
	for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
		struct cairn_error err = CAIRN_ERROR_INIT;
		cleanup_free char *norm = NULL, *again = NULL, *back = NULL, *fam = NULL;
		cleanup_ref struct ref r = {0};
		if (ref_normalize(valid[i].in, &norm, &err) < 0 ||
		    ref_normalize(norm, &again, &err) < 0 || ref_parse(norm, &r, &err) < 0) {
			ok(0, "'%s' round-trips", valid[i].in);
			cairn_error_clear(&err);
			continue;
		}
		fam = ref_familiar(&r);
		bool fam_ok = ref_normalize(fam, &back, &err) == 0;
		ok(!strcmp(norm, again) && fam_ok && !strcmp(back, norm),
		   "'%s': normalize is idempotent and the familiar form normalizes back",
		   valid[i].in);
		cairn_error_clear(&err);
	}
}

int main(void)
{
	for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++)
		check_valid(&valid[i]);
	for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++)
		check_invalid(&invalid[i]);
	test_length();
	test_former_disagreements();
	test_round_trips();
	return done_testing();
}
