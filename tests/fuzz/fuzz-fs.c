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
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs/fs.h"

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

static char *top, *jail, *root, *root_real, *canary;
static char *canary_listing;

static void rm_tree(const char *path)
{
	util_rm_rf(AT_FDCWD, path, NULL);
}

static void at_exit_clean(void)
{
	rm_tree(top);
}

/* Names in dir with their types and sizes, sorted; the canary's fingerprint. */
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
		strv_push_take(&v, xasprintf("%s:%o:%lld", de->d_name, (unsigned)st.st_mode,
					     (long long)st.st_size));
	}
	closedir(d);
	struct strbuf sb = STRBUF_INIT;
	size_t n = strv_len(v);
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			if (strcmp(v[j], v[i]) < 0) {
				char *t = v[i];
				v[i] = v[j];
				v[j] = t;
			}
	for (size_t i = 0; i < n; i++)
		strbuf_addf(&sb, "%s\n", v[i]);
	strv_free(v);
	return strbuf_detach(&sb);
}

static void make(const char *rel, const char *link_target)
{
	cleanup_free char *p = xasprintf("%s/%s", root, rel);
	if (link_target)
		CHECK(symlink(link_target, p) == 0);
	else
		CHECK(mkdir(p, 0755) == 0);
}

/* jail/root (the root) and jail/canary, once per process. */
static void setup(void)
{
	if (root)
		return;
	/* a tmpfs where there is one: each input makes and removes directories */
	char shm[] = "/dev/shm/cairn-fuzz-fs-XXXXXX", tmp[] = "/tmp/cairn-fuzz-fs-XXXXXX";
	char *tmpl = mkdtemp(shm) ? shm : tmp;
	CHECK(tmpl == shm || mkdtemp(tmp));
	top = xstrdup(tmpl);
	jail = xasprintf("%s/jail", tmpl);
	root = xasprintf("%s/root", jail);
	canary = xasprintf("%s/canary", jail);
	CHECK(mkdir(jail, 0755) == 0 && mkdir(root, 0755) == 0 && mkdir(canary, 0700) == 0);
	cleanup_free char *file = xasprintf("%s/file", canary);
	int fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	CHECK(fd >= 0 && write(fd, "canary", 6) == 6);
	close(fd);
	canary_listing = listing(canary);
	root_real = realpath(root, NULL);
	CHECK(root_real);
	atexit(at_exit_clean);
}

/* The hostile tree the input's path meets; remade for every input (the input may
 * change or remove it). */
static void populate(void)
{
	rm_tree(root);
	CHECK(mkdir(root, 0755) == 0);
	make("a", NULL);
	make("a/b", NULL);
	make("a/rel", "../a/b");
	make("up", "../../../..");
	make("abs", "/");
	make("esc", "../../canary");
	make("host", canary);
	make("proc", "/proc/self");
	make("fd", "/proc/self/fd/0");
	make("dang", "nowhere/deeper");
	make("loop1", "loop2");
	make("loop2", "loop1");
	cleanup_free char *file = xasprintf("%s/file", root);
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
	cleanup_free char *in_jail = listing(jail);
	cleanup_free char *now = listing(canary);
	CHECK(!strcmp(now, canary_listing));
	/* root and canary, and nothing else */
	const char *second = strchr(in_jail, '\n') + 1;
	CHECK(!strncmp(in_jail, "canary:", 7) && !strncmp(second, "root:", 5) &&
	      !strchr(second, '\n')[1]);
}

static void check_root(const char *path)
{
	setup();
	populate();
	int rfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
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
