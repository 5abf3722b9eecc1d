/* container: cairn commit: the writable layer becomes a layer on the container's
 * image, with a history entry and docker commit's config changes. */
#include "internal.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* A CMD/ENTRYPOINT value: a JSON array of strings, else the shell form. */
static json_t *command_value(const char *v)
{
	json_t *j = json_loads(v, 0, NULL);
	bool strings = json_is_array(j);
	size_t i;
	json_t *x;
	json_array_foreach(j, i, x) strings = strings && json_is_string(x);
	if (strings)
		return j;
	json_decref(j);
	return json_pack("[s, s, s]", "/bin/sh", "-c", v);
}

static json_t *object_at(json_t *obj, const char *key)
{
	json_t *o = json_object_get(obj, key);
	if (!json_is_object(o)) {
		o = json_object();
		json_object_set_new(obj, key, o);
	}
	return o;
}

/* One line of docker commit -c on the runtime config rc. */
static int apply_change(json_t *rc, const char *line, struct cairn_error *err)
{
	while (isspace((unsigned char)*line))
		line++;
	size_t klen = strcspn(line, " \t");
	cleanup_free char *kw = xstrndup(line, klen);
	for (char *p = kw; *p; p++)
		*p = (char)toupper((unsigned char)*p);
	const char *v = line + klen;
	while (isspace((unsigned char)*v))
		v++;
	if (!*v)
		return cairn_error_set(err, EINVAL, "-c %s: %s needs a value", line, kw);
	if (!strcmp(kw, "CMD") || !strcmp(kw, "ENTRYPOINT")) {
		json_object_set_new(rc, !strcmp(kw, "CMD") ? "Cmd" : "Entrypoint",
				    command_value(v));
	} else if (!strcmp(kw, "WORKDIR")) {
		json_object_set_new(rc, "WorkingDir", json_string(v));
	} else if (!strcmp(kw, "USER")) {
		json_object_set_new(rc, "User", json_string(v));
	} else if (!strcmp(kw, "ENV") || !strcmp(kw, "LABEL")) {
		const char *eq = strchr(v, '=');
		size_t kl = eq ? (size_t)(eq - v) : strcspn(v, " \t");
		const char *val = eq ? eq + 1 : v + kl + strspn(v + kl, " \t");
		if (!kl)
			return cairn_error_set(err, EINVAL, "-c %s: expected %s KEY=VALUE", line,
					       kw);
		cleanup_free char *key = xstrndup(v, kl);
		if (!strcmp(kw, "LABEL")) {
			json_object_set_new(object_at(rc, "Labels"), key, json_string(val));
			return 0;
		}
		json_t *env = json_object_get(rc, "Env");
		if (!json_is_array(env)) {
			env = json_array();
			json_object_set_new(rc, "Env", env);
		}
		cleanup_free char *entry = xasprintf("%s=%s", key, val);
		size_t i;
		json_t *x;
		json_array_foreach(env, i, x)
		{
			const char *s = json_string_value(x);
			if (s && !strncmp(s, key, kl) && s[kl] == '=') {
				json_array_set_new(env, i, json_string(entry));
				return 0;
			}
		}
		json_array_append_new(env, json_string(entry));
	} else if (!strcmp(kw, "EXPOSE")) {
		cleanup_free char *port = strchr(v, '/') ? xstrdup(v) : xasprintf("%s/tcp", v);
		json_object_set_new(object_at(rc, "ExposedPorts"), port, json_object());
	} else {
		return cairn_error_set(err, EINVAL,
				       "-c %s: cairn commit applies CMD, ENTRYPOINT, ENV, LABEL, "
				       "EXPOSE, USER and WORKDIR",
				       line);
	}
	return 0;
}

static char *created_by(const struct container *c)
{
	struct strbuf sb = STRBUF_INIT;
	for (size_t i = 0; c->cfg.argv[i]; i++)
		strbuf_addf(&sb, "%s%s", i ? " " : "", c->cfg.argv[i]);
	return strbuf_detach(&sb);
}

int container_commit(struct store *s, struct container *c, const char *ref,
		     const struct container_commit_opts *o, char digest[DIGEST_LEN],
		     struct cairn_error *err)
{
	cleanup_oci_image struct oci_image img = {0};
	int r = oci_image_load(s, c->cfg.image_digest, &img, err);
	if (r < 0)
		return cairn_error_wrap(err, "image %s of container %s", c->cfg.image, c->name);
	json_t *rc = oci_image_runconfig(&img);
	for (size_t i = 0; o->changes && o->changes[i]; i++)
		if ((r = apply_change(rc, o->changes[i], err)) < 0)
			return r;
	cleanup_free char *upper = xasprintf("%s/upper", c->dir);
	cleanup_close int dfd = open(upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return cairn_error_errno(err, errno, "opening %s", upper);
	/* the mount points of a running container are not its changes, as docker
	 * leaves its init layer out */
	cleanup_strv char **lower = NULL;
	if ((r = container_lower_dirs(s, &img, &lower, err)) < 0)
		return r;
	cleanup_strv char **stubs = container_init_stubs(dfd, lower);
	struct layer_write_opts wo = {.compression = o->compression,
				      .source_date_epoch = -1,
				      .overlay_upper = true,
				      .ignore = (const char *const *)stubs};
	struct layer_info info;
	if ((r = layer_write_dir(s, dfd, &wo, &info, err)) < 0)
		return cairn_error_wrap(err, "the writable layer of container %s", c->name);
	struct oci_layer l = {.size = info.size, .media_type = (char *)info.media_type};
	memcpy(l.digest, info.digest, DIGEST_LEN);
	memcpy(l.diff_id, info.diff_id, DIGEST_LEN);
	oci_image_add_layer(&img, &l);
	cleanup_free char *now = util_rfc3339((int64_t)time(NULL));
	cleanup_free char *by = created_by(c);
	oci_image_add_history(&img, now, by, false);
	json_t *history = json_object_get(img.config, "history");
	json_t *last = json_array_get(history, json_array_size(history) - 1);
	if (o->message && *o->message)
		json_object_set_new(last, "comment", json_string(o->message));
	if (o->author && *o->author) {
		json_object_set_new(last, "author", json_string(o->author));
		json_object_set_new(img.config, "author", json_string(o->author));
	}
	int64_t size = 0;
	if ((r = oci_image_write(s, &img, &size, err)) < 0)
		return r;
	memcpy(digest, img.digest, DIGEST_LEN);
	if (!ref)
		return 0;
	struct store_tag t = {
	    .ref = (char *)ref,
	    .digest = img.digest,
	    .media_type = (char *)MEDIA_TYPE_OCI_MANIFEST,
	    .size = size,
	};
	return store_tag_set(s, &t, err);
}
