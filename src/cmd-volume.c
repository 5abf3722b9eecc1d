/* cairn volume: create, list, inspect, remove and prune volumes. */
#include "commands.h"
#include "container/container.h"

#include <getopt.h>
#include <string.h>

static const char usage[] =
    "usage: cairn volume create [NAME]\n"
    "       cairn volume ls [-q]\n"
    "       cairn volume inspect NAME...\n"
    "       cairn volume rm [-f] NAME...\n"
    "       cairn volume prune [-a]\n"
    "\n"
    "Volumes hold data outside containers (cairn run -v NAME:/path): they outlive\n"
    "the containers that use them, and are removed only when none does. create\n"
    "makes one (a generated name when none is given) and prints its name; ls lists\n"
    "them; inspect prints them as JSON; rm removes them (refused while a container,\n"
    "running or not, uses one, unless -f); prune removes the anonymous ones no\n"
    "container uses (with -a, every one no container uses).\n"
    "\n"
    "Options:\n"
    "  -q, --quiet   ls: only the names\n"
    "  -f, --force   rm: remove volumes that containers use\n"
    "  -a, --all     prune: named volumes too\n";

/* Parses the subcommand's options ("qfa" as it takes them); the index of its first
 * operand, or -1 after a usage error. */
static int options(int argc, char **argv, const char *takes, bool *q, bool *f, bool *a)
{
	static const struct option longopts[] = {
	    {"quiet", no_argument, NULL, 'q'},
	    {"force", no_argument, NULL, 'f'},
	    {"all", no_argument, NULL, 'a'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "qfah", longopts, NULL)) != -1) {
		if (c == 'h') {
			fputs(usage, stdout);
			return -2;
		}
		if (c == '?' || !strchr(takes, c)) {
			fprintf(stderr, "cairn volume %s: unknown option %s\n", argv[0],
				argv[optind - 1]);
			return -1;
		}
		*(c == 'q' ? q : c == 'f' ? f : a) = true;
	}
	return optind;
}

static json_t *volume_json(const struct container_volume *v)
{
	cleanup_free char *created = util_rfc3339(v->created);
	return json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:b, s:o}", "Name", v->name, "Driver",
			 "local", "Mountpoint", v->path, "CreatedAt", created, "Labels",
			 json_object(), "Scope", "local", "Anonymous", v->anonymous, "UsedBy",
			 util_strv_to_json(v->users));
}

int cmd_volume(int argc, char **argv, const struct cmd_env *env)
{
	if (argc < 2) {
		fprintf(stderr, "cairn volume: no subcommand given\n");
		return cmd_usage_error(usage);
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		fputs(usage, stdout);
		return 0;
	}
	const char *sub = argv[1];
	bool q = false, f = false, a = false;
	const char *takes = !strcmp(sub, "ls")	    ? "q"
			    : !strcmp(sub, "rm")    ? "f"
			    : !strcmp(sub, "prune") ? "a"
						    : "";
	if (strcmp(sub, "create") && strcmp(sub, "ls") && strcmp(sub, "inspect") &&
	    strcmp(sub, "rm") && strcmp(sub, "prune")) {
		fprintf(stderr, "cairn volume: unknown subcommand %s\n", sub);
		return cmd_usage_error(usage);
	}
	int at = options(argc - 1, argv + 1, takes, &q, &f, &a);
	if (at == -2)
		return 0;
	if (at < 0)
		return cmd_usage_error(usage);
	at++; /* in argv */
	int n_args = argc - at;
	bool needs_args = !strcmp(sub, "inspect") || !strcmp(sub, "rm");
	if ((needs_args && n_args < 1) || (!strcmp(sub, "create") && n_args > 1) ||
	    ((!strcmp(sub, "ls") || !strcmp(sub, "prune")) && n_args > 0)) {
		fprintf(stderr, "cairn volume %s: wrong number of arguments\n", sub);
		return cmd_usage_error(usage);
	}
	struct cairn_error err = CAIRN_ERROR_INIT;
	cleanup_store struct store *s = NULL;
	if (store_open(env->root, &s, &err) < 0)
		return cmd_fail(&err);
	int status = 0;
	if (!strcmp(sub, "create")) {
		struct container_volume v;
		if (container_volume_create(s, n_args ? argv[at] : NULL, !n_args, &v, &err) < 0)
			return cmd_fail(&err);
		printf("%s\n", v.name);
		container_volume_release(&v);
	} else if (!strcmp(sub, "ls")) {
		struct container_volume *v = NULL;
		size_t n = 0;
		if (container_volume_list(s, &v, &n, &err) < 0)
			return cmd_fail(&err);
		if (!q)
			printf("%-8s  %s\n", "DRIVER", "VOLUME NAME");
		for (size_t i = 0; i < n; i++)
			q ? printf("%s\n", v[i].name) : printf("%-8s  %s\n", "local", v[i].name);
		container_volumes_free(v, n);
	} else if (!strcmp(sub, "inspect")) {
		cleanup_json json_t *list = json_array();
		for (int i = at; i < argc; i++) {
			struct container_volume v;
			if (container_volume_get(s, argv[i], &v, &err) < 0) {
				status = cmd_fail(&err);
				continue;
			}
			json_array_append_new(list, volume_json(&v));
			container_volume_release(&v);
		}
		cleanup_free char *text = json_dumps(list, JSON_INDENT(4));
		printf("%s\n", text);
	} else if (!strcmp(sub, "rm")) {
		for (int i = at; i < argc; i++) {
			if (container_volume_remove(s, argv[i], f, &err) < 0)
				status = cmd_fail(&err);
			else
				printf("%s\n", argv[i]);
		}
	} else {
		cleanup_strv char **removed = xcalloc(1, sizeof(char *));
		if (container_volume_prune(s, a, &removed, &err) < 0)
			status = cmd_fail(&err);
		if (removed[0])
			printf("Deleted Volumes:\n");
		for (size_t i = 0; removed[i]; i++)
			printf("%s\n", removed[i]);
	}
	return status;
}
