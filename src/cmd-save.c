/* cairn save: images of the store as one archive, as docker save and podman save
 * write them. */
#include "commands.h"
#include "transport/transport.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
    "usage: cairn save [-o FILE] [--format docker|oci] REF...\n"
    "\n"
    "Writes the images REF... of the store (tags, or manifest digests) as one archive,\n"
    "to FILE or to stdout (never to a terminal). A tag names its image in the archive;\n"
    "a digest leaves it unnamed.\n"
    "\n"
    "  -o, --output FILE   write to FILE (replaced only once the archive is complete)\n"
    "      --format FMT    docker (default: what docker load reads, layers\n"
    "                      uncompressed; also docker-archive) or oci (an oci-archive,\n"
    "                      blobs and digests as in the store; also oci-archive)\n"
    "  -h, --help          this help\n";

/* The images in the order first named; the names of one image gathered. */
struct saved {
	char digest[DIGEST_LEN];
	char **names;
};

int cmd_save(int argc, char **argv, const struct cmd_env *env)
{
	if (cmd_wants_help(argc, argv, usage))
		return 0;
	static const struct option opts[] = {
	    {"output", required_argument, NULL, 'o'},
	    {"format", required_argument, NULL, 'F'},
	    {NULL, 0, NULL, 0},
	};
	const char *dest = NULL;
	enum transport_format format = TRANSPORT_FORMAT_DOCKER;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+o:", opts, NULL)) != -1) {
		if (c == 'o') {
			if (!*optarg) {
				fprintf(stderr, "cairn save: -o: an empty file name\n");
				return 2;
			}
			dest = optarg;
		} else if (c == 'F') {
			if (!strcmp(optarg, "docker") || !strcmp(optarg, "docker-archive")) {
				format = TRANSPORT_FORMAT_DOCKER;
			} else if (!strcmp(optarg, "oci") || !strcmp(optarg, "oci-archive")) {
				format = TRANSPORT_FORMAT_OCI;
			} else {
				fprintf(stderr,
					"cairn save: --format %s: expected docker or oci "
					"(docker-archive, oci-archive)\n",
					optarg);
				return 2;
			}
		} else {
			return cmd_usage_error(usage);
		}
	}
	if (optind >= argc)
		return cmd_usage_error(usage);
	if (!dest && isatty(STDOUT_FILENO)) {
		fprintf(stderr, "cairn save: refusing to write an archive to a terminal; use -o "
				"FILE or redirect stdout\n");
		return 2;
	}
	struct cairn_error err = CAIRN_ERROR_INIT;
	cleanup_store struct store *s = NULL;
	if (cmd_store_open_reading(env->root, &s, &err) < 0)
		return cmd_fail(&err);
	util_catch_signals();
	size_t n = 0;
	cleanup_free struct saved *v = xcalloc((size_t)(argc - optind), sizeof *v);
	int status = 0;
	for (int i = optind; i < argc && !status; i++) {
		enum transport_kind kind;
		const char *rest;
		if (transport_parse(argv[i], &kind, &rest, &err) == 0 && kind != TRANSPORT_STORE)
			cairn_error_set(&err, EINVAL,
					"%s: cairn save writes images of the store (cairn pull "
					"copies the others in)",
					argv[i]);
		cleanup_transport_image struct transport_image img = {0};
		if (err.code || transport_open(s, argv[i], NULL, &img, &err) < 0) {
			status = cmd_fail(&err);
			break;
		}
		size_t k = 0;
		while (k < n && strcmp(v[k].digest, img.digest))
			k++;
		if (k == n) {
			memcpy(v[n].digest, img.digest, DIGEST_LEN);
			v[n++].names = xcalloc(1, sizeof(char *));
		}
		/* a tag names the image; a digest does not */
		if (!digest_valid(argv[i]) && !strv_contains(v[k].names, img.name))
			strv_push(&v[k].names, img.name);
	}
	if (!status) {
		cleanup_free struct transport_out *out = xcalloc(n, sizeof *out);
		for (size_t i = 0; i < n; i++)
			out[i] = (struct transport_out){.digest = v[i].digest, .names = v[i].names};
		if (transport_write_archive(s, format, out, n, dest ? dest : "-", &err) < 0)
			status = cmd_fail(&err);
	}
	for (size_t i = 0; i < n; i++)
		strv_free(v[i].names);
	return status;
}
