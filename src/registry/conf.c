/* registry: the insecure-registries setting, read from containers'
 * registries.conf as podman and buildah read it. Only what cairn uses is
 * understood: [[registry]] tables with location/prefix and insecure (v2), and
 * [registries.insecure] registries = [...] (v1). */
#include "internal.h"

#include <ctype.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_CONF "/etc/containers/registries.conf"

/* Whether a location is exactly host[:port]: one with a path, or a prefix that maps
 * names to a mirror, says nothing about the rest of the host (as podman reads it). */
static bool names_host(const char *location, const char *hostport)
{
	return !strcmp(location, hostport);
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

/* The quoted strings of a value ("a", 'b', ["c", "d"]), in order. */
static void quoted_strings(const char *v, char ***out)
{
	for (const char *p = v; *p; p++) {
		if (*p != '"' && *p != '\'')
			continue;
		const char *end = strchr(p + 1, *p);
		if (!end)
			return;
		strv_push_take(out, xstrndup(p + 1, (size_t)(end - p - 1)));
		p = end;
	}
}

/* What one [[registry]] table said. */
struct table {
	char **locations; /* its location */
	bool has_prefix;  /* a prefix other than the location: a mirror's settings */
	bool insecure;
};

static bool table_matches(struct table *t, const char *hostport)
{
	bool hit = false;
	for (size_t i = 0; t->insecure && !t->has_prefix && t->locations && t->locations[i]; i++)
		hit = hit || names_host(t->locations[i], hostport);
	strv_free(t->locations);
	memset(t, 0, sizeof *t);
	return hit;
}

bool conf_insecure(const char *hostport)
{
	const char *path = getenv("CONTAINERS_REGISTRIES_CONF");
	cleanup_free char *text = NULL;
	size_t len = 0;
	struct cairn_error e = CAIRN_ERROR_INIT;
	if (util_read_file(AT_FDCWD, path && *path ? path : DEFAULT_CONF, &text, &len, &e) < 0) {
		cairn_error_clear(&e);
		return false;
	}
	enum { OTHER, REGISTRY, V1_INSECURE } section = OTHER;
	struct table t = {0};
	bool hit = false;
	cleanup_strbuf struct strbuf array = STRBUF_INIT; /* a value spread over lines */
	bool in_array = false;
	const char *array_key = NULL;
	for (char *line = text, *next; line && !hit; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		char *hash = strchr(line, '#');
		if (hash && !memchr(line, '"', (size_t)(hash - line)))
			*hash = '\0';
		char *l = trim(line);
		if (in_array) {
			strbuf_addf(&array, " %s", l);
			if (!strchr(l, ']'))
				continue;
			in_array = false;
			l = (char *)strbuf_str(&array);
		} else if (l[0] == '[') {
			if (section == REGISTRY)
				hit = table_matches(&t, hostport);
			section = !strcmp(l, "[[registry]]")	       ? REGISTRY
				  : !strcmp(l, "[registries.insecure]") ? V1_INSECURE
									: OTHER;
			continue;
		} else {
			char *eq = strchr(l, '=');
			if (!eq)
				continue;
			*eq = '\0';
			array_key = NULL;
			char *key = trim(l), *value = trim(eq + 1);
			if (section == REGISTRY && !strcmp(key, "location"))
				array_key = "location";
			else if (section == REGISTRY && !strcmp(key, "prefix"))
				t.has_prefix = true;
			else if (section == V1_INSECURE && !strcmp(key, "registries"))
				array_key = "registries";
			else if (section == REGISTRY && !strcmp(key, "insecure"))
				t.insecure = !strcmp(value, "true");
			if (!array_key)
				continue;
			if (value[0] == '[' && !strchr(value, ']')) {
				strbuf_release(&array);
				strbuf_addstr(&array, value);
				in_array = true;
				continue;
			}
			l = value;
		}
		cleanup_strv char **names = NULL;
		quoted_strings(l, &names);
		for (size_t i = 0; names && names[i]; i++) {
			if (section == REGISTRY)
				strv_push(&t.locations, names[i]);
			else if (names_host(names[i], hostport))
				hit = true;
		}
	}
	if (section == REGISTRY && !hit)
		hit = table_matches(&t, hostport);
	strv_free(t.locations);
	return hit;
}
