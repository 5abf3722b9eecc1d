/* Shell-style word processing, with the semantics of buildkit's shell lexer
 * (frontend/dockerfile/shell/lex.go): quotes, escapes and ${} expansion, but no
 * command substitution, globbing or arithmetic. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct shl {
	const char *s;
	size_t len, pos;
	int32_t escape;
	bool raw_quotes, raw_escapes, skip_unset;
	recipe_lookup_fn lookup;
	void *ctx;
	const volatile sig_atomic_t *interrupt;
	unsigned depth; /* ${ } open around the current place */
	char *err;	/* set on failure */
	int code;	/* with err: -EINVAL, -E2BIG or -EINTR */
};

/* The words of a result, split at unquoted white space as buildkit's wordsStruct. */
struct shl_words {
	struct rcp_buf buf;
	struct rcp_vec v;
	bool in_word;
};

static int shl_process_stop_on(struct shl *l, int32_t stop, bool raw_escapes, char **result,
			       struct rcp_vec *words);

static int32_t shl_peek(struct shl *l)
{
	int32_t r;
	if (l->pos >= l->len)
		return RCP_EOF;
	rcp_utf8_decode(l->s + l->pos, l->len - l->pos, &r);
	return r;
}

static int32_t shl_next(struct shl *l)
{
	int32_t r;
	if (l->pos >= l->len)
		return RCP_EOF;
	l->pos += rcp_utf8_decode(l->s + l->pos, l->len - l->pos, &r);
	return r;
}

static int shl_vfail(struct shl *l, int code, const char *fmt, va_list ap)
{
	char *msg = rcp_xvasprintf(fmt, ap);
	free(l->err);
	l->err = msg;
	l->code = code;
	return -1;
}

__attribute__((format(printf, 2, 3))) static int shl_fail(struct shl *l, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	shl_vfail(l, -EINVAL, fmt, ap);
	va_end(ap);
	return -1;
}

/* A failure that is not about the syntax: an outer level must not take it for a
 * missing '}'. */
__attribute__((format(printf, 3, 4))) static int shl_fail_code(struct shl *l, int code,
							       const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	shl_vfail(l, code, fmt, ap);
	va_end(ap);
	return -1;
}

static bool shl_syntax_failed(const struct shl *l)
{
	return l->code == -EINVAL;
}

static int shl_interrupted(struct shl *l)
{
	return shl_fail_code(l, -EINTR, "interrupted");
}

/* A result about to be len bytes long: fails past the limit of one word, before the
 * text is built. */
static int shl_check_size(struct shl *l, size_t len)
{
	if (len <= RECIPE_MAX_WORD)
		return 0;
	return shl_fail_code(l, -E2BIG, "variable expansion makes a word larger than %zu MiB",
			     RECIPE_MAX_WORD >> 20);
}

/* Appends s to b, within the limit of one word. */
static int shl_add(struct shl *l, struct rcp_buf *b, const char *s)
{
	size_t n = strlen(s);
	if (shl_check_size(l, b->len + n) < 0)
		return -1;
	rcp_buf_add(b, s, n);
	return 0;
}

static void shl_words_add_raw_char(struct shl_words *w, int32_t r)
{
	rcp_buf_addrune(&w->buf, r);
	w->in_word = true;
}

static void shl_words_add_char(struct shl_words *w, int32_t r)
{
	if (rcp_is_space(r)) {
		if (w->in_word && w->buf.len) {
			rcp_vec_pushn(&w->v, w->buf.s, w->buf.len);
			rcp_buf_reset(&w->buf);
			w->in_word = false;
		}
		return;
	}
	shl_words_add_raw_char(w, r);
}

static void shl_words_add_string(struct shl_words *w, const char *s)
{
	size_t len = strlen(s), i = 0;
	while (i < len) {
		int32_t r;
		i += rcp_utf8_decode(s + i, len - i, &r);
		shl_words_add_char(w, r);
	}
}

static void shl_words_add_raw_string(struct shl_words *w, const char *s)
{
	rcp_buf_adds(&w->buf, s);
	w->in_word = true;
}

static bool shl_is_digit(int32_t r)
{
	return r >= '0' && r <= '9';
}

/* unicode.IsLetter, exact for ASCII and Latin-1; other runes count as letters. */
static bool shl_is_letter(int32_t r)
{
	if (r < 0x80)
		return (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z');
	if (r >= RCP_RAW_BASE || rcp_is_space(r))
		return false;
	if (r < 0xC0)
		return r == 0xAA || r == 0xB5 || r == 0xBA;
	return r != 0xD7 && r != 0xF7;
}

static bool shl_is_special_param(int32_t r)
{
	return r > 0 && r < 0x80 && strchr("@*#?-$!0", (int)r) != NULL;
}

static const char *shl_getenv(struct shl *l, const char *name, bool *set)
{
	const char *v = l->lookup ? l->lookup(l->ctx, name) : NULL;
	*set = v != NULL;
	return v ? v : "";
}

static char *shl_process_name(struct shl *l)
{
	struct rcp_buf name = {0};
	int32_t r;

	while ((r = shl_peek(l)) != RCP_EOF) {
		if (name.len == 0 && shl_is_digit(r)) {
			while (shl_is_digit(shl_peek(l)))
				rcp_buf_addrune(&name, shl_next(l));
			break;
		}
		if (name.len == 0 && shl_is_special_param(r)) {
			rcp_buf_addrune(&name, shl_next(l));
			break;
		}
		if (!shl_is_letter(r) && !shl_is_digit(r) && r != '_')
			break;
		rcp_buf_addrune(&name, shl_next(l));
	}
	return rcp_buf_steal(&name);
}

static int shl_single_quote(struct shl *l, char **out)
{
	struct rcp_buf b = {0};
	int32_t r = shl_next(l);

	if (l->raw_quotes)
		rcp_buf_addrune(&b, r);
	for (;;) {
		r = shl_next(l);
		if (r == RCP_EOF) {
			rcp_buf_free(&b);
			return shl_fail(
			    l,
			    "unexpected end of statement while looking for matching single-quote");
		}
		if (r == '\'') {
			if (l->raw_quotes)
				rcp_buf_addrune(&b, r);
			*out = rcp_buf_steal(&b);
			return 0;
		}
		rcp_buf_addrune(&b, r);
		if (shl_check_size(l, b.len) < 0) {
			rcp_buf_free(&b);
			return -1;
		}
	}
}

static int shl_dollar(struct shl *l, char **out);

static int shl_double_quote(struct shl *l, char **out)
{
	struct rcp_buf b = {0};
	int32_t r = shl_next(l);

	if (l->raw_quotes)
		rcp_buf_addrune(&b, r);
	for (;;) {
		r = shl_peek(l);
		if (r == RCP_EOF) {
			rcp_buf_free(&b);
			return shl_fail(
			    l,
			    "unexpected end of statement while looking for matching double-quote");
		}
		if (r == '"') {
			shl_next(l);
			if (l->raw_quotes)
				rcp_buf_addrune(&b, r);
			*out = rcp_buf_steal(&b);
			return 0;
		}
		if (r == '$') {
			char *v;
			int rc = shl_dollar(l, &v);
			if (rc == 0) {
				rc = shl_add(l, &b, v);
				free(v);
			}
			if (rc < 0) {
				rcp_buf_free(&b);
				return -1;
			}
			continue;
		}
		r = shl_next(l);
		if (r == l->escape) {
			int32_t n = shl_peek(l);
			if (l->raw_escapes)
				rcp_buf_addrune(&b, r);
			if (n == RCP_EOF)
				continue; /* an escape at the very end is dropped */
			/* Only these can be escaped inside double quotes; otherwise the
			 * escape character stays. */
			if (n == '"' || n == '$' || n == l->escape)
				r = shl_next(l);
		}
		rcp_buf_addrune(&b, r);
		if (shl_check_size(l, b.len) < 0) {
			rcp_buf_free(&b);
			return -1;
		}
	}
}

/* --- ${VAR#pattern}, ${VAR%pattern}, ${VAR/pattern/replacement} ------------------ */

/* A compiled pattern is an array of runes: a literal rune (>= 0), SHL_ANY or SHL_STAR. */
#define SHL_ANY (-2)
#define SHL_STAR (-3)

/* The shell pattern as buildkit turns it into a regular expression: '*' and '?' are
 * wildcards that do not match a newline (as '.' in Go's regexp), '\' quotes '*',
 * '?' and '\', and is dropped before '}' and '/'; there are no bracket expressions. */
static int shl_compile_pattern(const char *pat, int32_t **out, size_t *nout, char **emsg)
{
	size_t len = strlen(pat), i = 0, n = 0;
	int32_t *p = rcp_xmalloc((len + 1) * sizeof(*p));

	while (i < len) {
		int32_t r, nx = RCP_EOF;
		i += rcp_utf8_decode(pat + i, len - i, &r);
		if (i < len)
			rcp_utf8_decode(pat + i, len - i, &nx);
		if (r == '*') {
			p[n++] = SHL_STAR;
			continue;
		}
		if (r == '?') {
			p[n++] = SHL_ANY;
			continue;
		}
		if (r == '\\') {
			if (nx == '}' || nx == '/')
				continue;
			if (nx != '*' && nx != '?' && nx != '\\') {
				free(p);
				if (nx == RCP_EOF)
					*emsg =
					    rcp_xstrdup("invalid escape at the end of the pattern");
				else
					*emsg = rcp_xasprintf(
					    "invalid escape '\\%.*s'",
					    (int)rcp_utf8_decode(pat + i, len - i, &r), pat + i);
				return -1;
			}
			i += rcp_utf8_decode(pat + i, len - i, &r);
		}
		p[n++] = r;
	}
	*out = p;
	*nout = n;
	return 0;
}

/* Matching. buildkit hands the pattern to Go's regexp, whose leftmost-first rule
 * reports, from the leftmost start that matches, the match a backtracking matcher
 * finds first: every star as long as it can be (greedy: ##, %%, /) or as short (#, %).
 * Backtracking takes exponential time on *a*a*a...b (cubic when memoised) and
 * recurses as deep as the pattern is long; this matcher loops, in memory linear in
 * the value and the pattern.
 *
 * It rests on the pattern's shape: segments of literal runes and '?' (fixed width)
 * between stars, where neither '*' nor '?' matches a newline, so a star never leaves
 * the line it starts on. Hence:
 * - the pattern matches iff each segment, placed at its earliest place after the one
 *   before, fits: a later place leaves what follows less room on the same line (a
 *   segment holding a newline has one place: its first newline on the end of the
 *   line its star starts on);
 * - with short stars, the first match is that earliest placement; with long ones
 *   only the last segment moves, to its last place on its line (a star at the end
 *   reaches the end of that line);
 * - searching (${VAR/p/r}), the first start whose rest matches is the leftmost
 *   match; when the rest does not match from a point, it does not from anywhere
 *   further on that line (a star could have covered the difference), so the search
 *   goes on from the next line.
 * So each segment is searched for once per line of the value (twice for the last),
 * with KMP (literal runes only: time linear in the line), by counting (only '?':
 * linear) or with Shift-And (both: the line's length times the segment's / 64).
 * tests/unit/test-shell.c compares all this with a backtracking matcher. */

/* A segment of the pattern: runes p[start..start+len) of the matcher, none a star.
 * (32 bits: a pattern is a word, shorter than RECIPE_MAX_WORD.) */
_Static_assert(RECIPE_MAX_WORD < UINT32_MAX, "segment offsets are 32-bit");
struct shl_seg {
	uint32_t start, len;
	uint32_t table;	   /* 0, or 1 + its index in the matcher's tables */
	bool any, lit, nl; /* it holds a '?'; a literal rune; a literal newline */
};

/* The search tables of a segment longer than SHL_SHORT, built on its first search. */
#define SHL_SHORT 64
struct shl_lit {
	int32_t r;
	uint32_t pos;
};
struct shl_group {
	int32_t r;
	uint64_t *mask;		  /* the positions r or a '?' matches, for a frequent r */
	const struct shl_lit *at; /* else the positions of r: at[0..n) */
	size_t n;
};
struct shl_table {
	uint32_t *border; /* KMP: the longest proper border of each prefix */
	/* Shift-And: bit i of state is set when the segment's first i+1 runes match
	 * the text that ends at the last rune read. */
	size_t words;
	uint64_t *state, *any_mask;
	struct shl_lit *lits; /* the literal runes, by rune and position */
	struct shl_group *groups;
	size_t n_groups;
	uint32_t *hits; /* scratch for a rare rune's positions that stay set */
};

struct shl_matcher {
	const int32_t *p; /* the pattern */
	const int32_t *s; /* the value */
	size_t ns;
	bool greedy;
	struct shl_seg *seg; /* a star between each two */
	size_t n_seg;
	struct shl_table *tables;
	size_t n_tables;
	const volatile sig_atomic_t *interrupt;
	size_t work, check_at; /* units of work done; when to read *interrupt next */
	bool interrupted;
};

/* Counts work; true once the interrupt flag has been seen set. */
static bool shl_busy(struct shl_matcher *m, size_t units)
{
	m->work += units;
	if (m->work >= m->check_at) {
		m->check_at = m->work + 65536;
		if (m->interrupt && *m->interrupt)
			m->interrupted = true;
	}
	return m->interrupted;
}

static void shl_border(const int32_t *p, size_t len, uint32_t *border)
{
	uint32_t k = 0;
	border[0] = 0;
	for (size_t i = 1; i < len; i++) {
		while (k > 0 && p[i] != p[k])
			k = border[k - 1];
		if (p[i] == p[k])
			k++;
		border[i] = k;
	}
}

static int shl_lit_cmp(const void *a, const void *b)
{
	const struct shl_lit *x = a, *y = b;
	if (x->r != y->r)
		return x->r < y->r ? -1 : 1;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

static void shl_table_build(struct shl_table *t, const int32_t *p, size_t len, bool any)
{
	memset(t, 0, sizeof(*t));
	if (!any) {
		t->border = rcp_xmalloc(len * sizeof(*t->border));
		shl_border(p, len, t->border);
		return;
	}
	size_t n = 0, most = 0;
	t->words = (len + 63) / 64;
	t->state = rcp_xmalloc(t->words * sizeof(uint64_t));
	t->any_mask = rcp_xmalloc(t->words * sizeof(uint64_t));
	memset(t->any_mask, 0, t->words * sizeof(uint64_t));
	t->lits = rcp_xmalloc(len * sizeof(*t->lits));
	for (size_t i = 0; i < len; i++) {
		if (p[i] == SHL_ANY)
			t->any_mask[i / 64] |= (uint64_t)1 << (i % 64);
		else
			t->lits[n++] = (struct shl_lit){p[i], (uint32_t)i};
	}
	qsort(t->lits, n, sizeof(*t->lits), shl_lit_cmp);
	t->groups = rcp_xmalloc((n ? n : 1) * sizeof(*t->groups));
	for (size_t i = 0, j; i < n; i = j) {
		for (j = i; j < n && t->lits[j].r == t->lits[i].r;)
			j++;
		struct shl_group *g = &t->groups[t->n_groups++];
		*g = (struct shl_group){t->lits[i].r, NULL, t->lits + i, j - i};
		/* at most 64 runes fill 1/64 of the segment each: masks for those keep
		 * the memory linear, lists for the others the time per rune read */
		if ((j - i) * 64 < len) {
			most = j - i > most ? j - i : most;
			continue;
		}
		g->mask = rcp_xmalloc(t->words * sizeof(uint64_t));
		for (size_t w = 0; w < t->words; w++)
			g->mask[w] = g->r == '\n' ? 0 : t->any_mask[w];
		for (size_t k = i; k < j; k++)
			g->mask[t->lits[k].pos / 64] |= (uint64_t)1 << (t->lits[k].pos % 64);
	}
	t->hits = rcp_xmalloc((most ? most : 1) * sizeof(*t->hits));
}

static void shl_table_free(struct shl_table *t)
{
	for (size_t i = 0; i < t->n_groups; i++)
		free(t->groups[i].mask);
	free(t->groups);
	free(t->border);
	free(t->state);
	free(t->any_mask);
	free(t->lits);
	free(t->hits);
}

/* A search for the occurrences of one segment, from a place in the value. */
struct shl_scan {
	const struct shl_seg *g;
	const int32_t *p;    /* its runes */
	struct shl_table *t; /* NULL for a short segment */
	size_t pos;	     /* the next rune of the value to read */
	size_t q;	     /* KMP: runes matched; only '?': runes since a newline */
	size_t last;	     /* the last start allowed, SIZE_MAX for any */
	bool bounded;	     /* a star leads to it: it starts on the line the scan starts */
	uint64_t d, any;     /* Shift-And of a short segment: state, the '?'s */
	uint32_t border[SHL_SHORT];
};

static void shl_scan_start(struct shl_matcher *m, struct shl_scan *sc, struct shl_seg *g,
			   size_t from, bool bounded)
{
	sc->g = g;
	sc->p = m->p + g->start;
	sc->t = NULL;
	sc->pos = from;
	sc->q = 0;
	sc->last = SIZE_MAX;
	sc->bounded = bounded;
	sc->d = sc->any = 0;
	if (!g->lit)
		return;
	if (g->len > SHL_SHORT) {
		if (!g->table) {
			struct shl_table *t = &m->tables[m->n_tables++];
			shl_table_build(t, sc->p, g->len, g->any);
			g->table = (uint32_t)m->n_tables;
		}
		sc->t = &m->tables[g->table - 1];
		if (g->any)
			memset(sc->t->state, 0, sc->t->words * sizeof(uint64_t));
	} else if (g->any) {
		for (size_t i = 0; i < g->len; i++)
			if (sc->p[i] == SHL_ANY)
				sc->any |= (uint64_t)1 << i;
	} else {
		shl_border(sc->p, g->len, sc->border);
	}
}

/* KMP: reads r; true when the segment ends there. */
static bool shl_kmp_step(struct shl_scan *sc, int32_t r)
{
	const uint32_t *border = sc->t ? sc->t->border : sc->border;
	while (sc->q > 0 && sc->p[sc->q] != r)
		sc->q = border[sc->q - 1];
	if (sc->p[sc->q] == r)
		sc->q++;
	if (sc->q < sc->g->len)
		return false;
	sc->q = border[sc->g->len - 1];
	return true;
}

static const struct shl_group *shl_group_of(const struct shl_table *t, int32_t r)
{
	size_t lo = 0, hi = t->n_groups;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (t->groups[mid].r < r)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < t->n_groups && t->groups[lo].r == r ? &t->groups[lo] : NULL;
}

/* Shift-And: reads r; true when the segment ends there. */
static bool shl_bits_step(struct shl_scan *sc, int32_t r)
{
	size_t last = sc->g->len - 1;
	if (!sc->t) {
		uint64_t mask = r == '\n' ? 0 : sc->any;
		for (size_t i = 0; i <= last; i++)
			if (sc->p[i] == r)
				mask |= (uint64_t)1 << i;
		sc->d = (sc->d << 1 | 1) & mask;
		return sc->d >> last & 1;
	}
	struct shl_table *t = sc->t;
	uint64_t *d = t->state, carry = 1;
	for (size_t i = 0; i < t->words; i++) {
		uint64_t x = d[i];
		d[i] = x << 1 | carry;
		carry = x >> 63;
	}
	const struct shl_group *g = shl_group_of(t, r);
	if (g && g->mask) {
		for (size_t i = 0; i < t->words; i++)
			d[i] &= g->mask[i];
	} else {
		size_t n = 0;
		for (size_t k = 0; g && k < g->n; k++)
			if (d[g->at[k].pos / 64] >> (g->at[k].pos % 64) & 1)
				t->hits[n++] = g->at[k].pos;
		for (size_t i = 0; i < t->words; i++)
			d[i] = r == '\n' ? 0 : d[i] & t->any_mask[i];
		for (size_t k = 0; k < n; k++)
			d[t->hits[k] / 64] |= (uint64_t)1 << (t->hits[k] % 64);
	}
	return d[last / 64] >> (last % 64) & 1;
}

/* The start of the next occurrence, SIZE_MAX when there is none (or once
 * interrupted). */
static size_t shl_scan_next(struct shl_matcher *m, struct shl_scan *sc)
{
	const struct shl_seg *g = sc->g;
	size_t cost = 1 + (!g->lit ? 0 : sc->t && g->any ? sc->t->words : g->any ? g->len : 0);
	while (sc->pos < m->ns) {
		/* what ends at pos starts at pos + 1 - len; what ends later, later */
		if (sc->last != SIZE_MAX && sc->pos + 1 > sc->last + g->len)
			return SIZE_MAX;
		if (shl_busy(m, cost))
			return SIZE_MAX;
		int32_t r = m->s[sc->pos++];
		if (r == '\n' && sc->bounded && sc->last == SIZE_MAX) {
			sc->last = sc->pos - 1;
			if (!g->nl)
				return SIZE_MAX;
		}
		bool end = !g->lit  ? (sc->q = r == '\n' ? 0 : sc->q + 1) >= g->len
			   : g->any ? shl_bits_step(sc, r)
				    : shl_kmp_step(sc, r);
		if (end) {
			size_t start = sc->pos - g->len;
			return sc->last == SIZE_MAX || start <= sc->last ? start : SIZE_MAX;
		}
	}
	return SIZE_MAX;
}

/* The first newline at or after x, or the end. */
static size_t shl_line_end(struct shl_matcher *m, size_t x)
{
	while (x < m->ns && m->s[x] != '\n' && !shl_busy(m, 1))
		x++;
	return x;
}

static bool shl_seg_at(struct shl_matcher *m, const struct shl_seg *g, size_t x)
{
	const int32_t *p = m->p + g->start;
	if (g->len > m->ns - x || shl_busy(m, g->len))
		return false;
	for (size_t i = 0; i < g->len; i++)
		if (p[i] == SHL_ANY ? m->s[x + i] == '\n' : m->s[x + i] != p[i])
			return false;
	return true;
}

/* The end of the match of the segments after the first, the first star starting at
 * x; SIZE_MAX when they do not match. */
static size_t shl_match_rest(struct shl_matcher *m, size_t x)
{
	struct shl_scan sc;
	for (size_t i = 1; i < m->n_seg; i++) {
		struct shl_seg *g = &m->seg[i];
		if (g->len == 0) /* the pattern ends with a star */
			return m->greedy ? shl_line_end(m, x) : x;
		shl_scan_start(m, &sc, g, x, true);
		size_t at = shl_scan_next(m, &sc);
		if (at == SIZE_MAX)
			return SIZE_MAX;
		if (i + 1 == m->n_seg && m->greedy)
			for (size_t later; (later = shl_scan_next(m, &sc)) != SIZE_MAX;)
				at = later;
		x = at + g->len;
	}
	return x;
}

/* The end of the match that starts at x, SIZE_MAX when there is none. */
static size_t shl_match_at(struct shl_matcher *m, size_t x)
{
	if (!shl_seg_at(m, &m->seg[0], x))
		return SIZE_MAX;
	return shl_match_rest(m, x + m->seg[0].len);
}

/* The leftmost match [*a, *b) that starts at or after from. */
static bool shl_find(struct shl_matcher *m, size_t from, size_t *a, size_t *b)
{
	struct shl_seg *g = &m->seg[0];
	struct shl_scan sc;
	size_t next = from; /* the first start still possible */

	if (g->len)
		shl_scan_start(m, &sc, g, from, false);
	for (;;) {
		size_t i = next;
		if (g->len) {
			do
				i = shl_scan_next(m, &sc);
			while (i != SIZE_MAX && i < next);
		}
		if (i == SIZE_MAX || i > m->ns)
			return false;
		size_t e = shl_match_rest(m, i + g->len);
		if (e != SIZE_MAX) {
			*a = i;
			*b = e;
			return true;
		}
		/* (only a pattern with a star gets here) */
		size_t nl = shl_line_end(m, i + g->len);
		if (m->interrupted || nl == m->ns)
			return false;
		next = nl + 1 - g->len;
	}
}

static void shl_matcher_init(struct shl_matcher *m, const int32_t *p, size_t np, const int32_t *s,
			     size_t ns, bool greedy, const volatile sig_atomic_t *interrupt)
{
	size_t n = 1, long_ones = 0;
	for (size_t i = 0; i < np; i++)
		n += p[i] == SHL_STAR && (i == 0 || p[i - 1] != SHL_STAR);
	*m = (struct shl_matcher){
	    .p = p, .s = s, .ns = ns, .greedy = greedy, .interrupt = interrupt};
	m->seg = rcp_xmalloc(n * sizeof(*m->seg));
	m->seg[0] = (struct shl_seg){0};
	m->n_seg = 1;
	for (size_t i = 0; i < np; i++) {
		struct shl_seg *g = &m->seg[m->n_seg - 1];
		if (p[i] == SHL_STAR) {
			long_ones += g->len > SHL_SHORT && g->lit;
			if (i > 0 && p[i - 1] == SHL_STAR)
				g->start++; /* ** is * */
			else
				m->seg[m->n_seg++] = (struct shl_seg){.start = (uint32_t)i + 1};
			continue;
		}
		g->len++;
		g->any |= p[i] == SHL_ANY;
		g->lit |= p[i] != SHL_ANY;
		g->nl |= p[i] == '\n';
	}
	long_ones += m->seg[m->n_seg - 1].len > SHL_SHORT && m->seg[m->n_seg - 1].lit;
	m->tables = rcp_xmalloc(long_ones * sizeof(*m->tables));
}

static void shl_matcher_free(struct shl_matcher *m)
{
	for (size_t i = 0; i < m->n_tables; i++)
		shl_table_free(&m->tables[i]);
	free(m->tables);
	free(m->seg);
}

static int shl_bad_pattern(struct shl *l, const char *pat, char *emsg)
{
	size_t n = rcp_utf8_prefix(pat, 200);
	shl_fail(l, "invalid pattern (%.*s%s) in substitution: %s", (int)n, pat,
		 pat[n] ? "..." : "", emsg);
	free(emsg);
	return -1;
}

static int32_t *shl_runes(const char *s, size_t *n)
{
	size_t len = strlen(s), i = 0;
	int32_t *v = rcp_xmalloc((len + 1) * sizeof(*v));
	*n = 0;
	while (i < len)
		i += rcp_utf8_decode(s + i, len - i, &v[(*n)++]);
	return v;
}

static void shl_reverse(int32_t *v, size_t n)
{
	for (size_t i = 0; i < n / 2; i++) {
		int32_t t = v[i];
		v[i] = v[n - 1 - i];
		v[n - 1 - i] = t;
	}
}

static char *shl_encode(const int32_t *r, size_t n)
{
	struct rcp_buf b = {0};
	for (size_t i = 0; i < n; i++)
		rcp_buf_addrune(&b, r[i]);
	return rcp_buf_steal(&b);
}

/* ${VAR#pat} ${VAR##pat} (suffix false) and ${VAR%pat} ${VAR%%pat} (suffix true). */
static int shl_trim(struct shl *l, const char *pat, const char *value, bool greedy, bool suffix,
		    char **out)
{
	int32_t *p, *s;
	size_t np, ns, end;
	char *emsg;
	struct shl_matcher m;

	if (shl_compile_pattern(pat, &p, &np, &emsg) < 0)
		return shl_bad_pattern(l, pat, emsg);
	s = shl_runes(value, &ns);
	if (suffix) {
		/* The shortest rightmost match is the shortest leftmost match of the
		 * reversed pattern in the reversed value. */
		shl_reverse(p, np);
		shl_reverse(s, ns);
	}
	shl_matcher_init(&m, p, np, s, ns, greedy, l->interrupt);
	end = shl_match_at(&m, 0);
	if (end == SIZE_MAX)
		end = 0;
	if (suffix) {
		shl_reverse(s, ns);
		*out = shl_encode(s, ns - end);
	} else {
		*out = shl_encode(s + end, ns - end);
	}
	int ret = m.interrupted ? shl_interrupted(l) : 0;
	if (ret < 0) {
		free(*out);
		*out = NULL;
	}
	shl_matcher_free(&m);
	free(s);
	free(p);
	return ret;
}

/* Go's Regexp.Expand for a regexp without groups: $$ is '$', $0 or ${0} the match,
 * any other well-formed reference empty, a malformed one a literal '$'. */
static void shl_expand_template(struct rcp_buf *b, const char *t, const int32_t *match, size_t n)
{
	while (*t) {
		const char *name, *end;
		if (*t != '$') {
			rcp_buf_addc(b, *t++);
			continue;
		}
		if (t[1] == '$') {
			rcp_buf_addc(b, '$');
			t += 2;
			continue;
		}
		name = t + 1 + (t[1] == '{');
		end = name;
		while (*end == '_' || (*end >= '0' && *end <= '9') ||
		       (*end >= 'a' && *end <= 'z') || (*end >= 'A' && *end <= 'Z') ||
		       (unsigned char)*end >= 0x80)
			end++;
		if (end == name || (t[1] == '{' && *end != '}')) {
			rcp_buf_addc(b, '$');
			t++;
			continue;
		}
		bool zero = true;
		for (const char *c = name; c < end; c++)
			if (*c != '0')
				zero = false;
		if (zero)
			for (size_t i = 0; i < n; i++)
				rcp_buf_addrune(b, match[i]);
		t = end + (t[1] == '{');
	}
}

static int shl_replace(struct shl *l, const char *pat, const char *repl, const char *value,
		       bool all, char **out)
{
	int32_t *p, *s;
	size_t np, ns, a, e;
	char *emsg;
	struct shl_matcher m;
	struct rcp_buf b = {0};
	int ret = 0;

	if (shl_compile_pattern(pat, &p, &np, &emsg) < 0)
		return shl_bad_pattern(l, pat, emsg);
	s = shl_runes(value, &ns);
	shl_matcher_init(&m, p, np, s, ns, true, l->interrupt);
	if (!all) {
		if (shl_find(&m, 0, &a, &e)) {
			for (size_t i = 0; i < a; i++)
				rcp_buf_addrune(&b, s[i]);
			rcp_buf_adds(&b, repl);
			for (size_t i = e; i < ns; i++)
				rcp_buf_addrune(&b, s[i]);
		} else {
			rcp_buf_adds(&b, value);
		}
	} else {
		/* Regexp.ReplaceAllString: successive non-overlapping matches; an empty
		 * match right after a match is not replaced. */
		size_t search = 0, last = 0;
		while (search <= ns && shl_find(&m, search, &a, &e)) {
			for (size_t i = last; i < a; i++)
				rcp_buf_addrune(&b, s[i]);
			if (e > last || a == 0)
				shl_expand_template(&b, repl, s + a, e - a);
			if ((ret = shl_check_size(l, b.len)) < 0)
				break;
			last = e;
			search = search + 1 > e ? search + 1 : e;
		}
		for (size_t i = last; ret == 0 && i < ns; i++)
			rcp_buf_addrune(&b, s[i]);
	}
	if (ret == 0 && m.interrupted)
		ret = shl_interrupted(l);
	if (ret == 0)
		ret = shl_check_size(l, b.len);
	if (ret == 0)
		*out = rcp_buf_steal(&b);
	rcp_buf_free(&b);
	shl_matcher_free(&m);
	free(s);
	free(p);
	return ret;
}

static int shl_braces(struct shl *l, char **out);

static int shl_dollar(struct shl *l, char **out)
{
	shl_next(l); /* '$' */
	if (shl_peek(l) != '{') {
		char *name = shl_process_name(l);
		if (!*name) {
			*out = rcp_xstrdup("$");
		} else {
			bool set;
			const char *value = shl_getenv(l, name, &set);
			*out =
			    !set && l->skip_unset ? rcp_xasprintf("$%s", name) : rcp_xstrdup(value);
		}
		free(name);
		return 0;
	}
	/* Each level recurses (here, and in the word it may hold): the input must not
	 * choose how deep the stack goes. */
	if (l->depth == RECIPE_MAX_NESTING)
		return shl_fail_code(l, -E2BIG, "variable expansion nested more than %d levels",
				     RECIPE_MAX_NESTING);
	l->depth++;
	int ret = shl_braces(l, out);
	l->depth--;
	return ret;
}

/* ${...}, from its '{'. */
static int shl_braces(struct shl *l, char **out)
{
	char *name, *word = NULL;
	const char *value;
	bool set, null_is_unset = false;
	int32_t r;
	struct rcp_buf chs = {0};
	int ret = -1;

	shl_next(l); /* '{' */
	r = shl_peek(l);
	if (r == RCP_EOF)
		return shl_fail(l, "syntax error: missing '}'");
	if (r == '{' || r == '}' || r == ':')
		return shl_fail(l, "syntax error: bad substitution");

	name = shl_process_name(l);
	r = shl_next(l);
	if (r != RCP_EOF)
		rcp_buf_addrune(&chs, r);
	switch (r) {
	case '}':
		value = shl_getenv(l, name, &set);
		*out = !set && l->skip_unset ? rcp_xasprintf("${%s}", name) : rcp_xstrdup(value);
		ret = 0;
		break;
	case ':':
		null_is_unset = true;
		r = shl_next(l);
		if (r != RCP_EOF)
			rcp_buf_addrune(&chs, r);
		/* fallthrough */
	case '+':
	case '-':
	case '?':
	case '#':
	case '%': {
		bool pattern = r == '#' || r == '%';
		if (null_is_unset && pattern) {
			shl_fail(l, "unsupported modifier (%s) in substitution", chs.s);
			break;
		}
		if (shl_process_stop_on(l, '}', pattern, &word, NULL) < 0) {
			if (shl_peek(l) == RCP_EOF && shl_syntax_failed(l))
				shl_fail(l, "syntax error: missing '}'");
			break;
		}
		value = shl_getenv(l, name, &set);
		if (l->skip_unset && !set) {
			*out = rcp_xasprintf("${%s%s%s}", name, chs.s ? chs.s : "", word);
			ret = 0;
			break;
		}
		switch (r) {
		case '-':
			if (!set || (null_is_unset && !*value)) {
				*out = word; /* no copy: the word may be as long as a word gets */
				word = NULL;
			} else {
				*out = rcp_xstrdup(value);
			}
			ret = 0;
			break;
		case '+':
			if (!set || (null_is_unset && !*value)) {
				*out = rcp_xstrdup("");
			} else {
				*out = word;
				word = NULL;
			}
			ret = 0;
			break;
		case '?':
			if (!set)
				shl_fail(l, "%s: %s", name,
					 *word ? word : "is not allowed to be unset");
			else if (null_is_unset && !*value)
				shl_fail(l, "%s: %s", name,
					 *word ? word : "is not allowed to be empty");
			else
				*out = rcp_xstrdup(value), ret = 0;
			break;
		case '#':
		case '%': {
			bool greedy = word[0] == (char)r;
			ret = shl_trim(l, word + greedy, value, greedy, r == '%', out);
			break;
		}
		default:
			shl_fail(l, "unsupported modifier (%s) in substitution", chs.s);
		}
		break;
	}
	case '/': {
		bool all = shl_peek(l) == '/';
		char *pat = NULL;
		if (all)
			shl_next(l);
		if (shl_process_stop_on(l, '/', true, &pat, NULL) < 0) {
			if (shl_peek(l) == RCP_EOF && shl_syntax_failed(l))
				shl_fail(l, "syntax error: missing '/' in ${}");
			break;
		}
		if (shl_process_stop_on(l, '}', true, &word, NULL) < 0) {
			if (shl_peek(l) == RCP_EOF && shl_syntax_failed(l))
				shl_fail(l, "syntax error: missing '}'");
			free(pat);
			break;
		}
		value = shl_getenv(l, name, &set);
		if (l->skip_unset && !set) {
			*out = rcp_xasprintf("${%s/%s/%s}", name, pat, word);
			ret = 0;
		} else {
			ret = shl_replace(l, pat, word, value, all, out);
		}
		free(pat);
		break;
	}
	case RCP_EOF:
		shl_fail(l, "syntax error: missing '}'");
		break;
	default:
		shl_fail(l, "unsupported modifier (%s) in substitution", chs.s);
	}
	free(word);
	free(name);
	rcp_buf_free(&chs);
	return ret;
}

/* Processes up to stop (or the end when stop is RCP_EOF); fills *result and, when
 * words is not NULL, the words of the result. */
static int shl_process_stop_on(struct shl *l, int32_t stop, bool raw_escapes, char **result,
			       struct rcp_vec *words)
{
	struct rcp_buf res = {0};
	/* Each level keeps its own word buffer: buildkit shares one between nested
	 * calls, which loses the text before a ${VAR:-...} in ProcessWords. */
	struct shl_words w = {0};
	bool saved = l->raw_escapes;
	int32_t r;
	int ret = 0;

	l->raw_escapes = raw_escapes;
	while ((r = shl_peek(l)) != RCP_EOF) {
		char *tmp = NULL;
		if (l->interrupt && *l->interrupt) {
			ret = shl_interrupted(l);
			goto done;
		}
		if (stop != RCP_EOF && r == stop) {
			shl_next(l);
			goto done;
		}
		if (r == '$' || r == '\'' || r == '"') {
			int rc = r == '$'    ? shl_dollar(l, &tmp)
				 : r == '\'' ? shl_single_quote(l, &tmp)
					     : shl_double_quote(l, &tmp);
			if (rc == 0) {
				rc = shl_add(l, &res, tmp);
				/* the words only where they are asked for (the top level) */
				if (rc == 0 && words && r == '$')
					shl_words_add_string(&w, tmp);
				else if (rc == 0 && words)
					shl_words_add_raw_string(&w, tmp);
				free(tmp);
			}
			if (rc < 0) {
				ret = -1;
				goto done;
			}
			continue;
		}
		r = shl_next(l);
		if (r == l->escape) {
			if (l->raw_escapes) {
				if (words)
					shl_words_add_raw_char(&w, r);
				rcp_buf_addrune(&res, r);
			}
			r = shl_next(l);
			if (r == RCP_EOF)
				break; /* an escape at the very end is dropped */
			if (words)
				shl_words_add_raw_char(&w, r);
		} else if (words) {
			shl_words_add_char(&w, r);
		}
		rcp_buf_addrune(&res, r);
		if (shl_check_size(l, res.len) < 0) {
			ret = -1;
			goto done;
		}
	}
	if (stop != RCP_EOF) {
		ret = shl_fail(l, "unexpected end of statement while looking for matching %c",
			       (char)stop);
	}
done:
	l->raw_escapes = saved;
	if (ret == 0) {
		*result = rcp_buf_steal(&res);
		if (words) {
			if (w.buf.len)
				rcp_vec_pushn(&w.v, w.buf.s, w.buf.len);
			*words = w.v;
			w.v = (struct rcp_vec){0};
		}
	}
	rcp_buf_free(&res);
	rcp_buf_free(&w.buf);
	rcp_vec_free(&w.v);
	return ret;
}

int rcp_shell_process(const char *src, const struct rcp_shell_opts *o, recipe_lookup_fn lookup,
		      void *ctx, char **word, char ***words, char **errmsg)
{
	struct shl l = {
	    .s = src,
	    .len = strlen(src),
	    .escape = (unsigned char)o->escape,
	    .raw_quotes = o->raw_quotes,
	    .raw_escapes = o->raw_escapes,
	    .skip_unset = o->skip_unset,
	    .lookup = lookup,
	    .ctx = ctx,
	    .interrupt = o->interrupt,
	};
	struct rcp_vec v = {0};
	char *res = NULL;

	if (shl_process_stop_on(&l, RCP_EOF, o->raw_escapes, &res, &v) < 0) {
		if (l.code == -EINTR) {
			*errmsg = l.err;
			return l.code;
		}
		/* the word as buildkit quotes it, cut short: it may be megabytes */
		size_t n = rcp_utf8_prefix(src, 200);
		*errmsg = rcp_xasprintf("failed to process \"%.*s%s\": %s", (int)n, src,
					src[n] ? "..." : "", l.err);
		free(l.err);
		return l.code;
	}
	if (word)
		*word = res;
	else
		free(res);
	if (words)
		*words = rcp_vec_steal(&v);
	else
		rcp_vec_free(&v);
	return 0;
}

static int shl_public(const char *src, const struct recipe_word_opts *wo, char **word,
		      char ***words, struct recipe_error *err)
{
	struct rcp_shell_opts o = {.escape = wo->escape ? wo->escape : '\\',
				   .interrupt = wo->interrupt};
	char *emsg = NULL;
	int ret;

	if (!src)
		return rcp_error(err, 0, 0, "no word to process");
	ret = rcp_shell_process(src, &o, wo->lookup, wo->ctx, word, words, &emsg);
	if (ret < 0) {
		rcp_error(err, 0, 0, "%s", emsg);
		free(emsg);
	}
	return ret;
}

int recipe_expand_word(const char *word, const struct recipe_word_opts *o, char **out,
		       struct recipe_error *err)
{
	return shl_public(word, o, out, NULL, err);
}

int recipe_expand_words(const char *src, const struct recipe_word_opts *o, char ***out,
			struct recipe_error *err)
{
	return shl_public(src, o, NULL, out, err);
}

int recipe_process_word(const char *word, char escape, recipe_lookup_fn lookup, void *ctx,
			char **out, struct recipe_error *err)
{
	struct recipe_word_opts o = {.escape = escape, .lookup = lookup, .ctx = ctx};
	return shl_public(word, &o, out, NULL, err);
}

int recipe_process_words(const char *src, char escape, recipe_lookup_fn lookup, void *ctx,
			 char ***out, struct recipe_error *err)
{
	struct recipe_word_opts o = {.escape = escape, .lookup = lookup, .ctx = ctx};
	return shl_public(src, &o, NULL, out, err);
}
