/* cairn run: a new container of an image, its command run attached to this terminal
 * in the sandbox RUN steps use, on a writable layer of its own. */
#include "commands.h"
#include "container/container.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
    "usage: cairn run [--rm] [--name NAME] [-d] [-i] [-t] [-e K[=V]] [--env-file FILE]\n"
    "                 [-w DIR] [-u USER[:GROUP]] [--entrypoint CMD] [-v SRC:DST[:ro]]\n"
    "                 [--mount SPEC] [--tmpfs DST[:OPTS]] [--read-only] [--network MODE]\n"
    "                 [-p [IP:]HOST:CTR] [--hostname NAME] [--isolation MODE]\n"
    "                 IMAGE [COMMAND [ARG...]]\n"
    "\n"
    "Runs COMMAND (else the image's entrypoint and cmd) in a new container of IMAGE,\n"
    "in the same sandbox as RUN steps, on a writable layer of its own, and exits with\n"
    "its status. Ctrl-C, SIGTERM and SIGHUP go to the command. With -d it runs in\n"
    "the background and its id is printed (cairn logs, cairn stop). The container\n"
    "stays (cairn ps -a, cairn commit, cairn diff, cairn rm) unless --rm.\n"
    "\n"
    "Options:\n"
    "      --rm                 remove the container when it exits\n"
    "      --name NAME          name the container (default: cairn-<12 hex digits>)\n"
    "  -d, --detach             run it in the background; print its id\n"
    "  -i, --interactive        pass this process's stdin to the command\n"
    "  -t, --tty                give the command a terminal (a pty that follows this\n"
    "                           terminal's size)\n"
    "  -e, --env K[=V]          set an environment variable (K alone: its value here)\n"
    "      --env-file FILE      read K=V lines from FILE\n"
    "  -w, --workdir DIR        the working directory in the container\n"
    "  -u, --user USER[:GROUP]  the user (names from the image's /etc/passwd)\n"
    "      --entrypoint CMD     replace the image's entrypoint (\"\" clears it)\n"
    "  -v, --volume SRC:DST[:ro]  mount the volume SRC (made, and filled from the\n"
    "                           image, on first use) or bind the host path SRC\n"
    "                           (absolute) at DST; -v DST: an anonymous volume\n"
    "      --mount SPEC         type=bind|volume|tmpfs,source=S,target=T[,readonly]\n"
    "      --tmpfs DST[:OPTS]   mount a tmpfs at DST (OPTS: size=N, ro)\n"
    "      --read-only          mount the container's root read-only\n"
    "      --network MODE       none, host or private (default: private where\n"
    "                           it can be had, as for RUN)\n"
    "  -p, --publish [IP:][HOST:]CTR[/udp]\n"
    "                           publish the container's port CTR on the host's HOST\n"
    "                           (private network only)\n"
    "      --hostname NAME      the container's hostname (default: its id's start)\n"
    "      --isolation MODE     auto, oci, rootless or chroot, as for cairn build\n";

enum {
	OPT_RM = 0x200,
	OPT_NAME,
	OPT_ENV_FILE,
	OPT_ENTRYPOINT,
	OPT_TMPFS,
	OPT_MOUNT,
	OPT_READ_ONLY,
	OPT_NETWORK,
	OPT_HOSTNAME,
	OPT_ISOLATION,
};

/* docker run's status for its own errors */
#define RUN_ERROR 125

static int run_usage_error(void)
{
	fputs(usage, stderr);
	return RUN_ERROR;
}

static int read_env_file(const char *path, char ***env, struct cairn_error *err)
{
	cleanup_free char *text = NULL;
	size_t len = 0;
	int r = util_read_file(AT_FDCWD, path, &text, &len, err);
	if (r < 0)
		return cairn_error_wrap(err, "--env-file");
	int line = 0;
	for (char *save = NULL, *l = strtok_r(text, "\n", &save); l;
	     l = strtok_r(NULL, "\n", &save)) {
		line++;
		while (*l == ' ' || *l == '\t')
			l++;
		size_t n = strlen(l);
		while (n && (l[n - 1] == '\r' || l[n - 1] == ' ' || l[n - 1] == '\t'))
			l[--n] = '\0';
		if (!*l || *l == '#')
			continue;
		if (*l == '=')
			return cairn_error_set(err, EINVAL,
					       "%s:%d: no variable name before =", path, line);
		strv_push(env, l);
	}
	return 0;
}

struct run_args {
	struct container_run_opts o;
	char **env;
	char **entrypoint;
	struct container_mount *mounts;
	size_t n_mounts;
	struct sandbox_port *ports;
	size_t n_ports;
	const char *name, *isolation, *network;
	bool detach;
};

static void run_args_release(struct run_args *a)
{
	strv_free(a->env);
	strv_free(a->entrypoint);
	for (size_t i = 0; i < a->n_mounts; i++)
		container_mount_release(&a->mounts[i]);
	free(a->mounts);
	free(a->ports);
}

static void add_mount(struct run_args *a, struct container_mount *m)
{
	a->mounts = xrealloc(a->mounts, (a->n_mounts + 1) * sizeof *a->mounts);
	a->mounts[a->n_mounts++] = *m;
}

/* Parses the options; the index of IMAGE, or -1 after printing the error. */
static int parse(int argc, char **argv, struct run_args *a)
{
	static const struct option longopts[] = {
	    {"rm", no_argument, NULL, OPT_RM},
	    {"name", required_argument, NULL, OPT_NAME},
	    {"detach", no_argument, NULL, 'd'},
	    {"interactive", no_argument, NULL, 'i'},
	    {"tty", no_argument, NULL, 't'},
	    {"env", required_argument, NULL, 'e'},
	    {"env-file", required_argument, NULL, OPT_ENV_FILE},
	    {"workdir", required_argument, NULL, 'w'},
	    {"user", required_argument, NULL, 'u'},
	    {"entrypoint", required_argument, NULL, OPT_ENTRYPOINT},
	    {"volume", required_argument, NULL, 'v'},
	    {"tmpfs", required_argument, NULL, OPT_TMPFS},
	    {"mount", required_argument, NULL, OPT_MOUNT},
	    {"read-only", no_argument, NULL, OPT_READ_ONLY},
	    {"network", required_argument, NULL, OPT_NETWORK},
	    {"hostname", required_argument, NULL, OPT_HOSTNAME},
	    {"publish", required_argument, NULL, 'p'},
	    {"isolation", required_argument, NULL, OPT_ISOLATION},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct cairn_error err = CAIRN_ERROR_INIT;
	a->env = xcalloc(1, sizeof(char *));
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+dite:w:u:v:p:h", longopts, NULL)) != -1) {
		struct container_mount m;
		switch (c) {
		case OPT_RM:
			a->o.auto_remove = true;
			break;
		case OPT_NAME:
			a->name = optarg;
			break;
		case 'd':
			a->detach = true;
			break;
		case 'i':
			a->o.interactive = true;
			break;
		case 't':
			a->o.tty = true;
			break;
		case 'e':
			strv_push(&a->env, optarg);
			break;
		case OPT_ENV_FILE:
			if (read_env_file(optarg, &a->env, &err) < 0)
				return cmd_fail(&err), -1;
			break;
		case 'w':
			if (optarg[0] != '/') {
				fprintf(stderr,
					"cairn run: -w %s: the working directory must be "
					"absolute\n",
					optarg);
				return -1;
			}
			a->o.cwd = optarg;
			break;
		case 'u':
			a->o.user = optarg;
			break;
		case OPT_ENTRYPOINT:
			strv_free(a->entrypoint);
			a->entrypoint = xcalloc(2, sizeof(char *));
			a->entrypoint[0] = xstrdup(optarg);
			break;
		case 'v':
			if (container_mount_parse_v(optarg, &m, &err) < 0)
				return cmd_fail(&err), -1;
			add_mount(a, &m);
			break;
		case OPT_MOUNT:
			if (container_mount_parse_mount(optarg, &m, &err) < 0)
				return cmd_fail(&err), -1;
			add_mount(a, &m);
			break;
		case OPT_TMPFS:
			if (container_mount_parse_tmpfs(optarg, &m, &err) < 0)
				return cmd_fail(&err), -1;
			add_mount(a, &m);
			break;
		case OPT_READ_ONLY:
			a->o.readonly_root = true;
			break;
		case OPT_NETWORK:
			a->network = optarg;
			break;
		case 'p':
			a->ports = xrealloc(a->ports, (a->n_ports + 1) * sizeof *a->ports);
			if (sandbox_port_parse(optarg, &a->ports[a->n_ports], &err) < 0)
				return cmd_fail(&err), -1;
			a->n_ports++;
			break;
		case OPT_HOSTNAME:
			a->o.hostname = optarg;
			break;
		case OPT_ISOLATION:
			a->isolation = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			exit(0);
		default:
			if (optopt)
				fprintf(stderr,
					"cairn run: option -%c needs a value or is unknown\n",
					optopt);
			else
				fprintf(stderr, "cairn run: unknown option %s\n", argv[optind - 1]);
			run_usage_error();
			return -1;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "cairn run: no image given\n");
		run_usage_error();
		return -1;
	}
	return optind;
}

int cmd_run(int argc, char **argv, const struct cmd_env *env)
{
	struct run_args a = {0};
	int image_at = parse(argc, argv, &a);
	if (image_at < 0) {
		run_args_release(&a);
		return RUN_ERROR;
	}
	struct cairn_error err = CAIRN_ERROR_INIT;
	int status = RUN_ERROR;
	cleanup_store struct store *s = NULL;
	cleanup_oci_image struct oci_image img = {0};
	cleanup_free char *ref = NULL;
	cleanup_free char *notice = NULL;
	struct container c = {0};
	struct container_config cfg = {0};
	if (a.detach && (a.o.interactive || a.o.tty)) {
		fprintf(stderr, "cairn run: -d runs the container in the background: no -i or "
				"-t with it (cairn exec gives a shell in it)\n");
		goto out;
	}
	if (a.o.interactive && a.o.tty && !isatty(0)) {
		fprintf(stderr, "cairn run: the input device is not a TTY (-i -t needs one; "
				"drop -t to pass a pipe)\n");
		status = 1;
		goto out;
	}
	if (a.network && sandbox_network_parse(a.network, &a.o.network) < 0) {
		fprintf(stderr, "cairn run: --network %s: expected none, host or private\n",
			a.network);
		goto out;
	}
	if (cmd_sandbox_enter(a.isolation, &err) < 0) {
		cmd_fail(&err);
		goto out;
	}
	if (a.network ? sandbox_network_check(a.o.network, &err) < 0
		      : sandbox_network_default(&a.o.network, &notice, &err) < 0) {
		cmd_fail(&err);
		goto out;
	}
	if (notice)
		fprintf(stderr, "%s\n", notice);
	if (a.n_ports && a.o.network != SANDBOX_NET_PRIVATE) {
		fprintf(stderr,
			"cairn run: -p publishes ports on the private network; this container's is "
			"%s%s\n",
			a.network ? "--network " : "", a.network ? a.network : "not private here");
		goto out;
	}
	if (cmd_load_image(env, argv[image_at], true, &s, &img, &ref, &err) < 0) {
		cairn_error_wrap(&err, "no image %s in the store (cairn pull or cairn build it)",
				 argv[image_at]);
		cmd_fail(&err);
		goto out;
	}
	a.o.env = a.env;
	a.o.entrypoint = a.entrypoint;
	a.o.cmd = argv + image_at + 1;
	a.o.ports = a.ports;
	a.o.n_ports = a.n_ports;
	a.o.mounts = a.mounts;
	a.o.n_mounts = a.n_mounts;
	if (container_config_make(&img, ref, &a.o, &cfg, &err) < 0 ||
	    container_create(s, &cfg, a.name, &c, &err) < 0) {
		cmd_fail(&err);
		goto out;
	}
	if (a.detach) {
		if (container_start_detached(s, &c, &status, &err) < 0) {
			cmd_fail(&err);
		} else {
			printf("%s\n", c.id);
			status = 0;
		}
		goto out;
	}
	util_catch_signals();
	if (container_start(s, &c, &status, &err) < 0)
		cmd_fail(&err);
out:
	container_release(&c);
	container_config_release(&cfg);
	run_args_release(&a);
	return status;
}
