/* Text: UTF-8 sequences, and an error shown under the line it is about. */
#include "util.h"

#include <stdlib.h>
#include <string.h>

size_t util_utf8_len(const unsigned char *s)
{
	size_t n;
	uint32_t c, min;
	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xE0) == 0xC0)
		n = 2, c = s[0] & 0x1F, min = 0x80;
	else if ((s[0] & 0xF0) == 0xE0)
		n = 3, c = s[0] & 0x0F, min = 0x800;
	else if ((s[0] & 0xF8) == 0xF0)
		n = 4, c = s[0] & 0x07, min = 0x10000;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3F);
	}
	if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
		return 0;
	return n;
}

char *util_source_line(const char *text, size_t len, int line)
{
	if (line <= 0 || !text)
		return NULL;
	const char *p = text, *end = text + len;
	for (int l = 1; l < line && p < end; l++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		p = nl ? nl + 1 : end;
	}
	if (p >= end)
		return NULL;
	const char *nl = memchr(p, '\n', (size_t)(end - p));
	size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
	if (n > 0 && p[n - 1] == '\r')
		n--;
	if (line == 1 && n >= 3 && !memcmp(p, "\xEF\xBB\xBF", 3))
		p += 3, n -= 3;
	return xstrndup(p, n);
}

/* The start of the character at or before s[i] (UTF-8 continuation bytes skipped). */
static size_t char_start(const unsigned char *s, size_t i)
{
	while (i > 0 && (s[i] & 0xC0) == 0x80)
		i--;
	return i;
}

char *util_located_message(const char *file, int line, int column, const char *line_text,
			   const char *msg)
{
	struct strbuf sb = STRBUF_INIT;
	if (line <= 0) {
		strbuf_addf(&sb, "%s: %s", file, msg);
		return strbuf_detach(&sb);
	}
	if (column > 0)
		strbuf_addf(&sb, "%s:%d:%d: %s", file, line, column, msg);
	else
		strbuf_addf(&sb, "%s:%d: %s", file, line, msg);
	if (!line_text)
		return strbuf_detach(&sb);
	/* the column's byte: columns count characters (UTF-8 sequences are one) */
	const unsigned char *u = (const unsigned char *)line_text;
	size_t n = strlen(line_text), at = 0;
	for (int c = 1; c < column && at < n; c++) {
		size_t k = util_utf8_len(u + at);
		at += k && at + k <= n ? k : 1;
	}
	/* a long line (a hostile recipe's may be megabytes) is shown as a window around
	 * the column, with "..." where it is cut */
	size_t from = 0, to = n;
	if (n > UTIL_SHOWN_LINE_MAX) {
		from =
		    at > UTIL_SHOWN_LINE_MAX / 2 ? char_start(u, at - UTIL_SHOWN_LINE_MAX / 2) : 0;
		to = from + UTIL_SHOWN_LINE_MAX < n ? char_start(u, from + UTIL_SHOWN_LINE_MAX) : n;
	}
	const char *before = from ? "..." : "";
	strbuf_addf(&sb, "\n    %s%.*s%s", before, (int)(to - from), line_text + from,
		    to < n ? "..." : "");
	if (column <= 0)
		return strbuf_detach(&sb);
	strbuf_addf(&sb, "\n    %s", from ? "   " : "");
	for (size_t i = from; i < at && i < to;) {
		strbuf_addch(&sb, u[i] == '\t' ? '\t' : ' ');
		size_t k = util_utf8_len(u + i);
		i += k && i + k <= n ? k : 1;
	}
	strbuf_addch(&sb, '^');
	return strbuf_detach(&sb);
}

char *util_source_error(const char *file, const char *text, size_t len, int line, int column,
			const char *msg)
{
	char *line_text = util_source_line(text, len, line);
	char *s = util_located_message(file, line, column, line_text, msg);
	free(line_text);
	return s;
}
