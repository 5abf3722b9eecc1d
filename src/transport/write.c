/* transport: images written out of a store, the other way from the readers. One
 * place writes each format, for `cairn save` and `cairn build -o`:
 *   oci-archive     a tar of an OCI image layout: oci-layout, index.json (an entry per
 *                   name), blobs/sha256/<hex> as the store has them
 *   docker-archive  what `docker load` reads, as skopeo writes it: <config hex>.json,
 *                   <diff_id hex>.tar (uncompressed: docker load checks diff_ids and
 *                   older dockers read no zstd), manifest.json, repositories
 *   rootfs          the image's filesystem (its layers applied in order, whiteouts
 *                   honoured) as one tar, or into a directory
 * A file is written beside its destination under a temporary name and renamed when
 * complete, so a failed write leaves nothing. Entries have mtime 0 and owner 0:0, so
 * the same image gives the same archive. */
#include "internal.h"
#include "../layer/layer.h"
#include "../oci/oci.h"
#include "../ref/ref.h"

#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WRITE_BLOCK (256u << 10)

/* ---- destinations ---- */

/* A file being written: fd on tmp (renamed to dest by sink_commit), or stdout. */
struct sink {
	int fd;
	char *tmp; /* NULL for stdout */
	const char *dest;
};

static int sink_open(struct sink *k, const char *dest, struct cairn_error *err)
{
	memset(k, 0, sizeof *k);
	k->dest = dest;
	if (!strcmp(dest, "-")) {
		k->fd = STDOUT_FILENO;
		return 0;
	}
	k->tmp = xasprintf("%s.cairn-XXXXXX", dest);
	k->fd = mkostemp(k->tmp, O_CLOEXEC);
	if (k->fd < 0) {
		int e = errno;
		free(k->tmp);
		k->tmp = NULL;
		return cairn_error_errno(err, e, "creating %s", dest);
	}
	/* as a file the user makes: 0666 less the umask */
	mode_t mask = umask(0);
	umask(mask);
	if (fchmod(k->fd, 0666 & ~mask) < 0)
		return cairn_error_errno(err, errno, "creating %s", dest);
	return 0;
}

/* Drops a sink not committed (its temporary file removed). */
static void sink_closep(struct sink *k)
{
	if (k->tmp) {
		close(k->fd);
		unlink(k->tmp);
		free(k->tmp);
		k->tmp = NULL;
	}
}

static int sink_commit(struct sink *k, struct cairn_error *err)
{
	if (!k->tmp)
		return 0;
	if (fsync(k->fd) < 0 || rename(k->tmp, k->dest) < 0)
		return cairn_error_errno(err, errno, "writing %s", k->dest);
	close(k->fd);
	free(k->tmp);
	k->tmp = NULL;
	return 0;
}

/* ---- a tar being written ---- */

static void write_closep(struct archive **a)
{
	if (*a)
		archive_write_free(*a);
}
#define cleanup_write __attribute__((cleanup(write_closep)))

static int tar_open(int fd, const char *what, struct archive **out, struct cairn_error *err)
{
	struct archive *a = archive_write_new();
	if (!a)
		return cairn_error_set(err, ENOMEM, "%s: creating a tar writer", what);
	archive_write_set_format_pax_restricted(a);
	archive_write_set_bytes_in_last_block(a, 1);
	if (archive_write_open_fd(a, fd) != ARCHIVE_OK) {
		int r = cairn_error_set(err, EIO, "%s: %s", what, archive_error_string(a));
		archive_write_free(a);
		return r;
	}
	*out = a;
	return 0;
}

static int tar_fail(struct archive *a, const char *what, const char *name, struct cairn_error *err)
{
	int e = archive_errno(a) > 0 ? archive_errno(a) : EIO;
	return cairn_error_set(err, e, "%s: writing %s: %s", what, name, archive_error_string(a));
}

static int tar_header(struct archive *a, const char *name, bool dir, uint64_t size,
		      const char *what, struct cairn_error *err)
{
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, dir ? AE_IFDIR : AE_IFREG);
	archive_entry_set_perm(e, dir ? 0755 : 0644);
	archive_entry_set_size(e, dir ? 0 : (la_int64_t)size);
	archive_entry_set_mtime(e, 0, 0);
	int h = archive_write_header(a, e);
	archive_entry_free(e);
	return h < ARCHIVE_WARN ? tar_fail(a, what, name, err) : 0;
}

static int tar_data(struct archive *a, const void *buf, size_t len, const char *what,
		    const char *name, struct cairn_error *err)
{
	if (len && archive_write_data(a, buf, len) != (la_ssize_t)len)
		return tar_fail(a, what, name, err);
	return 0;
}

static int tar_mem(struct archive *a, const char *name, const void *data, size_t len,
		   const char *what, struct cairn_error *err)
{
	int r = tar_header(a, name, false, len, what, err);
	return r < 0 ? r : tar_data(a, data, len, what, name, err);
}

/* Streams fd (size bytes) as the entry name. */
static int tar_fd(struct archive *a, const char *name, int fd, uint64_t size, const char *what,
		  struct cairn_error *err)
{
	int r = tar_header(a, name, false, size, what, err);
	if (r < 0)
		return r;
	cleanup_free char *buf = xmalloc(WRITE_BLOCK);
	uint64_t done = 0;
	while (done < size) {
		if (util_interrupted)
			return cairn_error_set(err, EINTR, "%s: interrupted", what);
		ssize_t n = read(fd, buf, WRITE_BLOCK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return cairn_error_errno(err, errno, "%s: reading %s", what, name);
		if (n == 0 || done + (uint64_t)n > size)
			return cairn_error_set(err, EIO, "%s: %s changed size while it was read",
					       what, name);
		if ((r = tar_data(a, buf, (size_t)n, what, name, err)) < 0)
			return r;
		done += (uint64_t)n;
	}
	return 0;
}

static int tar_blob(struct archive *a, struct store *s, const char *digest, const char *name,
		    const char *what, struct cairn_error *err)
{
	cleanup_close int fd = -1;
	int r = store_open_blob(s, digest, &fd, err);
	if (r < 0)
		return cairn_error_wrap(err, "%s", what);
	struct stat st;
	if (fstat(fd, &st) < 0)
		return cairn_error_errno(err, errno, "%s: blob %s", what, digest);
	return tar_fd(a, name, fd, (uint64_t)st.st_size, what, err);
}

static int tar_close(struct archive *a, const char *what, struct cairn_error *err)
{
	if (archive_write_close(a) != ARCHIVE_OK)
		return tar_fail(a, what, "the end of the archive", err);
	return 0;
}

/* ---- the images to write ---- */

/* An image as an archive needs it: the manifest (an index resolved for this
 * machine), its bytes, and the image loaded. */
struct out_image {
	char md[DIGEST_LEN];
	char *bytes;
	size_t len;
	const char *media_type;
	struct oci_image img;
};

static void out_images_free(struct out_image *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		free(v[i].bytes);
		oci_image_release(&v[i].img);
	}
	free(v);
}

static int load_images(struct store *s, const struct transport_out *imgs, size_t n,
		       struct out_image **out, struct cairn_error *err)
{
	struct out_image *v = xcalloc(n ? n : 1, sizeof *v);
	for (size_t i = 0; i < n; i++) {
		cleanup_json json_t *doc = NULL;
		int r = oci_resolve(s, imgs[i].digest, NULL, v[i].md, NULL, err);
		if (r == 0)
			r = oci_read_json(s, v[i].md, "manifest", &doc, &v[i].bytes, &v[i].len,
					  err);
		if (r == 0)
			r = oci_image_load(s, v[i].md, &v[i].img, err);
		if (r < 0) {
			out_images_free(v, n);
			return cairn_error_wrap(err, "image %s", imgs[i].digest);
		}
		const char *mt = json_string_value(json_object_get(doc, "mediaType"));
		v[i].media_type = mt && !strcmp(mt, MEDIA_TYPE_DOCKER_MANIFEST)
				      ? MEDIA_TYPE_DOCKER_MANIFEST
				      : MEDIA_TYPE_OCI_MANIFEST;
	}
	*out = v;
	return 0;
}

static const char *config_digest(const struct out_image *o)
{
	return json_string_value(
	    json_object_get(json_object_get(o->img.manifest, "config"), "digest"));
}

/* Whether blob digest was written already (and notes it when not). */
static bool seen(char ***written, const char *digest)
{
	if (strv_contains(*written, digest))
		return true;
	strv_push(written, digest);
	return false;
}

/* ---- oci-archive ---- */

static json_t *oci_index(const struct transport_out *imgs, const struct out_image *v, size_t n)
{
	json_t *manifests = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *base = json_pack("{s:s, s:s, s:I}", "mediaType", v[i].media_type, "digest",
					 v[i].md, "size", (json_int_t)v[i].len);
		for (size_t j = 0; imgs[i].names && imgs[i].names[j]; j++) {
			json_t *d = json_deep_copy(base);
			json_t *ann = json_pack("{s:s}", ANNOTATION_REF_NAME, imgs[i].names[j]);
			struct cairn_error e = CAIRN_ERROR_INIT;
			char *full = NULL;
			/* the name containerd and docker 25 read */
			if (ref_normalize(imgs[i].names[j], &full, &e) == 0)
				json_object_set_new(ann, "io.containerd.image.name",
						    json_string(full));
			free(full);
			cairn_error_clear(&e);
			json_object_set_new(d, "annotations", ann);
			json_array_append_new(manifests, d);
		}
		if (!imgs[i].names || !imgs[i].names[0])
			json_array_append(manifests, base);
		json_decref(base);
	}
	return json_pack("{s:i, s:s, s:o}", "schemaVersion", 2, "mediaType", MEDIA_TYPE_OCI_INDEX,
			 "manifests", manifests);
}

static int write_oci(struct archive *a, struct store *s, const struct transport_out *imgs,
		     const struct out_image *v, size_t n, const char *what, struct cairn_error *err)
{
	static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
	cleanup_json json_t *index = oci_index(imgs, v, n);
	cleanup_free char *text = util_json_canonical(index);
	int r;
	if ((r = tar_mem(a, "oci-layout", layout, strlen(layout), what, err)) < 0 ||
	    (r = tar_mem(a, "index.json", text, strlen(text), what, err)) < 0 ||
	    (r = tar_header(a, "blobs", true, 0, what, err)) < 0 ||
	    (r = tar_header(a, "blobs/sha256", true, 0, what, err)) < 0)
		return r;
	cleanup_strv char **written = xcalloc(1, sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		const struct out_image *o = &v[i];
		const char *cd = config_digest(o);
		for (size_t l = 0; l <= o->img.n_layers + 1; l++) {
			/* the config, the layers, then the manifest */
			const char *d = l == 0		       ? cd
					: l <= o->img.n_layers ? o->img.layers[l - 1].digest
							       : o->md;
			if (!d || seen(&written, d))
				continue;
			cleanup_free char *name = xasprintf("blobs/sha256/%s", digest_hex(d));
			if ((r = tar_blob(a, s, d, name, what, err)) < 0)
				return r;
		}
	}
	return 0;
}

/* ---- docker-archive ---- */

/* A reader of a layer blob's uncompressed content. */
static int layer_reader(struct store *s, const char *digest, const char *what, int *fd,
			struct archive **out, struct cairn_error *err)
{
	int r = store_open_blob(s, digest, fd, err);
	if (r < 0)
		return cairn_error_wrap(err, "%s", what);
	struct archive *a = archive_read_new();
	if (!a)
		return cairn_error_set(err, ENOMEM, "%s: creating a reader", what);
	archive_read_support_filter_all(a);
	archive_read_support_format_raw(a);
	struct archive_entry *e;
	if (archive_read_open_fd(a, *fd, WRITE_BLOCK) != ARCHIVE_OK ||
	    archive_read_next_header(a, &e) != ARCHIVE_OK) {
		r = cairn_error_set(err, EINVAL, "%s: layer %s: %s", what, digest,
				    archive_error_string(a));
		archive_read_free(a);
		return r;
	}
	*out = a;
	return 0;
}

/* The uncompressed size of a layer, checked against its diff_id on the way: the tar
 * header needs the size before the data, and docker would refuse a wrong diff_id. */
static int layer_measure(struct store *s, const struct oci_layer *l, const char *what,
			 uint64_t *size, struct cairn_error *err)
{
	cleanup_close int fd = -1;
	cleanup_archive struct archive *a = NULL;
	int r = layer_reader(s, l->digest, what, &fd, &a, err);
	if (r < 0)
		return r;
	struct sha256 h;
	sha256_init(&h);
	cleanup_free char *buf = xmalloc(WRITE_BLOCK);
	uint64_t total = 0;
	for (;;) {
		la_ssize_t n = archive_read_data(a, buf, WRITE_BLOCK);
		if (n < 0 || util_interrupted) {
			sha256_abort(&h);
			if (util_interrupted)
				return cairn_error_set(err, EINTR, "%s: interrupted", what);
			return cairn_error_set(err, EINVAL, "%s: layer %s: decompressing: %s", what,
					       l->digest, archive_error_string(a));
		}
		if (n == 0)
			break;
		sha256_update(&h, buf, (size_t)n);
		total += (uint64_t)n;
	}
	char got[DIGEST_LEN];
	sha256_final(&h, got);
	if (strcmp(got, l->diff_id))
		return cairn_error_set(err, EBADMSG,
				       "%s: layer %s decompresses to %s, its diff_id is %s", what,
				       l->digest, got, l->diff_id);
	*size = total;
	return 0;
}

/* A layer as an uncompressed tar entry: a plain blob as it is, another decompressed
 * (measured first, then decompressed again as it is written). */
static int tar_layer(struct archive *a, struct store *s, const struct oci_layer *l,
		     const char *name, const char *what, struct cairn_error *err)
{
	if (!strcmp(l->media_type, MEDIA_TYPE_OCI_LAYER) ||
	    !strcmp(l->media_type, MEDIA_TYPE_DOCKER_LAYER)) {
		if (strcmp(l->digest, l->diff_id))
			return cairn_error_set(err, EBADMSG,
					       "%s: layer %s is uncompressed but its diff_id is %s",
					       what, l->digest, l->diff_id);
		return tar_blob(a, s, l->digest, name, what, err);
	}
	uint64_t size = 0;
	int r = layer_measure(s, l, what, &size, err);
	if (r < 0)
		return r;
	cleanup_close int fd = -1;
	cleanup_archive struct archive *in = NULL;
	if ((r = layer_reader(s, l->digest, what, &fd, &in, err)) < 0 ||
	    (r = tar_header(a, name, false, size, what, err)) < 0)
		return r;
	cleanup_free char *buf = xmalloc(WRITE_BLOCK);
	uint64_t done = 0;
	for (;;) {
		if (util_interrupted)
			return cairn_error_set(err, EINTR, "%s: interrupted", what);
		la_ssize_t n = archive_read_data(in, buf, WRITE_BLOCK);
		if (n < 0)
			return cairn_error_set(err, EINVAL, "%s: layer %s: decompressing: %s", what,
					       l->digest, archive_error_string(in));
		if (n == 0)
			break;
		done += (uint64_t)n;
		if (done > size)
			return cairn_error_set(err, EIO, "%s: layer %s changed while it was read",
					       what, l->digest);
		if ((r = tar_data(a, buf, (size_t)n, what, name, err)) < 0)
			return r;
	}
	if (done != size)
		return cairn_error_set(err, EIO, "%s: layer %s changed while it was read", what,
				       l->digest);
	return 0;
}

/* The name docker shows for a tag ("app:1", "busybox:latest"); NULL when it is not a
 * tag (a digest reference, which RepoTags cannot hold). */
static char *docker_tag(const char *name)
{
	struct cairn_error e = CAIRN_ERROR_INIT;
	cleanup_ref struct ref r = {0};
	char *out = NULL;
	if (ref_parse(name, &r, &e) == 0 && !r.digest) {
		if (!r.tag)
			r.tag = xstrdup(REF_DEFAULT_TAG);
		out = ref_familiar(&r);
	}
	cairn_error_clear(&e);
	return out;
}

static int write_docker(struct archive *a, struct store *s, const struct transport_out *imgs,
			const struct out_image *v, size_t n, const char *what,
			struct cairn_error *err)
{
	cleanup_json json_t *manifest = json_array();
	cleanup_json json_t *repos = json_object();
	cleanup_strv char **written = xcalloc(1, sizeof(char *));
	int r;
	for (size_t i = 0; i < n; i++) {
		const struct out_image *o = &v[i];
		const char *cd = config_digest(o);
		if (!digest_valid(cd))
			return cairn_error_set(err, EBADMSG, "%s: manifest %s names no config",
					       what, o->md);
		cleanup_free char *config = xasprintf("%s.json", digest_hex(cd));
		if (!seen(&written, cd) && (r = tar_blob(a, s, cd, config, what, err)) < 0)
			return r;
		json_t *layers = json_array();
		json_t *tags = json_array();
		json_t *entry = json_pack("{s:s, s:o, s:o}", "Config", config, "RepoTags", tags,
					  "Layers", layers);
		json_array_append_new(manifest, entry);
		for (size_t l = 0; l < o->img.n_layers; l++) {
			const struct oci_layer *ol = &o->img.layers[l];
			cleanup_free char *name = xasprintf("%s.tar", digest_hex(ol->diff_id));
			json_array_append_new(layers, json_string(name));
			/* seen by diff_id: one uncompressed file whatever the blob */
			if (!seen(&written, ol->diff_id) &&
			    (r = tar_layer(a, s, ol, name, what, err)) < 0)
				return r;
		}
		for (size_t j = 0; imgs[i].names && imgs[i].names[j]; j++) {
			cleanup_free char *t = docker_tag(imgs[i].names[j]);
			if (!t)
				continue;
			json_array_append_new(tags, json_string(t));
			/* repositories (docker's legacy index): name → tag → top layer */
			char *colon = strrchr(t, ':');
			*colon = '\0';
			json_t *repo = json_object_get(repos, t);
			if (!repo)
				json_object_set_new(repos, t, repo = json_object());
			if (o->img.n_layers)
				json_object_set_new(
				    repo, colon + 1,
				    json_string(
					digest_hex(o->img.layers[o->img.n_layers - 1].diff_id)));
		}
	}
	cleanup_free char *mtext = json_dumps(manifest, JSON_COMPACT);
	if ((r = tar_mem(a, "manifest.json", mtext, strlen(mtext), what, err)) < 0)
		return r;
	if (json_object_size(repos)) {
		cleanup_free char *rtext = json_dumps(repos, JSON_COMPACT | JSON_SORT_KEYS);
		if ((r = tar_mem(a, "repositories", rtext, strlen(rtext), what, err)) < 0)
			return r;
	}
	return 0;
}

int transport_write_archive(struct store *s, enum transport_format format,
			    const struct transport_out *imgs, size_t n, const char *dest,
			    struct cairn_error *err)
{
	cleanup_free char *what =
	    xasprintf("%s:%s", format == TRANSPORT_FORMAT_DOCKER ? "docker-archive" : "oci-archive",
		      strcmp(dest, "-") ? dest : "(stdout)");
	struct out_image *v = NULL;
	int r = load_images(s, imgs, n, &v, err);
	if (r < 0)
		return cairn_error_wrap(err, "%s", what);
	__attribute__((cleanup(sink_closep))) struct sink k = {.fd = -1};
	if ((r = sink_open(&k, dest, err)) == 0) {
		cleanup_write struct archive *a = NULL;
		if ((r = tar_open(k.fd, what, &a, err)) == 0)
			r = format == TRANSPORT_FORMAT_DOCKER
				? write_docker(a, s, imgs, v, n, what, err)
				: write_oci(a, s, imgs, v, n, what, err);
		if (r == 0)
			r = tar_close(a, what, err);
	}
	out_images_free(v, n);
	return r < 0 ? r : sink_commit(&k, err);
}

/* ---- the filesystem ---- */

/* Applies the layers of img on the directory dirfd, as a container would see them. */
static int apply_layers(struct store *s, const struct oci_image *img, int dirfd, const char *what,
			struct cairn_error *err)
{
	/* a user who is not root owns what it writes, as docker's rootless export */
	bool root = geteuid() == 0;
	struct layer_extract_opts xo = {
	    .apply_whiteouts = true,
	    .uid = root ? -1 : (int64_t)geteuid(),
	    .gid = root ? -1 : (int64_t)getegid(),
	};
	for (size_t i = 0; i < img->n_layers; i++) {
		cleanup_close int fd = -1;
		int r = store_open_blob(s, img->layers[i].digest, &fd, err);
		if (r < 0)
			return cairn_error_wrap(err, "%s", what);
		xo.diff_id = img->layers[i].diff_id;
		cleanup_free char *lw = xasprintf("%s: layer %s", what, img->layers[i].digest);
		if ((r = layer_extract(fd, dirfd, &xo, lw, err)) < 0)
			return r;
	}
	return 0;
}

int transport_write_rootfs(struct store *s, const char *digest, bool tar, const char *dest,
			   struct cairn_error *err)
{
	cleanup_free char *what =
	    xasprintf("%s %s", tar ? "type=tar" : "type=local", strcmp(dest, "-") ? dest : "-");
	char md[DIGEST_LEN];
	cleanup_oci_image struct oci_image img = {0};
	int r = oci_resolve(s, digest, NULL, md, NULL, err);
	if (r < 0 || (r = oci_image_load(s, md, &img, err)) < 0)
		return cairn_error_wrap(err, "%s", what);
	if (!tar) {
		if ((r = util_mkdir_p(AT_FDCWD, dest, 0755, err)) < 0)
			return cairn_error_wrap(err, "%s", what);
		cleanup_close int dfd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0)
			return cairn_error_errno(err, errno, "%s: opening %s", what, dest);
		return apply_layers(s, &img, dfd, what, err);
	}
	/* the tree is made in a temporary store, then written by the layer writer (sorted,
	 * numeric owners, hard links kept) as an uncompressed blob there */
	cleanup_transport_image struct transport_image tmp = {0};
	if ((r = transport_temp_store(&tmp, err)) < 0)
		return cairn_error_wrap(err, "%s", what);
	cleanup_free char *root = xasprintf("%s/rootfs", tmp.tmp_dir);
	if (mkdir(root, 0755) < 0)
		return cairn_error_errno(err, errno, "%s: creating %s", what, root);
	cleanup_close int dfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return cairn_error_errno(err, errno, "%s: opening %s", what, root);
	if ((r = apply_layers(s, &img, dfd, what, err)) < 0)
		return r;
	struct layer_write_opts wo = {.compression = LAYER_NONE, .source_date_epoch = -1};
	struct layer_info li;
	if ((r = layer_write_dir(tmp.s, dfd, &wo, &li, err)) < 0)
		return cairn_error_wrap(err, "%s", what);
	cleanup_close int bfd = -1;
	if ((r = store_open_blob(tmp.s, li.digest, &bfd, err)) < 0)
		return cairn_error_wrap(err, "%s", what);
	__attribute__((cleanup(sink_closep))) struct sink k = {.fd = -1};
	if ((r = sink_open(&k, dest, err)) < 0)
		return r;
	cleanup_free char *buf = xmalloc(WRITE_BLOCK);
	for (;;) {
		if (util_interrupted)
			return cairn_error_set(err, EINTR, "%s: interrupted", what);
		ssize_t n = read(bfd, buf, WRITE_BLOCK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return cairn_error_errno(err, errno, "%s: reading the tar", what);
		if (n == 0)
			break;
		int w = util_write_all(k.fd, buf, (size_t)n);
		if (w < 0)
			return cairn_error_errno(err, -w, "%s: writing", what);
	}
	return sink_commit(&k, err);
}
