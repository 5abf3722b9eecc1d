/* cairn diff: every difference between two images, from the index down to the
 * files of their layers, as a table or JSON; the exit status says same (0),
 * different (1) or error (2). */
#include "commands.h"

#include "container/container.h"
#include "diff/diff.h"
#include "transport/transport.h"

#include <errno.h>
#include <getopt.h>
#include <string.h>

static const char usage[] =
    "usage: cairn diff [--semantic] [--ignore-timestamps] [--ignore-history]\n"
    "                  [--ignore-file-order] [--ignore-file-timestamps]\n"
    "                  [--ignore-image-name] [--ignore-tar-format]\n"
    "                  [--ignore-file-mode-redundant-bits]\n"
    "                  [--treat-canonical-paths-equal] [--platform OS/ARCH[/VARIANT]]\n"
    "                  [--json] [--report-dir DIR] [--tls-verify=false]\n"
    "                  [--cert-dir DIR] [-q] A B\n"
    "\n"
    "Compares the images A and B and prints every difference. Each is a tag or\n"
    "a manifest digest in the store, or as cairn pull names them: oci:DIR[:REF],\n"
    "oci-archive:FILE[:REF], docker-archive:FILE[:REF] or docker://REF (archives\n"
    "and registry images are read into a temporary store under $TMPDIR, never\n"
    "into the store). For each difference: TYPE (index, manifest, config,\n"
    "history, layer, file), NAME (what differs: a field, \"PATH FIELD\" for a\n"
    "file), and the value of each side (- when absent). Exit status: 0 same,\n"
    "1 different, 2 error.\n"
    "\n"
    "  --ignore-timestamps       the config's and history's created times\n"
    "  --ignore-history          the config's history\n"
    "  --ignore-file-order       the order of the entries in a layer\n"
    "  --ignore-file-timestamps  files' mtime, atime and ctime\n"
    "  --ignore-image-name       image name annotations\n"
    "  --ignore-tar-format       tar header formats and layer compression\n"
    "  --ignore-file-mode-redundant-bits\n"
    "                            mode bits beyond 07777 in tar headers\n"
    "  --treat-canonical-paths-equal\n"
    "                            ./a, /a and a are one file\n"
    "  --semantic                all of the ignores above (diffoci's --semantic)\n"
    "  --platform OS/ARCH[/VARIANT]\n"
    "                            the manifest an index gives (default: this machine)\n"
    "  --json                    one JSON document: the differences and a summary\n"
    "  --report-dir DIR          write the differing files of each side into\n"
    "                            DIR/a and DIR/b (DIR absent or empty)\n"
    "  --tls-verify=false        docker://: do not check certificates; allow\n"
    "                            plain HTTP (always allowed for loopback)\n"
    "  --cert-dir DIR            docker://: trust the CA certificates DIR/*.crt\n"
    "  -q, --quiet               print nothing; only the exit status tells\n"
    "  -h, --help                this help\n";

/* One side of the comparison, opened. */
struct side {
	struct diff_image img;
	struct transport_image t;
};

static void side_release(struct side *sd)
{
	transport_image_release(&sd->t);
}

/* What A or B names, found by the transport module: an image of the store at
 * env->root (opened read-only once into *store and shared by both sides, only when
 * a side names one), an OCI layout where it is (its layers hashed first: nothing
 * else has checked them), or an archive or registry image in a temporary store of
 * its own, removed by side_release. */
static int open_side(const struct cmd_env *env, struct store **store, const char *arg,
		     const struct registry_opts *ro, struct side *out, struct cairn_error *err)
{
	memset(out, 0, sizeof *out);
	enum transport_kind kind;
	const char *rest;
	if (transport_parse(arg, &kind, &rest, err) < 0)
		return -1;
	if (kind == TRANSPORT_STORE && !*store && cmd_store_open_reading(env->root, store, err) < 0)
		return -1;
	if (transport_open(*store, arg, ro, &out->t, err) < 0)
		return -1;
	if (transport_verify(&out->t, ro->platform, err) < 0) {
		side_release(out);
		return -1;
	}
	out->img = (struct diff_image){out->t.s, out->t.digest, out->t.name};
	return 0;
}

/* ---- output ---- */

static json_t *opt_string(const char *s)
{
	return s ? json_string(s) : json_null();
}

static int print_json(const struct side *a, const struct side *b, const struct diff_list *c)
{
	cleanup_json json_t *list = json_array();
	cleanup_json json_t *by_type = json_object();
	for (size_t i = 0; i < c->n; i++) {
		const struct diff_item *it = &c->items[i];
		json_array_append_new(
		    list, json_pack("{s:s, s:s, s:o, s:o, s:o}", "type", it->type, "name", it->name,
				    "a", opt_string(it->a), "b", opt_string(it->b), "layer",
				    it->layer >= 0 ? json_integer(it->layer) : json_null()));
		json_int_t k = json_integer_value(json_object_get(by_type, it->type));
		json_object_set_new(by_type, it->type, json_integer(k + 1));
	}
	cleanup_json json_t *doc =
	    json_pack("{s:{s:s, s:s}, s:{s:s, s:s}, s:O, s:{s:b, s:I, s:O}}", "a", "name",
		      a->img.name, "digest", a->img.digest, "b", "name", b->img.name, "digest",
		      b->img.digest, "differences", list, "summary", "same", c->n == 0, "count",
		      (json_int_t)c->n, "by_type", by_type);
	if (!doc || json_dumpf(doc, stdout, JSON_INDENT(2)) < 0)
		return -1;
	printf("\n");
	return 0;
}

enum {
	OPT_IGNORE_TIMESTAMPS = 0x200,
	OPT_IGNORE_HISTORY,
	OPT_IGNORE_FILE_ORDER,
	OPT_IGNORE_FILE_TIMESTAMPS,
	OPT_IGNORE_IMAGE_NAME,
	OPT_IGNORE_TAR_FORMAT,
	OPT_IGNORE_MODE_BITS,
	OPT_CANONICAL_PATHS,
	OPT_SEMANTIC,
	OPT_PLATFORM,
	OPT_JSON,
	OPT_REPORT_DIR,
};

/* cairn diff CONTAINER: docker diff's lines; exit 0, or 2 on an error. */
static int container_diff(const struct cmd_env *env, const char *name)
{
	struct cairn_error err = CAIRN_ERROR_INIT;
	cleanup_store struct store *s = NULL;
	struct container c;
	struct container_change *v = NULL;
	size_t n = 0;
	if (store_open(env->root, &s, &err) < 0 || container_get(s, name, &c, &err) < 0) {
		cmd_fail(&err);
		return 2;
	}
	int r = container_changes(s, &c, &v, &n, &err);
	container_release(&c);
	if (r < 0) {
		cmd_fail(&err);
		return 2;
	}
	for (size_t i = 0; i < n; i++)
		printf("%c %s\n", v[i].kind, v[i].path);
	container_changes_free(v, n);
	return fflush(stdout) == 0 ? 0 : 2;
}

int cmd_diff(int argc, char **argv, const struct cmd_env *env)
{
	if (cmd_wants_help(argc, argv, usage))
		return 0;
	static const struct option opts[] = {
	    {"ignore-timestamps", no_argument, NULL, OPT_IGNORE_TIMESTAMPS},
	    {"ignore-history", no_argument, NULL, OPT_IGNORE_HISTORY},
	    {"ignore-file-order", no_argument, NULL, OPT_IGNORE_FILE_ORDER},
	    {"ignore-file-timestamps", no_argument, NULL, OPT_IGNORE_FILE_TIMESTAMPS},
	    {"ignore-image-name", no_argument, NULL, OPT_IGNORE_IMAGE_NAME},
	    {"ignore-tar-format", no_argument, NULL, OPT_IGNORE_TAR_FORMAT},
	    {"ignore-file-mode-redundant-bits", no_argument, NULL, OPT_IGNORE_MODE_BITS},
	    {"treat-canonical-paths-equal", no_argument, NULL, OPT_CANONICAL_PATHS},
	    {"semantic", no_argument, NULL, OPT_SEMANTIC},
	    {"platform", required_argument, NULL, OPT_PLATFORM},
	    {"json", no_argument, NULL, OPT_JSON},
	    {"report-dir", required_argument, NULL, OPT_REPORT_DIR},
	    CMD_REGISTRY_OPTIONS,
	    CMD_QUIET_OPTION,
	    {NULL, 0, NULL, 0},
	};
	struct diff_opts o = {0};
	struct registry_opts ro = REGISTRY_OPTS_INIT;
	bool json = false, quiet = false;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+q", opts, NULL)) != -1) {
		switch (c) {
		case OPT_IGNORE_TIMESTAMPS:
			o.ignore_timestamps = true;
			break;
		case OPT_IGNORE_HISTORY:
			o.ignore_history = true;
			break;
		case OPT_IGNORE_FILE_ORDER:
			o.ignore_file_order = true;
			break;
		case OPT_IGNORE_FILE_TIMESTAMPS:
			o.ignore_file_timestamps = true;
			break;
		case OPT_IGNORE_IMAGE_NAME:
			o.ignore_image_name = true;
			break;
		case OPT_IGNORE_TAR_FORMAT:
			o.ignore_tar_format = true;
			break;
		case OPT_IGNORE_MODE_BITS:
			o.ignore_file_mode_redundant_bits = true;
			break;
		case OPT_CANONICAL_PATHS:
			o.treat_canonical_paths_equal = true;
			break;
		case OPT_SEMANTIC:
			diff_opts_semantic(&o);
			break;
		case OPT_PLATFORM:
			o.platform = optarg;
			break;
		case OPT_JSON:
			json = true;
			break;
		case OPT_REPORT_DIR:
			if (!*optarg) {
				fprintf(stderr, "cairn diff: --report-dir needs a directory\n");
				return 2;
			}
			o.report_dir = optarg;
			break;
		case 'q':
			quiet = true;
			break;
		case CMD_OPT_TLS_VERIFY:
		case CMD_OPT_CERT_DIR:
			if (cmd_registry_option("diff", c, optarg, &ro, usage) < 0)
				return 2;
			break;
		default:
			fprintf(stderr, "cairn diff: unknown option or missing value: %s\n",
				argv[optind - 1]);
			return cmd_usage_error(usage);
		}
	}
	if (argc - optind == 1)
		return container_diff(env, argv[optind]);
	if (argc - optind != 2) {
		fprintf(stderr, "cairn diff: expected two images, A and B, or a container\n");
		return cmd_usage_error(usage);
	}
	struct cairn_error err = CAIRN_ERROR_INIT;
	cleanup_store struct store *s = NULL;
	struct side a, b;
	/* a registry's image comes with progress on stderr, as pull shows it */
	ro.platform = o.platform;
	ro.progress = quiet ? NULL : stderr;
	util_catch_signals();
	if (open_side(env, &s, argv[optind], &ro, &a, &err) < 0) {
		cmd_fail(&err);
		return 2;
	}
	if (open_side(env, &s, argv[optind + 1], &ro, &b, &err) < 0) {
		side_release(&a);
		cmd_fail(&err);
		return 2;
	}
	struct diff_list col = {0};
	size_t count = 0;
	int r = diff_images(&a.img, &b.img, &o, quiet ? NULL : diff_list_add, &col, &count, &err);
	int status = count ? 1 : 0;
	if (r < 0) {
		cmd_fail(&err);
		status = 2;
	} else if (!quiet && json) {
		if (print_json(&a, &b, &col) < 0)
			status = 2;
	} else if (!quiet && col.n) {
		diff_list_print(stdout, &col, "A", "B");
	}
	if (fflush(stdout) != 0)
		status = 2;
	diff_list_release(&col);
	side_release(&a);
	side_release(&b);
	return status;
}
