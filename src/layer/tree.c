/* A layer's unpacked tree in the store, the lower dir overlay mounts use: the builder's
 * steps and cairn run's containers read layers through it. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

int layer_tree(struct store *s, const char *diff_id, const char *digest, char **path,
	       struct cairn_error *err)
{
	struct cairn_error e = CAIRN_ERROR_INIT;
	int r = store_layer_dir(s, diff_id, path, &e);
	if (r != -ENOENT) {
		if (r < 0) {
			cairn_error_move(err, &e);
			return r;
		}
		return 0;
	}
	cairn_error_clear(&e);
	cleanup_free char *tmp = NULL;
	if ((r = store_mkdtemp(s, "unpack-", &tmp, err)) < 0)
		return r;
	cleanup_close int blob = -1;
	cleanup_close int dfd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	/* The tree's root is the / of a read-only view (RUN --mount from=, COPY --from),
	 * and extraction leaves the root's own mode alone: 0755 as docker's, not the temp
	 * dir's 0700. The private cairn/layers keeps other users out. */
	if (dfd >= 0 && fchmod(dfd, 0755) < 0)
		r = cairn_error_errno(err, errno, "unpacking layer %s into %s", diff_id, tmp);
	/* the tree is kept under the diff_id: it must be what the diff_id names */
	struct layer_extract_opts xo = {
	    .overlay_whiteouts = true, .uid = -1, .gid = -1, .diff_id = diff_id};
	if (dfd < 0)
		r = cairn_error_errno(err, errno, "opening %s", tmp);
	else if (r == 0 && (r = store_open_blob(s, digest, &blob, err)) == 0)
		r = layer_extract(blob, dfd, &xo, digest, err);
	if (r == 0)
		r = store_layer_dir_adopt(s, diff_id, tmp, err);
	if (r < 0) {
		util_rm_rf(AT_FDCWD, tmp, NULL);
		return r;
	}
	return store_layer_dir(s, diff_id, path, err);
}
