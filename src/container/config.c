/* container: what cairn run was asked (struct container_config): made from an image
 * and the options, docker's way, and kept in config.json; the state in state.json. */
#include "internal.h"

#include "../fs/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void container_config_release(struct container_config *c)
{
	free(c->image);
	strv_free(c->argv);
	strv_free(c->env);
	free(c->cwd);
	free(c->user);
	free(c->hostname);
	free(c->ports);
	for (size_t i = 0; i < c->n_mounts; i++)
		container_mount_release(&c->mounts[i]);
	free(c->mounts);
	memset(c, 0, sizeof *c);
}

const char *container_status_name(enum container_status st)
{
	switch (st) {
	case CONTAINER_CREATED:
		return "created";
	case CONTAINER_RUNNING:
		return "running";
	case CONTAINER_EXITED:
		return "exited";
	}
	return "unknown";
}

static const char *json_str(const json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));
	return s ? s : "";
}

void container_env_put(char ***env, const char *kv)
{
	cleanup_free char *entry = NULL;
	if (!strchr(kv, '=')) {
		const char *v = getenv(kv);
		if (!v)
			return; /* docker drops a -e NAME that is unset */
		entry = xasprintf("%s=%s", kv, v);
	} else {
		entry = xstrdup(kv);
	}
	size_t klen = (size_t)(strchr(entry, '=') - entry);
	for (size_t i = 0; *env && (*env)[i]; i++)
		if (!strncmp((*env)[i], entry, klen + 1)) {
			free((*env)[i]);
			(*env)[i] = steal_pointer(&entry);
			return;
		}
	strv_push_take(env, steal_pointer(&entry));
}

int container_config_make(const struct oci_image *img, const char *ref,
			  const struct container_run_opts *o, struct container_config *cfg,
			  struct cairn_error *err)
{
	memset(cfg, 0, sizeof *cfg);
	const json_t *rc = json_object_get(img->config, "config");
	cleanup_strv char **entrypoint = NULL, **cmd = NULL;
	if (o->entrypoint)
		entrypoint =
		    (o->entrypoint[0] && *o->entrypoint[0]) ? strv_dup(o->entrypoint) : NULL;
	else if (json_is_array(json_object_get(rc, "Entrypoint")))
		entrypoint = util_json_to_strv(json_object_get(rc, "Entrypoint"));
	if (o->cmd && o->cmd[0])
		cmd = strv_dup(o->cmd);
	else if (!o->entrypoint && json_is_array(json_object_get(rc, "Cmd")))
		cmd = util_json_to_strv(json_object_get(rc, "Cmd"));
	for (size_t i = 0; entrypoint && entrypoint[i]; i++)
		strv_push(&cfg->argv, entrypoint[i]);
	for (size_t i = 0; cmd && cmd[i]; i++)
		strv_push(&cfg->argv, cmd[i]);
	if (!cfg->argv || !cfg->argv[0] || !*cfg->argv[0]) {
		container_config_release(cfg);
		return cairn_error_set(err, EINVAL,
				       "%s has no command (no Entrypoint or Cmd): give one after "
				       "the image name",
				       ref);
	}
	cfg->env = json_is_array(json_object_get(rc, "Env"))
		       ? util_json_to_strv(json_object_get(rc, "Env"))
		       : xcalloc(1, sizeof(char *));
	bool has_path = false;
	for (size_t i = 0; cfg->env[i]; i++)
		has_path = has_path || !strncmp(cfg->env[i], "PATH=", 5);
	if (!has_path) /* as docker gives a container of an image without one */
		strv_push(&cfg->env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:"
				     "/sbin:/bin");
	for (size_t i = 0; o->env && o->env[i]; i++)
		container_env_put(&cfg->env, o->env[i]);
	if (o->tty) {
		bool has_term = false;
		for (size_t i = 0; cfg->env[i]; i++)
			has_term = has_term || !strncmp(cfg->env[i], "TERM=", 5);
		if (!has_term)
			strv_push(&cfg->env, "TERM=xterm");
	}
	cfg->image = xstrdup(ref);
	memcpy(cfg->image_digest, img->digest, DIGEST_LEN);
	cfg->cwd = xstrdup(o->cwd ? o->cwd : json_str(rc, "WorkingDir"));
	cfg->user = xstrdup(o->user ? o->user : json_str(rc, "User"));
	cfg->hostname = xstrdup(o->hostname ? o->hostname : "");
	cfg->network = o->network;
	cfg->ports = xcalloc(o->n_ports + 1, sizeof *cfg->ports);
	if (o->n_ports)
		memcpy(cfg->ports, o->ports, o->n_ports * sizeof *cfg->ports);
	cfg->n_ports = o->n_ports;
	cfg->mounts = xcalloc(o->n_mounts + 1, sizeof *cfg->mounts);
	for (size_t i = 0; i < o->n_mounts; i++) {
		cfg->mounts[i] = o->mounts[i];
		cfg->mounts[i].source = o->mounts[i].source ? xstrdup(o->mounts[i].source) : NULL;
		cfg->mounts[i].target = xstrdup(o->mounts[i].target);
	}
	cfg->n_mounts = o->n_mounts;
	/* the image's VOLUMEs: an anonymous volume each, where no mount is given */
	json_t *volumes = json_object_get(rc, "Volumes");
	const char *path;
	json_t *unused;
	json_object_foreach(volumes, path, unused)
	{
		if (path[0] != '/')
			continue;
		cleanup_free char *target = fs_clean_path(path, FS_CLEAN_IN_ROOT_ABS);
		bool covered = !strcmp(target, "/");
		for (size_t i = 0; i < cfg->n_mounts && !covered; i++)
			covered = !strcmp(cfg->mounts[i].target, target);
		if (covered)
			continue;
		cfg->mounts = xrealloc(cfg->mounts, (cfg->n_mounts + 2) * sizeof *cfg->mounts);
		cfg->mounts[cfg->n_mounts++] = (struct container_mount){
		    .type = CONTAINER_MOUNT_VOLUME,
		    .target = steal_pointer(&target),
		    .anonymous = true,
		};
	}
	cfg->tty = o->tty;
	cfg->interactive = o->interactive;
	cfg->readonly_root = o->readonly_root;
	cfg->auto_remove = o->auto_remove;
	return 0;
}

static const char *const network_names[] = {"none", "host", "private"};
static const char *const mount_types[] = {"bind", "tmpfs", "volume"};

int container_config_save(const struct container *c, struct cairn_error *err)
{
	const struct container_config *cfg = &c->cfg;
	json_t *mounts = json_array();
	for (size_t i = 0; i < cfg->n_mounts; i++) {
		const struct container_mount *m = &cfg->mounts[i];
		json_t *j =
		    json_pack("{s:s, s:s, s:b, s:I, s:b, s:b}", "Type", mount_types[m->type],
			      "Target", m->target, "ReadOnly", m->readonly, "Size",
			      (json_int_t)m->size, "NoCopy", m->nocopy, "Anonymous", m->anonymous);
		if (m->source)
			json_object_set_new(j, "Source", json_string(m->source));
		json_array_append_new(mounts, j);
	}
	json_t *ports = json_array();
	for (size_t i = 0; i < cfg->n_ports; i++) {
		const struct sandbox_port *p = &cfg->ports[i];
		json_array_append_new(ports, json_pack("{s:s, s:i, s:i, s:s}", "HostIp", p->host_ip,
						       "HostPort", (int)p->host_port,
						       "ContainerPort", (int)p->container_port,
						       "Protocol", p->udp ? "udp" : "tcp"));
	}
	cleanup_json json_t *doc = json_pack(
	    "{s:s, s:s, s:I, s:s, s:s, s:o, s:o, s:s, s:s, s:s, s:s, s:o, s:b, s:b, s:b, s:b}",
	    "Id", c->id, "Name", c->name, "Created", (json_int_t)c->created, "Image", cfg->image,
	    "ImageDigest", cfg->image_digest, "Cmd", util_strv_to_json(cfg->argv), "Env",
	    util_strv_to_json(cfg->env), "WorkingDir", cfg->cwd, "User", cfg->user, "Hostname",
	    cfg->hostname, "Network", network_names[cfg->network], "Mounts", mounts, "Tty",
	    cfg->tty, "OpenStdin", cfg->interactive, "ReadonlyRootfs", cfg->readonly_root,
	    "AutoRemove", cfg->auto_remove);
	json_object_set_new(doc, "Ports", ports);
	cleanup_free char *text = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
	cleanup_close int dfd = open(c->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return cairn_error_errno(err, errno, "opening %s", c->dir);
	return util_write_file_atomic(dfd, "config.json", text, strlen(text), err);
}

static int bad_config(const struct container *c, const char *what, struct cairn_error *err)
{
	return cairn_error_set(err, EBADMSG, "%s/config.json: %s", c->dir, what);
}

int container_config_load(struct container *c, struct cairn_error *err)
{
	cleanup_free char *path = xasprintf("%s/config.json", c->dir);
	json_error_t je;
	cleanup_json json_t *doc = json_load_file(path, 0, &je);
	if (!doc)
		return cairn_error_set(err, EBADMSG, "%s: %s", path, je.text);
	struct container_config *cfg = &c->cfg;
	const char *digest = json_str(doc, "ImageDigest");
	if (!digest_valid(digest) || !json_is_array(json_object_get(doc, "Cmd")))
		return bad_config(c, "no image digest or command", err);
	free(c->name);
	c->name = xstrdup(json_str(doc, "Name"));
	c->created = json_integer_value(json_object_get(doc, "Created"));
	cfg->image = xstrdup(json_str(doc, "Image"));
	memcpy(cfg->image_digest, digest, DIGEST_LEN);
	cfg->argv = util_json_to_strv(json_object_get(doc, "Cmd"));
	cfg->env = util_json_to_strv(json_object_get(doc, "Env"));
	cfg->cwd = xstrdup(json_str(doc, "WorkingDir"));
	cfg->user = xstrdup(json_str(doc, "User"));
	cfg->hostname = xstrdup(json_str(doc, "Hostname"));
	if (sandbox_network_parse(json_str(doc, "Network"), &cfg->network) < 0)
		return bad_config(c, "unknown Network", err);
	cfg->tty = json_is_true(json_object_get(doc, "Tty"));
	cfg->interactive = json_is_true(json_object_get(doc, "OpenStdin"));
	cfg->readonly_root = json_is_true(json_object_get(doc, "ReadonlyRootfs"));
	cfg->auto_remove = json_is_true(json_object_get(doc, "AutoRemove"));
	const json_t *ports = json_object_get(doc, "Ports");
	cfg->ports = xcalloc(json_array_size(ports) + 1, sizeof *cfg->ports);
	size_t pi;
	json_t *pj;
	json_array_foreach(ports, pi, pj)
	{
		struct sandbox_port *p = &cfg->ports[cfg->n_ports];
		json_int_t hp = json_integer_value(json_object_get(pj, "HostPort"));
		json_int_t cp = json_integer_value(json_object_get(pj, "ContainerPort"));
		if (hp < 1 || hp > 65535 || cp < 1 || cp > 65535 ||
		    strlen(json_str(pj, "HostIp")) >= sizeof p->host_ip)
			return bad_config(c, "a published port out of range", err);
		snprintf(p->host_ip, sizeof p->host_ip, "%s", json_str(pj, "HostIp"));
		p->host_port = (uint16_t)hp;
		p->container_port = (uint16_t)cp;
		p->udp = !strcmp(json_str(pj, "Protocol"), "udp");
		cfg->n_ports++;
	}
	const json_t *mounts = json_object_get(doc, "Mounts");
	cfg->mounts = xcalloc(json_array_size(mounts) + 1, sizeof *cfg->mounts);
	size_t i;
	json_t *m;
	json_array_foreach(mounts, i, m)
	{
		struct container_mount *cm = &cfg->mounts[cfg->n_mounts];
		const char *type = json_str(m, "Type");
		const char *target = json_str(m, "Target");
		size_t ti = 0;
		while (ti < sizeof mount_types / sizeof *mount_types &&
		       strcmp(type, mount_types[ti]))
			ti++;
		if (ti == sizeof mount_types / sizeof *mount_types)
			return bad_config(c, "a mount of unknown type", err);
		if (target[0] != '/')
			return bad_config(c, "a mount without an absolute target", err);
		cm->type = (enum container_mount_type)ti;
		cm->target = xstrdup(target);
		if (json_is_string(json_object_get(m, "Source")))
			cm->source = xstrdup(json_str(m, "Source"));
		if (cm->type == CONTAINER_MOUNT_BIND && (!cm->source || cm->source[0] != '/'))
			return bad_config(c, "a bind mount without an absolute source", err);
		if (cm->type == CONTAINER_MOUNT_VOLUME && cm->source &&
		    !container_volume_name_valid(cm->source))
			return bad_config(c, "a volume mount whose name is not a volume's", err);
		cm->readonly = json_is_true(json_object_get(m, "ReadOnly"));
		cm->nocopy = json_is_true(json_object_get(m, "NoCopy"));
		cm->anonymous = json_is_true(json_object_get(m, "Anonymous"));
		cm->size = (uint64_t)json_integer_value(json_object_get(m, "Size"));
		cfg->n_mounts++;
	}
	return 0;
}

int container_state_save(const struct container *c, struct cairn_error *err)
{
	cleanup_json json_t *doc =
	    json_pack("{s:s, s:I, s:I, s:I, s:I}", "Status", container_status_name(c->status),
		      "Pid", (json_int_t)c->pid, "ExitCode", (json_int_t)c->exit_code, "StartedAt",
		      (json_int_t)c->started, "FinishedAt", (json_int_t)c->finished);
	cleanup_free char *text = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
	cleanup_close int dfd = open(c->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return cairn_error_errno(err, errno, "opening %s", c->dir);
	return util_write_file_atomic(dfd, "state.json", text, strlen(text), err);
}
