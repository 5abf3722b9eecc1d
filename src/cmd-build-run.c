/* cairn build's options for the sandbox of its RUN steps, as docker buildx build
 * takes them: --add-host, --hostname, --shm-size, --ulimit, --memory (-m),
 * --cpu-quota, --allow and --ssh. cmd-build.c lists them (CMD_BUILD_RUN_OPTIONS)
 * and hands them here; what they mean is sandbox_spec's. */
#include "builder/builder.h"
#include "commands.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int bad(struct cairn_error *err)
{
	cleanup_free char *msg = cairn_error_format(err);
	fprintf(stderr, "cairn build: %s\n", msg);
	cairn_error_clear(err);
	return -1;
}

/* docker's hostname rule (RFC 1123 labels, at most 63 characters in all) */
static bool hostname_ok(const char *name)
{
	size_t n = strlen(name);
	if (!n || n > 63 || name[0] == '-' || name[0] == '.' || name[n - 1] == '-' ||
	    name[n - 1] == '.')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && name[i] != '-' && name[i] != '.')
			return false;
	return !strstr(name, "..");
}

/* --allow: buildx's entitlements, comma-separated or repeated */
static int parse_allow(const char *arg, struct builder_opts *bo)
{
	for (const char *f = arg; *f;) {
		size_t n = strcspn(f, ",");
		if (n == strlen("network.host") && !strncmp(f, "network.host", n)) {
			bo->allow_network_host = true;
		} else if (n == strlen("security.insecure") &&
			   !strncmp(f, "security.insecure", n)) {
			bo->allow_insecure = true;
		} else {
			fprintf(stderr,
				"cairn build: --allow %s: unknown entitlement %.*s (expected "
				"network.host or security.insecure)\n",
				arg, (int)n, f);
			return -1;
		}
		f += n + (f[n] == ',');
	}
	return 0;
}

int cmd_build_run_option(int c, const char *arg, struct cmd_build_run *o, struct builder_opts *bo)
{
	struct cairn_error err = CAIRN_ERROR_INIT;
	switch (c) {
	case CMD_OPT_ADD_HOST:
		if (sandbox_add_host_parse(arg, &err) < 0)
			return bad(&err);
		strv_push(&o->add_hosts, arg);
		bo->add_hosts = o->add_hosts;
		return 1;
	case CMD_OPT_HOSTNAME:
		if (!hostname_ok(arg)) {
			fprintf(stderr,
				"cairn build: --hostname %s: expected a host name (letters, "
				"digits, '-' and '.', at most 63)\n",
				arg);
			return -1;
		}
		bo->hostname = arg;
		return 1;
	case CMD_OPT_SHM_SIZE:
		if (sandbox_size_parse("--shm-size", arg, &bo->shm_size, &err) < 0)
			return bad(&err);
		if (!bo->shm_size) {
			fprintf(stderr, "cairn build: --shm-size %s: must be more than 0\n", arg);
			return -1;
		}
		return 1;
	case CMD_OPT_ULIMIT: {
		struct sandbox_ulimit u;
		if (sandbox_ulimit_parse(arg, &u, &err) < 0)
			return bad(&err);
		/* a type given again replaces the earlier value, as docker's */
		size_t i = 0;
		while (i < o->n_ulimits && o->ulimits[i].resource != u.resource)
			i++;
		if (i == o->n_ulimits)
			o->ulimits = xrealloc(o->ulimits, ++o->n_ulimits * sizeof *o->ulimits);
		o->ulimits[i] = u;
		bo->ulimits = o->ulimits;
		bo->n_ulimits = o->n_ulimits;
		return 1;
	}
	case 'm':
		if (sandbox_size_parse("--memory", arg, &bo->memory, &err) < 0)
			return bad(&err);
		/* the kernel's floor for a useful memory.max; docker's is 6 MiB */
		if (bo->memory < 6 * 1024 * 1024) {
			fprintf(stderr, "cairn build: --memory %s: the minimum is 6m\n", arg);
			return -1;
		}
		return 1;
	case CMD_OPT_CPU_QUOTA: {
		char *end = NULL;
		errno = 0;
		long long q = strtoll(arg, &end, 10);
		/* docker's: microseconds per 100 ms period; at least 1 ms */
		if (!*arg || *end || errno || q < 1000) {
			fprintf(stderr,
				"cairn build: --cpu-quota %s: expected microseconds of CPU per "
				"100000 (at least 1000; 50000 = half a CPU)\n",
				arg);
			return -1;
		}
		bo->cpu_quota = q;
		return 1;
	}
	case CMD_OPT_ALLOW:
		return parse_allow(arg, bo) < 0 ? -1 : 1;
	case CMD_OPT_SSH:
		if (builder_ssh_check(arg, &err) < 0)
			return bad(&err);
		strv_push(&o->ssh, arg);
		bo->ssh = o->ssh;
		return 1;
	}
	return 0;
}

void cmd_build_run_release(struct cmd_build_run *o)
{
	strv_free(o->add_hosts);
	strv_free(o->ssh);
	free(o->ulimits);
	memset(o, 0, sizeof *o);
}
