/* The flags of instructions. */
#include "internal.h"

#include <errno.h>
#include <string.h>

/* ---- flags ---- */

/* Splits "--name=value" flags; every flag must be in allowed ("chown,chmod"). */
int builder_check_flags(struct builder *b, const struct recipe_instr *in, const char *allowed,
			struct cairn_error *err)
{
	for (size_t i = 0; in->flags && in->flags[i]; i++) {
		const char *f = in->flags[i] + 2;
		size_t n = strcspn(f, "=");
		bool ok = false;
		for (const char *a = allowed; *a;) {
			size_t an = strcspn(a, ",");
			if (an == n && !strncmp(a, f, n))
				ok = true;
			a += an + (a[an] == ',');
		}
		if (!ok)
			return builder_instr_error(b, in, err, EINVAL, "unknown flag: --%.*s",
						   (int)n, f);
	}
	return 0;
}

const char *builder_flag_value(const struct recipe_instr *in, const char *name)
{
	size_t n = strlen(name);
	const char *v = NULL;
	for (size_t i = 0; in->flags && in->flags[i]; i++) {
		const char *f = in->flags[i] + 2;
		if (!strncmp(f, name, n) && (f[n] == '=' || f[n] == '\0'))
			v = f[n] == '=' ? f + n + 1 : "";
	}
	return v;
}
