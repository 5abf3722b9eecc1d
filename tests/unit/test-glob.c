/* recipe_glob_match: Go's path/filepath.Match, the glob of COPY/ADD sources and of
 * .dockerignore's syntax check; one row per rule, the surprising ones included. */
#include "recipe.h"
#include "tap.h"

#define BAD RECIPE_GLOB_BAD

static const struct {
	const char *pattern, *name;
	int want;
} cases[] = {
    /* literals and the empty pattern */
    {"abc", "abc", 1},
    {"abc", "abd", 0},
    {"", "", 1},
    {"", "a", 0},
    {"a", "", 0},
    /* '*': any run of bytes but '/' */
    {"*", "", 1},
    {"*", "abc", 1},
    {"*", "a/b", 0},
    {"*c", "abc", 1},
    {"a*", "a", 1},
    {"a*", "ab/c", 0},
    {"a*/b", "abc/b", 1},
    {"a*/b", "a/c/b", 0},
    {"a*b", "a", 0},
    {"*x", "xxx", 1},
    {"a*b*c*/d", "axbxcxxx/d", 1},
    {"a*b*c*/d", "axbxc/x/d", 0},
    {"a*b?c*x", "abxbbxdbxebxczzx", 1},
    {"a*b?c*x", "abxbbxdbxebxczzy", 0},
    {"**", "a", 1},
    {"**", "a/b", 0},
    /* '?': one character (a rune) but '/' */
    {"a?c", "abc", 1},
    {"a?c", "a/c", 0},
    {"a?b",
     "a\xe2\x98\xba"
     "b",
     1},
    {"a???b",
     "a\xe2\x98\xba"
     "b",
     0},
    {"?", "\xff", 1},
    /* classes: ranges, '^' negates, '!' is itself, '/' is a character */
    {"ab[c]", "abc", 1},
    {"ab[b-d]", "abc", 1},
    {"ab[e-g]", "abc", 0},
    {"ab[^c]", "abc", 0},
    {"ab[^b-d]", "abc", 0},
    {"ab[^e-g]", "abc", 1},
    {"[!a]", "!", 1},
    {"[!a]", "b", 0},
    {"[!a]*", "a1", 1},
    {"a[^x]b", "a/b", 1},
    {"a[^a]b",
     "a\xe2\x98\xba"
     "b",
     1},
    {"a[^a][^a][^a]b",
     "a\xe2\x98\xba"
     "b",
     0},
    {"[a-\xce\xb6]*", "\xce\xb1", 1},
    {"*[a-\xce\xb6]", "A", 0},
    {"[[:alpha:]]", "a]", 1},
    {"[[:alpha:]]", "a", 0},
    {"[x\\-]", "-", 1},
    {"[x\\-]", "x", 1},
    {"[x\\-]", "z", 0},
    {"[\\-x]", "-", 1},
    {"[\\]a]", "]", 1},
    {"[\\\\]", "\\", 1},
    /* '\': the next character is itself */
    {"a\\*b", "a*b", 1},
    {"a\\*b", "ab", 0},
    {"\\*", "*", 1},
    {"\\*", "\\*", 0},
    {"\\a", "a", 1},
    /* malformed: an error whatever the name */
    {"[", "a", BAD},
    {"[^", "a", BAD},
    {"[^bc", "a", BAD},
    {"a[", "a", BAD},
    {"a[", "ab", BAD},
    {"a[", "x", BAD},
    {"a/b[", "x", BAD},
    {"*a[", "xa", BAD},
    {"[]a]", "]", BAD},
    {"[]", "a", BAD},
    {"[-]", "-", BAD},
    {"[x-]", "x", BAD},
    {"[-x]", "x", BAD},
    {"[a-b-c]", "a", BAD},
    {"[a-", "a", BAD},
    {"\\", "a", BAD},
    {"a\\", "a", BAD},
    {"[\xff]", "\xff", BAD},
    {"x*[", "y", BAD},
};

int main(void)
{
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int got = recipe_glob_match(cases[i].pattern, cases[i].name);
		if (!ok(got == cases[i].want, "Match(\"%s\", \"%s\") is %s", cases[i].pattern,
			cases[i].name,
			cases[i].want == BAD ? "ErrBadPattern"
			: cases[i].want	     ? "true"
					     : "false"))
			diag("got %d", got);
	}
	return done_testing();
}
