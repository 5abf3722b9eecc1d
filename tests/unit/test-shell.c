/* Word processing: quotes, escapes and ${} expansion as buildkit's shell lexer. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
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
	return done_testing();
}
