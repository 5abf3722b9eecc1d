/* Runs the fuzz target over files without libFuzzer (any compiler): each argument
 * is a file or a directory walked recursively; every regular file is one input.
 * Prints TAP, one line per input; a crash is the sanitizers' business (build with
 * -Db_sanitize=address,undefined to make memory errors fatal). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int n_inputs, n_failed;

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		printf("not ok %d - %s: %s\n", ++n_inputs, path, strerror(errno));
		n_failed++;
		return 0;
	}
	char *buf = NULL;
	size_t len = 0, cap = 0, got;
	do {
		if (len == cap) {
			cap = cap ? cap * 2 : 4096;
			buf = realloc(buf, cap);
			if (!buf)
				abort();
		}
		got = fread(buf + len, 1, cap - len, f);
		len += got;
	} while (got > 0);
	bool bad = ferror(f);
	fclose(f);
	if (!bad)
		LLVMFuzzerTestOneInput((const uint8_t *)buf, len);
	free(buf);
	printf("%s %d - %s\n", bad ? "not ok" : "ok", ++n_inputs, path);
	n_failed += bad;
	fflush(stdout);
	return 0;
}

static int visit(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st, (void)ftw;
	if (type == FTW_F)
		return run_file(path);
	if (type == FTW_DNR || type == FTW_NS) {
		printf("not ok %d - %s: cannot read\n", ++n_inputs, path);
		n_failed++;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		/* "?DIR": a corpus that may be absent (../shared outside CI's layout) */
		bool optional = argv[i][0] == '?';
		const char *path = argv[i] + optional;
		if (nftw(path, visit, 16, FTW_PHYS) < 0) {
			if (optional && errno == ENOENT) {
				printf("ok %d - %s # SKIP not present\n", ++n_inputs, path);
				continue;
			}
			printf("not ok %d - %s: %s\n", ++n_inputs, path, strerror(errno));
			n_failed++;
		}
	}
	printf("1..%d\n", n_inputs);
	return n_failed ? 1 : 0;
}
