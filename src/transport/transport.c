/* transport: specs, opening and releasing images, images of the caller's store and of
 * registries, an index resolved to a platform's manifest, an image copied into
 * another store; and what layout.c and docker-archive.c share. */
#include "internal.h"
#include "../oci/oci.h"

#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define COPY_BLOCK (256u << 10)

/* ---- specs ---- */

static const struct {
	const char *prefix;
	enum transport_kind kind;
} transports[] = {
    {"docker://", TRANSPORT_DOCKER},
    {"oci:", TRANSPORT_OCI},
    {"oci-archive:", TRANSPORT_OCI_ARCHIVE},
    {"docker-archive:", TRANSPORT_DOCKER_ARCHIVE},
};

/* containers/image's other transports: named so that "dir:/x" is not read as a
 * reference (whose error would say nothing of transports). */
static const char *const unsupported[] = {
    "dir", "docker-daemon", "containers-storage", "ostree", "sif", "tarball", "docker", NULL};

#define READABLE "oci:DIR[:REF], oci-archive:FILE[:REF], docker-archive:FILE[:REF], docker://REF"

int transport_parse(const char *spec, enum transport_kind *kind, const char **rest,
		    struct cairn_error *err)
{
	for (size_t i = 0; i < sizeof transports / sizeof transports[0]; i++) {
		size_t n = strlen(transports[i].prefix);
		if (strncmp(spec, transports[i].prefix, n))
			continue;
		if (!spec[n])
			return cairn_error_set(err, EINVAL, "\"%s\": nothing after the transport",
					       spec);
		*kind = transports[i].kind;
		*rest = spec + n;
		return 0;
	}
	size_t word = strspn(spec, "abcdefghijklmnopqrstuvwxyz-");
	if (word && spec[word] == ':') {
		for (size_t i = 0; unsupported[i]; i++)
			if (strlen(unsupported[i]) == word && !strncmp(spec, unsupported[i], word))
				return cairn_error_set(
				    err, EINVAL,
				    "\"%s\": cairn does not read the transport \"%.*s:\" (it "
				    "reads " READABLE ", and references in the store)",
				    spec, (int)word, spec);
	}
	if (strstr(spec, "://"))
		return cairn_error_set(err, EINVAL,
				       "\"%s\": unknown transport (cairn reads " READABLE
				       ", and references in the store)",
				       spec);
	if (!*spec)
		return cairn_error_set(err, EINVAL, "an empty image reference");
	*kind = TRANSPORT_STORE;
	*rest = spec;
	return 0;
}

int transport_split(const char *spec, const char *rest, char **path, const char **ref,
		    struct cairn_error *err)
{
	const char *colon = strchr(rest, ':');
	size_t n = colon ? (size_t)(colon - rest) : strlen(rest);
	if (n == 0)
		return cairn_error_set(err, EINVAL, "\"%s\": no path before the reference", spec);
	if (colon && !colon[1])
		return cairn_error_set(err, EINVAL, "\"%s\": an empty reference after ':'", spec);
	*path = xstrndup(rest, n);
	*ref = colon ? colon + 1 : NULL;
	return 0;
}

/* [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}: docker's tag. */
static bool is_tag(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 128 || s[0] == '.' || s[0] == '-')
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == n;
}

char *transport_local_tag(const char *path, const char *name)
{
	struct cairn_error ignored = CAIRN_ERROR_INIT;
	char *out = NULL;
	if (strchr(name, '@'))
		return NULL;
	if (strpbrk(name, ":/")) {
		if (ref_local_name(name, &out, &ignored) < 0)
			out = NULL;
		cairn_error_clear(&ignored);
		return out;
	}
	if (!is_tag(name))
		return NULL;
	/* the file's base name, without a trailing '/' or an archive's extension */
	cleanup_free char *base = xstrdup(path);
	size_t n = strlen(base);
	while (n > 1 && base[n - 1] == '/')
		base[--n] = '\0';
	const char *slash = strrchr(base, '/');
	cleanup_free char *stem = xstrdup(slash ? slash + 1 : base);
	char *dot = strchr(stem, '.');
	if (dot && dot != stem)
		*dot = '\0';
	cleanup_free char *full = xasprintf("%s:%s", stem, name);
	if (ref_local_name(full, &out, &ignored) < 0)
		out = NULL;
	cairn_error_clear(&ignored);
	return out;
}

/* ---- temporary stores ---- */

#define TEMP_PREFIX "cairn-image-"

/* Removes the temporary stores of cairn processes that ended without releasing them
 * (SIGKILL; SIGPIPE when their output was cut short): a cairn-image-* directory of
 * this user whose .lock nobody holds. Best effort. */
static void sweep_temp_stores(const char *base)
{
	DIR *d = opendir(base);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, TEMP_PREFIX, strlen(TEMP_PREFIX)))
			continue;
		struct stat st;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISDIR(st.st_mode) || st.st_uid != geteuid())
			continue;
		cleanup_free char *lock = xasprintf("%s/.lock", de->d_name);
		cleanup_close int fd = openat(dirfd(d), lock, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0)
			util_rm_rf(dirfd(d), de->d_name, NULL);
	}
	closedir(d);
}

int transport_temp_store(struct transport_image *img, struct cairn_error *err)
{
	const char *base = getenv("TMPDIR");
	if (!base || !*base)
		base = "/var/tmp";
	sweep_temp_stores(base);
	/* made under another name and locked before it is named as a sweep looks for
	 * it, so no sweep ever sees it unlocked */
	cleanup_free char *tmpl = xasprintf("%s/cairn-new-XXXXXX", base);
	if (!mkdtemp(tmpl))
		return cairn_error_errno(err, errno, "creating a temporary store in %s", base);
	cleanup_free char *lock = xasprintf("%s/.lock", tmpl);
	int fd = open(lock, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	char *dir = xasprintf("%s/" TEMP_PREFIX "%s", base, strrchr(tmpl, '-') + 1);
	if (fd < 0 || flock(fd, LOCK_EX) < 0 || rename(tmpl, dir) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		util_rm_rf(AT_FDCWD, tmpl, NULL);
		free(dir);
		return cairn_error_errno(err, e, "creating a temporary store in %s", base);
	}
	img->tmp_dir = dir;
	img->lock_fd = fd;
	cleanup_free char *root = xasprintf("%s/store", dir);
	int r = store_open(root, &img->own, err);
	if (r < 0)
		return cairn_error_wrap(err, "creating a temporary store");
	img->s = img->own;
	return 0;
}

void transport_image_release(struct transport_image *img)
{
	if (!img)
		return;
	store_close(img->own);
	if (img->tmp_dir) {
		util_rm_rf(AT_FDCWD, img->tmp_dir, NULL);
		close(img->lock_fd);
	}
	free(img->tmp_dir);
	free(img->name);
	strv_free(img->tags);
	memset(img, 0, sizeof *img);
}

void cleanup_transport_imagep(struct transport_image *img)
{
	transport_image_release(img);
}

/* ---- archives, read in place ---- */

void transport_archive_closep(struct archive **a)
{
	if (*a)
		archive_read_free(*a);
}

int transport_archive_file(struct transport_image *img, const char *rest, const char *prefix,
			   char **file, const char **ref, char **where, int *fd,
			   struct cairn_error *err)
{
	*file = *where = NULL;
	*fd = -1;
	int r = transport_split(img->name, rest, file, ref, err);
	if (r < 0)
		return r;
	*where = xasprintf("%s:%s", prefix, *file);
	*fd = open(*file, O_RDONLY | O_CLOEXEC);
	if (*fd < 0)
		return cairn_error_errno(err, errno, "%s: opening %s", *where, *file);
	return transport_temp_store(img, err);
}

int transport_archive_open(int fd, const char *what, struct archive **out, struct cairn_error *err)
{
	if (lseek(fd, 0, SEEK_SET) < 0)
		return cairn_error_errno(err, errno, "%s: seeking to its start", what);
	struct archive *a = archive_read_new();
	if (!a)
		return cairn_error_set(err, ENOMEM, "%s: creating a tar reader", what);
	archive_read_support_filter_all(a);
	archive_read_support_format_tar(a);
	if (archive_read_open_fd(a, fd, COPY_BLOCK) != ARCHIVE_OK) {
		int r = cairn_error_set(err, EINVAL, "%s: not a tar archive: %s", what,
					archive_error_string(a));
		archive_read_free(a);
		return r;
	}
	*out = a;
	return 0;
}

int transport_archive_read(struct archive *a, const char *what, size_t max, char **out, size_t *len,
			   struct cairn_error *err)
{
	cleanup_strbuf struct strbuf sb = STRBUF_INIT;
	char buf[16384];
	for (;;) {
		la_ssize_t n = archive_read_data(a, buf, sizeof buf);
		if (n < 0)
			return cairn_error_set(err, EINVAL, "%s: %s", what,
					       archive_error_string(a));
		if (n == 0)
			break;
		if (sb.len + (size_t)n > max)
			return cairn_error_set(err, EFBIG, "%s: larger than %zu MiB", what,
					       max >> 20);
		strbuf_add(&sb, buf, (size_t)n);
	}
	*len = sb.len;
	*out = strbuf_detach(&sb);
	return 0;
}

int transport_archive_blob(struct archive *a, struct store *s, const char *expect, const char *what,
			   char digest[DIGEST_LEN], uint64_t *size, unsigned char magic[4],
			   struct cairn_error *err)
{
	struct blob_writer *w = NULL;
	int r = store_blob_begin(s, &w, err);
	if (r < 0)
		return cairn_error_wrap(err, "%s", what);
	cleanup_free char *buf = xmalloc(COPY_BLOCK);
	uint64_t got = 0;
	if (magic)
		memset(magic, 0, 4);
	for (;;) {
		if (util_interrupted) {
			store_blob_abort(w);
			return cairn_error_set(err, EINTR, "%s: interrupted", what);
		}
		la_ssize_t n = archive_read_data(a, buf, COPY_BLOCK);
		if (n < 0) {
			store_blob_abort(w);
			return cairn_error_set(err, EINVAL, "%s: %s", what,
					       archive_error_string(a));
		}
		if (n == 0)
			break;
		if (magic && got < 4)
			memcpy(magic + got, buf, (size_t)n < 4 - got ? (size_t)n : 4 - got);
		got += (uint64_t)n;
		if ((r = store_blob_write(w, buf, (size_t)n, err)) < 0) {
			store_blob_abort(w);
			return cairn_error_wrap(err, "%s", what);
		}
	}
	if ((r = store_blob_commit(w, expect, digest, size, err)) < 0) {
		if (r == -EBADMSG)
			cairn_error_kind(err, CAIRN_ERR_INVALID);
		return cairn_error_wrap(err, "%s", what);
	}
	return 0;
}

/* ---- opening ---- */

static int open_store_image(struct store *local, const char *spec, struct transport_image *img,
			    struct cairn_error *err)
{
	if (!local)
		return cairn_error_set(err, ENOENT, "%s: there is no store to find it in", spec);
	if (digest_valid(spec)) {
		/* a manifest digest alone, as the store names its blobs */
		if (!store_has_blob(local, spec))
			return cairn_error_set(err, ENOENT, "no image %s in the store", spec);
		img->s = local;
		memcpy(img->digest, spec, DIGEST_LEN);
		return 0;
	}
	struct store_tag t;
	int r = registry_store_lookup(local, spec, &t, err);
	if (r < 0)
		return r;
	img->s = local;
	snprintf(img->digest, DIGEST_LEN, "%s", t.digest);
	free(img->name);
	img->name = xstrdup(t.ref);
	store_tag_release(&t);
	return 0;
}

static int open_registry_image(const char *rest, const struct registry_opts *ro,
			       struct transport_image *img, struct cairn_error *err)
{
	struct registry_opts o = REGISTRY_OPTS_INIT;
	if (ro)
		o = *ro;
	int r = transport_temp_store(img, err);
	if (r < 0)
		return r;
	return registry_pull(img->s, rest, &o, img->digest, err);
}

int transport_open(struct store *local, const char *spec, const struct registry_opts *ro,
		   struct transport_image *out, struct cairn_error *err)
{
	memset(out, 0, sizeof *out);
	enum transport_kind kind;
	const char *rest;
	int r = transport_parse(spec, &kind, &rest, err);
	if (r < 0)
		return r;
	cleanup_transport_image struct transport_image img = {.name = xstrdup(spec), .count = 1};
	switch (kind) {
	case TRANSPORT_STORE:
		r = open_store_image(local, spec, &img, err);
		break;
	case TRANSPORT_DOCKER:
		r = open_registry_image(rest, ro, &img, err);
		break;
	case TRANSPORT_OCI:
		r = transport_open_oci(&img, rest, err);
		break;
	case TRANSPORT_OCI_ARCHIVE:
		r = transport_open_oci_archive(&img, rest, err);
		break;
	case TRANSPORT_DOCKER_ARCHIVE:
		r = transport_open_docker_archive(&img, rest, err);
		break;
	}
	if (r < 0)
		return r;
	*out = img;
	memset(&img, 0, sizeof img);
	return 0;
}

/* ---- copying ---- */

/* Copies blob digest (size bytes, as its descriptor says) from src to dst, checked:
 * never a link, since src may be a layout its owner rewrites. */
static int copy_blob(struct store *src, struct store *dst, const char *digest, uint64_t size,
		     FILE *progress, struct cairn_error *err)
{
	if (store_has_blob(dst, digest)) {
		if (progress)
			fprintf(progress, "have %.19s…\n", digest);
		return 0;
	}
	uint64_t have = 0;
	int r = store_blob_size(src, digest, &have, err);
	if (r < 0)
		return cairn_error_wrap(err, "copying blob %s", digest);
	if (have != size)
		return cairn_error_set(
		    err, EBADMSG, "copying blob %s: it is %llu bytes, its descriptor says %llu",
		    digest, (unsigned long long)have, (unsigned long long)size);
	if ((r = store_copy_blob(dst, src, digest, false, err)) < 0) {
		if (r == -EBADMSG)
			cairn_error_kind(err, CAIRN_ERR_INVALID);
		return cairn_error_wrap(err, "copying blob %s", digest);
	}
	if (progress) {
		cleanup_free char *hs = util_human_size(size);
		fprintf(progress, "copy %.19s… %s\n", digest, hs);
	}
	return 0;
}

/* The digest and size of descriptor d (of the manifest digest). */
static int descriptor(json_t *d, const char *manifest, const char *what, const char **digest,
		      uint64_t *size, struct cairn_error *err)
{
	*digest = json_string_value(json_object_get(d, "digest"));
	json_t *sz = json_object_get(d, "size");
	if (!digest_valid(*digest))
		return cairn_error_set(err, EBADMSG,
				       "manifest %s: the %s's digest '%s' is not a sha256 digest",
				       manifest, what, *digest ? *digest : "(null)");
	if (!json_is_integer(sz) || json_integer_value(sz) < 0)
		return cairn_error_set(err, EBADMSG, "manifest %s: the %s %s has no valid size",
				       manifest, what, *digest);
	*size = (uint64_t)json_integer_value(sz);
	return 0;
}

/* Hashes blob digest of s, which its descriptor says is size bytes. */
static int check_blob(struct store *s, const char *digest, uint64_t size, struct cairn_error *err)
{
	cleanup_close int fd = -1;
	int r = store_open_blob(s, digest, &fd, err);
	if (r < 0)
		return r;
	struct stat st;
	if (fstat(fd, &st) < 0)
		return cairn_error_errno(err, errno, "checking blob %s", digest);
	if ((uint64_t)st.st_size != size)
		return cairn_error_set(err, EBADMSG,
				       "blob %s is %lld bytes, its descriptor says %llu", digest,
				       (long long)st.st_size, (unsigned long long)size);
	cleanup_free char *buf = xmalloc(COPY_BLOCK);
	struct sha256 h;
	sha256_init(&h);
	for (;;) {
		if (util_interrupted) {
			sha256_abort(&h);
			return cairn_error_set(err, EINTR, "checking blob %s: interrupted", digest);
		}
		ssize_t n = read(fd, buf, COPY_BLOCK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			sha256_abort(&h);
			return cairn_error_errno(err, e, "checking blob %s", digest);
		}
		if (n == 0)
			break;
		sha256_update(&h, buf, (size_t)n);
	}
	char got[DIGEST_LEN];
	sha256_final(&h, got);
	if (strcmp(got, digest))
		return cairn_error_set(err, EBADMSG, "blob %s has digest %s", digest, got);
	return 0;
}

int transport_verify(const struct transport_image *img, const char *platform,
		     struct cairn_error *err)
{
	if (!img->unchecked)
		return 0;
	char md[DIGEST_LEN];
	int r = oci_resolve(img->s, img->digest, platform, md, NULL, err);
	if (r < 0)
		return cairn_error_wrap(err, "%s", img->name);
	cleanup_json json_t *doc = NULL;
	if ((r = oci_read_json(img->s, md, "manifest", &doc, NULL, NULL, err)) < 0)
		return cairn_error_wrap(err, "%s", img->name);
	json_t *layers = json_object_get(doc, "layers");
	json_t *config = json_object_get(doc, "config");
	if (!json_is_object(config) || !json_is_array(layers))
		return cairn_error_set(err, EBADMSG, "%s: manifest %s has no config or no layers",
				       img->name, md);
	const char *d;
	uint64_t size;
	if ((r = descriptor(config, md, "config", &d, &size, err)) < 0 ||
	    (r = check_blob(img->s, d, size, err)) < 0)
		return cairn_error_wrap(err, "%s", img->name);
	size_t i;
	json_t *l;
	json_array_foreach(layers, i, l)
	{
		if ((r = descriptor(l, md, "layer", &d, &size, err)) < 0 ||
		    (r = check_blob(img->s, d, size, err)) < 0)
			return cairn_error_wrap(err, "%s", img->name);
	}
	return 0;
}

int transport_copy(const struct transport_image *img, struct store *dst, const char *platform,
		   FILE *progress, struct store_tag *out, struct cairn_error *err)
{
	memset(out, 0, sizeof *out);
	char md[DIGEST_LEN];
	int r = oci_resolve(img->s, img->digest, platform, md, NULL, err);
	if (r < 0)
		return cairn_error_wrap(err, "%s", img->name);
	cleanup_json json_t *doc = NULL;
	cleanup_free char *bytes = NULL;
	size_t len = 0;
	if ((r = oci_read_json(img->s, md, "manifest", &doc, &bytes, &len, err)) < 0)
		return cairn_error_wrap(err, "%s", img->name);
	json_t *layers = json_object_get(doc, "layers");
	json_t *config = json_object_get(doc, "config");
	if (!json_is_object(config) || !json_is_array(layers))
		return cairn_error_set(err, EBADMSG, "%s: manifest %s has no config or no layers",
				       img->name, md);
	const char *mt = json_string_value(json_object_get(doc, "mediaType"));
	if (!mt) {
		/* OCI manifests may leave it out; a docker schema 2 manifest never does */
		mt = MEDIA_TYPE_OCI_MANIFEST;
	}
	if (img->s != dst) {
		const char *d;
		uint64_t size;
		if ((r = descriptor(config, md, "config", &d, &size, err)) < 0 ||
		    (r = copy_blob(img->s, dst, d, size, progress, err)) < 0)
			return cairn_error_wrap(err, "%s", img->name);
		size_t i;
		json_t *l;
		json_array_foreach(layers, i, l)
		{
			if ((r = descriptor(l, md, "layer", &d, &size, err)) < 0 ||
			    (r = copy_blob(img->s, dst, d, size, progress, err)) < 0)
				return cairn_error_wrap(err, "%s", img->name);
		}
		char stored[DIGEST_LEN];
		if ((r = store_put_blob(dst, bytes, len, stored, err)) < 0)
			return cairn_error_wrap(err, "%s", img->name);
	}
	out->digest = xstrdup(md);
	out->media_type = xstrdup(mt);
	out->size = (int64_t)len;
	return 0;
}
