/* Helpers shared by the files of libcairnparser; not part of the public API.
 * Allocation failure aborts: the parser has no useful way to go on without memory,
 * and it keeps every caller's error path about the recipe, not about malloc. */
#ifndef CAIRN_PARSER_INTERNAL_H
#define CAIRN_PARSER_INTERNAL_H

#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "recipe.h"

#define RCP_EOF (-1)

void *rcp_xmalloc(size_t n);
void *rcp_xrealloc(void *p, size_t n);
char *rcp_xstrndup(const char *s, size_t n);
char *rcp_xstrdup(const char *s);
__attribute__((format(printf, 1, 2))) char *rcp_xasprintf(const char *fmt, ...);
/* rcp_xasprintf for a caller that has its arguments as a va_list (uses ap up). */
__attribute__((format(printf, 1, 0))) char *rcp_xvasprintf(const char *fmt, va_list ap);

/* A growable, always NUL-terminated byte string. */
struct rcp_buf {
	char *s;
	size_t len, cap;
};
void rcp_buf_add(struct rcp_buf *b, const char *s, size_t n);
void rcp_buf_adds(struct rcp_buf *b, const char *s);
void rcp_buf_addc(struct rcp_buf *b, char c);
/* Appends a rune (see rcp_utf8_decode for the values of raw bytes). */
void rcp_buf_addrune(struct rcp_buf *b, int32_t r);
/* Returns the string (never NULL) and leaves b empty. */
char *rcp_buf_steal(struct rcp_buf *b);
void rcp_buf_reset(struct rcp_buf *b);
void rcp_buf_free(struct rcp_buf *b);

/* A growable NULL-terminated vector of owned strings. */
struct rcp_vec {
	char **v;
	size_t n, cap;
};
void rcp_vec_push(struct rcp_vec *v, char *s); /* takes s */
void rcp_vec_pushn(struct rcp_vec *v, const char *s, size_t n);
/* Returns the NULL-terminated vector (never NULL) and leaves v empty. */
char **rcp_vec_steal(struct rcp_vec *v);
void rcp_vec_free(struct rcp_vec *v);

/* Decodes one UTF-8 sequence of s[0..len). An invalid byte b decodes as the rune
 * RCP_RAW_BYTE(b), one byte long, so that text that is not UTF-8 passes through
 * unchanged. Returns the length used (>= 1 when len >= 1). */
#define RCP_RAW_BASE 0x110000
#define RCP_RAW_BYTE(b) (RCP_RAW_BASE + (int32_t)(unsigned char)(b))
size_t rcp_utf8_decode(const char *s, size_t len, int32_t *r);
/* Go's utf8.DecodeRuneInString: as rcp_utf8_decode, but an invalid byte is U+FFFD. */
size_t rcp_utf8_decode_go(const char *s, size_t len, int32_t *r);
/* The length of the longest prefix of s of at most max bytes that ends between two
 * runes. */
size_t rcp_utf8_prefix(const char *s, size_t max);

/* unicode.IsSpace of Go: the white space buildkit trims. */
bool rcp_is_space(int32_t r);
/* Length of the leading white space (rcp_is_space) of s[0..len). */
size_t rcp_space_prefix(const char *s, size_t len);
/* Length of s[0..len) without its trailing white space. */
size_t rcp_trim_right_len(const char *s, size_t len);

/* Fills err (when not NULL) and returns -EINVAL. */
__attribute__((format(printf, 4, 5))) int rcp_error(struct recipe_error *err, int line, int column,
						    const char *fmt, ...);

/* The shell lexer with buildkit's knobs (frontend/dockerfile/shell Lex). */
struct rcp_shell_opts {
	char escape;
	bool raw_quotes;			/* keep quote characters in the result */
	bool raw_escapes;			/* keep escape characters in the result */
	bool skip_unset;			/* leave references to unset variables as written */
	const volatile sig_atomic_t *interrupt; /* see struct recipe_word_opts */
};
/* Processes src; fills *word (the whole result) and/or *words (split at unquoted
 * white space) when not NULL. On error returns -EINVAL, -E2BIG (past a limit of
 * recipe.h) or -EINTR (interrupted) and sets *errmsg (owned). */
int rcp_shell_process(const char *src, const struct rcp_shell_opts *o, recipe_lookup_fn lookup,
		      void *ctx, char **word, char ***words, char **errmsg);

/* Decodes src as a JSON array of strings, as buildkit's parseJSON: returns 0 and
 * fills *out; RCP_JSON_INVALID when src is not valid JSON starting with '['
 * (callers fall back to the shell form); RCP_JSON_NOT_STRINGS when it is a valid
 * array holding something other than strings (an error in the recipe). A \u0000 in
 * a string is stored as the bytes C0 80 (modified UTF-8): arguments are C strings. */
#define RCP_JSON_INVALID 1
#define RCP_JSON_NOT_STRINGS 2
int rcp_json_string_array(const char *src, size_t len, char ***out);

/* recipe_glob_match on strings with lengths (a cleaned .dockerignore pattern may hold
 * NUL bytes). */
int rcp_glob_match(const char *pattern, size_t plen, const char *name, size_t nlen);

/* A compiled regular expression of the RE2 subset .dockerignore patterns become
 * (regex.c). */
struct rcp_re_inst;
struct rcp_re {
	struct rcp_re_inst *in;
	size_t n, cap;
};
/* Compiles re[0..len) into *out (zeroed first by the caller); -1 when it is malformed
 * or uses what the subset lacks (then *out still needs rcp_re_free). */
int rcp_re_compile(const char *re, size_t len, struct rcp_re *out);
/* Whether re matches somewhere in s[0..len) (RE2's MatchString: unanchored). */
bool rcp_re_search(const struct rcp_re *re, const char *s, size_t len);
void rcp_re_free(struct rcp_re *re);

#endif
