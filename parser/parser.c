/* The recipe parser: lines, parser directives, continuations, heredocs and each
 * instruction's arguments, as buildkit's Dockerfile parser
 * (frontend/dockerfile/parser) builds its Node tree; then, unless the caller asked
 * for the tree only, the argument checks buildkit's instructions package makes. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

#define RCP_MAX_ONBUILD_DEPTH 16

static const char *const rcp_kind_names[] = {
    [RECIPE_UNKNOWN] = "",
    [RECIPE_FROM] = "FROM",
    [RECIPE_RUN] = "RUN",
    [RECIPE_CMD] = "CMD",
    [RECIPE_LABEL] = "LABEL",
    [RECIPE_MAINTAINER] = "MAINTAINER",
    [RECIPE_EXPOSE] = "EXPOSE",
    [RECIPE_ENV] = "ENV",
    [RECIPE_ADD] = "ADD",
    [RECIPE_COPY] = "COPY",
    [RECIPE_ENTRYPOINT] = "ENTRYPOINT",
    [RECIPE_VOLUME] = "VOLUME",
    [RECIPE_USER] = "USER",
    [RECIPE_WORKDIR] = "WORKDIR",
    [RECIPE_ARG] = "ARG",
    [RECIPE_ONBUILD] = "ONBUILD",
    [RECIPE_STOPSIGNAL] = "STOPSIGNAL",
    [RECIPE_HEALTHCHECK] = "HEALTHCHECK",
    [RECIPE_SHELL] = "SHELL",
};

const char *recipe_kind_name(enum recipe_kind k)
{
	if ((size_t)k >= sizeof(rcp_kind_names) / sizeof(rcp_kind_names[0]))
		return "";
	return rcp_kind_names[k];
}

static enum recipe_kind rcp_kind_of(const char *kw)
{
	for (size_t k = 1; k < sizeof(rcp_kind_names) / sizeof(rcp_kind_names[0]); k++)
		if (strcasecmp(kw, rcp_kind_names[k]) == 0)
			return (enum recipe_kind)k;
	return RECIPE_UNKNOWN;
}

struct rcp_parser {
	const char *buf;
	size_t len, pos;
	int line; /* lines read so far */
	char escape;
	bool directives_done, seen_syntax, seen_escape, seen_check;
	char *syntax, *check;
	struct recipe_error *err;
};

/* --- lines --------------------------------------------------------------------- */

/* The next line with its line ending, as buildkit's scanLines. */
static bool rcp_next_line(struct rcp_parser *p, const char **s, size_t *n)
{
	const char *nl;

	if (p->pos >= p->len)
		return false;
	*s = p->buf + p->pos;
	nl = memchr(*s, '\n', p->len - p->pos);
	*n = nl ? (size_t)(nl - *s) + 1 : p->len - p->pos;
	if (p->pos == 0 && *n >= 3 && memcmp(*s, "\xEF\xBB\xBF", 3) == 0) {
		*s += 3;
		*n -= 3;
	}
	p->pos += (size_t)(*s - (p->buf + p->pos)) + *n;
	p->line++;
	return true;
}

static size_t rcp_trim_newline(const char *s, size_t n)
{
	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		n--;
	return n;
}

static bool rcp_is_comment(const char *s, size_t n)
{
	size_t sp = rcp_space_prefix(s, n);
	return sp < n && s[sp] == '#';
}

static bool rcp_is_re_space(char c) /* \s of Go's regexp */
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r';
}

static bool rcp_is_ws(char c) /* reWhitespace of buildkit: [\t\v\f\r ] */
{
	return c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r';
}

static bool rcp_is_byte_space(char c) /* unicode.IsSpace(rune(byte)) on ASCII */
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

/* Parser directives (`# escape=`), recognised only before anything else, as
 * buildkit's DirectiveParser. */
static int rcp_directive(struct rcp_parser *p, const char *s, size_t n)
{
	size_t i, k0, k1, v0, v1;
	char key[16];

	if (p->directives_done)
		return 0;
	if (n == 0 || s[0] != '#')
		goto done;
	i = 1 + rcp_space_prefix(s + 1, n - 1);
	k0 = i;
	if (i >= n || !isalpha((unsigned char)s[i]))
		goto done;
	while (i < n && isalnum((unsigned char)s[i]))
		i++;
	k1 = i;
	while (i < n && rcp_is_re_space(s[i]))
		i++;
	if (i >= n || s[i] != '=')
		goto done;
	i++;
	if (i >= n)
		goto done;
	v0 = i;
	while (v0 < n && rcp_is_re_space(s[v0]))
		v0++;
	if (v0 == n) {
		v0 = n - 1; /* `(.+?)` takes the last blank when nothing else is left */
		v1 = n;
	} else {
		v1 = n;
		while (v1 > v0 && rcp_is_re_space(s[v1 - 1]))
			v1--;
	}
	if (k1 - k0 >= sizeof(key))
		goto done;
	for (size_t j = 0; j < k1 - k0; j++)
		key[j] = (char)tolower((unsigned char)s[k0 + j]);
	key[k1 - k0] = '\0';

	bool *seen;
	if (strcmp(key, "syntax") == 0)
		seen = &p->seen_syntax;
	else if (strcmp(key, "escape") == 0)
		seen = &p->seen_escape;
	else if (strcmp(key, "check") == 0)
		seen = &p->seen_check;
	else
		goto done;
	if (*seen)
		return rcp_error(p->err, p->line, 1, "only one %s parser directive can be used",
				 key);
	*seen = true;
	if (strcmp(key, "escape") == 0) {
		if (v1 - v0 != 1 || (s[v0] != '`' && s[v0] != '\\'))
			return rcp_error(p->err, p->line, (int)v0 + 1,
					 "invalid escape token '%.*s' does not match ` or \\",
					 (int)(v1 - v0), s + v0);
		p->escape = s[v0];
	} else if (strcmp(key, "syntax") == 0) {
		p->syntax = rcp_xstrndup(s + v0, v1 - v0);
	} else {
		p->check = rcp_xstrndup(s + v0, v1 - v0);
	}
	return 0;
done:
	p->directives_done = true;
	return 0;
}

/* Strips a line continuation (the escape character, then only blanks, at the end,
 * not itself escaped) and says whether there was one. */
static bool rcp_trim_continuation(char esc, const char *s, size_t n, size_t *out)
{
	size_t e = n;

	*out = n;
	while (e > 0 && (s[e - 1] == ' ' || s[e - 1] == '\t'))
		e--;
	if (e == 0 || s[e - 1] != esc)
		return false;
	if (e >= 2 && s[e - 2] == esc)
		return false;
	*out = e - 1;
	return true;
}

/* --- arguments ----------------------------------------------------------------- */

/* extractBuilderFlags: the leading `--name=value` words; quotes and backslashes
 * in them are processed. Returns the offset of the rest of the line. */
static size_t rcp_extract_flags(const char *s, size_t n, struct rcp_vec *flags)
{
	enum { SPACES, WORD, QUOTE } phase = SPACES;
	struct rcp_buf w = {0};
	bool blank_ok = false;
	char quote = 0;
	size_t pos, rest = n;

	for (pos = 0; pos <= n; pos++) {
		char ch = pos < n ? s[pos] : 0;
		if (phase == SPACES) {
			if (pos == n)
				break;
			if (rcp_is_byte_space(ch))
				continue;
			if (ch != '-' || pos + 1 == n || s[pos + 1] != '-') {
				rest = pos;
				goto out;
			}
			phase = WORD;
		}
		if (pos == n) {
			if (!(w.len == 2 && memcmp(w.s, "--", 2) == 0) && (blank_ok || w.len))
				rcp_vec_pushn(flags, w.s ? w.s : "", w.len);
			break;
		}
		if (phase == WORD) {
			if (rcp_is_byte_space(ch)) {
				phase = SPACES;
				if (w.len == 2 && memcmp(w.s, "--", 2) == 0) {
					rest = pos;
					goto out;
				}
				if (blank_ok || w.len)
					rcp_vec_pushn(flags, w.s ? w.s : "", w.len);
				rcp_buf_reset(&w);
				blank_ok = false;
				continue;
			}
			if (ch == '\'' || ch == '"') {
				quote = ch;
				blank_ok = true;
				phase = QUOTE;
				continue;
			}
			if (ch == '\\') {
				if (pos + 1 == n)
					continue;
				ch = s[++pos];
			}
			rcp_buf_addc(&w, ch);
			continue;
		}
		if (ch == quote) {
			phase = WORD;
			continue;
		}
		if (ch == '\\') {
			if (pos + 1 == n) {
				phase = WORD;
				continue;
			}
			ch = s[++pos];
		}
		rcp_buf_addc(&w, ch);
	}
out:
	rcp_buf_free(&w);
	return rest;
}

/* parseWords: words split at white space, quotes and escapes kept as written. */
static void rcp_parse_words(const char *s, size_t n, char esc, struct rcp_vec *out)
{
	enum { SPACES, WORD, QUOTE } phase = SPACES;
	struct rcp_buf w = {0};
	bool blank_ok = false;
	int32_t quote = 0, ch = 0;
	size_t pos = 0, cw = 0;

	for (;;) {
		bool end = pos >= n;
		if (!end)
			cw = rcp_utf8_decode(s + pos, n - pos, &ch);
		if (phase == SPACES) {
			if (end)
				break;
			if (rcp_is_space(ch)) {
				pos += cw;
				continue;
			}
			phase = WORD;
		}
		if (end) {
			if (blank_ok || w.len)
				rcp_vec_pushn(out, w.s ? w.s : "", w.len);
			break;
		}
		if (phase == WORD) {
			if (rcp_is_space(ch)) {
				phase = SPACES;
				if (blank_ok || w.len)
					rcp_vec_pushn(out, w.s ? w.s : "", w.len);
				rcp_buf_reset(&w);
				blank_ok = false;
				pos += cw;
				continue;
			}
			if (ch == '\'' || ch == '"') {
				quote = ch;
				blank_ok = true;
				phase = QUOTE;
			}
			if (ch == (unsigned char)esc) {
				if (pos + cw == n) {
					pos += cw;
					continue;
				}
				rcp_buf_addrune(&w, ch);
				pos += cw;
				cw = rcp_utf8_decode(s + pos, n - pos, &ch);
			}
			rcp_buf_addrune(&w, ch);
			pos += cw;
			continue;
		}
		if (ch == quote)
			phase = WORD;
		if (ch == (unsigned char)esc && quote != '\'') {
			if (pos + cw == n) {
				phase = WORD;
				pos += cw;
				continue;
			}
			pos += cw;
			rcp_buf_addrune(&w, ch);
			cw = rcp_utf8_decode(s + pos, n - pos, &ch);
		}
		rcp_buf_addrune(&w, ch);
		pos += cw;
	}
	rcp_buf_free(&w);
}

/* parseStringsWhitespaceDelimited. */
static void rcp_split_ws(const char *s, size_t n, struct rcp_vec *out)
{
	size_t i = 0;
	if (n == 0)
		return;
	for (;;) {
		size_t j = i;
		while (j < n && !rcp_is_ws(s[j]))
			j++;
		rcp_vec_pushn(out, s + i, j - i);
		if (j == n)
			break;
		while (j < n && rcp_is_ws(s[j]))
			j++;
		i = j;
	}
}

static int rcp_maybe_json(const char *s, size_t n, bool to_list, struct rcp_vec *out, bool *json)
{
	char **v;
	int rc;

	if (n == 0 && !to_list)
		return 0;
	rc = rcp_json_string_array(s, n, &v);
	if (rc == 0) {
		for (char **q = v; *q; q++)
			rcp_vec_push(out, *q);
		free(v);
		*json = true;
		return 0;
	}
	if (rc == RCP_JSON_NOT_STRINGS)
		return -1;
	if (to_list)
		rcp_split_ws(s, n, out);
	else
		rcp_vec_pushn(out, s, n);
	return 0;
}

struct rcp_loc {
	int line, column;
};

/* parseNameVal for ENV and LABEL: triples name, value, separator. */
static int rcp_name_val(struct rcp_parser *p, const char *kw, const char *s, size_t n,
			struct rcp_loc loc, struct rcp_vec *out)
{
	struct rcp_vec words = {0};
	int ret = 0;

	rcp_parse_words(s, n, p->escape, &words);
	if (words.n == 0)
		goto out;
	if (!strchr(words.v[0], '=')) {
		size_t i = 0, j;
		while (i < n && !rcp_is_ws(s[i]))
			i++;
		if (i == n) {
			ret = rcp_error(p->err, loc.line, loc.column, "%s must have two arguments",
					kw);
			goto out;
		}
		j = i;
		while (j < n && rcp_is_ws(s[j]))
			j++;
		rcp_vec_pushn(out, s, i);
		rcp_vec_pushn(out, s + j, n - j);
		rcp_vec_pushn(out, "", 0);
		goto out;
	}
	for (size_t k = 0; k < words.n; k++) {
		char *eq = strchr(words.v[k], '=');
		if (!eq) {
			ret = rcp_error(p->err, loc.line, loc.column,
					"syntax error - can't find = in \"%s\". Must be of the "
					"form: name=value",
					words.v[k]);
			goto out;
		}
		rcp_vec_pushn(out, words.v[k], (size_t)(eq - words.v[k]));
		rcp_vec_push(out, rcp_xstrdup(eq + 1));
		rcp_vec_pushn(out, "=", 1);
	}
out:
	rcp_vec_free(&words);
	return ret;
}

static void rcp_instr_clear(struct recipe_instr *in);

/* newNodeFromLine: one instruction from its joined line. */
static int rcp_make_instr(struct rcp_parser *p, const char *line, struct rcp_loc loc, int depth,
			  struct recipe_instr *in)
{
	size_t n = strlen(line), lead = rcp_space_prefix(line, n), kw_end, rest, end;
	const char *s = line + lead;
	struct rcp_vec flags = {0}, args = {0};
	int ret = 0;

	n = rcp_trim_right_len(s, n - lead);
	memset(in, 0, sizeof(*in));
	in->line = in->end_line = loc.line;
	in->original = rcp_xstrdup(line);

	kw_end = 0;
	while (kw_end < n && !rcp_is_ws(s[kw_end]))
		kw_end++;
	in->keyword = rcp_xstrndup(s, kw_end);
	in->kind = rcp_kind_of(in->keyword);
	rest = kw_end;
	while (rest < n && rcp_is_ws(s[rest]))
		rest++;
	if (rest < n)
		rest += rcp_extract_flags(s + rest, n - rest, &flags);
	/* strings.TrimSpace of what follows the flags */
	rest += rcp_space_prefix(s + rest, n - rest);
	end = rest + rcp_trim_right_len(s + rest, n - rest);
	const char *a = s + rest;
	size_t an = end - rest;

	switch (in->kind) {
	case RECIPE_ADD:
	case RECIPE_COPY:
	case RECIPE_VOLUME:
	case RECIPE_RUN:
	case RECIPE_CMD:
	case RECIPE_ENTRYPOINT:
	case RECIPE_SHELL: {
		bool to_list =
		    in->kind == RECIPE_ADD || in->kind == RECIPE_COPY || in->kind == RECIPE_VOLUME;
		if (rcp_maybe_json(a, an, to_list, &args, &in->json) < 0)
			ret = rcp_error(p->err, loc.line, loc.column,
					"%s: when using JSON array syntax, arrays must be "
					"comprised of strings only",
					recipe_kind_name(in->kind));
		break;
	}
	case RECIPE_FROM:
	case RECIPE_EXPOSE:
		rcp_split_ws(a, an, &args);
		break;
	case RECIPE_ENV:
	case RECIPE_LABEL:
		ret = rcp_name_val(p, recipe_kind_name(in->kind), a, an, loc, &args);
		break;
	case RECIPE_ARG:
		rcp_parse_words(a, an, p->escape, &args);
		break;
	case RECIPE_MAINTAINER:
	case RECIPE_STOPSIGNAL:
	case RECIPE_USER:
	case RECIPE_WORKDIR:
	case RECIPE_UNKNOWN:
		if (an)
			rcp_vec_pushn(&args, a, an);
		break;
	case RECIPE_HEALTHCHECK: {
		size_t sep = 0, next;
		while (sep < an && !rcp_is_byte_space(a[sep]))
			sep++;
		next = sep;
		while (next < an && rcp_is_byte_space(a[next]))
			next++;
		if (sep == 0)
			break;
		rcp_vec_pushn(&args, a, sep);
		if (rcp_maybe_json(a + next, an - next, false, &args, &in->json) < 0)
			ret = rcp_error(p->err, loc.line, loc.column,
					"HEALTHCHECK: when using JSON array syntax, arrays must be "
					"comprised of strings only");
		break;
	}
	case RECIPE_ONBUILD: {
		char *sub;
		if (an == 0)
			break;
		if (depth >= RCP_MAX_ONBUILD_DEPTH) {
			ret = rcp_error(p->err, loc.line, loc.column,
					"ONBUILD instructions nested too deeply");
			break;
		}
		sub = rcp_xstrndup(a, an);
		in->sub = rcp_xmalloc(sizeof(*in->sub));
		ret = rcp_make_instr(p, sub, loc, depth + 1, in->sub);
		free(sub);
		break;
	}
	}
	in->flags = rcp_vec_steal(&flags);
	in->args = rcp_vec_steal(&args);
	if (ret < 0)
		rcp_instr_clear(in);
	return ret;
}

/* --- heredocs ------------------------------------------------------------------ */

/* Matches `^(\d*)<<(-?)([^<]*)$`; returns the third group or NULL. */
static const char *rcp_heredoc_word(const char *w, bool *chomp)
{
	while (*w >= '0' && *w <= '9')
		w++;
	if (strncmp(w, "<<", 2) != 0)
		return NULL;
	w += 2;
	*chomp = *w == '-';
	if (*chomp)
		w++;
	if (strchr(w, '<'))
		return NULL;
	return w;
}

static size_t rcp_count_quotes(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += *s == '\'' || *s == '"';
	return n;
}

/* heredocFromMatch: the delimiter of one `<<WORD`; *name is NULL when the word does
 * not make a heredoc. */
static int rcp_heredoc_from_word(const char *rest, char **name, bool *expand, char **emsg)
{
	struct rcp_shell_opts o = {.escape = '\\', .skip_unset = true};
	char **words = NULL, **raw = NULL;
	size_t n = 0, nraw = 0;
	int ret = 0;

	*name = NULL;
	if (!*rest)
		return 0;
	if (rcp_shell_process(rest, &o, NULL, NULL, NULL, &words, emsg) < 0)
		return -1;
	while (words[n])
		n++;
	if (n != 1)
		goto out;
	o.raw_quotes = true;
	if (rcp_shell_process(rest, &o, NULL, NULL, NULL, &raw, emsg) < 0) {
		ret = -1;
		goto out;
	}
	while (raw[nraw])
		nraw++;
	if (nraw != n) {
		*emsg = rcp_xasprintf(
		    "internal lexing of heredoc produced inconsistent results: %s", rest);
		ret = -1;
		goto out;
	}
	/* A quoted delimiter (any part of it) turns expansion off. */
	*expand = rcp_count_quotes(words[0]) == rcp_count_quotes(raw[0]);
	*name = words[0];
	words[0] = rcp_xstrdup("");
out:
	recipe_strv_free(words);
	recipe_strv_free(raw);
	return ret;
}

static bool rcp_can_have_heredoc(const struct recipe_instr *in)
{
	if (in->kind == RECIPE_ONBUILD && in->sub)
		in = in->sub;
	return (in->kind == RECIPE_RUN || in->kind == RECIPE_COPY || in->kind == RECIPE_ADD) &&
	       !in->json;
}

static int rcp_read_heredocs(struct rcp_parser *p, const char *line, struct recipe_instr *in,
			     int start)
{
	struct rcp_shell_opts o = {
	    .escape = '\\', .raw_quotes = true, .raw_escapes = true, .skip_unset = true};
	char **words = NULL, *emsg = NULL;
	size_t cap = 0;

	if (!rcp_can_have_heredoc(in) || !strstr(line, "<<"))
		return 0;
	if (rcp_shell_process(line, &o, NULL, NULL, NULL, &words, &emsg) < 0) {
		free(emsg); /* as buildkit: a line the lexer rejects has no heredocs */
		return 0;
	}
	for (char **w = words; *w; w++) {
		struct recipe_heredoc h = {0};
		const char *rest = rcp_heredoc_word(*w, &h.chomp);
		struct rcp_buf content = {0};
		bool terminated = false;
		const char *s;
		size_t n;

		if (!rest)
			continue;
		if (rcp_heredoc_from_word(rest, &h.name, &h.expand, &emsg) < 0) {
			recipe_strv_free(words);
			rcp_error(p->err, start, 0, "%s", emsg);
			free(emsg);
			return -EINVAL;
		}
		if (!h.name)
			continue;
		while (rcp_next_line(p, &s, &n)) {
			size_t t = rcp_trim_newline(s, n), tabs = 0;
			if (h.chomp)
				while (tabs < t && s[tabs] == '\t')
					tabs++;
			if (t - tabs == strlen(h.name) && memcmp(s + tabs, h.name, t - tabs) == 0) {
				terminated = true;
				break;
			}
			if (memchr(s, '\0', n)) {
				free(h.name);
				rcp_buf_free(&content);
				recipe_strv_free(words);
				return rcp_error(p->err, p->line, 0,
						 "the recipe contains a NUL byte");
			}
			/* The body as the command will see it: `<<-` strips leading tabs,
			 * and CRLF line endings become LF. */
			rcp_buf_add(&content, s + tabs, t - tabs);
			if (t < n)
				rcp_buf_addc(&content, '\n');
		}
		if (!terminated) {
			rcp_error(p->err, start, 0, "unterminated heredoc %s", h.name);
			free(h.name);
			rcp_buf_free(&content);
			recipe_strv_free(words);
			return -EINVAL;
		}
		h.content = rcp_buf_steal(&content);
		if (in->n_heredocs == cap) {
			/* geometric: a line may hold millions of <<A */
			cap = cap ? cap * 2 : 4;
			in->heredocs = rcp_xrealloc(in->heredocs, cap * sizeof(h));
		}
		in->heredocs[in->n_heredocs++] = h;
	}
	recipe_strv_free(words);
	return 0;
}

/* --- argument checks (buildkit's instructions package) ------------------------- */

static size_t rcp_strv_len(char **v)
{
	size_t n = 0;
	while (v && v[n])
		n++;
	return n;
}

static bool rcp_valid_stage_name(const char *s)
{
	if (!(*s >= 'a' && *s <= 'z'))
		return false;
	for (s++; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' ||
		      *s == '_' || *s == '.'))
			return false;
	return true;
}

static int rcp_check_instr(const struct recipe_instr *in, int column, struct recipe_error *err)
{
	size_t n = rcp_strv_len(in->args);
	const char *k = recipe_kind_name(in->kind);
	bool dummy;

#define RCP_FAIL(...) return rcp_error(err, in->line, column, __VA_ARGS__)
	switch (in->kind) {
	case RECIPE_UNKNOWN:
		RCP_FAIL("unknown instruction: %s", in->keyword);
	case RECIPE_ENV:
	case RECIPE_LABEL:
		if (n == 0)
			RCP_FAIL("%s requires at least one argument", k);
		for (size_t i = 0; i + 2 < n; i += 3)
			if (!in->args[i][0])
				RCP_FAIL("%s names can not be blank", k);
		break;
	case RECIPE_MAINTAINER:
	case RECIPE_WORKDIR:
	case RECIPE_USER:
	case RECIPE_STOPSIGNAL:
		if (n != 1)
			RCP_FAIL("%s requires exactly one argument", k);
		break;
	case RECIPE_ADD:
	case RECIPE_COPY:
		if (n < 2)
			RCP_FAIL("%s requires at least two arguments, but only one was provided. "
				 "Destination could not be determined",
				 k);
		if (rcp_heredoc_word(in->args[n - 1], &dummy) &&
		    *rcp_heredoc_word(in->args[n - 1], &dummy))
			RCP_FAIL("%s cannot accept a heredoc as a destination", k);
		break;
	case RECIPE_FROM:
		if (n == 3 && strcasecmp(in->args[1], "as") == 0) {
			char *name = rcp_xstrdup(in->args[2]);
			bool ok;
			for (char *c = name; *c; c++)
				*c = (char)tolower((unsigned char)*c);
			ok = rcp_valid_stage_name(name);
			free(name);
			if (!ok)
				RCP_FAIL("invalid name for build stage: \"%s\", name can't start "
					 "with a number or contain symbols",
					 in->args[2]);
		} else if (n != 1) {
			RCP_FAIL("FROM requires either one or three arguments");
		}
		break;
	case RECIPE_ONBUILD:
		if (!in->sub)
			RCP_FAIL("ONBUILD requires at least one argument");
		if (in->sub->kind == RECIPE_ONBUILD)
			RCP_FAIL("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
		if (in->sub->kind == RECIPE_FROM || in->sub->kind == RECIPE_MAINTAINER)
			RCP_FAIL("%s isn't allowed as an ONBUILD trigger",
				 recipe_kind_name(in->sub->kind));
		break;
	case RECIPE_HEALTHCHECK:
		if (n == 0)
			RCP_FAIL("HEALTHCHECK requires at least one argument");
		if (strcasecmp(in->args[0], "NONE") == 0) {
			if (n != 1)
				RCP_FAIL("HEALTHCHECK NONE takes no arguments");
		} else if (strcasecmp(in->args[0], "CMD") == 0) {
			if (n < 2)
				RCP_FAIL("Missing command after HEALTHCHECK CMD");
		} else {
			RCP_FAIL("Unknown type \"%s\" in HEALTHCHECK (try CMD)", in->args[0]);
		}
		break;
	case RECIPE_EXPOSE:
	case RECIPE_ARG:
	case RECIPE_VOLUME:
	case RECIPE_SHELL:
		if (n == 0)
			RCP_FAIL("%s requires at least one argument", k);
		for (size_t i = 0; in->kind == RECIPE_VOLUME && i < n; i++) {
			const char *v = in->args[i];
			if (rcp_space_prefix(v, strlen(v)) == strlen(v))
				RCP_FAIL("VOLUME specified can not be an empty string");
		}
		for (size_t i = 0; in->kind == RECIPE_ARG && i < n; i++)
			if (in->args[i][0] == '=')
				RCP_FAIL("ARG names can not be blank");
		if (in->kind == RECIPE_SHELL && !in->json)
			RCP_FAIL("SHELL requires the arguments to be in JSON form");
		break;
	case RECIPE_RUN:
	case RECIPE_CMD:
	case RECIPE_ENTRYPOINT:
		break;
	}
#undef RCP_FAIL
	return 0;
}

static int rcp_check(const struct recipe *r, const int *columns, struct recipe_error *err)
{
	bool stage = false;
	for (size_t i = 0; i < r->n_instrs; i++) {
		const struct recipe_instr *in = &r->instrs[i];
		int ret = rcp_check_instr(in, columns[i], err);
		if (ret < 0)
			return ret;
		if (in->kind == RECIPE_FROM)
			stage = true;
		else if (!stage && in->kind != RECIPE_ARG)
			return rcp_error(err, in->line, columns[i],
					 "no build stage in current context: %s before the first "
					 "FROM",
					 in->keyword);
	}
	return 0;
}

/* --- the whole recipe ---------------------------------------------------------- */

static void rcp_instr_clear(struct recipe_instr *in)
{
	free(in->keyword);
	free(in->original);
	recipe_strv_free(in->flags);
	recipe_strv_free(in->args);
	if (in->sub) {
		rcp_instr_clear(in->sub);
		free(in->sub);
	}
	for (size_t i = 0; i < in->n_heredocs; i++) {
		free(in->heredocs[i].name);
		free(in->heredocs[i].content);
	}
	free(in->heredocs);
	memset(in, 0, sizeof(*in));
}

void recipe_free(struct recipe *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_instrs; i++)
		rcp_instr_clear(&r->instrs[i]);
	free(r->instrs);
	free(r->syntax);
	free(r->check);
	free(r);
}

static int rcp_no_nul(struct rcp_parser *p, const char *s, size_t n)
{
	if (memchr(s, '\0', n))
		return rcp_error(p->err, p->line, (int)((const char *)memchr(s, '\0', n) - s) + 1,
				 "the recipe contains a NUL byte");
	return 0;
}

int recipe_parse_ex(const char *buf, size_t len, unsigned flags, struct recipe **out,
		    struct recipe_error *err)
{
	struct rcp_parser p = {.buf = buf, .len = len, .escape = '\\', .err = err};
	struct recipe *r = rcp_xmalloc(sizeof(*r));
	struct rcp_buf line = {0};
	int *columns = NULL;
	size_t cap = 0;
	const char *s;
	size_t n;
	int ret = 0;

	memset(r, 0, sizeof(*r));
	*out = NULL;
	if (!buf && len) {
		free(r);
		return rcp_error(err, 0, 0, "no recipe text");
	}
	if (len > RECIPE_MAX_SIZE) {
		free(r);
		return rcp_error(err, 0, 0, "the recipe is larger than %zu MiB",
				 RECIPE_MAX_SIZE >> 20);
	}
	while (rcp_next_line(&p, &s, &n)) {
		size_t t, lead, cn;
		int start = p.line, column = 1;
		bool cont;
		struct recipe_instr in;

		if ((ret = rcp_no_nul(&p, s, n)) < 0)
			goto fail;
		t = rcp_trim_newline(s, n);
		lead = rcp_space_prefix(s, t);
		for (size_t i = 0; i < lead;) {
			int32_t ch;
			i += rcp_utf8_decode(s + i, lead - i, &ch);
			column++;
		}
		if ((ret = rcp_directive(&p, s + lead, t - lead)) < 0)
			goto fail;
		if (rcp_is_comment(s + lead, t - lead))
			t = lead;
		cont = rcp_trim_continuation(p.escape, s + lead, t - lead, &cn);
		if (!cont && cn == 0)
			continue;
		rcp_buf_reset(&line);
		rcp_buf_add(&line, s + lead, cn);
		while (cont && rcp_next_line(&p, &s, &n)) {
			if ((ret = rcp_no_nul(&p, s, n)) < 0)
				goto fail;
			t = rcp_trim_newline(s, n);
			/* Comment lines and blank lines inside a continuation are skipped. */
			if (rcp_is_comment(s, t) || rcp_space_prefix(s, t) == t)
				continue;
			cont = rcp_trim_continuation(p.escape, s, t, &cn);
			rcp_buf_add(&line, s, cn);
		}

		if ((ret = rcp_make_instr(&p, line.s, (struct rcp_loc){start, column}, 0, &in)) <
		    0) {
			goto fail;
		}
		if ((ret = rcp_read_heredocs(&p, line.s, &in, start)) < 0) {
			rcp_instr_clear(&in);
			goto fail;
		}
		in.end_line = p.line;
		if (in.sub)
			in.sub->end_line = p.line;
		if (r->n_instrs == cap) {
			cap = cap ? cap * 2 : 16;
			r->instrs = rcp_xrealloc(r->instrs, cap * sizeof(*r->instrs));
			columns = rcp_xrealloc(columns, cap * sizeof(*columns));
		}
		columns[r->n_instrs] = column;
		r->instrs[r->n_instrs++] = in;
	}
	if (r->n_instrs == 0) {
		ret = rcp_error(err, p.line, 0, "file with no instructions");
		goto fail;
	}
	r->escape = p.escape;
	r->syntax = p.syntax;
	r->check = p.check;
	p.syntax = p.check = NULL;
	if (!(flags & RECIPE_PARSE_TREE_ONLY) && (ret = rcp_check(r, columns, err)) < 0)
		goto fail;
	free(columns);
	rcp_buf_free(&line);
	*out = r;
	return 0;
fail:
	free(columns);
	free(p.syntax);
	free(p.check);
	rcp_buf_free(&line);
	recipe_free(r);
	return ret < 0 ? ret : -EINVAL;
}

int recipe_parse(const char *buf, size_t len, struct recipe **out, struct recipe_error *err)
{
	return recipe_parse_ex(buf, len, 0, out, err);
}
