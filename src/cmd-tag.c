/* cairn tag: another reference to an image. */
#include "commands.h"
#include "ref/ref.h"

static const char usage[] =
    "usage: cairn tag SOURCE TARGET\n"
    "\n"
    "Makes TARGET (\":latest\" added when it has no tag) name the image SOURCE\n"
    "names (a reference or a manifest digest).\n";

int cmd_tag(int argc, char **argv, const struct cmd_env *env)
{
	int status = cmd_begin(argc, argv, usage, 2, 2);
	if (status >= 0)
		return status;
	struct cairn_error err = CAIRN_ERROR_INIT;
	cleanup_store struct store *s = NULL;
	cleanup_oci_image struct oci_image img = {0};
	cleanup_free char *src = NULL, *dst = NULL;
	if (ref_local_name(argv[2], &dst, &err) < 0 ||
	    cmd_load_image(env, argv[1], true, &s, &img, &src, &err) < 0)
		return cmd_fail(&err);
	cleanup_free char *text = NULL;
	size_t len = 0;
	if (store_read_blob(s, img.digest, &text, &len, &err) < 0)
		return cmd_fail(&err);
	const char *mt = json_string_value(json_object_get(img.manifest, "mediaType"));
	struct store_tag t = {
	    .ref = dst,
	    .digest = img.digest,
	    .media_type = (char *)(mt ? mt : MEDIA_TYPE_OCI_MANIFEST),
	    .size = (int64_t)len,
	};
	if (store_tag_set(s, &t, &err) < 0)
		return cmd_fail(&err);
	return 0;
}
