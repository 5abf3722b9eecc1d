/* A reference for the patterns of ${VAR#p} ${VAR%p} ${VAR/p/r}: the backtracking
 * matcher parser/shell.c had before its matcher became linear, kept to check that one
 * against (tests/unit/test-shell.c, tests/fuzz/fuzz-expand.c). It takes cubic time
 * and quadratic memory, and recurses once per pattern rune: small inputs only. Patterns here have
 * no escapes: '*' and '?' are wildcards (neither matches a newline), every other rune is itself.
 * Text is UTF-8. */
#ifndef CAIRN_PATTERN_REF_H
#define CAIRN_PATTERN_REF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REF_STAR (-3)
#define REF_ANY (-2)

/* s as runes, with '*' and '?' as REF_STAR and REF_ANY when pattern; a byte that does
 * not start a valid sequence is a rune of its own (nothing else needs telling apart). */
static size_t ref_runes(const char *str, bool pattern, int32_t *out)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t n = 0;
	while (*s) {
		int32_t r = *s++;
		if (r >= 0xC0 && r < 0xE0 && (*s & 0xC0) == 0x80)
			r = (r & 0x1F) << 6 | (*s++ & 0x3F);
		else if (r >= 0x80)
			r += 0x110000;
		if (pattern && r == '*')
			r = REF_STAR;
		else if (pattern && r == '?')
			r = REF_ANY;
		out[n++] = r;
	}
	return n;
}

static void ref_put(FILE *o, const int32_t *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (r[i] >= 0x110000)
			fputc(r[i] - 0x110000, o);
		else if (r[i] >= 0x80)
			fputc(0xC0 | r[i] >> 6, o), fputc(0x80 | (r[i] & 0x3F), o);
		else
			fputc(r[i], o);
	}
}

struct ref {
	const int32_t *p, *s;
	size_t np, ns;
	bool greedy;
	unsigned char *failed; /* (ti, si) known not to match, as the old matcher kept */
};

/* From pattern rune ti at value rune si: each star tries its lengths longest first
 * (greedy) or shortest first, the first way to reach the pattern's end wins. */
static bool ref_match_at(struct ref *m, size_t ti, size_t si, size_t *end)
{
	size_t bit = ti * (m->ns + 1) + si;
	if (ti == m->np) {
		*end = si;
		return true;
	}
	if (m->failed[bit / 8] & (1u << (bit % 8)))
		return false;
	if (m->p[ti] == REF_STAR) {
		size_t max = 0;
		while (si + max < m->ns && m->s[si + max] != '\n')
			max++;
		for (size_t k = 0; k <= max; k++)
			if (ref_match_at(m, ti + 1, si + (m->greedy ? max - k : k), end))
				return true;
	} else if (si < m->ns && (m->p[ti] == REF_ANY ? m->s[si] != '\n' : m->s[si] == m->p[ti]) &&
		   ref_match_at(m, ti + 1, si + 1, end)) {
		return true;
	}
	m->failed[bit / 8] |= (unsigned char)(1u << (bit % 8));
	return false;
}

static void ref_init(struct ref *m, const int32_t *p, size_t np, const int32_t *s, size_t ns,
		     bool greedy)
{
	*m = (struct ref){p, s, np, ns, greedy, calloc((np + 1) * (ns + 1) / 8 + 1, 1)};
	if (!m->failed)
		abort();
}

/* What ${v#pat} (op "#"), ##, % or %% gives. Caller frees. */
static char *ref_trim(const char *value, const char *pat, const char *op)
{
	size_t lv = strlen(value), lp = strlen(pat), ns, np, end;
	int32_t *s = malloc((lv + 1) * sizeof(*s)), *p = malloc((lp + 1) * sizeof(*p));
	bool suffix = op[0] == '%', greedy = op[1] != '\0';
	char *out = NULL;
	size_t len = 0;
	if (!s || !p)
		abort();
	ns = ref_runes(value, false, s);
	np = ref_runes(pat, true, p);
	/* a suffix is a prefix of the reversed value, for the reversed pattern */
	for (size_t i = 0; suffix && i < ns / 2; i++) {
		int32_t t = s[i];
		s[i] = s[ns - 1 - i], s[ns - 1 - i] = t;
	}
	for (size_t i = 0; suffix && i < np / 2; i++) {
		int32_t t = p[i];
		p[i] = p[np - 1 - i], p[np - 1 - i] = t;
	}
	struct ref m;
	ref_init(&m, p, np, s, ns, greedy);
	if (!ref_match_at(&m, 0, 0, &end))
		end = 0;
	free(m.failed);
	for (size_t i = 0; suffix && i < ns / 2; i++) {
		int32_t t = s[i];
		s[i] = s[ns - 1 - i], s[ns - 1 - i] = t;
	}
	FILE *o = open_memstream(&out, &len);
	if (suffix)
		ref_put(o, s, ns - end);
	else
		ref_put(o, s + end, ns - end);
	fclose(o);
	free(s);
	free(p);
	return out;
}

/* What ${v/pat/repl} (all false) or ${v//pat/repl} gives; repl holds no '$'. */
static char *ref_replace(const char *value, const char *pat, const char *repl, bool all)
{
	size_t lv = strlen(value), lp = strlen(pat), ns, np, a = 0, e = 0;
	int32_t *s = malloc((lv + 1) * sizeof(*s)), *p = malloc((lp + 1) * sizeof(*p));
	char *out = NULL;
	size_t len = 0, search = 0, last = 0;
	if (!s || !p)
		abort();
	ns = ref_runes(value, false, s);
	np = ref_runes(pat, true, p);
	struct ref m;
	ref_init(&m, p, np, s, ns, true); /* failures do not depend on the start */
	FILE *o = open_memstream(&out, &len);
	while (search <= ns) {
		bool found = false;
		for (a = search; a <= ns && !found; a++)
			found = ref_match_at(&m, 0, a, &e);
		if (!found)
			break;
		a--;
		ref_put(o, s + last, a - last);
		if (e > last || a == 0)
			fputs(repl, o);
		last = e;
		search = search + 1 > e ? search + 1 : e;
		if (!all)
			break;
	}
	ref_put(o, s + last, ns - last);
	fclose(o);
	free(m.failed);
	free(s);
	free(p);
	return out;
}

#endif
