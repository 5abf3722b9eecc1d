/* libcairnparser: the recipe (Dockerfile) language. Lexing, parsing into a syntax
 * tree, shell-style word processing (quotes, escapes, $VAR expansion), globs and
 * .dockerignore matching. No I/O but reading the buffer it is given; no build logic.
 * Everything returned is owned by the caller unless said otherwise. */
#ifndef CAIRN_RECIPE_H
#define CAIRN_RECIPE_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

/* A problem in the recipe text: where and what. */
struct recipe_error {
	int line;   /* 1-based; 0 when not tied to a line */
	int column; /* 1-based; 0 when unknown */
	char *msg;  /* owned; NULL when no error */
};
void recipe_error_clear(struct recipe_error *e);

enum recipe_kind {
	RECIPE_UNKNOWN = 0,
	RECIPE_FROM,
	RECIPE_RUN,
	RECIPE_CMD,
	RECIPE_LABEL,
	RECIPE_MAINTAINER,
	RECIPE_EXPOSE,
	RECIPE_ENV,
	RECIPE_ADD,
	RECIPE_COPY,
	RECIPE_ENTRYPOINT,
	RECIPE_VOLUME,
	RECIPE_USER,
	RECIPE_WORKDIR,
	RECIPE_ARG,
	RECIPE_ONBUILD,
	RECIPE_STOPSIGNAL,
	RECIPE_HEALTHCHECK,
	RECIPE_SHELL,
};

/* A here-document attached to an instruction (`RUN <<EOF`). */
struct recipe_heredoc {
	char *name;    /* delimiter word, e.g. "EOF" */
	char *content; /* body, lines joined with '\n', ending with '\n' */
	bool expand;   /* false when the delimiter was quoted */
	bool chomp;    /* `<<-`: leading tabs stripped */
};

struct recipe_instr {
	enum recipe_kind kind;
	char *keyword;	/* as written, e.g. "run" or "RUN" */
	int line;	/* first line, 1-based */
	int end_line;	/* last line (continuations, heredocs) */
	char *original; /* the instruction as written, continuations joined */
	char **flags;	/* "--from=builder", as written; NULL-terminated */
	bool json;	/* JSON exec form (`["a","b"]`) */
	/* Arguments, as buildkit's parser gives them (not unquoted, not expanded):
	 * - JSON form: the array's elements;
	 * - RUN/CMD/ENTRYPOINT/SHELL shell form: one string, the rest of the line;
	 * - ENV/LABEL: triples name, value, separator ("=" or "" for `ENV k v`);
	 * - ARG: each "name" or "name=value" word;
	 * - FROM/COPY/ADD/EXPOSE/VOLUME (plain): whitespace-separated words;
	 * - USER/WORKDIR/STOPSIGNAL/MAINTAINER: one string, the rest of the line;
	 * - HEALTHCHECK: "NONE", or "CMD" followed by the CMD's arguments;
	 * - ONBUILD: see `sub`.
	 * NULL-terminated. */
	char **args;
	struct recipe_instr *sub; /* ONBUILD's wrapped instruction, else NULL */
	struct recipe_heredoc *heredocs;
	size_t n_heredocs;
};

struct recipe {
	struct recipe_instr *instrs;
	size_t n_instrs;
	char escape;  /* '\\' or '`' */
	char *syntax; /* `# syntax=` directive value, or NULL */
	char *check;  /* `# check=` directive value, or NULL */
};

/* Parses a recipe. CRLF line endings and a UTF-8 BOM are accepted. On error returns
 * a negative value and fills err (line, column, message). Besides the syntax, it makes
 * the checks docker build makes before building: unknown instructions, argument
 * counts (`FROM` alone, `COPY` without destination, `ENV` without value...), stage
 * names, HEALTHCHECK types, SHELL in JSON form, an instruction before the first FROM.
 * It does not check flag names or values: which flags an instruction takes is the
 * build's business.
 * Notes on the tree: a flag is stored with its quotes and backslashes processed
 * (`--chown="a b"` is "--chown=a b"), as buildkit; a JSON \u0000 is stored as the
 * bytes C0 80 (modified UTF-8), since arguments are C strings; a heredoc body has LF
 * line endings and, for `<<-`, its leading tabs already stripped; an ONBUILD's
 * heredocs are on the ONBUILD instruction. A NUL byte in the text is an error, and
 * so is text longer than RECIPE_MAX_SIZE. Allocation failure aborts. */
int recipe_parse(const char *buf, size_t len, struct recipe **out, struct recipe_error *err);

/* Flags of recipe_parse_ex. */
enum {
	/* Only the syntax tree, as buildkit's parser package gives it: no argument
	 * checks; an unknown instruction is kept as RECIPE_UNKNOWN with the rest of
	 * its line as its one argument (none when the rest is empty). */
	RECIPE_PARSE_TREE_ONLY = 1u << 0,
};
/* recipe_parse with flags (RECIPE_PARSE_*); recipe_parse(b, l, o, e) is
 * recipe_parse_ex(b, l, 0, o, e). */
int recipe_parse_ex(const char *buf, size_t len, unsigned flags, struct recipe **out,
		    struct recipe_error *err);
void recipe_free(struct recipe *r);

/* Canonical upper-case name of a kind ("RUN"), "" for RECIPE_UNKNOWN. */
const char *recipe_kind_name(enum recipe_kind k);

/* Looks up a variable; returns NULL when it is not set (borrowed result). */
typedef const char *(*recipe_lookup_fn)(void *ctx, const char *name);

/* What a word may cost, so that a hostile recipe cannot crash or exhaust the machine
 * (man/cairn-recipe.5 documents them): ${...} nested in the word of a ${...} at most
 * RECIPE_MAX_NESTING levels deep, and one expanded word (an intermediate result
 * included) at most RECIPE_MAX_WORD bytes. */
#define RECIPE_MAX_NESTING 100
#define RECIPE_MAX_WORD ((size_t)16 << 20)
/* The largest recipe a builder should read (the parser itself refuses larger text):
 * a recipe is read and parsed whole, heredocs included. */
#define RECIPE_MAX_SIZE ((size_t)16 << 20)

/* Processes one word as docker's shell lexer does: quotes removed, escapes applied,
 * $VAR ${VAR} ${VAR:-w} ${VAR-w} ${VAR:+w} ${VAR+w} ${VAR:?w} ${VAR#p} ${VAR##p}
 * ${VAR%p} ${VAR%%p} ${VAR/a/b} expanded with lookup. Caller frees *out.
 * Returns 0, or -E2BIG past a limit above, -EINVAL for any other error in the word. */
int recipe_process_word(const char *word, char escape, recipe_lookup_fn lookup, void *ctx,
			char **out, struct recipe_error *err);
/* Like recipe_process_word, but splits the result into words at unquoted white space
 * (after expansion, as buildkit's ProcessWords). *out is NULL-terminated. */
int recipe_process_words(const char *src, char escape, recipe_lookup_fn lookup, void *ctx,
			 char ***out, struct recipe_error *err);

/* recipe_process_word(s) with a way to stop them. */
struct recipe_word_opts {
	char escape; /* '\\' or '`'; 0 is '\\' */
	recipe_lookup_fn lookup;
	void *ctx; /* passed to lookup */
	/* NULL, or a flag (a signal handler's) read while the word is processed: once
	 * it is not 0, the call stops and returns -EINTR with the message "interrupted". */
	const volatile sig_atomic_t *interrupt;
};
int recipe_expand_word(const char *word, const struct recipe_word_opts *o, char **out,
		       struct recipe_error *err);
int recipe_expand_words(const char *src, const struct recipe_word_opts *o, char ***out,
			struct recipe_error *err);

/* Go's path/filepath.Match, the glob of COPY and ADD sources (as buildkit matches
 * them) and of .dockerignore's syntax check: '*' matches any run of bytes but '/',
 * '?' one character but '/', '[...]' one character of a class of characters and
 * ranges ("[a-z_]"; "[^...]" negates; '/' is a character like any other there, and
 * '!' is no negation), and '\' makes the next character itself. Returns 1 when name
 * matches, 0 when not, and RECIPE_GLOB_BAD when the pattern is malformed (an
 * unclosed or empty class, a range without an end, a '-' or ']' where a character
 * belongs, a trailing '\'), whatever the name: Go's ErrBadPattern. */
#define RECIPE_GLOB_BAD (-1)
int recipe_glob_match(const char *pattern, const char *name);

/* .dockerignore rules, parsed and compiled. */
struct recipe_ignore;
/* Parses .dockerignore text with docker's rules (moby's ignorefile.ReadAll and
 * patternmatcher): lines trimmed, `#` comment lines and empty lines skipped, a
 * leading `!` marks an exception, patterns cleaned (a leading "/" or "./" removed,
 * ".." resolved), then `*`, `?`, `[...]`, `**` and `\` escapes as docker gives them.
 * A malformed pattern is an error with its line in err. On success *out is new;
 * free it with recipe_ignore_free. */
int recipe_ignore_parse(const char *buf, size_t len, struct recipe_ignore **out,
			struct recipe_error *err);
/* True when the context-relative path (cleaned, no leading "/" or "./",
 * '/'-separated) is excluded: the last rule matching the path or one of its parent
 * directories wins. "" and "." are never excluded. */
bool recipe_ignore_match(const struct recipe_ignore *ig, const char *path);
/* True when some rule could re-include something below dir (an exception pattern
 * under it, or any exception with wildcards), so a walker must not prune dir even
 * though it is excluded. As buildkit's fsutil decides. */
bool recipe_ignore_may_include_below(const struct recipe_ignore *ig, const char *dir);
void recipe_ignore_free(struct recipe_ignore *ig);

/* Frees a NULL-terminated string vector from this library. */
void recipe_strv_free(char **v);

#endif
