/* cairn fsck: checks the store (store_fsck), and with --full every unpacked layer
 * tree against its blob, unpacked again beside it. */
#include "commands.h"
#include "fs/fs.h"
#include "layer/layer.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

static const char usage[] =
    "usage: cairn fsck [--full] [--repair]\n"
    "\n"
    "Checks the store: every blob hashes to its name and has the size every\n"
    "descriptor naming it gives; every tag reaches a manifest whose config and layers\n"
    "exist; every build-cache record is whole and its layer exists; every unpacked\n"
    "layer has its blob; and no temp file or marker of a killed process is left.\n"
    "Prints each problem with what fixes it. Exit status 0 when the store is clean,\n"
    "1 when problems remain.\n"
    "\n"
    "      --full      also unpack every layer tree again from its blob and compare\n"
    "      --repair    remove what is damaged (blobs no tag reaches, records, trees:\n"
    "                  trees are unpacked again from their blobs) and the leftovers;\n"
    "                  never a blob a tag reaches\n"
    "  -h, --help      this help\n";

/* Hashes what the tree at dirfd/name holds into h, as a layer's content: names (in
 * order), types, modes, owners, sizes, device numbers, link targets, file contents,
 * files' mtimes and every xattr. */
static void hash_tree(int at, const char *name, const char *path, struct sha256 *h)
{
	struct stat st;
	if (fstatat(at, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return;
	/* the root's own mode and owner are the store's (or the temp dir's), not the
	 * layer's */
	if (!strcmp(path, "."))
		st.st_mode = S_IFDIR, st.st_uid = st.st_gid = 0;
	cleanup_free char *head =
	    xasprintf("%s\n%o %u %u %lld %u:%u %lld\n", path, (unsigned)st.st_mode,
		      (unsigned)st.st_uid, (unsigned)st.st_gid,
		      S_ISREG(st.st_mode) ? (long long)st.st_size : 0LL, major(st.st_rdev),
		      minor(st.st_rdev), S_ISREG(st.st_mode) ? (long long)st.st_mtime : 0LL);
	sha256_update(h, head, strlen(head));
	int fd = S_ISLNK(st.st_mode) ? -1
				     : openat(at, name,
					      O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK |
						  (S_ISDIR(st.st_mode) ? O_DIRECTORY : 0));
	if (S_ISLNK(st.st_mode)) {
		cleanup_free char *target = fs_readlinkat(at, name);
		if (target)
			sha256_update(h, target, strlen(target));
		return;
	}
	if (fd < 0)
		return;
	char names[4096];
	ssize_t nl = flistxattr(fd, names, sizeof names);
	cleanup_strv char **xs = NULL;
	/* overlay's bookkeeping (origin, impure...) is not content; its opaque mark is */
	for (ssize_t o = 0; nl > 0 && o < nl; o += (ssize_t)strlen(names + o) + 1)
		if (!strstr(names + o, ".overlay.") || strstr(names + o, ".overlay.opaque"))
			strv_push(&xs, names + o);
	if (xs)
		strv_sort(xs);
	for (size_t i = 0; xs && xs[i]; i++) {
		char val[4096];
		ssize_t vl = fgetxattr(fd, xs[i], val, sizeof val);
		sha256_update(h, xs[i], strlen(xs[i]) + 1);
		if (vl > 0)
			sha256_update(h, val, (size_t)vl);
	}
	if (S_ISREG(st.st_mode)) {
		static char buf[1 << 16];
		ssize_t n;
		while ((n = read(fd, buf, sizeof buf)) > 0)
			sha256_update(h, buf, (size_t)n);
		close(fd);
		return;
	}
	if (!S_ISDIR(st.st_mode)) {
		close(fd);
		return;
	}
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	char **kids = NULL;
	struct dirent *de;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			strv_push(&kids, de->d_name);
	if (kids)
		strv_sort(kids);
	for (size_t i = 0; kids && kids[i]; i++) {
		cleanup_free char *sub = xasprintf("%s/%s", path, kids[i]);
		hash_tree(dirfd(d), kids[i], sub, h);
	}
	strv_free(kids);
	closedir(d);
}

static void tree_digest(const char *path, char out[DIGEST_LEN])
{
	struct sha256 h;
	sha256_init(&h);
	hash_tree(AT_FDCWD, path, ".", &h);
	sha256_final(&h, out);
}

/* Unpacks blob beside the tree of diff_id and compares; 1 when they differ, 0 when
 * they match, <0 when the blob cannot be unpacked. */
static int compare_tree(struct store *s, const char *diff_id, const char *blob,
			struct cairn_error *err)
{
	cleanup_free char *tree = NULL;
	int r = store_layer_dir(s, diff_id, &tree, err);
	if (r < 0)
		return r;
	cleanup_free char *tmp = NULL;
	if ((r = store_mkdtemp(s, "fsck-", &tmp, err)) < 0)
		return r;
	cleanup_close int dfd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cleanup_close int bfd = -1;
	struct layer_extract_opts xo = {
	    .overlay_whiteouts = true, .uid = -1, .gid = -1, .diff_id = diff_id};
	if (dfd < 0)
		r = cairn_error_errno(err, errno, "opening %s", tmp);
	else if ((r = store_open_blob(s, blob, &bfd, err)) == 0)
		r = layer_extract(bfd, dfd, &xo, blob, err);
	if (r == 0) {
		char a[DIGEST_LEN], b[DIGEST_LEN];
		tree_digest(tree, a);
		tree_digest(tmp, b);
		r = strcmp(a, b) != 0;
	}
	util_rm_rf(AT_FDCWD, tmp, NULL);
	return r;
}

int cmd_fsck(int argc, char **argv, const struct cmd_env *env)
{
	enum { OPT_FULL = 0x100, OPT_REPAIR };
	static const struct option longopts[] = {
	    {"full", no_argument, NULL, OPT_FULL},
	    {"repair", no_argument, NULL, OPT_REPAIR},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct store_fsck_opts o = {0};
	bool full = false;
	int c;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (c == 'h') {
			fputs(usage, stdout);
			return 0;
		} else if (c == OPT_FULL) {
			full = true;
		} else if (c == OPT_REPAIR) {
			o.repair = true;
		} else {
			return cmd_usage_error(usage);
		}
	}
	if (optind != argc)
		return cmd_usage_error(usage);
	struct cairn_error err = CAIRN_ERROR_INIT;
	cleanup_store struct store *s = NULL;
	if (store_open(env->root, &s, &err) < 0)
		return cmd_fail(&err);
	struct store_fsck_result res;
	if (store_fsck(s, &o, &res, &err) < 0)
		return cmd_fail(&err);
	size_t left = 0;
	for (size_t i = 0; i < res.n; i++) {
		const struct store_problem *p = &res.problems[i];
		printf("%s: %s\n  %s: %s\n", p->name, p->what, p->repaired ? "repaired" : "fix",
		       p->repaired ? "removed" : p->fix);
		left += !p->repaired;
	}
	for (size_t i = 0; full && i < res.n_trees; i++) {
		const char *id = res.trees[2 * i], *blob = res.trees[2 * i + 1];
		int r = compare_tree(s, id, blob, &err);
		if (r == 0)
			continue;
		if (r < 0) {
			cleanup_free char *msg = cairn_error_format(&err);
			cairn_error_clear(&err);
			printf("unpacked layer %s: its blob %s cannot be unpacked: %s\n  fix: pull "
			       "or build the images that hold it again\n",
			       id, blob, msg);
			left++;
			continue;
		}
		bool fixed = false;
		if (o.repair) {
			cleanup_free char *path = NULL;
			fixed = store_layer_dir_drop(s, id, &err) == 0 &&
				layer_tree(s, id, blob, &path, &err) == 0;
			if (!fixed) {
				cmd_fail(&err);
			}
		}
		printf("unpacked layer %s: differs from its blob %s\n  %s\n", id, blob,
		       fixed ? "repaired: unpacked again"
			     : "fix: cairn fsck --full --repair unpacks it again");
		left += !fixed;
	}
	printf("%zu blobs, %zu unpacked layers checked%s: %s\n", res.n_blobs, res.n_trees,
	       full ? " (trees against their blobs)" : "", left ? "problems remain" : "clean");
	store_fsck_result_release(&res);
	return left ? 1 : 0;
}
