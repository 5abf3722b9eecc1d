/* diff: layers merged into a filesystem (whiteouts, opaque directories, a file
 * over a directory, names that sort between a directory and its children), entry
 * lists compared (fields, one-sided entries, order), and values shortened for the
 * table. Whole images are compared by tests/integration/t0405-diff.sh. */
#include "diff/internal.h"
#include "tap.h"

#include <archive_entry.h>

static void add(struct diff_entries *e, const char *key, mode_t type, long layer)
{
	if (e->n == e->alloc) {
		e->alloc = e->alloc ? e->alloc * 2 : 16;
		e->v = xrealloc(e->v, e->alloc * sizeof *e->v);
	}
	struct diff_entry *d = &e->v[e->n];
	memset(d, 0, sizeof *d);
	d->name = xstrdup(key);
	d->key = xstrdup(key);
	d->type = type;
	d->mode = type == AE_IFDIR ? 0755 : 0644;
	d->layer = layer;
	d->pos = e->n++;
}

/* The keys of a view, space-separated. */
static char *keys(const struct diff_entries *e)
{
	struct strbuf sb = STRBUF_INIT;
	for (size_t i = 0; i < e->n; i++)
		strbuf_addf(&sb, "%s%s@%ld", i ? " " : "", e->v[i].key, e->v[i].layer);
	return strbuf_detach(&sb);
}

static void test_merge(void)
{
	struct diff_entries l[3] = {{0}};
	add(&l[0], "/d", AE_IFDIR, 0);
	add(&l[0], "/d/x", AE_IFREG, 0);
	add(&l[0], "/d/y", AE_IFREG, 0);
	add(&l[0], "/d-z", AE_IFREG, 0); /* sorts between /d and /d/ */
	add(&l[0], "/e", AE_IFDIR, 0);
	add(&l[0], "/e/in", AE_IFREG, 0);
	add(&l[0], "/o", AE_IFDIR, 0);
	add(&l[0], "/o/old", AE_IFREG, 0);
	add(&l[0], "/gone", AE_IFDIR, 0);
	add(&l[0], "/gone/deep", AE_IFREG, 0);
	add(&l[1], "/d/.wh.x", AE_IFREG, 1);
	add(&l[1], "/e", AE_IFREG, 1); /* a file where a directory was */
	add(&l[1], "/o/.wh..wh..opq", AE_IFREG, 1);
	add(&l[1], "/o/new", AE_IFREG, 1);
	add(&l[1], "/.wh.gone", AE_IFREG, 1);
	add(&l[2], "/d/y", AE_IFREG, 2);
	add(&l[2], "/d/.wh..wh..aufs", AE_IFREG, 2);
	struct diff_entries m = {0};
	diff_merge_layers(l, 3, &m);
	cleanup_free char *got = keys(&m);
	is_str(got, "/d@0 /d-z@0 /d/y@2 /e@1 /o@0 /o/new@1",
	       "merged: whiteouts, opaque dirs and a file over a directory applied, later wins");
	diff_entries_release(&m);

	struct diff_entries r[2] = {{0}};
	add(&r[0], "/", AE_IFDIR, 0);
	add(&r[0], "/a", AE_IFREG, 0);
	add(&r[1], "/.wh..wh..opq", AE_IFREG, 1);
	add(&r[1], "/b", AE_IFREG, 1);
	diff_merge_layers(r, 2, &m);
	cleanup_free char *got2 = keys(&m);
	is_str(got2, "/@0 /b@1", "an opaque root keeps the root and empties the rest below it");
	diff_entries_release(&m);
}

static int record(void *ctx, const struct diff_item *it)
{
	strbuf_addf(ctx, "%s|%s|%s|%s|%ld\n", it->type, it->name, it->a ? it->a : "-",
		    it->b ? it->b : "-", it->layer);
	return 0;
}

static void test_compare(void)
{
	struct diff_opts o = {0};
	struct cairn_error err = CAIRN_ERROR_INIT;
	struct strbuf out = STRBUF_INIT;
	struct differ d = {.o = &o, .report = record, .ctx = &out, .err = &err};
	struct diff_entries a = {0}, b = {0};
	add(&a, "x", AE_IFREG, 0);
	add(&a, "y", AE_IFREG, 0);
	add(&a, "z", AE_IFREG, 0);
	add(&b, "y", AE_IFREG, 0);
	add(&b, "x", AE_IFREG, 0);
	add(&b, "w", AE_IFDIR, 0);
	b.v[1].mode = 0600;
	b.v[0].mtime = 5;
	diff_entries_sort(&a);
	diff_entries_sort(&b);
	is_int(diff_compare_entries(&d, &a, &b, false, NULL, NULL), 0, "compare returns 0");
	is_str(strbuf_str(&out),
	       "file|w|-|dir|0\n"
	       "file|x mode|0644|0600|0\n"
	       "file|y mtime|1970-01-01T00:00:00Z|1970-01-01T00:00:05Z|0\n"
	       "file|z|file|-|0\n"
	       "file|x order|1|2|0\n",
	       "each field, each one-sided entry, then the first entry out of place");
	is_int(d.count, 5, "five differences counted");

	strbuf_reset(&out);
	d.count = 0;
	d.suppressed = 0;
	o.ignore_file_order = true;
	o.ignore_file_timestamps = true;
	diff_compare_entries(&d, &a, &b, false, NULL, NULL);
	is_str(strbuf_str(&out), "file|w|-|dir|0\nfile|x mode|0644|0600|0\nfile|z|file|-|0\n",
	       "the ignores leave out order and mtime");
	is_int(d.suppressed, 2, "and count what they left out");
	diff_entries_release(&a);
	diff_entries_release(&b);
	strbuf_release(&out);
	cairn_error_clear(&err);
}

static void test_shown(void)
{
	cleanup_free char *absent = diff_value_shown(NULL, 40);
	is_str(absent, "-", "absent is -");
	cleanup_free char *ctl = diff_value_shown("a\nb\tc\x01", 40);
	is_str(ctl, "a\\nb\\tc\\x01", "control characters escaped");
	cleanup_free char *dg = diff_value_shown(
	    "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", 40);
	is_str(dg, "sha256:0123456789ab", "a digest keeps its first 12 hex digits");
	cleanup_free char *mt = diff_value_shown("application/vnd.oci.image.layer.v1.tar+zstd", 40);
	is_str(mt, "application/vnd.oc...e.layer.v1.tar+zstd", "long values lose their middle");
	is_int(strlen(mt), 40, "to the width");
	cleanup_free char *utf = diff_value_shown("ééééééééééééééééééééééééé", 10);
	diag("shortened: %s", utf);
	ok(util_utf8_len((const unsigned char *)utf) == 2 && strstr(utf, "...") &&
	       util_utf8_len((const unsigned char *)strstr(utf, "...") + 3),
	   "a cut never splits a UTF-8 character (%s)", utf);
}

static void test_semantic(void)
{
	struct diff_opts o = {0};
	diff_opts_semantic(&o);
	ok(o.ignore_timestamps && o.ignore_history && o.ignore_file_order &&
	       o.ignore_file_timestamps && o.ignore_image_name && o.ignore_tar_format &&
	       o.ignore_file_mode_redundant_bits && o.treat_canonical_paths_equal,
	   "--semantic sets every ignore");
}

int main(void)
{
	test_merge();
	test_compare();
	test_shown();
	test_semantic();
	return done_testing();
}
