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
#include <dirent.h>
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz-extract: %s:%d: %s\n", __FILE__, __LINE__, #cond);   \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static char *top, *jail, *root, *canary, *canary_listing;

/* host paths the hostile archives of the corpus aim at (generate.py) */
static const char *const host_paths[] = {"/cairn-fixture-abs", "/cairn-fixture-gone",
					 "/tmp/cairn-fixture-escape", "/etc/cairn-fixture"};

/* Names in dir with their types, sizes and link counts, sorted. */
static char *listing(const char *dir)
{
	DIR *d = opendir(dir);
	CHECK(d);
	char **v = NULL;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		struct stat st;
		CHECK(fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0);
		strv_push_take(&v, xasprintf("%s:%o:%lld:%lu", de->d_name, (unsigned)st.st_mode,
					     (long long)st.st_size, (unsigned long)st.st_nlink));
	}
	closedir(d);
	size_t n = strv_len(v);
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			if (strcmp(v[j], v[i]) < 0) {
				char *t = v[i];
				v[i] = v[j];
				v[j] = t;
			}
	struct strbuf sb = STRBUF_INIT;
	for (size_t i = 0; i < n; i++)
		strbuf_addf(&sb, "%s\n", v[i]);
	strv_free(v);
	return strbuf_detach(&sb);
}

static void at_exit_clean(void)
{
	util_rm_rf(AT_FDCWD, top, NULL);
}

static void setup(void)
{
	if (top)
		return;
	char shm[] = "/dev/shm/cairn-fuzz-extract-XXXXXX";
	char tmp[] = "/tmp/cairn-fuzz-extract-XXXXXX";
	char *made = mkdtemp(shm) ? shm : mkdtemp(tmp);
	CHECK(made);
	top = xstrdup(made);
	jail = xasprintf("%s/jail", top);
	root = xasprintf("%s/root", jail);
	canary = xasprintf("%s/canary", jail);
	CHECK(mkdir(jail, 0755) == 0 && mkdir(canary, 0700) == 0);
	cleanup_free char *file = xasprintf("%s/file", canary);
	int fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	CHECK(fd >= 0 && write(fd, "canary", 6) == 6);
	close(fd);
	canary_listing = listing(canary);
	atexit(at_exit_clean);
}

static void check_outside(void)
{
	cleanup_free char *in_jail = listing(jail);
	cleanup_free char *now = listing(canary);
	CHECK(!strcmp(now, canary_listing));
	const char *second = strchr(in_jail, '\n');
	CHECK(second && !strncmp(in_jail, "canary:", 7) && !strncmp(second + 1, "root:", 5) &&
	      !strchr(second + 1, '\n')[1]);
	struct stat st;
	for (size_t i = 0; i < sizeof host_paths / sizeof *host_paths; i++)
		CHECK(lstat(host_paths[i], &st) < 0 && errno == ENOENT);
}

static void extract(int fd, bool overlay)
{
	util_rm_rf(AT_FDCWD, root, NULL);
	CHECK(mkdir(root, 0755) == 0);
	int dfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
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
	setup();
	int fd = memfd_create("fuzz-extract", MFD_CLOEXEC);
	CHECK(fd >= 0);
	CHECK(util_write_all(fd, data, size) == 0);
	extract(fd, true);
	extract(fd, false);
	close(fd);
	return 0;
}
