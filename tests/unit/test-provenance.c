/* Provenance: the statement a build's report gives and reading it back (every field
 * a rebuild needs, the run times only when the build was not pinned in time, bad
 * statements refused), and its artifact in the store (found from the image, one per
 * image, never listed as a tag, gone with the image's last tag). */
#include "builder/builder.h"
#include "oci/oci.h"
#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char image[] =
    "sha256:1111111111111111111111111111111111111111111111111111111111111111";

static char *make_tmpdir(void)
{
	const char *t = getenv("TMPDIR");
	char *tmpl = xasprintf("%s/cairn-test-provenance-XXXXXX", t && *t ? t : "/tmp");
	if (!mkdtemp(tmpl)) {
		perror("mkdtemp");
		exit(2);
	}
	return tmpl;
}

/* A report as a build of CTX/Recipe would fill it. */
static void fill_report(struct builder_report *rp, const char *ctx)
{
	memset(rp, 0, sizeof *rp);
	rp->recipe = xasprintf("%s/Recipe", ctx);
	snprintf(rp->recipe_digest, DIGEST_LEN, "sha256:%064d", 2);
	snprintf(rp->context_digest, DIGEST_LEN, "sha256:%064d", 3);
	rp->source_date_epoch = 1700000000;
	rp->build_args = xcalloc(3, sizeof(char *));
	rp->build_args[0] = xstrdup("GREETING=hello world");
	rp->build_args[1] = xstrdup("EMPTY=");
	rp->target = xstrdup("final");
	rp->n_bases = 1;
	rp->bases = xcalloc(1, sizeof *rp->bases);
	rp->bases[0].name = xstrdup("localhost:5000/base:1");
	snprintf(rp->bases[0].digest, DIGEST_LEN, "sha256:%064d", 4);
	rp->n_steps = 2;
	rp->steps = xcalloc(2, sizeof *rp->steps);
	rp->steps[0] = (struct builder_report_step){.line = 2,
						    .stage = xstrdup("final"),
						    .instruction = xstrdup("ARG GREETING"),
						    .layer = -1};
	snprintf(rp->steps[0].key, DIGEST_LEN, "sha256:%064d", 5);
	rp->steps[1] = (struct builder_report_step){.line = 3,
						    .stage = xstrdup("final"),
						    .instruction = xstrdup("COPY a /a"),
						    .cached = true,
						    .layer = 3};
	snprintf(rp->steps[1].key, DIGEST_LEN, "sha256:%064d", 6);
	rp->n_base_layers = 3;
}

static void test_roundtrip(const char *ctx)
{
	struct builder_report rp;
	fill_report(&rp, ctx);
	char *tags[] = {"app:1", NULL};
	struct builder_opts o = {.context_dir = ctx,
				 .tags = tags,
				 .network = SANDBOX_NET_NONE,
				 .compression = LAYER_GZIP,
				 .timestamp_set = true,
				 .timestamp = 42};
	cleanup_free char *text = builder_provenance_statement(&o, &rp, image, 100, 200);
	ok(text && !strstr(text, "startedOn"), "a build pinned in time records no run times");
	ok(strstr(text, "\"buildType\":\"" BUILDER_PROVENANCE_BUILD_TYPE "\"") != NULL,
	   "the statement names cairn's build type");
	struct builder_provenance p;
	struct cairn_error err = CAIRN_ERROR_INIT;
	ok(builder_provenance_parse(text, strlen(text), &p, &err) == 0, "it parses back: %s",
	   err.msg ? err.msg : "");
	is_str(p.subject, image, "subject");
	is_str(p.report.recipe, "Recipe", "the recipe's path is relative to the context");
	is_str(p.report.recipe_digest, rp.recipe_digest, "recipe digest");
	is_str(p.report.context_digest, rp.context_digest, "context digest");
	is_int(p.report.source_date_epoch, 1700000000, "SOURCE_DATE_EPOCH");
	ok(p.timestamp_set && p.timestamp == 42, "--timestamp");
	is_int(p.network, SANDBOX_NET_NONE, "network");
	is_int(p.compression, LAYER_GZIP, "compression");
	is_str(p.report.target, "final", "target");
	/* build args come back sorted by name (a JSON object, canonical) */
	ok(p.report.build_args[0] && !strcmp(p.report.build_args[0], "EMPTY=") &&
	       p.report.build_args[1] && !strcmp(p.report.build_args[1], "GREETING=hello world") &&
	       !p.report.build_args[2],
	   "build args, an empty value kept");
	ok(p.report.n_bases == 1 && !strcmp(p.report.bases[0].name, "localhost:5000/base:1") &&
	       !strcmp(p.report.bases[0].digest, rp.bases[0].digest),
	   "the base by its name and digest");
	ok(p.report.n_steps == 2 && !strcmp(p.report.steps[1].key, rp.steps[1].key) &&
	       p.report.steps[1].line == 3 && p.report.steps[1].layer == 3 &&
	       p.report.steps[1].cached && p.report.steps[0].layer == -1 &&
	       !strcmp(p.report.steps[0].instruction, "ARG GREETING"),
	   "each step's key, line, instruction, layer");
	is_int(p.report.n_base_layers, 3, "the base's layers: those before the first step's");
	is_str(p.version, CAIRN_VERSION, "cairn's version");
	builder_provenance_release(&p);

	rp.source_date_epoch = -1;
	o.timestamp_set = false;
	cleanup_free char *timed = builder_provenance_statement(&o, &rp, image, 100, 200);
	ok(strstr(timed, "\"startedOn\":\"1970-01-01T00:01:40Z\"") &&
	       strstr(timed, "\"finishedOn\":\"1970-01-01T00:03:20Z\""),
	   "a build not pinned in time records when it ran");
	ok(builder_provenance_parse(timed, strlen(timed), &p, &err) == 0 &&
	       p.report.source_date_epoch == -1 && !p.timestamp_set,
	   "no SOURCE_DATE_EPOCH reads back as none");
	builder_provenance_release(&p);
	builder_report_release(&rp);
}

static void refused(const char *text, const char *what, const char *name)
{
	struct builder_provenance p;
	struct cairn_error err = CAIRN_ERROR_INIT;
	int r = builder_provenance_parse(text, strlen(text), &p, &err);
	ok(r == -EBADMSG && err.msg && strstr(err.msg, what), "refused: %s (%s)", name,
	   err.msg ? err.msg : "accepted");
	cairn_error_clear(&err);
	builder_provenance_release(&p);
}

/* A good statement with one change made at path (a.b.c) to value (NULL: removed). */
static char *changed(const char *ctx, const char *path, json_t *value)
{
	struct builder_report rp;
	fill_report(&rp, ctx);
	struct builder_opts o = {.context_dir = ctx, .compression = LAYER_ZSTD};
	cleanup_free char *text = builder_provenance_statement(&o, &rp, image, 1, 2);
	builder_report_release(&rp);
	cleanup_json json_t *j = json_loads(text, 0, NULL);
	json_t *at = j;
	cleanup_free char *p = xstrdup(path);
	char *key = p, *dot;
	while ((dot = strchr(key, '.'))) {
		*dot = '\0';
		at = json_object_get(at, key);
		key = dot + 1;
	}
	if (value)
		json_object_set_new(at, key, value);
	else
		json_object_del(at, key);
	return json_dumps(j, JSON_COMPACT);
}

static void test_refused(const char *ctx)
{
	refused("[", "not a JSON object", "not JSON");
	char *t = changed(ctx, "predicateType", json_string("https://slsa.dev/provenance/v0.2"));
	refused(t, "SLSA v1", "another predicate type");
	free(t);
	t = changed(ctx, "predicate.buildDefinition.buildType", json_string("https://x/y"));
	refused(t, "is not cairn's", "another build type");
	free(t);
	t = changed(ctx, "predicate.buildDefinition.externalParameters.recipe", NULL);
	refused(t, "no recipe", "no recipe");
	free(t);
	t = changed(ctx, "predicate.buildDefinition.externalParameters.buildArgs",
		    json_pack("{s:i}", "N", 1));
	refused(t, "build arg N", "a build arg that is not a string");
	free(t);
	t = changed(ctx, "predicate.buildDefinition.externalParameters.network",
		    json_string("bridge"));
	refused(t, "network bridge", "an unknown network");
	free(t);
	t = changed(ctx, "predicate.buildDefinition.externalParameters.sourceDateEpoch",
		    json_integer(-5));
	refused(t, "sourceDateEpoch", "a negative SOURCE_DATE_EPOCH");
	free(t);
}

static void test_store(const char *root)
{
	struct cairn_error err = CAIRN_ERROR_INIT;
	cleanup_store struct store *s = NULL;
	diag("a store at %s", root);
	ok(store_open(root, &s, &err) == 0, "store_open");
	cleanup_oci_image struct oci_image img = {0};
	oci_image_init_scratch(&img);
	int64_t size = 0;
	ok(oci_image_write(s, &img, &size, &err) == 0, "an image to attach to");
	struct store_tag t = {.ref = "app:1",
			      .digest = img.digest,
			      .media_type = MEDIA_TYPE_OCI_MANIFEST,
			      .size = size};
	ok(store_tag_set(s, &t, &err) == 0, "tagged");
	char a1[DIGEST_LEN], a2[DIGEST_LEN], a3[DIGEST_LEN], found[DIGEST_LEN];
	const char *st1 = "{\"predicate\":{\"buildDefinition\":{\"x\":1}},\"n\":1}";
	const char *st2 = "{\"predicate\":{\"buildDefinition\":{\"x\":1}},\"n\":2}";
	const char *st3 = "{\"predicate\":{\"buildDefinition\":{\"x\":2}},\"n\":3}";
	ok(builder_provenance_attach(s, img.digest, st1, a1, &err) == 0, "attached");
	ok(store_referrer_get(s, img.digest, MEDIA_TYPE_INTOTO, found, &err) == 0 &&
	       !strcmp(found, a1),
	   "found from the image");
	cleanup_free char *text = NULL;
	size_t len = 0;
	ok(builder_provenance_find(s, img.digest, &text, &len, &err) == 0 && len == strlen(st1) &&
	       !memcmp(text, st1, len),
	   "its statement read back");
	ok(builder_provenance_attach(s, img.digest, st2, a2, &err) == 0 && !strcmp(a1, a2),
	   "the same build definition keeps the statement");
	ok(builder_provenance_attach(s, img.digest, st3, a3, &err) == 0 && strcmp(a1, a3) &&
	       store_referrer_get(s, img.digest, MEDIA_TYPE_INTOTO, found, &err) == 0 &&
	       !strcmp(found, a3),
	   "another build definition replaces it");
	cleanup_free char *index = NULL;
	cleanup_free char *index_path = xasprintf("%s/index.json", root);
	util_read_file(AT_FDCWD, index_path, &index, NULL, &err);
	cleanup_json json_t *j = index ? json_loads(index, 0, NULL) : NULL;
	is_int(json_array_size(json_object_get(j, "manifests")), 2,
	       "index.json: the tag and one referrer");
	struct store_tag *tags = NULL;
	size_t n = 0;
	ok(store_tag_list(s, &tags, &n, &err) == 0 && n == 1, "the referrer is not a tag");
	store_tags_free(tags, n);
	ok(store_tag_remove(s, "app:1", &err) == 0 &&
	       store_referrer_get(s, img.digest, MEDIA_TYPE_INTOTO, found, &err) == -ENOENT,
	   "it goes with the image's last tag");
	cairn_error_clear(&err);
}

int main(void)
{
	cleanup_free char *dir = make_tmpdir();
	cleanup_free char *ctx = xasprintf("%s/ctx", dir);
	cleanup_free char *root = xasprintf("%s/store", dir);
	cleanup_free char *recipe = xasprintf("%s/Recipe", ctx);
	mkdir(ctx, 0755);
	close(open(recipe, O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
	test_roundtrip(ctx);
	test_refused(ctx);
	test_store(root);
	util_rm_rf(AT_FDCWD, dir, NULL);
	return done_testing();
}
