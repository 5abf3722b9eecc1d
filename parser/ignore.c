/* .dockerignore matching, with the rules docker applies (moby's patternmatcher and
 * ignorefile.ReadAll, fsutil's directory pruning).
 *
 * Docker does not match patterns with glob rules: it rewrites each pattern into a Go
 * regular expression (a star becomes "[^/]" repeated, a double star an optional
 * "any text then a slash" group; "[", "]", "^" and backslash escapes pass through)
 * and lets RE2 interpret the result. Odd patterns therefore mean odd things ("[!a]"
 * is a class of '!' and 'a', a backslash-d is a digit), and to give the same answers
 * this file does the same rewrite and runs the result on the RE2 subset it can
 * produce: literals, ".", classes (ranges, negation, perl and [:name:] classes),
 * anchors and word boundaries, quoted text, "*" "+" "?" and groups. Unicode classes
 * are not supported and make the pattern an error, as a malformed one is in docker
 * (where it fails the build when first used). Matching is a Pike VM: linear in the
 * length of the path, whatever the pattern. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* bufio.Scanner's default limit: a longer line is an error in docker. */
#define IG_MAX_LINE 65536

struct ig_range {
	int32_t lo, hi;
};

struct ig_class {
	struct ig_range *r;
	size_t n, cap;
	bool neg;
};

enum ig_op {
	OP_CHAR,
	OP_ANY_NOT_NL,
	OP_CLASS,
	OP_SPLIT, /* x and y: relative targets */
	OP_JMP,	  /* x: relative target */
	OP_BEGIN,
	OP_END,
	OP_WORDB,
	OP_NWORDB,
	OP_MATCH,
};

struct ig_inst {
	enum ig_op op;
	int32_t c;
	long x, y;
	struct ig_class cls;
};

struct ig_prog {
	struct ig_inst *in;
	size_t n, cap;
};

enum ig_type { IG_EXACT, IG_PREFIX, IG_SUFFIX, IG_REGEX };

struct ig_pattern {
	char *text; /* cleaned, without the '!' */
	size_t len;
	bool exclusion;
	enum ig_type type;
	struct ig_prog prog;
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

struct ig_str {
	const char *s;
	size_t len;
};

static bool has_prefix(const char *s, size_t len, const char *p, size_t plen)
{
	return len >= plen && memcmp(s, p, plen) == 0;
}

static bool has_suffix(const char *s, size_t len, const char *p, size_t plen)
{
	return len >= plen && memcmp(s + len - plen, p, plen) == 0;
}

/* Go's DecodeRuneInString: an invalid byte is U+FFFD, one byte long. */
static size_t decode(const char *s, size_t len, int32_t *r)
{
	size_t n = rcp_utf8_decode(s, len, r);
	if (*r >= RCP_RAW_BASE)
		*r = 0xFFFD;
	return n;
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

/* ---- Go's filepath.Match, used as docker does: to reject malformed patterns ---- */

#define GO_BAD_PATTERN (-1)

static void scan_chunk(struct ig_str *pat, bool *star, struct ig_str *chunk)
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

static int get_esc(struct ig_str *chunk, int32_t *r)
{
	if (chunk->len == 0 || chunk->s[0] == '-' || chunk->s[0] == ']')
		return GO_BAD_PATTERN;
	if (chunk->s[0] == '\\') {
		chunk->s++, chunk->len--;
		if (chunk->len == 0)
			return GO_BAD_PATTERN;
	}
	size_t n = rcp_utf8_decode(chunk->s, chunk->len, r);
	bool bad = *r >= RCP_RAW_BASE;
	chunk->s += n, chunk->len -= n;
	if (bad || chunk->len == 0)
		return GO_BAD_PATTERN;
	return 0;
}

/* Returns 1 and the rest of s on a match, 0 when none, GO_BAD_PATTERN. */
static int match_chunk(struct ig_str chunk, struct ig_str s, struct ig_str *rest)
{
	bool failed = false;
	while (chunk.len > 0) {
		if (!failed && s.len == 0)
			failed = true;
		char c = chunk.s[0];
		if (c == '[') {
			int32_t r = 0;
			if (!failed) {
				size_t n = decode(s.s, s.len, &r);
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
					return GO_BAD_PATTERN;
				hi = lo;
				if (chunk.s[0] == '-') {
					chunk.s++, chunk.len--;
					if (get_esc(&chunk, &hi) < 0)
						return GO_BAD_PATTERN;
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
				size_t n = decode(s.s, s.len, &r);
				s.s += n, s.len -= n;
			}
			chunk.s++, chunk.len--;
			continue;
		}
		if (c == '\\') {
			chunk.s++, chunk.len--;
			if (chunk.len == 0)
				return GO_BAD_PATTERN;
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

static int go_match(struct ig_str pat, struct ig_str name)
{
	while (pat.len > 0) {
		bool star;
		struct ig_str chunk, t;
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
				struct ig_str sub = {name.s + i + 1, name.len - i - 1};
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
			struct ig_str empty = {"", 0};
			scan_chunk(&pat, &star, &chunk);
			if (match_chunk(chunk, empty, &t) < 0)
				return GO_BAD_PATTERN;
		}
		return 0;
	}
	return name.len == 0;
}

/* ---- RE2 subset: parser to a program ---- */

static void class_add(struct ig_class *c, int32_t lo, int32_t hi)
{
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 8;
		c->r = rcp_xrealloc(c->r, c->cap * sizeof *c->r);
	}
	c->r[c->n++] = (struct ig_range){lo, hi};
}

static int range_cmp(const void *a, const void *b)
{
	const struct ig_range *x = a, *y = b;
	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* Adds the ranges of src to c, complemented over all runes when neg. */
static void class_add_set(struct ig_class *c, const struct ig_range *src, size_t n, bool neg)
{
	if (!neg) {
		for (size_t i = 0; i < n; i++)
			class_add(c, src[i].lo, src[i].hi);
		return;
	}
	struct ig_range *s = rcp_xmalloc((n ? n : 1) * sizeof *s);
	memcpy(s, src, n * sizeof *s);
	qsort(s, n, sizeof *s, range_cmp);
	int32_t next = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i].lo > next)
			class_add(c, next, s[i].lo - 1);
		if (s[i].hi + 1 > next)
			next = s[i].hi + 1;
	}
	if (next <= 0x10FFFF)
		class_add(c, next, 0x10FFFF);
	free(s);
}

static bool class_has(const struct ig_class *c, int32_t r)
{
	bool in = false;
	for (size_t i = 0; i < c->n && !in; i++)
		in = c->r[i].lo <= r && r <= c->r[i].hi;
	return in != c->neg;
}

static const struct ig_range perl_d[] = {{'0', '9'}};
static const struct ig_range perl_s[] = {{'\t', '\n'}, {'\f', '\r'}, {' ', ' '}};
static const struct ig_range perl_w[] = {{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}};

static const struct {
	const char *name;
	struct ig_range r[6];
	size_t n;
} posix_classes[] = {
    {"alnum", {{'0', '9'}, {'A', 'Z'}, {'a', 'z'}}, 3},
    {"alpha", {{'A', 'Z'}, {'a', 'z'}}, 2},
    {"ascii", {{0, 0x7F}}, 1},
    {"blank", {{'\t', '\t'}, {' ', ' '}}, 2},
    {"cntrl", {{0, 0x1F}, {0x7F, 0x7F}}, 2},
    {"digit", {{'0', '9'}}, 1},
    {"graph", {{'!', '~'}}, 1},
    {"lower", {{'a', 'z'}}, 1},
    {"print", {{' ', '~'}}, 1},
    {"punct", {{'!', '/'}, {':', '@'}, {'[', '`'}, {'{', '~'}}, 4},
    {"space", {{'\t', '\r'}, {' ', ' '}}, 2},
    {"upper", {{'A', 'Z'}}, 1},
    {"word", {{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}}, 4},
    {"xdigit", {{'0', '9'}, {'A', 'F'}, {'a', 'f'}}, 3},
};

struct re_parser {
	const char *s;
	size_t len, pos;
	struct ig_prog *prog;
	int depth;
};

static size_t emit(struct ig_prog *p, enum ig_op op)
{
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 32;
		p->in = rcp_xrealloc(p->in, p->cap * sizeof *p->in);
	}
	memset(&p->in[p->n], 0, sizeof p->in[p->n]);
	p->in[p->n].op = op;
	return p->n++;
}

/* Inserts an instruction at position at, moving the code after it one place on.
 * Jumps are relative and never cross `at` from inside the moved code. */
static void insert_at(struct ig_prog *p, size_t at, enum ig_op op)
{
	emit(p, op);
	struct ig_inst in = p->in[p->n - 1];
	memmove(&p->in[at + 1], &p->in[at], (p->n - 1 - at) * sizeof *p->in);
	p->in[at] = in;
}

/* A perl class escape (\d \D \s \S \w \W) at s; adds it to c and returns true. */
static bool perl_class(const char *s, size_t len, struct ig_class *c)
{
	if (len < 2 || s[0] != '\\')
		return false;
	const struct ig_range *r;
	size_t n;
	switch (s[1] | 0x20) {
	case 'd':
		r = perl_d, n = 1;
		break;
	case 's':
		r = perl_s, n = 3;
		break;
	case 'w':
		r = perl_w, n = 4;
		break;
	default:
		return false;
	}
	class_add_set(c, r, n, s[1] >= 'A' && s[1] <= 'Z');
	return true;
}

static bool is_octal(char c)
{
	return c >= '0' && c <= '7';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
		return (c | 0x20) - 'a' + 10;
	return -1;
}

/* RE2's parseEscape: the rune of the escape at p->s[p->pos] ('\\'). */
static int parse_escape(struct re_parser *p, int32_t *r)
{
	const char *s = p->s;
	size_t i = p->pos + 1;
	if (i >= p->len)
		return -1; /* trailing backslash */
	int32_t c;
	size_t n = decode(s + i, p->len - i, &c);
	i += n;
	switch (c) {
	case '1':
	case '2':
	case '3':
	case '4':
	case '5':
	case '6':
	case '7':
		/* a lone digit is a backreference: unsupported by RE2 */
		if (i >= p->len || !is_octal(s[i]))
			return -1;
		/* fallthrough */
	case '0': {
		int32_t v = c - '0';
		for (int k = 1; k < 3 && i < p->len && is_octal(s[i]); k++)
			v = v * 8 + (s[i++] - '0');
		*r = v;
		break;
	}
	case 'x': {
		if (i >= p->len)
			return -1;
		if (s[i] == '{') {
			int32_t v = 0;
			int nd = 0;
			for (i++; i < p->len && s[i] != '}'; i++, nd++) {
				int h = hexval(s[i]);
				if (h < 0 || v > 0x10FFFF)
					return -1;
				v = v * 16 + h;
			}
			if (i >= p->len || nd == 0 || v > 0x10FFFF)
				return -1;
			i++;
			*r = v;
			break;
		}
		if (i + 1 >= p->len || hexval(s[i]) < 0 || hexval(s[i + 1]) < 0)
			return -1;
		*r = hexval(s[i]) * 16 + hexval(s[i + 1]);
		i += 2;
		break;
	}
	case 'a':
		*r = 7;
		break;
	case 'f':
		*r = '\f';
		break;
	case 'n':
		*r = '\n';
		break;
	case 'r':
		*r = '\r';
		break;
	case 't':
		*r = '\t';
		break;
	case 'v':
		*r = '\v';
		break;
	default:
		if (c < 0x80 &&
		    !((c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z'))) {
			*r = c;
			break;
		}
		return -1;
	}
	p->pos = i;
	return 0;
}

static int parse_class_char(struct re_parser *p, int32_t *r)
{
	if (p->pos >= p->len)
		return -1;
	if (p->s[p->pos] == '\\')
		return parse_escape(p, r);
	p->pos += decode(p->s + p->pos, p->len - p->pos, r);
	return 0;
}

/* A class at p->s[p->pos] ('['); emits OP_CLASS. */
static int parse_class(struct re_parser *p)
{
	struct ig_class c = {0};
	p->pos++;
	if (p->pos < p->len && p->s[p->pos] == '^') {
		c.neg = true;
		p->pos++;
	}
	bool first = true;
	for (;;) {
		if (p->pos >= p->len)
			goto bad;
		const char *t = p->s + p->pos;
		size_t tl = p->len - p->pos;
		if (t[0] == ']' && !first)
			break;
		first = false;
		if (tl > 2 && t[0] == '[' && t[1] == ':') {
			const char *end = memmem(t + 2, tl - 2, ":]", 2);
			if (end) {
				const char *name = t + 2;
				size_t nl = (size_t)(end - name);
				bool neg = nl > 0 && name[0] == '^';
				if (neg)
					name++, nl--;
				size_t k;
				for (k = 0; k < sizeof posix_classes / sizeof posix_classes[0]; k++)
					if (strlen(posix_classes[k].name) == nl &&
					    !memcmp(posix_classes[k].name, name, nl))
						break;
				if (k == sizeof posix_classes / sizeof posix_classes[0])
					goto bad;
				class_add_set(&c, posix_classes[k].r, posix_classes[k].n, neg);
				p->pos = (size_t)(end + 2 - p->s);
				continue;
			}
		}
		if (tl >= 2 && t[0] == '\\' && (t[1] == 'p' || t[1] == 'P'))
			goto bad; /* Unicode classes: unsupported */
		if (perl_class(t, tl, &c)) {
			p->pos += 2;
			continue;
		}
		int32_t lo, hi;
		if (parse_class_char(p, &lo) < 0)
			goto bad;
		hi = lo;
		if (p->pos + 1 < p->len && p->s[p->pos] == '-' && p->s[p->pos + 1] != ']') {
			p->pos++;
			if (parse_class_char(p, &hi) < 0 || hi < lo)
				goto bad;
		}
		class_add(&c, lo, hi);
	}
	p->pos++;
	size_t i = emit(p->prog, OP_CLASS);
	p->prog->in[i].cls = c;
	return 0;
bad:
	free(c.r);
	return -1;
}

static int parse_seq(struct re_parser *p);

/* One atom; sets *empty_width for assertions. Returns 1 when the next character
 * ends the sequence (')' or end of text), 0 after an atom, -1 on error. */
static int parse_atom(struct re_parser *p)
{
	struct ig_prog *prog = p->prog;
	char c = p->s[p->pos];
	switch (c) {
	case '(': {
		if (p->pos + 1 < p->len && p->s[p->pos + 1] == '?')
			return -1; /* flags and named groups: unsupported */
		if (++p->depth > 1000)
			return -1;
		p->pos++;
		if (parse_seq(p) < 0)
			return -1;
		if (p->pos >= p->len || p->s[p->pos] != ')')
			return -1;
		p->pos++;
		p->depth--;
		return 0;
	}
	case '|':
		return -1; /* never produced by docker's rewrite */
	case '^':
		p->pos++;
		emit(prog, OP_BEGIN);
		return 0;
	case '$':
		p->pos++;
		emit(prog, OP_END);
		return 0;
	case '.':
		p->pos++;
		emit(prog, OP_ANY_NOT_NL);
		return 0;
	case '[':
		return parse_class(p);
	case '*':
	case '+':
	case '?':
		return -1; /* missing argument to repetition operator */
	case '\\': {
		if (p->pos + 1 >= p->len)
			return -1;
		char e = p->s[p->pos + 1];
		if (e == 'A' || e == 'z' || e == 'b' || e == 'B') {
			emit(prog, e == 'A'   ? OP_BEGIN
				   : e == 'z' ? OP_END
				   : e == 'b' ? OP_WORDB
					      : OP_NWORDB);
			p->pos += 2;
			return 0;
		}
		if (e == 'Q') {
			/* literal text up to \E or the end */
			p->pos += 2;
			const char *end = memmem(p->s + p->pos, p->len - p->pos, "\\E", 2);
			size_t stop = end ? (size_t)(end - p->s) : p->len;
			while (p->pos < stop) {
				int32_t r;
				p->pos += decode(p->s + p->pos, stop - p->pos, &r);
				emit(prog, OP_CHAR);
				prog->in[prog->n - 1].c = r;
			}
			if (end)
				p->pos += 2;
			/* a quantifier applies to the last character only: fine here as
			 * the rewrite never puts one after \E */
			return 0;
		}
		if (e == 'p' || e == 'P' || e == 'C')
			return -1;
		struct ig_class cls = {0};
		if (perl_class(p->s + p->pos, p->len - p->pos, &cls)) {
			p->pos += 2;
			emit(prog, OP_CLASS);
			prog->in[prog->n - 1].cls = cls;
			return 0;
		}
		int32_t r;
		if (parse_escape(p, &r) < 0)
			return -1;
		emit(prog, OP_CHAR);
		prog->in[prog->n - 1].c = r;
		return 0;
	}
	default: {
		int32_t r;
		p->pos += decode(p->s + p->pos, p->len - p->pos, &r);
		emit(prog, OP_CHAR);
		prog->in[prog->n - 1].c = r;
		return 0;
	}
	}
}

/* A sequence of atoms with their quantifiers, up to ')' or the end. */
static int parse_seq(struct re_parser *p)
{
	struct ig_prog *prog = p->prog;
	while (p->pos < p->len && p->s[p->pos] != ')') {
		size_t start = prog->n;
		if (parse_atom(p) < 0)
			return -1;
		bool quantified = false;
		while (p->pos < p->len &&
		       (p->s[p->pos] == '*' || p->s[p->pos] == '+' || p->s[p->pos] == '?')) {
			char q = p->s[p->pos++];
			if (p->pos < p->len && p->s[p->pos] == '?')
				p->pos++; /* non-greedy: the same set of matches */
			if (quantified)
				return -1; /* invalid nested repetition operator */
			quantified = true;
			long len = (long)(prog->n - start);
			if (q == '*') {
				insert_at(prog, start, OP_SPLIT);
				prog->in[start].x = 1;
				prog->in[start].y = len + 2;
				size_t j = emit(prog, OP_JMP);
				prog->in[j].x = -(len + 1);
			} else if (q == '?') {
				insert_at(prog, start, OP_SPLIT);
				prog->in[start].x = 1;
				prog->in[start].y = len + 1;
			} else {
				size_t j = emit(prog, OP_SPLIT);
				prog->in[j].x = -len;
				prog->in[j].y = 1;
			}
		}
	}
	return 0;
}

static int compile_regex(const char *re, size_t len, struct ig_prog *prog)
{
	struct re_parser p = {.s = re, .len = len, .prog = prog};
	if (parse_seq(&p) < 0 || p.pos != len)
		return -1;
	emit(prog, OP_MATCH);
	return 0;
}

static void prog_free(struct ig_prog *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->in[i].cls.r);
	free(p->in);
	p->in = NULL;
	p->n = p->cap = 0;
}

/* ---- Pike VM ---- */

static bool is_word(int32_t r)
{
	return (r >= '0' && r <= '9') || (r >= 'A' && r <= 'Z') || (r >= 'a' && r <= 'z') ||
	       r == '_';
}

struct vm {
	const struct ig_prog *prog;
	size_t *mark; /* generation in which each pc was added */
	size_t gen;
	size_t *stack;
};

/* Adds the threads reachable from pc at this position to list (only those that
 * consume a rune, or MATCH). Returns true when MATCH is reachable. */
static bool add_thread(struct vm *vm, size_t pc, size_t *list, size_t *n, bool at_begin,
		       bool at_end, int32_t prev, int32_t next)
{
	size_t sp = 0;
	bool matched = false;
	vm->stack[sp++] = pc;
	while (sp > 0) {
		pc = vm->stack[--sp];
		if (vm->mark[pc] == vm->gen)
			continue;
		vm->mark[pc] = vm->gen;
		const struct ig_inst *in = &vm->prog->in[pc];
		switch (in->op) {
		case OP_JMP:
			vm->stack[sp++] = pc + in->x;
			break;
		case OP_SPLIT:
			vm->stack[sp++] = pc + in->y;
			vm->stack[sp++] = pc + in->x;
			break;
		case OP_BEGIN:
			if (at_begin)
				vm->stack[sp++] = pc + 1;
			break;
		case OP_END:
			if (at_end)
				vm->stack[sp++] = pc + 1;
			break;
		case OP_WORDB:
		case OP_NWORDB:
			if ((is_word(prev) != is_word(next)) == (in->op == OP_WORDB))
				vm->stack[sp++] = pc + 1;
			break;
		case OP_MATCH:
			matched = true;
			break;
		default:
			list[(*n)++] = pc;
		}
	}
	return matched;
}

/* RE2's MatchString: an unanchored search (docker's regexps anchor themselves). */
static bool prog_search(const struct ig_prog *prog, const char *s, size_t len)
{
	size_t m = prog->n;
	struct vm vm = {.prog = prog};
	vm.mark = rcp_xmalloc(m * sizeof *vm.mark);
	vm.stack = rcp_xmalloc(2 * m * sizeof *vm.stack + 1);
	size_t *cur = rcp_xmalloc(m * sizeof *cur), *nxt = rcp_xmalloc(m * sizeof *nxt);
	size_t ncur = 0, nnxt;
	bool matched = false;
	int32_t prev = -1;

	for (size_t i = 0; i < m; i++)
		vm.mark[i] = 0;
	vm.gen = 1;
	size_t pos = 0;
	for (;;) {
		int32_t r = -1;
		size_t w = pos < len ? decode(s + pos, len - pos, &r) : 0;
		/* a new thread starts at every position */
		if (add_thread(&vm, 0, cur, &ncur, pos == 0, pos == len, prev, r)) {
			matched = true;
			break;
		}
		if (pos >= len)
			break;
		vm.gen++;
		nnxt = 0;
		size_t npos = pos + w;
		int32_t r2 = -1;
		if (npos < len)
			decode(s + npos, len - npos, &r2);
		for (size_t k = 0; k < ncur && !matched; k++) {
			const struct ig_inst *in = &prog->in[cur[k]];
			bool ok = (in->op == OP_CHAR && in->c == r) ||
				  (in->op == OP_ANY_NOT_NL && r != '\n') ||
				  (in->op == OP_CLASS && class_has(&in->cls, r));
			if (ok &&
			    add_thread(&vm, cur[k] + 1, nxt, &nnxt, false, npos == len, r, r2))
				matched = true;
		}
		if (matched)
			break;
		size_t *t = cur;
		cur = nxt;
		nxt = t;
		ncur = nnxt;
		prev = r;
		pos = npos;
	}
	free(vm.mark);
	free(vm.stack);
	free(cur);
	free(nxt);
	return matched;
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
		pos += decode(s + pos, len - pos, &r);
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
				pos += decode(s + pos, len - pos, &r);
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
		if (compile_regex(re.s, re.len, &pt->prog) < 0) {
			prog_free(&pt->prog);
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
		return prog_search(&pt->prog, path, len);
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
	struct ig_str pat = {p, plen}, dot = {".", 1};
	if (go_match(pat, dot) < 0) {
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
		prog_free(&ig->p[i].prog);
	}
	free(ig->p);
	free(ig);
}
