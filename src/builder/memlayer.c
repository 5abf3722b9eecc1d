/* In-memory upper dirs and the layer trees kept in them. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

/* ---- in-memory upper dirs ----
 * A step's upper dir is a tmpfs while the build's budget lasts: writing many small
 * files costs a fraction of what it costs on a disk filesystem, and the tree is read
 * back at once for the layer. The tree then stays mounted as the lower dir of later
 * steps of this build; it never goes to cairn/layers (a later build that needs it
 * unpacks it from its blob, as for any layer without a tree). A step that fills its
 * tmpfs and fails runs again on disk. */

/* Smallest tmpfs worth mounting; below it the step goes to disk at once. */
#define MEM_UPPER_MIN (64ll << 20)
/* At most this much of the build's memory, whatever the machine has. */
#define MEM_UPPER_MAX (4ll << 30)

/* A number from a one-line file (cgroup v2 memory.max is "max" when unlimited). */
static int64_t read_number(const char *path)
{
	cleanup_free char *text = NULL;
	if (util_read_file(AT_FDCWD, path, &text, NULL, NULL) < 0)
		return -1;
	char *end;
	errno = 0;
	long long v = strtoll(text, &end, 10);
	return errno || end == text || v < 0 ? -1 : (int64_t)v;
}

/* The memory limit and use of the cgroup cairn runs in (v2 "0::/path", or v1's
 * memory controller "N:memory:/path"); -1 when unknown. */
static void cgroup_memory(int64_t *max, int64_t *cur)
{
	cleanup_free char *text = NULL;
	if (util_read_file(AT_FDCWD, "/proc/self/cgroup", &text, NULL, NULL) < 0)
		return;
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *v1 = strstr(line, ":memory:/");
		cleanup_free char *max_path = NULL, *cur_path = NULL;
		if (v1) {
			max_path =
			    xasprintf("/sys/fs/cgroup/memory%s/memory.limit_in_bytes", v1 + 8);
			cur_path =
			    xasprintf("/sys/fs/cgroup/memory%s/memory.usage_in_bytes", v1 + 8);
		} else if (!strncmp(line, "0::/", 4)) {
			max_path = xasprintf("/sys/fs/cgroup%s/memory.max", line + 3);
			cur_path = xasprintf("/sys/fs/cgroup%s/memory.current", line + 3);
		} else {
			continue;
		}
		int64_t m = read_number(max_path), c = read_number(cur_path);
		if (m >= 0 && c >= 0) {
			*max = m;
			*cur = c;
			return;
		}
	}
}

/* A quarter of the memory the machine (or the cgroup cairn is in) has free, at most
 * MEM_UPPER_MAX; $CAIRN_TMPFS_LIMIT (bytes, 0: never) overrides. */
static int64_t mem_budget_default(void)
{
	const char *env = getenv("CAIRN_TMPFS_LIMIT");
	if (env && *env) {
		char *end;
		long long v = strtoll(env, &end, 10);
		return *end || v < 0 ? 0 : (int64_t)v;
	}
	int64_t avail = -1;
	cleanup_fclose FILE *f = fopen("/proc/meminfo", "re");
	char line[256];
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "MemAvailable: %" SCNd64 " kB", &avail) == 1) {
			avail *= 1024;
			break;
		}
	int64_t max = -1, cur = -1;
	cgroup_memory(&max, &cur);
	if (max >= 0 && cur >= 0 && (avail < 0 || max - cur < avail))
		avail = max > cur ? max - cur : 0;
	if (avail < 0)
		return 0;
	return avail / 4 < MEM_UPPER_MAX ? avail / 4 : MEM_UPPER_MAX;
}

static int64_t tmpfs_used(const char *path)
{
	struct statvfs sv;
	if (statvfs(path, &sv) < 0)
		return 0;
	return (int64_t)(sv.f_blocks - sv.f_bfree) * (int64_t)sv.f_frsize;
}

bool builder_rootfs_full(const struct rootfs *rf)
{
	struct statvfs sv;
	if (!rf->mem || statvfs(rf->mem, &sv) < 0)
		return false;
	/* a few blocks or inodes may be left over by a write that did not fit */
	return sv.f_bavail * sv.f_frsize < (1u << 20) || sv.f_favail < 64;
}

/* Mounts a tmpfs for rf's upper and work dirs when the budget allows; false when
 * the step is to use the disk. */
bool builder_mem_upper_mount(struct builder *b, struct rootfs *rf)
{
	if (!b->mem_budget_set) {
		b->mem_budget = mem_budget_default();
		b->mem_budget_set = true;
	}
	if (rf->on_disk || b->mem_budget < MEM_UPPER_MIN)
		return false;
	struct cairn_error e = CAIRN_ERROR_INIT;
	cleanup_free char *dir = NULL;
	if (store_mkdtemp(b->s, "mem-", &dir, &e) < 0) {
		cairn_error_clear(&e);
		return false;
	}
	cleanup_free char *opts = xasprintf("mode=0755,size=%" PRId64 ",nr_inodes=%" PRId64,
					    b->mem_budget, b->mem_budget / 1024);
	/* nosuid and nodev change nothing a step sees (see builder_mount_nosuid_nodev);
	 * they keep what a step left here inert outside it */
	if (mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0) {
		rmdir(dir);
		return false;
	}
	rf->mem = steal_pointer(&dir);
	return true;
}

void builder_mem_umount(const char *dir)
{
	umount2(dir, MNT_DETACH);
	rmdir(dir);
}

/* Keeps rf's upper dir, now the tree of diff_id, mounted for later steps. */
void builder_mem_layer_keep(struct builder *b, struct rootfs *rf, const char *diff_id)
{
	for (size_t i = 0; i < b->n_mem_layers; i++)
		if (!strcmp(b->mem_layers[i].diff_id, diff_id))
			return; /* the same tree twice: release frees this one */
	cleanup_free char *work = xasprintf("%s/work", rf->mem);
	util_rm_rf(AT_FDCWD, work, NULL);
	b->mem_budget -= tmpfs_used(rf->mem);
	b->mem_layers = xrealloc(b->mem_layers, (b->n_mem_layers + 1) * sizeof *b->mem_layers);
	struct mem_layer *m = &b->mem_layers[b->n_mem_layers++];
	memcpy(m->diff_id, diff_id, DIGEST_LEN);
	m->mount = steal_pointer(&rf->mem);
	m->tree = steal_pointer(&rf->upper);
	m->owner = getpid();
}

void builder_mem_layers_release(struct builder *b)
{
	for (size_t i = 0; i < b->n_mem_layers; i++) {
		if (b->mem_layers[i].owner == getpid())
			builder_mem_umount(b->mem_layers[i].mount);
		free(b->mem_layers[i].mount);
		free(b->mem_layers[i].tree);
	}
	free(b->mem_layers);
	b->mem_layers = NULL;
	b->n_mem_layers = 0;
}
