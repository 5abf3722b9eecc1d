/* The recipe parser: each rule of the Dockerfile syntax, as buildkit applies it. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sys/resource.h>

#include "recipe.h"
#include "tap.h"

#ifndef __has_feature
#define __has_feature(x) 0
#endif
#if defined(__SANITIZE_ADDRESS__) || __has_feature(address_sanitizer)
#define SANITIZED 1
#else
#define SANITIZED 0
#endif

static struct recipe *parse(const char *text)
{
	struct recipe *r = NULL;
	struct recipe_error err = {0};
	if (recipe_parse(text, strlen(text), &r, &err) < 0) {
		diag("unexpected error at %d:%d: %s", err.line, err.column, err.msg);
		recipe_error_clear(&err);
		return NULL;
	}
	return r;
}

static struct recipe *parse_tree(const char *text)
{
	struct recipe *r = NULL;
	struct recipe_error err = {0};
	if (recipe_parse_ex(text, strlen(text), RECIPE_PARSE_TREE_ONLY, &r, &err) < 0) {
		diag("unexpected error at %d:%d: %s", err.line, err.column, err.msg);
		recipe_error_clear(&err);
		return NULL;
	}
	return r;
}

/* Parses text that must fail; checks the position and that the message holds want. */
static void fails(const char *text, int line, int column, const char *want, const char *name)
{
	struct recipe *r = NULL;
	struct recipe_error err = {0};
	int rc = recipe_parse(text, strlen(text), &r, &err);
	ok(rc < 0 && r == NULL && err.msg && strstr(err.msg, want) && err.line == line &&
	       (column < 0 || err.column == column),
	   "%s", name);
	if (rc >= 0 || !err.msg || !strstr(err.msg, want) || err.line != line ||
	    (column >= 0 && err.column != column))
		diag("got rc %d at %d:%d: %s (want %d:%d: %s)", rc, err.line, err.column,
		     err.msg ? err.msg : "(none)", line, column, want);
	recipe_free(r);
	recipe_error_clear(&err);
}

static size_t count(char **v)
{
	size_t n = 0;
	while (v && v[n])
		n++;
	return n;
}

static void test_keywords_are_case_insensitive(void)
{
	struct recipe *r = parse("from alpine\nRuN echo hi\n");
	ok(r != NULL, "lower and mixed case keywords parse");
	if (!r)
		return;
	is_int(r->instrs[0].kind, RECIPE_FROM, "'from' is FROM");
	is_str(r->instrs[1].keyword, "RuN", "the keyword is kept as written");
	is_int(r->instrs[1].kind, RECIPE_RUN, "'RuN' is RUN");
	is_str(recipe_kind_name(RECIPE_HEALTHCHECK), "HEALTHCHECK", "kind names are upper case");
	is_str(recipe_kind_name(RECIPE_UNKNOWN), "", "the unknown kind has an empty name");
	recipe_free(r);
}

static void test_comments_and_blank_lines_are_skipped(void)
{
	struct recipe *r = parse("# a comment\n\n   # indented comment\nFROM a\n\t\nRUN x\n");
	ok(r && r->n_instrs == 2, "comments and blank lines make no instructions");
	if (r) {
		is_int(r->instrs[0].line, 4, "FROM is on line 4");
		is_int(r->instrs[1].line, 6, "RUN is on line 6");
	}
	recipe_free(r);
}

static void test_continuations_join_lines(void)
{
	struct recipe *r = parse("FROM a\nRUN echo a \\\n  b \\\n c\nRUN x\n");
	ok(r && r->n_instrs == 3, "a continued instruction is one instruction");
	if (!r)
		return;
	is_str(r->instrs[1].args[0], "echo a   b  c", "the escape is removed, the rest joined");
	is_str(r->instrs[1].original, "RUN echo a   b  c", "original is the joined text");
	is_int(r->instrs[1].line, 2, "the instruction starts on line 2");
	is_int(r->instrs[1].end_line, 4, "and ends on line 4");
	is_int(r->instrs[2].line, 5, "the next one is on line 5");
	recipe_free(r);
}

static void test_continuations_skip_comments_and_blank_lines(void)
{
	struct recipe *r =
	    parse("FROM a\nRUN echo hello \\\n# a comment\n\n  \t\n   # another\nworld\nRUN x\n");
	ok(r && r->n_instrs == 3, "comments and blank lines inside a continuation parse");
	if (!r)
		return;
	is_str(r->instrs[1].args[0], "echo hello world",
	       "comment and blank lines inside a continuation are dropped");
	is_int(r->instrs[1].end_line, 7, "the continuation ends on the line of 'world'");
	recipe_free(r);
}

static void test_continuation_trailing_blanks_and_escaped_escape(void)
{
	struct recipe *r = parse("FROM a\nRUN a \\  \t\nb\nRUN c \\\\\nRUN d\n");
	ok(r && r->n_instrs == 4, "blanks after the escape still continue; a doubled one not");
	if (!r)
		return;
	is_str(r->instrs[1].args[0], "a b", "blanks after the continuation escape are dropped");
	is_str(r->instrs[2].args[0], "c \\\\", "an escaped escape at the end does not continue");
	recipe_free(r);
}

static void test_continuation_at_end_of_file(void)
{
	struct recipe *r = parse("FROM a\nRUN something \\");
	ok(r && r->n_instrs == 2, "a continuation at the end of the file ends the instruction");
	if (r)
		is_str(r->instrs[1].args[0], "something", "with the escape removed");
	recipe_free(r);
}

static void test_crlf_line_endings(void)
{
	struct recipe *r = parse("FROM a\r\nRUN echo a \\\r\n  b\r\nENV A=1\r\n");
	ok(r && r->n_instrs == 3, "CRLF recipes parse");
	if (!r)
		return;
	is_str(r->instrs[0].args[0], "a", "no carriage return is left in arguments");
	is_str(r->instrs[1].args[0], "echo a   b", "CRLF continuations join");
	is_str(r->instrs[2].args[1], "1", "no carriage return at the end of a value");
	recipe_free(r);
}

static void test_utf8_bom(void)
{
	struct recipe *r = parse("\xEF\xBB\xBF# escape=`\nFROM a\nRUN a `\n b\n");
	ok(r && r->n_instrs == 2, "a recipe starting with a UTF-8 BOM parses");
	if (r) {
		is_int(r->escape, '`', "a directive right after the BOM is read");
		is_str(r->instrs[1].args[0], "a  b", "and applies");
	}
	recipe_free(r);
}

static void test_escape_directive(void)
{
	struct recipe *r = parse("# escape=`\n\nFROM a\nRUN dir c:\\ `\n  /s\nCOPY a\\b c\\\n");
	ok(r && r->n_instrs == 3, "# escape=` parses");
	if (!r)
		return;
	is_int(r->escape, '`', "the escape character is `");
	is_str(r->instrs[1].args[0], "dir c:\\   /s", "` continues lines, \\ is literal");
	is_str(r->instrs[2].args[1], "c\\", "a trailing \\ is not a continuation");
	recipe_free(r);

	r = parse("FROM a\n");
	ok(r && r->escape == '\\', "the default escape character is \\");
	recipe_free(r);

	r = parse("  #   ESCAPE   =   `  \nFROM a `\n  AS b\n");
	ok(r && r->escape == '`' && r->n_instrs == 1,
	   "directive keys are case-insensitive and blanks around = are allowed");
	recipe_free(r);
}

static void test_directives_only_at_the_top(void)
{
	struct recipe *r = parse("# a comment\n# escape=`\nFROM a\nRUN x \\\n y\n");
	ok(r && r->escape == '\\', "a directive after a comment is a comment");
	if (r)
		is_str(r->instrs[1].args[0], "x  y", "and the escape stays \\");
	recipe_free(r);

	r = parse("\n# escape=`\nFROM a\n");
	ok(r && r->escape == '\\', "a directive after a blank line is a comment");
	recipe_free(r);

	r = parse("FROM a\n# syntax=x\n");
	ok(r && r->syntax == NULL, "a directive after an instruction is a comment");
	recipe_free(r);

	r = parse("# foo=bar\n# escape=`\nFROM a\n");
	ok(r && r->escape == '\\', "an unknown directive ends the directives");
	recipe_free(r);
}

static void test_syntax_and_check_directives(void)
{
	struct recipe *r =
	    parse("# syntax=docker/dockerfile:1\n# check=skip=JSONArgsRecommended\nFROM a\n");
	ok(r != NULL, "# syntax= and # check= parse");
	if (!r)
		return;
	is_str(r->syntax, "docker/dockerfile:1", "the syntax directive is kept");
	is_str(r->check, "skip=JSONArgsRecommended", "the check directive is kept");
	recipe_free(r);
}

static void test_directive_errors(void)
{
	fails("# escape=x\nFROM a\n", 1, -1, "invalid escape token 'x'",
	      "an escape directive other than \\ or ` is an error");
	fails("# escape=`\n# escape=\\\nFROM a\n", 2, 1, "only one escape parser directive",
	      "a repeated directive is an error");
}

static void test_flags(void)
{
	struct recipe *r =
	    parse("FROM a\nCOPY --from=builder --chown=1:1 --link src /dst\n"
		  "COPY -- --notaflag /x\nRUN --mount=type=cache,target=/c echo --x\n");
	ok(r != NULL, "instructions with flags parse");
	if (!r)
		return;
	is_int(count(r->instrs[1].flags), 3, "COPY has three flags");
	is_str(r->instrs[1].flags[0], "--from=builder", "flags are kept with their value");
	is_str(r->instrs[1].flags[2], "--link", "a flag without value is kept");
	is_str(r->instrs[1].args[0], "src", "arguments follow the flags");
	is_int(count(r->instrs[2].flags), 0, "-- ends the flags");
	is_str(r->instrs[2].args[0], "--notaflag", "a word after -- is an argument");
	is_str(r->instrs[3].flags[0], "--mount=type=cache,target=/c", "RUN --mount is a flag");
	is_str(r->instrs[3].args[0], "echo --x", "flags only at the start of the arguments");
	ok(r->instrs[0].flags && r->instrs[0].flags[0] == NULL, "no flags is an empty vector");
	recipe_free(r);

	r = parse("FROM a\nCOPY --chown=\"a b\" x y\n");
	ok(r && strcmp(r->instrs[1].flags[0], "--chown=a b") == 0,
	   "quotes in flags are processed, as buildkit");
	recipe_free(r);
}

static void test_json_exec_form(void)
{
	struct recipe *r = parse("FROM a\nCMD [\"/bin/sh\", \"-c\", \"echo \\\"hi\\\"\"]\n"
				 "ENTRYPOINT [ ]\nRUN [\"a\\u00e9\\n\"]\n");
	ok(r != NULL, "JSON exec forms parse");
	if (!r)
		return;
	ok(r->instrs[1].json, "CMD [...] is JSON");
	is_int(count(r->instrs[1].args), 3, "CMD has three elements");
	is_str(r->instrs[1].args[2], "echo \"hi\"", "JSON escapes are decoded");
	ok(r->instrs[2].json && count(r->instrs[2].args) == 0, "an empty array has no elements");
	is_str(r->instrs[3].args[0], "a\xc3\xa9\n", "\\u escapes become UTF-8");
	recipe_free(r);
}

static void test_json_fallback_to_shell_form(void)
{
	struct recipe *r = parse("FROM a\nCMD ['echo', 'x']\nCMD [\"echo\", \"x\"\n"
				 "CMD [\"a\"] trailing\nCOPY [\"a\" b\n");
	ok(r != NULL, "invalid JSON parses as the shell form");
	if (!r)
		return;
	ok(!r->instrs[1].json, "single quotes are not JSON");
	is_str(r->instrs[1].args[0], "['echo', 'x']", "and the line is the shell command");
	ok(!r->instrs[2].json, "an unterminated array is not JSON");
	is_str(r->instrs[3].args[0], "[\"a\"] trailing", "text after the array is not JSON");
	is_int(count(r->instrs[4].args), 2, "COPY falls back to whitespace-separated words");
	recipe_free(r);
}

static void test_json_array_of_non_strings_is_an_error(void)
{
	fails("FROM a\nCMD [\"echo\", 1]\n", 2, 1, "arrays must be comprised of strings only",
	      "a JSON array holding a number is an error");
	fails("FROM a\nRUN [ \"a\", [ \"b\" ] ]\n", 2, 1, "strings only",
	      "a nested JSON array is an error");
}

static void test_argument_splitting(void)
{
	struct recipe *r = parse("ARG V=1\nFROM img:${V} AS build\nEXPOSE 80  443/udp\n"
				 "VOLUME /a /b\nUSER  app:app \nWORKDIR /my dir\n"
				 "STOPSIGNAL SIGTERM\nMAINTAINER Jane <j@example.com>\n"
				 "SHELL [\"/bin/bash\", \"-c\"]\nARG a=\"x y\" b\n"
				 "RUN   echo  a   b  \n");
	ok(r != NULL, "every instruction parses");
	if (!r)
		return;
	is_int(count(r->instrs[1].args), 3, "FROM splits into words");
	is_str(r->instrs[1].args[0], "img:${V}", "arguments are not expanded");
	is_int(count(r->instrs[2].args), 2, "EXPOSE splits into words");
	is_int(count(r->instrs[3].args), 2, "VOLUME splits into words");
	is_str(r->instrs[4].args[0], "app:app", "USER is the rest of the line, trimmed");
	is_str(r->instrs[5].args[0], "/my dir", "WORKDIR is the rest of the line");
	is_str(r->instrs[7].args[0], "Jane <j@example.com>", "MAINTAINER is the rest of the line");
	ok(r->instrs[8].json && count(r->instrs[8].args) == 2, "SHELL takes a JSON array");
	is_int(count(r->instrs[9].args), 2, "ARG splits into words, quotes respected");
	is_str(r->instrs[9].args[0], "a=\"x y\"", "ARG words keep their quotes");
	is_int(count(r->instrs[10].args), 1, "RUN in shell form is one string");
	is_str(r->instrs[10].args[0], "echo  a   b", "inner blanks are kept");
	recipe_free(r);
}

static void test_env_forms(void)
{
	struct recipe *r = parse("FROM a\nENV A=1 B=\"two words\" C=x\\ y\nENV LEGACY some value\n"
				 "LABEL \"com.example.k\"=v\nENV EMPTY=\n");
	ok(r != NULL, "ENV and LABEL forms parse");
	if (!r)
		return;
	is_int(count(r->instrs[1].args), 9, "three name=value pairs make three triples");
	is_str(r->instrs[1].args[3], "B", "the name");
	is_str(r->instrs[1].args[4], "\"two words\"", "the value, quotes kept");
	is_str(r->instrs[1].args[5], "=", "the separator");
	is_str(r->instrs[1].args[7], "x\\ y", "escaped blanks stay in the value");
	is_int(count(r->instrs[2].args), 3, "legacy ENV k v is one triple");
	is_str(r->instrs[2].args[1], "some value", "its value is the rest of the line");
	is_str(r->instrs[2].args[2], "", "with an empty separator");
	is_str(r->instrs[3].args[0], "\"com.example.k\"", "LABEL names keep their quotes");
	is_str(r->instrs[4].args[1], "", "ENV NAME= sets an empty value");
	recipe_free(r);
}

static void test_env_errors(void)
{
	fails("FROM a\nENV PATH\n", 2, 1, "ENV must have two arguments",
	      "ENV with a name and no value is an error");
	fails("FROM a\nENV A=1 B\n", 2, 1, "can't find = in \"B\"",
	      "ENV mixing name=value and a bare word is an error");
	fails("FROM a\nLABEL =x\n", 2, 1, "LABEL names can not be blank", "a blank LABEL name");
	fails("FROM a\nENV\n", 2, 1, "ENV requires at least one argument", "ENV alone");
}

static void test_onbuild_wraps_an_instruction(void)
{
	struct recipe *r =
	    parse("FROM a\nONBUILD RUN [\"echo\", \"x\"]\nonbuild copy --from=b . /\n");
	ok(r != NULL, "ONBUILD parses");
	if (!r)
		return;
	ok(r->instrs[1].sub != NULL, "ONBUILD has a wrapped instruction");
	is_int(r->instrs[1].sub->kind, RECIPE_RUN, "which is RUN");
	ok(r->instrs[1].sub->json, "in JSON form");
	is_int(count(r->instrs[1].args), 0, "ONBUILD itself has no arguments");
	is_str(r->instrs[2].sub->flags[0], "--from=b", "the wrapped instruction keeps its flags");
	is_str(r->instrs[2].sub->original, "copy --from=b . /", "and its own original text");
	is_int(r->instrs[2].sub->line, 3, "and the line of the ONBUILD");
	recipe_free(r);
	fails("FROM a\nONBUILD ONBUILD RUN x\n", 2, 1, "Chaining ONBUILD",
	      "ONBUILD ONBUILD is an error");
	fails("FROM a\nONBUILD FROM b\n", 2, 1, "FROM isn't allowed as an ONBUILD trigger",
	      "ONBUILD FROM is an error");
}

static void test_healthcheck(void)
{
	struct recipe *r = parse("FROM a\nHEALTHCHECK NONE\n"
				 "HEALTHCHECK --interval=5s --retries=3 CMD curl -f http://x/\n"
				 "HEALTHCHECK CMD [\"/bin/check\", \"-q\"]\n");
	ok(r != NULL, "HEALTHCHECK forms parse");
	if (!r)
		return;
	is_int(count(r->instrs[1].args), 1, "HEALTHCHECK NONE has one argument");
	is_str(r->instrs[1].args[0], "NONE", "which is NONE");
	is_int(count(r->instrs[2].flags), 2, "HEALTHCHECK keeps its flags");
	is_str(r->instrs[2].args[0], "CMD", "the type comes first");
	is_str(r->instrs[2].args[1], "curl -f http://x/", "then the command in shell form");
	ok(r->instrs[3].json && count(r->instrs[3].args) == 3, "or the command in JSON form");
	recipe_free(r);
	fails("FROM a\nHEALTHCHECK CMD\n", 2, 1, "Missing command after HEALTHCHECK CMD",
	      "HEALTHCHECK CMD without command is an error");
	fails("FROM a\nHEALTHCHECK CONNECT x\n", 2, 1, "Unknown type \"CONNECT\"",
	      "an unknown HEALTHCHECK type is an error");
	fails("FROM a\nHEALTHCHECK NONE x\n", 2, 1, "takes no arguments",
	      "HEALTHCHECK NONE with arguments is an error");
}

static void test_heredocs(void)
{
	struct recipe *r = parse("FROM a\nRUN <<EOF\necho $HOME\n  two\nEOF\nRUN x\n");
	ok(r && r->n_instrs == 3, "RUN <<EOF parses");
	if (!r)
		return;
	is_int(r->instrs[1].n_heredocs, 1, "RUN has one heredoc");
	is_str(r->instrs[1].heredocs[0].name, "EOF", "named EOF");
	is_str(r->instrs[1].heredocs[0].content, "echo $HOME\n  two\n", "with its body");
	ok(r->instrs[1].heredocs[0].expand, "an unquoted delimiter expands");
	ok(!r->instrs[1].heredocs[0].chomp, "<< does not chomp");
	is_str(r->instrs[1].args[0], "<<EOF", "the argument is the line as written");
	is_int(r->instrs[1].line, 2, "the heredoc instruction starts on line 2");
	is_int(r->instrs[1].end_line, 5, "and ends on the delimiter's line");
	is_int(r->instrs[2].line, 6, "the next instruction follows the delimiter");
	recipe_free(r);
}

static void test_heredoc_chomp_strips_tabs(void)
{
	struct recipe *r = parse("FROM a\nRUN <<-EOT\n\t\techo hi\n\t  x\n\tEOT\n");
	ok(r && r->instrs[1].n_heredocs == 1,
	   "RUN <<-EOT parses, a tab-indented delimiter ends it");
	if (!r)
		return;
	ok(r->instrs[1].heredocs[0].chomp, "<<- chomps");
	is_str(r->instrs[1].heredocs[0].content, "echo hi\n  x\n", "leading tabs are stripped");
	recipe_free(r);
}

static void test_heredoc_quoted_delimiters_do_not_expand(void)
{
	struct recipe *r = parse("FROM a\nRUN <<\"EOF\"\n$X\nEOF\nRUN <<'E2'\n$Y\nE2\n"
				 "RUN <<E\"O\"F\n$Z\nEOF\n");
	ok(r != NULL, "quoted delimiters parse");
	if (!r)
		return;
	is_str(r->instrs[1].heredocs[0].name, "EOF", "double quotes are removed from the name");
	ok(!r->instrs[1].heredocs[0].expand, "<<\"EOF\" does not expand");
	ok(!r->instrs[2].heredocs[0].expand, "<<'E2' does not expand");
	ok(!r->instrs[3].heredocs[0].expand, "a partly quoted delimiter does not expand");
	is_str(r->instrs[3].heredocs[0].name, "EOF", "and its quotes are removed");
	recipe_free(r);
}

static void test_several_heredocs_and_copy(void)
{
	struct recipe *r = parse("FROM a\nRUN <<A cat - 3<<B\na\nA\nb\nB\n"
				 "COPY <<EOF /etc/conf\nk=v\nEOF\n"
				 "COPY --chmod=644 <<one <<two /dst/\n1\none\n2\ntwo\n");
	ok(r && r->n_instrs == 4, "several heredocs in one instruction parse");
	if (!r)
		return;
	is_int(r->instrs[1].n_heredocs, 2, "RUN has two heredocs");
	is_str(r->instrs[1].heredocs[0].content, "a\n", "the first body comes first");
	is_str(r->instrs[1].heredocs[1].name, "B", "a file descriptor prefix is allowed");
	is_str(r->instrs[1].heredocs[1].content, "b\n", "the second body follows the first");
	is_int(r->instrs[2].n_heredocs, 1, "COPY <<EOF /path has a heredoc");
	is_str(r->instrs[2].args[0], "<<EOF", "COPY's source is the heredoc word");
	is_str(r->instrs[2].args[1], "/etc/conf", "and the destination follows");
	is_int(r->instrs[3].n_heredocs, 2, "COPY with flags and two heredocs");
	is_int(r->instrs[3].end_line, 14, "ends on the last delimiter");
	recipe_free(r);
}

static void test_heredocs_only_for_run_copy_add(void)
{
	struct recipe *r =
	    parse("FROM a\nCMD cat <<EOF\nRUN [\"cat\", \"<<EOF\"]\nRUN echo \"<<EOF\"\n");
	ok(r && r->n_instrs == 4, "<< outside RUN/COPY/ADD shell forms is not a heredoc");
	if (r) {
		is_int(r->instrs[1].n_heredocs, 0, "CMD has no heredoc");
		is_int(r->instrs[2].n_heredocs, 0, "RUN in JSON form has no heredoc");
	}
	recipe_free(r);
	fails("FROM a\nRUN <<EOF\nno end\n", 2, -1, "unterminated heredoc",
	      "a heredoc without its delimiter is an error");
	fails("FROM a\nCOPY x <<EOF\nEOF\n", 2, 1, "cannot accept a heredoc as a destination",
	      "a heredoc as COPY destination is an error");
}

static void test_unknown_instruction_error(void)
{
	fails("FROM a\n\n   FOO bar\n", 3, 4, "unknown instruction: FOO",
	      "an unknown instruction is an error with its line and column");
	struct recipe *r = parse_tree("FROM a\nFOO bar baz\n");
	ok(r && r->instrs[1].kind == RECIPE_UNKNOWN, "the tree-only parse keeps it as unknown");
	if (r)
		is_str(r->instrs[1].args[0], "bar baz", "with the rest of its line");
	recipe_free(r);
}

static void test_missing_arguments_errors(void)
{
	fails("FROM\n", 1, 1, "FROM requires either one or three arguments", "FROM alone");
	fails("FROM a b\n", 1, 1, "FROM requires either one or three arguments",
	      "FROM with two words");
	fails("FROM a AS 1x\n", 1, 1, "invalid name for build stage", "an invalid stage name");
	fails("FROM a\nCOPY onlyone\n", 2, 1, "COPY requires at least two arguments",
	      "COPY without destination");
	fails("FROM a\nWORKDIR\n", 2, 1, "WORKDIR requires exactly one argument", "WORKDIR alone");
	fails("FROM a\nEXPOSE\n", 2, 1, "EXPOSE requires at least one argument", "EXPOSE alone");
	fails("FROM a\nSHELL /bin/sh -c\n", 2, 1, "SHELL requires the arguments to be in JSON",
	      "SHELL in shell form");
	fails("FROM a\nARG =x\n", 2, 1, "ARG names can not be blank", "a blank ARG name");
	fails("RUN x\n", 1, 1, "no build stage", "an instruction before FROM");
	fails("", 0, 0, "file with no instructions", "an empty recipe");
	fails("# just\n# comments\n", 2, 0, "file with no instructions", "only comments");
	fails("FROM a\nRUN a\\\n   \\\nb\nFOO\n", 5, 1, "unknown instruction",
	      "errors after continuations have the right line");
	struct recipe *r = parse("ARG BASE=alpine\nFROM $BASE\nRUN\nCMD\n");
	ok(r != NULL, "ARG before FROM, and RUN or CMD without arguments are accepted");
	recipe_free(r);
}

static void test_nul_byte_is_an_error(void)
{
	struct recipe *r = NULL;
	struct recipe_error err = {0};
	int rc = recipe_parse("FROM a\nRUN a\0b\n", 13, &r, &err);
	ok(rc < 0 && err.line == 2 && err.msg && strstr(err.msg, "NUL"),
	   "a NUL byte in the recipe is an error on its line");
	recipe_error_clear(&err);
}

static void test_original_text(void)
{
	struct recipe *r = parse("FROM a\n   run   --network=none  echo  hi  \n");
	ok(r != NULL, "parses");
	if (r)
		is_str(r->instrs[1].original, "run   --network=none  echo  hi  ",
		       "original keeps the text after the leading blanks");
	recipe_free(r);
}

static long peak_rss_kib(void)
{
	struct rusage u;
	getrusage(RUSAGE_SELF, &u);
	return u.ru_maxrss;
}

/* A recipe is read and parsed whole: the parser takes at most RECIPE_MAX_SIZE, and a
 * heredoc that fills it costs about its own size once more. */
static void test_size_limit(void)
{
	static const char head[] = "FROM scratch\nCOPY <<EOF /big\n", tail[] = "EOF\n";
	size_t n = RECIPE_MAX_SIZE, body = n - strlen(head) - strlen(tail);
	char *text = malloc(n + 1);
	struct recipe *r = NULL;
	struct recipe_error err = {0};
	if (!text)
		abort();
	memcpy(text, head, strlen(head));
	for (size_t i = 0; i < body; i++)
		text[strlen(head) + i] = i % 64 == 63 || i == body - 1 ? '\n' : 'x';
	memcpy(text + n - strlen(tail), tail, strlen(tail));
	long before = peak_rss_kib();
	int rc = recipe_parse(text, n, &r, &err);
	long grown = peak_rss_kib() - before;
	ok(rc == 0 && r->instrs[1].n_heredocs == 1 &&
	       strlen(r->instrs[1].heredocs[0].content) == body,
	   "a recipe of 16 MiB parses, with its 16 MiB heredoc");
	if (SANITIZED)
		ok(1, "parsing memory not measured # SKIP the sanitizers keep what is freed");
	else
		ok(grown < 3 * (long)(n >> 10),
		   "parsing it takes less than 3 times its size (%ld KiB)", grown);
	recipe_free(r);
	text[n] = '\n';
	rc = recipe_parse(text, n + 1, &r, &err);
	ok(rc < 0 && !r && err.msg && strstr(err.msg, "the recipe is larger than 16 MiB"),
	   "one byte more is refused");
	recipe_error_clear(&err);
	free(text);
}

int main(void)
{
	test_keywords_are_case_insensitive();
	test_comments_and_blank_lines_are_skipped();
	test_continuations_join_lines();
	test_continuations_skip_comments_and_blank_lines();
	test_continuation_trailing_blanks_and_escaped_escape();
	test_continuation_at_end_of_file();
	test_crlf_line_endings();
	test_utf8_bom();
	test_escape_directive();
	test_directives_only_at_the_top();
	test_syntax_and_check_directives();
	test_directive_errors();
	test_flags();
	test_json_exec_form();
	test_json_fallback_to_shell_form();
	test_json_array_of_non_strings_is_an_error();
	test_argument_splitting();
	test_env_forms();
	test_env_errors();
	test_onbuild_wraps_an_instruction();
	test_healthcheck();
	test_heredocs();
	test_heredoc_chomp_strips_tabs();
	test_heredoc_quoted_delimiters_do_not_expand();
	test_several_heredocs_and_copy();
	test_heredocs_only_for_run_copy_add();
	test_unknown_instruction_error();
	test_missing_arguments_errors();
	test_nul_byte_is_an_error();
	test_original_text();
	test_size_limit();
	return done_testing();
}
