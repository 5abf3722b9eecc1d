/* .dockerignore matching, with the rules docker applies (moby's patternmatcher and
 * ignorefile.ReadAll, fsutil's directory pruning).
 *
 * Docker does not match patterns with glob rules: it rewrites each pattern into a Go
 * regular expression (a star becomes "[^/]" repeated, a double star an optional
 * "any text then a slash" group; "[", "]", "^" and backslash escapes pass through)
 * and lets RE2 interpret the result. Odd patterns therefore mean odd things ("[!a]"
 * is a class of '!' and 'a', a backslash-d is a digit), and to give the same answers
 * this file does the same rewrite and runs the result on the RE2 subset it can
 * produce (regex.c: linear in the length of the path, whatever the pattern). What
 * that subset lacks (Unicode classes) makes the pattern an error, as a malformed one
 * is in docker (where it fails the build when first used). Before the rewrite, a
 * pattern is checked as docker checks it: with Go's filepath.Match (glob.c). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* bufio.Scanner's default limit: a longer line is an error in docker. */
#define IG_MAX_LINE 65536

enum ig_type { IG_EXACT, IG_PREFIX, IG_SUFFIX, IG_REGEX };

struct ig_pattern {
	char *text; /* cleaned, without the '!' */
	size_t len;
	bool exclusion;
	enum ig_type type;
	struct rcp_re prog;
};

struct recipe_ignore {
	struct ig_pattern *p;
	size_t n;
	bool exclusions;
	/* fsutil's onlyPrefixExcludeExceptions: no exception has wildcards (once a
	 * trailing slash-star-star or slash-star is dropped), so prefixes decide pruning */
	bool only_prefix_exceptions;
};

/* ---- strings with lengths ---- */

static bool has_prefix(const char *s, size_t len, const char *p, size_t plen)
{
	return len >= plen && memcmp(s, p, plen) == 0;
}

static bool has_suffix(const char *s, size_t len, const char *p, size_t plen)
{
	return len >= plen && memcmp(s + len - plen, p, plen) == 0;
}

/* Go's filepath.Clean on a '/'-separated path; *outlen is the result's length
 * (it may hold NUL bytes, as the pattern may). */
static char *go_clean(const char *s, size_t n, size_t *outlen)
{
	if (n == 0) {
		*outlen = 1;
		return rcp_xstrdup(".");
	}
	char *out = rcp_xmalloc(n + 2);
	bool rooted = s[0] == '/';
	size_t r = 0, w = 0, dotdot = 0;
	if (rooted) {
		out[w++] = '/';
		r = dotdot = 1;
	}
	while (r < n) {
		if (s[r] == '/') {
			r++;
		} else if (s[r] == '.' && (r + 1 == n || s[r + 1] == '/')) {
			r++;
		} else if (s[r] == '.' && s[r + 1] == '.' && (r + 2 == n || s[r + 2] == '/')) {
			r += 2;
			if (w > dotdot) {
				w--;
				while (w > dotdot && out[w] != '/')
					w--;
			} else if (!rooted) {
				if (w > 0)
					out[w++] = '/';
				out[w++] = '.';
				out[w++] = '.';
				dotdot = w;
			}
		} else {
			if ((rooted && w != 1) || (!rooted && w != 0))
				out[w++] = '/';
			for (; r < n && s[r] != '/'; r++)
				out[w++] = s[r];
		}
	}
	if (w == 0)
		out[w++] = '.';
	out[w] = '\0';
	*outlen = w;
	return out;
}

/* ---- patterns ---- */

static bool should_escape(int32_t r)
{
	return r < 0x80 && r > 0 && strchr(".+()|{}$", (int)r) != NULL;
}

/* patternmatcher's compile: the match type and, for IG_REGEX, the program. */
static int pattern_compile(struct ig_pattern *pt)
{
	struct rcp_buf re = {0};
	const char *s = pt->text;
	size_t len = pt->len, pos = 0;
	int32_t r;

	rcp_buf_addc(&re, '^');
	pt->type = IG_EXACT;
	/* text/scanner skips a byte order mark at the start */
	if (len >= 3 && !memcmp(s, "\xEF\xBB\xBF", 3))
		pos = 3;
	for (int i = 0; pos < len; i++) {
		pos += rcp_utf8_decode_go(s + pos, len - pos, &r);
		if (r == '*') {
			if (pos < len && s[pos] == '*') {
				pos++;
				if (pos < len && s[pos] == '/')
					pos++;
				if (pos >= len) {
					if (pt->type == IG_EXACT) {
						pt->type = IG_PREFIX;
					} else {
						rcp_buf_adds(&re, ".*");
						pt->type = IG_REGEX;
					}
				} else {
					rcp_buf_adds(&re, "(.*/)?");
					pt->type = IG_REGEX;
				}
				if (i == 0)
					pt->type = IG_SUFFIX;
			} else {
				rcp_buf_adds(&re, "[^/]*");
				pt->type = IG_REGEX;
			}
		} else if (r == '?') {
			rcp_buf_adds(&re, "[^/]");
			pt->type = IG_REGEX;
		} else if (should_escape(r)) {
			rcp_buf_addc(&re, '\\');
			rcp_buf_addrune(&re, r);
		} else if (r == '\\') {
			if (pos < len) {
				rcp_buf_addc(&re, '\\');
				pos += rcp_utf8_decode_go(s + pos, len - pos, &r);
				rcp_buf_addrune(&re, r);
				pt->type = IG_REGEX;
			} else {
				rcp_buf_addc(&re, '\\');
			}
		} else if (r == '[' || r == ']') {
			rcp_buf_addrune(&re, r);
			pt->type = IG_REGEX;
		} else {
			rcp_buf_addrune(&re, r);
		}
	}
	int ret = 0;
	if (pt->type == IG_REGEX) {
		rcp_buf_addc(&re, '$');
		if (rcp_re_compile(re.s, re.len, &pt->prog) < 0) {
			rcp_re_free(&pt->prog);
			ret = -1;
		}
	}
	rcp_buf_free(&re);
	return ret;
}

static bool pattern_match(const struct ig_pattern *pt, const char *path, size_t len)
{
	switch (pt->type) {
	case IG_EXACT:
		return len == pt->len && memcmp(path, pt->text, len) == 0;
	case IG_PREFIX:
		return has_prefix(path, len, pt->text, pt->len - 2);
	case IG_SUFFIX: {
		const char *suf = pt->text + 2;
		size_t sl = pt->len - 2;
		if (has_suffix(path, len, suf, sl))
			return true;
		return sl > 0 && suf[0] == '/' && len == sl - 1 && !memcmp(path, suf + 1, len);
	}
	case IG_REGEX:
		return rcp_re_search(&pt->prog, path, len);
	}
	return false;
}

/* patternmatcher.New for one pattern string (already through ReadAll). */
static int pattern_add(struct recipe_ignore *ig, const char *s, size_t len, int line,
		       struct recipe_error *err)
{
	size_t lead = rcp_space_prefix(s, len);
	s += lead, len -= lead;
	len = rcp_trim_right_len(s, len);
	if (len == 0)
		return 0;
	size_t plen;
	char *clean = go_clean(s, len, &plen);
	const char *p = clean;
	bool exclusion = false;
	if (p[0] == '!') {
		if (plen == 1) {
			free(clean);
			return rcp_error(err, line, 0, "illegal exclusion pattern: \"!\"");
		}
		exclusion = true;
		p++, plen--;
	}
	if (rcp_glob_match(p, plen, ".", 1) == RECIPE_GLOB_BAD) {
		free(clean);
		return rcp_error(err, line, 0, "syntax error in pattern");
	}
	struct ig_pattern pt = {.text = rcp_xmalloc(plen + 1), .len = plen, .exclusion = exclusion};
	memcpy(pt.text, p, plen);
	pt.text[plen] = '\0';
	free(clean);
	if (pattern_compile(&pt) < 0) {
		free(pt.text);
		return rcp_error(err, line, 0,
				 "syntax error in pattern (as docker's regular expression)");
	}
	ig->p = rcp_xrealloc(ig->p, (ig->n + 1) * sizeof *ig->p);
	ig->p[ig->n++] = pt;
	return 0;
}

/* fsutil's patternWithoutTrailingGlob: the length once "/ **" then "/ *" are cut. */
static size_t without_trailing_glob(const struct ig_pattern *pt)
{
	size_t n = pt->len;
	if (has_suffix(pt->text, n, "/**", 3))
		n -= 3;
	if (has_suffix(pt->text, n, "/*", 2))
		n -= 2;
	return n;
}

int recipe_ignore_parse(const char *buf, size_t len, struct recipe_ignore **out,
			struct recipe_error *err)
{
	struct recipe_ignore *ig = rcp_xmalloc(sizeof *ig);
	*ig = (struct recipe_ignore){.only_prefix_exceptions = true};
	size_t pos = 0;
	int line = 0;
	*out = NULL;
	while (pos < len) {
		const char *nl = memchr(buf + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - buf) : len;
		const char *s = buf + pos;
		size_t n = end - pos;
		pos = nl ? end + 1 : len;
		line++;
		if (n >= IG_MAX_LINE) {
			recipe_ignore_free(ig);
			return rcp_error(err, line, 0, "line too long");
		}
		if (n > 0 && s[n - 1] == '\r')
			n--;
		if (line == 1 && n >= 3 && !memcmp(s, "\xEF\xBB\xBF", 3))
			s += 3, n -= 3;
		if (n > 0 && s[0] == '#')
			continue;
		size_t lead = rcp_space_prefix(s, n);
		s += lead, n -= lead;
		n = rcp_trim_right_len(s, n);
		if (n == 0)
			continue;
		/* ReadAll: clean the pattern (after a '!'), strip a leading '/' */
		bool invert = s[0] == '!';
		if (invert) {
			s++, n--;
			lead = rcp_space_prefix(s, n);
			s += lead, n -= lead;
			n = rcp_trim_right_len(s, n);
		}
		struct rcp_buf pat = {0};
		if (invert)
			rcp_buf_addc(&pat, '!');
		if (n > 0) {
			size_t cl;
			char *c = go_clean(s, n, &cl);
			if (cl > 1 && c[0] == '/')
				rcp_buf_add(&pat, c + 1, cl - 1);
			else
				rcp_buf_add(&pat, c, cl);
			free(c);
		}
		int r = pattern_add(ig, pat.s, pat.len, line, err);
		rcp_buf_free(&pat);
		if (r < 0) {
			recipe_ignore_free(ig);
			return r;
		}
	}
	for (size_t i = 0; i < ig->n; i++) {
		if (!ig->p[i].exclusion)
			continue;
		ig->exclusions = true;
		size_t n = without_trailing_glob(&ig->p[i]);
		for (size_t k = 0; k < n; k++)
			if (strchr("*[]?^\\", ig->p[i].text[k]) && ig->p[i].text[k])
				ig->only_prefix_exceptions = false;
	}
	*out = ig;
	return 0;
}

bool recipe_ignore_match(const struct recipe_ignore *ig, const char *path)
{
	size_t len = strlen(path);
	if (!ig || len == 0 || (len == 1 && path[0] == '.'))
		return false;
	/* the parent directories: each prefix ending before a '/' of the dirname */
	const char *slash = memrchr(path, '/', len);
	size_t parent_len = slash ? (size_t)(slash - path) : 0;
	bool matched = false;
	for (size_t i = 0; i < ig->n; i++) {
		const struct ig_pattern *pt = &ig->p[i];
		if (pt->exclusion != matched)
			continue;
		bool m = pattern_match(pt, path, len);
		for (size_t k = 0; !m && slash && k <= parent_len; k++)
			if (k == parent_len || path[k] == '/')
				m = pattern_match(pt, path, k);
		if (m)
			matched = !pt->exclusion;
	}
	return matched;
}

bool recipe_ignore_may_include_below(const struct recipe_ignore *ig, const char *dir)
{
	if (!ig || !ig->exclusions)
		return false;
	if (!ig->only_prefix_exceptions)
		return true;
	size_t dl = strlen(dir);
	for (size_t i = 0; i < ig->n; i++) {
		const struct ig_pattern *pt = &ig->p[i];
		if (!pt->exclusion)
			continue;
		/* (pattern + "/") starts with (dir + "/") */
		size_t n = without_trailing_glob(pt);
		if (n >= dl && !memcmp(pt->text, dir, dl) && (n == dl || pt->text[dl] == '/'))
			return true;
	}
	return false;
}

void recipe_ignore_free(struct recipe_ignore *ig)
{
	if (!ig)
		return;
	for (size_t i = 0; i < ig->n; i++) {
		free(ig->p[i].text);
		rcp_re_free(&ig->p[i].prog);
	}
	free(ig->p);
	free(ig);
}
