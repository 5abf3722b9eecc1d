/* fs: path cleaning by policy, opening and making beneath a root, copying into one and
 * removing from one. Each case runs in jail/root beside jail/canary, and checks that
 * nothing outside the root changed. Root is needed only for owners other than the
 * caller's and device nodes; a mount is made in a namespace of its own. */
#include "fs/fs.h"
#include "tap.h"

#include "../fuzz/jail.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

static struct jail J;
static char *tmp;    /* J.top: the test's temp dir */
static char *root;   /* J.root: the root every case works beneath */
static char *canary; /* J.canary: a directory outside the root, with one file */
static bool is_root;

static void must(int cond, const char *what)
{
	if (!cond) {
		printf("Bail out! %s: %s\n", what, strerror(errno));
		exit(1);
	}
}

static void put(const char *dir, const char *rel, const char *text, mode_t mode)
{
	cleanup_free char *p = jail_path(dir, rel);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	must(fd >= 0, p);
	must(util_write_all(fd, text, strlen(text)) == 0, p);
	close(fd);
	must(chmod(p, mode) == 0, p);
}

static void mkdir_in(const char *dir, const char *rel)
{
	cleanup_free char *p = jail_path(dir, rel);
	must(mkdir(p, 0755) == 0, p);
}

static void link_in(const char *dir, const char *rel, const char *target)
{
	cleanup_free char *p = jail_path(dir, rel);
	must(symlink(target, p) == 0, p);
}

static char *read_in(const char *dir, const char *rel)
{
	cleanup_free char *p = jail_path(dir, rel);
	char *text = NULL;
	if (util_read_file(AT_FDCWD, p, &text, NULL, NULL) < 0)
		return NULL;
	return text;
}

static bool exists_in(const char *dir, const char *rel)
{
	cleanup_free char *p = jail_path(dir, rel);
	struct stat st;
	return lstat(p, &st) == 0;
}

static char *names(const char *dir)
{
	return jail_listing(dir, false);
}

static void rm_tree(const char *path)
{
	util_rm_rf(AT_FDCWD, path, NULL);
}

/* A fresh, empty root. */
static void fresh(void)
{
	must(jail_fresh_root(&J), root);
}

/* Nothing outside the root changed. */
static bool outside_intact(void)
{
	cleanup_free char *why = NULL;
	bool ok = jail_intact(&J, &why);
	if (!ok)
		diag("outside the root: %s", why);
	return ok;
}

static int open_root(void)
{
	int fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	must(fd >= 0, root);
	return fd;
}

/* Where fd is, relative to the root; "(outside)" when not beneath it. */
static char *where(int fd)
{
	cleanup_free char *real = realpath(root, NULL);
	char *rel = fs_fd_path_below(real, fd);
	return rel ? rel : xstrdup("(outside)");
}

/* ---- cleaning ---- */

static void test_clean(void)
{
	static const struct {
		const char *in, *in_root, *abs, *no_escape; /* NULL: refused */
	} cases[] = {
	    {"", "", "/", ""},
	    {"/", "", "/", ""},
	    {".", "", "/", ""},
	    {"a/b/c", "a/b/c", "/a/b/c", "a/b/c"},
	    {"/a//b/./c/", "a/b/c", "/a/b/c", "a/b/c"},
	    {"a/b/../c", "a/c", "/a/c", "a/c"},
	    {"a/..", "", "/", ""},
	    {"..", "", "/", NULL},
	    {"/..", "", "/", NULL},
	    {"../a", "a", "/a", NULL},
	    {"a/../../b", "b", "/b", NULL},
	    {"/../../etc/passwd", "etc/passwd", "/etc/passwd", NULL},
	    {"a/b/../../..", "", "/", NULL},
	    {"./../a/./b/..", "a", "/a", NULL},
	    {"...", "...", "/...", "..."},
	    {"..a/a..", "..a/a..", "/..a/a..", "..a/a.."},
	    {".wh...", ".wh...", "/.wh...", ".wh..."},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		cleanup_free char *a = fs_clean_path(cases[i].in, FS_CLEAN_IN_ROOT);
		cleanup_free char *b = fs_clean_path(cases[i].in, FS_CLEAN_IN_ROOT_ABS);
		cleanup_free char *c = fs_clean_path(cases[i].in, FS_CLEAN_NO_ESCAPE);
		is_str(a, cases[i].in_root, "in root: \"%s\"", cases[i].in);
		is_str(b, cases[i].abs, "in root, absolute: \"%s\"", cases[i].in);
		is_str(c, cases[i].no_escape, "no escape: \"%s\"", cases[i].in);
	}
	/* no buffer to outgrow */
	struct strbuf sb = STRBUF_INIT, want = STRBUF_INIT;
	for (int i = 0; i < 2000; i++) {
		strbuf_addstr(&sb, "/dir/./x/..");
		strbuf_addf(&want, "%sdir", i ? "/" : "");
	}
	cleanup_free char *longer = fs_clean_path(sb.buf, FS_CLEAN_NO_ESCAPE);
	ok(longer && !strcmp(longer, want.buf), "a path of %zu characters is cleaned whole",
	   sb.len);
	strbuf_release(&sb);
	strbuf_release(&want);
}

/* ---- opening ---- */

static void test_open_symlinks(void)
{
	fresh();
	int rfd = open_root();
	/* absolute: the canary's host path means root/<that path> */
	link_in(root, "abs", canary);
	int fd = fs_open(rfd, "abs/file", O_RDONLY, 0);
	is_int(fd, -ENOENT, "an absolute symlink to a host dir resolves inside the root");
	/* relative, climbing: clamped at the root */
	link_in(root, "rel", "../../../../canary");
	mkdir_in(root, "canary");
	put(root, "canary/file", "inside", 0644);
	fd = fs_open(rfd, "rel/file", O_RDONLY, 0);
	cleanup_free char *text = NULL;
	ok(fd >= 0 && util_read_fd(fd, &text, NULL) == 0 && !strcmp(text, "inside"),
	   "a symlink climbing out with .. stops at the root");
	if (fd >= 0)
		close(fd);
	/* ".." at the top of the path itself */
	fd = fs_open(rfd, "../../canary/file", O_PATH, 0);
	cleanup_free char *w = fd >= 0 ? where(fd) : xstrdup("(failed)");
	is_str(w, "canary/file", ".. at the top of a path stays at the root");
	if (fd >= 0)
		close(fd);
	/* FS_NO_SYMLINKS refuses every link, the last one too */
	is_int(fs_open(rfd, "rel/file", O_PATH, FS_NO_SYMLINKS), -ELOOP,
	       "FS_NO_SYMLINKS refuses a symlink on the way");
	is_int(fs_open(rfd, "rel", O_PATH, FS_NO_SYMLINKS), -ELOOP,
	       "FS_NO_SYMLINKS refuses a symlink at the end");
	/* a dangling symlink on the way */
	link_in(root, "dangling", "nowhere/deeper");
	is_int(fs_open(rfd, "dangling/x", O_PATH, 0), -ENOENT,
	       "a dangling symlink on the way: not found");
	/* through a file */
	put(root, "plain", "x", 0644);
	is_int(fs_open(rfd, "plain/x", O_PATH, 0), -ENOTDIR, "a path through a file: ENOTDIR");
	/* a loop */
	link_in(root, "loop1", "loop2");
	link_in(root, "loop2", "loop1");
	is_int(fs_open(rfd, "loop1/x", O_PATH, 0), -ELOOP, "a symlink loop: ELOOP");
	ok(fs_is_dir(rfd, "/") && fs_is_dir(rfd, "") && fs_is_dir(rfd, "rel") &&
	       !fs_is_dir(rfd, "plain") && !fs_is_dir(rfd, "dangling"),
	   "fs_is_dir: the root, a symlink to a dir; not a file or a dangling link");
	close(rfd);
	ok(outside_intact(), "opening through symlinks changed nothing outside");
}

static void test_open_magic_links(void)
{
	int host = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	must(host >= 0, "/");
	is_int(fs_open(host, "/proc/self/root/etc/passwd", O_RDONLY, 0), -ELOOP,
	       "/proc/self/root is a magic link, refused");
	int cfd = open(canary, O_PATH | O_DIRECTORY | O_CLOEXEC);
	must(cfd >= 0, canary);
	cleanup_free char *via_fd = xasprintf("proc/self/fd/%d/file", cfd);
	is_int(fs_open(host, via_fd, O_RDONLY, 0), -ELOOP,
	       "/proc/self/fd/N is a magic link, refused");
	is_int(fs_open(host, "proc/self/cwd", O_PATH, 0), -ELOOP,
	       "/proc/self/cwd is a magic link, refused");
	int fd = fs_open(host, "proc/self/status", O_RDONLY, 0);
	ok(fd >= 0, "an ordinary file under /proc opens");
	if (fd >= 0)
		close(fd);
	close(cfd);
	close(host);
	/* a root's own symlink into /proc means the root's /proc */
	fresh();
	int rfd = open_root();
	link_in(root, "exe", "/proc/self/exe");
	is_int(fs_open(rfd, "exe", O_PATH, 0), -ENOENT,
	       "a symlink to /proc/self/exe resolves in the root's own /proc");
	close(rfd);
}

static void test_long_paths(void)
{
	fresh();
	int rfd = open_root();
	struct strbuf sb = STRBUF_INIT;
	while (sb.len <= PATH_MAX)
		strbuf_addstr(&sb, "abcdefghijklmnopqrstuvwxyz/");
	is_int(fs_open(rfd, sb.buf, O_PATH, 0), -ENAMETOOLONG,
	       "a path longer than PATH_MAX: ENAMETOOLONG");
	struct cairn_error err = CAIRN_ERROR_INIT;
	is_int(fs_mkdir_p(rfd, sb.buf, 0755, NULL, NULL, &err), -ENAMETOOLONG,
	       "mkdir -p of a path longer than PATH_MAX fails");
	cleanup_free char *made = names(root);
	is_str(made, "", "and makes nothing on the way");
	cairn_error_clear(&err);
	/* deep, but within PATH_MAX */
	strbuf_reset(&sb);
	while (sb.len < PATH_MAX - 200)
		strbuf_addstr(&sb, "abcdefghijklmnopqrstuvwxyz/");
	int fd = -1;
	ok(fs_mkdir_p(rfd, sb.buf, 0755, NULL, &fd, &err) == 0 && fd >= 0,
	   "mkdir -p of %zu characters", sb.len);
	cleanup_free char *w = fd >= 0 ? where(fd) : NULL;
	cleanup_free char *want = fs_clean_path(sb.buf, FS_CLEAN_IN_ROOT);
	is_str(w, want, "the fd is the directory made, beneath the root");
	if (fd >= 0)
		close(fd);
	cairn_error_clear(&err);
	/* a name longer than NAME_MAX */
	char name[NAME_MAX + 2];
	memset(name, 'n', sizeof name - 1);
	name[sizeof name - 1] = '\0';
	is_int(fs_mkdir_p(rfd, name, 0755, NULL, NULL, NULL), -ENAMETOOLONG,
	       "a component longer than NAME_MAX: ENAMETOOLONG");
	/* readlink of a target longer than any first guess */
	strbuf_reset(&sb);
	while (sb.len < 3000)
		strbuf_addstr(&sb, "target/");
	link_in(root, "longlink", sb.buf);
	cleanup_free char *target = NULL;
	ok(fs_readlink(rfd, "/longlink", &target, &err) == 0 && target && !strcmp(target, sb.buf),
	   "readlink gives a %zu-character target whole", sb.len);
	cleanup_free char *none = NULL;
	ok(fs_readlink(rfd, "nothing", &none, &err) == -ENOENT && err.msg &&
	       strstr(err.msg, "/nothing"),
	   "readlink of what is not there names it");
	cairn_error_clear(&err);
	strbuf_release(&sb);
	close(rfd);
	ok(outside_intact(), "long paths changed nothing outside");
}

static void test_fd_path_below(void)
{
	fresh();
	mkdir_in(root, "a");
	cleanup_free char *real = realpath(root, NULL);
	cleanup_free char *path_a = jail_path(root, "a");
	int a = open(path_a, O_PATH | O_CLOEXEC);
	int r = open(root, O_PATH | O_CLOEXEC);
	int c = open(canary, O_PATH | O_CLOEXEC);
	cleanup_free char *pa = fs_fd_path_below(real, a), *pr = fs_fd_path_below(real, r);
	cleanup_free char *pc = fs_fd_path_below(real, c);
	/* a sibling whose path starts with the root's: root-not is no child of root */
	cleanup_free char *rootish = xasprintf("%s/root-not", J.dir);
	must(mkdir(rootish, 0755) == 0, rootish);
	int n = open(rootish, O_PATH | O_CLOEXEC);
	cleanup_free char *pn = fs_fd_path_below(real, n);
	is_str(pa, "a", "an fd below the root: its relative path");
	is_str(pr, "", "the root itself: \"\"");
	ok(pc == NULL, "an fd outside: NULL");
	ok(pn == NULL, "a sibling whose name starts with the root's: NULL");
	cleanup_free char *ps = fs_fd_path_below("/", a);
	cleanup_free char *want = xasprintf("%s/a", real + 1);
	is_str(ps, want, "below \"/\": the whole path, relative");
	close(a), close(r), close(c), close(n);
	rmdir(rootish);
}

static void test_read_file(void)
{
	fresh();
	int rfd = open_root();
	mkdir_in(root, "etc");
	put(root, "etc/passwd", "root:x:0:0::/root:/bin/sh\n", 0644);
	link_in(root, "etc/group", canary);
	char *text = NULL;
	size_t len = 0;
	struct cairn_error err = CAIRN_ERROR_INIT;
	ok(fs_read_file(rfd, "/etc/passwd", &text, &len, &err) == 0 && len == 26 &&
	       !strcmp(text, "root:x:0:0::/root:/bin/sh\n"),
	   "reads a whole file beneath the root");
	free(text);
	text = NULL;
	ok(fs_read_file(rfd, "etc/group", &text, NULL, &err) == -ENOENT && !text && err.msg &&
	       strstr(err.msg, "opening /etc/group in the root"),
	   "a symlink out of the root is not read; the message names the path");
	cairn_error_clear(&err);
	close(rfd);
}

/* ---- making ---- */

static void test_mkdir_p(void)
{
	fresh();
	int rfd = open_root();
	struct cairn_error err = CAIRN_ERROR_INIT;
	/* the mode does not depend on the umask */
	mode_t old = umask(077);
	struct fs_owner owner = {is_root ? 1234 : getuid(), is_root ? 5678 : getgid()};
	mkdir_in(root, "keep");
	cleanup_free char *pk = jail_path(root, "keep");
	must(chmod(pk, 0711) == 0, "chmod keep");
	int fd = -1;
	ok(fs_mkdir_p(rfd, "/keep/a/../a/b", 0750, &owner, &fd, &err) == 0 && fd >= 0,
	   "mkdir -p beneath the root");
	umask(old);
	cleanup_free char *w = fd >= 0 ? where(fd) : NULL;
	is_str(w, "keep/a/b", "gives an fd of the directory");
	if (fd >= 0)
		close(fd);
	struct stat a, b, k;
	cleanup_free char *pa = jail_path(root, "keep/a"), *pb = jail_path(root, "keep/a/b");
	must(stat(pa, &a) == 0 && stat(pb, &b) == 0 && stat(pk, &k) == 0, "stat");
	ok((a.st_mode & 07777) == 0750 && (b.st_mode & 07777) == 0750,
	   "what it makes gets the mode, whatever the umask (077 here)");
	ok(a.st_uid == owner.uid && a.st_gid == owner.gid && b.st_uid == owner.uid &&
	       b.st_gid == owner.gid,
	   "and the owner (%u:%u)", (unsigned)owner.uid, (unsigned)owner.gid);
	ok((k.st_mode & 07777) == 0711 && k.st_uid == getuid(),
	   "an existing directory on the way keeps its mode and owner");
	ok(fs_mkdir_p(rfd, "keep/a/b", 0700, NULL, NULL, &err) == 0 && stat(pb, &b) == 0 &&
	       (b.st_mode & 07777) == 0750,
	   "mkdir -p of what exists changes nothing");

	/* through symlinks: inside the root, never out of it */
	link_in(root, "up", "../../..");
	ok(fs_mkdir_p(rfd, "up/x/y", 0755, NULL, NULL, &err) == 0 && exists_in(root, "x/y"),
	   "a symlink climbing out leads to the root");
	/* a dangling symlink on the way is followed inside the root and its target
	 * made there, as BuildKit does for COPY's destination; the host is untouched */
	link_in(root, "abs", canary);
	cleanup_free char *inside = xasprintf("%s/sub", canary + 1);
	ok(fs_mkdir_p(rfd, "abs/sub", 0755, NULL, NULL, &err) == 0 && exists_in(root, inside),
	   "a dangling symlink (a host path) on the way leads to that path in the root");
	ok(!exists_in(canary, "sub"), "and nothing is made on the host");
	/* the host file a dangling link names keeps its mode (the bug t0201-copy-add.sh pins) */
	cleanup_free char *cfile = jail_path(canary, "file");
	link_in(root, "tofile", cfile);
	struct stat cf;
	ok(fs_mkdir_p(rfd, "tofile/sub", 0755, NULL, NULL, &err) == 0 && stat(cfile, &cf) == 0 &&
	       S_ISREG(cf.st_mode),
	   "a dangling symlink to a host file is made a directory in the root, not on the host");
	link_in(root, "loop1", "loop2");
	link_in(root, "loop2", "loop1");
	is_int(fs_mkdir_p(rfd, "loop1/sub", 0755, NULL, NULL, &err), -ELOOP,
	       "a loop of symlinks is ELOOP");
	ok(err.msg && strstr(err.msg, "creating directory"), "naming where: %s",
	   err.msg ? err.msg : "");
	put(root, "plain", "x", 0644);
	is_int(fs_mkdir_p(rfd, "plain/sub", 0755, NULL, NULL, &err), -ENOTDIR,
	       "through a file: ENOTDIR");
	is_int(fs_mkdir_p(rfd, "plain", 0755, NULL, NULL, &err), -ENOTDIR, "onto a file: ENOTDIR");
	cairn_error_clear(&err);
	close(rfd);
	ok(outside_intact(), "mkdir -p changed nothing outside");
}

struct made_log {
	struct strbuf sb;
};

static void log_made(void *ctx, int fd, bool dir, const struct stat *parent_before)
{
	struct made_log *l = ctx;
	cleanup_free char *w = where(fd);
	strbuf_addf(&l->sb, "%s%s%s%s", l->sb.len ? " " : "", w, dir ? "/" : "",
		    parent_before ? "(first)" : "");
}

static void test_open_creating(void)
{
	fresh();
	int rfd = open_root();
	mkdir_in(root, "a");
	struct made_log l = {STRBUF_INIT};
	struct fs_create_opts o = {.mode = 0755, .file = true, .made = log_made, .ctx = &l};
	char rel[] = "a/b/c/f";
	size_t end = 0;
	int fd = fs_open_creating(rfd, rel, &o, &end);
	ok(fd >= 0 && !strcmp(rel, "a/b/c/f"), "opens, making what is missing; rel is given back");
	struct stat st;
	ok(fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 0,
	   "the last component made an empty file");
	is_str(l.sb.buf, "a/b/(first) a/b/c/ a/b/c/f", "each entry made is reported, in order");
	if (fd >= 0)
		close(fd);
	strbuf_reset(&l.sb);
	/* a dangling symlink: -EEXIST and where */
	link_in(root, "a/dang", "/nowhere");
	char rel2[] = "a/dang/x";
	is_int(fs_open_creating(rfd, rel2, &o, &end), -EEXIST,
	       "a dangling symlink on the way: EEXIST");
	is_int(end, strlen("a/dang"), "failed_end says which prefix");
	ok(!exists_in(root, "nowhere"), "and its target is not made");
	/* FS_NO_SYMLINKS */
	link_in(root, "toa", "a");
	char rel3[] = "toa/b";
	o.how = FS_NO_SYMLINKS;
	is_int(fs_open_creating(rfd, rel3, &o, NULL), -ELOOP, "FS_NO_SYMLINKS refuses a symlink");
	strbuf_release(&l.sb);
	close(rfd);
	ok(outside_intact(), "open-creating changed nothing outside");
}

/* ---- removing ---- */

static void test_remove(void)
{
	fresh();
	int rfd = open_root();
	struct cairn_error err = CAIRN_ERROR_INIT;
	mkdir_in(root, "d");
	mkdir_in(root, "d/e");
	put(root, "d/e/f", "x", 0644);
	cleanup_free char *de = jail_path(root, "d/e");
	must(chmod(de, 0) == 0, "chmod");
	ok(fs_remove(rfd, "/d", &err) == 0 && !exists_in(root, "d"),
	   "removes a tree, one without permissions in it too");
	link_in(root, "lnk", canary);
	ok(fs_remove(rfd, "lnk", &err) == 0 && !exists_in(root, "lnk"),
	   "a symlink to a host dir: the link goes");
	link_in(root, "sub", canary);
	ok(fs_remove(rfd, "sub/file", &err) == 0, "a path through a link out of the root");
	ok(fs_remove(rfd, "missing/x", &err) == 0, "what is missing is no error");
	is_int(fs_remove(rfd, "/", &err), -EINVAL, "the root itself is refused");
	is_int(fs_remove(rfd, "..", &err), -EINVAL, ".. at the top is the root: refused");
	cairn_error_clear(&err);
	close(rfd);
	ok(outside_intact(), "removing changed nothing outside");
}

static bool write_proc(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	bool done = fd >= 0 && util_write_all(fd, text, strlen(text)) == 0;
	if (fd >= 0)
		close(fd);
	return done;
}

/* In a mount namespace of its own (and a user namespace when not root): a tmpfs at
 * root/m/mnt, and fs_remove of root/m. Exit status: 0 refused with EBUSY and the
 * mount's file kept, 1 otherwise, 2 when no namespace could be made. */
static int remove_across_mount(void)
{
	uid_t uid = geteuid();
	gid_t gid = getegid();
	if (unshare(CLONE_NEWNS | (uid ? CLONE_NEWUSER : 0)) < 0)
		return 2;
	if (uid) {
		cleanup_free char *uid_map = xasprintf("0 %u 1", (unsigned)uid);
		cleanup_free char *gid_map = xasprintf("0 %u 1", (unsigned)gid);
		if (!write_proc("/proc/self/setgroups", "deny") ||
		    !write_proc("/proc/self/uid_map", uid_map) ||
		    !write_proc("/proc/self/gid_map", gid_map))
			return 2;
	}
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return 2;
	cleanup_free char *mnt = jail_path(root, "m/mnt");
	if (mount("tmpfs", mnt, "tmpfs", 0, "size=64k") < 0)
		return 2;
	put(mnt, "kept", "x", 0644);
	int rfd = open_root();
	struct cairn_error err = CAIRN_ERROR_INIT;
	int r = fs_remove(rfd, "m", &err);
	cairn_error_clear(&err);
	return r == -EBUSY && exists_in(mnt, "kept") ? 0 : 1;
}

static void test_remove_mount(void)
{
	fresh();
	mkdir_in(root, "m");
	mkdir_in(root, "m/mnt");
	pid_t pid = fork();
	must(pid >= 0, "fork");
	if (pid == 0)
		_exit(remove_across_mount());
	int status = 0;
	must(waitpid(pid, &status, 0) == pid, "waitpid");
	int code = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
	if (code == 2) {
		ok(1, "# SKIP no mount namespace here");
		return;
	}
	ok(code == 0, "remove stops at a mount point (EBUSY) and leaves what is in the mount");
	ok(outside_intact(), "removing up to a mount changed nothing outside");
}

static void test_make_room(void)
{
	fresh();
	int rfd = open_root();
	int dfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	must(dfd >= 0, root);
	struct cairn_error err = CAIRN_ERROR_INIT;
	mkdir_in(root, "d");
	put(root, "d/x", "x", 0644);
	bool kept = false;
	ok(fs_make_room(dfd, "d", true, &kept, &err) == 0 && kept && exists_in(root, "d/x"),
	   "a directory stays for a directory");
	ok(fs_make_room(dfd, "d", false, &kept, &err) == 0 && !kept && !exists_in(root, "d"),
	   "and goes, with what is in it, for anything else");
	link_in(root, "l", canary);
	ok(fs_make_room(dfd, "l", true, &kept, &err) == 0 && !kept && !exists_in(root, "l"),
	   "a symlink to a directory is no directory: it goes, not what it names");
	ok(fs_make_room(dfd, "none", false, &kept, &err) == 0, "nothing there: nothing to do");
	close(dfd);
	close(rfd);
	ok(outside_intact(), "making room changed nothing outside");
}

/* ---- copying ---- */

/* The filter of test_copy_tree; rel is relative to the source's own rel ("src"). */
static enum fs_take skip_named(void *ctx, const char *rel, bool is_dir)
{
	(void)ctx, (void)is_dir;
	if (strncmp(rel, "src/", 4))
		return FS_SKIP; /* a wrong rel: nothing would be copied */
	const char *base = strrchr(rel, '/') + 1;
	if (!strcmp(base, "skipped") || !strcmp(base, "hidden"))
		return FS_SKIP;
	if (!strcmp(base, "descend") || !strcmp(base, "empty"))
		return FS_DESCEND;
	return FS_TAKE;
}

static void test_copy_tree(void)
{
	fresh();
	cleanup_free char *src = jail_path(tmp, "src");
	rm_tree(src);
	must(mkdir(src, 0750) == 0, src);
	put(src, "a", "hello", 0640);
	cleanup_free char *pa = jail_path(src, "a"), *pb = jail_path(src, "b");
	must(link(pa, pb) == 0, "link");
	link_in(src, "abs", "/etc/passwd");
	link_in(src, "rel", "../../x");
	mkdir_in(src, "skipped");
	put(src, "skipped/f", "x", 0644);
	mkdir_in(src, "descend");
	put(src, "descend/hidden", "x", 0644);
	put(src, "descend/kept", "x", 0644);
	mkdir_in(src, "empty");
	put(src, "empty/hidden", "x", 0644);
	cleanup_free char *fifo = jail_path(src, "fifo");
	must(mkfifo(fifo, 0644) == 0, fifo);
	cleanup_free char *sock = jail_path(src, "sock");
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(sock) < sizeof sa.sun_path) {
		strcpy(sa.sun_path, sock);
		must(bind(s, (struct sockaddr *)&sa, sizeof sa) == 0, "bind");
	}
	close(s);
	if (is_root) {
		cleanup_free char *dev = jail_path(src, "null");
		must(mknod(dev, S_IFCHR | 0666, makedev(1, 3)) == 0, "mknod");
	}
	bool xattr = setxattr(pa, "user.cairn", "v", 1, 0) == 0;
	struct timespec ts[2] = {{1000000000, 0}, {1000000000, 0}};
	must(utimensat(AT_FDCWD, pa, ts, 0) == 0, "utimensat");

	int rfd = open_root();
	int sfd = -1;
	struct stat st;
	int tfd = open(tmp, O_PATH | O_DIRECTORY | O_CLOEXEC);
	must(tfd >= 0, tmp);
	ok(fs_open_source(tfd, "src", &sfd, &st) == 0 && sfd >= 0 && S_ISDIR(st.st_mode),
	   "a directory opens as a source");
	struct fs_copy_opts o = {.owner = {getuid(), getgid()}, .chmod = -1, .filter = skip_named};
	struct cairn_error err = CAIRN_ERROR_INIT;
	ok(fs_copy_tree(sfd, "src", rfd, "/new/dir", &o, &err) == 0, "copies a tree");
	if (err.msg)
		diag("%s", err.msg);
	cleanup_free char *got = jail_path(root, "new/dir");
	cleanup_free char *list = names(got);
	is_str(list, "a\nabs\nb\ndescend\nrel\n",
	       "the filter's choices; fifos, sockets and devices left out");
	cleanup_free char *sub = jail_path(got, "descend");
	cleanup_free char *sublist = names(sub);
	is_str(sublist, "kept\n", "a DESCEND directory holds what was taken below it");
	struct stat sa_, sb_;
	cleanup_free char *ga = jail_path(got, "a"), *gb = jail_path(got, "b");
	must(lstat(ga, &sa_) == 0 && lstat(gb, &sb_) == 0, "lstat");
	ok(sa_.st_ino != sb_.st_ino && sa_.st_nlink == 1 && sb_.st_nlink == 1,
	   "hard links are copied as separate files");
	ok((sa_.st_mode & 07777) == 0640 && sa_.st_mtim.tv_sec == 1000000000,
	   "a file keeps its mode and mtime");
	cleanup_free char *abs = NULL, *rel = NULL;
	ok(fs_readlink(rfd, "new/dir/abs", &abs, &err) == 0 && !strcmp(abs, "/etc/passwd") &&
	       fs_readlink(rfd, "new/dir/rel", &rel, &err) == 0 && !strcmp(rel, "../../x"),
	   "symlinks are copied as links, not followed");
	if (xattr) {
		char v[8];
		ok(getxattr(ga, "user.cairn", v, sizeof v) < 0 && errno == ENODATA,
		   "extended attributes are not copied");
	} else {
		ok(1, "# SKIP no user xattrs on this filesystem");
	}
	struct stat gd;
	must(stat(got, &gd) == 0, got);
	ok((gd.st_mode & 07777) == 0750, "the destination it made takes the source's mode");
	cleanup_free char *pnew = jail_path(root, "new");
	must(stat(pnew, &gd) == 0, pnew);
	ok((gd.st_mode & 07777) == 0755, "directories made on the way are 0755");

	/* into an existing directory: it keeps its own mode */
	must(chmod(got, 0700) == 0, "chmod");
	ok(fs_copy_tree(sfd, "src", rfd, "new/dir", &o, &err) == 0 && stat(got, &gd) == 0 &&
	       (gd.st_mode & 07777) == 0700,
	   "an existing destination keeps its mode");
	close(sfd);
	close(tfd);

	/* chmod options */
	int in_fd = open(pa, O_RDONLY | O_CLOEXEC);
	must(in_fd >= 0, pa);
	must(fstat(in_fd, &st) == 0, pa);
	struct fs_copy_opts co = {.owner = {getuid(), getgid()}, .chmod = 0604};
	cleanup_free char *c1 = jail_path(root, "c1"), *c2 = jail_path(root, "c2"),
			  *pv = jail_path(root, "victim");
	ok(fs_copy_file(in_fd, &st, rfd, "/c1", false, "ignored", &co, &err) == 0 &&
	       lstat(c1, &sa_) == 0 && (sa_.st_mode & 07777) == 0604,
	   "chmod sets the mode of what is written");
	co.chmod = -1;
	co.chmod_symbolic = "u+x,g=u,o-r";
	lseek(in_fd, 0, SEEK_SET);
	ok(fs_copy_file(in_fd, &st, rfd, "/", true, "c2", &co, &err) == 0 && lstat(c2, &sa_) == 0 &&
	       (sa_.st_mode & 07777) == 0770,
	   "a symbolic chmod applies to the source's mode (0640 + u+x,g=u,o-r = 0770)");
	co.chmod_symbolic = "u+q";
	lseek(in_fd, 0, SEEK_SET);
	ok(fs_copy_file(in_fd, &st, rfd, "/c3", false, NULL, &co, &err) == -EINVAL && err.msg &&
	       strstr(err.msg, "--chmod=u+q: invalid mode"),
	   "a bad symbolic chmod is an error naming it");
	co.chmod_symbolic = NULL;

	/* a symlink at the destination is replaced, never written through */
	cleanup_free char *cfile = jail_path(canary, "file");
	link_in(root, "victim", cfile);
	lseek(in_fd, 0, SEEK_SET);
	ok(fs_copy_file(in_fd, &st, rfd, "/victim", false, NULL, &co, &err) == 0 &&
	       lstat(pv, &sa_) == 0 && S_ISREG(sa_.st_mode),
	   "a symlink at the destination is replaced by the file");
	/* a destination directory through a symlink out of the root stays inside */
	link_in(root, "out", "../../..");
	lseek(in_fd, 0, SEEK_SET);
	ok(fs_copy_file(in_fd, &st, rfd, "/out/in-root", false, NULL, &co, &err) == 0 &&
	       exists_in(root, "in-root"),
	   "a destination through a symlink climbing out lands in the root");
	close(in_fd);
	cairn_error_clear(&err);
	close(rfd);
	rm_tree(src);
	ok(outside_intact(), "copying changed nothing outside");
}

static void test_open_source(void)
{
	fresh();
	int rfd = open_root();
	cleanup_free char *fifo = jail_path(root, "fifo");
	must(mkfifo(fifo, 0644) == 0, fifo);
	link_in(root, "tofifo", "fifo");
	int fd = 7;
	struct stat st;
	/* a fifo opened for reading would block: it is never opened */
	ok(fs_open_source(rfd, "tofifo", &fd, &st) == 0 && fd == -1 && S_ISFIFO(st.st_mode),
	   "a fifo (through a link) is not opened; its type is given");
	put(root, "f", "x", 0644);
	ok(fs_open_source(rfd, "/f", &fd, &st) == 0 && fd >= 0 && S_ISREG(st.st_mode) &&
	       !(fcntl(fd, F_GETFL) & O_NONBLOCK),
	   "a file opens, blocking");
	if (fd >= 0)
		close(fd);
	is_int(fs_open_source(rfd, "none", &fd, &st), -ENOENT, "a missing source: ENOENT");
	close(rfd);
}

static void test_write_file(void)
{
	fresh();
	int rfd = open_root();
	struct cairn_error err = CAIRN_ERROR_INIT;
	struct fs_copy_opts o = {.owner = {getuid(), getgid()}, .chmod = -1};
	ok(fs_write_file(rfd, "/etc/app/", true, "conf", "hi\n", 3, 1234, &o, &err) == 0,
	   "writes a file into a directory it makes");
	cleanup_free char *text = read_in(root, "etc/app/conf");
	struct stat st;
	cleanup_free char *p = jail_path(root, "etc/app/conf");
	ok(text && !strcmp(text, "hi\n") && stat(p, &st) == 0 && (st.st_mode & 07777) == 0644 &&
	       st.st_mtim.tv_sec == 1234,
	   "with its data, mode 0644 and mtime");
	ok(fs_write_file(rfd, "/etc/app", false, "other", "x", 1, 0, &o, &err) == 0 &&
	       exists_in(root, "etc/app/other"),
	   "an existing directory is a directory destination");
	static const char *const bad[] = {"..", ".", "", "a/b"};
	for (size_t i = 0; i < 4; i++)
		is_int(fs_write_file(rfd, "/d", true, bad[i], "x", 1, 0, &o, &err), -EINVAL,
		       "\"%s\" is no file name", bad[i]);
	ok(fs_write_file(rfd, "/", false, NULL, "x", 1, 0, &o, &err) < 0,
	   "nothing is written to / itself");
	cairn_error_clear(&err);
	close(rfd);
	ok(outside_intact(), "writing changed nothing outside");
}

static void test_chmod_symbolic(void)
{
	static const struct {
		const char *spec;
		mode_t from, want;
	} cases[] = {
	    {"u+x", S_IFREG | 0644, 0744}, {"go-w", S_IFREG | 0666, 0644},
	    {"a=r", S_IFREG | 0777, 0444}, {"+X", S_IFREG | 0644, 0644},
	    {"+X", S_IFDIR | 0644, 0755},  {"+X", S_IFREG | 0744, 0755},
	    {"g=u", S_IFREG | 0640, 0660}, {"u+s,g+s", S_IFREG | 0755, 06755},
	    {"+t", S_IFDIR | 0777, 01777}, {"u=rwx,go=", S_IFREG | 0644, 0700},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		mode_t m = 0;
		ok(fs_chmod_symbolic(cases[i].spec, cases[i].from, &m) == 0 && m == cases[i].want,
		   "%s on %o gives %o", cases[i].spec, (unsigned)(cases[i].from & 07777),
		   (unsigned)cases[i].want);
	}
	mode_t m;
	ok(fs_chmod_symbolic("u", 0644, &m) == -EINVAL && fs_chmod_symbolic("u+x,", 0644, &m) < 0 &&
	       fs_chmod_symbolic("z+x", 0644, &m) < 0,
	   "malformed clauses are refused");
}

int main(void)
{
	is_root = geteuid() == 0;
	umask(022);
	must(jail_make(&J, "cairn-test-fs"), "making the jail");
	tmp = J.top;
	root = J.root;
	canary = J.canary;

	test_clean();
	test_open_symlinks();
	test_open_magic_links();
	test_long_paths();
	test_fd_path_below();
	test_read_file();
	test_mkdir_p();
	test_open_creating();
	test_remove();
	test_remove_mount();
	test_make_room();
	test_open_source();
	test_copy_tree();
	test_write_file();
	test_chmod_symbolic();

	jail_remove(&J);
	return done_testing();
}
