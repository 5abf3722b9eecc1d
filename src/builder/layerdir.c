/* A layer's unpacked tree, the lower dir overlay mounts use. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The unpacked tree of a layer: in memory when this build made it, else the store's
 * (layer_tree). */
int builder_layer_dir(struct builder *b, const struct oci_layer *l, char **path,
		      struct cairn_error *err)
{
	for (size_t i = 0; i < b->n_mem_layers; i++)
		if (!strcmp(b->mem_layers[i].diff_id, l->diff_id)) {
			*path = xstrdup(b->mem_layers[i].tree);
			return 0;
		}
	return layer_tree(b->s, l->diff_id, l->digest, path, err);
}
