/* Fuzz target for .dockerignore matching (parser/ignore.c, on glob.c and regex.c).
 * An input is RULES, optionally followed by a NUL byte and PATHS, one a line. The
 * rules are parsed; when they parse, each path (those of PATHS, a fixed few, and each
 * rule's own text) and each of its parent directories is matched, and:
 *
 * - "" and "." are never excluded;
 * - the documented rule holds: a path is excluded when the last rule that matches it
 *   or one of its parents is not an exception. Each rule is parsed again on its own
 *   and the answer is recomputed from what each says;
 * - pruning is sound: below an excluded directory for which
 *   recipe_ignore_may_include_below says no, every path is excluded (a walker skips
 *   that directory unread).
 *
 * A failure aborts (a crash to libFuzzer, a failed input to the corpus driver).
 *
 * With libFuzzer (needs clang; the parser is compiled again, instrumented):
 *
 *   CC=clang meson setup build-fuzz -Dfuzz=true -Dintegration=false
 *   ninja -C build-fuzz tests/fuzz/fuzz-ignore
 *   mkdir -p fuzz-ignore-corpus
 *   ./build-fuzz/tests/fuzz/fuzz-ignore -max_total_time=300 fuzz-ignore-corpus \
 *       tests/fuzz/corpus/ignore
 *
 * (the first directory collects new inputs, the second seeds it, read only). Replay
 * a crash with `./build-fuzz/tests/fuzz/fuzz-ignore crash-HASH`, or without clang
 * with `./build/tests/unit/fuzz-ignore-run-corpus crash-HASH` (run-corpus.c, which
 * also runs as the unit test fuzz-ignore-corpus over tests/fuzz/corpus/ignore: add
 * what the fuzzer finds there). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recipe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_RULES 24
#define MAX_PATHS 24

#define CHECK(cond, path)                                                                          \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz-ignore: %s:%d: %s fails for the path \"%s\"\n",      \
				__FILE__, __LINE__, #cond, path);                                  \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static char *xmemdup0(const char *s, size_t n)
{
	char *p = malloc(n + 1);
	if (!p)
		abort();
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

/* One line of the rules, parsed on its own twice: on line 2 of a file of its own (so
 * that no byte order mark is taken off it), after an empty line and after "**". Which
 * of the two shows what it matches tells an exception from a rule that excludes,
 * without repeating how ignorefile.ReadAll finds the '!' ("/!x" is an exception). */
struct rule {
	struct recipe_ignore *alone; /* excludes what a rule that excludes matches */
	struct recipe_ignore *after; /* keeps what an exception matches */
};

static bool parse_after(const char *first, const char *line, size_t n, struct recipe_ignore **out)
{
	size_t fl = strlen(first);
	char *file = malloc(fl + n);
	if (!file)
		abort();
	memcpy(file, first, fl);
	memcpy(file + fl, line, n);
	struct recipe_error err = {0};
	int r = recipe_ignore_parse(file, fl + n, out, &err);
	free(file);
	recipe_error_clear(&err);
	return r == 0;
}

static bool rule_alone(const char *line, size_t n, bool first, struct rule *out)
{
	if (first && n >= 3 && !memcmp(line, "\xEF\xBB\xBF", 3))
		line += 3, n -= 3;
	return parse_after("\n", line, n, &out->alone) && parse_after("**\n", line, n, &out->after);
}

/* 1: rule k excludes path (it or a parent matches a rule that excludes); -1: it
 * keeps path (an exception that matches); 0: it says nothing of path. */
static int rule_says(const struct rule *rule, const char *path)
{
	if (recipe_ignore_match(rule->alone, path))
		return 1;
	return recipe_ignore_match(rule->after, path) ? 0 : -1;
}

/* rules: each line on its own, or NULL (too many to recompute every answer). */
static void check_path(const struct recipe_ignore *ig, const struct rule *rules, size_t n_rules,
		       const char *path)
{
	bool got = recipe_ignore_match(ig, path);
	if (!*path || !strcmp(path, ".")) {
		CHECK(!got, path);
		return;
	}
	if (rules) {
		bool want = false;
		for (size_t k = 0; k < n_rules; k++) {
			int says = rule_says(&rules[k], path);
			if (says)
				want = says > 0;
		}
		CHECK(got == want, path);
	}

	/* every parent: pruned there means excluded here */
	char *parent = xmemdup0(path, strlen(path));
	for (char *slash; (slash = strrchr(parent, '/'));) {
		*slash = '\0';
		if (*parent && recipe_ignore_match(ig, parent) &&
		    !recipe_ignore_may_include_below(ig, parent))
			CHECK(got, path);
	}
	free(parent);
}

/* Strings, each owned. */
struct strings {
	char *v[MAX_RULES + 1 + 2 * MAX_PATHS];
	size_t n;
};

static void push(struct strings *v, const char *s, size_t n)
{
	if (v->n == sizeof v->v / sizeof v->v[0])
		abort();
	v->v[v->n++] = xmemdup0(s, n);
}

/* Up to max lines of s[0..len), appended to v. */
static void add_lines(const char *s, size_t len, size_t max, struct strings *v)
{
	for (size_t pos = 0, n = 0; pos < len && n < max; n++) {
		const char *nl = memchr(s + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - s) : len;
		push(v, s + pos, end - pos);
		pos = end + 1;
	}
}

static void strings_free(struct strings *v)
{
	for (size_t i = 0; i < v->n; i++)
		free(v->v[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const fixed[] = {
	    "a", "a/b", "a/b/c.go", ".git", "dir/keep.txt", "x.txt", "\xC3\xA9/\xFF", "", "."};
	const char *buf = (const char *)data;
	const char *nul = memchr(buf, '\0', size);
	size_t rules_len = nul ? (size_t)(nul - buf) : size;

	struct recipe_ignore *ig = NULL;
	struct recipe_error err = {0};
	if (recipe_ignore_parse(buf, rules_len, &ig, &err) < 0) {
		recipe_error_clear(&err);
		return 0;
	}

	/* the rules one by one (past MAX_RULES lines, only the other checks) */
	struct strings lines = {0};
	add_lines(buf, rules_len, MAX_RULES + 1, &lines);
	bool compose = lines.n <= MAX_RULES;
	struct rule rules[MAX_RULES];
	size_t n_rules = 0;
	for (size_t k = 0; compose && k < lines.n; k++, n_rules++) {
		rules[k] = (struct rule){0};
		/* a line of a file that parses parses alone */
		CHECK(rule_alone(lines.v[k], strlen(lines.v[k]), k == 0, &rules[k]), lines.v[k]);
	}

	struct strings paths = {0};
	for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
		push(&paths, fixed[i], strlen(fixed[i]));
	if (nul)
		add_lines(nul + 1, size - rules_len - 1, MAX_PATHS, &paths);
	for (size_t k = 0; k < lines.n && k < MAX_PATHS; k++)
		push(&paths, lines.v[k], strlen(lines.v[k]));

	for (size_t i = 0; i < paths.n; i++)
		check_path(ig, compose ? rules : NULL, n_rules, paths.v[i]);

	for (size_t k = 0; k < n_rules; k++) {
		recipe_ignore_free(rules[k].alone);
		recipe_ignore_free(rules[k].after);
	}
	strings_free(&lines);
	strings_free(&paths);
	recipe_ignore_free(ig);
	return 0;
}
