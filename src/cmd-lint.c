/* cairn lint: check a recipe without building it (also `cairn build --check`). */
#include "builder/builder.h"
#include "commands.h"

#include "recipe.h"

#include <string.h>
#include <sys/stat.h>

static const char usage[] =
    "usage: cairn lint [FILE | CONTEXT]\n"
    "\n"
    "Parses a recipe and reports problems without building anything: syntax errors,\n"
    "flags an instruction does not take, what else the build would refuse in an\n"
    "instruction before running anything (a flag's value, a mount, a duration), and\n"
    "buildkit's checks (JSONArgsRecommended, FromAsCasing, StageNameCasing,\n"
    "DuplicateStageName, ReservedStageName, MultipleInstructionsDisallowed,\n"
    "ConsistentInstructionCasing, MaintainerDeprecated, WorkdirRelativePath,\n"
    "SecretsUsedInArgOrEnv, LegacyKeyValueFormat).\n"
    "A directory means its Recipe, else its Dockerfile; the default is \".\".\n"
    "Each problem is printed as FILE:LINE: warning|error: RULE: MESSAGE with the line\n"
    "(what the build refuses: FILE:LINE: error: MESSAGE, the build's message).\n"
    "\n"
    "Exit status: 0 no problems, 1 problems found, 2 usage or unreadable file.\n";

struct lint_out {
	const char *file;
	const char *text;
	size_t len;
};

static void report(void *ctx, const struct builder_problem *p)
{
	struct lint_out *o = ctx;
	const char *level = p->error ? "error" : "warning";
	cleanup_free char *msg = p->rule ? xasprintf("%s: %s: %s", level, p->rule, p->msg)
					 : xasprintf("%s: %s", level, p->msg);
	cmd_show_recipe_error(o->file, o->text, o->len, p->line, 0, msg);
}

int cmd_lint_file(const char *path)
{
	cleanup_free char *text = NULL;
	size_t len = 0;
	int status = cmd_read_recipe(path, &text, &len);
	if (status)
		return status;
	struct recipe *r = NULL;
	struct recipe_error rerr = {0};
	if (recipe_parse(text, len, &r, &rerr) < 0) {
		cmd_show_recipe_error(path, text, len, rerr.line, rerr.column,
				      rerr.msg ? rerr.msg : "syntax error");
		recipe_error_clear(&rerr);
		return 1;
	}
	struct lint_out o = {path, text, len};
	size_t n = builder_lint(r, path, report, &o);
	recipe_free(r);
	return n ? 1 : 0;
}

int cmd_lint(int argc, char **argv, const struct cmd_env *env)
{
	(void)env;
	if (cmd_wants_help(argc, argv, usage))
		return 0;
	if (argc > 2) {
		fputs(usage, stderr);
		return 2;
	}
	const char *arg = argc == 2 ? argv[1] : ".";
	struct stat st;
	if (stat(arg, &st) == 0 && S_ISDIR(st.st_mode)) {
		cleanup_free char *recipe = builder_recipe_in(arg);
		if (recipe)
			return cmd_lint_file(recipe);
		fprintf(stderr, "cairn lint: neither %s/Recipe nor %s/Dockerfile exists\n", arg,
			arg);
		return 2;
	}
	return cmd_lint_file(arg);
}
