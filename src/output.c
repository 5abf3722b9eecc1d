/* cairn build -o/--output: buildx's exporters. A spec is parsed as buildx parses it
 * (comma-separated KEY=VALUE fields, double quotes around a field that holds a comma;
 * one field that is not type=… is a directory, "-" a tar on stdout); the keys that
 * describe what cairn does anyway are accepted, any other is refused by name. The
 * outputs are written after the build, by the transport module's writers. */
#include "commands.h"
#include "ref/ref.h"
#include "transport/transport.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static const char *const type_names[] = {
    [CMD_OUTPUT_IMAGE] = "image", [CMD_OUTPUT_OCI] = "oci",	[CMD_OUTPUT_DOCKER] = "docker",
    [CMD_OUTPUT_TAR] = "tar",	  [CMD_OUTPUT_LOCAL] = "local",
};

static void output_release(struct cmd_output *o)
{
	free(o->dest);
	strv_free(o->names);
	free(o->compression);
	memset(o, 0, sizeof *o);
}

/* The fields of spec, split at commas outside double quotes (the quotes dropped). */
static char **split_fields(const char *spec)
{
	char **v = xcalloc(1, sizeof(char *));
	cleanup_strbuf struct strbuf sb = STRBUF_INIT;
	bool quoted = false;
	for (const char *p = spec;; p++) {
		if (*p == '"') {
			quoted = !quoted;
		} else if (!*p || (*p == ',' && !quoted)) {
			strv_push(&v, strbuf_str(&sb));
			strbuf_reset(&sb);
			if (!*p)
				break;
		} else {
			strbuf_addch(&sb, *p);
		}
	}
	return v;
}

static int bad(const char *spec, const char *why)
{
	fprintf(stderr, "cairn build: --output %s: %s\n", spec, why);
	return -1;
}

static bool is_true(const char *v)
{
	return !strcasecmp(v, "true") || !strcmp(v, "1");
}

static bool is_false(const char *v)
{
	return !strcasecmp(v, "false") || !strcmp(v, "0");
}

/* name=a,b (one field, quoted): each a reference, kept as a tag is stored. */
static int add_names(const char *spec, const char *value, char ***names)
{
	cleanup_strv char **parts = split_fields(value);
	for (size_t i = 0; parts[i]; i++) {
		struct cairn_error err = CAIRN_ERROR_INIT;
		char *ref = NULL;
		if (ref_local_name(parts[i], &ref, &err) < 0) {
			cleanup_free char *msg = cairn_error_format(&err);
			cairn_error_clear(&err);
			fprintf(stderr, "cairn build: --output %s: name=%s: %s\n", spec, parts[i],
				msg);
			return -1;
		}
		strv_push_take(names, ref);
	}
	return 0;
}

/* One KEY=VALUE of a spec whose type is known. */
static int apply_key(const char *spec, const char *key, const char *v, struct cmd_output *o,
		     bool registry, bool *push)
{
	enum cmd_output_type t = o->type;
	bool image = t == CMD_OUTPUT_IMAGE, archive = t == CMD_OUTPUT_OCI || t == CMD_OUTPUT_DOCKER;
	bool fs = t == CMD_OUTPUT_TAR || t == CMD_OUTPUT_LOCAL;
	cleanup_free char *msg = NULL;
	if (!strcmp(key, "dest")) {
		if (image)
			return bad(spec, "dest: type=image and type=registry write to the store "
					 "and registries, not to a file");
		if (!*v)
			return bad(spec, "dest: an empty destination");
		free(o->dest);
		o->dest = xstrdup(v);
		return 0;
	}
	if (!strcmp(key, "name") && (image || archive))
		return add_names(spec, v, &o->names);
	if (!strcmp(key, "push") && image) {
		if (!is_true(v) && !is_false(v))
			return bad(spec, "push: expected true or false");
		if (is_false(v) && registry)
			return bad(spec, "push=false: type=registry always pushes");
		*push = *push || is_true(v);
		return 0;
	}
	if (!strcmp(key, "store") && image) {
		if (!is_true(v))
			return bad(spec, "store: cairn always keeps the image in its store "
					 "(only store=true)");
		return 0;
	}
	if (!strcmp(key, "tar") && archive) {
		if (!is_true(v))
			return bad(spec, "tar: cairn writes archives only (only tar=true)");
		return 0;
	}
	if (!strcmp(key, "oci-mediatypes") && (image || archive)) {
		/* cairn's images are OCI; a docker archive has no manifest to type */
		bool want = t != CMD_OUTPUT_DOCKER;
		if ((want && !is_true(v)) || (!want && !is_false(v)))
			return bad(spec, want ? "oci-mediatypes: cairn writes OCI media types "
						"(only oci-mediatypes=true)"
					      : "oci-mediatypes: a docker archive holds docker's "
						"format (only oci-mediatypes=false)");
		return 0;
	}
	if (!strcmp(key, "compression") && (image || archive)) {
		if (t == CMD_OUTPUT_DOCKER) {
			if (strcmp(v, "uncompressed"))
				return bad(spec, "compression: a docker archive's layers are "
						 "uncompressed (only compression=uncompressed)");
			return 0;
		}
		if (strcmp(v, "zstd") && strcmp(v, "gzip") && strcmp(v, "uncompressed"))
			return bad(spec, "compression: expected zstd, gzip or uncompressed");
		free(o->compression);
		o->compression = xstrdup(v);
		return 0;
	}
	if (!strcmp(key, "platform-split") && fs) {
		if (!is_false(v))
			return bad(spec, "platform-split: cairn builds one platform (only "
					 "platform-split=false)");
		return 0;
	}
	msg = xasprintf("cairn does not support the key \"%s\" for type=%s", key,
			registry ? "registry" : type_names[t]);
	return bad(spec, msg);
}

static int output_parse(const char *spec, struct cmd_output *out, char ***tags, bool *push)
{
	memset(out, 0, sizeof *out);
	out->names = xcalloc(1, sizeof(char *));
	if (!strcmp(spec, "-")) {
		out->type = CMD_OUTPUT_TAR;
		out->dest = xstrdup("-");
		return 0;
	}
	if (!*spec)
		return bad(spec, "an empty output");
	if (!strchr(spec, ',') && strncmp(spec, "type=", 5)) {
		/* buildx: one field that is not a type is a directory */
		out->type = CMD_OUTPUT_LOCAL;
		out->dest = xstrdup(spec);
		return 0;
	}
	cleanup_strv char **fields = split_fields(spec);
	const char *type = NULL;
	for (size_t i = 0; fields[i]; i++) {
		char *eq = strchr(fields[i], '=');
		if (!eq) {
			cleanup_free char *msg =
			    xasprintf("\"%s\" is not KEY=VALUE (expected type=TYPE[,KEY=VALUE]...)",
				      fields[i]);
			return bad(spec, msg);
		}
		*eq = '\0';
		if (!strcasecmp(fields[i], "type"))
			type = eq + 1;
		*eq = '=';
	}
	if (!type)
		return bad(spec, "type is required (image, registry, oci, docker, tar or local)");
	bool registry = !strcmp(type, "registry");
	size_t t = 0;
	for (; t < sizeof type_names / sizeof type_names[0]; t++)
		if (!strcmp(type, type_names[t]))
			break;
	if (registry)
		t = CMD_OUTPUT_IMAGE;
	else if (t == sizeof type_names / sizeof type_names[0]) {
		cleanup_free char *msg = xasprintf(
		    "type=%s: cairn writes type=image, registry, oci, docker, tar or local", type);
		return bad(spec, msg);
	}
	out->type = (enum cmd_output_type)t;
	bool want_push = registry;
	for (size_t i = 0; fields[i]; i++) {
		char *eq = strchr(fields[i], '=');
		*eq = '\0';
		for (char *k = fields[i]; *k; k++)
			*k = (char)(*k >= 'A' && *k <= 'Z' ? *k - 'A' + 'a' : *k);
		if (strcmp(fields[i], "type") &&
		    apply_key(spec, fields[i], eq + 1, out, registry, &want_push) < 0)
			return -1;
	}
	switch (out->type) {
	case CMD_OUTPUT_DOCKER:
		if (out->dest)
			break;
		/* buildx loads it into docker: here the store is the daemon */
		out->type = CMD_OUTPUT_IMAGE;
		/* fall through */
	case CMD_OUTPUT_IMAGE:
		for (size_t i = 0; out->names[i]; i++)
			if (!strv_contains(*tags, out->names[i]))
				strv_push(tags, out->names[i]);
		if (want_push && !out->names[0] && !(*tags)[0])
			return bad(spec, "push needs a name= or a -t REF to push to");
		*push = *push || want_push;
		break;
	case CMD_OUTPUT_LOCAL:
		if (out->dest && !strcmp(out->dest, "-"))
			return bad(spec, "type=local writes a directory, not stdout (dest=- is "
					 "for tar, oci and docker)");
		/* fall through */
	case CMD_OUTPUT_OCI:
	case CMD_OUTPUT_TAR:
		if (!out->dest) {
			cleanup_free char *msg = xasprintf(
			    "type=%s needs dest=%s", type_names[out->type],
			    out->type == CMD_OUTPUT_LOCAL ? "DIR" : "FILE (or dest=- for stdout)");
			return bad(spec, msg);
		}
		break;
	}
	return 0;
}

int cmd_outputs_add(struct cmd_outputs *o, const char *spec, char ***tags, bool *push)
{
	o->v = xrealloc(o->v, (o->n + 1) * sizeof *o->v);
	if (output_parse(spec, &o->v[o->n], tags, push) < 0) {
		output_release(&o->v[o->n]);
		return -1;
	}
	const char *dest = o->v[o->n].dest;
	o->to_stdout = o->to_stdout || (dest && !strcmp(dest, "-"));
	o->n++;
	return 0;
}

void cmd_outputs_freep(struct cmd_outputs *o)
{
	for (size_t i = 0; i < o->n; i++)
		output_release(&o->v[i]);
	free(o->v);
	memset(o, 0, sizeof *o);
}

int cmd_output_check(const struct cmd_output *o, size_t n, const char *compression)
{
	size_t to_stdout = 0;
	for (size_t i = 0; i < n; i++) {
		if (o[i].dest && !strcmp(o[i].dest, "-") && o[i].type != CMD_OUTPUT_IMAGE)
			to_stdout++;
		const char *c = o[i].compression;
		if (c && strcmp(c, compression) &&
		    !(!strcmp(c, "uncompressed") && !strcmp(compression, "none"))) {
			fprintf(stderr,
				"cairn build: --output compression=%s: the build writes %s layers "
				"(--compression %s)\n",
				c, compression, !strcmp(c, "uncompressed") ? "none" : c);
			return -1;
		}
	}
	if (to_stdout > 1) {
		fprintf(stderr, "cairn build: --output: only one output can go to stdout\n");
		return -1;
	}
	if (to_stdout && isatty(STDOUT_FILENO)) {
		fprintf(stderr, "cairn build: --output: refusing to write an archive to a "
				"terminal; give dest=FILE or redirect stdout\n");
		return -1;
	}
	return 0;
}

int cmd_output_write(struct store *s, const struct cmd_output *outs, size_t n, size_t i,
		     const char *digest, char *const *tags, struct cairn_error *err)
{
	const struct cmd_output *o = &outs[i];
	/* an archive without name= is named by -t, not by another output's name= */
	cleanup_strv char **names = xcalloc(1, sizeof(char *));
	for (size_t t = 0; tags && tags[t]; t++) {
		bool other = false;
		for (size_t k = 0; k < n; k++)
			other = other || (outs[k].type == CMD_OUTPUT_IMAGE &&
					  strv_contains(outs[k].names, tags[t]));
		if (!other)
			strv_push(&names, tags[t]);
	}
	switch (o->type) {
	case CMD_OUTPUT_IMAGE:
		return 0;
	case CMD_OUTPUT_OCI:
	case CMD_OUTPUT_DOCKER: {
		struct transport_out img = {
		    .digest = digest,
		    .names = o->names && o->names[0] ? o->names : names,
		};
		return transport_write_archive(
		    s, o->type == CMD_OUTPUT_OCI ? TRANSPORT_FORMAT_OCI : TRANSPORT_FORMAT_DOCKER,
		    &img, 1, o->dest, err);
	}
	case CMD_OUTPUT_TAR:
	case CMD_OUTPUT_LOCAL:
		return transport_write_rootfs(s, digest, o->type == CMD_OUTPUT_TAR, o->dest, err);
	}
	return 0;
}
