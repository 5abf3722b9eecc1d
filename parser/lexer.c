/* The small pieces every part of the recipe language needs: strings, vectors,
 * UTF-8 and white space as buildkit (Go's unicode package) sees them, errors. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void *rcp_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		abort();
	return p;
}

void *rcp_xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		abort();
	return p;
}

char *rcp_xstrndup(const char *s, size_t n)
{
	char *p = rcp_xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *rcp_xstrdup(const char *s)
{
	return rcp_xstrndup(s, strlen(s));
}

char *rcp_xvasprintf(const char *fmt, va_list ap)
{
	char *s;
	if (vasprintf(&s, fmt, ap) < 0)
		abort();
	return s;
}

char *rcp_xasprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = rcp_xvasprintf(fmt, ap);
	va_end(ap);
	return s;
}

void rcp_buf_add(struct rcp_buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 32;
		while (cap < b->len + n + 1)
			cap *= 2;
		b->s = rcp_xrealloc(b->s, cap);
		b->cap = cap;
	}
	if (n)
		memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

void rcp_buf_adds(struct rcp_buf *b, const char *s)
{
	rcp_buf_add(b, s, strlen(s));
}

void rcp_buf_addc(struct rcp_buf *b, char c)
{
	rcp_buf_add(b, &c, 1);
}

void rcp_buf_addrune(struct rcp_buf *b, int32_t r)
{
	char u[4];
	if (r >= RCP_RAW_BASE) {
		rcp_buf_addc(b, (char)(r - RCP_RAW_BASE));
	} else if (r < 0x80) {
		rcp_buf_addc(b, (char)r);
	} else if (r < 0x800) {
		u[0] = (char)(0xC0 | (r >> 6));
		u[1] = (char)(0x80 | (r & 0x3F));
		rcp_buf_add(b, u, 2);
	} else if (r < 0x10000) {
		u[0] = (char)(0xE0 | (r >> 12));
		u[1] = (char)(0x80 | ((r >> 6) & 0x3F));
		u[2] = (char)(0x80 | (r & 0x3F));
		rcp_buf_add(b, u, 3);
	} else {
		u[0] = (char)(0xF0 | (r >> 18));
		u[1] = (char)(0x80 | ((r >> 12) & 0x3F));
		u[2] = (char)(0x80 | ((r >> 6) & 0x3F));
		u[3] = (char)(0x80 | (r & 0x3F));
		rcp_buf_add(b, u, 4);
	}
}

char *rcp_buf_steal(struct rcp_buf *b)
{
	char *s = b->s ? b->s : rcp_xstrdup("");
	b->s = NULL;
	b->len = b->cap = 0;
	return s;
}

void rcp_buf_reset(struct rcp_buf *b)
{
	b->len = 0;
	if (b->s)
		b->s[0] = '\0';
}

void rcp_buf_free(struct rcp_buf *b)
{
	free(b->s);
	b->s = NULL;
	b->len = b->cap = 0;
}

void rcp_vec_push(struct rcp_vec *v, char *s)
{
	if (v->n + 2 > v->cap) {
		v->cap = v->cap ? v->cap * 2 : 8;
		v->v = rcp_xrealloc(v->v, v->cap * sizeof(*v->v));
	}
	v->v[v->n++] = s;
	v->v[v->n] = NULL;
}

void rcp_vec_pushn(struct rcp_vec *v, const char *s, size_t n)
{
	rcp_vec_push(v, rcp_xstrndup(s, n));
}

char **rcp_vec_steal(struct rcp_vec *v)
{
	char **r = v->v;
	if (!r) {
		r = rcp_xmalloc(sizeof(*r));
		r[0] = NULL;
	}
	v->v = NULL;
	v->n = v->cap = 0;
	return r;
}

void rcp_vec_free(struct rcp_vec *v)
{
	for (size_t i = 0; i < v->n; i++)
		free(v->v[i]);
	free(v->v);
	v->v = NULL;
	v->n = v->cap = 0;
}

void recipe_strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

size_t rcp_utf8_decode(const char *str, size_t len, int32_t *r)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t n;
	int32_t c, min;

	if (len == 0) {
		*r = RCP_EOF;
		return 0;
	}
	if (s[0] < 0x80) {
		*r = s[0];
		return 1;
	} else if ((s[0] & 0xE0) == 0xC0) {
		n = 2, c = s[0] & 0x1F, min = 0x80;
	} else if ((s[0] & 0xF0) == 0xE0) {
		n = 3, c = s[0] & 0x0F, min = 0x800;
	} else if ((s[0] & 0xF8) == 0xF0) {
		n = 4, c = s[0] & 0x07, min = 0x10000;
	} else {
		goto raw;
	}
	if (n > len)
		goto raw;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			goto raw;
		c = (c << 6) | (s[i] & 0x3F);
	}
	if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
		goto raw;
	*r = c;
	return n;
raw:
	*r = RCP_RAW_BYTE(s[0]);
	return 1;
}

size_t rcp_utf8_decode_go(const char *s, size_t len, int32_t *r)
{
	size_t n = rcp_utf8_decode(s, len, r);
	if (*r >= RCP_RAW_BASE)
		*r = 0xFFFD;
	return n;
}

size_t rcp_utf8_prefix(const char *s, size_t max)
{
	size_t len = strnlen(s, max + 4), i = 0;
	while (i < len) {
		int32_t r;
		size_t n = rcp_utf8_decode(s + i, len - i, &r);
		if (i + n > max)
			break;
		i += n;
	}
	return i;
}

bool rcp_is_space(int32_t r)
{
	switch (r) {
	case '\t':
	case '\n':
	case '\v':
	case '\f':
	case '\r':
	case ' ':
	case 0x85:
	case 0xA0:
	case 0x1680:
	case 0x2028:
	case 0x2029:
	case 0x202F:
	case 0x205F:
	case 0x3000:
		return true;
	}
	return r >= 0x2000 && r <= 0x200A;
}

size_t rcp_space_prefix(const char *s, size_t len)
{
	size_t i = 0;
	while (i < len) {
		int32_t r;
		size_t n = rcp_utf8_decode(s + i, len - i, &r);
		if (!rcp_is_space(r))
			break;
		i += n;
	}
	return i;
}

size_t rcp_trim_right_len(const char *s, size_t len)
{
	/* Walk forward: UTF-8 cannot be decoded backwards reliably when invalid. */
	size_t i = 0, end = 0;
	while (i < len) {
		int32_t r;
		size_t n = rcp_utf8_decode(s + i, len - i, &r);
		i += n;
		if (!rcp_is_space(r))
			end = i;
	}
	return end;
}

int rcp_error(struct recipe_error *err, int line, int column, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return -EINVAL;
	va_start(ap, fmt);
	char *msg = rcp_xvasprintf(fmt, ap);
	va_end(ap);
	free(err->msg);
	err->msg = msg;
	err->line = line;
	err->column = column;
	return -EINVAL;
}

void recipe_error_clear(struct recipe_error *e)
{
	if (!e)
		return;
	free(e->msg);
	e->msg = NULL;
	e->line = 0;
	e->column = 0;
}
