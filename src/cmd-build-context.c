/* cairn build's CONTEXT when it is not a directory, as docker build takes it: `-`
 * (a tar archive on stdin, plain or compressed, or a recipe alone with an empty
 * context) or a tar file. The archive is unpacked into a temp dir of the store
 * through layer_extract (nothing lands outside it), and the recipe is read from
 * inside it through the fs layer, so a symlink in the archive cannot make the
 * build read a file of the host. */
#include "builder/builder.h"
#include "commands.h"
#include "fs/fs.h"
#include "layer/layer.h"
#include "store/store.h"
#include "transport/transport.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* Copies stdin into the file path: a pipe cannot be looked at twice. */
static int save_stdin(const char *path, struct cairn_error *err)
{
	cleanup_close int out = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0)
		return cairn_error_errno(err, errno, "creating %s", path);
	if (cmd_copy_stdin(out, path, NULL, err) < 0)
		return cairn_error_wrap(err, "CONTEXT -");
	return 0;
}

/* The recipe inside the unpacked context: -f's path (relative to the archive's
 * root, as docker build takes it), else Recipe, else Dockerfile. */
static int read_recipe_in(int rootfd, const char *given, struct cmd_build_context *c,
			  struct cairn_error *err)
{
	static const char *const names[] = {"Recipe", "Dockerfile"};
	for (size_t i = 0; i < (given ? 1 : 2); i++) {
		const char *name = given ? given : names[i];
		cleanup_close int fd = fs_open(rootfd, name, O_RDONLY, 0);
		if (fd == -ENOENT && !given)
			continue;
		if (fd < 0)
			return cairn_error_errno(err, -fd, "%s in the context archive", name);
		cleanup_free char *path = xasprintf("/proc/self/fd/%d", fd);
		if (builder_read_recipe(path, &c->recipe, &c->recipe_len, err) < 0)
			return cairn_error_wrap(err, "%s in the context archive", name);
		c->recipe_name = xstrdup(name);
		return 0;
	}
	return cairn_error_set(err, ENOENT,
			       "no recipe: the context archive has neither Recipe nor Dockerfile "
			       "(use -f)");
}

int cmd_build_context_prepare(struct store *s, struct builder_opts *bo, struct cmd_build_context *c,
			      struct cairn_error *err)
{
	const char *ctx = bo->context_dir;
	bool from_stdin = !strcmp(ctx, "-");
	struct stat st;
	if (!from_stdin && (stat(ctx, &st) < 0 || S_ISDIR(st.st_mode)))
		return 0; /* a directory, or what the builder reports missing */
	int r = store_mkdtemp(s, "context-", &c->tmp, err);
	if (r < 0)
		return r;
	cleanup_free char *root = xasprintf("%s/context", c->tmp);
	if (mkdir(root, 0755) < 0)
		return cairn_error_errno(err, errno, "creating %s", root);
	cleanup_free char *saved = xasprintf("%s/stdin", c->tmp);
	if (from_stdin && (r = save_stdin(saved, err)) < 0)
		return r;
	const char *what = from_stdin ? "CONTEXT - (stdin)" : ctx;
	cleanup_close int fd = open(from_stdin ? saved : ctx, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cairn_error_errno(err, errno, "opening %s", what);
	cleanup_close int rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return cairn_error_errno(err, errno, "opening %s", root);
	bo->context_dir = c->context = xstrdup(root);
	bo->context_unpacked = true;
	if (!layer_is_archive(fd)) {
		if (!from_stdin)
			return cairn_error_set(
			    err, EINVAL,
			    "%s: the build context is a directory, a tar archive "
			    "or - (stdin); this file is not a tar archive",
			    ctx);
		/* docker build - < Dockerfile: the recipe alone, an empty context */
		if (bo->recipe_path)
			return cairn_error_set(
			    err, EINVAL,
			    "CONTEXT -: stdin holds a recipe, not a tar archive, "
			    "so -f %s has no context to be found in",
			    bo->recipe_path);
		if ((r = builder_read_recipe(saved, &c->recipe, &c->recipe_len, err)) < 0)
			return cairn_error_wrap(err, "CONTEXT - (stdin)");
		c->recipe_name = xstrdup("stdin");
	} else {
		struct layer_extract_opts xo = {.uid = -1, .gid = -1};
		/* root of a user namespace may not give away files: owners are the
		 * caller's, as COPY sets its own anyway */
		if (geteuid() != 0)
			xo.uid = xo.gid = 0;
		if ((r = layer_extract(fd, rootfd, &xo, what, err)) < 0)
			return r;
		if (bo->recipe_text) {
			return 0; /* -f - with a tar file context */
		}
		if ((r = read_recipe_in(rootfd, bo->recipe_path, c, err)) < 0)
			return r;
	}
	bo->recipe_text = c->recipe;
	bo->recipe_len = c->recipe_len;
	bo->recipe_path = c->recipe_name;
	return 0;
}

/* oci-layout://DIR[:TAG][@DIGEST]: the image copied from the layout into s;
 * *image a reference to it by digest. */
static int oci_layout(struct store *s, const char *flag, const char *name, const char *value,
		      char **image, struct cairn_error *err)
{
	cleanup_free char *path = xstrdup(value);
	char *at = strchr(path, '@');
	const char *want = NULL;
	if (at) {
		*at = '\0';
		want = at + 1;
		if (!digest_valid(want))
			return cairn_error_set(err, EINVAL, "%s: %s is not a sha256 digest", flag,
					       want);
	}
	size_t count = 1;
	for (size_t i = 0; i < count; i++) {
		/* by digest: each image of the layout in turn, until one is it */
		cleanup_free char *spec =
		    want ? xasprintf("oci:%s:@%zu", path, i) : xasprintf("oci:%s", path);
		cleanup_transport_image struct transport_image img = {0};
		if (transport_open(NULL, spec, NULL, &img, err) < 0)
			return cairn_error_wrap(err, "%s", flag);
		count = want ? img.count : 1;
		if (want && strcmp(img.digest, want))
			continue;
		struct store_tag tag = {0};
		if (transport_copy(&img, s, NULL, NULL, &tag, err) < 0)
			return cairn_error_wrap(err, "%s", flag);
		cleanup_free char *lower = xstrdup(name);
		for (char *p = lower; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		*image = xasprintf("oci-layout/%s@%s", lower, tag.digest);
		store_tag_release(&tag);
		return 0;
	}
	return cairn_error_set(err, ENOENT, "%s: the layout %s has no image %s", flag, path, want);
}

int cmd_build_named_contexts(struct store *s, char *const *specs, struct builder_opts *bo,
			     struct cmd_build_context *c, struct cairn_error *err)
{
	size_t n = 0;
	while (specs && specs[n])
		n++;
	if (!n)
		return 0;
	c->named = xcalloc(n, sizeof *c->named);
	for (size_t i = 0; i < n; i++) {
		const char *spec = specs[i];
		cleanup_free char *flag = xasprintf("--build-context %s", spec);
		const char *eq = strchr(spec, '=');
		char *name = xstrndup(spec, (size_t)(eq - spec));
		strv_push_take(&c->strings, name);
		const char *value = eq + 1;
		for (size_t k = 0; k < c->n_named; k++)
			if (!strcasecmp(c->named[k].name, name))
				return cairn_error_set(err, EINVAL, "%s: %s is named twice", flag,
						       name);
		struct builder_named_context *nc = &c->named[c->n_named];
		nc->name = name;
		if (!strncmp(value, "docker-image://", 15)) {
			if (!value[15])
				return cairn_error_set(err, EINVAL, "%s: no image reference", flag);
			nc->image = value + 15;
		} else if (!strncmp(value, "oci-layout://", 13)) {
			char *image = NULL;
			if (oci_layout(s, flag, name, value + 13, &image, err) < 0)
				return -1;
			strv_push_take(&c->strings, image);
			nc->image = image;
		} else if (strstr(value, "://") || !strncmp(value, "git@", 4)) {
			return cairn_error_set(err, EINVAL,
					       "%s: cairn takes a directory, docker-image://REF or "
					       "oci-layout://DIR[:TAG][@DIGEST] (no URLs)",
					       flag);
		} else {
			struct stat st;
			if (stat(value, &st) < 0)
				return cairn_error_errno(err, errno, "%s", flag);
			if (!S_ISDIR(st.st_mode))
				return cairn_error_set(err, ENOTDIR, "%s: %s is not a directory",
						       flag, value);
			nc->dir = value;
		}
		c->n_named++;
	}
	bo->named_contexts = c->named;
	bo->n_named_contexts = c->n_named;
	return 0;
}

void cmd_build_context_release(struct cmd_build_context *c)
{
	if (c->tmp)
		util_rm_rf(AT_FDCWD, c->tmp, NULL);
	free(c->tmp);
	free(c->context);
	free(c->recipe);
	free(c->recipe_name);
	free(c->named);
	strv_free(c->strings);
	memset(c, 0, sizeof *c);
}
