/* Fuzz target for layer extraction: the input is a byte stream (a tar, compressed or
 * not, or anything), extracted with layer_extract into a fresh root beside a canary
 * directory, once as an image layer (whiteouts in overlay form) and once as ADD
 * does; after each, nothing outside the root may have changed: the canary, and the
 * host paths the seeds aim at. Extraction may fail;
 * only a write outside, a crash or a sanitizer's report is a finding (abort).
 *
 * With libFuzzer (needs clang; src/layer/extract.c and src/fs are compiled again,
 * instrumented):
 *
 *   CC=clang meson setup build-fuzz -Dfuzz=true -Dintegration=false
 *   ninja -C build-fuzz tests/fuzz/fuzz-extract
 *   mkdir -p fuzz-extract-corpus
 *   ./build-fuzz/tests/fuzz/fuzz-extract -max_total_time=60 fuzz-extract-corpus \
 *       tests/fixtures/archives
 *
 * The hostile archives of tests/fixtures/archives are its seeds; without clang the
 * corpus driver runs it over them as the unit test fuzz-extract-corpus. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layer/layer.h"

#include "jail.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz-extract: %s:%d: %s\n", __FILE__, __LINE__, #cond);   \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static struct jail J;

/* host paths the hostile archives of the corpus aim at (generate.py) */
static const char *const host_paths[] = {"/cairn-fixture-abs", "/cairn-fixture-gone",
					 "/tmp/cairn-fixture-escape", "/etc/cairn-fixture"};

static void at_exit_clean(void)
{
	jail_remove(&J);
}

static void check_outside(void)
{
	char *why = NULL;
	if (!jail_intact(&J, &why)) {
		fprintf(stderr, "fuzz-extract: outside the root: %s", why);
		abort();
	}
	struct stat st;
	for (size_t i = 0; i < sizeof host_paths / sizeof *host_paths; i++)
		CHECK(lstat(host_paths[i], &st) < 0 && errno == ENOENT);
}

static void extract(int fd, bool overlay)
{
	CHECK(jail_fresh_root(&J));
	int dfd = open(J.root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(dfd >= 0);
	CHECK(lseek(fd, 0, SEEK_SET) == 0);
	struct cairn_error err = CAIRN_ERROR_INIT;
	struct layer_extract_opts o = {
	    .overlay_whiteouts = overlay, .uid = (int64_t)getuid(), .gid = (int64_t)getgid()};
	(void)layer_extract(fd, dfd, &o, "fuzz", &err);
	cairn_error_clear(&err);
	close(dfd);
	check_outside();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!J.top) {
		CHECK(jail_make(&J, "cairn-fuzz-extract"));
		atexit(at_exit_clean);
	}
	int fd = memfd_create("fuzz-extract", MFD_CLOEXEC);
	CHECK(fd >= 0);
	CHECK(util_write_all(fd, data, size) == 0);
	extract(fd, true);
	extract(fd, false);
	close(fd);
	return 0;
}
