/* Go's time.Duration as docker reads and prints HEALTHCHECK's flags. */
#include "internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define NS_PER_US INT64_C(1000)
#define NS_PER_MS INT64_C(1000000)
#define NS_PER_S INT64_C(1000000000)

/* Go's time.ParseDuration, which docker uses for HEALTHCHECK's flags: "1m30s",
 * "1.5h", "500ms", "-2s", "0"; units ns, us, µs, ms, s, m, h. On error returns
 * -EINVAL and sets *why (Go's words; caller frees). */
int builder_duration_parse(const char *orig, int64_t *out, char **why)
{
	static const struct {
		const char *name;
		uint64_t ns;
	} units[] = {
	    {"ns", 1},
	    {"us", NS_PER_US},
	    {"\xc2\xb5s", NS_PER_US}, /* U+00B5 micro sign */
	    {"\xce\xbcs", NS_PER_US}, /* U+03BC Greek mu */
	    {"ms", NS_PER_MS},
	    {"s", NS_PER_S},
	    {"m", 60 * NS_PER_S},
	    {"h", 3600 * NS_PER_S},
	};
	const uint64_t limit = UINT64_C(1) << 63;
	const char *s = orig;
	bool neg = false;
	uint64_t d = 0;
	if (*s == '-' || *s == '+')
		neg = *s++ == '-';
	if (!strcmp(s, "0")) {
		*out = 0;
		return 0;
	}
	if (!*s)
		goto invalid;
	while (*s) {
		uint64_t v = 0, f = 0;
		double scale = 1;
		if (!(*s == '.' || isdigit((unsigned char)*s)))
			goto invalid;
		const char *p = s;
		for (; isdigit((unsigned char)*s); s++) {
			if (v > limit / 10)
				goto invalid;
			v = v * 10 + (uint64_t)(*s - '0');
			if (v > limit)
				goto invalid;
		}
		bool pre = s != p, post = false;
		if (*s == '.') {
			bool overflow = false;
			for (p = ++s; isdigit((unsigned char)*s); s++) {
				/* the fraction only loses precision, as Go's leadingFraction */
				if (overflow || f > (limit - 1) / 10) {
					overflow = true;
					continue;
				}
				f = f * 10 + (uint64_t)(*s - '0');
				scale *= 10;
			}
			post = s != p;
		}
		if (!pre && !post)
			goto invalid;
		size_t un = 0;
		while (s[un] && s[un] != '.' && !isdigit((unsigned char)s[un]))
			un++;
		if (un == 0) {
			*why = xasprintf("missing unit in duration \"%s\"", orig);
			return -EINVAL;
		}
		uint64_t unit = 0;
		for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
			if (strlen(units[i].name) == un && !strncmp(units[i].name, s, un))
				unit = units[i].ns;
		if (!unit) {
			*why =
			    xasprintf("unknown unit \"%.*s\" in duration \"%s\"", (int)un, s, orig);
			return -EINVAL;
		}
		s += un;
		if (v > limit / unit)
			goto invalid;
		v *= unit;
		if (f > 0) {
			v += (uint64_t)((double)f * ((double)unit / scale));
			if (v > limit)
				goto invalid;
		}
		d += v;
		if (d > limit)
			goto invalid;
	}
	if (!neg && d > limit - 1)
		goto invalid;
	*out = neg ? (int64_t)(0 - d) : (int64_t)d;
	return 0;
invalid:
	*why = xasprintf("invalid duration \"%s\"", orig);
	return -EINVAL;
}

/* Appends the fraction v % 10^prec as ".ddd" without trailing zeros (none when it
 * is 0) and returns v / 10^prec: Go's fmtFrac. */
static uint64_t go_frac(struct strbuf *sb, uint64_t v, int prec)
{
	char digits[16];
	int n = 0;
	bool print = false;
	for (int i = 0; i < prec; i++) {
		int digit = (int)(v % 10);
		print = print || digit != 0;
		if (print)
			digits[n++] = (char)('0' + digit);
		v /= 10;
	}
	if (print) {
		strbuf_addch(sb, '.');
		while (n > 0)
			strbuf_addch(sb, digits[--n]);
	}
	return v;
}

/* Go's Duration.String: "1m30s", "1.5s", "500ms", "0s". Caller frees. */
char *builder_duration_string(int64_t d)
{
	struct strbuf sb = STRBUF_INIT;
	uint64_t u = d < 0 ? 0 - (uint64_t)d : (uint64_t)d;
	if (d < 0)
		strbuf_addch(&sb, '-');
	if (u == 0) {
		strbuf_addstr(&sb, "0s");
	} else if (u < (uint64_t)NS_PER_S) {
		int prec = u < (uint64_t)NS_PER_US ? 0 : u < (uint64_t)NS_PER_MS ? 3 : 6;
		struct strbuf frac = STRBUF_INIT;
		uint64_t whole = go_frac(&frac, u, prec);
		strbuf_addf(&sb, "%llu%s%s", (unsigned long long)whole, strbuf_str(&frac),
			    prec == 0	? "ns"
			    : prec == 3 ? "\xc2\xb5s"
					: "ms");
		strbuf_release(&frac);
	} else {
		struct strbuf frac = STRBUF_INIT;
		uint64_t secs = go_frac(&frac, u, 9);
		uint64_t h = secs / 3600, m = secs / 60 % 60;
		if (h)
			strbuf_addf(&sb, "%lluh", (unsigned long long)h);
		if (h || m)
			strbuf_addf(&sb, "%llum", (unsigned long long)m);
		strbuf_addf(&sb, "%llu%ss", (unsigned long long)(secs % 60), strbuf_str(&frac));
		strbuf_release(&frac);
	}
	return strbuf_detach(&sb);
}
