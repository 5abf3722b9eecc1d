/* Provenance: the SLSA v1 provenance statement (in-toto v1) of a build, written
 * from its report, attached to the image in the store as an OCI artifact, and read
 * back for a rebuild (cairn verify). The format is documented in cairn-build(1),
 * PROVENANCE. */
#include "internal.h"

#include "../oci/oci.h"
#include "../ref/ref.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

static const char *network_name(enum sandbox_network n)
{
	switch (n) {
	case SANDBOX_NET_NONE:
		return "none";
	case SANDBOX_NET_HOST:
		return "host";
	case SANDBOX_NET_PRIVATE:
		break;
	}
	return "private";
}

/* {"sha256": "<hex>"} of a digest string. */
static json_t *digest_set(const char *digest)
{
	return json_pack("{s:s}", "sha256", strncmp(digest, "sha256:", 7) ? digest : digest + 7);
}

/* The recipe's path as the statement records it: relative to the context when it is
 * in it (so that a rebuild finds it in another copy of the context), else its file
 * name (a rebuild then needs -f). New string. */
static char *recipe_in_context(const char *recipe, const char *context)
{
	cleanup_free char *rr = realpath(recipe, NULL);
	cleanup_free char *rc = realpath(context, NULL);
	size_t n = rc ? strlen(rc) : 0;
	if (rr && rc && !strncmp(rr, rc, n) && rr[n] == '/')
		return xstrdup(rr + n + 1);
	const char *slash = strrchr(recipe, '/');
	return xstrdup(slash ? slash + 1 : recipe);
}

/* pkg:docker/NAME@VERSION?platform=os%2Farch, the purl of a base image (buildkit's
 * form): VERSION is the tag FROM named, else the digest. */
static char *base_purl(const struct builder_report_base *b)
{
	cleanup_ref struct ref r = {0};
	struct cairn_error e = CAIRN_ERROR_INIT;
	if (ref_parse(b->name, &r, &e) < 0) {
		cairn_error_clear(&e);
		return xasprintf("pkg:docker/%s@%s?platform=linux%%2F%s", b->name, b->digest,
				 oci_arch());
	}
	cleanup_free char *name = ref_name(&r);
	return xasprintf("pkg:docker/%s@%s?platform=linux%%2F%s", name,
			 r.tag	    ? r.tag
			 : r.digest ? r.digest
				    : b->digest,
			 oci_arch());
}

char *builder_provenance_statement(const struct builder_opts *o, const struct builder_report *rp,
				   const char *digest, int64_t started, int64_t finished)
{
	json_t *ext = json_object();
	cleanup_free char *recipe = recipe_in_context(rp->recipe, o->context_dir);
	json_object_set_new(
	    ext, "recipe",
	    json_pack("{s:s, s:o}", "path", recipe, "digest", digest_set(rp->recipe_digest)));
	json_object_set_new(ext, "context",
			    json_pack("{s:o}", "digest", digest_set(rp->context_digest)));
	json_t *args = json_object();
	for (size_t i = 0; rp->build_args && rp->build_args[i]; i++) {
		const char *eq = strchr(rp->build_args[i], '=');
		cleanup_free char *k =
		    xstrndup(rp->build_args[i],
			     eq ? (size_t)(eq - rp->build_args[i]) : strlen(rp->build_args[i]));
		json_object_set_new(args, k, json_string(eq ? eq + 1 : ""));
	}
	json_object_set_new(ext, "buildArgs", args);
	if (rp->target)
		json_object_set_new(ext, "target", json_string(rp->target));
	cleanup_free char *platform = xasprintf("linux/%s", oci_arch());
	json_object_set_new(ext, "platform", json_string(platform));
	if (rp->source_date_epoch >= 0)
		json_object_set_new(ext, "sourceDateEpoch",
				    json_integer((json_int_t)rp->source_date_epoch));
	if (o->timestamp_set)
		json_object_set_new(ext, "timestamp", json_integer((json_int_t)o->timestamp));
	json_object_set_new(ext, "network", json_string(network_name(o->network)));
	json_object_set_new(ext, "compression",
			    json_string(layer_compression_name(o->compression)));

	json_t *internal =
	    json_pack("{s:b, s:s}", "networkDefaulted", o->network_defaulted, "isolation",
		      sandbox_isolation_name(sandbox_caps()->isolation));

	json_t *deps = json_array();
	for (size_t i = 0; i < rp->n_bases; i++) {
		cleanup_free char *uri = base_purl(&rp->bases[i]);
		json_array_append_new(deps, json_pack("{s:s, s:s, s:o}", "uri", uri, "name",
						      rp->bases[i].name, "digest",
						      digest_set(rp->bases[i].digest)));
	}

	json_t *steps = json_array();
	for (size_t i = 0; i < rp->n_steps; i++) {
		const struct builder_report_step *st = &rp->steps[i];
		cleanup_free char *name = xasprintf("step %zu", i + 1);
		json_t *ann = json_pack(
		    "{s:i, s:s, s:s, s:b}", "line", st->line, "stage", st->stage ? st->stage : "",
		    "instruction", st->instruction ? st->instruction : "", "cached", st->cached);
		if (st->layer >= 0)
			json_object_set_new(ann, "layer", json_integer(st->layer));
		json_array_append_new(steps,
				      json_pack("{s:s, s:s, s:o, s:o}", "name", name, "mediaType",
						BUILDER_PROVENANCE_STEP_TYPE, "digest",
						digest_set(st->key), "annotations", ann));
	}

	/* a build pinned in time (SOURCE_DATE_EPOCH, --timestamp) gets a statement
	 * without the times it ran: the same inputs give the same statement, so the
	 * store's index.json stays the same byte for byte */
	json_t *meta = json_object();
	if (rp->source_date_epoch < 0 && !o->timestamp_set) {
		cleanup_free char *t0 = util_rfc3339(started);
		cleanup_free char *t1 = util_rfc3339(finished);
		json_object_set_new(meta, "startedOn", json_string(t0));
		json_object_set_new(meta, "finishedOn", json_string(t1));
	}
	const char *name = o->tags && o->tags[0] ? o->tags[0] : digest;
	cleanup_json json_t *st = json_pack(
	    "{s:s, s:[{s:s, s:o}], s:s, s:{s:{s:s, s:o, s:o, s:o}, s:{s:{s:s, s:{s:s}}, "
	    "s:o, s:o}}}",
	    "_type", "https://in-toto.io/Statement/v1", "subject", "name", name, "digest",
	    digest_set(digest), "predicateType", "https://slsa.dev/provenance/v1", "predicate",
	    "buildDefinition", "buildType", BUILDER_PROVENANCE_BUILD_TYPE, "externalParameters",
	    ext, "internalParameters", internal, "resolvedDependencies", deps, "runDetails",
	    "builder", "id", BUILDER_PROVENANCE_BUILDER_ID, "version", "cairn", CAIRN_VERSION,
	    "metadata", meta, "byproducts", steps);
	if (!st)
		abort();
	return util_json_canonical(st);
}

/* Whether the statement attached to digest has the buildDefinition of statement;
 * its artifact's digest into artifact when it has. */
static bool same_definition(struct store *s, const char *digest, const char *statement,
			    char artifact[DIGEST_LEN])
{
	struct cairn_error e = CAIRN_ERROR_INIT;
	cleanup_free char *old = NULL, *subject = NULL;
	size_t len = 0;
	if (store_referrer_get(s, digest, MEDIA_TYPE_INTOTO, artifact, &e) < 0 ||
	    oci_artifact_read(s, artifact, MEDIA_TYPE_INTOTO, &subject, &old, &len, &e) < 0) {
		cairn_error_clear(&e);
		return false;
	}
	cleanup_json json_t *a = json_loadb(old, len, 0, NULL);
	cleanup_json json_t *b = json_loads(statement, 0, NULL);
	json_t *da = json_object_get(json_object_get(a, "predicate"), "buildDefinition");
	json_t *db = json_object_get(json_object_get(b, "predicate"), "buildDefinition");
	return subject && !strcmp(subject, digest) && da && db && json_equal(da, db);
}

int builder_provenance_attach(struct store *s, const char *digest, const char *statement,
			      char artifact[DIGEST_LEN], struct cairn_error *err)
{
	/* the image has one of the same build definition already (an unchanged
	 * rebuild): it is kept, so that such a rebuild writes nothing in the store;
	 * one of another definition (the same image from another recipe) is replaced:
	 * the statement says how the newest build made it */
	if (same_definition(s, digest, statement, artifact))
		return 0;
	cleanup_json json_t *ann =
	    json_pack("{s:s}", "in-toto.io/predicate-type", "https://slsa.dev/provenance/v1");
	int64_t size = 0;
	int r = oci_artifact_write(s, digest, MEDIA_TYPE_INTOTO, statement, strlen(statement),
				   MEDIA_TYPE_INTOTO, ann, artifact, &size, err);
	if (r == 0)
		r = store_referrer_set(s, digest, MEDIA_TYPE_INTOTO, artifact, size, err);
	return r < 0 ? cairn_error_wrap(err, "attaching the provenance of %s", digest) : 0;
}

int builder_provenance_find(struct store *s, const char *digest, char **statement, size_t *len,
			    struct cairn_error *err)
{
	char artifact[DIGEST_LEN];
	cleanup_free char *subject = NULL;
	int r = store_referrer_get(s, digest, MEDIA_TYPE_INTOTO, artifact, err);
	if (r < 0)
		return r;
	if ((r = oci_artifact_read(s, artifact, MEDIA_TYPE_INTOTO, &subject, statement, len, err)) <
	    0)
		return r;
	if (!subject || strcmp(subject, digest)) {
		free(steal_pointer(statement));
		return cairn_error_set(err, EBADMSG, "artifact %s is not about %s", artifact,
				       digest);
	}
	return 0;
}

/* ---- reading a statement back ---- */

void builder_provenance_release(struct builder_provenance *p)
{
	builder_report_release(&p->report);
	free(p->version);
	free(p->platform);
	memset(p, 0, sizeof *p);
}

/* "sha256:<hex>" of {"sha256": "<hex>"} into out; false when it is not one. */
static bool digest_get(json_t *set, char out[DIGEST_LEN])
{
	const char *hex = json_string_value(json_object_get(set, "sha256"));
	if (!hex || strlen(hex) != 64)
		return false;
	snprintf(out, DIGEST_LEN, "sha256:%s", hex);
	return digest_valid(out);
}

#define BAD(...) cairn_error_set(err, EBADMSG, "provenance: " __VA_ARGS__)

int builder_provenance_parse(const char *text, size_t len, struct builder_provenance *p,
			     struct cairn_error *err)
{
	memset(p, 0, sizeof *p);
	p->report.source_date_epoch = -1;
	json_error_t je;
	cleanup_json json_t *st = json_loadb(text, len, 0, &je);
	if (!json_is_object(st))
		return BAD("not a JSON object: %s", je.text);
	const char *type = json_string_value(json_object_get(st, "_type"));
	const char *ptype = json_string_value(json_object_get(st, "predicateType"));
	if (!type || strcmp(type, "https://in-toto.io/Statement/v1") || !ptype ||
	    strcmp(ptype, "https://slsa.dev/provenance/v1"))
		return BAD("not an in-toto v1 statement of SLSA v1 provenance");
	if (!digest_get(
		json_object_get(json_array_get(json_object_get(st, "subject"), 0), "digest"),
		p->subject))
		return BAD("no subject digest");
	json_t *pred = json_object_get(st, "predicate");
	json_t *def = json_object_get(pred, "buildDefinition");
	const char *bt = json_string_value(json_object_get(def, "buildType"));
	if (!bt || strcmp(bt, BUILDER_PROVENANCE_BUILD_TYPE))
		return BAD("build type %s is not cairn's (%s)", bt ? bt : "(none)",
			   BUILDER_PROVENANCE_BUILD_TYPE);
	json_t *ext = json_object_get(def, "externalParameters");
	json_t *recipe = json_object_get(ext, "recipe");
	const char *path = json_string_value(json_object_get(recipe, "path"));
	if (!path || !*path ||
	    !digest_get(json_object_get(recipe, "digest"), p->report.recipe_digest))
		return BAD("no recipe path and digest");
	p->report.recipe = xstrdup(path);
	if (!digest_get(json_object_get(json_object_get(ext, "context"), "digest"),
			p->report.context_digest))
		return BAD("no context digest");
	p->report.build_args = xcalloc(1, sizeof(char *));
	const char *k;
	json_t *v;
	json_object_foreach(json_object_get(ext, "buildArgs"), k, v)
	{
		if (!json_is_string(v))
			return BAD("build arg %s is not a string", k);
		strv_push_take(&p->report.build_args, xasprintf("%s=%s", k, json_string_value(v)));
	}
	const char *target = json_string_value(json_object_get(ext, "target"));
	p->report.target = target ? xstrdup(target) : NULL;
	json_t *sde = json_object_get(ext, "sourceDateEpoch");
	if (sde && (!json_is_integer(sde) || json_integer_value(sde) < 0))
		return BAD("sourceDateEpoch is not a number of seconds");
	if (sde)
		p->report.source_date_epoch = (int64_t)json_integer_value(sde);
	json_t *ts = json_object_get(ext, "timestamp");
	if (ts && (!json_is_integer(ts) || json_integer_value(ts) < 0))
		return BAD("timestamp is not a number of seconds");
	p->timestamp_set = ts != NULL;
	p->timestamp = ts ? (int64_t)json_integer_value(ts) : 0;
	const char *net = json_string_value(json_object_get(ext, "network"));
	if (!net || sandbox_network_parse(net, &p->network) < 0)
		return BAD("network %s is not private, none or host", net ? net : "(none)");
	const char *comp = json_string_value(json_object_get(ext, "compression"));
	if (!comp || layer_compression_parse(comp, &p->compression) < 0)
		return BAD("compression %s is not zstd, gzip or none", comp ? comp : "(none)");
	const char *platform = json_string_value(json_object_get(ext, "platform"));
	p->platform = xstrdup(platform ? platform : "");
	p->network_defaulted = json_is_true(
	    json_object_get(json_object_get(def, "internalParameters"), "networkDefaulted"));
	json_t *deps = json_object_get(def, "resolvedDependencies");
	p->report.bases = xcalloc(json_array_size(deps) + 1, sizeof *p->report.bases);
	size_t i;
	json_array_foreach(deps, i, v)
	{
		const char *name = json_string_value(json_object_get(v, "name"));
		struct builder_report_base *b = &p->report.bases[p->report.n_bases];
		if (!name || !digest_get(json_object_get(v, "digest"), b->digest))
			return BAD("resolved dependency %zu has no name and sha256 digest", i);
		b->name = xstrdup(name);
		p->report.n_bases++;
	}
	json_t *run = json_object_get(pred, "runDetails");
	const char *version = json_string_value(
	    json_object_get(json_object_get(json_object_get(run, "builder"), "version"), "cairn"));
	p->version = xstrdup(version ? version : "");
	json_t *steps = json_object_get(run, "byproducts");
	p->report.steps = xcalloc(json_array_size(steps) + 1, sizeof *p->report.steps);
	json_array_foreach(steps, i, v)
	{
		const char *mt = json_string_value(json_object_get(v, "mediaType"));
		if (!mt || strcmp(mt, BUILDER_PROVENANCE_STEP_TYPE))
			continue;
		struct builder_report_step *s = &p->report.steps[p->report.n_steps];
		json_t *a = json_object_get(v, "annotations");
		if (!digest_get(json_object_get(v, "digest"), s->key))
			return BAD("step %zu has no sha256 cache key", i + 1);
		s->line = (int)json_integer_value(json_object_get(a, "line"));
		const char *stage = json_string_value(json_object_get(a, "stage"));
		const char *in = json_string_value(json_object_get(a, "instruction"));
		s->stage = xstrdup(stage ? stage : "");
		s->instruction = xstrdup(in ? in : "");
		s->cached = json_is_true(json_object_get(a, "cached"));
		json_t *layer = json_object_get(a, "layer");
		s->layer = json_is_integer(layer) ? (long)json_integer_value(layer) : -1;
		p->report.n_steps++;
	}
	/* the final image's layers before its first step's are its base's */
	p->report.n_base_layers = 0;
	for (size_t n = 0; n < p->report.n_steps; n++)
		if (p->report.steps[n].layer >= 0) {
			p->report.n_base_layers = p->report.steps[n].layer;
			break;
		}
	return 0;
}
