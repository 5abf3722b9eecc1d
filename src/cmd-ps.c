/* cairn ps: the containers of the store, as docker ps lists them. */
#include "commands.h"
#include "container/container.h"

#include <getopt.h>
#include <string.h>
#include <time.h>

static const char usage[] =
    "usage: cairn ps [-a] [-q] [--no-trunc]\n"
    "\n"
    "Lists the running containers (with -a, every container): id, image, command,\n"
    "when it was made, its status and its name.\n"
    "\n"
    "Options:\n"
    "  -a, --all        every container, not only the running ones\n"
    "  -q, --quiet      only the ids\n"
    "      --no-trunc   whole ids and commands\n";

/* "3 seconds", "5 minutes", "2 hours", "4 days" */
static char *ago(int64_t then)
{
	int64_t d = (int64_t)time(NULL) - then;
	if (d < 0)
		d = 0;
	if (d < 2)
		return xstrdup("Less than a second");
	if (d < 60)
		return xasprintf("%lld seconds", (long long)d);
	if (d < 3600)
		return d < 120 ? xstrdup("About a minute")
			       : xasprintf("%lld minutes", (long long)d / 60);
	if (d < 86400)
		return d < 7200 ? xstrdup("About an hour")
				: xasprintf("%lld hours", (long long)d / 3600);
	return xasprintf("%lld days", (long long)d / 86400);
}

static char *status_text(const struct container *c)
{
	cleanup_free char *when = NULL;
	switch (c->status) {
	case CONTAINER_RUNNING:
		when = ago(c->started);
		return xasprintf("Up %s", when);
	case CONTAINER_EXITED:
		when = ago(c->finished ? c->finished : c->started);
		if (c->exit_code < 0)
			return xasprintf("Exited (unknown) %s ago", when);
		return xasprintf("Exited (%d) %s ago", c->exit_code, when);
	case CONTAINER_CREATED:
		break;
	}
	return xstrdup("Created");
}

static char *command_text(const struct container *c, bool whole)
{
	struct strbuf sb = STRBUF_INIT;
	for (size_t i = 0; c->cfg.argv[i]; i++)
		strbuf_addf(&sb, "%s%s", i ? " " : "", c->cfg.argv[i]);
	char *s = strbuf_detach(&sb);
	if (!whole && strlen(s) > 20) {
		s[19] = '\0';
		char *t = xasprintf("\"%s…\"", s);
		free(s);
		return t;
	}
	char *t = xasprintf("\"%s\"", s);
	free(s);
	return t;
}

/* "127.0.0.1:8080->80/tcp, 0.0.0.0:53->53/udp", as docker ps */
static char *ports_text(const struct container *c)
{
	struct strbuf sb = STRBUF_INIT;
	for (size_t i = 0; i < c->cfg.n_ports; i++) {
		const struct sandbox_port *p = &c->cfg.ports[i];
		strbuf_addf(&sb, "%s%s:%u->%u/%s", i ? ", " : "",
			    *p->host_ip ? p->host_ip : "0.0.0.0", p->host_port, p->container_port,
			    p->udp ? "udp" : "tcp");
	}
	return strbuf_detach(&sb);
}

int cmd_ps(int argc, char **argv, const struct cmd_env *env)
{
	static const struct option longopts[] = {
	    {"all", no_argument, NULL, 'a'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"no-trunc", no_argument, NULL, 'T'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	bool all = false, quiet = false, whole = false;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "aqh", longopts, NULL)) != -1) {
		switch (c) {
		case 'a':
			all = true;
			break;
		case 'q':
			quiet = true;
			break;
		case 'T':
			whole = true;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fprintf(stderr, "cairn ps: unknown option %s\n", argv[optind - 1]);
			return cmd_usage_error(usage);
		}
	}
	if (optind < argc) {
		fprintf(stderr, "cairn ps: unexpected argument %s\n", argv[optind]);
		return cmd_usage_error(usage);
	}
	struct cairn_error err = CAIRN_ERROR_INIT;
	cleanup_store struct store *s = NULL;
	struct container *list = NULL;
	size_t n = 0;
	if (store_open(env->root, &s, &err) < 0 || container_list(s, &list, &n, &err) < 0)
		return cmd_fail(&err);
	if (!quiet)
		printf("%-12s  %-20s  %-22s  %-16s  %-26s  %-20s  %s\n", "CONTAINER ID", "IMAGE",
		       "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES");
	for (size_t i = 0; i < n; i++) {
		const struct container *ct = &list[i];
		if (!all && ct->status != CONTAINER_RUNNING)
			continue;
		if (quiet) {
			printf("%.*s\n", whole ? 64 : 12, ct->id);
			continue;
		}
		cleanup_free char *cmd = command_text(ct, whole);
		cleanup_free char *since = ago(ct->created);
		cleanup_free char *created = xasprintf("%s ago", since);
		cleanup_free char *st = status_text(ct);
		/* an image named by digest shows as docker shows an image id */
		const char *image = ct->cfg.image;
		int image_len = !whole && !strncmp(image, "sha256:", 7) ? 19 : (int)strlen(image);
		cleanup_free char *ports = ports_text(ct);
		printf("%-12.*s  %-20.*s  %-22s  %-16s  %-26s  %-20s  %s\n", whole ? 64 : 12,
		       ct->id, image_len, image, cmd, created, st, ports, ct->name);
	}
	containers_free(list, n);
	return 0;
}
