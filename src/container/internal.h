/* container internals shared by the files of src/container/; not the module's API. */
#ifndef CAIRN_CONTAINER_INTERNAL_H
#define CAIRN_CONTAINER_INTERNAL_H

#include "container.h"

#include <jansson.h>

/* config.json of c->cfg (and id, name, created) / back into c; -EBADMSG naming the
 * file when it is not what cairn wrote. */
int container_config_save(const struct container *c, struct cairn_error *err);
int container_config_load(struct container *c, struct cairn_error *err);
/* state.json: status, pid, exit code, times. */
int container_state_save(const struct container *c, struct cairn_error *err);
/* Opens c's lock file; with hold, takes it (LOCK_EX | LOCK_NB): -EBUSY when another
 * process holds it, that is, while the container runs. *fd is the open file. */
int container_lock(const struct container *c, int *fd, struct cairn_error *err);
/* Sets or replaces "K=V" in *env; a bare "K" takes this process's value (and is
 * skipped when unset), as docker's -e. */
void container_env_put(char ***env, const char *kv);
/* container_lock, tried every 100 ms for up to tenths tenths of a second (0: once)
 * until the container's runner lets go of it: -EBUSY while it still runs. */
int container_lock_wait(const struct container *c, int *fd, int tenths, struct cairn_error *err);
/* The image's layer trees, top-most first, as overlay lower dirs (new vector). */
int container_lower_dirs(struct store *s, const struct oci_image *img, char ***out,
			 struct cairn_error *err);
/* What of the writable layer at upperfd is only the sandbox's mount points, as
 * docker's init layer holds them, which neither cairn diff nor commit shows: /proc,
 * /dev, /sys, /etc/hosts, /etc/hostname and /etc/resolv.conf where the image (its
 * trees lower, top-most first) lacks them and they are empty, and the directories
 * above them the image lacks that hold nothing else. A new vector of paths like
 * "etc/hosts" (NULL when there are none). */
char **container_init_stubs(int upperfd, char *const *lower);

#endif
