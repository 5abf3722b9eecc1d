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
	char *location;
	bool has_prefix; /* a prefix: the table sets up a mirror */
	bool insecure;
};

/* Whether the table relaxes hostport, and forgets it. Only a location that is
 * exactly host[:port] does: one with a path, or a mirror's table, says nothing about
 * the rest of the host (as podman reads it). */
static bool table_matches(struct table *t, const char *hostport)
{
	bool hit = t->insecure && !t->has_prefix && t->location && !strcmp(t->location, hostport);
	free(t->location);
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
			section = !strcmp(l, "[[registry]]")		? REGISTRY
				  : !strcmp(l, "[registries.insecure]") ? V1_INSECURE
									: OTHER;
			continue;
		} else {
			char *eq = strchr(l, '=');
			if (!eq)
				continue;
			*eq = '\0';
			char *key = trim(l), *value = trim(eq + 1);
			/* the values with host names: location, and v1's registries list */
			bool hosts = (section == REGISTRY && !strcmp(key, "location")) ||
				     (section == V1_INSECURE && !strcmp(key, "registries"));
			if (section == REGISTRY && !strcmp(key, "prefix"))
				t.has_prefix = true;
			else if (section == REGISTRY && !strcmp(key, "insecure"))
				t.insecure = !strcmp(value, "true");
			if (!hosts)
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
		if (section == REGISTRY && names && names[0]) {
			free(t.location);
			t.location = xstrdup(names[0]);
		}
		for (size_t i = 0; section == V1_INSECURE && names && names[i]; i++)
			hit = hit || !strcmp(names[i], hostport);
	}
	if (section == REGISTRY && !hit)
		hit = table_matches(&t, hostport);
	free(t.location);
	return hit;
}
