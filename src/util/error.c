/* Errors as values: what was being done to what, the errno, a kind, and where in a
 * recipe. */
#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static enum cairn_error_kind kind_of(int code, bool add_errno)
{
	switch (code) {
	case ENOENT:
		return CAIRN_ERR_NOT_FOUND;
	case EINTR:
		return CAIRN_ERR_INTERRUPTED;
	case EINVAL:
	case ENOTSUP:
	case E2BIG:
	case EBADMSG:
	case ERANGE:
	case ELOOP:
		return add_errno ? CAIRN_ERR_SYSTEM : CAIRN_ERR_INVALID;
	default:
		return CAIRN_ERR_SYSTEM;
	}
}

static void location_clear(struct cairn_location *loc)
{
	free(loc->file);
	free(loc->text);
	memset(loc, 0, sizeof *loc);
}

static int error_vset(struct cairn_error *err, int code, bool add_errno, const char *fmt,
		      va_list ap)
{
	if (code < 0)
		code = -code;
	if (code == 0)
		code = EIO;
	if (err) {
		char *msg = xvasprintf(fmt, ap);
		if (add_errno) {
			char *full = xasprintf("%s: %s", msg, strerror(code));
			free(msg);
			msg = full;
		}
		free(err->msg);
		err->msg = msg;
		err->code = code;
		err->kind = kind_of(code, add_errno);
		location_clear(&err->loc);
	}
	return -code;
}

int cairn_error_set(struct cairn_error *err, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = error_vset(err, code, false, fmt, ap);
	va_end(ap);
	return r;
}

int cairn_error_errno(struct cairn_error *err, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = error_vset(err, code, true, fmt, ap);
	va_end(ap);
	return r;
}

int cairn_error_wrap(struct cairn_error *err, const char *fmt, ...)
{
	if (!err)
		return -EIO;
	int code = err->code ? err->code : EIO;
	va_list ap;
	va_start(ap, fmt);
	char *ctx = xvasprintf(fmt, ap);
	va_end(ap);
	char *msg = xasprintf("%s: %s", ctx, err->msg ? err->msg : strerror(code));
	free(ctx);
	free(err->msg);
	err->msg = msg;
	err->code = code;
	if (!err->kind)
		err->kind = kind_of(code, false);
	return -code;
}

int cairn_error_kind(struct cairn_error *err, enum cairn_error_kind kind)
{
	if (!err)
		return -EIO;
	err->kind = kind;
	return -(err->code ? err->code : EIO);
}

void cairn_error_locate(struct cairn_error *err, const char *file, int line, int column,
			const char *line_text)
{
	if (!err || err->loc.file || !file)
		return;
	err->loc.file = xstrdup(file);
	err->loc.line = line;
	err->loc.column = column;
	err->loc.text = line_text ? xstrdup(line_text) : NULL;
}

void cairn_error_move(struct cairn_error *dst, struct cairn_error *src)
{
	cairn_error_clear(dst);
	*dst = *src;
	memset(src, 0, sizeof *src);
}

char *cairn_error_format(const struct cairn_error *err)
{
	const char *msg = err->msg ? err->msg : strerror(err->code ? err->code : EIO);
	if (!err->loc.file)
		return xstrdup(msg);
	return util_located_message(err->loc.file, err->loc.line, err->loc.column, err->loc.text,
				    msg);
}

void cairn_error_clear(struct cairn_error *err)
{
	if (!err)
		return;
	free(err->msg);
	err->msg = NULL;
	err->code = 0;
	err->kind = CAIRN_ERR_NONE;
	location_clear(&err->loc);
}
