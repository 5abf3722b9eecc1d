/* buildkit's own parser and shell-lexer vectors, read in place from
 * $CAIRN_SHARED/conformance/buildkit (see shared/conformance/README.md): cairn's
 * recipe parser must give the same syntax trees, reject the same files, and process
 * words the same way. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "recipe.h"
#include "tap.h"

/* Vectors cairn deliberately does not follow: "file/vector" and why. Keep short. */
static const struct {
	const char *vector, *reason;
} deviations[] = {
    {NULL, NULL},
};

static const char *deviation(const char *vector)
{
	for (size_t i = 0; deviations[i].vector; i++)
		if (strcmp(deviations[i].vector, vector) == 0)
			return deviations[i].reason;
	return NULL;
}

static char *corpus;

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0;

	if (!f)
		return NULL;
	for (;;) {
		if (n + 4096 + 1 > cap) {
			cap = (n + 4096 + 1) * 2;
			buf = realloc(buf, cap);
			if (!buf)
				abort();
		}
		size_t got = fread(buf + n, 1, 4096, f);
		n += got;
		if (got == 0)
			break;
	}
	fclose(f);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

static char *path_join(const char *a, const char *b)
{
	char *p;
	if (asprintf(&p, "%s/%s", a, b) < 0)
		abort();
	return p;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sub-directories of dir, sorted; NULL-terminated. */
static char **list_dirs(const char *dir)
{
	DIR *d = opendir(dir);
	char **v = NULL;
	size_t n = 0;
	struct dirent *e;

	if (!d)
		return NULL;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		v = realloc(v, (n + 2) * sizeof(*v));
		v[n++] = strdup(e->d_name);
	}
	closedir(d);
	if (!v)
		v = malloc(sizeof(*v));
	v[n] = NULL;
	qsort(v, n, sizeof(*v), cmp_str);
	return v;
}

static void strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

/* Go's strconv.Quote, for what the parser can hold: C0 80 is a NUL (see recipe.h). */
static void go_quote(FILE *o, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	fputc('"', o);
	while (*s) {
		unsigned char c = *s;
		if (c == '"' || c == '\\') {
			fprintf(o, "\\%c", c);
			s++;
		} else if (c >= 0x20 && c < 0x7f) {
			fputc(c, o);
			s++;
		} else if (c < 0x80) {
			const char *esc = NULL;
			switch (c) {
			case '\a':
				esc = "\\a";
				break;
			case '\b':
				esc = "\\b";
				break;
			case '\f':
				esc = "\\f";
				break;
			case '\n':
				esc = "\\n";
				break;
			case '\r':
				esc = "\\r";
				break;
			case '\t':
				esc = "\\t";
				break;
			case '\v':
				esc = "\\v";
				break;
			}
			if (esc)
				fputs(esc, o);
			else
				fprintf(o, "\\x%02x", c);
			s++;
		} else if (c == 0xC0 && s[1] == 0x80) {
			fputs("\\x00", o);
			s += 2;
		} else {
			size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
			bool valid = n > 0;
			for (size_t i = 1; valid && i < n; i++)
				valid = (s[i] & 0xC0) == 0x80;
			if (!valid) {
				fprintf(o, "\\x%02x", c);
				s++;
				continue;
			}
			if (n == 2) {
				uint32_t r = ((c & 0x1Fu) << 6) | (s[1] & 0x3Fu);
				if (r < 0xA1 || r == 0xAD) { /* not unicode.IsPrint */
					fprintf(o, "\\u%04x", r);
					s += 2;
					continue;
				}
			}
			fwrite(s, 1, n, o);
			s += n;
		}
	}
	fputc('"', o);
}

/* One instruction as buildkit's Node.Dump prints it. */
static void dump_instr(FILE *o, const struct recipe_instr *in)
{
	for (const char *k = in->keyword; *k; k++)
		fputc(tolower((unsigned char)*k), o);
	if (in->flags && in->flags[0]) {
		fputs(" [", o);
		for (char **f = in->flags; *f; f++) {
			if (f != in->flags)
				fputc(' ', o);
			go_quote(o, *f);
		}
		fputc(']', o);
	}
	for (char **a = in->args; a && *a; a++) {
		fputc(' ', o);
		go_quote(o, *a);
	}
	if (in->sub) {
		fputs(" (", o);
		dump_instr(o, in->sub);
		fputc(')', o);
	}
}

static char *dump(const struct recipe *r)
{
	char *out = NULL;
	size_t len = 0;
	FILE *o = open_memstream(&out, &len);
	for (size_t i = 0; i < r->n_instrs; i++) {
		fputc('(', o);
		dump_instr(o, &r->instrs[i]);
		fputs(")\n", o);
	}
	fclose(o);
	return out;
}

static void show_first_difference(const char *got, const char *want)
{
	int line = 1;
	while (*got && *got == *want) {
		if (*got == '\n')
			line++;
		got++, want++;
	}
	const char *ge = strchr(got, '\n'), *we = strchr(want, '\n');
	diag("first difference on line %d:", line);
	diag("  got:  ...%.*s", ge ? (int)(ge - got) : (int)strlen(got), got);
	diag("  want: ...%.*s", we ? (int)(we - want) : (int)strlen(want), want);
}

static void test_testfiles(void)
{
	char *dir = path_join(corpus, "parser/testfiles");
	char **names = list_dirs(dir);

	ok(names && names[0], "parser/testfiles lists vectors");
	for (size_t i = 0; names && names[i]; i++) {
		char *d = path_join(dir, names[i]);
		char *df = path_join(d, "Dockerfile"), *rf = path_join(d, "result");
		char vec[512];
		size_t len = 0;
		char *text = read_file(df, &len), *want = read_file(rf, NULL);
		struct recipe *r = NULL;
		struct recipe_error err = {0};
		const char *why;

		snprintf(vec, sizeof(vec), "testfiles/%s", names[i]);
		if ((why = deviation(vec))) {
			ok(1, "%s # SKIP %s", vec, why);
		} else if (!text || !want) {
			ok(0, "%s: Dockerfile and result are readable", vec);
		} else if (recipe_parse_ex(text, len, RECIPE_PARSE_TREE_ONLY, &r, &err) < 0) {
			ok(0, "%s parses", vec);
			diag("line %d column %d: %s", err.line, err.column, err.msg);
		} else {
			char *got = dump(r);
			if (!ok(strcmp(got, want) == 0, "%s parses to buildkit's result", vec))
				show_first_difference(got, want);
			free(got);
		}
		recipe_free(r);
		recipe_error_clear(&err);
		free(text);
		free(want);
		free(df);
		free(rf);
		free(d);
	}
	strv_free(names);
	free(dir);
}

static void test_negative(void)
{
	char *dir = path_join(corpus, "parser/testfiles-negative");
	char **names = list_dirs(dir);

	ok(names && names[0], "parser/testfiles-negative lists vectors");
	for (size_t i = 0; names && names[i]; i++) {
		char *d = path_join(dir, names[i]), *df = path_join(d, "Dockerfile");
		size_t len = 0;
		char *text = read_file(df, &len);
		struct recipe *r = NULL;
		struct recipe_error err = {0};
		int tree, full;

		tree = text ? recipe_parse_ex(text, len, RECIPE_PARSE_TREE_ONLY, &r, &err) : 0;
		recipe_free(r);
		r = NULL;
		ok(text && tree < 0 && err.msg && *err.msg,
		   "testfiles-negative/%s is rejected by the tree parser with a message (%s)",
		   names[i], err.msg ? err.msg : "none");
		recipe_error_clear(&err);
		full = text ? recipe_parse(text, len, &r, &err) : 0;
		recipe_free(r);
		ok(text && full < 0, "testfiles-negative/%s is rejected by recipe_parse", names[i]);
		recipe_error_clear(&err);
		free(text);
		free(df);
		free(d);
	}
	strv_free(names);
	free(dir);
}

/* The expected spans are those of buildkit's TestLineInformation. */
static void test_line_numbers(void)
{
	char *df = path_join(corpus, "parser/testfile-line/Dockerfile");
	size_t len = 0;
	char *text = read_file(df, &len);
	struct recipe *r = NULL;
	struct recipe_error err = {0};
	static const int want[][2] = {{5, 5}, {11, 12}, {17, 31}};

	if (!ok(text && recipe_parse(text, len, &r, &err) == 0, "testfile-line parses")) {
		diag("%s", err.msg ? err.msg : "unreadable");
	} else {
		is_int(r->n_instrs, 3, "testfile-line has three instructions");
		for (size_t i = 0; i < 3 && i < r->n_instrs; i++) {
			is_int(r->instrs[i].line, want[i][0],
			       "testfile-line instruction %zu starts "
			       "on line %d",
			       i + 1, want[i][0]);
			is_int(r->instrs[i].end_line, want[i][1],
			       "testfile-line instruction %zu ends on line %d", i + 1, want[i][1]);
		}
	}
	recipe_free(r);
	recipe_error_clear(&err);
	free(text);
	free(df);
}

struct env {
	char **kv; /* "K=V" */
	size_t n;
};

static const char *env_lookup(void *ctx, const char *name)
{
	struct env *e = ctx;
	size_t len = strlen(name);
	/* a later definition wins, as in buildkit's EnvsFromSlice */
	for (size_t i = e->n; i-- > 0;)
		if (strncmp(e->kv[i], name, len) == 0 && e->kv[i][len] == '=')
			return e->kv[i] + len + 1;
	return NULL;
}

static char *trim(char *s)
{
	char *e;
	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		e--;
	*e = '\0';
	return s;
}

static void test_env_var(void)
{
	char *path = path_join(corpus, "shell/envVarTest");
	char *text = read_file(path, NULL), *save = NULL;
	char *kv[] = {"PWD=/home", "SHELL=bash", "KOREAN=한국어", "NULL="};
	struct env env = {kv, 4};
	int lineno = 0, count = 0;

	ok(text != NULL, "shell/envVarTest is readable");
	for (char *line = text ? strtok_r(text, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *f1, *f2, *f3, *p1, *p2, *got = NULL, vec[600];
		struct recipe_error err = {0};
		const char *why;
		int rc;

		lineno++;
		if (!*trim(line) || trim(line)[0] == '#')
			continue;
		p1 = strchr(line, '|');
		p2 = p1 ? strchr(p1 + 1, '|') : NULL;
		if (!p1 || !p2) {
			ok(0, "envVarTest line %d has three fields", lineno);
			continue;
		}
		*p1 = *p2 = '\0';
		f1 = trim(line), f2 = trim(p1 + 1), f3 = trim(p2 + 1);
		if (strcmp(f1, "W") == 0)
			continue; /* Windows only */
		snprintf(vec, sizeof(vec), "envVarTest:%d", lineno);
		count++;
		if ((why = deviation(vec))) {
			ok(1, "%s %s # SKIP %s", vec, f2, why);
			continue;
		}
		rc = recipe_process_word(f2, '\\', env_lookup, &env, &got, &err);
		if (strcmp(f3, "error") == 0) {
			ok(rc < 0 && err.msg, "%s: '%s' fails (%s)", vec, f2,
			   err.msg ? err.msg : "");
		} else if (rc < 0) {
			ok(0, "%s: '%s' processes", vec, f2);
			diag("%s", err.msg);
		} else {
			is_str(got, f3, "%s: '%s' is '%s'", vec, f2, f3);
		}
		free(got);
		recipe_error_clear(&err);
	}
	ok(count > 100, "envVarTest gave %d vectors", count);
	free(text);
	free(path);
}

static void test_words(void)
{
	char *path = path_join(corpus, "shell/wordsTest");
	char *text = read_file(path, NULL), *save = NULL;
	struct env env = {NULL, 0};
	int lineno = 0, count = 0;

	ok(text != NULL, "shell/wordsTest is readable");
	for (char *line = text ? strtok_r(text, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *bar, *src, *want, **got = NULL, vec[600];
		struct recipe_error err = {0};
		const char *why;
		size_t wl;
		int rc;

		lineno++;
		wl = strlen(line);
		if (wl && line[wl - 1] == '\r')
			line[--wl] = '\0';
		if (!*trim(strdupa(line)) || line[0] == '#')
			continue;
		if (strncmp(line, "ENV ", 4) == 0) {
			char *kvs = line + 3;
			while (*kvs == ' ')
				kvs++;
			env.kv = realloc(env.kv, (env.n + 1) * sizeof(*env.kv));
			env.kv[env.n++] = kvs;
			continue;
		}
		bar = strchr(line, '|');
		if (!bar) {
			ok(0, "wordsTest line %d has two fields", lineno);
			continue;
		}
		*bar = '\0';
		src = trim(line);
		want = bar + 1;
		while (*want == ' ')
			want++;
		snprintf(vec, sizeof(vec), "wordsTest:%d", lineno);
		count++;
		if ((why = deviation(vec))) {
			ok(1, "%s # SKIP %s", vec, why);
			continue;
		}
		rc = recipe_process_words(src, '\\', env_lookup, &env, &got, &err);
		if (strcmp(want, "error") == 0) {
			ok(rc < 0, "%s: '%s' fails", vec, src);
		} else if (rc < 0) {
			ok(0, "%s: '%s' processes", vec, src);
			diag("%s", err.msg);
		} else {
			char *joined = NULL;
			size_t jl = 0;
			FILE *o = open_memstream(&joined, &jl);
			for (char **w = got; *w; w++)
				fprintf(o, "%s%s", w == got ? "" : ",", *w);
			fclose(o);
			is_str(joined, want, "%s: '%s' splits into '%s'", vec, src, want);
			free(joined);
		}
		recipe_strv_free(got);
		recipe_error_clear(&err);
	}
	ok(count > 20, "wordsTest gave %d vectors", count);
	free(env.kv);
	free(text);
	free(path);
}

int main(void)
{
	const char *shared = getenv("CAIRN_SHARED"), *root = getenv("CAIRN_SOURCE_ROOT");
	char *base;
	struct stat st;

	if (shared && *shared) {
		base = strdup(shared);
	} else if (root && *root) {
		base = path_join(root, "../shared");
	} else {
		/* this file is tests/unit/ in the source tree; shared/ is beside it */
		char *src = strdup(__FILE__), *slash = strrchr(src, '/');
		if (slash)
			*slash = '\0';
		base = path_join(slash ? src : ".", "../../../shared");
		free(src);
	}
	corpus = path_join(base, "conformance/buildkit");
	free(base);
	if (stat(corpus, &st) < 0 || !S_ISDIR(st.st_mode)) {
		printf("1..0 # SKIP no conformance corpus (%s)\n", corpus);
		free(corpus);
		return 0;
	}
	test_testfiles();
	test_negative();
	test_line_numbers();
	test_env_var();
	test_words();
	free(corpus);
	return done_testing();
}
