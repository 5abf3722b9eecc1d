/* Word processing: quotes, escapes and ${} expansion as buildkit's shell lexer. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>

#include "../fuzz/pattern-ref.h"
#include "recipe.h"
#include "tap.h"

static const char *lookup(void *ctx, const char *name)
{
	static const char *const env[][2] = {
	    {"HOME", "/root"},
	    {"EMPTY", ""},
	    {"PATHS", "a/b/c.tar.gz"},
	    {"SPACED", " x  y "},
	    {"NL", "ab\ncd"},
	    {"STARS", "a*b*c"},
	    {"GREET", "hello world hello"},
	    {NULL, NULL},
	};
	(void)ctx;
	for (size_t i = 0; env[i][0]; i++)
		if (strcmp(env[i][0], name) == 0)
			return env[i][1];
	return NULL;
}

static void word(const char *src, const char *want, const char *name)
{
	char *out = NULL;
	struct recipe_error err = {0};
	if (recipe_process_word(src, '\\', lookup, NULL, &out, &err) < 0) {
		ok(0, "%s", name);
		diag("'%s' failed: %s", src, err.msg);
	} else {
		is_str(out, want, "%s", name);
	}
	free(out);
	recipe_error_clear(&err);
}

static void word_esc(const char *src, char esc, const char *want, const char *name)
{
	char *out = NULL;
	struct recipe_error err = {0};
	int rc = recipe_process_word(src, esc, lookup, NULL, &out, &err);
	if (rc < 0)
		diag("'%s' failed: %s", src, err.msg);
	is_str(rc < 0 ? NULL : out, want, "%s", name);
	free(out);
	recipe_error_clear(&err);
}

static void word_fails(const char *src, const char *want, const char *name)
{
	char *out = NULL;
	struct recipe_error err = {0};
	int rc = recipe_process_word(src, '\\', lookup, NULL, &out, &err);
	ok(rc < 0 && out == NULL && err.msg && strstr(err.msg, want), "%s", name);
	if (!(rc < 0 && err.msg && strstr(err.msg, want)))
		diag("got rc %d, '%s', error '%s' (want '%s')", rc, out ? out : "",
		     err.msg ? err.msg : "", want);
	free(out);
	recipe_error_clear(&err);
}

static void words(const char *src, const char *want, const char *name)
{
	char **out = NULL, *joined = NULL;
	size_t len = 0;
	struct recipe_error err = {0};
	if (recipe_process_words(src, '\\', lookup, NULL, &out, &err) < 0) {
		ok(0, "%s", name);
		diag("'%s' failed: %s", src, err.msg);
		recipe_error_clear(&err);
		return;
	}
	FILE *o = open_memstream(&joined, &len);
	for (char **w = out; *w; w++)
		fprintf(o, "%s[%s]", w == out ? "" : ",", *w);
	fclose(o);
	is_str(joined, want, "%s", name);
	free(joined);
	recipe_strv_free(out);
}

/* s repeated n times, then tail. */
static char *repeat(const char *s, size_t n, const char *tail)
{
	size_t l = strlen(s), t = strlen(tail);
	char *r = malloc(l * n + t + 1);
	if (!r)
		abort();
	for (size_t i = 0; i < n; i++)
		memcpy(r + i * l, s, l);
	memcpy(r + l * n, tail, t + 1);
	return r;
}

/* A lookup of one variable, v. */
static const char *lookup_v(void *ctx, const char *name)
{
	return strcmp(name, "v") == 0 ? ctx : NULL;
}

/* Processes src with v set to value; returns the result or NULL (then *msg is the
 * error, owned by the caller). */
static char *expand_v(const char *src, const char *value, char **msg)
{
	char *out = NULL;
	struct recipe_error err = {0};
	*msg = NULL;
	if (recipe_process_word(src, '\\', lookup_v, (void *)value, &out, &err) < 0) {
		*msg = err.msg;
		return NULL;
	}
	return out;
}

static void word_fails_with_v(const char *src, const char *value, int code, const char *want,
			      const char *name)
{
	char *out = NULL;
	struct recipe_error err = {0};
	int rc = recipe_process_word(src, '\\', lookup_v, (void *)value, &out, &err);
	ok(rc == code && !out && err.msg && strstr(err.msg, want), "%s", name);
	if (!(rc == code && err.msg && strstr(err.msg, want)))
		diag("got rc %d, error '%.200s' (want %d, '%s')", rc, err.msg ? err.msg : "", code,
		     want);
	free(out);
	recipe_error_clear(&err);
}

/* Compares the six pattern operators on value v with the reference matcher; counts
 * the cases and reports the first few that differ. */
static void compare_patterns(const char *v, const char *pat, int *cases, int *bad)
{
	static const char *const ops[] = {"#", "##", "%", "%%", "/", "//"};
	for (size_t i = 0; i < 6; i++) {
		bool replace = ops[i][0] == '/';
		if (replace && !*pat)
			continue; /* ${v//x} is // with the pattern x */
		char *src, *msg, *want;
		if (asprintf(&src, "${v%s%s%s}", ops[i], pat, replace ? "/<>" : "") < 0)
			abort();
		want = replace ? ref_replace(v, pat, "<>", ops[i][1]) : ref_trim(v, pat, ops[i]);
		char *got = expand_v(src, v, &msg);
		(*cases)++;
		if (!got || strcmp(got, want)) {
			if (++*bad <= 5)
				diag("%s with v='%s': got '%s', want '%s'", src, v, got ? got : msg,
				     want);
		}
		free(src), free(msg), free(want), free(got);
	}
}

/* Every string of up to max runes from alphabet, in turn. */
static bool next_string(char *s, size_t *idx, size_t max, const char *const *alphabet, size_t n)
{
	size_t len = 0;
	while (idx[len] != (size_t)-1)
		len++;
	for (size_t i = 0; i < len; i++) {
		if (++idx[i] < n)
			goto build;
		idx[i] = 0;
	}
	if (len == max)
		return false;
	idx[len] = 0;
	idx[len + 1] = (size_t)-1;
build:
	s[0] = '\0';
	for (size_t i = 0; idx[i] != (size_t)-1; i++)
		strcat(s, alphabet[idx[i]]);
	return true;
}

static void test_patterns_match_the_reference(void)
{
	static const char *const pat_chars[] = {"a", "b", "\n", "*", "?"};
	static const char *const val_chars[] = {"a", "b", "\n"};
	char pat[64], val[64];
	size_t pi[8], vi[8];
	int cases = 0, bad = 0;

	/* every pattern of up to 4 and value of up to 4 of these */
	pi[0] = (size_t)-1, pat[0] = '\0';
	do {
		vi[0] = (size_t)-1, val[0] = '\0';
		do
			compare_patterns(val, pat, &cases, &bad);
		while (next_string(val, vi, 4, val_chars, 3));
	} while (next_string(pat, pi, 4, pat_chars, 5));
	ok(bad == 0, "every short pattern matches as the backtracking matcher (%d cases)", cases);

	/* and longer ones, at random (the same ones every run) */
	static const char *const pat_more[] = {"a", "b", "\xC3\xA9", "\n", "*", "*", "?"};
	static const char *const val_more[] = {"a", "a", "b", "\xC3\xA9", "\n"};
	unsigned seed = 1;
	cases = bad = 0;
	for (int n = 0; n < 20000; n++) {
		size_t lp = (size_t)rand_r(&seed) % 10, lv = (size_t)rand_r(&seed) % 14;
		pat[0] = val[0] = '\0';
		for (size_t i = 0; i < lp; i++)
			strcat(pat, pat_more[rand_r(&seed) % 7]);
		for (size_t i = 0; i < lv; i++)
			strcat(val, val_more[rand_r(&seed) % 5]);
		compare_patterns(val, pat, &cases, &bad);
	}
	ok(bad == 0, "longer patterns match as the backtracking matcher (%d cases)", cases);

	/* segments past 64 runes, searched with tables: a value of mostly a, with b and é
	 * now and then (runes rare in the segment are kept as lists, frequent ones as
	 * masks) and a few newlines */
	char lpat[1024], lval[1024];
	cases = bad = 0;
	for (int n = 0; n < 300; n++) {
		size_t lv = 100 + (size_t)rand_r(&seed) % 200,
		       seg = 65 + (size_t)rand_r(&seed) % 70;
		lval[0] = lpat[0] = '\0';
		for (size_t i = 0; i < lv; i++) {
			unsigned r = (unsigned)rand_r(&seed) % 100;
			strcat(lval, r < 4 ? "b" : r < 6 ? "\xC3\xA9" : r < 7 ? "\n" : "a");
		}
		/* a star (or none, the segment then cut from the start), the segment cut
		 * from the value with some runes made '?' (and in one case of five, a b
		 * that may spoil it), maybe more */
		strcat(lpat, n % 3 ? "*" : "");
		size_t from = n % 3 ? (size_t)rand_r(&seed) % strlen(lval) : 0;
		for (size_t i = 0; i < seg; i++) {
			unsigned r = (unsigned)rand_r(&seed) % 100;
			char c[3] = {from + i < strlen(lval) ? lval[from + i] : 'a', 0, 0};
			if ((c[0] & 0xC0) == 0x80)
				continue; /* the rest of an é */
			if (c[0] == '\xC3')
				c[1] = '\xA9';
			strcat(lpat, r < 20 ? "?" : r < 22 && n % 5 == 0 ? "b" : c);
		}
		strcat(lpat, n % 4 == 0 ? "*" : n % 4 == 1 ? "*b" : "");
		compare_patterns(lval, lpat, &cases, &bad);
	}
	ok(bad == 0, "segments of 65 to 135 runes match as the backtracking matcher (%d cases)",
	   cases);
}

/* ARG A1=$A0$A0 ... doubles a value per line: without a bound, memory runs out. */
static void test_word_size_is_bounded(void)
{
	char *mib = repeat("x", 1 << 20, ""), *msg, *out;
	char *src = repeat("$v", 16, "");
	out = expand_v(src, mib, &msg);
	ok(out && strlen(out) == 16 << 20, "a word of exactly 16 MiB is fine");
	free(out), free(msg), free(src);

	src = repeat("$v", 17, "");
	word_fails_with_v(src, mib, -E2BIG, "variable expansion makes a word larger than 16 MiB",
			  "a word of 17 MiB is an error");
	free(src);
	src = repeat("x", 16 << 20, "$v");
	word_fails_with_v(src, "y", -E2BIG, "larger than 16 MiB",
			  "16 MiB of text and one more rune is an error");
	free(src);
	word_fails_with_v("${v//x/$v}", mib, -E2BIG, "larger than 16 MiB",
			  "a replacement that would make 1 TiB fails at the limit");
	word_fails_with_v("${u:-$v$v$v$v$v$v$v$v$v$v$v$v$v$v$v$v$v}", mib, -E2BIG,
			  "larger than 16 MiB", "so does a default word past the limit");
	word_fails_with_v("\"$v$v$v$v$v$v$v$v$v$v$v$v$v$v$v$v$v\"", mib, -E2BIG,
			  "larger than 16 MiB", "and a double-quoted word");

	char **words = NULL;
	struct recipe_error err = {0};
	src = repeat("$v ", 17, "");
	int rc = recipe_process_words(src, '\\', lookup_v, mib, &words, &err);
	ok(rc == -E2BIG && !words && err.msg && strstr(err.msg, "larger than 16 MiB"),
	   "the words of a line count as one word");
	recipe_error_clear(&err);
	free(src), free(mib);
}

static volatile sig_atomic_t stop;

/* v, and the interrupt flag raised: as a signal that arrives mid-expansion. */
static const char *lookup_then_stop(void *ctx, const char *name)
{
	stop = 1;
	return strcmp(name, "v") == 0 ? ctx : NULL;
}

static void interrupted(const char *src, const char *value, bool raised, const char *name)
{
	struct recipe_word_opts o = {
	    .escape = '\\', .lookup = lookup_then_stop, .ctx = (void *)value, .interrupt = &stop};
	struct recipe_error err = {0};
	char *out = NULL, **words = NULL;
	stop = raised;
	int rc = recipe_expand_word(src, &o, &out, &err);
	ok(rc == -EINTR && !out && err.msg && !strcmp(err.msg, "interrupted"), "%s", name);
	if (rc != -EINTR)
		diag("got %d, '%s', '%s'", rc, out ? out : "", err.msg ? err.msg : "");
	free(out);
	recipe_error_clear(&err);
	stop = raised;
	rc = recipe_expand_words(src, &o, &words, &err);
	ok(rc == -EINTR && !words, "%s (words)", name);
	recipe_strv_free(words);
	recipe_error_clear(&err);
}

static void test_interrupt_flag_stops_expansion(void)
{
	char *value = repeat("a", 40000, "");
	char *pattern = repeat("*a", 15000, "b");
	char *src;
	interrupted("x", "", true, "a raised flag stops even a plain word");
	interrupted("$v$v", "", false, "a flag raised between two variables stops the second");
	/* nothing after the ${...}: only the matcher can see the flag */
	if (asprintf(&src, "${v##%s}", pattern) < 0)
		abort();
	interrupted(src, value, false, "a flag raised before matching stops ${v##...}");
	free(src);
	if (asprintf(&src, "${v//%s/x}", pattern) < 0)
		abort();
	interrupted(src, value, false, "and ${v//...}");
	free(src), free(pattern), free(value);

	struct recipe_word_opts o = {.lookup = lookup_v, .ctx = "a b", .interrupt = &stop};
	struct recipe_error err = {0};
	char *out = NULL;
	stop = 0;
	ok(recipe_expand_word("${v/ /-}", &o, &out, &err) == 0 && !strcmp(out, "a-b"),
	   "a flag that stays 0 changes nothing");
	free(out);
}

static void test_nesting_is_bounded(void)
{
	char *w = repeat("${a:-", 100, "x");
	char *closed = repeat("}", 100, "");
	char *src = NULL, *msg;
	if (asprintf(&src, "%s%s", w, closed) < 0)
		abort();
	char *out = expand_v(src, NULL, &msg);
	is_str(out, "x", "${a:-...} nested 100 levels deep expands");
	free(out), free(msg), free(src), free(w), free(closed);

	w = repeat("${a:-", 101, "x");
	closed = repeat("}", 101, "");
	if (asprintf(&src, "%s%s", w, closed) < 0)
		abort();
	word_fails(src, "variable expansion nested more than 100 levels",
		   "101 levels of ${a:-...} is an error");
	free(src), free(w), free(closed);

	/* deep enough to overflow any stack when each level recursed */
	w = repeat("${a:-", 100000, "");
	word_fails(w, "nested more than 100 levels", "100,000 unclosed ${a:- fail, no crash");
	free(w);
	w = repeat("${a:-\"", 100000, "");
	word_fails(w, "nested more than 100 levels", "100,000 of ${a:-\" fail, no crash");
	free(w);
	w = repeat("${a/", 100000, "");
	word_fails(w, "nested more than 100 levels", "100,000 of ${a/ fail, no crash");
	free(w);
}

static void test_long_patterns(void)
{
	char *value = repeat("a", 300000, ""), *msg;
	char *src = repeat("a", 300000, "}");
	memcpy(src, "${v#", 4);
	src[4] = 'a';
	char *out = expand_v(src, value, &msg);
	is_str(out, "aaaa", "a 300,000-rune pattern matches without deep recursion");
	if (!out)
		diag("%s", msg);
	free(out), free(msg);
	src[3] = '%';
	out = expand_v(src, value, &msg);
	is_str(out, "aaaa", "the same as a suffix");
	free(out), free(msg), free(src);

	char *any = repeat("?", 299995, "");
	if (asprintf(&src, "${v/%s/}", any) < 0)
		abort();
	out = expand_v(src, value, &msg);
	is_str(out, "aaaaa", "a pattern of 299,995 ? replaces the first 299,995 runes");
	free(out), free(msg), free(src), free(any), free(value);
}

/* The pattern *a*a...*ab has exponentially many ways to fail against a^n. */
static void test_pathological_patterns_are_polynomial(void)
{
	char *value = repeat("a", 40000, ""), *msg;
	char *stars = repeat("*a", 15000, "b}");
	char *src = NULL;
	static const char *const ops[] = {"#", "##", "%", "%%"};
	for (size_t i = 0; i < 4; i++) {
		if (asprintf(&src, "${v%s%s", ops[i], stars) < 0)
			abort();
		char *out = expand_v(src, value, &msg);
		ok(out && strcmp(out, value) == 0, "${v%s*a*a...*ab} on a^40000 finishes: no match",
		   ops[i]);
		free(out), free(msg), free(src);
	}
	free(stars);
	stars = repeat("*a", 15000, "/x}");
	for (size_t i = 0; i < 2; i++) {
		if (asprintf(&src, "${v/%s%s", i ? "/" : "", stars) < 0)
			abort();
		char *out = expand_v(src, value, &msg);
		is_str(out, "x", "${v%s*a*a...*a/x} on a^40000 finishes", i ? "//" : "/");
		free(out), free(msg), free(src);
	}
	free(stars);
	/* every start position fails late: quadratic when each start rescans */
	char *out = expand_v("${v//a*b/x}", value, &msg);
	ok(out && strcmp(out, value) == 0, "${v//a*b/x} on a^40000 finishes: no match");
	free(out), free(msg), free(value);
}

static void test_quotes(void)
{
	word("'a $HOME \\n'", "a $HOME \\n", "single quotes keep everything literal");
	word("\"a $HOME\"", "a /root", "double quotes expand variables");
	word("\"a \\\" \\$ \\\\ \\n\"", "a \" $ \\ \\n",
	     "in double quotes only \", $ and the escape can be escaped");
	word("a'b'\"c\"d", "abcd", "quoted parts join the word");
	word_fails("'open", "matching single-quote", "an unterminated single quote is an error");
	word_fails("\"open", "matching double-quote", "an unterminated double quote is an error");
}

static void test_escapes(void)
{
	word("a\\ b\\$HOME\\'", "a b$HOME'", "the escape character quotes the next one");
	word("end\\", "end", "an escape at the end is dropped");
	word_esc("a`$HOME` b\\c", '`', "a$HOME b\\c",
		 "a ` escape character escapes, \\ is literal");
}

static void test_simple_variables(void)
{
	word("$HOME/x ${HOME}y", "/root/x /rooty", "$VAR and ${VAR} expand");
	word("$UNSET-${UNSET}.", "-.", "unset variables expand to nothing");
	word("$ $. $", "$ $. $", "a $ without a name is literal");
	word("$1a $@b", "a b", "positional and special parameters are empty");
}

static void test_default_and_alternative(void)
{
	word("${UNSET:-d} ${EMPTY:-d} ${HOME:-d}", "d d /root", "${VAR:-w}: w when unset or empty");
	word("${UNSET-d} ${EMPTY-d}", "d ", "${VAR-w}: w only when unset");
	word("${UNSET:+w}|${EMPTY:+w}|${HOME:+w}", "||w", "${VAR:+w}: w when set and not empty");
	word("${UNSET+w}|${EMPTY+w}", "|w", "${VAR+w}: w when set, even empty");
	word("${UNSET:-${HOME:-x}}", "/root", "words nest");
	word("${UNSET:-a b}", "a b", "a default may hold blanks");
}

static void test_required(void)
{
	word("${HOME:?no}", "/root", "${VAR:?w} is the value when set");
	word("${EMPTY?no}", "", "${VAR?w} accepts an empty value");
	word_fails("${UNSET:?must be set}", "UNSET: must be set",
		   "${VAR:?msg} fails with the message when unset");
	word_fails("${EMPTY:?}", "EMPTY: is not allowed to be empty", "${VAR:?} fails when empty");
	word_fails("${UNSET?}", "UNSET: is not allowed to be unset", "${VAR?} fails when unset");
}

static void test_prefix_and_suffix_removal(void)
{
	word("${PATHS#*/}", "b/c.tar.gz", "# removes the shortest prefix");
	word("${PATHS##*/}", "c.tar.gz", "## removes the longest prefix");
	word("${PATHS%.*}", "a/b/c.tar", "% removes the shortest suffix");
	word("${PATHS%%.*}", "a/b/c", "%% removes the longest suffix");
	word("${PATHS#x}", "a/b/c.tar.gz", "no match leaves the value");
	word("${PATHS#a?b}", "/c.tar.gz", "? matches one character");
	word("${STARS#a\\*}", "b*c", "\\* is a literal star");
	word("${NL#*}", "ab\ncd", "a shortest * matches nothing");
	word("${NL##*}", "\ncd", "* does not cross a newline, as buildkit's regexp");
	word("${UNSET#x}", "", "an unset variable gives nothing");
	word_fails("${PATHS:#x}", "unsupported modifier (:#)", "${VAR:#w} is an error");
	word_fails("${PATHS#\\x}", "invalid pattern", "an invalid escape in a pattern is an error");
}

static void test_replacement(void)
{
	word("${GREET/hello/bye}", "bye world hello", "/ replaces the first match");
	word("${GREET//hello/bye}", "bye world bye", "// replaces every match");
	word("${GREET/o*o/0}", "hell0", "* in a replacement pattern is greedy");
	word("${GREET/xyz/q}", "hello world hello", "no match leaves the value");
	word("${UNSET/a/b}", "", "an unset variable gives nothing");
	word("${STARS//\\*/-}", "a-b-c", "\\* matches a star");
	word_fails("${GREET/hello}", "missing '/'", "a replacement without the second / fails");
}

static void test_bad_substitutions(void)
{
	word_fails("${}", "bad substitution", "${} is an error");
	word_fails("${:-x}", "bad substitution", "${:-x} is an error");
	word_fails("${HOME", "missing '}'", "an unclosed ${ is an error");
	word_fails("${HOME:-x", "missing '}'", "an unclosed ${VAR:-w is an error");
	word_fails("${HOME:=x}", "unsupported modifier (:=)", "${VAR:=w} is not supported");
	word_fails("${HOME.x}", "unsupported modifier", "a bad character after the name fails");
	word("\\${}", "${}", "an escaped $ is not a substitution");
}

static void test_words_split_after_expansion(void)
{
	words("a b  c", "[a],[b],[c]", "words split at blanks");
	words("a$SPACED", "[a],[x],[y]", "blanks from an expansion split words");
	words("a\"$SPACED\"", "[a x  y ]", "quoted expansions do not split");
	words("'a b' c\\ d", "[a b],[c d]", "quoted and escaped blanks do not split");
	words("  ", "", "blanks alone give no word");
	words("x${UNSET:-d e}", "[xd],[e]", "text before a ${VAR:-w} stays in its word");
}

int main(void)
{
	test_quotes();
	test_escapes();
	test_simple_variables();
	test_default_and_alternative();
	test_required();
	test_prefix_and_suffix_removal();
	test_replacement();
	test_bad_substitutions();
	test_words_split_after_expansion();
	test_patterns_match_the_reference();
	test_nesting_is_bounded();
	test_long_patterns();
	test_pathological_patterns_are_polynomial();
	test_word_size_is_bounded();
	test_interrupt_flag_stops_expansion();
	return done_testing();
}
