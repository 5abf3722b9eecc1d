/* What the commands share: printing an error, --help, opening the store and the
 * image a reference names, reading a recipe and showing its errors with their line,
 * the registry options. */
#include "builder/builder.h"
#include "commands.h"
#include "registry/registry.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cmd_copy_stdin(int fd, const char *name, uint64_t *total, struct cairn_error *err)
{
	cleanup_free char *buf = xmalloc(1u << 16);
	if (total)
		*total = 0;
	for (;;) {
		if (util_interrupted)
			return cairn_error_set(err, EINTR, "reading stdin: interrupted");
		ssize_t n = read(STDIN_FILENO, buf, 1u << 16);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return cairn_error_errno(err, errno, "reading stdin");
		if (n == 0)
			return 0;
		if (total)
			*total += (uint64_t)n;
		int w = util_write_all(fd, buf, (size_t)n);
		if (w < 0)
			return cairn_error_errno(err, -w, "writing %s", name);
	}
}

int cmd_fail(struct cairn_error *err)
{
	cleanup_free char *msg = cairn_error_format(err);
	fprintf(stderr, "cairn: %s\n", msg);
	cairn_error_clear(err);
	return 1;
}

bool cmd_wants_help(int argc, char **argv, const char *text)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			break;
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(text, stdout);
			return true;
		}
	}
	return false;
}

int cmd_begin(int argc, char **argv, const char *usage, int min, int max)
{
	if (cmd_wants_help(argc, argv, usage))
		return 0;
	if (argc - 1 < min || (max >= 0 && argc - 1 > max))
		return cmd_usage_error(usage);
	return -1;
}

int cmd_store_open_reading(const char *root, struct store **s, struct cairn_error *err)
{
	cleanup_free char *blobs = xasprintf("%s/blobs/sha256", root);
	if (access(blobs, W_OK) == 0 && access(root, W_OK) == 0) {
		struct cairn_error e = CAIRN_ERROR_INIT;
		if (store_open(root, s, &e) == 0)
			return 0;
		cairn_error_clear(&e);
	}
	return store_open_readonly(root, s, err);
}

int cmd_load_image(const struct cmd_env *env, const char *ref, bool write, struct store **s,
		   struct oci_image *img, char **full_ref, struct cairn_error *err)
{
	int r = write ? store_open(env->root, s, err) : store_open_readonly(env->root, s, err);
	if (r < 0)
		return r;
	if (digest_valid(ref)) {
		*full_ref = xstrdup(ref);
		return oci_image_load(*s, ref, img, err);
	}
	/* "debian" is also the "docker.io/library/debian:latest" pull tagged */
	struct store_tag tag = {0};
	if ((r = registry_store_lookup(*s, ref, &tag, err)) < 0)
		return r;
	*full_ref = steal_pointer(&tag.ref);
	r = oci_image_load(*s, tag.digest, img, err);
	store_tag_release(&tag);
	return r;
}

int cmd_read_recipe(const char *path, char **text, size_t *len)
{
	struct cairn_error err = CAIRN_ERROR_INIT;
	if (builder_read_recipe(path, text, len, &err) == 0)
		return 0;
	int status = err.kind == CAIRN_ERR_INVALID ? 1 : 2;
	cmd_fail(&err);
	return status;
}

/* FILE:LINE:COLUMN: message, then the line and a caret under the column. */
void cmd_show_recipe_error(const char *file, const char *text, size_t len, int line, int column,
			   const char *msg)
{
	cleanup_free char *s = util_source_error(file, text, len, line, column, msg);
	fprintf(stderr, "%s\n", s);
}

/* --tls-verify[=true|false]: sets *out, or prints a usage error naming cmd. */
static int parse_tls_verify(const char *cmd, const char *arg, bool *out)
{
	if (!arg || !strcmp(arg, "true")) {
		*out = true;
		return 0;
	}
	if (!strcmp(arg, "false")) {
		*out = false;
		return 0;
	}
	fprintf(stderr, "cairn %s: --tls-verify=%s: expected true or false\n", cmd, arg);
	return -1;
}

int cmd_registry_option(const char *cmd, int c, const char *arg, struct registry_opts *o,
			const char *usage)
{
	switch (c) {
	case CMD_OPT_TLS_VERIFY:
		return parse_tls_verify(cmd, arg, &o->tls_verify);
	case CMD_OPT_CERT_DIR:
		o->cert_dir = arg;
		return 0;
	case 'q':
		o->progress = NULL;
		return 0;
	default:
		cmd_usage_error(usage);
		return -1;
	}
}

int cmd_usage_error(const char *usage)
{
	fputs(usage, stderr);
	return 2;
}

void cmd_show_rebuild_diff(struct store *from, const char *digest, const struct builder_rebuild *rb,
			   const struct builder_report *rp)
{
	struct cairn_error err = CAIRN_ERROR_INIT;
	size_t count = 0;
	long layer = -1;
	fflush(stderr);
	int r = builder_rebuild_diff(from, digest, rb, stdout, &count, &layer, &err);
	fflush(stdout);
	if (r < 0) {
		cleanup_free char *msg = cairn_error_format(&err);
		fprintf(stderr, "verify: the differences could not be listed: %s\n", msg);
		cairn_error_clear(&err);
	}
	const struct builder_report_step *st = builder_report_layer_step(rp, layer);
	if (st)
		fprintf(stderr,
			"verify: layer %ld is the first that differs; the step that made it is "
			"%s:%d: %s\n",
			layer, rp->recipe, st->line, st->instruction);
	else if (layer >= 0)
		fprintf(stderr,
			"verify: the first layer that differs is layer %ld, a base image's\n",
			layer);
	else if (r == 0)
		fprintf(stderr, "verify: no layer differs: %zu difference%s outside the layers\n",
			count, count == 1 ? "" : "s");
}

int cmd_sandbox_enter(const char *isolation, struct cairn_error *err)
{
	if (!isolation || !*isolation)
		isolation = getenv("CAIRN_ISOLATION");
	enum sandbox_isolation iso = SANDBOX_ISOLATION_AUTO;
	if (isolation && *isolation && sandbox_isolation_parse(isolation, &iso) < 0)
		return cairn_error_set(err, EINVAL,
				       "--isolation %s: expected auto, oci, rootless or chroot",
				       isolation);
	cleanup_free char *notice = NULL;
	int r = sandbox_enter(iso, &notice, err);
	if (r == 0 && notice)
		fprintf(stderr, "%s\n", notice);
	return r;
}
