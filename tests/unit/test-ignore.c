/* .dockerignore matching: one test per rule of docker's (moby patternmatcher +
 * ignorefile.ReadAll, fsutil's pruning), the surprising ones included. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "recipe.h"
#include "tap.h"

/* Parses rules and checks each "path" (excluded) or "-path" (kept). */
static void check(const char *rules, const char *const *paths, const char *name)
{
	struct recipe_ignore *ig = NULL;
	struct recipe_error err = {0};
	if (recipe_ignore_parse(rules, strlen(rules), &ig, &err) < 0) {
		ok(0, "%s", name);
		diag("parse failed: line %d: %s", err.line, err.msg);
		recipe_error_clear(&err);
		return;
	}
	int bad = 0;
	for (size_t i = 0; paths[i]; i++) {
		bool want = paths[i][0] != '-';
		const char *p = want ? paths[i] : paths[i] + 1;
		if (recipe_ignore_match(ig, p) != want) {
			diag("%s: '%s' should be %s", name, p, want ? "excluded" : "kept");
			bad++;
		}
	}
	ok(bad == 0, "%s", name);
	recipe_ignore_free(ig);
}

#define CHECK(rules, name, ...) check(rules, (const char *const[]){__VA_ARGS__, NULL}, name)

static void parse_fails(const char *rules, size_t len, int line, const char *name)
{
	struct recipe_ignore *ig = NULL;
	struct recipe_error err = {0};
	int r = recipe_ignore_parse(rules, len, &ig, &err);
	if (!ok(r < 0 && ig == NULL && err.msg && err.line == line, "%s", name))
		diag("r=%d line %d: %s", r, err.line, err.msg ? err.msg : "(no message)");
	recipe_ignore_free(ig);
	recipe_error_clear(&err);
}

static void may_include(const char *rules, const char *dir, bool want, const char *name)
{
	struct recipe_ignore *ig = NULL;
	struct recipe_error err = {0};
	if (recipe_ignore_parse(rules, strlen(rules), &ig, &err) < 0) {
		ok(0, "%s (parse: %s)", name, err.msg);
		recipe_error_clear(&err);
		return;
	}
	ok(recipe_ignore_may_include_below(ig, dir) == want, "%s", name);
	recipe_ignore_free(ig);
}

int main(void)
{
	/* reading the file */
	CHECK("# a comment\nfoo\n", "a '#' line is a comment", "foo", "-# a comment");
	CHECK(" # not a comment\n", "'#' after white space is a pattern", "# not a comment");
	CHECK("\n   \n\t\nfoo\n\n", "empty and blank lines are skipped", "foo", "-bar");
	CHECK("  foo  \t\n", "patterns are trimmed", "foo", "-  foo  ");
	CHECK("foo\r\nbar\r\n", "CRLF line endings", "foo", "bar", "-foo\r");
	CHECK("\xEF\xBB\xBF"
	      "foo\n",
	      "a UTF-8 BOM on the first line is dropped", "foo");
	CHECK("foo", "a last line without newline counts", "foo");
	CHECK("", "an empty file excludes nothing", "-foo", "-a/b");

	/* cleaning */
	CHECK("/abs\n", "a leading / is removed", "abs", "abs/x", "-x/abs");
	CHECK("./rel\n", "a leading ./ is removed", "rel", "-x/rel");
	CHECK("a/../b\n", ".. is cleaned", "b", "-a", "-a/b");
	CHECK("foo/\n", "a trailing / is removed", "foo", "foo/x");
	CHECK("a//b/./c\n", "doubled slashes and . are cleaned", "a/b/c");

	/* parents */
	CHECK("dir\n", "a directory excludes what is below it", "dir", "dir/x", "dir/x/y", "-dirx",
	      "-x/dir");
	CHECK("foo/**\n", "dir/** excludes the content, not the directory", "foo/x", "foo/x/y",
	      "-foo", "-foobar");

	/* wildcards */
	CHECK("*.txt\n", "* does not cross directories", "a.txt", ".txt", "-d/a.txt", "-a.txt.bak");
	CHECK("*\n", "* matches dot files", ".git", "x", "x/y");
	CHECK("*/temp*\n", "*/temp* matches one level down", "somedir/temporary.txt",
	      "somedir/temp", "somedir/temp/x", "-temp", "-a/b/temp");
	CHECK("temp?\n", "? matches one character", "tempa", "-temp", "-tempab", "-temp/");
	CHECK("a?c\n", "? matches one UTF-8 character, not /", "abc",
	      "a\xC3\xA9"
	      "c",
	      "-a/c");
	CHECK("*.tar.gz\n", "regexp characters are literal", "x.tar.gz", "-xtarxgz");
	CHECK("a+b(c){1}|$.txt\n", "regexp characters are literal without wildcards",
	      "a+b(c){1}|$.txt", "-aab(c){1}|$.txt");

	/* ** */
	CHECK("**/*.go\n", "**/*.go matches at any depth, the top included", "a.go", "x/a.go",
	      "x/y/z/a.go", "-a.goo", "-ago");
	CHECK("**/foo\n", "**/foo matches foo and any */foo", "foo", "a/foo", "a/b/foo", "foo/x",
	      "-afoo");
	CHECK("a/**/b\n", "a/**/b matches zero or more directories", "a/b", "a/x/b", "a/x/y/b",
	      "a/b/c", "-a/xb", "-b");
	CHECK("**\n", "** matches everything", "a", "a/b", ".x");
	CHECK("a**b\n", "a**b joins with a slash only", "ab", "ax/b", "-axb");

	/* classes */
	CHECK("[a-c].txt\n", "[a-c] is a range", "a.txt", "b.txt", "c.txt", "-d.txt", "-ab.txt");
	CHECK("[^a].txt\n", "[^a] is a negated class", "b.txt", "-a.txt");
	CHECK("[!a].txt\n", "[!a] is not negated: docker's regexp reads '!' and 'a'", "!.txt",
	      "a.txt", "-b.txt");
	CHECK("x[^a]y\n", "a negated class matches / (a regexp class)", "x/y", "-xay");
	CHECK("[[:digit:]]x\n", "POSIX classes", "1x", "-ax");

	/* escapes */
	CHECK("\\*.txt\n", "\\* is a literal star", "*.txt", "-a.txt");
	CHECK("a\\?b\n", "\\? is a literal question mark", "a?b", "-axb");
	CHECK("\\[x]\n", "\\[ is a literal bracket", "[x]", "-x");
	CHECK("file\\d\n", "\\d is a digit, as in docker's regexp", "file7", "-filed");

	/* exceptions */
	CHECK("*.txt\n!keep.txt\n", "!keep.txt after *.txt keeps it", "a.txt", "-keep.txt");
	CHECK("!keep.txt\n*.txt\n", "the last matching rule wins", "a.txt", "keep.txt");
	CHECK("a\n!a\na\n", "a rule after an exception excludes again", "a");
	CHECK("dir\n!dir/keep\n", "an exception under an excluded directory", "dir", "dir/other",
	      "-dir/keep", "-dir/keep/x");
	CHECK("! foo \nfoo*\n!foo\n", "white space after ! is trimmed", "foobar", "-foo");
	CHECK("/!x\n", "a '!' after cleaning starts an exception, as in docker", "-!x");

	/* malformed */
	parse_fails("a\n!\n", 4, 2, "a lone ! is an error with its line");
	parse_fails("ok\n[abc\n", 8, 2, "an unclosed [ is an error");
	parse_fails("x\\\n", 3, 1, "a trailing backslash is an error");
	parse_fails("[z-a]\n", 6, 1, "a reversed range is an error");
	{
		size_t n = 70000;
		char *big = malloc(n);
		memset(big, 'a', n);
		parse_fails(big, n, 1, "a line of 64 KiB or more is an error");
		free(big);
	}

	/* pruning */
	may_include("dir\n", "dir", false, "without exceptions a directory is pruned");
	may_include("dir\n!dir/keep\n", "dir", true, "an exception below keeps the walk going");
	may_include("dir\n!dir/keep\n", "other", false, "an exception elsewhere does not");
	may_include("d\n!d/sub/*\n", "d/sub", true, "a trailing /* is ignored for prefixes");
	may_include("d\n!d/sub/**\n", "d/s", false, "prefixes are whole path elements");
	may_include("x\n!**/*.go\n", "x", true, "an exception with wildcards may match anywhere");

	/* no path is excluded by "." or the empty path */
	CHECK("*\n", "the context root itself is never excluded", "-", "-.");

	return done_testing();
}
