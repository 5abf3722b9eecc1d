/* Just enough JSON for the exec form (`CMD ["a", "b"]`), decoded as Go's
 * encoding/json does: the whole text must be valid JSON, and only then is it a
 * problem that an element is not a string. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define RCP_JSON_MAX_DEPTH 10000 /* as Go's decoder */

struct jsn {
	const char *s;
	size_t len, pos;
	int depth;
};

static void jsn_ws(struct jsn *j)
{
	while (j->pos < j->len && strchr(" \t\r\n", j->s[j->pos]) && j->s[j->pos])
		j->pos++;
}

static int jsn_hex4(const char *s)
{
	int v = 0;
	for (int i = 0; i < 4; i++) {
		char c = s[i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -1;
	}
	return v;
}

static void jsn_put_rune(struct rcp_buf *b, int32_t r)
{
	if (r == 0)
		rcp_buf_add(b, "\xC0\x80", 2);
	else
		rcp_buf_addrune(b, r);
}

/* A string at j->pos (on the opening quote); decodes into b when b is not NULL. */
static bool jsn_string(struct jsn *j, struct rcp_buf *b)
{
	j->pos++;
	while (j->pos < j->len) {
		unsigned char c = (unsigned char)j->s[j->pos];
		if (c == '"') {
			j->pos++;
			return true;
		}
		if (c < 0x20)
			return false;
		if (c == '\\') {
			char e;
			if (j->pos + 1 >= j->len)
				return false;
			e = j->s[j->pos + 1];
			j->pos += 2;
			switch (e) {
			case '"':
			case '\\':
			case '/':
				if (b)
					rcp_buf_addc(b, e);
				break;
			case 'b':
				if (b)
					rcp_buf_addc(b, '\b');
				break;
			case 'f':
				if (b)
					rcp_buf_addc(b, '\f');
				break;
			case 'n':
				if (b)
					rcp_buf_addc(b, '\n');
				break;
			case 'r':
				if (b)
					rcp_buf_addc(b, '\r');
				break;
			case 't':
				if (b)
					rcp_buf_addc(b, '\t');
				break;
			case 'u': {
				int32_t r;
				if (j->pos + 4 > j->len || (r = jsn_hex4(j->s + j->pos)) < 0)
					return false;
				j->pos += 4;
				if (r >= 0xD800 && r < 0xDC00 && j->pos + 6 <= j->len &&
				    j->s[j->pos] == '\\' && j->s[j->pos + 1] == 'u') {
					int lo = jsn_hex4(j->s + j->pos + 2);
					if (lo >= 0xDC00 && lo < 0xE000) {
						r = 0x10000 + ((r - 0xD800) << 10) + (lo - 0xDC00);
						j->pos += 6;
					}
				}
				if (r >= 0xD800 && r < 0xE000)
					r = 0xFFFD; /* a lone surrogate, as Go */
				if (b)
					jsn_put_rune(b, r);
				break;
			}
			default:
				return false;
			}
			continue;
		}
		{
			int32_t r;
			size_t n = rcp_utf8_decode(j->s + j->pos, j->len - j->pos, &r);
			if (b) {
				if (r >= RCP_RAW_BASE)
					rcp_buf_addrune(b, 0xFFFD); /* invalid UTF-8, as Go */
				else
					rcp_buf_add(b, j->s + j->pos, n);
			}
			j->pos += n;
		}
	}
	return false;
}

static bool jsn_number(struct jsn *j)
{
	const char *s = j->s;
	size_t p = j->pos, n = j->len;

	if (p < n && s[p] == '-')
		p++;
	if (p < n && s[p] == '0') {
		p++;
	} else if (p < n && s[p] >= '1' && s[p] <= '9') {
		while (p < n && s[p] >= '0' && s[p] <= '9')
			p++;
	} else {
		return false;
	}
	if (p < n && s[p] == '.') {
		p++;
		if (!(p < n && s[p] >= '0' && s[p] <= '9'))
			return false;
		while (p < n && s[p] >= '0' && s[p] <= '9')
			p++;
	}
	if (p < n && (s[p] == 'e' || s[p] == 'E')) {
		p++;
		if (p < n && (s[p] == '+' || s[p] == '-'))
			p++;
		if (!(p < n && s[p] >= '0' && s[p] <= '9'))
			return false;
		while (p < n && s[p] >= '0' && s[p] <= '9')
			p++;
	}
	j->pos = p;
	return true;
}

static bool jsn_literal(struct jsn *j, const char *lit)
{
	size_t n = strlen(lit);
	if (j->len - j->pos < n || memcmp(j->s + j->pos, lit, n) != 0)
		return false;
	j->pos += n;
	return true;
}

/* Validates one value; when elems is not NULL (the top-level array), collects its
 * string elements and counts the others in *others. */
static bool jsn_value(struct jsn *j, struct rcp_vec *elems, int *others)
{
	char c;

	jsn_ws(j);
	if (j->pos >= j->len)
		return false;
	c = j->s[j->pos];
	if (c == '[' || c == '{') {
		char close = c == '[' ? ']' : '}';
		bool first = true;
		if (++j->depth > RCP_JSON_MAX_DEPTH)
			return false;
		j->pos++;
		for (;;) {
			jsn_ws(j);
			if (j->pos >= j->len)
				return false;
			if (j->s[j->pos] == close && first) {
				j->pos++;
				break;
			}
			if (c == '{') {
				if (j->s[j->pos] != '"' || !jsn_string(j, NULL))
					return false;
				jsn_ws(j);
				if (j->pos >= j->len || j->s[j->pos] != ':')
					return false;
				j->pos++;
				if (!jsn_value(j, NULL, NULL))
					return false;
			} else if (elems) {
				jsn_ws(j);
				if (j->pos < j->len && j->s[j->pos] == '"') {
					struct rcp_buf b = {0};
					if (!jsn_string(j, &b)) {
						rcp_buf_free(&b);
						return false;
					}
					rcp_vec_push(elems, rcp_buf_steal(&b));
				} else {
					if (!jsn_value(j, NULL, NULL))
						return false;
					(*others)++;
				}
			} else if (!jsn_value(j, NULL, NULL)) {
				return false;
			}
			first = false;
			jsn_ws(j);
			if (j->pos >= j->len)
				return false;
			if (j->s[j->pos] == ',') {
				j->pos++;
				jsn_ws(j);
				if (j->pos < j->len && j->s[j->pos] == close)
					return false; /* no trailing comma */
				continue;
			}
			if (j->s[j->pos] != close)
				return false;
			j->pos++;
			break;
		}
		j->depth--;
		return true;
	}
	if (c == '"')
		return jsn_string(j, NULL);
	if (c == 't')
		return jsn_literal(j, "true");
	if (c == 'f')
		return jsn_literal(j, "false");
	if (c == 'n')
		return jsn_literal(j, "null");
	return jsn_number(j);
}

int rcp_json_string_array(const char *src, size_t len, char ***out)
{
	size_t skip = rcp_space_prefix(src, len);
	struct jsn j = {src + skip, len - skip, 0, 0};
	struct rcp_vec elems = {0};
	int others = 0;

	if (j.len == 0 || j.s[0] != '[')
		return RCP_JSON_INVALID;
	if (!jsn_value(&j, &elems, &others)) {
		rcp_vec_free(&elems);
		return RCP_JSON_INVALID;
	}
	jsn_ws(&j);
	if (j.pos != j.len) {
		rcp_vec_free(&elems);
		return RCP_JSON_INVALID;
	}
	if (others) {
		rcp_vec_free(&elems);
		return RCP_JSON_NOT_STRINGS;
	}
	*out = rcp_vec_steal(&elems);
	return 0;
}
