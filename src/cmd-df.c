/* cairn df: the space the store uses, as docker system df. */
#include "commands.h"
#include "container/container.h"

#include <fcntl.h>
#include <getopt.h>
#include <string.h>

static const char usage[] =
    "usage: cairn df [-v] [--json]\n"
    "\n"
    "Shows the disk space the store uses, as docker system df: images, build cache,\n"
    "containers and volumes, each with how much of it is reclaimable, and how much of\n"
    "the images' layers they share.\n"
    "\n"
    "  -v, --verbose   a line for each image, layer, cache entry, container and volume\n"
    "      --json      everything -v shows, as JSON\n"
    "  -h, --help      this help\n";

/* One image: a distinct manifest digest, with its tags. */
struct df_image {
	const char *digest;
	char **refs;
	size_t *items, n_items;
	uint64_t size, shared, unique;
	unsigned containers;
};

struct df {
	struct store_census c;
	struct df_image *img;
	size_t n_img;
	unsigned *owners; /* per item: how many distinct images reach it */
	struct container *ct;
	size_t n_ct;
	uint64_t *ct_size;
	struct container_volume *vol;
	size_t n_vol;
	uint64_t *vol_size;
};

static void df_release(struct df *d)
{
	for (size_t i = 0; i < d->n_img; i++)
		strv_free(d->img[i].refs);
	free(d->img);
	free(d->owners);
	store_census_release(&d->c);
	containers_free(d->ct, d->n_ct);
	free(d->ct_size);
	container_volumes_free(d->vol, d->n_vol);
	free(d->vol_size);
}

static int df_gather(struct store *s, struct df *d, struct cairn_error *err)
{
	struct store_roots roots = cmd_store_roots(s);
	int r = store_census(s, &roots, &d->c, err);
	if (r < 0)
		return r;
	if ((r = container_list(s, &d->ct, &d->n_ct, err)) < 0 ||
	    (r = container_volume_list(s, &d->vol, &d->n_vol, err)) < 0)
		return r;
	d->img = xcalloc(d->c.n_images + 1, sizeof *d->img);
	d->owners = xcalloc(d->c.n + 1, sizeof *d->owners);
	/* images by manifest digest: two tags of one image are one image */
	for (size_t i = 0; i < d->c.n_images; i++) {
		const struct store_census_image *ci = &d->c.images[i];
		if (!ci->ref)
			continue; /* a referrer, or a container's root */
		struct df_image *im = NULL;
		for (size_t j = 0; j < d->n_img && !im; j++)
			if (!strcmp(d->img[j].digest, ci->digest))
				im = &d->img[j];
		if (!im) {
			im = &d->img[d->n_img++];
			im->digest = ci->digest;
			im->items = ci->items;
			im->n_items = ci->n_items;
			for (size_t k = 0; k < ci->n_items; k++)
				d->owners[ci->items[k]]++;
		}
		strv_push(&im->refs, ci->ref);
	}
	for (size_t j = 0; j < d->n_img; j++) {
		struct df_image *im = &d->img[j];
		for (size_t k = 0; k < im->n_items; k++) {
			uint64_t b = d->c.items[im->items[k]].bytes;
			im->size += b;
			*(d->owners[im->items[k]] > 1 ? &im->shared : &im->unique) += b;
		}
		for (size_t k = 0; k < d->n_ct; k++)
			if (!strcmp(d->ct[k].cfg.image_digest, im->digest))
				im->containers++;
	}
	d->ct_size = xcalloc(d->n_ct + 1, sizeof *d->ct_size);
	for (size_t k = 0; k < d->n_ct; k++)
		d->ct_size[k] = util_disk_usage(AT_FDCWD, d->ct[k].dir);
	d->vol_size = xcalloc(d->n_vol + 1, sizeof *d->vol_size);
	for (size_t k = 0; k < d->n_vol; k++)
		d->vol_size[k] = util_disk_usage(AT_FDCWD, d->vol[k].path);
	return 0;
}

struct df_row {
	const char *type;
	size_t total, active;
	uint64_t size, reclaimable;
};

static void df_rows(const struct df *d, struct df_row rows[4], uint64_t *garbage, size_t *n_garbage)
{
	rows[0] = (struct df_row){.type = "Images", .total = d->n_img};
	for (size_t j = 0; j < d->n_img; j++) {
		rows[0].active += d->img[j].containers > 0;
		if (!d->img[j].containers)
			rows[0].reclaimable += d->img[j].unique;
	}
	rows[1] = (struct df_row){.type = "Build Cache"};
	*garbage = 0;
	*n_garbage = 0;
	for (size_t i = 0; i < d->c.n; i++) {
		const struct store_item *it = &d->c.items[i];
		if (it->held)
			rows[0].size += it->bytes;
		if (it->kind == STORE_ITEM_RECORD || it->kind == STORE_ITEM_MOUNT ||
		    it->kind == STORE_ITEM_CONTEXT) {
			rows[1].total++;
			rows[1].active += it->busy;
		}
		if (it->cache) {
			rows[1].size += it->bytes;
			if (!it->busy && !it->leased)
				rows[1].reclaimable += it->bytes;
		}
		if (!it->held && !it->cache && !it->leased) {
			*garbage += it->bytes;
			(*n_garbage)++;
		}
	}
	rows[2] = (struct df_row){.type = "Containers", .total = d->n_ct};
	for (size_t k = 0; k < d->n_ct; k++) {
		bool running = d->ct[k].status == CONTAINER_RUNNING;
		rows[2].active += running;
		rows[2].size += d->ct_size[k];
		if (!running)
			rows[2].reclaimable += d->ct_size[k];
	}
	rows[3] = (struct df_row){.type = "Local Volumes", .total = d->n_vol};
	for (size_t k = 0; k < d->n_vol; k++) {
		bool used = d->vol[k].users && d->vol[k].users[0];
		rows[3].active += used;
		rows[3].size += d->vol_size[k];
		if (!used)
			rows[3].reclaimable += d->vol_size[k];
	}
}

static const char *short_digest(const char *d)
{
	static char buf[13];
	snprintf(buf, sizeof buf, "%s", digest_valid(d) ? digest_hex(d) : d);
	return buf;
}

/* The images' layers: how many two or more images share and how many one image
 * alone has, and their sizes. A layer is a blob that is no document: counted by its
 * blob, sized with its unpacked tree. */
static void df_layers(const struct df *d, size_t *n_shared, size_t *n_unique, uint64_t *shared,
		      uint64_t *unique)
{
	*n_shared = *n_unique = 0;
	*shared = *unique = 0;
	for (size_t i = 0; i < d->c.n; i++) {
		const struct store_item *it = &d->c.items[i];
		if (!d->owners[i] || (it->kind == STORE_ITEM_BLOB && it->document) ||
		    (it->kind != STORE_ITEM_BLOB && it->kind != STORE_ITEM_TREE))
			continue;
		if (it->kind == STORE_ITEM_BLOB)
			*(d->owners[i] > 1 ? n_shared : n_unique) += 1;
		*(d->owners[i] > 1 ? shared : unique) += it->bytes;
	}
}

static void print_table(const struct df *d, bool verbose)
{
	struct df_row rows[4];
	uint64_t garbage;
	size_t n_garbage;
	df_rows(d, rows, &garbage, &n_garbage);
	printf("%-15s %-7s %-7s %-10s %s\n", "TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE");
	for (int i = 0; i < 4; i++) {
		cleanup_free char *size = util_human_size(rows[i].size);
		cleanup_free char *rec = util_human_size(rows[i].reclaimable);
		unsigned pct =
		    rows[i].size ? (unsigned)(rows[i].reclaimable * 100 / rows[i].size) : 0;
		printf("%-15s %-7zu %-7zu %-10s %s (%u%%)\n", rows[i].type, rows[i].total,
		       rows[i].active, size, rec, pct);
	}
	size_t n_shared, n_unique;
	uint64_t shared, unique;
	df_layers(d, &n_shared, &n_unique, &shared, &unique);
	cleanup_free char *sh = util_human_size(shared);
	cleanup_free char *un = util_human_size(unique);
	printf("\nLayers: %zu shared by several images (%s), %zu in one "
	       "image only (%s); sizes with the unpacked trees\n",
	       n_shared, sh, n_unique, un);
	if (n_garbage) {
		cleanup_free char *g = util_human_size(garbage);
		printf("Garbage: %zu items nothing holds, %s (cairn gc removes them)\n", n_garbage,
		       g);
	}
	if (!verbose)
		return;
	printf("\nImages:\n%-40s %-12s %-10s %-10s %-10s %s\n", "REFERENCE", "DIGEST", "SIZE",
	       "SHARED", "UNIQUE", "CONTAINERS");
	for (size_t j = 0; j < d->n_img; j++) {
		const struct df_image *im = &d->img[j];
		cleanup_free char *size = util_human_size(im->size);
		cleanup_free char *sh2 = util_human_size(im->shared);
		cleanup_free char *un2 = util_human_size(im->unique);
		for (size_t k = 0; im->refs[k]; k++)
			printf("%-40s %-12s %-10s %-10s %-10s %u\n", im->refs[k],
			       short_digest(im->digest), size, sh2, un2, im->containers);
	}
	printf("\nLayers:\n%-12s %-10s %s\n", "DIFF ID", "SIZE", "IMAGES");
	for (size_t i = 0; i < d->c.n; i++) {
		const struct store_item *it = &d->c.items[i];
		if (it->kind != STORE_ITEM_TREE)
			continue;
		cleanup_free char *size = util_human_size(it->bytes);
		printf("%-12s %-10s %u%s\n", short_digest(it->name), size, d->owners[i],
		       it->cache ? " (build cache)" : "");
	}
	printf("\nBuild cache:\n%-12s %-13s %-10s %-21s %s\n", "ID", "KIND", "SIZE", "LAST USED",
	       "IN USE");
	for (size_t i = 0; i < d->c.n; i++) {
		const struct store_item *it = &d->c.items[i];
		if (it->kind != STORE_ITEM_RECORD && it->kind != STORE_ITEM_MOUNT &&
		    it->kind != STORE_ITEM_CONTEXT)
			continue;
		cleanup_free char *size = util_human_size(it->bytes);
		cleanup_free char *used = util_rfc3339(it->used);
		printf("%-12s %-13s %-10s %-21s %s\n", short_digest(it->name),
		       cmd_store_item_kind(it->kind), size, used, it->busy ? "yes" : "no");
	}
	printf("\nContainers:\n%-16s %-30s %-10s %s\n", "NAME", "IMAGE", "SIZE", "STATUS");
	for (size_t k = 0; k < d->n_ct; k++) {
		cleanup_free char *size = util_human_size(d->ct_size[k]);
		printf("%-16s %-30s %-10s %s\n", d->ct[k].name, d->ct[k].cfg.image, size,
		       container_status_name(d->ct[k].status));
	}
	printf("\nVolumes:\n%-30s %-6s %s\n", "NAME", "LINKS", "SIZE");
	for (size_t k = 0; k < d->n_vol; k++) {
		cleanup_free char *size = util_human_size(d->vol_size[k]);
		size_t links = 0;
		while (d->vol[k].users && d->vol[k].users[links])
			links++;
		printf("%-30s %-6zu %s\n", d->vol[k].name, links, size);
	}
}

static json_t *row_json(const struct df_row *r)
{
	return json_pack("{s:s, s:I, s:I, s:I, s:I}", "type", r->type, "total",
			 (json_int_t)r->total, "active", (json_int_t)r->active, "size",
			 (json_int_t)r->size, "reclaimable", (json_int_t)r->reclaimable);
}

static void print_json(const struct df *d)
{
	struct df_row rows[4];
	uint64_t garbage;
	size_t n_garbage;
	df_rows(d, rows, &garbage, &n_garbage);
	cleanup_json json_t *out = json_object();
	json_t *summary = json_array();
	for (int i = 0; i < 4; i++)
		json_array_append_new(summary, row_json(&rows[i]));
	json_object_set_new(out, "summary", summary);
	size_t n_shared, n_unique;
	uint64_t shared, unique;
	df_layers(d, &n_shared, &n_unique, &shared, &unique);
	json_object_set_new(out, "layer_summary",
			    json_pack("{s:I, s:I, s:I, s:I}", "shared", (json_int_t)n_shared,
				      "shared_size", (json_int_t)shared, "unique",
				      (json_int_t)n_unique, "unique_size", (json_int_t)unique));
	json_object_set_new(
	    out, "garbage",
	    json_pack("{s:I, s:I}", "count", (json_int_t)n_garbage, "size", (json_int_t)garbage));
	json_t *images = json_array();
	for (size_t j = 0; j < d->n_img; j++) {
		const struct df_image *im = &d->img[j];
		json_array_append_new(
		    images,
		    json_pack("{s:s, s:o, s:I, s:I, s:I, s:I}", "digest", im->digest, "refs",
			      util_strv_to_json(im->refs), "size", (json_int_t)im->size, "shared",
			      (json_int_t)im->shared, "unique", (json_int_t)im->unique,
			      "containers", (json_int_t)im->containers));
	}
	json_object_set_new(out, "images", images);
	json_t *layers = json_array(), *cache = json_array();
	for (size_t i = 0; i < d->c.n; i++) {
		const struct store_item *it = &d->c.items[i];
		if (it->kind == STORE_ITEM_TREE)
			json_array_append_new(
			    layers, json_pack("{s:s, s:I, s:I, s:b}", "diff_id", it->name, "size",
					      (json_int_t)it->bytes, "images",
					      (json_int_t)d->owners[i], "build_cache", it->cache));
		if (it->kind == STORE_ITEM_RECORD || it->kind == STORE_ITEM_MOUNT ||
		    it->kind == STORE_ITEM_CONTEXT) {
			cleanup_free char *used = util_rfc3339(it->used);
			json_array_append_new(cache,
					      json_pack("{s:s, s:s, s:I, s:s, s:b}", "id", it->name,
							"kind", cmd_store_item_kind(it->kind),
							"size", (json_int_t)it->bytes, "last_used",
							used, "in_use", it->busy));
		}
	}
	json_object_set_new(out, "layers", layers);
	json_object_set_new(out, "build_cache", cache);
	json_t *cts = json_array();
	for (size_t k = 0; k < d->n_ct; k++)
		json_array_append_new(cts,
				      json_pack("{s:s, s:s, s:s, s:I, s:s}", "id", d->ct[k].id,
						"name", d->ct[k].name, "image", d->ct[k].cfg.image,
						"size", (json_int_t)d->ct_size[k], "status",
						container_status_name(d->ct[k].status)));
	json_object_set_new(out, "containers", cts);
	json_t *vols = json_array();
	for (size_t k = 0; k < d->n_vol; k++)
		json_array_append_new(vols, json_pack("{s:s, s:I, s:o}", "name", d->vol[k].name,
						      "size", (json_int_t)d->vol_size[k], "used_by",
						      util_strv_to_json(d->vol[k].users)));
	json_object_set_new(out, "volumes", vols);
	cleanup_free char *text = json_dumps(out, JSON_INDENT(2));
	puts(text);
}

int cmd_df(int argc, char **argv, const struct cmd_env *env)
{
	enum { OPT_JSON = 0x100 };
	static const struct option longopts[] = {
	    {"verbose", no_argument, NULL, 'v'},
	    {"json", no_argument, NULL, OPT_JSON},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	bool verbose = false, as_json = false;
	int c;
	while ((c = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
		if (c == 'h') {
			fputs(usage, stdout);
			return 0;
		} else if (c == 'v') {
			verbose = true;
		} else if (c == OPT_JSON) {
			as_json = true;
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
	struct df d = {0};
	if (df_gather(s, &d, &err) < 0) {
		df_release(&d);
		return cmd_fail(&err);
	}
	if (as_json)
		print_json(&d);
	else
		print_table(&d, verbose);
	df_release(&d);
	return 0;
}
