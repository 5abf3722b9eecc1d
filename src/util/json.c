/* Canonical JSON: the bytes digests are taken of. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>

char *util_json_canonical(const json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	if (!s)
		util_oom();
	return s;
}
