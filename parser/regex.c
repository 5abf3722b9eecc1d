/* The regular expressions of .dockerignore matching: the subset of RE2 (Go's regexp)
 * that docker's rewrite of a pattern can produce (ignore.c says why docker's answers
 * need a regular expression at all): literals, ".", classes (ranges, negation, perl
 * and [:name:] classes), anchors and word boundaries, quoted text, "*" "+" "?" and
 * groups. Unicode classes, flags, alternation and backreferences are not supported
 * and make the expression an error. Matching is a Pike VM: linear in the length of
 * the text, whatever the expression. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct re_range {
	int32_t lo, hi;
};

struct re_class {
	struct re_range *r;
	size_t n, cap;
	bool neg;
};

enum re_op {
	OP_CHAR,
	OP_ANY_NOT_NL,
	OP_CLASS,
	OP_SPLIT, /* x and y: relative targets */
	OP_JMP,	  /* x: relative target */
	OP_BEGIN,
	OP_END,
	OP_WORDB,
	OP_NWORDB,
	OP_MATCH,
};

struct rcp_re_inst {
	enum re_op op;
	int32_t c;
	long x, y;
	struct re_class cls;
};

/* ---- parser to a program ---- */

static void class_add(struct re_class *c, int32_t lo, int32_t hi)
{
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 8;
		c->r = rcp_xrealloc(c->r, c->cap * sizeof *c->r);
	}
	c->r[c->n++] = (struct re_range){lo, hi};
}

static int range_cmp(const void *a, const void *b)
{
	const struct re_range *x = a, *y = b;
	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* Adds the ranges of src to c, complemented over all runes when neg. */
static void class_add_set(struct re_class *c, const struct re_range *src, size_t n, bool neg)
{
	if (!neg) {
		for (size_t i = 0; i < n; i++)
			class_add(c, src[i].lo, src[i].hi);
		return;
	}
	struct re_range *s = rcp_xmalloc((n ? n : 1) * sizeof *s);
	memcpy(s, src, n * sizeof *s);
	qsort(s, n, sizeof *s, range_cmp);
	int32_t next = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i].lo > next)
			class_add(c, next, s[i].lo - 1);
		if (s[i].hi + 1 > next)
			next = s[i].hi + 1;
	}
	if (next <= 0x10FFFF)
		class_add(c, next, 0x10FFFF);
	free(s);
}

static bool class_has(const struct re_class *c, int32_t r)
{
	bool in = false;
	for (size_t i = 0; i < c->n && !in; i++)
		in = c->r[i].lo <= r && r <= c->r[i].hi;
	return in != c->neg;
}

static const struct re_range perl_d[] = {{'0', '9'}};
static const struct re_range perl_s[] = {{'\t', '\n'}, {'\f', '\r'}, {' ', ' '}};
static const struct re_range perl_w[] = {{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}};

static const struct {
	const char *name;
	struct re_range r[6];
	size_t n;
} posix_classes[] = {
    {"alnum", {{'0', '9'}, {'A', 'Z'}, {'a', 'z'}}, 3},
    {"alpha", {{'A', 'Z'}, {'a', 'z'}}, 2},
    {"ascii", {{0, 0x7F}}, 1},
    {"blank", {{'\t', '\t'}, {' ', ' '}}, 2},
    {"cntrl", {{0, 0x1F}, {0x7F, 0x7F}}, 2},
    {"digit", {{'0', '9'}}, 1},
    {"graph", {{'!', '~'}}, 1},
    {"lower", {{'a', 'z'}}, 1},
    {"print", {{' ', '~'}}, 1},
    {"punct", {{'!', '/'}, {':', '@'}, {'[', '`'}, {'{', '~'}}, 4},
    {"space", {{'\t', '\r'}, {' ', ' '}}, 2},
    {"upper", {{'A', 'Z'}}, 1},
    {"word", {{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}}, 4},
    {"xdigit", {{'0', '9'}, {'A', 'F'}, {'a', 'f'}}, 3},
};

struct re_parser {
	const char *s;
	size_t len, pos;
	struct rcp_re *prog;
	int depth;
};

static size_t emit(struct rcp_re *p, enum re_op op)
{
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 32;
		p->in = rcp_xrealloc(p->in, p->cap * sizeof *p->in);
	}
	memset(&p->in[p->n], 0, sizeof p->in[p->n]);
	p->in[p->n].op = op;
	return p->n++;
}

/* Inserts an instruction at position at, moving the code after it one place on.
 * Jumps are relative and never cross `at` from inside the moved code. */
static void insert_at(struct rcp_re *p, size_t at, enum re_op op)
{
	emit(p, op);
	struct rcp_re_inst in = p->in[p->n - 1];
	memmove(&p->in[at + 1], &p->in[at], (p->n - 1 - at) * sizeof *p->in);
	p->in[at] = in;
}

/* A perl class escape (\d \D \s \S \w \W) at s; adds it to c and returns true. */
static bool perl_class(const char *s, size_t len, struct re_class *c)
{
	if (len < 2 || s[0] != '\\')
		return false;
	const struct re_range *r;
	size_t n;
	switch (s[1] | 0x20) {
	case 'd':
		r = perl_d, n = 1;
		break;
	case 's':
		r = perl_s, n = 3;
		break;
	case 'w':
		r = perl_w, n = 4;
		break;
	default:
		return false;
	}
	class_add_set(c, r, n, s[1] >= 'A' && s[1] <= 'Z');
	return true;
}

static bool is_octal(char c)
{
	return c >= '0' && c <= '7';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
		return (c | 0x20) - 'a' + 10;
	return -1;
}

/* RE2's parseEscape: the rune of the escape at p->s[p->pos] ('\\'). */
static int parse_escape(struct re_parser *p, int32_t *r)
{
	const char *s = p->s;
	size_t i = p->pos + 1;
	if (i >= p->len)
		return -1; /* trailing backslash */
	int32_t c;
	size_t n = rcp_utf8_decode_go(s + i, p->len - i, &c);
	i += n;
	switch (c) {
	case '1':
	case '2':
	case '3':
	case '4':
	case '5':
	case '6':
	case '7':
		/* a lone digit is a backreference: unsupported by RE2 */
		if (i >= p->len || !is_octal(s[i]))
			return -1;
		/* fallthrough */
	case '0': {
		int32_t v = c - '0';
		for (int k = 1; k < 3 && i < p->len && is_octal(s[i]); k++)
			v = v * 8 + (s[i++] - '0');
		*r = v;
		break;
	}
	case 'x': {
		if (i >= p->len)
			return -1;
		if (s[i] == '{') {
			int32_t v = 0;
			int nd = 0;
			for (i++; i < p->len && s[i] != '}'; i++, nd++) {
				int h = hexval(s[i]);
				if (h < 0 || v > 0x10FFFF)
					return -1;
				v = v * 16 + h;
			}
			if (i >= p->len || nd == 0 || v > 0x10FFFF)
				return -1;
			i++;
			*r = v;
			break;
		}
		if (i + 1 >= p->len || hexval(s[i]) < 0 || hexval(s[i + 1]) < 0)
			return -1;
		*r = hexval(s[i]) * 16 + hexval(s[i + 1]);
		i += 2;
		break;
	}
	case 'a':
		*r = 7;
		break;
	case 'f':
		*r = '\f';
		break;
	case 'n':
		*r = '\n';
		break;
	case 'r':
		*r = '\r';
		break;
	case 't':
		*r = '\t';
		break;
	case 'v':
		*r = '\v';
		break;
	default:
		if (c < 0x80 &&
		    !((c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z'))) {
			*r = c;
			break;
		}
		return -1;
	}
	p->pos = i;
	return 0;
}

static int parse_class_char(struct re_parser *p, int32_t *r)
{
	if (p->pos >= p->len)
		return -1;
	if (p->s[p->pos] == '\\')
		return parse_escape(p, r);
	p->pos += rcp_utf8_decode_go(p->s + p->pos, p->len - p->pos, r);
	return 0;
}

/* A class at p->s[p->pos] ('['); emits OP_CLASS. */
static int parse_class(struct re_parser *p)
{
	struct re_class c = {0};
	p->pos++;
	if (p->pos < p->len && p->s[p->pos] == '^') {
		c.neg = true;
		p->pos++;
	}
	bool first = true;
	for (;;) {
		if (p->pos >= p->len)
			goto bad;
		const char *t = p->s + p->pos;
		size_t tl = p->len - p->pos;
		if (t[0] == ']' && !first)
			break;
		first = false;
		if (tl > 2 && t[0] == '[' && t[1] == ':') {
			const char *end = memmem(t + 2, tl - 2, ":]", 2);
			if (end) {
				const char *name = t + 2;
				size_t nl = (size_t)(end - name);
				bool neg = nl > 0 && name[0] == '^';
				if (neg)
					name++, nl--;
				size_t k;
				for (k = 0; k < sizeof posix_classes / sizeof posix_classes[0]; k++)
					if (strlen(posix_classes[k].name) == nl &&
					    !memcmp(posix_classes[k].name, name, nl))
						break;
				if (k == sizeof posix_classes / sizeof posix_classes[0])
					goto bad;
				class_add_set(&c, posix_classes[k].r, posix_classes[k].n, neg);
				p->pos = (size_t)(end + 2 - p->s);
				continue;
			}
		}
		if (tl >= 2 && t[0] == '\\' && (t[1] == 'p' || t[1] == 'P'))
			goto bad; /* Unicode classes: unsupported */
		if (perl_class(t, tl, &c)) {
			p->pos += 2;
			continue;
		}
		int32_t lo, hi;
		if (parse_class_char(p, &lo) < 0)
			goto bad;
		hi = lo;
		if (p->pos + 1 < p->len && p->s[p->pos] == '-' && p->s[p->pos + 1] != ']') {
			p->pos++;
			if (parse_class_char(p, &hi) < 0 || hi < lo)
				goto bad;
		}
		class_add(&c, lo, hi);
	}
	p->pos++;
	size_t i = emit(p->prog, OP_CLASS);
	p->prog->in[i].cls = c;
	return 0;
bad:
	free(c.r);
	return -1;
}

static int parse_seq(struct re_parser *p);

/* One atom; sets *empty_width for assertions. Returns 1 when the next character
 * ends the sequence (')' or end of text), 0 after an atom, -1 on error. */
static int parse_atom(struct re_parser *p)
{
	struct rcp_re *prog = p->prog;
	char c = p->s[p->pos];
	switch (c) {
	case '(': {
		if (p->pos + 1 < p->len && p->s[p->pos + 1] == '?')
			return -1; /* flags and named groups: unsupported */
		if (++p->depth > 1000)
			return -1;
		p->pos++;
		if (parse_seq(p) < 0)
			return -1;
		if (p->pos >= p->len || p->s[p->pos] != ')')
			return -1;
		p->pos++;
		p->depth--;
		return 0;
	}
	case '|':
		return -1; /* never produced by docker's rewrite */
	case '^':
		p->pos++;
		emit(prog, OP_BEGIN);
		return 0;
	case '$':
		p->pos++;
		emit(prog, OP_END);
		return 0;
	case '.':
		p->pos++;
		emit(prog, OP_ANY_NOT_NL);
		return 0;
	case '[':
		return parse_class(p);
	case '*':
	case '+':
	case '?':
		return -1; /* missing argument to repetition operator */
	case '\\': {
		if (p->pos + 1 >= p->len)
			return -1;
		char e = p->s[p->pos + 1];
		if (e == 'A' || e == 'z' || e == 'b' || e == 'B') {
			emit(prog, e == 'A'   ? OP_BEGIN
				   : e == 'z' ? OP_END
				   : e == 'b' ? OP_WORDB
					      : OP_NWORDB);
			p->pos += 2;
			return 0;
		}
		if (e == 'Q') {
			/* literal text up to \E or the end */
			p->pos += 2;
			const char *end = memmem(p->s + p->pos, p->len - p->pos, "\\E", 2);
			size_t stop = end ? (size_t)(end - p->s) : p->len;
			while (p->pos < stop) {
				int32_t r;
				p->pos += rcp_utf8_decode_go(p->s + p->pos, stop - p->pos, &r);
				emit(prog, OP_CHAR);
				prog->in[prog->n - 1].c = r;
			}
			if (end)
				p->pos += 2;
			/* a quantifier applies to the last character only: fine here as
			 * the rewrite never puts one after \E */
			return 0;
		}
		if (e == 'p' || e == 'P' || e == 'C')
			return -1;
		struct re_class cls = {0};
		if (perl_class(p->s + p->pos, p->len - p->pos, &cls)) {
			p->pos += 2;
			emit(prog, OP_CLASS);
			prog->in[prog->n - 1].cls = cls;
			return 0;
		}
		int32_t r;
		if (parse_escape(p, &r) < 0)
			return -1;
		emit(prog, OP_CHAR);
		prog->in[prog->n - 1].c = r;
		return 0;
	}
	default: {
		int32_t r;
		p->pos += rcp_utf8_decode_go(p->s + p->pos, p->len - p->pos, &r);
		emit(prog, OP_CHAR);
		prog->in[prog->n - 1].c = r;
		return 0;
	}
	}
}

/* A sequence of atoms with their quantifiers, up to ')' or the end. */
static int parse_seq(struct re_parser *p)
{
	struct rcp_re *prog = p->prog;
	while (p->pos < p->len && p->s[p->pos] != ')') {
		size_t start = prog->n;
		if (parse_atom(p) < 0)
			return -1;
		bool quantified = false;
		while (p->pos < p->len &&
		       (p->s[p->pos] == '*' || p->s[p->pos] == '+' || p->s[p->pos] == '?')) {
			char q = p->s[p->pos++];
			if (p->pos < p->len && p->s[p->pos] == '?')
				p->pos++; /* non-greedy: the same set of matches */
			if (quantified)
				return -1; /* invalid nested repetition operator */
			quantified = true;
			long len = (long)(prog->n - start);
			if (q == '*') {
				insert_at(prog, start, OP_SPLIT);
				prog->in[start].x = 1;
				prog->in[start].y = len + 2;
				size_t j = emit(prog, OP_JMP);
				prog->in[j].x = -(len + 1);
			} else if (q == '?') {
				insert_at(prog, start, OP_SPLIT);
				prog->in[start].x = 1;
				prog->in[start].y = len + 1;
			} else {
				size_t j = emit(prog, OP_SPLIT);
				prog->in[j].x = -len;
				prog->in[j].y = 1;
			}
		}
	}
	return 0;
}

int rcp_re_compile(const char *re, size_t len, struct rcp_re *prog)
{
	struct re_parser p = {.s = re, .len = len, .prog = prog};
	if (parse_seq(&p) < 0 || p.pos != len)
		return -1;
	emit(prog, OP_MATCH);
	return 0;
}

void rcp_re_free(struct rcp_re *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->in[i].cls.r);
	free(p->in);
	p->in = NULL;
	p->n = p->cap = 0;
}

/* ---- Pike VM ---- */

static bool is_word(int32_t r)
{
	return (r >= '0' && r <= '9') || (r >= 'A' && r <= 'Z') || (r >= 'a' && r <= 'z') ||
	       r == '_';
}

struct vm {
	const struct rcp_re *prog;
	size_t *mark; /* generation in which each pc was added */
	size_t gen;
	size_t *stack;
};

/* Adds the threads reachable from pc at this position to list (only those that
 * consume a rune, or MATCH). Returns true when MATCH is reachable. */
static bool add_thread(struct vm *vm, size_t pc, size_t *list, size_t *n, bool at_begin,
		       bool at_end, int32_t prev, int32_t next)
{
	size_t sp = 0;
	bool matched = false;
	vm->stack[sp++] = pc;
	while (sp > 0) {
		pc = vm->stack[--sp];
		if (vm->mark[pc] == vm->gen)
			continue;
		vm->mark[pc] = vm->gen;
		const struct rcp_re_inst *in = &vm->prog->in[pc];
		switch (in->op) {
		case OP_JMP:
			vm->stack[sp++] = pc + in->x;
			break;
		case OP_SPLIT:
			vm->stack[sp++] = pc + in->y;
			vm->stack[sp++] = pc + in->x;
			break;
		case OP_BEGIN:
			if (at_begin)
				vm->stack[sp++] = pc + 1;
			break;
		case OP_END:
			if (at_end)
				vm->stack[sp++] = pc + 1;
			break;
		case OP_WORDB:
		case OP_NWORDB:
			if ((is_word(prev) != is_word(next)) == (in->op == OP_WORDB))
				vm->stack[sp++] = pc + 1;
			break;
		case OP_MATCH:
			matched = true;
			break;
		default:
			list[(*n)++] = pc;
		}
	}
	return matched;
}

/* RE2's MatchString: an unanchored search (docker's regexps anchor themselves). */
bool rcp_re_search(const struct rcp_re *prog, const char *s, size_t len)
{
	size_t m = prog->n;
	struct vm vm = {.prog = prog};
	vm.mark = rcp_xmalloc(m * sizeof *vm.mark);
	vm.stack = rcp_xmalloc(2 * m * sizeof *vm.stack + 1);
	size_t *cur = rcp_xmalloc(m * sizeof *cur), *nxt = rcp_xmalloc(m * sizeof *nxt);
	size_t ncur = 0, nnxt;
	bool matched = false;
	int32_t prev = -1;

	for (size_t i = 0; i < m; i++)
		vm.mark[i] = 0;
	vm.gen = 1;
	size_t pos = 0;
	for (;;) {
		int32_t r = -1;
		size_t w = pos < len ? rcp_utf8_decode_go(s + pos, len - pos, &r) : 0;
		/* a new thread starts at every position */
		if (add_thread(&vm, 0, cur, &ncur, pos == 0, pos == len, prev, r)) {
			matched = true;
			break;
		}
		if (pos >= len)
			break;
		vm.gen++;
		nnxt = 0;
		size_t npos = pos + w;
		int32_t r2 = -1;
		if (npos < len)
			rcp_utf8_decode_go(s + npos, len - npos, &r2);
		for (size_t k = 0; k < ncur && !matched; k++) {
			const struct rcp_re_inst *in = &prog->in[cur[k]];
			bool ok = (in->op == OP_CHAR && in->c == r) ||
				  (in->op == OP_ANY_NOT_NL && r != '\n') ||
				  (in->op == OP_CLASS && class_has(&in->cls, r));
			if (ok &&
			    add_thread(&vm, cur[k] + 1, nxt, &nnxt, false, npos == len, r, r2))
				matched = true;
		}
		if (matched)
			break;
		size_t *t = cur;
		cur = nxt;
		nxt = t;
		ncur = nnxt;
		prev = r;
		pos = npos;
	}
	free(vm.mark);
	free(vm.stack);
	free(cur);
	free(nxt);
	return matched;
}
