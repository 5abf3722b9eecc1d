/* cairn load: the images of an archive (docker save's, skopeo's, an oci-archive) into
 * the store, as docker load does; by the transport readers pull uses. */
#include "commands.h"
#include "ref/ref.h"
#include "transport/transport.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
    "usage: cairn load [-i FILE] [-q]\n"
    "\n"
    "Loads every image of an archive into the store and tags each with the names the\n"
    "archive gives it: what docker save or skopeo write (manifest.json and its RepoTags)\n"
    "or an oci-archive (index.json and its ref names). Prints \"Loaded image: NAME\" for\n"
    "each name, \"Loaded image ID: DIGEST\" (the manifest digest) for an unnamed image.\n"
    "\n"
    "  -i, --input FILE    read FILE (default: stdin, which must not be a terminal)\n"
    "  -q, --quiet         no progress on stderr\n"
    "  -h, --help          this help\n";

int cmd_import_image(struct store *s, const char *spec, const struct registry_opts *o,
		     struct transport_image *img, char digest[DIGEST_LEN], struct cairn_error *err)
{
	int r = transport_open(s, spec, o, img, err);
	if (r < 0)
		return r;
	struct store_tag t;
	if ((r = transport_copy(img, s, o->platform, o->progress, &t, err)) < 0)
		return r;
	for (size_t i = 0; img->tags && img->tags[i] && r == 0; i++) {
		t.ref = img->tags[i];
		r = store_tag_set(s, &t, err);
	}
	t.ref = NULL;
	snprintf(digest, DIGEST_LEN, "%s", t.digest);
	store_tag_release(&t);
	return r;
}

/* stdin copied into a file of $TMPDIR (else /var/tmp), which the readers can read
 * twice; *path is new, the caller removes the file. */
static int spool_stdin(char **path, struct cairn_error *err)
{
	const char *base = getenv("TMPDIR");
	if (!base || !*base)
		base = "/var/tmp";
	char *tmpl = xasprintf("%s/cairn-load-XXXXXX", base);
	cleanup_close int fd = mkostemp(tmpl, O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		free(tmpl);
		return cairn_error_errno(err, e, "creating a temporary file in %s", base);
	}
	*path = tmpl;
	uint64_t total = 0;
	if (cmd_copy_stdin(fd, tmpl, &total, err) < 0)
		return -1;
	if (total == 0) {
		cairn_error_set(err, EINVAL, "stdin is empty: no archive to load");
		return cairn_error_kind(err, CAIRN_ERR_INVALID);
	}
	return 0;
}

/* What docker load prints for a name: the short form ("app:1", "busybox:latest"). */
static char *shown(const char *name)
{
	struct cairn_error e = CAIRN_ERROR_INIT;
	cleanup_ref struct ref r = {0};
	char *out = ref_parse(name, &r, &e) == 0 ? ref_familiar(&r) : xstrdup(name);
	cairn_error_clear(&e);
	return out;
}

static int load_file(struct store *s, const char *file, struct registry_opts *o,
		     struct cairn_error *err)
{
	enum transport_kind kind;
	if (transport_archive_detect(file, &kind, err) < 0)
		return -1;
	const char *prefix = kind == TRANSPORT_DOCKER_ARCHIVE ? "docker-archive" : "oci-archive";
	size_t count = 1;
	for (size_t i = 0; i < count; i++) {
		cleanup_free char *spec = xasprintf("%s:%s:@%zu", prefix, file, i);
		cleanup_transport_image struct transport_image img = {0};
		char digest[DIGEST_LEN];
		if (cmd_import_image(s, spec, o, &img, digest, err) < 0)
			return -1;
		count = img.count;
		for (size_t j = 0; img.tags && img.tags[j]; j++) {
			cleanup_free char *name = shown(img.tags[j]);
			printf("Loaded image: %s\n", name);
		}
		if (!img.tags || !img.tags[0])
			printf("Loaded image ID: %s\n", digest);
		fflush(stdout);
	}
	return 0;
}

int cmd_load(int argc, char **argv, const struct cmd_env *env)
{
	if (cmd_wants_help(argc, argv, usage))
		return 0;
	static const struct option opts[] = {
	    {"input", required_argument, NULL, 'i'},
	    CMD_QUIET_OPTION,
	    {NULL, 0, NULL, 0},
	};
	const char *input = NULL;
	struct registry_opts o = REGISTRY_OPTS_INIT;
	o.progress = stderr;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+i:q", opts, NULL)) != -1) {
		if (c == 'i')
			input = optarg;
		else if (c == 'q')
			o.progress = NULL;
		else
			return cmd_usage_error(usage);
	}
	if (optind != argc)
		return cmd_usage_error(usage);
	if (input && !*input) {
		fprintf(stderr, "cairn load: -i: an empty file name\n");
		return 2;
	}
	if (!input && isatty(STDIN_FILENO)) {
		fprintf(stderr, "cairn load: stdin is a terminal: give -i FILE or redirect "
				"stdin\n");
		return 2;
	}
	struct cairn_error err = CAIRN_ERROR_INIT;
	cleanup_store struct store *s = NULL;
	if (store_open(env->root, &s, &err) < 0)
		return cmd_fail(&err);
	util_catch_signals();
	cleanup_free char *spooled = NULL;
	if (!input && spool_stdin(&spooled, &err) < 0) {
		if (spooled)
			unlink(spooled);
		return cmd_fail(&err);
	}
	const char *file = input ? input : spooled;
	/* the transports' FILE[:REF] takes the first ':' for the reference: a name with
	 * one is read through a descriptor's name instead */
	cleanup_close int fd = -1;
	cleanup_free char *fd_path = NULL;
	if (strchr(file, ':')) {
		fd = open(file, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			cairn_error_errno(&err, errno, "opening %s", file);
			if (spooled)
				unlink(spooled);
			return cmd_fail(&err);
		}
		file = fd_path = xasprintf("/proc/self/fd/%d", fd);
	}
	int r = load_file(s, file, &o, &err);
	if (spooled)
		unlink(spooled);
	if (r < 0) {
		int status = err.kind == CAIRN_ERR_INVALID ? 2 : 1;
		cmd_fail(&err);
		return status;
	}
	return 0;
}
