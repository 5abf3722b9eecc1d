/* The command words of RUN, CMD and ENTRYPOINT: the exec form as written, or SHELL
 * and the line, or a heredoc script. */
#include "internal.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* Where a heredoc with a shebang is mounted to be executed. buildkit uses /dev/pipes/,
 * but /dev is the sandbox's own tmpfs; a target here is created for the step and
 * removed after it, so nothing reaches the layer. */
#define HEREDOC_DIR "/run/cairn-heredoc"

/* Command words for CMD/ENTRYPOINT/RUN: JSON as written, or SHELL + the line. */
char **builder_command_words(struct stage *st, const struct recipe_instr *in)
{
	if (in->json)
		return strv_dup(in->args);
	char **v = strv_dup(st->shell);
	strv_push(&v, in->args && in->args[0] ? in->args[0] : "");
	return v;
}

/* ---- heredocs ---- */

static const char *lookup_nothing(void *ctx, const char *name)
{
	(void)ctx;
	(void)name;
	return NULL;
}

/* True when the whole command is one heredoc ("<<EOF", "<<-'EOF'"), as buildkit's
 * MustParseHeredoc: then the body is the script, not input for the shell. */
static bool is_whole_heredoc(const char *cmd)
{
	const char *p = cmd;
	while (isdigit((unsigned char)*p))
		p++;
	if (strncmp(p, "<<", 2))
		return false;
	p += 2 + (p[2] == '-');
	if (!*p || strchr(p, '<'))
		return false;
	char **words = NULL;
	struct recipe_word_opts o = {
	    .escape = '\\', .lookup = lookup_nothing, .interrupt = &util_interrupted};
	struct recipe_error rerr = {0};
	int r = recipe_expand_words(p, &o, &words, &rerr);
	recipe_error_clear(&rerr);
	bool one = r == 0 && strv_len(words) == 1;
	strv_free(words);
	return one;
}

/* A heredoc delimiter as a file name. */
static char *script_name(const char *delim)
{
	if (!*delim || strchr(delim, '/') || !strcmp(delim, ".") || !strcmp(delim, ".."))
		return xstrdup("script");
	return xstrdup(delim);
}

/* The command of a RUN with heredocs, as buildkit: a lone heredoc is the script
 * (run by SHELL, or written to a file and executed when it starts with "#!");
 * otherwise the shell gets the line followed by each body and its delimiter.
 * *script is set (a new string) for the shebang case. Bodies are not expanded: the
 * shell does that, or not, as the delimiter's quotes say. */
char **builder_heredoc_words(struct stage *st, const struct recipe_instr *in, char **script,
			     char **script_path)
{
	char **v = strv_dup(st->shell);
	const char *cmd = in->args && in->args[0] ? in->args[0] : "";
	if (is_whole_heredoc(cmd)) {
		const char *data = in->heredocs[0].content;
		if (!strncmp(data, "#!", 2)) {
			cleanup_free char *name = script_name(in->heredocs[0].name);
			*script = xstrdup(data);
			*script_path = xasprintf("%s/%s", HEREDOC_DIR, name);
			strv_push(&v, *script_path);
		} else {
			strv_push(&v, data);
		}
		return v;
	}
	struct strbuf sb = STRBUF_INIT;
	strbuf_addstr(&sb, cmd);
	for (size_t i = 0; i < in->n_heredocs; i++)
		strbuf_addf(&sb, "\n%s%s", in->heredocs[i].content, in->heredocs[i].name);
	strv_push_take(&v, strbuf_detach(&sb));
	return v;
}
