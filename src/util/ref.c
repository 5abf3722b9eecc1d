/* Image references as docker checks them. */
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static bool ref_component_ok(const char *s, size_t n)
{
	/* [a-z0-9]+ separated by '.', '_', '__' or runs of '-' */
	if (n == 0 || !(islower((unsigned char)s[0]) || isdigit((unsigned char)s[0])))
		return false;
	if (!(islower((unsigned char)s[n - 1]) || isdigit((unsigned char)s[n - 1])))
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (islower((unsigned char)c) || isdigit((unsigned char)c))
			continue;
		if (c == '-')
			continue;
		if (c == '.' || c == '_') {
			bool dunder = c == '_' && i + 1 < n && s[i + 1] == '_';
			char next = s[i + 1 + dunder];
			if (!(islower((unsigned char)next) || isdigit((unsigned char)next)))
				return false;
			i += dunder;
			continue;
		}
		return false;
	}
	return true;
}

static bool ref_host_ok(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!(isalnum((unsigned char)c) || c == '.' || c == '-' || c == ':' || c == '[' ||
		      c == ']'))
			return false;
	}
	return true;
}

int util_ref_normalize(const char *ref, char **out, struct cairn_error *err)
{
	*out = NULL;
	if (!ref || !*ref)
		return cairn_error_set(err, EINVAL, "empty image reference");
	if (strlen(ref) > 4096)
		return cairn_error_set(err, EINVAL, "invalid reference \"%.40s…\": too long", ref);
	const char *at = strchr(ref, '@');
	if (at && !digest_valid(at + 1))
		return cairn_error_set(err, EINVAL,
				       "invalid reference \"%s\": bad digest after '@'", ref);
	size_t name_end = at ? (size_t)(at - ref) : strlen(ref);
	/* a tag is after the last ':' that comes after the last '/' */
	const char *slash = memrchr(ref, '/', name_end);
	const char *colon = memrchr(slash ? slash : ref, ':', name_end - (slash ? slash - ref : 0));
	size_t path_end = colon ? (size_t)(colon - ref) : name_end;
	if (colon) {
		size_t tn = name_end - path_end - 1;
		const char *tag = colon + 1;
		if (tn == 0 || tn > 128 || !(isalnum((unsigned char)tag[0]) || tag[0] == '_'))
			return cairn_error_set(err, EINVAL, "invalid reference \"%s\": bad tag",
					       ref);
		for (size_t i = 0; i < tn; i++)
			if (!(isalnum((unsigned char)tag[i]) || strchr("_.-", tag[i])))
				return cairn_error_set(err, EINVAL,
						       "invalid reference \"%s\": bad tag", ref);
	}
	/* path components; the first may be a registry host */
	size_t i = 0;
	bool first = true;
	while (i <= path_end) {
		size_t j = i;
		while (j < path_end && ref[j] != '/')
			j++;
		bool is_last = j >= path_end;
		bool looks_host = first && !is_last &&
				  (memchr(ref + i, '.', j - i) || memchr(ref + i, ':', j - i) ||
				   (j - i == 9 && !strncmp(ref + i, "localhost", 9)));
		if (looks_host ? !ref_host_ok(ref + i, j - i) : !ref_component_ok(ref + i, j - i))
			return cairn_error_set(err, EINVAL,
					       "invalid reference \"%s\": \"%.*s\" is not a valid "
					       "name component (lower-case letters, digits, '.', "
					       "'_', '-')",
					       ref, (int)(j - i), ref + i);
		first = false;
		i = j + 1;
	}
	if (!colon && !at)
		*out = xasprintf("%s:latest", ref);
	else
		*out = xstrdup(ref);
	return 0;
}
