/* Timestamps: RFC 3339, SOURCE_DATE_EPOCH, the clock. */
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

char *util_rfc3339(int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	char buf[64];
	strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return xstrdup(buf);
}

int util_source_date_epoch_parse(const char *s, int64_t *out, struct cairn_error *err)
{
	*out = -1;
	if (!s || !*s)
		return 0;
	char *end = NULL;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || *end || v < 0)
		return cairn_error_set(
		    err, EINVAL, "SOURCE_DATE_EPOCH=%s: not a number of seconds since 1970", s);
	*out = v;
	return 0;
}

int util_source_date_epoch(int64_t *out, struct cairn_error *err)
{
	return util_source_date_epoch_parse(getenv("SOURCE_DATE_EPOCH"), out, err);
}

double util_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
