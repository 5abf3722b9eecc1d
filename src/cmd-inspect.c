/* cairn inspect: an image's manifest and config as JSON. */
#include "commands.h"

static const char usage[] =
    "usage: cairn inspect REF\n"
    "\n"
    "Prints {\"Reference\", \"Digest\", \"Manifest\", \"Config\"} of the image\n"
    "REF names (a tag, \":latest\" added when it has none, or a manifest\n"
    "digest) as JSON on stdout.\n";

int cmd_inspect(int argc, char **argv, const struct cmd_env *env)
{
	int status = cmd_begin(argc, argv, usage, 1, 1);
	if (status >= 0)
		return status;
	struct cairn_error err = CAIRN_ERROR_INIT;
	cleanup_store struct store *s = NULL;
	cleanup_oci_image struct oci_image img = {0};
	cleanup_free char *ref = NULL;
	if (cmd_load_image(env, argv[1], false, &s, &img, &ref, &err) < 0)
		return cmd_fail(&err);
	cleanup_json json_t *out =
	    json_pack("{s:s, s:s, s:O, s:O}", "Reference", ref, "Digest", img.digest, "Manifest",
		      img.manifest, "Config", img.config);
	if (json_dumpf(out, stdout, JSON_INDENT(2)) < 0)
		return 1;
	printf("\n");
	return 0;
}
