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

char **util_json_to_strv(const json_t *arr)
{
	/* sized once: strv_push is linear, and an image's Env may be long */
	char **v = xcalloc(json_array_size(arr) + 1, sizeof(char *));
	size_t i, n = 0;
	json_t *x;
	json_array_foreach(arr, i, x)
	{
		if (json_is_string(x))
			v[n++] = xstrdup(json_string_value(x));
	}
	return v;
}

json_t *util_strv_to_json(char *const *v)
{
	json_t *a = json_array();
	for (size_t i = 0; v && v[i]; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}
