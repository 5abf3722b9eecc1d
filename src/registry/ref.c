/* registry: references as a registry takes them (the grammar is ref's), and
 * finding an image in the store by the name a user wrote. */
#include "registry.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The port of a domain ("host:5000", "[::1]:5000") is one a connection can use. The
 * grammar takes any digits; a URL does not. */
static bool port_usable(const char *domain)
{
	const char *p = domain[0] == '[' ? strchr(domain, ']') : domain;
	p = p ? strchr(p, ':') : NULL;
	if (!p)
		return true;
	unsigned long v = 0;
	for (p++; *p; p++)
		if ((v = v * 10 + (unsigned long)(*p - '0')) > 65535)
			return false;
	return true;
}

int registry_ref_parse(const char *s, struct ref *out, struct cairn_error *err)
{
	int r = ref_parse(s, out, err);
	if (r < 0)
		return r;
	if (!port_usable(out->domain)) {
		r = cairn_error_set(err, EINVAL,
				    "invalid reference \"%s\": the port of %s is above 65535", s,
				    out->domain);
		ref_release(out);
		return r;
	}
	if (!out->tag && !out->digest)
		out->tag = xstrdup(REF_DEFAULT_TAG);
	return 0;
}

const char *registry_ref_api_host(const struct ref *r)
{
	return strcmp(r->domain, REF_DEFAULT_DOMAIN) ? r->domain : "registry-1.docker.io";
}

int registry_store_lookup(struct store *s, const char *name, struct store_tag *out,
			  struct cairn_error *err)
{
	memset(out, 0, sizeof *out);
	cleanup_free char *local = NULL;
	int r = ref_local_name(name, &local, err);
	if (r < 0)
		return r;
	const char *at = strchr(name, '@');
	if (at) {
		if (!store_has_blob(s, at + 1))
			return cairn_error_set(err, ENOENT, "%s is not in the store", name);
		out->ref = xstrdup(name);
		out->digest = xstrdup(at + 1);
		return 0;
	}
	struct cairn_error e = CAIRN_ERROR_INIT;
	if ((r = store_tag_get(s, local, out, &e)) != -ENOENT) {
		cairn_error_move(err, &e);
		return r;
	}
	cairn_error_clear(&e);
	/* one image, three spellings: as written, full ("docker.io/library/debian:12")
	 * and familiar ("debian:12"); a tag stored under any of them is found by all */
	cleanup_free char *full = NULL;
	if (ref_normalize(name, &full, &e) == 0) {
		cleanup_ref struct ref parsed = {0};
		cleanup_free char *familiar = NULL;
		if (ref_parse(full, &parsed, NULL) == 0)
			familiar = ref_familiar(&parsed);
		const char *forms[] = {full, familiar};
		for (size_t i = 0; i < 2; i++) {
			if (!forms[i] || !strcmp(forms[i], local))
				continue;
			if ((r = store_tag_get(s, forms[i], out, &e)) != -ENOENT) {
				cairn_error_move(err, &e);
				return r;
			}
			cairn_error_clear(&e);
		}
	}
	cairn_error_clear(&e);
	return cairn_error_set(err, ENOENT, "%s is not in the store", local);
}
