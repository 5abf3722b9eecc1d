/* Shell-style word processing, with the semantics of buildkit's shell lexer
 * (frontend/dockerfile/shell/lex.go): quotes, escapes and ${} expansion, but no
 * command substitution, globbing or arithmetic. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdarg.h>
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
	char *err; /* set on failure */
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

__attribute__((format(printf, 2, 3))) static int shl_fail(struct shl *l, const char *fmt, ...)
{
	va_list ap;
	char *msg;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		abort();
	va_end(ap);
	free(l->err);
	l->err = msg;
	return -1;
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
			if (shl_dollar(l, &v) < 0) {
				rcp_buf_free(&b);
				return -1;
			}
			rcp_buf_adds(&b, v);
			free(v);
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
	}
}

/* --- ${VAR#pattern}, ${VAR%pattern}, ${VAR/pattern/replacement} ------------------ */

enum { SHL_PAT_LIT, SHL_PAT_ANY, SHL_PAT_STAR };

struct shl_pat {
	int kind;
	int32_t r;
};

/* The shell pattern as buildkit turns it into a regular expression: '*' and '?' are
 * wildcards that do not match a newline (as '.' in Go's regexp), '\' quotes '*',
 * '?' and '\', and is dropped before '}' and '/'; there are no bracket expressions. */
static int shl_compile_pattern(const char *pat, struct shl_pat **out, size_t *nout, char **emsg)
{
	size_t len = strlen(pat), i = 0, n = 0;
	struct shl_pat *p = rcp_xmalloc((len + 1) * sizeof(*p));

	while (i < len) {
		int32_t r, nx = RCP_EOF;
		i += rcp_utf8_decode(pat + i, len - i, &r);
		if (i < len)
			rcp_utf8_decode(pat + i, len - i, &nx);
		if (r == '*') {
			p[n++] = (struct shl_pat){SHL_PAT_STAR, 0};
			continue;
		}
		if (r == '?') {
			p[n++] = (struct shl_pat){SHL_PAT_ANY, 0};
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
		p[n++] = (struct shl_pat){SHL_PAT_LIT, r};
	}
	*out = p;
	*nout = n;
	return 0;
}

struct shl_matcher {
	const struct shl_pat *p;
	size_t np;
	const int32_t *s;
	size_t ns;
	bool greedy;
	unsigned char *failed; /* memo of (pattern index, position) known not to match */
};

/* Matches the pattern from token ti at position si, trying alternatives in the
 * order a backtracking regexp engine prefers them (leftmost-first, as Go's regexp
 * reports); the first success gives *end. */
static bool shl_match_at(struct shl_matcher *m, size_t ti, size_t si, size_t *end)
{
	size_t bit = ti * (m->ns + 1) + si;

	if (ti == m->np) {
		*end = si;
		return true;
	}
	if (m->failed && (m->failed[bit / 8] & (1u << (bit % 8))))
		return false;
	switch (m->p[ti].kind) {
	case SHL_PAT_LIT:
		if (si < m->ns && m->s[si] == m->p[ti].r && shl_match_at(m, ti + 1, si + 1, end))
			return true;
		break;
	case SHL_PAT_ANY:
		if (si < m->ns && m->s[si] != '\n' && shl_match_at(m, ti + 1, si + 1, end))
			return true;
		break;
	default: {
		size_t max = 0;
		while (si + max < m->ns && m->s[si + max] != '\n')
			max++;
		if (m->greedy) {
			for (size_t k = max + 1; k-- > 0;)
				if (shl_match_at(m, ti + 1, si + k, end))
					return true;
		} else {
			for (size_t k = 0; k <= max; k++)
				if (shl_match_at(m, ti + 1, si + k, end))
					return true;
		}
	}
	}
	if (m->failed)
		m->failed[bit / 8] |= (unsigned char)(1u << (bit % 8));
	return false;
}

static void shl_matcher_init(struct shl_matcher *m, const struct shl_pat *p, size_t np,
			     const int32_t *s, size_t ns, bool greedy)
{
	size_t bits = (np + 1) * (ns + 1);
	*m = (struct shl_matcher){p, np, s, ns, greedy, NULL};
	if (bits < ((size_t)1 << 30))
		m->failed = calloc(bits / 8 + 1, 1);
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
	struct shl_pat *p;
	size_t np, ns, end;
	char *emsg;
	int32_t *s;
	struct shl_matcher m;

	if (shl_compile_pattern(pat, &p, &np, &emsg) < 0) {
		shl_fail(l, "invalid pattern (%s) in substitution: %s", pat, emsg);
		free(emsg);
		return -1;
	}
	s = shl_runes(value, &ns);
	if (suffix) {
		/* The shortest rightmost match is the shortest leftmost match of the
		 * reversed pattern in the reversed value. */
		for (size_t i = 0; i < np / 2; i++) {
			struct shl_pat t = p[i];
			p[i] = p[np - 1 - i];
			p[np - 1 - i] = t;
		}
		for (size_t i = 0; i < ns / 2; i++) {
			int32_t t = s[i];
			s[i] = s[ns - 1 - i];
			s[ns - 1 - i] = t;
		}
	}
	shl_matcher_init(&m, p, np, s, ns, greedy);
	if (!shl_match_at(&m, 0, 0, &end))
		end = 0;
	if (suffix) {
		for (size_t i = 0; i < ns / 2; i++) {
			int32_t t = s[i];
			s[i] = s[ns - 1 - i];
			s[ns - 1 - i] = t;
		}
		*out = shl_encode(s, ns - end);
	} else {
		*out = shl_encode(s + end, ns - end);
	}
	free(m.failed);
	free(s);
	free(p);
	return 0;
}

static bool shl_find(struct shl_matcher *m, size_t from, size_t *a, size_t *b)
{
	for (size_t i = from; i <= m->ns; i++) {
		if (shl_match_at(m, 0, i, b)) {
			*a = i;
			return true;
		}
	}
	return false;
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
	struct shl_pat *p;
	size_t np, ns, a, e;
	char *emsg;
	int32_t *s;
	struct shl_matcher m;
	struct rcp_buf b = {0};

	if (shl_compile_pattern(pat, &p, &np, &emsg) < 0) {
		shl_fail(l, "invalid pattern (%s) in substitution: %s", pat, emsg);
		free(emsg);
		return -1;
	}
	s = shl_runes(value, &ns);
	shl_matcher_init(&m, p, np, s, ns, true);
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
			last = e;
			search = search + 1 > e ? search + 1 : e;
		}
		for (size_t i = last; i < ns; i++)
			rcp_buf_addrune(&b, s[i]);
	}
	*out = rcp_buf_steal(&b);
	free(m.failed);
	free(s);
	free(p);
	return 0;
}

static int shl_dollar(struct shl *l, char **out)
{
	char *name, *word = NULL;
	const char *value;
	bool set, null_is_unset = false;
	int32_t r;
	struct rcp_buf chs = {0};
	int ret = -1;

	shl_next(l); /* '$' */
	if (shl_peek(l) != '{') {
		name = shl_process_name(l);
		if (!*name) {
			*out = rcp_xstrdup("$");
		} else {
			value = shl_getenv(l, name, &set);
			*out =
			    !set && l->skip_unset ? rcp_xasprintf("$%s", name) : rcp_xstrdup(value);
		}
		free(name);
		return 0;
	}
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
			if (shl_peek(l) == RCP_EOF)
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
			*out = rcp_xstrdup(!set || (null_is_unset && !*value) ? word : value);
			ret = 0;
			break;
		case '+':
			*out = rcp_xstrdup(!set || (null_is_unset && !*value) ? "" : word);
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
			if (shl_peek(l) == RCP_EOF)
				shl_fail(l, "syntax error: missing '/' in ${}");
			break;
		}
		if (shl_process_stop_on(l, '}', true, &word, NULL) < 0) {
			if (shl_peek(l) == RCP_EOF)
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
		if (stop != RCP_EOF && r == stop) {
			shl_next(l);
			goto done;
		}
		if (r == '$' || r == '\'' || r == '"') {
			int rc = r == '$'    ? shl_dollar(l, &tmp)
				 : r == '\'' ? shl_single_quote(l, &tmp)
					     : shl_double_quote(l, &tmp);
			if (rc < 0) {
				ret = -1;
				goto done;
			}
			rcp_buf_adds(&res, tmp);
			if (r == '$')
				shl_words_add_string(&w, tmp);
			else
				shl_words_add_raw_string(&w, tmp);
			free(tmp);
			continue;
		}
		r = shl_next(l);
		if (r == l->escape) {
			if (l->raw_escapes) {
				shl_words_add_raw_char(&w, r);
				rcp_buf_addrune(&res, r);
			}
			r = shl_next(l);
			if (r == RCP_EOF)
				break; /* an escape at the very end is dropped */
			shl_words_add_raw_char(&w, r);
		} else {
			shl_words_add_char(&w, r);
		}
		rcp_buf_addrune(&res, r);
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
	};
	struct rcp_vec v = {0};
	char *res = NULL;

	if (shl_process_stop_on(&l, RCP_EOF, o->raw_escapes, &res, &v) < 0) {
		*errmsg = rcp_xasprintf("failed to process \"%s\": %s", src, l.err);
		free(l.err);
		return -EINVAL;
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

static int shl_public(const char *src, char escape, recipe_lookup_fn lookup, void *ctx, char **word,
		      char ***words, struct recipe_error *err)
{
	struct rcp_shell_opts o = {.escape = escape ? escape : '\\'};
	char *emsg = NULL;
	int ret;

	if (!src)
		return rcp_error(err, 0, 0, "no word to process");
	ret = rcp_shell_process(src, &o, lookup, ctx, word, words, &emsg);
	if (ret < 0) {
		rcp_error(err, 0, 0, "%s", emsg);
		free(emsg);
	}
	return ret;
}

int recipe_process_word(const char *word, char escape, recipe_lookup_fn lookup, void *ctx,
			char **out, struct recipe_error *err)
{
	return shl_public(word, escape, lookup, ctx, out, NULL, err);
}

int recipe_process_words(const char *src, char escape, recipe_lookup_fn lookup, void *ctx,
			 char ***out, struct recipe_error *err)
{
	return shl_public(src, escape, lookup, ctx, NULL, out, err);
}
