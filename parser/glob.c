/* Go's path/filepath.Match on '/'-separated names (recipe.h says the dialect): the one
 * glob of cairn, for COPY and ADD sources and for checking .dockerignore patterns as
 * docker checks them. Classes and '?' take a rune (UTF-8; a byte that is not UTF-8
 * is U+FFFD), everything else compares bytes, as Go does. No recursion and no
 * allocation; time at most the product of the two lengths: the chunk after a star
 * is tried at each position, with no return to an earlier star (the leftmost match
 * of a chunk is always as good, but for the last one, which must end the name). */
#include <string.h>

#include "internal.h"

/* A pattern or a name being consumed. */
struct glob_str {
	const char *s;
	size_t len;
};

static void scan_chunk(struct glob_str *pat, bool *star, struct glob_str *chunk)
{
	*star = false;
	while (pat->len > 0 && pat->s[0] == '*') {
		pat->s++, pat->len--;
		*star = true;
	}
	bool inrange = false;
	size_t i;
	for (i = 0; i < pat->len; i++) {
		char c = pat->s[i];
		if (c == '\\') {
			if (i + 1 < pat->len)
				i++;
		} else if (c == '[') {
			inrange = true;
		} else if (c == ']') {
			inrange = false;
		} else if (c == '*' && !inrange) {
			break;
		}
	}
	chunk->s = pat->s;
	chunk->len = i;
	pat->s += i;
	pat->len -= i;
}

static int get_esc(struct glob_str *chunk, int32_t *r)
{
	if (chunk->len == 0 || chunk->s[0] == '-' || chunk->s[0] == ']')
		return RECIPE_GLOB_BAD;
	if (chunk->s[0] == '\\') {
		chunk->s++, chunk->len--;
		if (chunk->len == 0)
			return RECIPE_GLOB_BAD;
	}
	size_t n = rcp_utf8_decode(chunk->s, chunk->len, r);
	bool bad = *r >= RCP_RAW_BASE;
	chunk->s += n, chunk->len -= n;
	if (bad || chunk->len == 0)
		return RECIPE_GLOB_BAD;
	return 0;
}

/* Returns 1 and the rest of s on a match, 0 when none, RECIPE_GLOB_BAD. */
static int match_chunk(struct glob_str chunk, struct glob_str s, struct glob_str *rest)
{
	bool failed = false;
	while (chunk.len > 0) {
		if (!failed && s.len == 0)
			failed = true;
		char c = chunk.s[0];
		if (c == '[') {
			int32_t r = 0;
			if (!failed) {
				size_t n = rcp_utf8_decode_go(s.s, s.len, &r);
				s.s += n, s.len -= n;
			}
			chunk.s++, chunk.len--;
			bool negated = false, match = false;
			if (chunk.len > 0 && chunk.s[0] == '^') {
				negated = true;
				chunk.s++, chunk.len--;
			}
			for (int nrange = 0;; nrange++) {
				if (chunk.len > 0 && chunk.s[0] == ']' && nrange > 0) {
					chunk.s++, chunk.len--;
					break;
				}
				int32_t lo, hi;
				if (get_esc(&chunk, &lo) < 0)
					return RECIPE_GLOB_BAD;
				hi = lo;
				if (chunk.s[0] == '-') {
					chunk.s++, chunk.len--;
					if (get_esc(&chunk, &hi) < 0)
						return RECIPE_GLOB_BAD;
				}
				if (lo <= r && r <= hi)
					match = true;
			}
			if (match == negated)
				failed = true;
			continue;
		}
		if (c == '?') {
			if (!failed) {
				int32_t r;
				if (s.s[0] == '/')
					failed = true;
				size_t n = rcp_utf8_decode_go(s.s, s.len, &r);
				s.s += n, s.len -= n;
			}
			chunk.s++, chunk.len--;
			continue;
		}
		if (c == '\\') {
			chunk.s++, chunk.len--;
			if (chunk.len == 0)
				return RECIPE_GLOB_BAD;
		}
		if (!failed) {
			if (chunk.s[0] != s.s[0])
				failed = true;
			s.s++, s.len--;
		}
		chunk.s++, chunk.len--;
	}
	if (failed)
		return 0;
	*rest = s;
	return 1;
}

static int glob_match(struct glob_str pat, struct glob_str name)
{
	while (pat.len > 0) {
		bool star;
		struct glob_str chunk, t;
		scan_chunk(&pat, &star, &chunk);
		if (star && chunk.len == 0)
			return memchr(name.s, '/', name.len) == NULL;
		int ok = match_chunk(chunk, name, &t);
		if (ok == 1 && (t.len == 0 || pat.len > 0)) {
			name = t;
			continue;
		}
		if (ok < 0)
			return ok;
		bool found = false;
		if (star) {
			for (size_t i = 0; i < name.len && name.s[i] != '/'; i++) {
				struct glob_str sub = {name.s + i + 1, name.len - i - 1};
				ok = match_chunk(chunk, sub, &t);
				if (ok == 1) {
					if (pat.len == 0 && t.len > 0)
						continue;
					name = t;
					found = true;
					break;
				}
				if (ok < 0)
					return ok;
			}
		}
		if (found)
			continue;
		/* no match: the rest of the pattern must still be well formed */
		while (pat.len > 0) {
			struct glob_str empty = {"", 0};
			scan_chunk(&pat, &star, &chunk);
			if (match_chunk(chunk, empty, &t) < 0)
				return RECIPE_GLOB_BAD;
		}
		return 0;
	}
	return name.len == 0;
}

int rcp_glob_match(const char *pattern, size_t plen, const char *name, size_t nlen)
{
	return glob_match((struct glob_str){pattern, plen}, (struct glob_str){name, nlen});
}

int recipe_glob_match(const char *pattern, const char *name)
{
	return rcp_glob_match(pattern, strlen(pattern), name, strlen(name));
}
