/* A very small TAP producer for the unit tests: ok(cond, name...), is_str, is_int,
 * done_testing(). Prints "ok N - name" or "not ok N - name" with the values that
 * differed, and the plan at the end; the exit status is non-zero when anything failed. */
#ifndef CAIRN_TAP_H
#define CAIRN_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_n, tap_failed;

__attribute__((format(printf, 2, 3))) static int ok(int cond, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("%s %d - ", cond ? "ok" : "not ok", ++tap_n);
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	if (!cond)
		tap_failed++;
	fflush(stdout);
	return cond;
}

/* Prints a value on one TAP comment line, its newlines written as \n, so a value that
 * spans lines cannot break the TAP stream. */
__attribute__((unused)) static void tap_show(const char *label, const char *s)
{
	printf("#   %s '", label);
	for (const char *p = s ? s : "(null)"; *p; p++)
		if (*p == '\n')
			printf("\\n");
		else
			putchar(*p);
	printf("'\n");
}

#define is_str(got, want, ...)                                                                     \
	do {                                                                                       \
		const char *_g = (got), *_w = (want);                                              \
		if (!ok(_g && _w ? strcmp(_g, _w) == 0 : _g == _w, __VA_ARGS__)) {                 \
			tap_show("got: ", _g);                                                     \
			tap_show("want:", _w);                                                     \
		}                                                                                  \
	} while (0)

#define is_int(got, want, ...)                                                                     \
	do {                                                                                       \
		long long _g = (long long)(got), _w = (long long)(want);                           \
		if (!ok(_g == _w, __VA_ARGS__))                                                    \
			printf("#   got:  %lld\n#   want: %lld\n", _g, _w);                        \
	} while (0)

__attribute__((format(printf, 1, 2))) static void diag(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *msg = NULL;
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	printf("# ");
	for (const char *p = msg ? msg : ""; *p; p++)
		if (*p == '\n' && p[1])
			printf("\n# ");
		else if (*p != '\n')
			putchar(*p);
	printf("\n");
	free(msg);
}

static int done_testing(void)
{
	printf("1..%d\n", tap_n);
	if (tap_failed)
		printf("# %d of %d failed\n", tap_failed, tap_n);
	return tap_failed ? 1 : 0;
}

#endif
