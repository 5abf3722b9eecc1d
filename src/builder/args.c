/* Build arguments: --build-arg values, the predefined ones (proxies, platform), ARG
 * declarations and the warning for a value no ARG used. */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- ARG ---- */

static const char *builder_arg_value(struct builder *b, const char *name)
{
	return builder_env_get(b->build_args, name);
}

static void mark_used(struct builder *b, const char *name)
{
	if (!builder_env_has(b->used_args, name))
		strv_push(&b->used_args, name);
}

/* Declares the ARGs of one instruction into *args; st is NULL before the first FROM. */
int builder_declare_args(struct builder *b, const struct builder_instr *in, struct stage *st,
			 char ***args, struct strbuf *desc, struct cairn_error *err)
{
	for (size_t i = 0; i < in->arg.n; i++) {
		const char *name = in->arg.v[i].name;
		cleanup_free char *value = NULL;
		const char *given = builder_arg_value(b, name);
		int r;
		/* a given value wins before the default is expanded, as BuildKit: the
		 * default "${FOO:?message}" fails only when FOO was not given */
		if (!given && in->arg.v[i].value &&
		    (r = builder_expand_word(b, in->syn, st, in->arg.v[i].value, &value, err)) < 0)
			return r;
		if (given) {
			mark_used(b, name);
			builder_env_set(args, name, given);
		} else if (value) {
			builder_env_set(args, name, value);
		} else if (st && builder_env_get(b->meta_args, name)) {
			builder_env_set(args, name, builder_env_get(b->meta_args, name));
		} else {
			builder_env_set(args, name, NULL);
		}
		const char *v = builder_env_get(*args, name);
		strbuf_addf(desc, " %s%s%s", name, v ? "=" : "", v ? v : "");
	}
	return 0;
}

int builder_resolve_build_args(struct builder *b, struct cairn_error *err)
{
	for (size_t i = 0; b->o->build_args && b->o->build_args[i]; i++) {
		const char *a = b->o->build_args[i];
		const char *eq = strchr(a, '=');
		if (eq == a)
			return cairn_error_set(err, EINVAL, "--build-arg %s: empty name", a);
		if (eq) {
			cleanup_free char *name = xstrndup(a, (size_t)(eq - a));
			builder_env_set(&b->build_args, name, eq + 1);
		} else if (getenv(a)) {
			builder_env_set(&b->build_args, a, getenv(a));
		}
	}
	return 0;
}

/* The predefined build args: usable without an ARG (docker's proxy variables), each
 * upper-case name followed by its lower-case one (RUN gets both). */
const char *const builder_proxy_args[] = {"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy",
					  "FTP_PROXY",	"ftp_proxy",  "NO_PROXY",    "no_proxy",
					  "ALL_PROXY",	"all_proxy",  NULL};

void builder_warn_unused_args(struct builder *b)
{
	for (size_t i = 0; b->build_args[i]; i++) {
		cleanup_free char *name =
		    xstrndup(b->build_args[i], strcspn(b->build_args[i], "="));
		/* SOURCE_DATE_EPOCH is the build's own, used whether an ARG names it or not */
		bool pre = !strcmp(name, "SOURCE_DATE_EPOCH");
		for (size_t j = 0; builder_proxy_args[j]; j++)
			pre = pre || !strcmp(builder_proxy_args[j], name);
		if (!pre && !builder_env_has(b->used_args, name))
			builder_progress(b, "warning: build argument %s was not used by any ARG\n",
					 name);
	}
}

void builder_add_platform_args(struct builder *b)
{
	const char *arch = oci_arch();
	cleanup_free char *platform = xasprintf("linux/%s", arch);
	builder_env_set(&b->meta_args, "TARGETPLATFORM", platform);
	builder_env_set(&b->meta_args, "TARGETOS", "linux");
	builder_env_set(&b->meta_args, "TARGETARCH", arch);
	builder_env_set(&b->meta_args, "TARGETVARIANT", "");
	builder_env_set(&b->meta_args, "BUILDPLATFORM", platform);
	builder_env_set(&b->meta_args, "BUILDOS", "linux");
	builder_env_set(&b->meta_args, "BUILDARCH", arch);
	builder_env_set(&b->meta_args, "BUILDVARIANT", "");
	/* the stage the build was asked for, as BuildKit names it: --target, else
	 * "default" */
	builder_env_set(&b->meta_args, "TARGETSTAGE", b->o->target ? b->o->target : "default");
}
