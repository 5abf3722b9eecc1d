/* Fuzz target for variable expansion: recipe_expand_word and recipe_expand_words
 * (parser/shell.c) on a word, with a few variables set, and the pattern matcher
 * checked against the backtracking one it replaced (pattern-ref.h).
 *
 * The first byte of an input chooses: bit 0 the escape character (` instead of \),
 * bit 1 words instead of one word, bit 2 an interrupt flag raised at the third
 * variable looked up, bit 3 a pattern check: the rest is then VALUE, a NUL byte and
 * PATTERN, their bytes mapped onto a, b, \n, é (and *, ? in the pattern), at most 40
 * and 24 of them (with bit 4, 200 and 100: segments past 64 runes are searched with
 * tables), and every ${v#p} ${v##p} ${v%p} ${v%%p} ${v/p/r} ${v//p/r} must give what
 * pattern-ref.h gives. Otherwise the rest, up to a NUL, is the word.
 *
 * With libFuzzer (needs clang; the parser is compiled again, instrumented):
 *
 *   CC=clang meson setup build-fuzz -Dfuzz=true -Dintegration=false
 *   ninja -C build-fuzz tests/fuzz/fuzz-expand
 *   mkdir -p fuzz-expand-corpus
 *   ./build-fuzz/tests/fuzz/fuzz-expand -max_total_time=300 -timeout=10 \
 *       fuzz-expand-corpus tests/fuzz/corpus/expand
 *
 * (the first directory collects new inputs, the second seeds it, read only). A crash
 * leaves crash-HASH, a hang timeout-HASH, in the current directory; replay one with
 * `./build-fuzz/tests/fuzz/fuzz-expand FILE`, or without clang with the corpus driver:
 * `./build/tests/unit/fuzz-expand-run-corpus FILE` (run-corpus.c, which also runs as
 * the unit test fuzz-expand-corpus over tests/fuzz/corpus/expand: add what the fuzzer
 * finds there). Deep and long inputs are built by tests/unit/test-shell.c instead. */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pattern-ref.h"
#include "recipe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum {
	OPT_BACKTICK = 1 << 0,
	OPT_WORDS = 1 << 1,
	OPT_INTERRUPT = 1 << 2,
	OPT_PATTERN = 1 << 3,
	OPT_LONG = 1 << 4,
};

static volatile sig_atomic_t stop;
static int lookups, stop_at;
static char long_value[65];

static const char *lookup(void *ctx, const char *name)
{
	static const char *const vars[][2] = {
	    {"HOME", "/root"}, {"EMPTY", ""},	 {"X", "a b*c"},	 {"STAR", "*"},
	    {"Q", "?"},	       {"NL", "a\nb\n"}, {"U8", "\xC3\xA9\xFF"}, {"v", NULL},
	};
	if (++lookups == stop_at)
		stop = 1;
	if (!strcmp(name, "LONG"))
		return long_value; /* 64 a's: four replacements deep pass the word limit */
	for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
		if (!strcmp(name, vars[i][0]))
			return vars[i][1] ? vars[i][1] : ctx;
	return NULL;
}

static void expand(const char *word, unsigned opts, const char *v)
{
	struct recipe_word_opts o = {
	    .escape = opts & OPT_BACKTICK ? '`' : '\\',
	    .lookup = lookup,
	    .ctx = (void *)v,
	    .interrupt = &stop,
	};
	struct recipe_error err = {0};
	char *out = NULL, **words = NULL;
	int rc;

	stop = 0;
	lookups = 0;
	stop_at = opts & OPT_INTERRUPT ? 3 : -1;
	if (opts & OPT_WORDS)
		rc = recipe_expand_words(word, &o, &words, &err);
	else
		rc = recipe_expand_word(word, &o, &out, &err);
	/* an error leaves no result and says what; only the flag interrupts */
	if (rc < 0 && (out || words || !err.msg))
		abort();
	if (rc == -EINTR && (!stop || strcmp(err.msg, "interrupted")))
		abort();
	if (rc == 0 && !out == !words)
		abort();
	if (out && strlen(out) > RECIPE_MAX_WORD)
		abort();
	free(out);
	recipe_strv_free(words);
	recipe_error_clear(&err);
}

/* bytes onto a small alphabet, where the backtracking matcher is quick enough */
static char *map(const uint8_t *b, size_t n, size_t max, bool pattern)
{
	static const char *const runes[] = {"a", "b", "\n", "\xC3\xA9", "*", "?"};
	char *s = malloc(2 * max + 1), *p = s;
	if (!s)
		abort();
	for (size_t i = 0; i < n && i < max; i++) {
		const char *r = runes[b[i] % (pattern ? 6 : 4)];
		memcpy(p, r, strlen(r));
		p += strlen(r);
	}
	*p = '\0';
	return s;
}

static void check_patterns(const uint8_t *data, size_t size, bool longer)
{
	static const char *const ops[] = {"#", "##", "%", "%%", "/", "//"};
	const uint8_t *nul = memchr(data, 0, size);
	size_t nv = nul ? (size_t)(nul - data) : size;
	char *v = map(data, nv, longer ? 200 : 40, false);
	char *pat =
	    nul ? map(nul + 1, size - nv - 1, longer ? 100 : 24, true) : map(NULL, 0, 0, true);

	for (size_t i = 0; i < 6; i++) {
		bool replace = ops[i][0] == '/';
		if (replace && !*pat)
			continue; /* ${v//r} is // with the pattern r */
		char *word, *want, *got = NULL;
		struct recipe_word_opts o = {.lookup = lookup, .ctx = v};
		struct recipe_error err = {0};
		if (asprintf(&word, "${v%s%s%s}", ops[i], pat, replace ? "/<>" : "") < 0)
			abort();
		want = replace ? ref_replace(v, pat, "<>", ops[i][1]) : ref_trim(v, pat, ops[i]);
		if (recipe_expand_word(word, &o, &got, &err) < 0 || strcmp(got, want))
			abort(); /* the linear matcher disagrees with the backtracking one */
		free(word);
		free(want);
		free(got);
	}
	free(v);
	free(pat);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!long_value[0])
		memset(long_value, 'a', sizeof long_value - 1);
	if (size == 0)
		return 0;
	unsigned opts = data[0];
	if (opts & OPT_PATTERN) {
		check_patterns(data + 1, size - 1, opts & OPT_LONG);
		return 0;
	}
	/* the word functions take C strings: the input up to its first NUL */
	char *word = malloc(size);
	if (!word)
		abort();
	memcpy(word, data + 1, size - 1);
	word[size - 1] = '\0';
	expand(word, opts, "a*b?c\nd");
	free(word);
	return 0;
}
