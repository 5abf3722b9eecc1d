/* Layer extraction against hostile archives, libarchive's way: each fixture of
 * tests/fixtures/archives/ (written by its generate.py) is one hostile shape and one
 * test here. Each is extracted with layer_extract into jail/root, beside jail/canary;
 * every test checks that nothing outside the root changed (the jail, the canary, the
 * host paths the fixtures aim at) and that the result, or the error, is what it must
 * be. Owners are the caller's (the extract option), so only device nodes and
 * whiteouts need root. */
#include "layer/layer.h"
#include "tap.h"

#include "../fuzz/jail.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

static char *fixtures; /* tests/fixtures/archives */
static struct jail J;
static char *root; /* J.root */
static bool is_root;
static struct stat passwd_before;

/* host paths that fixtures name and that must never appear */
static const char *const host_paths[] = {"/cairn-fixture-abs", "/cairn-fixture-gone",
					 "/tmp/cairn-fixture-escape", "/etc/cairn-fixture"};

static void must(int cond, const char *what)
{
	if (!cond) {
		printf("Bail out! %s: %s\n", what, strerror(errno));
		exit(1);
	}
}

static bool outside_intact(void)
{
	cleanup_free char *why = NULL;
	bool ok = jail_intact(&J, &why);
	if (!ok)
		diag("outside the root: %s", why);
	struct stat passwd;
	if (stat("/etc/passwd", &passwd) < 0 || passwd.st_nlink != passwd_before.st_nlink ||
	    passwd.st_size != passwd_before.st_size) {
		diag("/etc/passwd changed");
		ok = false;
	}
	for (size_t i = 0; i < sizeof host_paths / sizeof *host_paths; i++) {
		struct stat hp;
		if (lstat(host_paths[i], &hp) == 0) {
			diag("%s appeared on the host", host_paths[i]);
			ok = false;
		}
	}
	return ok;
}

/* ---- what the root must hold ---- */

static bool file_is(const char *rel, const char *text)
{
	cleanup_free char *p = jail_path(root, rel);
	char *got = NULL;
	struct stat st;
	bool ok = lstat(p, &st) == 0 && S_ISREG(st.st_mode) &&
		  util_read_file(AT_FDCWD, p, &got, NULL, NULL) == 0 && !strcmp(got, text);
	free(got);
	return ok;
}

static bool type_is(const char *rel, mode_t type)
{
	cleanup_free char *p = jail_path(root, rel);
	struct stat st;
	return lstat(p, &st) == 0 && (st.st_mode & S_IFMT) == type;
}

static bool link_is(const char *rel, const char *target)
{
	cleanup_free char *p = jail_path(root, rel);
	char buf[256];
	ssize_t n = readlink(p, buf, sizeof buf - 1);
	if (n < 0)
		return false;
	buf[n] = '\0';
	return !strcmp(buf, target);
}

/* want: the root's names, one a line */
static bool root_holds(const char *want)
{
	cleanup_free char *got = jail_listing(root, false);
	if (strcmp(got, want))
		diag("the root holds '%s', not '%s'", got, want);
	return !strcmp(got, want);
}

static bool is_whiteout(const char *rel)
{
	cleanup_free char *p = jail_path(root, rel);
	struct stat st;
	return lstat(p, &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0);
}

static bool opaque(const char *rel)
{
	cleanup_free char *p = jail_path(root, rel);
	char v[2];
	return getxattr(p, "trusted.overlay.opaque", v, sizeof v) == 1 ||
	       getxattr(p, "user.overlay.opaque", v, sizeof v) == 1;
}

static bool check_absolute(void)
{
	return file_is("cairn-fixture-abs/file", "abs");
}

static bool check_empty_root(void)
{
	return root_holds("");
}

static bool check_symlink_then_file(void)
{
	return file_is("victim", "replaced");
}

static bool check_symlink_dotdot_dir(void)
{
	return file_is("canary/pwned", "inside") && link_is("esc", "../canary");
}

static bool check_symlink_abs_dir(void)
{
	return file_is("tmp/cairn-fixture-escape", "inside");
}

static bool check_symlink_root_dir(void)
{
	return file_is("etc/cairn-fixture", "inside") && link_is("r", "/");
}

static bool check_symlink_dangling_dir(void)
{
	/* followed inside the target and made there, as containerd's RootPath */
	return link_is("gone", "/cairn-fixture-gone") && file_is("cairn-fixture-gone/file", "x");
}

static bool check_hardlink_to_symlink(void)
{
	cleanup_free char *s = jail_path(root, "s"), *hl = jail_path(root, "hl");
	struct stat a, b;
	return link_is("hl", "/etc/passwd") && lstat(s, &a) == 0 && lstat(hl, &b) == 0 &&
	       a.st_ino == b.st_ino;
}

static bool check_hardlink_then_file(void)
{
	return file_is("t", "orig") && file_is("hl", "new");
}

static bool check_replace(void)
{
	return file_is("x", "two");
}

static bool check_duplicate(void)
{
	return file_is("f", "two") && root_holds("f\n");
}

static bool check_whiteout_dotdot_plain(void)
{
	return file_is("a/.wh..", "x");
}

static bool check_whiteout_absolute(void)
{
	return is_whiteout("etc") && root_holds("etc\n");
}

static bool check_whiteout_parent(void)
{
	return is_whiteout("a") && root_holds("a\n");
}

static bool check_whiteout_opaque_odd(void)
{
	return opaque(".") && opaque("b") && file_is("a/.wh..wh..opq/f", "x") &&
	       root_holds("a\nb\n");
}

static bool check_device(void)
{
	cleanup_free char *p = jail_path(root, "null");
	struct stat st;
	return lstat(p, &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3);
}

static bool check_setuid(void)
{
	cleanup_free char *p = jail_path(root, "su");
	struct stat st;
	return lstat(p, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 07777) == 04755;
}

static bool check_fifo(void)
{
	return type_is("pipe", S_IFIFO);
}

static bool anything(void)
{
	return true;
}

enum need { ANYONE, ROOT };

static const struct fixture {
	const char *file;
	bool overlay;	   /* extracted as an overlay lower dir (whiteouts made) */
	enum need need;	   /* whiteouts and device nodes need root */
	int error;	   /* the errno it fails with; 0: it succeeds; -1: it fails */
	const char *entry; /* the entry the error names, if any */
	bool (*check)(void);
	const char *what;
} cases[] = {
    {"absolute.tar", false, ANYONE, 0, NULL, check_absolute,
     "an absolute name is extracted beneath the target"},
    {"dotdot.tar", false, ANYONE, EXDEV, "../canary/pwned", check_empty_root,
     "a name climbing out with .. is refused"},
    {"dotdot-inner.tar", false, ANYONE, EXDEV, "a/../../canary/pwned", anything,
     "a name climbing out after a directory is refused"},
    {"long-name.tar", false, ANYONE, ENAMETOOLONG, "d/d/d", check_empty_root,
     "a pax name longer than PATH_MAX fails, making nothing"},
    {"long-component.tar", false, ANYONE, ENAMETOOLONG, "nnn", check_empty_root,
     "a component longer than NAME_MAX fails"},
    {"symlink-then-file.tar", false, ANYONE, 0, NULL, check_symlink_then_file,
     "a file over a symlink replaces the link, not what it names"},
    {"symlink-dotdot-dir.tar", false, ANYONE, 0, NULL, check_symlink_dotdot_dir,
     "a file under a symlink climbing out lands inside the target"},
    {"symlink-abs-dir.tar", false, ANYONE, 0, NULL, check_symlink_abs_dir,
     "a file under an absolute symlink lands inside the target"},
    {"symlink-root-dir.tar", false, ANYONE, 0, NULL, check_symlink_root_dir,
     "a directory under a symlink to / is made inside the target"},
    {"symlink-dangling-dir.tar", false, ANYONE, 0, NULL, check_symlink_dangling_dir,
     "a file under a symlink to nowhere makes its target inside the target"},
    {"symlink-loop.tar", false, ANYONE, ELOOP, "l1/x", anything,
     "a file under a symlink loop fails"},
    {"hardlink-outside.tar", false, ANYONE, EXDEV, "hl", check_empty_root,
     "a hard link to a path outside is refused"},
    {"hardlink-absolute.tar", false, ANYONE, ENOENT, "hl", check_empty_root,
     "a hard link to /etc/passwd means the target's own, absent here"},
    {"hardlink-to-symlink.tar", false, ANYONE, 0, NULL, check_hardlink_to_symlink,
     "a hard link to a symlink links the symlink, not what it names"},
    {"hardlink-then-file.tar", false, ANYONE, 0, NULL, check_hardlink_then_file,
     "a file over a hard link replaces the link, not the file it shares"},
    {"hardlink-to-dir.tar", false, ANYONE, EPERM, "hl", anything,
     "a hard link to a directory fails"},
    {"replace.tar", false, ANYONE, 0, NULL, check_replace,
     "a file replaced by a directory and back is the last file"},
    {"duplicate.tar", false, ANYONE, 0, NULL, check_duplicate, "the last duplicate entry wins"},
    {"whiteout-dotdot.tar", true, ANYONE, EINVAL, "a/.wh..", anything,
     "a whiteout of .. is refused"},
    {"whiteout-dotdot.tar", false, ANYONE, 0, NULL, check_whiteout_dotdot_plain,
     "not in overlay form, a .wh.. name is an ordinary file"},
    {"whiteout-dot.tar", true, ANYONE, EINVAL, ".wh..", check_empty_root,
     "a whiteout of . is refused"},
    {"whiteout-absolute.tar", true, ROOT, 0, NULL, check_whiteout_absolute,
     "an absolute whiteout whites out inside the target"},
    {"whiteout-parent.tar", true, ROOT, 0, NULL, check_whiteout_parent,
     "a whiteout reached through .. whites out its directory inside the target"},
    {"whiteout-opaque-odd.tar", true, ROOT, 0, NULL, check_whiteout_opaque_odd,
     "opaque markers at the top, as a directory and after .. stay inside the target"},
    {"device.tar", false, ROOT, 0, NULL, check_device, "a device node is made as it says"},
    {"setuid.tar", false, ANYONE, 0, NULL, check_setuid, "a setuid file keeps its bit"},
    {"fifo.tar", false, ANYONE, 0, NULL, check_fifo, "a fifo is made, not opened"},
    {"truncated.tar", false, ANYONE, -1, NULL, anything, "a truncated archive fails"},
    {"not-a-tar.bin", false, ANYONE, -1, NULL, check_empty_root, "what is no tar fails"},
};

static void run_case(const struct fixture *f)
{
	if (f->need == ROOT && !is_root) {
		ok(1, "# SKIP %s: %s (needs root)", f->file, f->what);
		ok(1, "# SKIP %s: nothing outside changed (needs root)", f->file);
		return;
	}
	must(jail_fresh_root(&J), root);
	cleanup_free char *path = jail_path(fixtures, f->file);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	must(fd >= 0, path);
	int dfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	must(dfd >= 0, root);
	struct cairn_error err = CAIRN_ERROR_INIT;
	struct layer_extract_opts o = {
	    .overlay_whiteouts = f->overlay, .uid = (int64_t)getuid(), .gid = (int64_t)getgid()};
	int r = layer_extract(fd, dfd, &o, f->file, &err);
	close(fd);
	close(dfd);
	bool result;
	if (f->error == 0)
		result = r == 0;
	else if (f->error > 0)
		result = r == -f->error;
	else
		result = r < 0;
	/* an error names the archive, and the entry when there is one */
	if (r < 0)
		result = result && err.msg && strstr(err.msg, f->file) &&
			 (!f->entry || strstr(err.msg, f->entry));
	if (err.msg)
		diag("%s: %.200s", f->file, err.msg);
	ok(result && f->check(), "%s%s: %s", f->file, f->overlay ? " (overlay form)" : "", f->what);
	ok(outside_intact(), "%s%s: nothing outside the target changed", f->file,
	   f->overlay ? " (overlay form)" : "");
	cairn_error_clear(&err);
}

/* Every fixture generate.py writes has a case here, and every case a fixture. */
static void test_all_fixtures_used(void)
{
	DIR *d = opendir(fixtures);
	must(d != NULL, fixtures);
	struct dirent *de;
	int unused = 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || !strcmp(de->d_name, "generate.py"))
			continue;
		bool used = false;
		for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
			used = used || !strcmp(cases[i].file, de->d_name);
		if (!used) {
			diag("%s has no test", de->d_name);
			unused++;
		}
	}
	closedir(d);
	is_int(unused, 0, "every hostile archive has its test");
}

int main(void)
{
	const char *src = getenv("CAIRN_SOURCE_ROOT");
	if (!src) {
		printf("Bail out! CAIRN_SOURCE_ROOT is not set (run through meson test)\n");
		return 1;
	}
	fixtures = xasprintf("%s/tests/fixtures/archives", src);
	is_root = geteuid() == 0;
	umask(022);
	must(jail_make(&J, "cairn-test-extract"), "making the jail");
	root = J.root;
	must(stat("/etc/passwd", &passwd_before) == 0, "/etc/passwd");

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
		run_case(&cases[i]);
	test_all_fixtures_used();

	jail_remove(&J);
	free(fixtures);
	return done_testing();
}
