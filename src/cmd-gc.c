/* cairn gc: taking back the space nothing holds; what gc and prune share; and the
 * collection a build runs when it ends and the build cache is over its budget. */
#include "commands.h"
#include "container/container.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

/* seconds between two measures of the whole build cache after builds whose quick
 * estimate is within the budget */
#define CMD_GC_CENSUS_EVERY 3600

static const char gc_usage[] =
    "usage: cairn gc [-n] [-q]\n"
    "\n"
    "Removes what nothing holds: blobs and unpacked layers that no tag, build-cache\n"
    "record, container or running cairn reaches, and what killed processes left\n"
    "behind. Prints what it removed and the space it freed.\n"
    "\n"
    "  -n, --dry-run   print what would be removed, remove nothing\n"
    "  -q, --quiet     print only the total\n"
    "  -h, --help      this help\n";

/* The images of the containers: gc keeps them (store_roots). */
static int container_roots(void *ctx, char ***digests, struct cairn_error *err)
{
	struct store *s = ctx;
	struct container *c = NULL;
	size_t n = 0;
	int r = container_list(s, &c, &n, err);
	if (r < 0)
		return cairn_error_wrap(err, "listing the containers the gc keeps");
	for (size_t i = 0; i < n; i++)
		if (digest_valid(c[i].cfg.image_digest))
			strv_push(digests, c[i].cfg.image_digest);
	containers_free(c, n);
	return 0;
}

struct store_roots cmd_store_roots(struct store *s)
{
	return (struct store_roots){.get = container_roots, .ctx = s};
}

const char *cmd_store_item_kind(enum store_item_kind k)
{
	switch (k) {
	case STORE_ITEM_BLOB:
		return "blob";
	case STORE_ITEM_TREE:
		return "layer tree";
	case STORE_ITEM_RECORD:
		return "cache record";
	case STORE_ITEM_MOUNT:
		return "cache mount";
	case STORE_ITEM_CONTEXT:
		return "stat cache";
	case STORE_ITEM_LEFTOVER:
		return "leftover";
	}
	return "?";
}

/* What a collection took: a line each (unless quiet), then the totals. */
static void print_report(const struct store_collect_report *rep, bool dry_run, bool quiet,
			 FILE *out)
{
	size_t count[STORE_ITEM_LEFTOVER + 1] = {0};
	uint64_t bytes[STORE_ITEM_LEFTOVER + 1] = {0};
	for (size_t i = 0; i < rep->n; i++) {
		const struct store_item *it = &rep->items[i];
		count[it->kind]++;
		bytes[it->kind] += it->bytes;
		if (quiet)
			continue;
		cleanup_free char *size = util_human_size(it->bytes);
		fprintf(out, "%s %-12s %s %s\n", dry_run ? "would remove" : "removed",
			cmd_store_item_kind(it->kind), it->name, size);
	}
	if (!quiet && rep->n) {
		for (int k = 0; k <= STORE_ITEM_LEFTOVER; k++) {
			if (!count[k])
				continue;
			cleanup_free char *size = util_human_size(bytes[k]);
			fprintf(out, "%zu %s%s, %s\n", count[k], cmd_store_item_kind(k),
				count[k] == 1 ? "" : "s", size);
		}
	}
	cleanup_free char *total = util_human_size(rep->bytes);
	fprintf(out, "Total %s space: %s\n", dry_run ? "reclaimable" : "reclaimed", total);
}

int cmd_gc_collect(const struct cmd_env *env, struct store_collect_opts *o, bool quiet)
{
	struct cairn_error err = CAIRN_ERROR_INIT;
	cleanup_store struct store *s = NULL;
	if (store_open(env->root, &s, &err) < 0)
		return cmd_fail(&err);
	o->roots = cmd_store_roots(s);
	struct store_collect_report rep;
	if (store_collect(s, o, &rep, &err) < 0)
		return cmd_fail(&err);
	print_report(&rep, o->dry_run, quiet, stdout);
	store_collect_report_release(&rep);
	return 0;
}

int cmd_gc(int argc, char **argv, const struct cmd_env *env)
{
	static const struct option longopts[] = {
	    {"dry-run", no_argument, NULL, 'n'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct store_collect_opts o = {0};
	bool quiet = false;
	int c;
	while ((c = getopt_long(argc, argv, "nqh", longopts, NULL)) != -1) {
		if (c == 'h') {
			fputs(gc_usage, stdout);
			return 0;
		} else if (c == 'n') {
			o.dry_run = true;
		} else if (c == 'q') {
			quiet = true;
		} else {
			return cmd_usage_error(gc_usage);
		}
	}
	if (optind != argc)
		return cmd_usage_error(gc_usage);
	return cmd_gc_collect(env, &o, quiet);
}

/* ---- after a build: the budget ---- */

/* The budget of the store's build cache: cairn/config.json's gc.keep-storage (a
 * size, or a percentage of the filesystem), else 10% of the filesystem, as
 * BuildKit's default; 0 with *off when CAIRN_GC=0. */
int cmd_gc_budget(const char *root, uint64_t *budget, bool *off, struct cairn_error *err)
{
	*off = false;
	*budget = 0;
	const char *env = getenv("CAIRN_GC");
	if (env && !strcmp(env, "0")) {
		*off = true;
		return 0;
	}
	cleanup_free char *path = xasprintf("%s/cairn/config.json", root);
	cleanup_free char *text = NULL;
	size_t len = 0;
	struct cairn_error e = CAIRN_ERROR_INIT;
	const char *keep = NULL;
	cleanup_json json_t *cfg = NULL;
	int r = util_read_file(AT_FDCWD, path, &text, &len, &e);
	if (r == -ENOENT) {
		cairn_error_clear(&e);
	} else if (r < 0) {
		cairn_error_move(err, &e);
		return r;
	} else {
		json_error_t je;
		cfg = json_loadb(text, len, 0, &je);
		if (!cfg)
			return cairn_error_set(err, EINVAL, "%s: line %d: %s", path, je.line,
					       je.text);
		json_t *gc = json_object_get(cfg, "gc");
		json_t *k = json_object_get(gc, "keep-storage");
		if ((gc && !json_is_object(gc)) || (k && !json_is_string(k)))
			return cairn_error_set(err, EINVAL,
					       "%s: \"gc\" must be an object and its "
					       "\"keep-storage\" a string (\"10GB\", \"20%%\")",
					       path);
		keep = json_string_value(k);
	}
	uint64_t pct = 10;
	if (keep && *keep && keep[strlen(keep) - 1] == '%') {
		char *end = NULL;
		unsigned long v = strtoul(keep, &end, 10);
		if (end == keep || *end != '%' || end[1] || v > 100)
			return cairn_error_set(err, EINVAL,
					       "%s: gc.keep-storage \"%s\": not a percentage "
					       "(0%% to 100%%)",
					       path, keep);
		pct = v;
	} else if (keep) {
		if (util_parse_size(keep, budget) < 0)
			return cairn_error_set(err, EINVAL,
					       "%s: gc.keep-storage \"%s\": not a size (\"10GB\", "
					       "\"512MB\") or a percentage (\"20%%\")",
					       path, keep);
		return 0;
	}
	struct statvfs fs;
	if (statvfs(root, &fs) < 0)
		return cairn_error_errno(err, errno, "measuring the filesystem of %s", root);
	*budget = (uint64_t)fs.f_blocks * fs.f_frsize / 100 * pct;
	return 0;
}

/* The containers' images and one more digest (the image a build just made). */
struct roots_and_one {
	struct store *s;
	const char *keep;
};

static int roots_and_one(void *ctx, char ***digests, struct cairn_error *err)
{
	struct roots_and_one *r = ctx;
	int rc = container_roots(r->s, digests, err);
	if (rc == 0 && digest_valid(r->keep))
		strv_push(digests, r->keep);
	return rc;
}

void cmd_gc_after_build(struct store *s, uint64_t budget, bool quiet, const char *keep)
{
	struct cairn_error err = CAIRN_ERROR_INIT;
	/* a census reads every record and manifest: only when the quick estimate says
	 * the cache may be over, or (for what the estimate cannot see) an hour after
	 * the last one */
	uint64_t estimate = 0;
	int64_t last = 0;
	store_cache_estimate(s, &estimate, &last);
	if (estimate <= budget && last > (int64_t)time(NULL) - CMD_GC_CENSUS_EVERY)
		return;
	struct store_census c;
	/* measured first (shared lock, builds go on): most builds stop here */
	struct roots_and_one ro = {s, keep};
	struct store_roots roots = {.get = roots_and_one, .ctx = &ro};
	if (store_census(s, &roots, &c, &err) < 0) {
		cmd_fail(&err);
		return;
	}
	uint64_t cache = c.cache_bytes;
	store_census_release(&c);
	if (cache <= budget)
		return;
	struct store_collect_opts o = {
	    .prune = true, .all = true, .keep_storage = budget, .roots = roots};
	struct store_collect_report rep;
	if (store_collect(s, &o, &rep, &err) < 0) {
		cmd_fail(&err);
		return;
	}
	if (!quiet) {
		cleanup_free char *b = util_human_size(budget);
		cleanup_free char *freed = util_human_size(rep.bytes);
		fprintf(stderr,
			"build cache over its budget of %s: pruned %zu entries, freed %s "
			"(cairn df shows the store; CAIRN_GC=0 turns this off)\n",
			b, rep.n, freed);
	}
	store_collect_report_release(&rep);
}
