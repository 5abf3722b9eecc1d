/* Snapshot roots: where no overlay can be mounted (isolation chroot, or a store on a
 * filesystem overlayfs refuses as an upper dir, such as a container's own overlay
 * root), each stage's root filesystem is a real directory made from its layers' blobs
 * once and kept up to date as its steps run. A step's layer is what changed in it:
 * the tree is snapshotted (stat only) before the step and compared after it, as
 * kaniko finds its layers; the layer writer makes the same entries an overlay upper
 * dir would hold, so the same recipe gives the same layers either way. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct layer_write_opts builder_layer_opts(const struct builder *b)
{
	return (struct layer_write_opts){
	    .compression = b->o->compression,
	    .source_date_epoch = b->sde,
	    .timestamp_set = b->o->timestamp_set,
	    .timestamp = b->o->timestamp,
	};
}

int builder_tree_fill(struct builder *b, const struct oci_layer *layers, size_t n, int dirfd,
		      struct cairn_error *err)
{
	for (size_t i = 0; i < n; i++) {
		cleanup_close int blob = -1;
		struct layer_extract_opts xo = {
		    .apply_whiteouts = true, .uid = -1, .gid = -1, .diff_id = layers[i].diff_id};
		int r = store_open_blob(b->s, layers[i].digest, &blob, err);
		if (r == 0)
			r = layer_extract(blob, dirfd, &xo, layers[i].digest, err);
		if (r < 0)
			return r;
	}
	return 0;
}

/* True when the tree holds the first layers of the image, in order. */
static bool tree_is_prefix(const struct stage *st)
{
	size_t k = strv_len(st->tree_layers);
	if (k > st->img.n_layers)
		return false;
	for (size_t i = 0; i < k; i++)
		if (strcmp(st->tree_layers[i], st->img.layers[i].diff_id))
			return false;
	return true;
}

/* Empties the tree: it is to be made again from the layers. */
static int tree_reset(struct stage *st, int dirfd, struct cairn_error *err)
{
	strv_free(st->tree_layers);
	st->tree_layers = xcalloc(1, sizeof(char *));
	return util_rm_contents(dirfd, err);
}

static int tree_update(struct builder *b, struct stage *st, int *dirfd, struct cairn_error *err)
{
	if (!st->tree) {
		int r = store_mkdtemp(b->s, "tree-", &st->tree_tmp, err);
		if (r < 0)
			return r;
		st->tree = xasprintf("%s/root", st->tree_tmp);
		st->tree_layers = xcalloc(1, sizeof(char *));
		if (mkdir(st->tree, 0755) < 0)
			return cairn_error_errno(err, errno, "creating %s", st->tree);
	}
	*dirfd = open(st->tree, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*dirfd < 0)
		return cairn_error_errno(err, errno, "opening %s", st->tree);
	int r = tree_is_prefix(st) ? 0 : tree_reset(st, *dirfd, err);
	size_t k = strv_len(st->tree_layers);
	if (r == 0)
		r = builder_tree_fill(b, st->img.layers + k, st->img.n_layers - k, *dirfd, err);
	if (r < 0) {
		/* half applied: made again next time */
		struct cairn_error e = CAIRN_ERROR_INIT;
		tree_reset(st, *dirfd, &e);
		cairn_error_clear(&e);
		return r;
	}
	for (size_t i = k; i < st->img.n_layers; i++)
		strv_push(&st->tree_layers, st->img.layers[i].diff_id);
	return 0;
}

int builder_tree_mount(struct builder *b, struct stage *st, struct rootfs *rf,
		       struct cairn_error *err)
{
	cleanup_close int dirfd = -1;
	int r = tree_update(b, st, &dirfd, err);
	if (r < 0)
		return r;
	rf->stage = st;
	rf->merged = xstrdup(st->tree);
	return layer_snapshot_take(dirfd, &rf->snap, err);
}

int builder_tree_finish(struct builder *b, struct rootfs *rf, struct step *sp, int r,
			struct cairn_error *err)
{
	struct stage *st = rf->stage;
	cleanup_close int dirfd = open(rf->merged, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (r == 0 && dirfd < 0)
		r = cairn_error_errno(err, errno, "opening %s", rf->merged);
	struct layer_info info = {0};
	if (r == 0) {
		struct layer_write_opts wo = builder_layer_opts(b);
		wo.since = rf->snap;
		/* what the sandbox lent a RUN step; COPY writes them as any file */
		wo.ignore = rf->ran_step ? sandbox_lent_paths() : NULL;
		r = layer_write_dir(b->s, dirfd, &wo, &info, err);
	}
	/* a step that changed nothing still has its (empty) layer, as with an overlay */
	if (r == 0) {
		memcpy(sp->layer.digest, info.digest, DIGEST_LEN);
		memcpy(sp->layer.diff_id, info.diff_id, DIGEST_LEN);
		sp->layer.size = info.size;
		sp->layer.media_type = xstrdup(info.media_type);
		sp->has_layer = true;
		strv_push(&st->tree_layers, info.diff_id);
	}
	if (r < 0 && dirfd >= 0) {
		/* what the step changed is in the tree but in no layer */
		struct cairn_error e = CAIRN_ERROR_INIT;
		tree_reset(st, dirfd, &e);
		cairn_error_clear(&e);
	}
	layer_snapshot_free(rf->snap);
	rf->snap = NULL;
	free(rf->merged);
	rf->merged = NULL;
	rf->stage = NULL;
	return r;
}

void builder_tree_release(struct stage *st)
{
	if (st->tree_tmp)
		util_rm_rf(AT_FDCWD, st->tree_tmp, NULL);
	free(st->tree_tmp);
	free(st->tree);
	strv_free(st->tree_layers);
	st->tree_tmp = NULL;
	st->tree = NULL;
	st->tree_layers = NULL;
}

int builder_squash(struct builder *b, struct stage *st, struct cairn_error *err)
{
	struct oci_image *img = &st->img;
	size_t base = st->n_base_layers > 0 ? (size_t)st->n_base_layers : 0;
	if (img->n_layers <= base + 1)
		return 0; /* nothing, or one layer: already squashed */
	cleanup_free char *tmp = NULL;
	int r = store_mkdtemp(b->s, "squash-", &tmp, err);
	if (r < 0)
		return r;
	cleanup_free char *root = xasprintf("%s/root", tmp);
	struct layer_snapshot *snap = NULL;
	struct layer_info info = {0};
	cleanup_close int dirfd = -1;
	if (mkdir(root, 0755) < 0 || (dirfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		r = cairn_error_errno(err, errno, "creating %s", root);
	/* the base's tree, its snapshot, then the new layers on it: what changed since
	 * is one layer, whiteouts and opaque directories included */
	if (r == 0)
		r = builder_tree_fill(b, img->layers, base, dirfd, err);
	if (r == 0)
		r = layer_snapshot_take(dirfd, &snap, err);
	if (r == 0)
		r = builder_tree_fill(b, img->layers + base, img->n_layers - base, dirfd, err);
	if (r == 0) {
		struct layer_write_opts wo = builder_layer_opts(b);
		wo.since = snap;
		r = layer_write_dir(b->s, dirfd, &wo, &info, err);
	}
	layer_snapshot_free(snap);
	util_rm_rf(AT_FDCWD, tmp, NULL);
	if (r < 0)
		return cairn_error_wrap(err, "--squash");
	for (size_t i = base; i < img->n_layers; i++)
		free(img->layers[i].media_type);
	struct oci_layer *l = &img->layers[base];
	memcpy(l->digest, info.digest, DIGEST_LEN);
	memcpy(l->diff_id, info.diff_id, DIGEST_LEN);
	l->size = info.size;
	l->media_type = xstrdup(info.media_type);
	img->n_layers = base + 1;
	json_t *diff_ids = json_object_get(json_object_get(img->config, "rootfs"), "diff_ids");
	while (json_array_size(diff_ids) > base)
		json_array_remove(diff_ids, json_array_size(diff_ids) - 1);
	json_array_append_new(diff_ids, json_string(info.diff_id));
	/* as docker build --squash: the history stays, and only the last entry that had
	 * a layer has one, the squashed one */
	json_t *history = json_object_get(img->config, "history");
	size_t total = 0, k = 0, i;
	json_t *h;
	json_array_foreach(history, i, h) total += !json_is_true(json_object_get(h, "empty_layer"));
	json_array_foreach(history, i, h)
	{
		if (json_is_true(json_object_get(h, "empty_layer")))
			continue;
		if (k >= base && k + 1 < total)
			json_object_set_new(h, "empty_layer", json_true());
		k++;
	}
	return 0;
}
