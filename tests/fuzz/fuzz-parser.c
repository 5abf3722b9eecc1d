/* Fuzz target for libcairnparser: the recipe parser (both modes), the shell word
 * processor and .dockerignore matching, all on the same input.
 *
 * With libFuzzer (needs clang; the parser is compiled again, instrumented):
 *
 *   CC=clang meson setup build-fuzz -Dfuzz=true -Dintegration=false
 *   ninja -C build-fuzz tests/fuzz/fuzz-parser
 *   mkdir -p fuzz-corpus
 *   ./build-fuzz/tests/fuzz/fuzz-parser -max_total_time=60 fuzz-corpus \
 *       tests/fixtures/recipes ../shared/conformance/buildkit
 *
 * (the first directory collects new inputs; the others seed it, read only, and are
 * read recursively). Without directories it starts from nothing. A crash
 * leaves crash-HASH in the current directory; replay it with
 * `./build-fuzz/tests/fuzz/fuzz-parser crash-HASH`, or without clang with the corpus
 * driver: `./build/tests/unit/fuzz-run-corpus crash-HASH` (run-corpus.c, which also
 * runs as the unit test fuzz-corpus over the fixtures). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "recipe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *lookup(void *ctx, const char *name)
{
	(void)ctx;
	if (!strcmp(name, "HOME"))
		return "/root";
	if (!strcmp(name, "EMPTY"))
		return "";
	if (!strcmp(name, "X"))
		return "a b*c";
	return NULL;
}

static void parse(const char *buf, size_t len, unsigned flags)
{
	struct recipe *r = NULL;
	struct recipe_error err = {0};
	if (recipe_parse_ex(buf, len, flags, &r, &err) == 0) {
		for (size_t i = 0; i < r->n_instrs; i++)
			(void)recipe_kind_name(r->instrs[i].kind);
		recipe_free(r);
	}
	recipe_error_clear(&err);
}

static void words(const char *s, char escape)
{
	char *out = NULL, **v = NULL;
	struct recipe_error err = {0};
	if (recipe_process_word(s, escape, lookup, NULL, &out, &err) == 0)
		free(out);
	recipe_error_clear(&err);
	if (recipe_process_words(s, escape, lookup, NULL, &v, &err) == 0)
		recipe_strv_free(v);
	recipe_error_clear(&err);
}

static void ignore(const char *buf, size_t len, const char *text)
{
	static const char *const paths[] = {
	    "a", "a/b", "a/b/c.go", ".git", "dir/keep.txt", "x.txt", "\xC3\xA9/\xFF"};
	struct recipe_ignore *ig = NULL;
	struct recipe_error err = {0};
	if (recipe_ignore_parse(buf, len, &ig, &err) < 0) {
		recipe_error_clear(&err);
		return;
	}
	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		(void)recipe_ignore_match(ig, paths[i]);
		(void)recipe_ignore_may_include_below(ig, paths[i]);
	}
	/* the input's lines as paths too: patterns meet what they were written for */
	const char *p = text;
	for (int n = 0; *p && n < 8; n++) {
		const char *nl = strchr(p, '\n');
		size_t l = nl ? (size_t)(nl - p) : strlen(p);
		char *path = strndup(p, l);
		if (!path)
			abort();
		(void)recipe_ignore_match(ig, path);
		(void)recipe_ignore_may_include_below(ig, path);
		free(path);
		p += l + (nl ? 1 : 0);
	}
	recipe_ignore_free(ig);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	parse(buf, size, 0);
	parse(buf, size, RECIPE_PARSE_TREE_ONLY);

	/* the word functions take C strings: the input up to its first NUL */
	char *text = malloc(size + 1);
	if (!text)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	words(text, '\\');
	words(text, '`');

	ignore(buf, size, text);
	free(text);
	return 0;
}
