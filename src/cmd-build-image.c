/* cairn build's options for the image it makes and where its result is recorded,
 * as docker buildx build takes them: --label, --annotation, --platform,
 * --no-cache-filter, --iidfile, --metadata-file and --load; and the buildx flags
 * cairn refuses, each with why. cmd-build.c lists them (CMD_BUILD_IMAGE_OPTIONS)
 * and hands them here. */
#include "builder/builder.h"
#include "commands.h"
#include "oci/oci.h"
#include "store/store.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "K=V" with a K: what --label and --annotation take */
static bool key_value_ok(const char *flag, const char *arg)
{
	const char *eq = strchr(arg, '=');
	if (eq && eq != arg)
		return true;
	fprintf(stderr, "cairn build: %s %s: expected KEY=VALUE\n", flag, arg);
	return false;
}

/* --annotation: buildx's typed forms "manifest:K=V" and "manifest[PLATFORM]:K=V"
 * (the default type is manifest, which is where cairn writes them); index,
 * manifest-descriptor and index-descriptor need an image index, which a build of
 * one platform does not make. */
static int annotation(const char *arg, struct cmd_build_image *o)
{
	const char *eq = strchr(arg, '=');
	const char *colon = strchr(arg, ':');
	const char *kv = arg;
	if (colon && eq && colon < eq) {
		size_t n = (size_t)(colon - arg);
		cleanup_free char *type = xstrndup(arg, n);
		char *bracket = strchr(type, '[');
		if (bracket)
			*bracket = '\0';
		if (strcmp(type, "manifest")) {
			fprintf(stderr,
				"cairn build: --annotation %s: cairn writes annotations on the "
				"image manifest only (manifest:KEY=VALUE or KEY=VALUE); %s "
				"annotations need an image index, which a build of one platform "
				"does not make\n",
				arg, type);
			return -1;
		}
		if (bracket) {
			cleanup_free char *platform =
			    xstrndup(bracket + 1, strcspn(bracket + 1, "]"));
			cleanup_free char *host = xasprintf("linux/%s", oci_arch());
			if (strcmp(platform, host)) {
				fprintf(stderr,
					"cairn build: --annotation %s: the build makes only %s\n",
					arg, host);
				return -1;
			}
		}
		kv = colon + 1;
	}
	if (!key_value_ok("--annotation", kv))
		return -1;
	strv_push(&o->annotations, kv);
	return 0;
}

/* --platform: one target platform, this system's (buildx's "local" too);
 * comma-separated lists and other platforms are refused until multi-platform
 * builds exist. */
static int platform(const char *arg)
{
	cleanup_free char *host = xasprintf("linux/%s", oci_arch());
	if (!strcmp(arg, "local") || !strcmp(arg, host))
		return 0;
	if (strchr(arg, ',')) {
		fprintf(stderr,
			"cairn build: --platform %s: cairn builds one platform at a time (no "
			"multi-platform builds yet); give one, %s\n",
			arg, host);
		return -1;
	}
	fprintf(stderr,
		"cairn build: --platform %s: cairn builds only for this system's platform, "
		"%s, until multi-platform builds exist (RUN steps would need an emulator)\n",
		arg, host);
	return -1;
}

/* buildx flags cairn does not have, each with why; their argument (if any) is
 * taken so that the message names the flag, not a stray CONTEXT. */
static const struct {
	int opt;
	const char *name;
	const char *why;
} refused[] = {
    {CMD_OPT_SBOM, "--sbom", "cairn makes no SBOM; it attaches SLSA provenance (--provenance)"},
    {CMD_OPT_ATTEST, "--attest", "cairn attaches only SLSA provenance; use --provenance"},
    {CMD_OPT_BUILDER, "--builder",
     "cairn has no builder instances: it builds in this process, daemonless"},
    {CMD_OPT_CGROUP_PARENT, "--cgroup-parent",
     "RUN steps' cgroups are made below cairn's own (see --memory, --cpu-quota)"},
    {CMD_OPT_CALL, "--call", "cairn has no frontend methods; --check lints the recipe"},
};

int cmd_build_image_option(int c, const char *arg, struct cmd_build_image *o,
			   struct builder_opts *bo)
{
	switch (c) {
	case CMD_OPT_LABEL:
		if (!key_value_ok("--label", arg))
			return -1;
		strv_push(&o->labels, arg);
		bo->labels = o->labels;
		return 1;
	case CMD_OPT_ANNOTATION:
		if (annotation(arg, o) < 0)
			return -1;
		bo->annotations = o->annotations;
		return 1;
	case CMD_OPT_PLATFORM:
		return platform(arg) < 0 ? -1 : 1;
	case CMD_OPT_NO_CACHE_FILTER:
		for (const char *f = arg; *f;) {
			size_t n = strcspn(f, ",");
			if (n) {
				cleanup_free char *name = xstrndup(f, n);
				strv_push(&o->no_cache, name);
			}
			f += n + (f[n] == ',');
		}
		bo->no_cache_stages = o->no_cache;
		return 1;
	case CMD_OPT_IIDFILE:
		o->iidfile = arg;
		return 1;
	case CMD_OPT_METADATA_FILE:
		o->metadata_file = arg;
		return 1;
	case CMD_OPT_BUILD_CONTEXT:
		/* resolved once the store is open (cmd_build_named_contexts) */
		if (!strchr(arg, '=') || arg[0] == '=') {
			fprintf(stderr, "cairn build: --build-context %s: expected NAME=VALUE\n",
				arg);
			return -1;
		}
		strv_push(&o->build_contexts, arg);
		return 1;
	case CMD_OPT_SQUASH:
		bo->squash = true;
		return 1;
	case CMD_OPT_LOAD:
		/* buildx's --load puts the image into docker; cairn's store is where every
		 * build goes, so it is what cairn does anyway */
		return 1;
	}
	for (size_t i = 0; i < sizeof refused / sizeof *refused; i++)
		if (refused[i].opt == c) {
			fprintf(stderr, "cairn build: %s is not supported: %s\n", refused[i].name,
				refused[i].why);
			return -1;
		}
	return 0;
}

void cmd_build_image_release(struct cmd_build_image *o)
{
	strv_free(o->labels);
	strv_free(o->annotations);
	strv_free(o->no_cache);
	strv_free(o->build_contexts);
	memset(o, 0, sizeof *o);
}

/* Writes text to path whole, as buildx does (replacing it). */
static int write_text(const char *flag, const char *path, const char *text, struct cairn_error *err)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return cairn_error_errno(err, errno, "%s %s", flag, path);
	fputs(text, f);
	if (fclose(f) != 0)
		return cairn_error_errno(err, errno, "%s %s: writing", flag, path);
	return 0;
}

int cmd_build_image_finish(struct store *s, const struct cmd_build_image *o, const char *digest,
			   char *const *tags, struct cairn_error *err)
{
	if (!o->iidfile && !o->metadata_file)
		return 0;
	cleanup_oci_image struct oci_image img = {0};
	if (oci_image_load(s, digest, &img, err) < 0)
		return -1;
	json_t *config = json_object_get(img.manifest, "config");
	const char *config_digest = json_string_value(json_object_get(config, "digest"));
	/* as buildx: the config digest, docker's image ID */
	if (o->iidfile && write_text("--iidfile", o->iidfile, config_digest, err) < 0)
		return -1;
	if (!o->metadata_file)
		return 0;
	uint64_t size = 0;
	if (store_blob_size(s, digest, &size, err) < 0)
		return -1;
	cleanup_strbuf struct strbuf names = STRBUF_INIT;
	for (size_t i = 0; tags && tags[i]; i++)
		strbuf_addf(&names, "%s%s", i ? "," : "", tags[i]);
	cleanup_json json_t *md = json_pack(
	    "{s:s, s:s, s:{s:s, s:s, s:I, s:{s:s, s:s}}}", "containerimage.digest", digest,
	    "containerimage.config.digest", config_digest, "containerimage.descriptor", "mediaType",
	    MEDIA_TYPE_OCI_MANIFEST, "digest", digest, "size", (json_int_t)size, "platform",
	    "architecture", oci_arch(), "os", "linux");
	if (names.len)
		json_object_set_new(md, "image.name", json_string(names.buf));
	cleanup_free char *text = json_dumps(md, JSON_INDENT(2) | JSON_SORT_KEYS);
	strbuf_reset(&names);
	strbuf_addf(&names, "%s\n", text);
	return write_text("--metadata-file", o->metadata_file, names.buf, err);
}
