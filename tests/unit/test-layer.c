/* The layer module: normalized, deterministic tar layers from a tree, and safe extraction. */
#include "layer/layer.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "tap.h"

static char *tmp_root;
static struct store *store;
static bool is_root;

/* ---- helpers ---- */

static char *tpath(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *tpath(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *rel = NULL;
	if (vasprintf(&rel, fmt, ap) < 0)
		abort();
	va_end(ap);
	char *p = xasprintf("%s/%s", tmp_root, rel);
	free(rel);
	return p;
}

static void must(int cond, const char *what)
{
	if (!cond) {
		printf("Bail out! %s: %s\n", what, strerror(errno));
		exit(1);
	}
}

static void write_file(const char *path, const char *data, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	must(fd >= 0, path);
	must(util_write_all(fd, data, strlen(data)) == 0, path);
	close(fd);
	must(chmod(path, mode) == 0, path);
}

static void set_mtime(const char *path, int64_t t)
{
	struct timespec ts[2] = {{t, 0}, {t, 0}};
	must(utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW) == 0, path);
}

static int open_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	must(fd >= 0, path);
	return fd;
}

static int write_layer_opts(const char *dir, const struct layer_write_opts *o,
			    struct layer_info *info)
{
	struct cairn_error err = CAIRN_ERROR_INIT;
	int fd = open_dir(dir);
	int r = layer_write_dir(store, fd, o, info, &err);
	close(fd);
	if (r < 0)
		diag("layer_write_dir %s: %s", dir, err.msg);
	cairn_error_clear(&err);
	return r;
}

static int write_layer(const char *dir, enum layer_compression c, int64_t sde, bool upper,
		       struct layer_info *info)
{
	struct layer_write_opts o = {
	    .compression = c, .source_date_epoch = sde, .overlay_upper = upper};
	return write_layer_opts(dir, &o, info);
}

struct ent {
	char *path;
	mode_t type;
	mode_t perm;
	int64_t uid, gid, mtime;
	int64_t size;
	char *symlink;
	char *hardlink;
	bool uname, gname, atime, ctime;
	dev_t rdev;
	bool caps, overlay_xattr;
};

struct ents {
	struct ent *v;
	size_t n;
};

static void ents_free(struct ents *e)
{
	for (size_t i = 0; i < e->n; i++) {
		free(e->v[i].path);
		free(e->v[i].symlink);
		free(e->v[i].hardlink);
	}
	free(e->v);
	e->v = NULL;
	e->n = 0;
}

static struct archive *open_blob_reader(const char *digest, bool raw, int *fdp)
{
	struct cairn_error err = CAIRN_ERROR_INIT;
	int fd;
	must(store_open_blob(store, digest, &fd, &err) == 0, "opening blob");
	struct archive *a = archive_read_new();
	archive_read_support_filter_all(a);
	if (raw)
		archive_read_support_format_raw(a);
	else
		archive_read_support_format_tar(a);
	must(archive_read_open_fd(a, fd, 65536) == ARCHIVE_OK, "reading blob");
	*fdp = fd;
	return a;
}

static struct ents read_entries(const char *digest)
{
	struct ents out = {0};
	int fd;
	struct archive *a = open_blob_reader(digest, false, &fd);
	struct archive_entry *e;
	int r;
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		out.v = xrealloc(out.v, (out.n + 1) * sizeof(*out.v));
		struct ent *x = &out.v[out.n++];
		*x = (struct ent){0};
		x->path = xstrdup(archive_entry_pathname(e));
		x->type = archive_entry_filetype(e);
		x->perm = archive_entry_perm(e);
		x->uid = archive_entry_uid(e);
		x->gid = archive_entry_gid(e);
		x->mtime = archive_entry_mtime(e);
		x->size = archive_entry_size(e);
		x->symlink = archive_entry_symlink(e) ? xstrdup(archive_entry_symlink(e)) : NULL;
		x->hardlink = archive_entry_hardlink(e) ? xstrdup(archive_entry_hardlink(e)) : NULL;
		x->uname = archive_entry_uname(e) && *archive_entry_uname(e);
		x->gname = archive_entry_gname(e) && *archive_entry_gname(e);
		x->atime = archive_entry_atime_is_set(e);
		x->ctime = archive_entry_ctime_is_set(e);
		x->rdev = archive_entry_rdev(e);
		const char *name;
		const void *val;
		size_t size;
		archive_entry_xattr_reset(e);
		while (archive_entry_xattr_next(e, &name, &val, &size) == ARCHIVE_OK) {
			if (!strcmp(name, "security.capability"))
				x->caps = true;
			if (strstr(name, "overlay."))
				x->overlay_xattr = true;
		}
	}
	must(r == ARCHIVE_EOF, "reading tar entries");
	archive_read_free(a);
	close(fd);
	return out;
}

static const struct ent *find(const struct ents *e, const char *path)
{
	for (size_t i = 0; i < e->n; i++)
		if (!strcmp(e->v[i].path, path))
			return &e->v[i];
	return NULL;
}

/* sha256 and bytes of the decompressed blob; *data gets the bytes when non-NULL */
static void blob_plain(const char *digest, char out[DIGEST_LEN], struct strbuf *data)
{
	int fd;
	struct archive *a = open_blob_reader(digest, true, &fd);
	struct archive_entry *e;
	must(archive_read_next_header(a, &e) == ARCHIVE_OK, "reading raw blob");
	struct sha256 h;
	sha256_init(&h);
	char buf[65536];
	la_ssize_t n;
	while ((n = archive_read_data(a, buf, sizeof(buf))) > 0) {
		sha256_update(&h, buf, (size_t)n);
		if (data)
			strbuf_add(data, buf, (size_t)n);
	}
	sha256_final(&h, out);
	archive_read_free(a);
	close(fd);
}

static void rm_tree(const char *path)
{
	struct cairn_error err = CAIRN_ERROR_INIT;
	util_rm_rf(AT_FDCWD, path, &err);
	cairn_error_clear(&err);
}

static void mkdirs(const char *path, mode_t mode)
{
	struct cairn_error err = CAIRN_ERROR_INIT;
	must(util_mkdir_p(AT_FDCWD, path, 0755, &err) == 0, path);
	must(chmod(path, mode) == 0, path);
}

/* A tree with a bit of everything; mtimes fixed so that two builds are identical. */
static void make_rich_tree(const char *root, bool reverse)
{
	mkdirs(root, 0755);
	char *p;
	const char *files[] = {"zeta", "alpha", "etc/passwd", "etc/shadow", "bin/tool", "tmp/x"};
	mkdirs((p = xasprintf("%s/etc", root)), 0755), free(p);
	mkdirs((p = xasprintf("%s/bin", root)), 0755), free(p);
	mkdirs((p = xasprintf("%s/tmp", root)), 01777), free(p);
	mkdirs((p = xasprintf("%s/empty", root)), 0700), free(p);
	for (size_t k = 0; k < 6; k++) {
		size_t i = reverse ? 5 - k : k;
		p = xasprintf("%s/%s", root, files[i]);
		write_file(p, files[i], 0644);
		free(p);
	}
	p = xasprintf("%s/etc/shadow", root), must(chmod(p, 0640) == 0, p), free(p);
	p = xasprintf("%s/bin/tool", root), must(chmod(p, 04755) == 0, p), free(p);
	char *a = xasprintf("%s/bin/tool", root), *b = xasprintf("%s/bin/tool-link", root);
	must(link(a, b) == 0, b);
	free(a), free(b);
	p = xasprintf("%s/bin/sh", root), must(symlink("tool", p) == 0, p), free(p);
	p = xasprintf("%s/abs-link", root), must(symlink("/etc/passwd", p) == 0, p), free(p);
	p = xasprintf("%s/fifo", root), must(mkfifo(p, 0600) == 0, p), free(p);
	/* names are bytes: UTF-8 or not, whatever the locale */
	p = xasprintf("%s/caf\xc3\xa9", root), write_file(p, "utf-8", 0644), free(p);
	p = xasprintf("%s/bad\xff", root), write_file(p, "latin-1", 0644), free(p);
	if (is_root) {
		p = xasprintf("%s/etc/shadow", root), must(chown(p, 0, 42) == 0, p), free(p);
		p = xasprintf("%s/tmp/x", root), must(chown(p, 1234, 5678) == 0, p), free(p);
		p = xasprintf("%s/null", root);
		must(mknod(p, S_IFCHR | 0666, makedev(1, 3)) == 0, p);
		free(p);
		/* cap_net_bind_service=ep, VFS_CAP_REVISION_2 */
		unsigned char caps[20] = {0x01, 0, 0, 0x02, 0x00, 0x04, 0, 0, 0, 0,
					  0,	0, 0, 0,    0,	  0,	0, 0, 0, 0};
		p = xasprintf("%s/bin/tool", root);
		must(setxattr(p, "security.capability", caps, sizeof(caps), 0) == 0, p);
		must(setxattr(p, "user.other", "v", 1, 0) == 0, p);
		free(p);
	}
	/* mtimes last, deepest first */
	const char *all[] = {"zeta",  "alpha",	"etc/passwd", "etc/shadow",  "bin/tool",
			     "tmp/x", "bin/sh", "abs-link",   "fifo",	     "etc",
			     "bin",   "tmp",	"empty",      "caf\xc3\xa9", "bad\xff"};
	for (size_t i = 0; i < sizeof(all) / sizeof(*all); i++) {
		p = xasprintf("%s/%s", root, all[i]);
		set_mtime(p, 1600000000 + (int64_t)i);
		free(p);
	}
	if (is_root) {
		p = xasprintf("%s/null", root), set_mtime(p, 1500000000), free(p);
	}
}

/* ---- tests ---- */

static void test_sorted_parents_first(void)
{
	char *root = tpath("sorted");
	mkdirs(root, 0755);
	const char *dirs[] = {"b", "a", "a/b"};
	const char *files[] = {"a/z", "a/b/c", "A", "a-"};
	char *p;
	for (size_t i = 0; i < 3; i++)
		mkdirs((p = xasprintf("%s/%s", root, dirs[i])), 0755), free(p);
	for (size_t i = 0; i < 4; i++)
		write_file((p = xasprintf("%s/%s", root, files[i])), "x", 0644), free(p);
	struct layer_info info;
	ok(write_layer(root, LAYER_NONE, -1, false, &info) == 0, "a tree is written as a layer");
	struct ents e = read_entries(info.digest);
	const char *want[] = {"A", "a/", "a/b/", "a/b/c", "a/z", "a-", "b/"};
	bool same = e.n == 7;
	for (size_t i = 0; same && i < 7; i++)
		same = !strcmp(e.v[i].path, want[i]);
	ok(same, "entries are depth first, names in byte order, parents before children");
	if (!same)
		for (size_t i = 0; i < e.n; i++)
			diag("  %s", e.v[i].path);
	is_int(info.entries, 7, "layer_info counts the entries");
	is_str(info.media_type, MEDIA_TYPE_OCI_LAYER,
	       "an uncompressed layer has the tar media type");
	bool no_dot = true;
	for (size_t i = 0; i < e.n; i++)
		no_dot = no_dot && strncmp(e.v[i].path, "./", 2) && e.v[i].path[0] != '/';
	ok(no_dot, "names have no ./ or / prefix");
	char plain[DIGEST_LEN];
	struct strbuf sb = STRBUF_INIT;
	blob_plain(info.digest, plain, &sb);
	ok(!memmem(sb.buf, sb.len, "PaxHeader", 9), "short ASCII names need no pax headers");
	strbuf_release(&sb);
	ents_free(&e);
	rm_tree(root);
	free(root);
}

static void test_empty_tree(void)
{
	char *root = tpath("empty-tree");
	mkdirs(root, 0755);
	struct layer_info info;
	ok(write_layer(root, LAYER_ZSTD, -1, false, &info) == 0 && info.entries == 0,
	   "an empty tree gives a layer with no entries");
	char plain[DIGEST_LEN];
	struct strbuf sb = STRBUF_INIT;
	blob_plain(info.digest, plain, &sb);
	is_int(sb.len, 1024, "an empty layer is just the end-of-archive blocks");
	strbuf_release(&sb);
	rm_tree(root);
	free(root);
}

static void test_ignore(void)
{
	char *root = tpath("ignore-tree");
	char *etc = tpath("ignore-tree/etc");
	char *sub = tpath("ignore-tree/proc/sub");
	char *hosts = tpath("ignore-tree/etc/hosts");
	char *keep = tpath("ignore-tree/etc/keep");
	mkdirs(sub, 0755);
	mkdirs(etc, 0755);
	write_file(hosts, "", 0644);
	write_file(keep, "k", 0644);
	const char *const ignore[] = {"etc/hosts", "proc", NULL};
	struct layer_write_opts o = {.compression = LAYER_NONE,
				     .source_date_epoch = -1,
				     .overlay_upper = true,
				     .ignore = ignore};
	struct layer_info info;
	ok(write_layer_opts(root, &o, &info) == 0, "a tree with paths to ignore is written");
	struct ents e = read_entries(info.digest);
	ok(find(&e, "etc/") && find(&e, "etc/keep") && !find(&e, "etc/hosts") &&
	       !find(&e, "proc/") && !find(&e, "proc/sub/"),
	   "an ignored path, and all below an ignored directory, is left out; the rest stays");
	is_int((int64_t)e.n, 2, "and nothing else is written");
	ents_free(&e);
	rm_tree(root);
	free(root);
	free(etc);
	free(sub);
	free(hosts);
	free(keep);
}

static void test_numeric_ids_mtime_modes(void)
{
	char *root = tpath("rich");
	make_rich_tree(root, false);
	struct layer_info info;
	ok(write_layer(root, LAYER_NONE, -1, false, &info) == 0, "a rich tree is written");
	struct ents e = read_entries(info.digest);
	bool names = false;
	for (size_t i = 0; i < e.n; i++)
		names = names || e.v[i].uname || e.v[i].gname;
	ok(!names, "no entry carries a user or group name");
	const struct ent *x = find(&e, "tmp/x");
	if (is_root)
		ok(x && x->uid == 1234 && x->gid == 5678, "uid and gid are written as numbers");
	x = find(&e, "etc/shadow");
	ok(x && x->perm == 0640 && x->mtime == 1600000003, "mode and mtime are kept");
	x = find(&e, "bin/tool");
	ok(x && x->perm == 04755 && x->type == AE_IFREG, "the setuid bit is kept");
	x = find(&e, "tmp/");
	ok(x && x->perm == 01777 && x->type == AE_IFDIR, "the sticky bit is kept on a directory");
	x = find(&e, "bin/sh");
	ok(x && x->type == AE_IFLNK && x->symlink && !strcmp(x->symlink, "tool"),
	   "a symlink keeps its target");
	x = find(&e, "abs-link");
	ok(x && x->symlink && !strcmp(x->symlink, "/etc/passwd"),
	   "an absolute symlink target is kept as is");
	x = find(&e, "bin/tool-link");
	ok(x && x->hardlink && !strcmp(x->hardlink, "bin/tool") && x->size == 0,
	   "a second name of an inode becomes a hard link to the first");
	x = find(&e, "bin/tool");
	ok(x && !x->hardlink && x->size == 8, "the first name of an inode carries the data");
	x = find(&e, "fifo");
	ok(x && x->type == AE_IFIFO, "a fifo is written");
	ok(find(&e, "caf\xc3\xa9") && find(&e, "bad\xff"), "non-ASCII names are written as bytes");
	if (is_root) {
		x = find(&e, "null");
		ok(x && x->type == AE_IFCHR && x->rdev == makedev(1, 3),
		   "a char device keeps its numbers");
		x = find(&e, "bin/tool");
		ok(x && x->caps, "security.capability is written");
		bool other = false;
		for (size_t i = 0; i < e.n; i++)
			other = other || e.v[i].overlay_xattr;
		ok(!other, "no overlay xattr is written");
	}
	ents_free(&e);

	/* sockets are skipped */
	char *sock = xasprintf("%s/sock", root);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char *cwd = get_current_dir_name();
	must(chdir(root) == 0, root);
	strcpy(sa.sun_path, "sock");
	must(bind(s, (struct sockaddr *)&sa, sizeof(sa)) == 0, sock);
	must(chdir(cwd) == 0, cwd);
	free(cwd);
	struct layer_info info2;
	ok(write_layer(root, LAYER_NONE, -1, false, &info2) == 0,
	   "a tree with a socket is written");
	e = read_entries(info2.digest);
	ok(!find(&e, "sock"), "sockets are skipped");
	is_str(info2.diff_id, info.diff_id, "so the layer is the same as without it");
	ents_free(&e);
	close(s);
	free(sock);

	/* clamping */
	ok(write_layer(root, LAYER_NONE, 1600000002, false, &info) == 0, "written with an epoch");
	e = read_entries(info.digest);
	x = find(&e, "etc/shadow");
	ok(x && x->mtime == 1600000002, "an mtime after SOURCE_DATE_EPOCH is clamped to it");
	x = find(&e, "alpha");
	ok(x && x->mtime == 1600000001, "an mtime before SOURCE_DATE_EPOCH is kept");
	ents_free(&e);
	rm_tree(root);
	free(root);
}

static void test_no_atime_ctime(void)
{
	char *root = tpath("pax");
	mkdirs(root, 0755);
	/* a name over 100 bytes forces a pax extended header */
	char *longname = xasprintf("%s/%0150d", root, 7);
	write_file(longname, "data", 0644);
	char *p = xasprintf("%s/short", root);
	write_file(p, "data", 0644);
	struct layer_info info;
	ok(write_layer(root, LAYER_NONE, -1, false, &info) == 0,
	   "a tree with a long name is written");
	char plain[DIGEST_LEN];
	struct strbuf sb = STRBUF_INIT;
	blob_plain(info.digest, plain, &sb);
	ok(memmem(sb.buf, sb.len, " path=", 6) != NULL, "the long name is in a pax header");
	ok(!memmem(sb.buf, sb.len, "atime=", 6) && !memmem(sb.buf, sb.len, "ctime=", 6) &&
	       !memmem(sb.buf, sb.len, "creationtime", 12),
	   "pax headers carry no atime, ctime or birth time");
	/* ustar uname and gname fields (offsets 265 and 297, 32 bytes each) are empty */
	bool empty = true;
	for (size_t off = 0; off + 512 <= sb.len; off += 512) {
		const char *h = sb.buf + off;
		if (memcmp(h + 257, "ustar", 5) != 0)
			continue;
		for (int i = 0; i < 64; i++)
			empty = empty && h[265 + i] == 0;
	}
	ok(empty, "ustar headers have empty uname and gname fields");
	struct ents e = read_entries(info.digest);
	ok(e.n == 2 && !e.v[0].atime && !e.v[0].ctime && strlen(e.v[0].path) == 150,
	   "the long name reads back whole, without atime or ctime");
	ents_free(&e);
	strbuf_release(&sb);
	free(p);
	free(longname);
	rm_tree(root);
	free(root);
}

static void test_whiteouts_written(void)
{
	if (!is_root) {
		ok(1, "# SKIP whiteouts need root");
		return;
	}
	char *root = tpath("upper");
	mkdirs(root, 0755);
	char *p;
	p = xasprintf("%s/a", root), must(mknod(p, S_IFCHR, makedev(0, 0)) == 0, p), free(p);
	p = xasprintf("%s/Z", root), write_file(p, "z", 0644), free(p);
	p = xasprintf("%s/op", root), mkdirs(p, 0755);
	must(setxattr(p, "trusted.overlay.opaque", "y", 1, 0) == 0, p), free(p);
	p = xasprintf("%s/op/in", root), write_file(p, "in", 0644), free(p);
	p = xasprintf("%s/op2", root), mkdirs(p, 0755);
	must(setxattr(p, "user.overlay.opaque", "y", 1, 0) == 0, p), free(p);
	p = xasprintf("%s/plain", root), mkdirs(p, 0755);
	must(setxattr(p, "trusted.overlay.origin", "x", 1, 0) == 0, p), free(p);
	/* overlay may share one whiteout inode between several whiteouts */
	char *w1 = xasprintf("%s/plain/w1", root), *w2 = xasprintf("%s/plain/w2", root);
	must(mknod(w1, S_IFCHR, makedev(0, 0)) == 0, w1);
	must(link(w1, w2) == 0, w2);
	free(w1), free(w2);
	struct layer_info info;
	ok(write_layer(root, LAYER_NONE, -1, true, &info) == 0, "an overlay upper dir is written");
	struct ents e = read_entries(info.digest);
	const char *want[] = {".wh.a",
			      "Z",
			      "op/",
			      "op/.wh..wh..opq",
			      "op/in",
			      "op2/",
			      "op2/.wh..wh..opq",
			      "plain/",
			      "plain/.wh.w1",
			      "plain/.wh.w2"};
	bool same = e.n == 10;
	for (size_t i = 0; same && i < 10; i++)
		same = !strcmp(e.v[i].path, want[i]);
	ok(same, "whiteouts are sorted by their tar names, opaque markers follow their directory");
	if (!same)
		for (size_t i = 0; i < e.n; i++)
			diag("  %s", e.v[i].path);
	const struct ent *x = find(&e, ".wh.a");
	ok(x && x->type == AE_IFREG && x->perm == 0 && x->size == 0,
	   "a char device 0:0 becomes an empty .wh. file with mode 0");
	x = find(&e, "plain/.wh.w2");
	ok(x && !x->hardlink && x->type == AE_IFREG, "hard-linked whiteouts stay whiteouts");
	x = find(&e, "op/.wh..wh..opq");
	ok(x && x->type == AE_IFREG && x->size == 0,
	   "an opaque directory gets a .wh..wh..opq entry");
	bool ovl = false;
	for (size_t i = 0; i < e.n; i++)
		ovl = ovl || e.v[i].overlay_xattr;
	ok(!ovl, "overlay's private xattrs are not written");
	ents_free(&e);

	ok(write_layer(root, LAYER_NONE, -1, false, &info) == 0, "the same dir, not as an upper");
	e = read_entries(info.digest);
	x = find(&e, "a");
	ok(x && x->type == AE_IFCHR && !find(&e, "op/.wh..wh..opq"),
	   "without overlay_upper, devices and dirs are written as they are");
	ents_free(&e);
	rm_tree(root);
	free(root);
}

static int blob_fd(const char *digest);

static void test_determinism(void)
{
	char *r1 = tpath("det1"), *r2 = tpath("det2");
	make_rich_tree(r1, false);
	make_rich_tree(r2, true); /* other creation order, other inodes */
	enum layer_compression cs[] = {LAYER_ZSTD, LAYER_GZIP, LAYER_NONE};
	for (size_t i = 0; i < 3; i++) {
		const char *n = layer_compression_name(cs[i]);
		struct layer_info a, b, c;
		int ra = write_layer(r1, cs[i], -1, false, &a);
		int rb = write_layer(r1, cs[i], -1, false, &b);
		int rc = write_layer(r2, cs[i], -1, false, &c);
		ok(ra == 0 && rb == 0 && rc == 0, "%s: the trees are written", n);
		ok(!strcmp(a.diff_id, b.diff_id) && !strcmp(a.digest, b.digest),
		   "%s: the same tree twice gives the same diff_id and digest", n);
		ok(!strcmp(a.diff_id, c.diff_id) && !strcmp(a.digest, c.digest),
		   "%s: an equal tree built in another order gives the same digests", n);
		char plain[DIGEST_LEN];
		blob_plain(a.digest, plain, NULL);
		is_str(plain, a.diff_id, "%s: diff_id is the sha256 of the decompressed blob", n);
		is_str(a.media_type, layer_media_type(cs[i]), "%s: media type", n);
		uint64_t size = 0;
		struct cairn_error err = CAIRN_ERROR_INIT;
		int fd;
		if (store_open_blob(store, a.digest, &fd, &err) == 0) {
			struct stat st;
			if (fstat(fd, &st) == 0)
				size = (uint64_t)st.st_size;
			close(fd);
		}
		cairn_error_clear(&err);
		is_int(size, a.size, "%s: layer_info.size is the blob's size", n);
		if (cs[i] == LAYER_NONE)
			is_str(a.digest, a.diff_id, "none: digest equals diff_id");
		if (cs[i] == LAYER_GZIP) {
			unsigned char head[10] = {0};
			fd = blob_fd(a.digest);
			ok(read(fd, head, 10) == 10 && head[0] == 0x1f && head[1] == 0x8b &&
			       !head[4] && !head[5] && !head[6] && !head[7],
			   "gzip: the gzip header has no timestamp");
			close(fd);
		}
	}
	struct layer_info c_loc, utf8_loc;
	char *saved = xstrdup(setlocale(LC_ALL, NULL));
	setlocale(LC_ALL, "C");
	int ra = write_layer(r1, LAYER_NONE, -1, false, &c_loc);
	setlocale(LC_ALL, "C.UTF-8");
	int rb = write_layer(r1, LAYER_NONE, -1, false, &utf8_loc);
	setlocale(LC_ALL, saved);
	free(saved);
	ok(ra == 0 && rb == 0 && !strcmp(c_loc.diff_id, utf8_loc.diff_id),
	   "the locale does not change the layer (non-ASCII names included)");
	rm_tree(r1);
	rm_tree(r2);
	free(r1);
	free(r2);
}

static int blob_fd(const char *digest)
{
	struct cairn_error err = CAIRN_ERROR_INIT;
	int fd = -1;
	must(store_open_blob(store, digest, &fd, &err) == 0, "opening blob");
	return fd;
}

static int extract_blob(const char *digest, const char *dir, bool whiteouts, int64_t uid,
			struct cairn_error *err)
{
	int fd = blob_fd(digest);
	int dfd = open_dir(dir);
	struct layer_extract_opts o = {.overlay_whiteouts = whiteouts, .uid = uid, .gid = uid};
	int r = layer_extract(fd, dfd, &o, digest, err);
	close(fd);
	close(dfd);
	return r;
}

/* A tree kept under a diff_id must have that content: the extraction checks it. */
static void test_extract_checks_diff_id(void)
{
	char *src = tpath("did-src");
	make_rich_tree(src, false);
	enum layer_compression comps[] = {LAYER_ZSTD, LAYER_GZIP, LAYER_NONE};
	for (size_t i = 0; i < 3; i++) {
		struct layer_info a;
		must(write_layer(src, comps[i], -1, false, &a) == 0, "diff_id: written");
		char *good = tpath(i == 0 ? "did-good0" : i == 1 ? "did-good1" : "did-good2");
		char *bad = tpath(i == 0 ? "did-bad0" : i == 1 ? "did-bad1" : "did-bad2");
		mkdirs(good, 0755);
		mkdirs(bad, 0755);
		struct cairn_error err = CAIRN_ERROR_INIT;
		int fd = blob_fd(a.digest), dfd = open_dir(good);
		struct layer_extract_opts o = {.uid = -1, .gid = -1, .diff_id = a.diff_id};
		int r = layer_extract(fd, dfd, &o, a.digest, &err);
		ok(r == 0, "%s: the right diff_id extracts", layer_compression_name(comps[i]));
		if (r < 0)
			diag("%s", err.msg);
		cairn_error_clear(&err);
		close(fd);
		close(dfd);
		char other[DIGEST_LEN];
		sha256_digest("something else", 14, other);
		fd = blob_fd(a.digest);
		dfd = open_dir(bad);
		o.diff_id = other;
		r = layer_extract(fd, dfd, &o, a.digest, &err);
		ok(r == -EBADMSG && err.msg && strstr(err.msg, "not the diff_id"),
		   "%s: a wrong diff_id fails the extraction", layer_compression_name(comps[i]));
		cairn_error_clear(&err);
		close(fd);
		close(dfd);
		free(good);
		free(bad);
	}
	free(src);
}

static void test_extract_round_trip(void)
{
	char *src = tpath("rt-src"), *dst = tpath("rt-dst"), *dst2 = tpath("rt-dst2");
	make_rich_tree(src, false);
	struct layer_info a, b;
	ok(write_layer(src, LAYER_ZSTD, -1, false, &a) == 0, "round trip: written");
	mkdirs(dst, 0755);
	struct cairn_error err = CAIRN_ERROR_INIT;
	int r = extract_blob(a.digest, dst, false, -1, &err);
	ok(r == 0, "round trip: extracted");
	if (r < 0)
		diag("%s", err.msg);
	cairn_error_clear(&err);
	ok(write_layer(dst, LAYER_ZSTD, -1, false, &b) == 0, "round trip: rewritten");
	is_str(b.diff_id, a.diff_id,
	       "the extracted tree writes the same layer (modes, owners, mtimes, links, caps)");
	struct stat s1, s2;
	char *t1 = xasprintf("%s/bin/tool", dst), *t2 = xasprintf("%s/bin/tool-link", dst);
	ok(stat(t1, &s1) == 0 && stat(t2, &s2) == 0 && s1.st_ino == s2.st_ino && s1.st_nlink == 2,
	   "hard links are extracted as hard links");
	ok((s1.st_mode & 07777) == 04755, "the setuid bit survives the owner change");
	free(t1), free(t2);
	char *d = xasprintf("%s/etc", dst);
	ok(lstat(d, &s1) == 0 && s1.st_mtime == 1600000009,
	   "directory mtimes are set after their contents");
	free(d);

	/* extracting over an existing tree: uid override, files replace files */
	ok(extract_blob(a.digest, dst, false, 4242, &err) == 0, "extracting again over the tree");
	cairn_error_clear(&err);
	d = xasprintf("%s/etc/passwd", dst);
	ok(lstat(d, &s1) == 0 && s1.st_uid == 4242 && s1.st_gid == 4242,
	   "the uid/gid override owns every entry");
	free(d);

	/* a non-dir over a dir and a dir over a file */
	char *tree = tpath("rt-over");
	mkdirs(tree, 0755);
	char *p = xasprintf("%s/etc", tree);
	write_file(p, "a file where etc was", 0644);
	free(p);
	p = xasprintf("%s/zeta", tree);
	mkdirs(p, 0755);
	free(p);
	p = xasprintf("%s/zeta/inner", tree);
	write_file(p, "x", 0644);
	free(p);
	struct layer_info over;
	ok(write_layer(tree, LAYER_GZIP, -1, false, &over) == 0, "a replacing layer is written");
	mkdirs(dst2, 0755);
	ok(extract_blob(a.digest, dst2, false, -1, &err) == 0 &&
	       extract_blob(over.digest, dst2, false, -1, &err) == 0,
	   "two layers are extracted one over the other");
	if (err.msg)
		diag("%s", err.msg);
	cairn_error_clear(&err);
	p = xasprintf("%s/etc", dst2);
	ok(lstat(p, &s1) == 0 && S_ISREG(s1.st_mode), "a file replaces a directory");
	free(p);
	p = xasprintf("%s/zeta/inner", dst2);
	ok(lstat(p, &s1) == 0 && S_ISREG(s1.st_mode), "a directory replaces a file");
	free(p);
	rm_tree(tree);
	free(tree);
	rm_tree(src);
	rm_tree(dst);
	rm_tree(dst2);
	free(src);
	free(dst);
	free(dst2);
}

/* ---- hostile archives ---- */

struct hostile {
	const char *path;
	mode_t type;
	const char *link;     /* symlink target */
	const char *hardlink; /* hard link target */
};

static char *make_archive(const char *name, const struct hostile *h, size_t n)
{
	char *path = tpath("%s.tar", name);
	struct archive *a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	must(archive_write_open_filename(a, path) == ARCHIVE_OK, path);
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *e = archive_entry_new();
		archive_entry_set_pathname(e, h[i].path);
		archive_entry_set_filetype(e, h[i].type);
		archive_entry_set_perm(e, h[i].type == AE_IFDIR ? 0755 : 0644);
		if (h[i].link)
			archive_entry_set_symlink(e, h[i].link);
		if (h[i].hardlink)
			archive_entry_set_hardlink(e, h[i].hardlink);
		bool data = h[i].type == AE_IFREG && !h[i].hardlink;
		if (data)
			archive_entry_set_size(e, 4);
		must(archive_write_header(a, e) == ARCHIVE_OK, "archive header");
		if (data)
			archive_write_data(a, "evil", 4);
		archive_entry_free(e);
	}
	archive_write_close(a);
	archive_write_free(a);
	return path;
}

/* Names in dir other than the expected ones. */
static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static void test_hostile(void)
{
	/* jail/      the sandbox of these tests; nothing may appear in it but root/
	 * jail/root/ the extraction target
	 * outside/   a directory beside it that symlinks aim at */
	char *jail = tpath("jail"), *root = tpath("jail/root"), *outside = tpath("outside");
	char *victim = tpath("outside/victim");
	mkdirs(root, 0755);
	mkdirs(outside, 0755);
	write_file(victim, "precious", 0644);
	char *abs_name = xasprintf("/tmp/cairn-test-layer-abs-%d", (int)getpid());
	char *up = xasprintf("../../../../../../../../../..%s", outside);
	char *outside_file = xasprintf("%s/victim", outside);
	struct stat passwd_before, passwd_after;
	must(stat("/etc/passwd", &passwd_before) == 0, "/etc/passwd");

	struct {
		const char *name;
		struct hostile h[3];
		size_t n;
		bool must_fail;
	} cases[] = {
	    {"dotdot", {{"../evil", AE_IFREG, NULL, NULL}}, 1, true},
	    {"dotdot-inner", {{"a/../../evil", AE_IFREG, NULL, NULL}}, 1, true},
	    {"absolute", {{abs_name, AE_IFREG, NULL, NULL}}, 1, false},
	    {"abs-symlink-dir",
	     {{"link", AE_IFLNK, outside, NULL}, {"link/file", AE_IFREG, NULL, NULL}},
	     2,
	     false},
	    {"dotdot-symlink-dir",
	     {{"up", AE_IFLNK, "../../../../../../../..", NULL},
	      {"up/escape", AE_IFREG, NULL, NULL}},
	     2,
	     false},
	    {"dotdot-symlink-deep",
	     {{"deep", AE_IFLNK, up, NULL}, {"deep/victim", AE_IFREG, NULL, NULL}},
	     2,
	     false},
	    {"symlink-then-file-over-it",
	     {{"v", AE_IFLNK, outside_file, NULL}, {"v", AE_IFREG, NULL, NULL}},
	     2,
	     false},
	    {"hardlink-abs", {{"hl", AE_IFREG, NULL, "/etc/passwd"}}, 1, true},
	    {"hardlink-dotdot", {{"hl", AE_IFREG, NULL, "../outside/victim"}}, 1, true},
	    {"hardlink-through-symlink",
	     {{"ln", AE_IFLNK, outside, NULL}, {"hl", AE_IFREG, NULL, "ln/victim"}},
	     2,
	     true},
	    {"symlink-then-dir",
	     {{"sd", AE_IFLNK, outside, NULL},
	      {"sd", AE_IFDIR, NULL, NULL},
	      {"sd/victim", AE_IFREG, NULL, NULL}},
	     3,
	     false},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		char *arch = make_archive(cases[i].name, cases[i].h, cases[i].n);
		int fd = open(arch, O_RDONLY | O_CLOEXEC);
		int dfd = open_dir(root);
		struct cairn_error err = CAIRN_ERROR_INIT;
		struct layer_extract_opts o = {.uid = -1, .gid = -1};
		int r = layer_extract(fd, dfd, &o, cases[i].name, &err);
		close(fd);
		close(dfd);
		char *data = NULL;
		util_read_file(AT_FDCWD, victim, &data, NULL, NULL);
		bool safe = count_entries(jail) == 1 && count_entries(outside) == 1 && data &&
			    !strcmp(data, "precious") && access(abs_name, F_OK) != 0;
		free(data);
		must(stat("/etc/passwd", &passwd_after) == 0, "/etc/passwd");
		safe = safe && passwd_after.st_nlink == passwd_before.st_nlink;
		ok(safe, "hostile archive %s writes nothing outside the target", cases[i].name);
		if (cases[i].must_fail) {
			ok(r < 0 && err.msg && strstr(err.msg, cases[i].name) &&
			       strstr(err.msg, cases[i].h[cases[i].n - 1].path),
			   "hostile archive %s is refused, naming the archive and the entry",
			   cases[i].name);
		}
		if (err.msg)
			diag("%s: %s", cases[i].name, err.msg);
		cairn_error_clear(&err);
		rm_tree(root);
		mkdirs(root, 0755);
		unlink(arch);
		free(arch);
	}
	/* an absolute name lands beneath the target */
	struct hostile h[] = {{"/etc/x", AE_IFREG, NULL, NULL}};
	char *arch = make_archive("abs2", h, 1);
	int fd = open(arch, O_RDONLY | O_CLOEXEC), dfd = open_dir(root);
	struct cairn_error err = CAIRN_ERROR_INIT;
	struct layer_extract_opts o = {.uid = -1, .gid = -1};
	ok(layer_extract(fd, dfd, &o, "abs2", &err) == 0 && faccessat(dfd, "etc/x", F_OK, 0) == 0,
	   "an absolute name is extracted beneath the target");
	cairn_error_clear(&err);
	close(fd);
	close(dfd);
	unlink(arch);
	free(arch);
	rm_tree(jail);
	rm_tree(outside);
	free(jail), free(root), free(outside), free(victim), free(abs_name), free(up);
	free(outside_file);
}

static void test_extract_replaced_dir(void)
{
	struct hostile h[] = {
	    {"d/", AE_IFDIR, NULL, NULL},
	    {"d/x", AE_IFREG, NULL, NULL},
	    {"d", AE_IFREG, NULL, NULL},
	};
	char *arch = make_archive("replaced", h, 3);
	char *dir = tpath("replaced");
	mkdirs(dir, 0755);
	int fd = open(arch, O_RDONLY | O_CLOEXEC), dfd = open_dir(dir);
	struct cairn_error err = CAIRN_ERROR_INIT;
	struct layer_extract_opts o = {.uid = -1, .gid = -1};
	struct stat st;
	ok(layer_extract(fd, dfd, &o, "replaced", &err) == 0 &&
	       fstatat(dfd, "d", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode),
	   "a file later in the archive replaces a directory written earlier");
	if (err.msg)
		diag("%s", err.msg);
	cairn_error_clear(&err);
	close(fd);
	close(dfd);
	unlink(arch);
	rm_tree(dir);
	free(arch);
	free(dir);
}

static void test_whiteouts_extracted(void)
{
	if (!is_root) {
		ok(1, "# SKIP whiteouts need root");
		return;
	}
	struct hostile h[] = {
	    {"a/", AE_IFDIR, NULL, NULL},
	    {"a/.wh..wh..opq", AE_IFREG, NULL, NULL},
	    {"a/.wh.gone", AE_IFREG, NULL, NULL},
	    {".wh.top", AE_IFREG, NULL, NULL},
	};
	char *arch = make_archive("whiteouts", h, 4);
	char *dir = tpath("wh");
	mkdirs(dir, 0755);
	char *p = xasprintf("%s/top", dir);
	mkdirs(p, 0755);
	free(p);
	int fd = open(arch, O_RDONLY | O_CLOEXEC), dfd = open_dir(dir);
	struct cairn_error err = CAIRN_ERROR_INIT;
	struct layer_extract_opts o = {.overlay_whiteouts = true, .uid = -1, .gid = -1};
	ok(layer_extract(fd, dfd, &o, "whiteouts", &err) == 0, "whiteouts are extracted");
	if (err.msg)
		diag("%s", err.msg);
	cairn_error_clear(&err);
	struct stat st;
	ok(fstatat(dfd, "a/gone", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISCHR(st.st_mode) &&
	       st.st_rdev == makedev(0, 0),
	   ".wh.NAME becomes a char device 0:0 NAME");
	ok(fstatat(dfd, "top", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISCHR(st.st_mode),
	   "a whiteout replaces what was there");
	ok(faccessat(dfd, "a/.wh.gone", F_OK, AT_SYMLINK_NOFOLLOW) != 0,
	   "no .wh. file is left in overlay form");
	ok(faccessat(dfd, ".wh..wh.plnk", F_OK, AT_SYMLINK_NOFOLLOW) != 0 &&
	       faccessat(dfd, ".wh.plnk", F_OK, AT_SYMLINK_NOFOLLOW) != 0,
	   "aufs metadata (.wh..wh.*) is skipped in overlay form");
	char v[4] = {0};
	p = xasprintf("%s/a", dir);
	ok(getxattr(p, "trusted.overlay.opaque", v, sizeof(v)) == 1 && v[0] == 'y',
	   ".wh..wh..opq marks its directory opaque");
	free(p);
	close(dfd);
	rm_tree(dir);
	mkdirs(dir, 0755);
	lseek(fd, 0, SEEK_SET);
	dfd = open_dir(dir);
	o.overlay_whiteouts = false;
	ok(layer_extract(fd, dfd, &o, "whiteouts", &err) == 0 &&
	       fstatat(dfd, "a/.wh.gone", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode),
	   "without overlay_whiteouts, .wh. names are ordinary files");
	cairn_error_clear(&err);
	close(fd);
	close(dfd);
	rm_tree(dir);
	unlink(arch);
	free(arch);
	free(dir);
}

/* In a user namespace no device node can be made: extraction leaves an empty file
 * standing for it (UTIL_XATTR_DEVICE) and the layer writer writes the node back, so
 * a layer made from such a tree says what the archive said. Runs in a child in a
 * user namespace of its own, which needs no root (and maps one id: owners other than
 * root are t0306's). */
static void test_device_stand_in(void)
{
	char *arc = tpath("devices.tar");
	struct archive *a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	must(archive_write_open_filename(a, arc) == ARCHIVE_OK, arc);
	const struct {
		const char *path;
		mode_t type, perm;
		unsigned maj, min, uid, gid;
	} nodes[] = {{"dev/", AE_IFDIR, 0755, 0, 0, 0, 0},
		     {"dev/console", AE_IFCHR, 0620, 5, 1, 0, 0},
		     {"dev/sda", AE_IFBLK, 0660, 8, 0, 0, 0},
		     {"dev/pipe", AE_IFIFO, 0600, 0, 0, 0, 0}};
	for (size_t i = 0; i < sizeof nodes / sizeof *nodes; i++) {
		struct archive_entry *e = archive_entry_new();
		archive_entry_set_pathname(e, nodes[i].path);
		archive_entry_set_filetype(e, nodes[i].type);
		archive_entry_set_perm(e, nodes[i].perm);
		archive_entry_set_rdevmajor(e, nodes[i].maj);
		archive_entry_set_rdevminor(e, nodes[i].min);
		archive_entry_set_uid(e, nodes[i].uid);
		archive_entry_set_gid(e, nodes[i].gid);
		archive_entry_set_mtime(e, 1700000000, 0);
		must(archive_write_header(a, e) == ARCHIVE_OK, "archive header");
		archive_entry_free(e);
	}
	archive_write_close(a);
	archive_write_free(a);

	char *dir = tpath("devices");
	mkdirs(dir, 0755);
	int pfd[2];
	must(pipe(pfd) == 0, "pipe");
	uid_t uid = geteuid();
	gid_t gid = getegid();
	pid_t pid = fork();
	must(pid >= 0, "fork");
	if (pid == 0) {
		close(pfd[0]);
		char maps[3][32];
		snprintf(maps[0], sizeof maps[0], "0 %u 1", (unsigned)uid);
		snprintf(maps[1], sizeof maps[1], "0 %u 1", (unsigned)gid);
		const char *files[3] = {"/proc/self/uid_map", "/proc/self/gid_map"};
		if (unshare(CLONE_NEWUSER) < 0)
			_exit(77);
		int sg = open("/proc/self/setgroups", O_WRONLY);
		if (sg < 0 || write(sg, "deny", 4) != 4)
			_exit(1);
		close(sg);
		for (int i = 0; i < 2; i++) {
			int fd = open(files[i], O_WRONLY);
			if (fd < 0 || write(fd, maps[i], strlen(maps[i])) < 0)
				_exit(1);
			close(fd);
		}
		struct cairn_error err = CAIRN_ERROR_INIT;
		int fd = open(arc, O_RDONLY | O_CLOEXEC), dfd = open_dir(dir);
		struct layer_extract_opts o = {.uid = -1, .gid = -1};
		if (layer_extract(fd, dfd, &o, "devices.tar", &err) < 0) {
			dprintf(pfd[1], "E%s", err.msg);
			_exit(1);
		}
		struct stat st;
		char v[64] = {0};
		bool standin = fstatat(dfd, "dev/console", &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			       S_ISREG(st.st_mode) && st.st_size == 0 &&
			       (st.st_mode & 07777) == 0620 &&
			       getxattr(tpath("devices/dev/console"), UTIL_XATTR_DEVICE, v,
					sizeof v - 1) > 0 &&
			       !strcmp(v, "c 5 1");
		bool fifo =
		    fstatat(dfd, "dev/pipe", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISFIFO(st.st_mode);
		struct layer_info info;
		if (write_layer(dir, LAYER_NONE, -1, false, &info) < 0)
			_exit(1);
		dprintf(pfd[1], "%c%c%s", standin ? 'y' : 'n', fifo ? 'y' : 'n', info.digest);
		_exit(0);
	}
	close(pfd[1]);
	char buf[4096] = {0};
	ssize_t n = 0, m;
	while ((m = read(pfd[0], buf + n, sizeof buf - 1 - (size_t)n)) > 0)
		n += m;
	close(pfd[0]);
	int st = 0;
	waitpid(pid, &st, 0);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 77) {
		ok(1, "# SKIP device nodes in a user namespace (no user namespace here)");
		free(arc);
		free(dir);
		return;
	}
	if (n > 0 && buf[0] == 'E')
		diag("%s", buf + 1);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0 && n > 2 && buf[0] == 'y',
	   "in a user namespace a device node is unpacked as a marked empty file with its "
	   "owner and mode");
	ok(n > 2 && buf[1] == 'y', "a fifo is still made there");
	bool nodes_back = false;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0 && n > 2) {
		struct ents e = read_entries(buf + 2);
		const struct ent *c = find(&e, "dev/console"), *b = find(&e, "dev/sda");
		nodes_back = c && c->type == AE_IFCHR && c->rdev == makedev(5, 1) &&
			     c->perm == 0620 && c->mtime == 1700000000 && c->size == 0 && b &&
			     b->type == AE_IFBLK && b->rdev == makedev(8, 0) && b->perm == 0660;
		ents_free(&e);
	}
	ok(nodes_back, "the layer written from that tree has the device nodes again");
	rm_tree(dir);
	free(arc);
	free(dir);
}

static void test_is_archive(void)
{
	char *root = tpath("isarch");
	mkdirs(root, 0755);
	char *p = xasprintf("%s/f", root);
	write_file(p, "hello", 0644);
	free(p);
	enum layer_compression cs[] = {LAYER_NONE, LAYER_GZIP, LAYER_ZSTD};
	for (size_t i = 0; i < 3; i++) {
		struct layer_info info;
		must(write_layer(root, cs[i], -1, false, &info) == 0, "layer");
		int fd = blob_fd(info.digest);
		lseek(fd, 100, SEEK_SET);
		ok(layer_is_archive(fd), "layer_is_archive: a tar (%s) is an archive",
		   layer_compression_name(cs[i]));
		is_int(lseek(fd, 0, SEEK_CUR), 0, "layer_is_archive leaves the offset at 0");
		close(fd);
	}
	p = tpath("text");
	write_file(p, "just some text\nover two lines\n", 0644);
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	ok(!layer_is_archive(fd), "layer_is_archive: plain text is not an archive");
	close(fd);
	write_file(p, "", 0644);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	ok(!layer_is_archive(fd), "layer_is_archive: an empty file is not an archive");
	close(fd);
	free(p);
	rm_tree(root);
	free(root);
}

static void test_compression_names(void)
{
	enum layer_compression c;
	ok(layer_compression_parse("zstd", &c) == 0 && c == LAYER_ZSTD &&
	       layer_compression_parse("gzip", &c) == 0 && c == LAYER_GZIP &&
	       layer_compression_parse("none", &c) == 0 && c == LAYER_NONE,
	   "compression names parse");
	is_int(layer_compression_parse("lz4", &c), -EINVAL, "an unknown compression is refused");
	is_str(layer_media_type(LAYER_ZSTD), MEDIA_TYPE_OCI_LAYER_ZSTD, "zstd media type");
	is_str(layer_media_type(LAYER_GZIP), MEDIA_TYPE_OCI_LAYER_GZIP, "gzip media type");
}

static int count_blobs(void)
{
	char *dir = tpath("store/blobs/sha256");
	int n = 0;
	DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d)))
		n += de->d_name[0] != '.';
	if (d)
		closedir(d);
	free(dir);
	return n;
}

/* sysfs files claim 4096 bytes and hold fewer: a file that shrinks while read. */
static void test_write_error(void)
{
	const char *tree = "/sys/kernel/mm/transparent_hugepage";
	if (access(tree, R_OK) != 0) {
		ok(1, "# SKIP no %s", tree);
		return;
	}
	enum layer_compression cs[] = {LAYER_ZSTD, LAYER_GZIP, LAYER_NONE};
	for (size_t i = 0; i < 3; i++) {
		int before = count_blobs();
		struct cairn_error err = CAIRN_ERROR_INIT;
		struct layer_write_opts o = {.compression = cs[i], .source_date_epoch = -1};
		struct layer_info info;
		int fd = open_dir(tree);
		int r = layer_write_dir(store, fd, &o, &info, &err);
		close(fd);
		ok(r < 0 && err.msg && strstr(err.msg, "shrank") &&
		       strstr(err.msg, "writing layer: "),
		   "%s: a file that shrinks while read fails the layer, naming the file",
		   layer_compression_name(cs[i]));
		if (err.msg)
			diag("%s", err.msg);
		is_int(count_blobs(), before, "%s: a failed layer stores no blob",
		       layer_compression_name(cs[i]));
		cairn_error_clear(&err);
	}
}

/* Memory does not grow with the layer: one big incompressible file through zstd. */
static void test_memory_flat(void)
{
	const char *env = getenv("CAIRN_TEST_BIG_MB");
	long mb = env ? atol(env) : 200;
	char *root = tpath("big");
	mkdirs(root, 0755);
	char *p = xasprintf("%s/random", root);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	must(fd >= 0, p);
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	size_t chunk = 1 << 20;
	uint64_t *buf = xmalloc(chunk);
	for (long i = 0; i < mb; i++) {
		for (size_t j = 0; j < chunk / 8; j++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			buf[j] = x;
		}
		must(util_write_all(fd, buf, chunk) == 0, p);
	}
	free(buf);
	close(fd);
	free(p);
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	long before = ru.ru_maxrss;
	struct layer_info info;
	double t0 = util_now();
	int r = write_layer(root, LAYER_ZSTD, -1, false, &info);
	double t = util_now() - t0;
	getrusage(RUSAGE_SELF, &ru);
	ok(r == 0, "a %ld MB file is written as a zstd layer", mb);
	diag("%ld MB random data, zstd: %.2fs, %.0f MB/s, peak RSS %ld KiB (before: %ld KiB)", mb,
	     t, (double)mb / t, ru.ru_maxrss, before);
#if defined(__SANITIZE_ADDRESS__)
	ok(1, "# SKIP RSS bound under AddressSanitizer");
#else
	ok(ru.ru_maxrss < 64 * 1024, "peak RSS stays under 64 MiB");
#endif
	rm_tree(root);
	free(root);
}

/* ---- snapshot roots ---- */

static int write_since(const char *dir, const struct layer_snapshot *snap,
		       const char *const *ignore, struct layer_info *info)
{
	struct layer_write_opts o = {.compression = LAYER_NONE,
				     .source_date_epoch = 1600000000,
				     .since = snap,
				     .ignore = ignore};
	return write_layer_opts(dir, &o, info);
}

static void test_snapshot_changes(void)
{
	char *root = tpath("snap");
	mkdirs(root, 0755);
	char *p;
#define T(...) (free(p), p = xasprintf(__VA_ARGS__))
	p = NULL;
	mkdirs(T("%s/etc", root), 0755);
	mkdirs(T("%s/usr/lib/deep", root), 0755);
	mkdirs(T("%s/var/cache", root), 0755);
	mkdirs(T("%s/opt/old", root), 0755);
	write_file(T("%s/etc/passwd", root), "root\n", 0644);
	write_file(T("%s/etc/hosts", root), "hosts\n", 0644);
	write_file(T("%s/usr/lib/deep/same", root), "same\n", 0644);
	write_file(T("%s/usr/lib/deep/touched", root), "t\n", 0644);
	write_file(T("%s/var/cache/a", root), "a\n", 0644);
	write_file(T("%s/var/cache/b", root), "b\n", 0644);
	write_file(T("%s/opt/old/x", root), "x\n", 0644);
	write_file(T("%s/gone", root), "g\n", 0644);
	write_file(T("%s/racy", root), "aaaa", 0644);

	struct layer_snapshot *snap = NULL;
	struct cairn_error err = CAIRN_ERROR_INIT;
	int dfd = open_dir(root);
	ok(layer_snapshot_take(dfd, &snap, &err) == 0, "a tree is snapshotted");
	close(dfd);
	struct layer_info info;
	ok(write_since(root, snap, NULL, &info) == 0 && info.entries == 0,
	   "nothing changed: an empty layer");

	/* a step: changes of every kind */
	/* same size, maybe the same clock tick as the snapshot: its times may not
	 * move, its content has */
	write_file(T("%s/racy", root), "bbbb", 0644);
	write_file(T("%s/etc/passwd", root), "root\napp\n", 0644);
	must(chmod(T("%s/usr/lib/deep/touched", root), 0600) == 0, "chmod");
	must(unlink(T("%s/var/cache/a", root)) == 0, "unlink");
	must(unlink(T("%s/gone", root)) == 0, "unlink");
	write_file(T("%s/etc/hosts", root), "lent\n", 0644);
	rm_tree(T("%s/opt/old", root));
	mkdirs(T("%s/opt/old", root), 0755);
	write_file(T("%s/opt/old/y", root), "y\n", 0644);
	mkdirs(T("%s/new/sub", root), 0755);
	write_file(T("%s/new/sub/f", root), "f\n", 0644);

	static const char *const ignore[] = {"etc/hosts", NULL};
	ok(write_since(root, snap, ignore, &info) == 0, "the changes are written");
	struct ents e = read_entries(info.digest);
	static const char *const want[] = {
	    ".wh.gone",	 "etc/",	  "etc/passwd",
	    "new/",	 "new/sub/",	  "new/sub/f",
	    "opt/",	 "opt/old/",	  "opt/old/.wh..wh..opq",
	    "opt/old/y", "racy",	  "usr/",
	    "usr/lib/",	 "usr/lib/deep/", "usr/lib/deep/touched",
	    "var/",	 "var/cache/",	  "var/cache/.wh.a",
	};
	size_t nw = sizeof want / sizeof *want;
	bool same = e.n == nw;
	for (size_t i = 0; same && i < nw; i++)
		same = !strcmp(e.v[i].path, want[i]);
	if (!same)
		for (size_t i = 0; i < e.n; i++)
			diag("got %s", e.v[i].path);
	ok(same, "new, changed and replaced entries with their parents, whiteouts for the "
		 "gone, a directory made anew opaque, in the writer's order");
	ok(!find(&e, "usr/lib/deep/same") && !find(&e, "var/cache/b"),
	   "what did not change is not written");
	ok(!find(&e, "etc/hosts"), "an ignored path is not written");
	const struct ent *x = find(&e, "var/cache/.wh.a");
	ok(x && x->uid == 0 && x->perm == 0 && x->mtime == 1600000000,
	   "a whiteout is root's, empty, at the epoch");
	ents_free(&e);

	/* the layer applied on a copy of the old tree gives the new one */
	char *copy = tpath("snap-applied");
	mkdirs(copy, 0755);
	mkdirs(T("%s/opt/old", copy), 0755);
	mkdirs(T("%s/var/cache", copy), 0755);
	write_file(T("%s/opt/old/x", copy), "x\n", 0644);
	write_file(T("%s/var/cache/a", copy), "a\n", 0644);
	write_file(T("%s/gone", copy), "g\n", 0644);
	int blob = -1;
	must(store_open_blob(store, info.digest, &blob, &err) == 0, "open blob");
	dfd = open_dir(copy);
	struct layer_extract_opts xo = {.apply_whiteouts = true, .uid = -1, .gid = -1};
	ok(layer_extract(blob, dfd, &xo, "changes", &err) == 0, "the layer is applied to a tree");
	cairn_error_clear(&err);
	struct stat st;
	ok(fstatat(dfd, "gone", &st, AT_SYMLINK_NOFOLLOW) < 0 &&
	       fstatat(dfd, "var/cache/a", &st, AT_SYMLINK_NOFOLLOW) < 0 &&
	       fstatat(dfd, "opt/old/x", &st, AT_SYMLINK_NOFOLLOW) < 0 &&
	       fstatat(dfd, "opt/old/y", &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	       fstatat(dfd, ".wh.gone", &st, AT_SYMLINK_NOFOLLOW) < 0,
	   "applied whiteouts remove, an opaque directory is emptied, no .wh. is left");
	close(dfd);
	close(blob);
	layer_snapshot_free(snap);
	rm_tree(copy);
	free(copy);
	rm_tree(root);
	free(root);
	free(p);
#undef T
}

int main(void)
{
	/* as the cairn binary does: names must not depend on the locale */
	setlocale(LC_ALL, "");
	is_root = geteuid() == 0;
	char tmpl[] = "/tmp/cairn-test-layer-XXXXXX";
	must(mkdtemp(tmpl) != NULL, "mkdtemp");
	tmp_root = tmpl;
	umask(022);
	struct cairn_error err = CAIRN_ERROR_INIT;
	char *sroot = tpath("store");
	if (store_open(sroot, &store, &err) < 0) {
		printf("Bail out! store_open: %s\n", err.msg);
		return 1;
	}
	free(sroot);

	test_memory_flat(); /* first: ru_maxrss is a process-wide peak */
	test_compression_names();
	test_sorted_parents_first();
	test_empty_tree();
	test_ignore();
	test_numeric_ids_mtime_modes();
	test_no_atime_ctime();
	test_whiteouts_written();
	test_determinism();
	test_extract_round_trip();
	test_extract_checks_diff_id();
	test_hostile();
	test_extract_replaced_dir();
	test_whiteouts_extracted();
	test_snapshot_changes();
	test_is_archive();
	test_write_error();
	test_device_stand_in();

	store_close(store);
	rm_tree(tmp_root);
	return done_testing();
}
