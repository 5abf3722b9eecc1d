/* cairn login / logout: credentials for a registry, checked, then kept in the
 * auth file pull and push read. The password comes from stdin or a prompt
 * without echo, never from the command line. */
#include "commands.h"
#include "registry/registry.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

static const char login_usage[] =
    "usage: cairn login [-u USER] [--password-stdin] [--tls-verify=false]\n"
    "                   [--cert-dir DIR] REGISTRY\n"
    "\n"
    "Checks a user and password with REGISTRY (HOST[:PORT]) and stores them in the\n"
    "auth file ($REGISTRY_AUTH_FILE, else $XDG_RUNTIME_DIR/containers/auth.json,\n"
    "else ~/.docker/config.json) for pull and push.\n"
    "\n"
    "  -u, --username USER  the user (prompted for on a terminal when not given)\n"
    "  --password-stdin     read the password from standard input\n"
    "                       (else it is prompted for, without echo, on a terminal)\n"
    "  --tls-verify=false   do not check certificates; allow plain HTTP\n"
    "  --cert-dir DIR       trust the CA certificates DIR/*.crt\n";

static const char logout_usage[] =
    "usage: cairn logout REGISTRY\n"
    "\n"
    "Removes the credentials for REGISTRY from the auth file login writes.\n";

/* One line from f, without its newline; NULL at EOF before anything. */
static char *read_line(FILE *f)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n = getline(&line, &cap, f);
	if (n < 0) {
		util_free_secret(line);
		return NULL;
	}
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	return line;
}

/* The prompt goes to stderr; the answer is read from stdin, echo off when asked. */
static char *prompt(const char *what, bool echo)
{
	struct termios old, quiet;
	bool restore = false;
	fputs(what, stderr);
	fflush(stderr);
	if (!echo && tcgetattr(STDIN_FILENO, &old) == 0) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		quiet.c_lflag |= ECHONL;
		restore = tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0;
	}
	char *line = read_line(stdin);
	if (restore)
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
	return line;
}

int cmd_login(int argc, char **argv, const struct cmd_env *env)
{
	(void)env;
	if (cmd_wants_help(argc, argv, login_usage))
		return 0;
	static const struct option opts[] = {
	    {"username", required_argument, NULL, 'u'},
	    {"password-stdin", no_argument, NULL, 'P'},
	    CMD_REGISTRY_OPTIONS,
	    {NULL, 0, NULL, 0},
	};
	struct registry_opts o = REGISTRY_OPTS_INIT;
	const char *user_arg = NULL;
	bool from_stdin = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+u:", opts, NULL)) != -1) {
		if (c == 'u')
			user_arg = optarg;
		else if (c == 'P')
			from_stdin = true;
		else if (cmd_registry_option("login", c, optarg, &o, login_usage) < 0)
			return 2;
	}
	if (argc - optind != 1) {
		return cmd_usage_error(login_usage);
	}
	const char *registry = argv[optind];
	bool tty = isatty(STDIN_FILENO);
	cleanup_free char *user = user_arg ? xstrdup(user_arg) : NULL;
	if (!user) {
		if (from_stdin || !tty) {
			fputs("cairn login: -u USER is needed when the password comes from stdin "
			      "or stdin is not a terminal\n",
			      stderr);
			return 2;
		}
		user = prompt("Username: ", true);
	}
	cleanup_secret char *pass = NULL;
	if (from_stdin) {
		pass = read_line(stdin);
	} else if (tty) {
		pass = prompt("Password: ", false);
	} else {
		fputs("cairn login: stdin is not a terminal: use --password-stdin\n", stderr);
		return 2;
	}
	if (!user || !*user || !pass || !*pass) {
		fputs("cairn login: an empty user or password\n", stderr);
		return 1;
	}
	struct cairn_error err = CAIRN_ERROR_INIT;
	util_catch_signals();
	if (registry_login(registry, user, pass, &o, &err) < 0)
		return cmd_fail(&err);
	cleanup_free char *file = NULL;
	if (registry_auth_store(registry, user, pass, &file, &err) < 0)
		return cmd_fail(&err);
	printf("Login Succeeded (credentials in %s)\n", file);
	return 0;
}

int cmd_logout(int argc, char **argv, const struct cmd_env *env)
{
	(void)env;
	int status = cmd_begin(argc, argv, logout_usage, 1, 1);
	if (status >= 0)
		return status;
	if (argv[1][0] == '-')
		return cmd_usage_error(logout_usage);
	struct cairn_error err = CAIRN_ERROR_INIT;
	cleanup_free char *file = NULL;
	if (registry_auth_remove(argv[1], &file, &err) < 0)
		return cmd_fail(&err);
	printf("Removed the credentials for %s from %s\n", argv[1], file);
	return 0;
}
