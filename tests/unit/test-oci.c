/* oci: scratch configs, writing and loading manifests (OCI and Docker schema2), index
 * following, and the checks that keep a malformed manifest out. */
#include "oci/oci.h"
#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#define DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define DOCKER_LAYER "application/vnd.docker.image.rootfs.diff.tar.gzip"

static struct store *open_store(char **dir)
{
	const char *t = getenv("TMPDIR");
	char *tmpl = xasprintf("%s/cairn-test-oci-XXXXXX", t && *t ? t : "/tmp");
	if (!mkdtemp(tmpl)) {
		perror("mkdtemp");
		exit(2);
	}
	struct cairn_error err = CAIRN_ERROR_INIT;
	struct store *s = NULL;
	if (store_open(tmpl, &s, &err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		exit(2);
	}
	*dir = tmpl;
	return s;
}

/* Stores a JSON document (canonical bytes) and returns its digest and size. */
static void put_json(struct store *s, json_t *j, char digest[DIGEST_LEN], size_t *size)
{
	struct cairn_error err = CAIRN_ERROR_INIT;
	cleanup_free char *text = util_json_canonical(j);
	if (store_put_blob(s, text, strlen(text), digest, &err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		exit(2);
	}
	if (size)
		*size = strlen(text);
}

static void layer_of(const char *content, struct oci_layer *l)
{
	memset(l, 0, sizeof *l);
	sha256_digest(content, strlen(content), l->diff_id);
	cleanup_free char *z = xasprintf("gz:%s", content);
	sha256_digest(z, strlen(z), l->digest);
	l->size = strlen(z);
	l->media_type = (char *)MEDIA_TYPE_OCI_LAYER_GZIP;
}

static void test_scratch(void)
{
	cleanup_oci_image struct oci_image img;
	oci_image_init_scratch(&img);
	json_t *c = img.config;
	is_str(json_string_value(json_object_get(c, "architecture")), oci_arch(),
	       "scratch architecture is oci_arch()");
	is_str(json_string_value(json_object_get(c, "os")), "linux", "scratch os is linux");
	ok(json_is_object(json_object_get(c, "config")) &&
	       json_object_size(json_object_get(c, "config")) == 0,
	   "scratch config is an empty object");
	json_t *rootfs = json_object_get(c, "rootfs");
	is_str(json_string_value(json_object_get(rootfs, "type")), "layers",
	       "rootfs.type is layers");
	ok(json_is_array(json_object_get(rootfs, "diff_ids")) &&
	       json_array_size(json_object_get(rootfs, "diff_ids")) == 0,
	   "rootfs.diff_ids is empty");
	ok(json_is_array(json_object_get(c, "history")) &&
	       json_array_size(json_object_get(c, "history")) == 0,
	   "history is empty");
	ok(!json_object_get(c, "created"), "no created before history");
	ok(img.n_layers == 0 && !img.manifest && !img.digest[0], "no layers, manifest or digest");
	ok(oci_image_runconfig(&img) == json_object_get(c, "config"), "runconfig is config.config");

	oci_image_add_history(&img, "2024-01-02T03:04:05Z", "RUN true", true);
	is_str(json_string_value(json_object_get(c, "created")), "2024-01-02T03:04:05Z",
	       "add_history sets created");
	json_t *h = json_array_get(json_object_get(c, "history"), 0);
	ok(json_is_true(json_object_get(h, "empty_layer")) &&
	       !strcmp(json_string_value(json_object_get(h, "created_by")), "RUN true"),
	   "the history entry has created_by and empty_layer");
	oci_image_add_history(&img, "2024-01-02T03:04:06Z", "COPY . /", false);
	h = json_array_get(json_object_get(c, "history"), 1);
	ok(!json_object_get(h, "empty_layer"), "empty_layer is omitted when false");

	const char *arch = oci_arch();
	ok(!strcmp(arch, "amd64") || !strcmp(arch, "arm64") || !strcmp(arch, "arm") ||
	       !strcmp(arch, "386") || !strcmp(arch, "ppc64le") || !strcmp(arch, "s390x") ||
	       !strcmp(arch, "riscv64"),
	   "oci_arch is a GOARCH name (%s)", arch);
}

static void build_image(struct oci_image *img)
{
	oci_image_init_scratch(img);
	struct oci_layer l1, l2;
	layer_of("one", &l1);
	layer_of("two", &l2);
	oci_image_add_layer(img, &l1);
	oci_image_add_history(img, "2024-01-01T00:00:00Z", "ADD one /", false);
	oci_image_add_layer(img, &l2);
	oci_image_add_history(img, "2024-01-01T00:00:01Z", "ADD two /", false);
	json_object_set_new(oci_image_runconfig(img), "Env",
			    json_pack("[s]", "PATH=/usr/bin:/bin"));
}

static void test_roundtrip(struct store *s)
{
	struct cairn_error err = CAIRN_ERROR_INIT;
	cleanup_oci_image struct oci_image img;
	build_image(&img);
	is_int(json_array_size(json_object_get(json_object_get(img.config, "rootfs"), "diff_ids")),
	       2, "add_layer appends to rootfs.diff_ids");

	int64_t msize = 0;
	ok(oci_image_write(s, &img, &msize, &err) == 0, "oci_image_write");
	ok(digest_valid(img.digest) && img.manifest && msize > 0,
	   "write fills digest and manifest");

	/* the manifest bytes are canonical and shaped as the spec says */
	cleanup_free char *text = NULL;
	size_t len = 0;
	ok(store_read_blob(s, img.digest, &text, &len, &err) == 0 && (int64_t)len == msize,
	   "the manifest blob is stored with the reported size");
	cleanup_free char *canon = util_json_canonical(img.manifest);
	is_str(text, canon, "the manifest blob is canonical JSON of img.manifest");
	is_str(json_string_value(json_object_get(img.manifest, "mediaType")),
	       MEDIA_TYPE_OCI_MANIFEST, "manifest mediaType");
	is_int(json_integer_value(json_object_get(img.manifest, "schemaVersion")), 2,
	       "manifest schemaVersion");
	json_t *cd = json_object_get(img.manifest, "config");
	is_str(json_string_value(json_object_get(cd, "mediaType")), MEDIA_TYPE_OCI_CONFIG,
	       "config descriptor mediaType");
	cleanup_free char *ctext = util_json_canonical(img.config);
	char cdig[DIGEST_LEN];
	sha256_digest(ctext, strlen(ctext), cdig);
	is_str(json_string_value(json_object_get(cd, "digest")), cdig,
	       "config digest is sha256 of the canonical config");
	is_int(json_integer_value(json_object_get(cd, "size")), strlen(ctext), "config size");

	cleanup_oci_image struct oci_image back;
	ok(oci_image_load(s, img.digest, &back, &err) == 0, "oci_image_load of what was written");
	if (err.msg)
		diag("%s", err.msg);
	is_str(back.digest, img.digest, "loaded digest");
	is_int(back.n_layers, 2, "loaded layer count");
	ok(back.n_layers == 2 && !strcmp(back.layers[1].digest, img.layers[1].digest) &&
	       !strcmp(back.layers[1].diff_id, img.layers[1].diff_id) &&
	       back.layers[1].size == img.layers[1].size &&
	       !strcmp(back.layers[1].media_type, MEDIA_TYPE_OCI_LAYER_GZIP),
	   "loaded layers pair digests with diff_ids");
	ok(json_equal(back.config, img.config), "loaded config equals the written one");

	/* determinism */
	cleanup_oci_image struct oci_image again;
	build_image(&again);
	ok(oci_image_write(s, &again, NULL, &err) == 0, "writing the same image again");
	is_str(again.digest, img.digest, "the same image gives the same manifest digest");
	cleanup_oci_image struct oci_image copy;
	oci_image_copy(&copy, &back);
	ok(!copy.manifest && !copy.digest[0] && copy.n_layers == 2 && copy.config != back.config &&
	       copy.layers[0].media_type != back.layers[0].media_type,
	   "oci_image_copy is deep and has no manifest");
	ok(oci_image_write(s, &copy, NULL, &err) == 0, "writing a copy");
	is_str(copy.digest, img.digest, "a copy of a loaded image writes the same digest");
	oci_image_add_history(&copy, "2024-01-01T00:00:02Z", "ENV A=1", true);
	ok(oci_image_write(s, &copy, NULL, &err) == 0 && strcmp(copy.digest, img.digest) != 0,
	   "a changed image gets a new digest");

	/* the tag descriptor a command would write, readable back */
	struct store_tag t = {(char *)"app:1", img.digest, (char *)MEDIA_TYPE_OCI_MANIFEST, msize};
	ok(store_tag_set(s, &t, &err) == 0, "tagging the written image");
	cairn_error_clear(&err);
}

static void test_docker_schema2(struct store *s)
{
	struct cairn_error err = CAIRN_ERROR_INIT;
	struct oci_layer l;
	layer_of("docker", &l);
	cleanup_json json_t *config = json_pack(
	    "{s:s, s:s, s:{s:[s]}, s:{s:s, s:[s]}}", "architecture", oci_arch(), "os", "linux",
	    "config", "Cmd", "/bin/sh", "rootfs", "type", "layers", "diff_ids", l.diff_id);
	char cdig[DIGEST_LEN];
	size_t csize;
	put_json(s, config, cdig, &csize);
	cleanup_json json_t *m =
	    json_pack("{s:i, s:s, s:{s:s, s:s, s:I}, s:[{s:s, s:s, s:I}]}", "schemaVersion", 2,
		      "mediaType", DOCKER_MANIFEST, "config", "mediaType", DOCKER_CONFIG, "digest",
		      cdig, "size", (json_int_t)csize, "layers", "mediaType", DOCKER_LAYER,
		      "digest", l.digest, "size", (json_int_t)l.size);
	char mdig[DIGEST_LEN];
	put_json(s, m, mdig, NULL);

	cleanup_oci_image struct oci_image img;
	ok(oci_image_load(s, mdig, &img, &err) == 0, "a Docker schema2 manifest loads");
	if (err.msg)
		diag("%s", err.msg);
	ok(img.n_layers == 1 && !strcmp(img.layers[0].media_type, DOCKER_LAYER) &&
	       !strcmp(img.layers[0].diff_id, l.diff_id),
	   "its layer keeps the Docker media type and the diff_id");

	/* writing it back gives an OCI manifest with OCI layer types, same blobs */
	cleanup_oci_image struct oci_image copy;
	oci_image_copy(&copy, &img);
	ok(oci_image_write(s, &copy, NULL, &err) == 0, "a Docker image is written as OCI");
	json_t *l0 = json_array_get(json_object_get(copy.manifest, "layers"), 0);
	is_str(json_string_value(json_object_get(l0, "mediaType")), MEDIA_TYPE_OCI_LAYER_GZIP,
	       "a Docker gzip layer becomes an OCI tar+gzip layer");
	is_str(json_string_value(json_object_get(l0, "digest")), l.digest, "with the same blob");
	cairn_error_clear(&err);
}

/* An index with an entry for another platform first, then ours. */
static void test_index(struct store *s, const char *media_type, const char *oci_digest)
{
	struct cairn_error err = CAIRN_ERROR_INIT;
	const char *other = strcmp(oci_arch(), "s390x") ? "s390x" : "amd64";
	char bogus[DIGEST_LEN];
	sha256_digest("not stored", 10, bogus);
	cleanup_json json_t *index = json_pack(
	    "{s:i, s:s, s:[{s:s, s:s, s:i, s:{s:s, s:s}}, {s:s, s:s, s:i, s:{s:s, s:s}}]}",
	    "schemaVersion", 2, "mediaType", media_type, "manifests", "mediaType",
	    MEDIA_TYPE_OCI_MANIFEST, "digest", bogus, "size", 10, "platform", "architecture", other,
	    "os", "linux", "mediaType", MEDIA_TYPE_OCI_MANIFEST, "digest", oci_digest, "size", 100,
	    "platform", "architecture", oci_arch(), "os", "linux");
	char idig[DIGEST_LEN];
	put_json(s, index, idig, NULL);
	cleanup_oci_image struct oci_image img;
	ok(oci_image_load(s, idig, &img, &err) == 0, "an index (%s) is followed", media_type);
	if (err.msg)
		diag("%s", err.msg);
	is_str(img.digest, oci_digest, "to the manifest for linux/%s", oci_arch());

	/* an index without our platform */
	json_array_remove(json_object_get(index, "manifests"), 1);
	put_json(s, index, idig, NULL);
	cleanup_oci_image struct oci_image none;
	ok(oci_image_load(s, idig, &none, &err) == -ENOENT && strstr(err.msg, oci_arch()),
	   "an index without this platform is an error naming it");
	ok(!none.config && !none.layers, "a failed load leaves the image empty");
	cairn_error_clear(&err);
}

static void test_errors(struct store *s)
{
	struct cairn_error err = CAIRN_ERROR_INIT;
	struct oci_layer l1, l2;
	layer_of("e1", &l1);
	layer_of("e2", &l2);

	/* two manifest layers, one diff_id */
	cleanup_json json_t *config =
	    json_pack("{s:s, s:s, s:{s:s, s:[s]}}", "architecture", oci_arch(), "os", "linux",
		      "rootfs", "type", "layers", "diff_ids", l1.diff_id);
	char cdig[DIGEST_LEN];
	size_t csize;
	put_json(s, config, cdig, &csize);
	cleanup_json json_t *m =
	    json_pack("{s:i, s:s, s:{s:s, s:s, s:I}, s:[{s:s, s:s, s:I}, {s:s, s:s, s:I}]}",
		      "schemaVersion", 2, "mediaType", MEDIA_TYPE_OCI_MANIFEST, "config",
		      "mediaType", MEDIA_TYPE_OCI_CONFIG, "digest", cdig, "size", (json_int_t)csize,
		      "layers", "mediaType", MEDIA_TYPE_OCI_LAYER_GZIP, "digest", l1.digest, "size",
		      (json_int_t)l1.size, "mediaType", MEDIA_TYPE_OCI_LAYER_GZIP, "digest",
		      l2.digest, "size", (json_int_t)l2.size);
	char mdig[DIGEST_LEN];
	put_json(s, m, mdig, NULL);
	cleanup_oci_image struct oci_image img;
	int r = oci_image_load(s, mdig, &img, &err);
	ok(r < 0 && err.msg && strstr(err.msg, "2 layers") && strstr(err.msg, "1 diff_ids"),
	   "a layers/diff_ids count mismatch is an error saying both counts");
	diag("%s", err.msg ? err.msg : "");
	ok(!img.config && !img.layers && !img.n_layers, "and leaves the image empty");
	cairn_error_clear(&err);

	/* malformed layer digest */
	json_object_set_new(json_array_get(json_object_get(m, "layers"), 1), "digest",
			    json_string("sha256:../../../../etc/passwd"));
	json_array_append_new(json_object_get(json_object_get(config, "rootfs"), "diff_ids"),
			      json_string(l2.diff_id));
	put_json(s, config, cdig, &csize);
	json_object_set_new(json_object_get(m, "config"), "digest", json_string(cdig));
	json_object_set_new(json_object_get(m, "config"), "size", json_integer((json_int_t)csize));
	put_json(s, m, mdig, NULL);
	r = oci_image_load(s, mdig, &img, &err);
	ok(r == -EINVAL && strstr(err.msg, "sha256:../../../../etc/passwd"),
	   "a malformed layer digest is rejected, naming it");
	diag("%s", err.msg ? err.msg : "");
	cairn_error_clear(&err);

	/* malformed config digest */
	json_object_set_new(json_object_get(m, "config"), "digest",
			    json_string("sha512:abcd/../../index.json"));
	put_json(s, m, mdig, NULL);
	r = oci_image_load(s, mdig, &img, &err);
	ok(r == -EINVAL && strstr(err.msg, "sha512:abcd"),
	   "a non-sha256 config digest is rejected");
	cairn_error_clear(&err);

	/* malformed manifest digest, and an upper-case one */
	r = oci_image_load(s, "sha256:../index.json", &img, &err);
	ok(r == -EINVAL, "a malformed manifest digest is rejected");
	cairn_error_clear(&err);
	r = oci_image_load(
	    s, "sha256:2CF24DBA5FB0A30E26E83B2AC5B9E29E1B161E5C1FA7425E73043362938B9824", &img,
	    &err);
	ok(r == -EINVAL, "an upper-case digest is rejected");
	cairn_error_clear(&err);

	/* malformed index entry digest */
	cleanup_json json_t *index = json_pack(
	    "{s:i, s:s, s:[{s:s, s:s, s:i, s:{s:s, s:s}}]}", "schemaVersion", 2, "mediaType",
	    MEDIA_TYPE_OCI_INDEX, "manifests", "mediaType", MEDIA_TYPE_OCI_MANIFEST, "digest",
	    "sha256:/etc/passwd", "size", 1, "platform", "architecture", oci_arch(), "os", "linux");
	put_json(s, index, mdig, NULL);
	r = oci_image_load(s, mdig, &img, &err);
	ok(r == -EBADMSG && strstr(err.msg, "bad digest"),
	   "a malformed digest in an index entry is rejected");
	cairn_error_clear(&err);

	/* schema 1 */
	cleanup_json json_t *v1 = json_pack("{s:i, s:s}", "schemaVersion", 1, "name", "x");
	put_json(s, v1, mdig, NULL);
	r = oci_image_load(s, mdig, &img, &err);
	ok(r < 0 && strstr(err.msg, "schemaVersion"), "a schema 1 manifest is rejected");
	cairn_error_clear(&err);

	/* missing blob */
	char missing[DIGEST_LEN];
	sha256_digest("nowhere", 7, missing);
	r = oci_image_load(s, missing, &img, &err);
	ok(r == -ENOENT && strstr(err.msg, missing), "a missing manifest is -ENOENT naming it");
	cairn_error_clear(&err);

	/* write refuses an image whose layers and diff_ids disagree */
	cleanup_oci_image struct oci_image bad;
	oci_image_init_scratch(&bad);
	oci_image_add_layer(&bad, &l1);
	json_array_clear(json_object_get(json_object_get(bad.config, "rootfs"), "diff_ids"));
	ok(oci_image_write(s, &bad, NULL, &err) == -EINVAL, "write refuses a diff_ids mismatch");
	cairn_error_clear(&err);
}

int main(void)
{
	cleanup_free char *dir = NULL;
	struct store *s = open_store(&dir);
	test_scratch();
	test_roundtrip(s);

	struct store_tag t = {0};
	struct cairn_error err = CAIRN_ERROR_INIT;
	store_tag_get(s, "app:1", &t, &err);
	if (t.digest) {
		test_index(s, MEDIA_TYPE_OCI_INDEX, t.digest);
		test_index(s, DOCKER_LIST, t.digest);
	}
	store_tag_release(&t);
	test_docker_schema2(s);
	test_errors(s);

	if (getenv("CAIRN_TEST_KEEP"))
		diag("store kept at %s", dir);
	else
		util_rm_rf(AT_FDCWD, dir, &err);
	cairn_error_clear(&err);
	store_close(s);
	return done_testing();
}
