/* Fuzz target for src/fs: the input (up to its first NUL) is a path.
 *
 * - Cleaned with every policy, it must keep the invariants fs.h promises: no empty,
 *   "." or ".." component, relative or absolute as the policy says, the same again
 *   when cleaned again, FS_CLEAN_NO_ESCAPE refusing exactly the paths whose ".."
 *   climb above the top (counted here by depth, not by fs's stack) and otherwise
 *   agreeing with FS_CLEAN_IN_ROOT.
 * - Opened beneath a small root of directories and hostile symlinks (absolute,
 *   climbing, into /proc, dangling, looping), the fd must be beneath the root; made
 *   with fs_mkdir_p, written with fs_write_file and removed with fs_remove, nothing
 *   outside the root (a canary directory beside it) may change.
 * A broken promise aborts.
 *
 * With libFuzzer (needs clang; src/fs is compiled again, instrumented):
 *
 *   CC=clang meson setup build-fuzz -Dfuzz=true -Dintegration=false
 *   ninja -C build-fuzz tests/fuzz/fuzz-fs
 *   mkdir -p fuzz-fs-corpus
 *   ./build-fuzz/tests/fuzz/fuzz-fs -max_total_time=60 fuzz-fs-corpus tests/fuzz/corpus/fs
 *
 * Without clang the corpus driver runs it over tests/fuzz/corpus/fs as the unit test
 * fuzz-fs-corpus (tests/fuzz/run-corpus.c). */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs/fs.h"

#include "jail.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz-fs: %s:%d: %s\n", __FILE__, __LINE__, #cond);        \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* ---- cleaning ---- */

static bool components_clean(const char *p)
{
	if (!*p)
		return true;
	for (;;) {
		size_t len = strcspn(p, "/");
		if (len == 0 || (len == 1 && p[0] == '.') ||
		    (len == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		if (!p[len])
			return true;
		p += len + 1;
	}
}

/* Whether some ".." of path climbs above the top, by counting depth. */
static bool climbs_out(const char *p)
{
	long depth = 0;
	while (*p) {
		size_t len = strcspn(p, "/");
		if (len == 2 && p[0] == '.' && p[1] == '.') {
			if (--depth < 0)
				return true;
		} else if (len && !(len == 1 && p[0] == '.')) {
			depth++;
		}
		p += len + (p[len] == '/');
	}
	return false;
}

static void check_clean(const char *path)
{
	char *rel = fs_clean_path(path, FS_CLEAN_IN_ROOT);
	char *abs = fs_clean_path(path, FS_CLEAN_IN_ROOT_ABS);
	char *kept = fs_clean_path(path, FS_CLEAN_NO_ESCAPE);
	CHECK(rel && abs);
	CHECK(rel[0] != '/' && components_clean(rel));
	CHECK(abs[0] == '/' && components_clean(abs + 1) && !strcmp(abs + 1, rel));
	CHECK((kept == NULL) == climbs_out(path));
	CHECK(!kept || !strcmp(kept, rel));
	/* idempotent, and each form read back by the others */
	char *again = fs_clean_path(rel, FS_CLEAN_IN_ROOT);
	char *abs_again = fs_clean_path(abs, FS_CLEAN_IN_ROOT_ABS);
	char *from_abs = fs_clean_path(abs, FS_CLEAN_NO_ESCAPE);
	CHECK(!strcmp(again, rel) && !strcmp(abs_again, abs) && from_abs && !strcmp(from_abs, rel));
	free(again), free(abs_again), free(from_abs);
	free(rel), free(abs), free(kept);
}

/* ---- beneath a root ---- */

static struct jail J;
static char *root_real; /* J.root as /proc shows it */

static void at_exit_clean(void)
{
	jail_remove(&J);
}

static void make(const char *rel, const char *link_target)
{
	cleanup_free char *p = jail_path(J.root, rel);
	if (link_target)
		CHECK(symlink(link_target, p) == 0);
	else
		CHECK(mkdir(p, 0755) == 0);
}

/* The jail, once per process. */
static void setup(void)
{
	if (J.top)
		return;
	CHECK(jail_make(&J, "cairn-fuzz-fs"));
	root_real = realpath(J.root, NULL);
	CHECK(root_real);
	atexit(at_exit_clean);
}

/* The hostile tree the input's path meets; remade for every input (the input may
 * change or remove it). */
static void populate(void)
{
	CHECK(jail_fresh_root(&J));
	make("a", NULL);
	make("a/b", NULL);
	make("a/rel", "../a/b");
	make("up", "../../../..");
	make("abs", "/");
	make("esc", "../canary");
	make("host", J.canary);
	make("proc", "/proc/self");
	make("fd", "/proc/self/fd/0");
	make("dang", "nowhere/deeper");
	make("loop1", "loop2");
	make("loop2", "loop1");
	cleanup_free char *file = jail_path(J.root, "file");
	int fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	CHECK(fd >= 0);
	close(fd);
}

static void check_beneath(int fd)
{
	cleanup_free char *where = fs_fd_path_below(root_real, fd);
	CHECK(where != NULL);
}

static void check_outside(void)
{
	char *why = NULL;
	if (!jail_intact(&J, &why)) {
		fprintf(stderr, "fuzz-fs: outside the root: %s", why);
		abort();
	}
}

static void check_root(const char *path)
{
	setup();
	populate();
	int rfd = open(J.root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	CHECK(rfd >= 0);
	for (unsigned how = 0; how <= FS_NO_SYMLINKS; how++) {
		int fd = fs_open(rfd, path, O_PATH, how);
		if (fd >= 0) {
			check_beneath(fd);
			close(fd);
		}
	}
	int fd = -1;
	/* what is longer only makes deeper trees, slowly */
	if (strlen(path) > 512) {
		close(rfd);
		return;
	}
	if (fs_mkdir_p(rfd, path, 0755, NULL, &fd, NULL) == 0) {
		check_beneath(fd);
		close(fd);
	}
	struct fs_copy_opts o = {.owner = {getuid(), getgid()}, .chmod = -1};
	fs_write_file(rfd, path, false, "x", "x", 1, 0, &o, NULL);
	check_outside();
	fs_remove(rfd, path, NULL);
	check_outside();
	close(rfd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *path = malloc(size + 1);
	if (!path)
		abort();
	memcpy(path, data, size);
	path[size] = '\0';
	check_clean(path);
	/* past PATH_MAX the kernel answers alone: no need to make deep trees */
	if (strlen(path) <= 8192)
		check_root(path);
	free(path);
	return 0;
}
