/* The commands: one file each (src/cmd-NAME.c), dispatched from main.c. Each gets
 * its own argv (argv[0] is the command name) and the store root chosen by the
 * global options, prints what it has to say and returns the exit status. */
#ifndef CAIRN_COMMANDS_H
#define CAIRN_COMMANDS_H

#include "oci/oci.h"
#include "store/store.h"

struct cmd_env {
	const char *root; /* store root */
};

int cmd_build(int argc, char **argv, const struct cmd_env *env);
int cmd_images(int argc, char **argv, const struct cmd_env *env);
int cmd_inspect(int argc, char **argv, const struct cmd_env *env);
int cmd_history(int argc, char **argv, const struct cmd_env *env);
int cmd_tag(int argc, char **argv, const struct cmd_env *env);
int cmd_rmi(int argc, char **argv, const struct cmd_env *env);
int cmd_pull(int argc, char **argv, const struct cmd_env *env);
int cmd_push(int argc, char **argv, const struct cmd_env *env);
int cmd_login(int argc, char **argv, const struct cmd_env *env);
int cmd_logout(int argc, char **argv, const struct cmd_env *env);
int cmd_lint(int argc, char **argv, const struct cmd_env *env);
/* Lints one recipe file, printing its problems; returns the exit status. */
int cmd_lint_file(const char *path);
int cmd_parse(int argc, char **argv, const struct cmd_env *env);

/* Shared by the commands (common.c). */
/* Prints "cairn: MESSAGE" to stderr, clears err and returns exit status 1. */
int cmd_fail(struct cairn_error *err);
/* Prints usage to stdout and returns 0 when argv asks for help (-h/--help). */
bool cmd_wants_help(int argc, char **argv, const char *usage);
/* Opens the store (read-only unless write) and loads the image a reference names
 * (tag, with :latest added when it has none, or a manifest digest). */
int cmd_load_image(const struct cmd_env *env, const char *ref, bool write, struct store **s,
		   struct oci_image *img, char **full_ref, struct cairn_error *err);

/* --tls-verify[=true|false] of the registry commands: sets *out, or prints a usage
 * error naming cmd and returns -1. */
int cmd_parse_tls_verify(const char *cmd, const char *arg, bool *out);
/* Prints FILE:LINE[:COLUMN]: MESSAGE to stderr, then that line of text and a caret
 * under the column (when known). */
void cmd_show_recipe_error(const char *file, const char *text, size_t len, int line, int column,
			   const char *msg);

#endif
