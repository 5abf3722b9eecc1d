/* cairn parse: a recipe's syntax tree, as text or JSON, without building anything. */
#include "commands.h"

#include <errno.h>
#include <string.h>

#include "recipe.h"

static const char usage[] =
    "usage: cairn parse [--json] [--tree-only] FILE\n"
    "\n"
    "Parses the recipe FILE (\"-\" for standard input) and prints its syntax tree,\n"
    "with the checks cairn build makes before building (unless --tree-only).\n"
    "\n"
    "Text output: the directives that are set, as \"# syntax=VALUE\" and\n"
    "\"# check=VALUE\" (and \"# escape=`\" when not a backslash), then one line per\n"
    "instruction:\n"
    "  LINE[-END_LINE] NAME [json] [FLAGS] ARGS\n"
    "where FLAGS and ARGS are JSON arrays of strings (FLAGS only when there are\n"
    "some), \"json\" marks the exec form, e.g.\n"
    "  3-5 RUN [\"make &&     make install\"]\n"
    "  6 COPY [\"--chown=1:1\"] [\"a\",\"/dst/\"]\n"
    "  7 CMD json [\"/bin/sh\",\"-c\",\"run\"]\n"
    "An ONBUILD prints its instruction in parentheses; each here-document follows\n"
    "its instruction on a line of its own:\n"
    "  <<NAME [noexpand] [chomp] \"CONTENT\"\n"
    "\n"
    "Options:\n"
    "  --json       a JSON object: {\"escape\", \"syntax\", \"check\", \"instructions\"},\n"
    "               each instruction {\"instruction\", \"keyword\", \"line\",\n"
    "               \"end_line\", \"original\", \"flags\", \"json\", \"args\",\n"
    "               \"heredocs\": [{\"name\", \"content\", \"expand\", \"chomp\"}],\n"
    "               \"sub\" (ONBUILD's instruction, else null)}\n"
    "  --tree-only  only the syntax, as buildkit's parser: no argument checks;\n"
    "               an unknown instruction is kept (NAME is then as written)\n"
    "\n"
    "Arguments are as the parser gives them: not unquoted, not expanded (ENV and\n"
    "LABEL as name, value, separator triples). Bytes that are not UTF-8 are shown\n"
    "as U+FFFD.\n"
    "\n"
    "A syntax error prints FILE:LINE:COLUMN: MESSAGE, the line and a caret under\n"
    "the column, and exits with 1. Exit status 2: usage or unreadable FILE.\n";

/* A JSON string for s, with bytes that are not UTF-8 as U+FFFD (JSON cannot carry
 * them). */
static json_t *jstr(const char *s)
{
	json_t *j = json_string(s);
	if (j)
		return j;
	cleanup_strbuf struct strbuf sb = STRBUF_INIT;
	for (const unsigned char *p = (const unsigned char *)s; *p;) {
		size_t n = util_utf8_len(p);
		if (n) {
			strbuf_add(&sb, p, n);
			p += n;
		} else {
			strbuf_addstr(&sb, "\xEF\xBF\xBD");
			p++;
		}
	}
	return json_string(strbuf_str(&sb));
}

static json_t *jstrv(char *const *v)
{
	json_t *a = json_array();
	for (size_t i = 0; v && v[i]; i++)
		json_array_append_new(a, jstr(v[i]));
	return a;
}

static const char *instr_name(const struct recipe_instr *in)
{
	const char *n = recipe_kind_name(in->kind);
	return *n ? n : in->keyword;
}

static json_t *instr_json(const struct recipe_instr *in)
{
	json_t *heredocs = json_array();
	for (size_t i = 0; i < in->n_heredocs; i++) {
		const struct recipe_heredoc *h = &in->heredocs[i];
		json_array_append_new(
		    heredocs, json_pack("{s:o, s:o, s:b, s:b}", "name", jstr(h->name), "content",
					jstr(h->content), "expand", h->expand, "chomp", h->chomp));
	}
	return json_pack("{s:o, s:o, s:i, s:i, s:o, s:o, s:b, s:o, s:o, s:o}", "instruction",
			 jstr(instr_name(in)), "keyword", jstr(in->keyword), "line", in->line,
			 "end_line", in->end_line, "original",
			 jstr(in->original ? in->original : ""), "flags", jstrv(in->flags), "json",
			 in->json, "args", jstrv(in->args), "heredocs", heredocs, "sub",
			 in->sub ? instr_json(in->sub) : json_null());
}

/* Prints a value as compact JSON (UTF-8 kept as is). */
static void print_json(json_t *j)
{
	cleanup_free char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
	fputs(s ? s : "null", stdout);
}

static void print_instr(const struct recipe_instr *in)
{
	fputs(instr_name(in), stdout);
	if (in->json)
		fputs(" json", stdout);
	if (in->flags && in->flags[0]) {
		cleanup_json json_t *f = jstrv(in->flags);
		putchar(' ');
		print_json(f);
	}
	if (in->sub) {
		fputs(" (", stdout);
		print_instr(in->sub);
		putchar(')');
	} else {
		cleanup_json json_t *a = jstrv(in->args);
		putchar(' ');
		print_json(a);
	}
}

static void print_text(const struct recipe *r)
{
	if (r->syntax) {
		cleanup_json json_t *s = jstr(r->syntax);
		printf("# syntax=%s\n", json_string_value(s));
	}
	if (r->check) {
		cleanup_json json_t *s = jstr(r->check);
		printf("# check=%s\n", json_string_value(s));
	}
	if (r->escape != '\\')
		printf("# escape=%c\n", r->escape);
	for (size_t i = 0; i < r->n_instrs; i++) {
		const struct recipe_instr *in = &r->instrs[i];
		if (in->end_line != in->line)
			printf("%d-%d ", in->line, in->end_line);
		else
			printf("%d ", in->line);
		print_instr(in);
		putchar('\n');
		for (size_t k = 0; k < in->n_heredocs; k++) {
			const struct recipe_heredoc *h = &in->heredocs[k];
			cleanup_json json_t *name = jstr(h->name), *content = jstr(h->content);
			printf("  <<%s%s%s ", json_string_value(name), h->expand ? "" : " noexpand",
			       h->chomp ? " chomp" : "");
			print_json(content);
			putchar('\n');
		}
	}
}

static int print_json_tree(const struct recipe *r)
{
	json_t *instrs = json_array();
	for (size_t i = 0; i < r->n_instrs; i++)
		json_array_append_new(instrs, instr_json(&r->instrs[i]));
	char esc[2] = {r->escape, 0};
	cleanup_json json_t *out =
	    json_pack("{s:s, s:o, s:o, s:o}", "escape", esc, "syntax",
		      r->syntax ? jstr(r->syntax) : json_null(), "check",
		      r->check ? jstr(r->check) : json_null(), "instructions", instrs);
	if (!out || json_dumpf(out, stdout, JSON_INDENT(2)) < 0)
		return 1;
	putchar('\n');
	return 0;
}

int cmd_parse(int argc, char **argv, const struct cmd_env *env)
{
	(void)env;
	if (cmd_wants_help(argc, argv, usage))
		return 0;
	bool json = false;
	unsigned flags = 0;
	const char *file = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if (!strcmp(argv[i], "--tree-only")) {
			flags |= RECIPE_PARSE_TREE_ONLY;
		} else if (!strcmp(argv[i], "--") && i + 2 == argc) {
			file = argv[++i];
		} else if (argv[i][0] == '-' && argv[i][1] && !file) {
			fprintf(stderr, "cairn parse: unknown option %s\n%s", argv[i], usage);
			return 2;
		} else if (!file) {
			file = argv[i];
		} else {
			return cmd_usage_error(usage);
		}
	}
	if (!file)
		return cmd_usage_error(usage);
	cleanup_free char *text = NULL;
	size_t len = 0;
	bool is_stdin = !strcmp(file, "-");
	int status = cmd_read_recipe(is_stdin ? "/dev/stdin" : file, &text, &len);
	if (status)
		return status;
	struct recipe *r = NULL;
	struct recipe_error rerr = {0};
	if (recipe_parse_ex(text, len, flags, &r, &rerr) < 0) {
		cmd_show_recipe_error(is_stdin ? "<stdin>" : file, text, len, rerr.line,
				      rerr.column, rerr.msg ? rerr.msg : "syntax error");
		recipe_error_clear(&rerr);
		return 1;
	}
	if (json)
		status = print_json_tree(r);
	else
		print_text(r);
	recipe_free(r);
	if (fflush(stdout) != 0)
		status = 1;
	return status;
}
