/* cairn history: the steps that made an image, newest first. */
#include "commands.h"

#include <string.h>

static const char usage[] =
    "usage: cairn history [--no-trunc] REF\n"
    "\n"
    "Shows the history of the image REF names, newest step first: when\n"
    "each step ran, the instruction, and the size of its layer as stored.\n";

int cmd_history(int argc, char **argv, const struct cmd_env *env)
{
	if (cmd_wants_help(argc, argv, usage))
		return 0;
	bool trunc = true;
	const char *ref_arg = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--no-trunc"))
			trunc = false;
		else if (!ref_arg)
			ref_arg = argv[i];
		else
			return cmd_usage_error(usage);
	}
	if (!ref_arg)
		return cmd_usage_error(usage);
	struct cairn_error err = CAIRN_ERROR_INIT;
	cleanup_store struct store *s = NULL;
	cleanup_oci_image struct oci_image img = {0};
	cleanup_free char *ref = NULL;
	if (cmd_load_image(env, ref_arg, false, &s, &img, &ref, &err) < 0)
		return cmd_fail(&err);
	json_t *hist = json_object_get(img.config, "history");
	size_t n = json_array_size(hist);
	/* layers belong to the non-empty history entries, in order */
	size_t layer = 0;
	for (size_t i = 0; i < n; i++)
		if (!json_is_true(json_object_get(json_array_get(hist, i), "empty_layer")))
			layer++;
	printf("%-22s %-60s %s\n", "CREATED", "CREATED BY", "SIZE");
	for (size_t i = n; i-- > 0;) {
		json_t *h = json_array_get(hist, i);
		const char *created = json_string_value(json_object_get(h, "created"));
		const char *by = json_string_value(json_object_get(h, "created_by"));
		bool empty = json_is_true(json_object_get(h, "empty_layer"));
		cleanup_free char *size = NULL;
		if (!empty && layer > 0 && layer <= img.n_layers)
			size = util_human_size(img.layers[--layer].size);
		else
			size = xstrdup("0B");
		cleanup_free char *shown = xstrdup(by ? by : "");
		if (trunc && strlen(shown) > 60)
			strcpy(shown + 57, "...");
		printf("%-22s %-60s %s\n", created ? created : "-", shown, size);
	}
	return 0;
}
