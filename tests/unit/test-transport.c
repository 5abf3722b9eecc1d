/* transport: specs read as skopeo reads them; a layout opened in place, chosen by ref
 * name or position; an index resolved by platform; an image copied between stores,
 * checked; temporary stores that leave nothing behind, on error too; and the writers,
 * whose archives the readers read back with the same digests and names. */
#include "oci/oci.h"
#include "transport/transport.h"
#include "tap.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static void parse_ok(const char *spec, enum transport_kind want, const char *rest)
{
	struct cairn_error err = CAIRN_ERROR_INIT;
	enum transport_kind kind = TRANSPORT_STORE;
	const char *got = NULL;
	int r = transport_parse(spec, &kind, &got, &err);
	ok(r == 0 && kind == want, "%s: kind %d", spec, (int)want);
	is_str(r == 0 ? got : err.msg, rest, "%s: the rest", spec);
	cairn_error_clear(&err);
}

static void parse_bad(const char *spec, const char *says)
{
	struct cairn_error err = CAIRN_ERROR_INIT;
	enum transport_kind kind;
	const char *rest;
	int r = transport_parse(spec, &kind, &rest, &err);
	ok(r == -EINVAL && err.kind == CAIRN_ERR_INVALID && err.msg && strstr(err.msg, says),
	   "%s is refused: %s", spec, err.msg ? err.msg : "(no message)");
	cairn_error_clear(&err);
}

/* An image of one layer in s, tagged ref; its manifest digest in out. */
static void put_image(struct store *s, const char *ref, const char *layer_text,
		      char out[DIGEST_LEN])
{
	struct cairn_error err = CAIRN_ERROR_INIT;
	char layer[DIGEST_LEN], config[DIGEST_LEN];
	store_put_blob(s, layer_text, strlen(layer_text), layer, &err);
	char *cfg = xasprintf("{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":"
			      "\"layers\",\"diff_ids\":[\"%s\"]}}",
			      layer);
	store_put_blob(s, cfg, strlen(cfg), config, &err);
	char *m =
	    xasprintf("{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":{\"mediaType\":"
		      "\"%s\",\"digest\":\"%s\",\"size\":%zu},\"layers\":[{\"mediaType\":\"%s\","
		      "\"digest\":\"%s\",\"size\":%zu}]}",
		      MEDIA_TYPE_OCI_MANIFEST, MEDIA_TYPE_OCI_CONFIG, config, strlen(cfg),
		      MEDIA_TYPE_OCI_LAYER, layer, strlen(layer_text));
	store_put_blob(s, m, strlen(m), out, &err);
	struct store_tag t = {.ref = (char *)ref,
			      .digest = out,
			      .media_type = MEDIA_TYPE_OCI_MANIFEST,
			      .size = (int64_t)strlen(m)};
	store_tag_set(s, &t, &err);
	ok(err.msg == NULL, "image %s written", ref);
	cairn_error_clear(&err);
	free(cfg);
	free(m);
}

static bool dir_is_empty(const char *path)
{
	DIR *d = opendir(path);
	if (!d)
		return false;
	struct dirent *de;
	int n = 0;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n == 0;
}

/* The config digest of the image digest of s. */
static char *config_of(struct store *s, const char *digest)
{
	struct cairn_error err = CAIRN_ERROR_INIT;
	json_t *doc = NULL;
	char *out = NULL;
	if (oci_read_json(s, digest, "manifest", &doc, NULL, NULL, &err) == 0)
		out = xstrdup(
		    json_string_value(json_object_get(json_object_get(doc, "config"), "digest")));
	json_decref(doc);
	cairn_error_clear(&err);
	return out;
}

/* What the writers write, the readers read back: names, count, digests. */
static void test_writers(const char *dir, struct store *s, const char *a, const char *b)
{
	struct cairn_error err = CAIRN_ERROR_INIT;
	char *const names_a[] = {"a:1", "a:2", NULL};
	char *const names_b[] = {"localhost:5000/b:1", NULL};
	char *by_digest = xasprintf("a@%s", a);
	char *const names_c[] = {by_digest, NULL};
	struct transport_out two[] = {{.digest = a, .names = names_a},
				      {.digest = b, .names = names_b}};
	char *oci = xasprintf("%s/w.oci", dir), *oci2 = xasprintf("%s/w2.oci", dir);
	char *docker = xasprintf("%s/w.docker", dir);
	char *docker2 = xasprintf("%s/w2.docker", dir);

	int r = transport_write_archive(s, TRANSPORT_FORMAT_OCI, two, 2, oci, &err);
	ok(r == 0, "an oci-archive of two images is written: %s", err.msg ? err.msg : "yes");
	cairn_error_clear(&err);
	enum transport_kind kind = TRANSPORT_STORE;
	r = transport_archive_detect(oci, &kind, &err);
	ok(r == 0 && kind == TRANSPORT_OCI_ARCHIVE, "it is found to be an oci-archive");
	cairn_error_clear(&err);
	char *spec = xasprintf("oci-archive:%s:a:2", oci);
	struct transport_image img;
	r = transport_open(NULL, spec, NULL, &img, &err);
	is_str(r == 0 ? img.digest : err.msg, a,
	       "oci-archive: by a name it wrote, the same digest");
	is_str(r == 0 && img.tags ? img.tags[0] : NULL, "a:2", "and that name");
	is_int(r == 0 ? (long)img.count : -1, 3, "three entries: one per name");
	transport_image_release(&img);
	cairn_error_clear(&err);
	free(spec);
	r = transport_write_archive(s, TRANSPORT_FORMAT_OCI, two, 2, oci2, &err);
	char *c1 = NULL, *c2 = NULL;
	size_t l1 = 0, l2 = 0;
	util_read_file(AT_FDCWD, oci, &c1, &l1, &err);
	util_read_file(AT_FDCWD, oci2, &c2, &l2, &err);
	ok(r == 0 && c1 && c2 && l1 == l2 && !memcmp(c1, c2, l1),
	   "the same images give the same archive, byte for byte");
	cairn_error_clear(&err);
	free(c1);
	free(c2);

	r = transport_write_archive(s, TRANSPORT_FORMAT_DOCKER, two, 2, docker, &err);
	ok(r == 0, "a docker archive of two images is written: %s", err.msg ? err.msg : "yes");
	cairn_error_clear(&err);
	r = transport_archive_detect(docker, &kind, &err);
	ok(r == 0 && kind == TRANSPORT_DOCKER_ARCHIVE, "it is found to be a docker archive");
	cairn_error_clear(&err);
	spec = xasprintf("docker-archive:%s:@1", docker);
	r = transport_open(NULL, spec, NULL, &img, &err);
	ok(r == 0 && img.count == 2, "docker-archive: @1 opens; two images: %s",
	   err.msg ? err.msg : "yes");
	char *ca = r == 0 ? config_of(img.s, img.digest) : NULL, *cb = config_of(s, b);
	is_str(ca, cb, "its config is kept byte for byte");
	is_str(r == 0 && img.tags ? img.tags[0] : NULL, "localhost:5000/b:1",
	       "its RepoTags name it");
	transport_image_release(&img);
	cairn_error_clear(&err);
	free(spec);
	free(ca);
	free(cb);

	/* a digest is no tag: the image goes unnamed */
	struct transport_out one = {.digest = a, .names = names_c};
	r = transport_write_archive(s, TRANSPORT_FORMAT_DOCKER, &one, 1, docker2, &err);
	spec = xasprintf("docker-archive:%s", docker2);
	if (r == 0)
		r = transport_open(NULL, spec, NULL, &img, &err);
	ok(r == 0 && !img.tags, "a name with a digest is not a RepoTag: %s",
	   err.msg ? err.msg : "unnamed");
	transport_image_release(&img);
	cairn_error_clear(&err);
	free(spec);

	/* an image the store lacks: an error, and no file, not even a temporary one */
	char *bad = xasprintf("%s/bad.tar", dir);
	struct transport_out missing = {.digest =
					    "sha256:"
					    "0000000000000000000000000000000000000000000000000000"
					    "000000000000"};
	r = transport_write_archive(s, TRANSPORT_FORMAT_DOCKER, &missing, 1, bad, &err);
	ok(r < 0 && err.msg && strstr(err.msg, missing.digest), "a missing image: %s", err.msg);
	cairn_error_clear(&err);
	bool left = false;
	DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d)))
		left = left || !strncmp(de->d_name, "bad.tar", 7);
	if (d)
		closedir(d);
	ok(!left, "nothing is left of a failed write");
	free(bad);
	free(by_digest);
	free(oci);
	free(oci2);
	free(docker);
	free(docker2);
}

int main(void)
{
	parse_ok("app:1", TRANSPORT_STORE, "app:1");
	parse_ok("localhost:5000/team/app:1", TRANSPORT_STORE, "localhost:5000/team/app:1");
	parse_ok("oci:/tmp/x:app:1", TRANSPORT_OCI, "/tmp/x:app:1");
	parse_ok("oci-archive:a.tar", TRANSPORT_OCI_ARCHIVE, "a.tar");
	parse_ok("docker-archive:d.tar:busybox", TRANSPORT_DOCKER_ARCHIVE, "d.tar:busybox");
	parse_ok("docker://debian:12", TRANSPORT_DOCKER, "debian:12");
	parse_bad("dir:/tmp/x", "does not read the transport \"dir:\"");
	parse_bad("containers-storage:app", "\"containers-storage:\"");
	parse_bad("docker:debian", "\"docker:\"");
	parse_bad("ftp://host/x", "unknown transport");
	parse_bad("oci:", "nothing after the transport");
	parse_bad("", "empty");

	char tmpl[] = "/tmp/test-transport-XXXXXX";
	if (!mkdtemp(tmpl))
		return 1;
	char *tmpdir = xasprintf("%s/tmp", tmpl);
	mkdir(tmpdir, 0700);
	setenv("TMPDIR", tmpdir, 1);
	char *lroot = xasprintf("%s/layout", tmpl), *sroot = xasprintf("%s/store", tmpl);
	struct cairn_error err = CAIRN_ERROR_INIT;
	struct store *layout = NULL, *dst = NULL;
	store_open(lroot, &layout, &err);
	store_open(sroot, &dst, &err);
	char a[DIGEST_LEN], b[DIGEST_LEN];
	put_image(layout, "a:1", "layer a", a);

	/* one image: no REF needed; the name it carries comes along */
	char *spec = xasprintf("oci:%s", lroot);
	struct transport_image img;
	int r = transport_open(NULL, spec, NULL, &img, &err);
	is_str(r == 0 ? img.digest : err.msg, a, "oci:DIR with one image opens it");
	is_str(r == 0 && img.tags ? img.tags[0] : NULL, "a:1", "its ref name is its tag");
	ok(r == 0 && img.s != dst && img.tmp_dir == NULL, "a layout is read in place");
	r = transport_verify(&img, NULL, &err);
	ok(r == 0, "its blobs hash to their digests: %s", err.msg ? err.msg : "yes");
	struct store_tag t;
	r = transport_copy(&img, dst, NULL, NULL, &t, &err);
	is_str(r == 0 ? t.digest : err.msg, a, "copied into another store under its digest");
	ok(store_has_blob(dst, a), "the manifest is in the other store");
	store_tag_release(&t);
	transport_image_release(&img);

	/* two: REF or @N must choose */
	put_image(layout, "b:1", "layer b", b);
	r = transport_open(NULL, spec, NULL, &img, &err);
	ok(r == -EINVAL && strstr(err.msg, "holds 2 images") && strstr(err.msg, "a:1, b:1"),
	   "two images without REF: an error listing them: %s", err.msg);
	cairn_error_clear(&err);
	char *specb = xasprintf("oci:%s:b:1", lroot), *spec1 = xasprintf("oci:%s:@1", lroot);
	char *specb2 = xasprintf("oci:%s:b", lroot);
	r = transport_open(NULL, specb, NULL, &img, &err);
	is_str(r == 0 ? img.digest : err.msg, b, "REF chooses by ref name");
	transport_image_release(&img);
	r = transport_open(NULL, spec1, NULL, &img, &err);
	is_str(r == 0 ? img.digest : err.msg, b, "@1 chooses the second");
	transport_image_release(&img);
	r = transport_open(NULL, specb2, NULL, &img, &err);
	ok(r == -ENOENT && strstr(err.msg, "has no image b (it has: a:1, b:1)"),
	   "b is b:latest, which the layout lacks: %s", err.msg);
	cairn_error_clear(&err);
	char c[DIGEST_LEN];
	put_image(layout, "c:latest", "layer c", c);
	char *specc = xasprintf("oci:%s:c", lroot);
	r = transport_open(NULL, specc, NULL, &img, &err);
	is_str(r == 0 ? img.digest : err.msg, c, "c finds the entry named c:latest");
	transport_image_release(&img);
	free(specc);

	/* a plain reference is the caller's store's */
	r = transport_open(layout, "b:1", NULL, &img, &err);
	ok(r == 0 && img.s == layout && !strcmp(img.digest, b) && !strcmp(img.name, "b:1"),
	   "a plain reference is found in the caller's store");
	transport_image_release(&img);
	r = transport_open(layout, b, NULL, &img, &err);
	is_str(r == 0 ? img.digest : err.msg, b, "so is a manifest digest alone");
	ok(r == 0 && img.s == layout, "in the caller's store");
	transport_image_release(&img);
	r = transport_open(NULL, "b:1", NULL, &img, &err);
	ok(r == -ENOENT, "a plain reference without a store: %s", err.msg);
	cairn_error_clear(&err);

	/* an index, resolved by platform */
	char *idx =
	    xasprintf("{\"schemaVersion\":2,\"mediaType\":\"%s\",\"manifests\":["
		      "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":1,\"platform\":"
		      "{\"os\":\"linux\",\"architecture\":\"arm64\",\"variant\":\"v8\"}},"
		      "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":1,\"platform\":"
		      "{\"os\":\"linux\",\"architecture\":\"s390x\"}}]}",
		      MEDIA_TYPE_OCI_INDEX, MEDIA_TYPE_OCI_MANIFEST, a, MEDIA_TYPE_OCI_MANIFEST, b);
	char id[DIGEST_LEN], got[DIGEST_LEN];
	store_put_blob(layout, idx, strlen(idx), id, &err);
	r = oci_resolve(layout, id, "linux/s390x", got, NULL, &err);
	is_str(r == 0 ? got : err.msg, b, "an index resolved to linux/s390x");
	r = oci_resolve(layout, id, "linux/arm64/v8", got, NULL, &err);
	is_str(r == 0 ? got : err.msg, a, "and to linux/arm64/v8");
	r = oci_resolve(layout, id, "linux/riscv64", got, NULL, &err);
	ok(r == -ENOENT && strstr(err.msg, "linux/arm64/v8, linux/s390x"),
	   "a platform it lacks: the error lists those it has: %s", err.msg);
	cairn_error_clear(&err);
	r = oci_resolve(layout, a, "linux/riscv64", got, NULL, &err);
	is_str(r == 0 ? got : err.msg, a, "a manifest resolves to itself");

	/* a layer changed in place: transport_verify and transport_copy refuse it */
	{
		struct oci_image oi;
		memset(&oi, 0, sizeof oi);
		r = oci_image_load(layout, c, &oi, &err);
		char *lpath = xasprintf("%s/blobs/sha256/%s", lroot,
					r == 0 ? digest_hex(oi.layers[0].digest) : "none");
		int lfd = open(lpath, O_WRONLY | O_TRUNC);
		if (lfd >= 0) {
			util_write_all(lfd, "layer C", 7);
			close(lfd);
		}
		char *bad = xasprintf("oci:%s:c:latest", lroot);
		r = transport_open(NULL, bad, NULL, &img, &err);
		ok(r == 0, "a layout with a changed layer still opens");
		r = transport_verify(&img, NULL, &err);
		ok(r == -EBADMSG && err.kind == CAIRN_ERR_INVALID && strstr(err.msg, bad) &&
		       strstr(err.msg, oi.layers[0].digest),
		   "transport_verify names the layout and the blob: %s", err.msg);
		cairn_error_clear(&err);
		struct store_tag t2;
		r = transport_copy(&img, dst, NULL, NULL, &t2, &err);
		ok(r < 0 && !store_has_blob(dst, oi.layers[0].digest),
		   "transport_copy refuses it too: %s", err.msg);
		cairn_error_clear(&err);
		transport_image_release(&img);
		oci_image_release(&oi);
		free(lpath);
		free(bad);
	}

	/* archives: temporary stores under $TMPDIR, gone on error and on release */
	char *notar = xasprintf("%s/not-a-tar", tmpl);
	int fd = open(notar, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd >= 0) {
		util_write_all(fd, "hello", 5);
		close(fd);
	}
	/* a temporary store whose process died (its .lock free) goes; a live one stays */
	char *stale = xasprintf("%s/cairn-image-stale", tmpdir);
	char *live = xasprintf("%s/cairn-image-live", tmpdir);
	char *stale_lock = xasprintf("%s/.lock", stale), *live_lock = xasprintf("%s/.lock", live);
	mkdir(stale, 0700);
	mkdir(live, 0700);
	close(open(stale_lock, O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
	int live_fd = open(live_lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	flock(live_fd, LOCK_EX);
	char *specx = xasprintf("oci-archive:%s", notar);
	r = transport_open(NULL, specx, NULL, &img, &err);
	ok(r < 0 && err.kind == CAIRN_ERR_INVALID && strstr(err.msg, "not a tar archive"),
	   "a file that is no tar: %s", err.msg);
	cairn_error_clear(&err);
	ok(access(stale, F_OK) < 0 && access(live, F_OK) == 0,
	   "a dead process's temporary store is swept, a live one's is not");
	close(live_fd);
	util_rm_rf(AT_FDCWD, live, NULL);
	if (!ok(dir_is_empty(tmpdir), "nothing is left in $TMPDIR after an error"))
		diag("see %s", tmpdir);
	free(stale);
	free(live);
	free(stale_lock);
	free(live_lock);

	test_writers(tmpl, layout, a, b);

	store_close(layout);
	store_close(dst);
	util_rm_rf(AT_FDCWD, tmpl, NULL);
	free(tmpdir);
	free(lroot);
	free(sroot);
	free(spec);
	free(specb);
	free(specb2);
	free(spec1);
	free(idx);
	free(notar);
	free(specx);
	return done_testing();
}
