/* cairn images: the tagged images in the store. */
#include "commands.h"

#include <errno.h>
#include <string.h>
#include <time.h>

static const char usage[] =
    "usage: cairn images [-q]\n"
    "\n"
    "Lists the tagged images: reference, manifest digest, when the image was\n"
    "created and its size (the sum of its blobs as stored, compressed).\n"
    "\n"
    "  -q, --quiet   print only the references\n"
    "  -h, --help    this help\n";

/* "3 minutes ago" from an RFC 3339 time; caller frees. */
static char *ago(const char *created)
{
	struct tm tm = {0};
	if (!created || !strptime(created, "%Y-%m-%dT%H:%M:%S", &tm))
		return xstrdup("-");
	time_t t = timegm(&tm);
	long d = (long)(time(NULL) - t);
	if (d < 0)
		return xstrdup("in the future");
	if (d < 60)
		return xstrdup("seconds ago");
	if (d < 3600)
		return xasprintf("%ld minute%s ago", d / 60, d / 60 == 1 ? "" : "s");
	if (d < 86400)
		return xasprintf("%ld hour%s ago", d / 3600, d / 3600 == 1 ? "" : "s");
	if (d < 86400 * 60)
		return xasprintf("%ld day%s ago", d / 86400, d / 86400 == 1 ? "" : "s");
	char buf[32];
	strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
	return xstrdup(buf);
}

int cmd_images(int argc, char **argv, const struct cmd_env *env)
{
	if (cmd_wants_help(argc, argv, usage))
		return 0;
	bool quiet = false;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-q") || !strcmp(argv[i], "--quiet")) {
			quiet = true;
		} else {
			fprintf(stderr, "cairn images: unexpected argument %s\n%s", argv[i], usage);
			return 2;
		}
	}
	struct cairn_error err = CAIRN_ERROR_INIT;
	cleanup_store struct store *s = NULL;
	struct store_tag *tags = NULL;
	size_t n = 0;
	/* reading only: a store the caller cannot write lists too; no store, no images */
	int r = store_open_readonly(env->root, &s, &err);
	if (r == -ENOENT)
		cairn_error_clear(&err);
	else if (r < 0 || store_tag_list(s, &tags, &n, &err) < 0)
		return cmd_fail(&err);
	if (!quiet)
		printf("%-40s %-19s %-16s %s\n", "REFERENCE", "DIGEST", "CREATED", "SIZE");
	for (size_t i = 0; i < n; i++) {
		if (quiet) {
			printf("%s\n", tags[i].ref);
			continue;
		}
		cleanup_oci_image struct oci_image img = {0};
		if (oci_image_load(s, tags[i].digest, &img, &err) < 0) {
			printf("%-40s %-19.19s %-16s %s\n", tags[i].ref, tags[i].digest, "?",
			       "(unreadable)");
			cairn_error_clear(&err);
			continue;
		}
		uint64_t size = (uint64_t)tags[i].size;
		json_t *cfg = json_object_get(img.manifest, "config");
		size += (uint64_t)json_integer_value(json_object_get(cfg, "size"));
		for (size_t l = 0; l < img.n_layers; l++)
			size += img.layers[l].size;
		cleanup_free char *when =
		    ago(json_string_value(json_object_get(img.config, "created")));
		cleanup_free char *hs = util_human_size(size);
		printf("%-40s %-19.19s %-16s %s\n", tags[i].ref, tags[i].digest, when, hs);
	}
	store_tags_free(tags, n);
	return 0;
}
