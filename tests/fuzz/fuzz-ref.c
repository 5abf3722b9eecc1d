/* Fuzz target for image references (src/ref): the input, up to a NUL, is a reference.
 * What must hold:
 *
 * - ref_parse, ref_normalize and ref_local_name accept and refuse the same strings,
 *   and accept exactly what a second reading of docker's grammar accepts: POSIX
 *   regular expressions written from distribution/reference's grammar (below),
 *   with docker's split into domain and rest;
 * - normalizing is idempotent, and the normalized string parses to the same parts;
 * - the familiar form normalizes back to the normalized one;
 * - the local name (as written, :latest added) normalizes to the same, and is its
 *   own local name.
 *
 * A failure aborts (a crash to libFuzzer, a failed input to the corpus driver).
 *
 * With libFuzzer (needs clang; src/ref is compiled again, instrumented):
 *
 *   CC=clang meson setup build-fuzz -Dfuzz=true -Dintegration=false
 *   ninja -C build-fuzz tests/fuzz/fuzz-ref
 *   mkdir -p fuzz-ref-corpus
 *   ./build-fuzz/tests/fuzz/fuzz-ref -max_total_time=300 fuzz-ref-corpus \
 *       tests/fuzz/corpus/ref
 *
 * (the first directory collects new inputs, the second seeds it, read only). Replay
 * a crash with `./build-fuzz/tests/fuzz/fuzz-ref crash-HASH`, or without clang with
 * `./build/tests/unit/fuzz-ref-run-corpus crash-HASH` (run-corpus.c, which also runs
 * as the unit test fuzz-ref-corpus over tests/fuzz/corpus/ref: add what the fuzzer
 * finds there). */
#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ref/ref.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz-ref: %s:%d: %s fails for \"%s\"\n", __FILE__,        \
				__LINE__, #cond, s);                                               \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* The grammar of distribution/reference's doc comment, as POSIX EREs (C locale). */
#define ALNUM "[a-z0-9]+"
#define SEPARATOR "([._]|__|-+)"
#define COMPONENT ALNUM "(" SEPARATOR ALNUM ")*"
#define PATH COMPONENT "(/" COMPONENT ")*"
#define LABEL "([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
#define HOST "(" LABEL "(\\." LABEL ")*|\\[[a-fA-F0-9:]+\\])"
#define DOMAIN HOST "(:[0-9]+)?"
#define TAG "[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
#define ALGORITHM "[A-Za-z][A-Za-z0-9]*([-_+.][A-Za-z][A-Za-z0-9]*)*"
#define DIGEST ALGORITHM ":[0-9a-fA-F]{32,}"

static regex_t re_domain, re_rest, re_identifier, re_sha256;

static void compile(regex_t *re, const char *pattern)
{
	if (regcomp(re, pattern, REG_EXTENDED | REG_NOSUB) != 0)
		abort();
}

static bool matches(regex_t *re, const char *s)
{
	return regexec(re, s, 0, NULL, 0) == 0;
}

/* docker's ParseNormalizedNamed, from the grammar above, without ref.c's code. */
static bool oracle(const char *s)
{
	if (!*s || matches(&re_identifier, s))
		return false;
	const char *slash = strchr(s, '/');
	char *domain = NULL;
	const char *rest = s;
	if (slash) {
		size_t n = (size_t)(slash - s);
		domain = strndup(s, n);
		if (!domain)
			abort();
		bool upper = false;
		for (size_t i = 0; i < n; i++)
			upper |= s[i] >= 'A' && s[i] <= 'Z';
		if (strpbrk(domain, ".:") || !strcmp(domain, "localhost") || upper) {
			rest = slash + 1;
		} else {
			free(domain);
			domain = NULL;
		}
	}
	bool ok = (!domain || matches(&re_domain, domain)) && matches(&re_rest, rest);
	bool hub = !domain || !strcmp(domain, "docker.io") || !strcmp(domain, "index.docker.io");
	free(domain);
	if (!ok)
		return false;
	size_t path_len = strcspn(rest, ":@");
	bool library = hub && !memchr(rest, '/', path_len);
	if (path_len + (library ? strlen("library/") : 0) > 255)
		return false;
	/* sha256 is the one algorithm registered */
	const char *at = strchr(rest, '@');
	return !at || matches(&re_sha256, at + 1);
}

static bool same(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

static void check(const char *s)
{
	struct cairn_error err = CAIRN_ERROR_INIT;
	struct ref r = {0}, n = {0};
	char *norm = NULL, *local = NULL;
	int parsed = ref_parse(s, &r, &err);
	cairn_error_clear(&err);
	int normalized = ref_normalize(s, &norm, &err);
	cairn_error_clear(&err);
	int localized = ref_local_name(s, &local, &err);
	cairn_error_clear(&err);
	CHECK((parsed == 0) == (normalized == 0) && (parsed == 0) == (localized == 0));
	CHECK((parsed == 0) == oracle(s));
	if (parsed < 0) {
		CHECK(!r.domain && !norm && !local);
		return;
	}
	CHECK(r.domain && *r.domain && r.path && strlen(r.path) <= REF_PATH_MAX);

	/* normalized: a fixed point with the same parts */
	char *again = NULL;
	CHECK(ref_normalize(norm, &again, &err) == 0 && !strcmp(again, norm));
	CHECK(ref_parse(norm, &n, &err) == 0);
	CHECK(!strcmp(n.domain, r.domain) && !strcmp(n.path, r.path) && same(n.digest, r.digest));
	CHECK(r.tag || r.digest ? same(n.tag, r.tag) : !strcmp(n.tag, REF_DEFAULT_TAG));

	/* familiar: back to the same */
	char *fam = ref_familiar(&n), *back = NULL;
	CHECK(ref_normalize(fam, &back, &err) == 0 && !strcmp(back, norm));

	/* local: the same image, and its own local name */
	char *back2 = NULL, *local2 = NULL;
	CHECK(ref_normalize(local, &back2, &err) == 0 && !strcmp(back2, norm));
	CHECK(ref_local_name(local, &local2, &err) == 0 && !strcmp(local2, local));

	cairn_error_clear(&err);
	free(again);
	free(fam);
	free(back);
	free(back2);
	free(local2);
	free(norm);
	free(local);
	ref_release(&r);
	ref_release(&n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	if (!ready) {
		compile(&re_domain, "^" DOMAIN "$");
		compile(&re_rest, "^" PATH "(:" TAG ")?(@" DIGEST ")?$");
		compile(&re_identifier, "^[a-f0-9]{64}$");
		compile(&re_sha256, "^sha256:[a-f0-9]{64}$");
		ready = true;
	}
	char *s = strndup((const char *)data, size);
	if (!s)
		abort();
	check(s);
	free(s);
	return 0;
}
