/* What a build sets on every step's resources, as docker build's options do: sizes
 * (--shm-size, --memory) in docker's units, resource limits (--ulimit) by docker's
 * names, and the step's cgroup for --memory and --cpu-quota (cgroup v2: a child of
 * the builder's own cgroup with memory.max and cpu.max, which the step is cloned
 * into; where cairn cannot make one, an error naming the flag and why). */
#include "internal.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif
#define CGROUP_ROOT "/sys/fs/cgroup"

int sandbox_size_parse(const char *flag, const char *text, uint64_t *out, struct cairn_error *err)
{
	/* docker's RAMInBytes: a number, then b, k, m, g, t or p (binary; "kb",
	 * "mib" alike), case-insensitive */
	static const char units[] = "bkmgtp";
	char *end = NULL;
	errno = 0;
	unsigned long long n = text && isdigit((unsigned char)*text) ? strtoull(text, &end, 10) : 0;
	if (!end || errno)
		goto bad;
	uint64_t v = n;
	if (*end) {
		const char *u = strchr(units, tolower((unsigned char)*end));
		if (!u)
			goto bad;
		const char *rest = end + 1;
		if (*u != 'b' && (!strcasecmp(rest, "b") || !strcasecmp(rest, "ib")))
			rest += strlen(rest);
		if (*rest)
			goto bad;
		for (long i = 0; i < u - units; i++) {
			if (v > UINT64_MAX / 1024)
				goto bad;
			v *= 1024;
		}
	}
	*out = v;
	return 0;
bad:
	return cairn_error_set(err, EINVAL,
			       "%s %s: expected a size: a number with an optional unit b, k, m "
			       "or g (\"64m\")",
			       flag, text ? text : "");
}

static const struct {
	const char *name;
	int resource;
} ulimit_names[] = {
    {"core", RLIMIT_CORE},	   {"cpu", RLIMIT_CPU},
    {"data", RLIMIT_DATA},	   {"fsize", RLIMIT_FSIZE},
    {"locks", RLIMIT_LOCKS},	   {"memlock", RLIMIT_MEMLOCK},
    {"msgqueue", RLIMIT_MSGQUEUE}, {"nice", RLIMIT_NICE},
    {"nofile", RLIMIT_NOFILE},	   {"nproc", RLIMIT_NPROC},
    {"rss", RLIMIT_RSS},	   {"rtprio", RLIMIT_RTPRIO},
    {"rttime", RLIMIT_RTTIME},	   {"sigpending", RLIMIT_SIGPENDING},
    {"stack", RLIMIT_STACK},
};

static bool parse_limit(const char *s, size_t len, uint64_t *out)
{
	if (len == 2 && !strncmp(s, "-1", 2)) {
		*out = RLIM_INFINITY;
		return true;
	}
	if (!len || len > 20)
		return false;
	char buf[24];
	memcpy(buf, s, len);
	buf[len] = '\0';
	for (size_t i = 0; i < len; i++)
		if (!isdigit((unsigned char)buf[i]))
			return false;
	errno = 0;
	unsigned long long v = strtoull(buf, NULL, 10);
	*out = v;
	return errno == 0;
}

int sandbox_ulimit_parse(const char *text, struct sandbox_ulimit *out, struct cairn_error *err)
{
	const char *eq = strchr(text, '=');
	if (!eq)
		return cairn_error_set(err, EINVAL, "--ulimit %s: expected TYPE=SOFT[:HARD]", text);
	size_t n = (size_t)(eq - text);
	out->resource = -1;
	for (size_t i = 0; i < sizeof ulimit_names / sizeof *ulimit_names; i++)
		if (strlen(ulimit_names[i].name) == n && !strncmp(text, ulimit_names[i].name, n))
			out->resource = ulimit_names[i].resource;
	if (out->resource < 0)
		return cairn_error_set(
		    err, EINVAL,
		    "--ulimit %s: unknown type %.*s (core, cpu, data, fsize, "
		    "locks, memlock, msgqueue, nice, nofile, nproc, rss, rtprio, "
		    "rttime, sigpending or stack)",
		    text, (int)n, text);
	const char *v = eq + 1;
	const char *colon = strchr(v, ':');
	size_t soft_len = colon ? (size_t)(colon - v) : strlen(v);
	if (!parse_limit(v, soft_len, &out->soft))
		return cairn_error_set(err, EINVAL, "--ulimit %s: %.*s is not a number", text,
				       (int)soft_len, v);
	out->hard = out->soft;
	if (colon && !parse_limit(colon + 1, strlen(colon + 1), &out->hard))
		return cairn_error_set(err, EINVAL, "--ulimit %s: %s is not a number", text,
				       colon + 1);
	if (out->soft > out->hard)
		return cairn_error_set(err, EINVAL,
				       "--ulimit %s: the soft limit is above the hard limit", text);
	return 0;
}

/* ---- the step's cgroup ---- */

/* The builder's own cgroup v2 directory (a new string), or an error saying why
 * there is none to make a step's cgroup in. */
static int own_cgroup(const char *flag, char **dir, struct cairn_error *err)
{
	struct statfs sfs;
	if (statfs(CGROUP_ROOT, &sfs) < 0 || sfs.f_type != CGROUP2_SUPER_MAGIC)
		return cairn_error_set(err, ENOTSUP,
				       "%s needs cgroup v2 to limit the step, and " CGROUP_ROOT
				       " is not a cgroup2 file system here (cgroup v1 or a "
				       "hybrid hierarchy); leave out %s",
				       flag, flag);
	cleanup_free char *text = NULL;
	if (util_read_file(AT_FDCWD, "/proc/self/cgroup", &text, NULL, err) < 0)
		return cairn_error_wrap(err, "%s: finding cairn's cgroup", flag);
	const char *line = strstr(text, "0::");
	if (line != text && (!line || line[-1] != '\n'))
		return cairn_error_set(err, ENOTSUP, "%s: cairn is in no cgroup v2 group", flag);
	line += 3;
	*dir = xasprintf(CGROUP_ROOT "%.*s", (int)strcspn(line, "\n"), line);
	return 0;
}

static int write_text(int dirfd, const char *name, const char *text)
{
	cleanup_close int fd = openat(dirfd, name, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	return util_write_all(fd, text, strlen(text));
}

/* cgroup v2 lets only a group without processes of its own hand controllers to
 * its children. When cairn is alone in its group (a systemd scope made for it),
 * it moves itself into a leaf below, as podman does, so the group can; -EBUSY
 * when other processes are there too. Once per process. */
static int leave_own_group(int ownfd)
{
	static bool moved;
	if (moved)
		return 0;
	cleanup_free char *procs = NULL;
	if (util_read_file(ownfd, "cgroup.procs", &procs, NULL, NULL) < 0)
		return -EBUSY;
	for (const char *l = procs; *l; l += strcspn(l, "\n") + (l[strcspn(l, "\n")] != 0))
		if (strtol(l, NULL, 10) != (long)getpid())
			return -EBUSY;
	char name[48];
	snprintf(name, sizeof name, "cairn-builder-%d", (int)getpid());
	if (mkdirat(ownfd, name, 0755) < 0 && errno != EEXIST)
		return -errno;
	cleanup_close int leaf = openat(ownfd, name, O_PATH | O_DIRECTORY | O_CLOEXEC);
	int r = leaf < 0 ? -errno : write_text(leaf, "cgroup.procs", "0");
	if (r == 0)
		moved = true;
	return r;
}

int sandbox_cgroup_prepare(const struct sandbox_spec *spec, struct sandbox_cgroup *cg,
			   struct cairn_error *err)
{
	cg->dir_fd = -1;
	if (!spec->memory && !spec->cpu_quota)
		return 0;
	const char *flag = spec->memory ? "--memory" : "--cpu-quota";
	cleanup_free char *own = NULL;
	int r = own_cgroup(flag, &own, err);
	if (r < 0)
		return r;
	cleanup_close int ownfd = open(own, O_PATH | O_DIRECTORY | O_CLOEXEC);
	cleanup_free char *controllers = NULL;
	if (ownfd < 0 || util_read_file(ownfd, "cgroup.controllers", &controllers, NULL, NULL) < 0)
		return cairn_error_errno(err, errno ? errno : EIO,
					 "%s: reading %s/cgroup.controllers", flag, own);
	const char *want[2] = {spec->memory ? "memory" : NULL, spec->cpu_quota ? "cpu" : NULL};
	const char *wflag[2] = {"--memory", "--cpu-quota"};
	for (int i = 0; i < 2; i++) {
		if (!want[i])
			continue;
		cleanup_free char *word = xasprintf(" %s ", want[i]);
		cleanup_free char *list =
		    xasprintf(" %.*s ", (int)strcspn(controllers, "\n"), controllers);
		if (!strstr(list, word))
			return cairn_error_set(err, ENOTSUP,
					       "%s needs the %s controller, which is not "
					       "delegated to cairn's cgroup %s (its "
					       "cgroup.controllers: %.*s)",
					       wflag[i], want[i], own,
					       (int)strcspn(controllers, "\n"), controllers);
		cleanup_free char *enable = xasprintf("+%s", want[i]);
		r = write_text(ownfd, "cgroup.subtree_control", enable);
		if (r == -EBUSY && leave_own_group(ownfd) == 0)
			r = write_text(ownfd, "cgroup.subtree_control", enable);
		if (r == -EBUSY)
			return cairn_error_set(
			    err, EBUSY,
			    "%s: the %s controller cannot be enabled below cairn's cgroup %s, "
			    "which holds other processes than cairn (cgroup v2 lets only a "
			    "group without processes delegate it); run cairn in a delegated "
			    "cgroup of its own, e.g. systemd-run --scope -p Delegate=yes cairn "
			    "build ...",
			    wflag[i], want[i], own);
		if (r < 0)
			return cairn_error_errno(err, -r,
						 "%s: enabling the %s controller in "
						 "%s/cgroup.subtree_control",
						 wflag[i], want[i], own);
	}
	static unsigned counter;
	cg->path = xasprintf("%s/cairn-step-%d-%u", own, (int)getpid(), counter++);
	if (mkdir(cg->path, 0755) < 0) {
		int e = errno;
		free(cg->path);
		cg->path = NULL;
		return cairn_error_errno(err, e, "%s: creating the step's cgroup below %s", flag,
					 own);
	}
	cleanup_close int fd = open(cg->path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	char value[64];
	r = fd < 0 ? -errno : 0;
	if (r == 0 && spec->memory) {
		snprintf(value, sizeof value, "%" PRIu64, spec->memory);
		r = write_text(fd, "memory.max", value);
		if (r < 0)
			return cairn_error_errno(err, -r, "--memory: writing %s/memory.max",
						 cg->path);
	}
	if (r == 0 && spec->cpu_quota) {
		snprintf(value, sizeof value, "%" PRId64 " 100000", spec->cpu_quota);
		r = write_text(fd, "cpu.max", value);
		if (r < 0)
			return cairn_error_errno(err, -r, "--cpu-quota: writing %s/cpu.max",
						 cg->path);
	}
	/* the child is cloned into it (CLONE_INTO_CGROUP), so that its cgroup
	 * namespace is rooted there and nothing of the step runs outside it */
	if (r == 0 && (cg->dir_fd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		r = -errno;
	if (r < 0)
		return cairn_error_errno(err, -r, "%s: the step's cgroup %s", flag, cg->path);
	return 0;
}

void sandbox_cgroup_release(struct sandbox_cgroup *cg)
{
	if (cg->dir_fd >= 0)
		close(cg->dir_fd);
	/* the step's processes are gone (its pid namespace died): the group is empty */
	if (cg->path)
		rmdir(cg->path);
	free(cg->path);
	cg->path = NULL;
	cg->dir_fd = -1;
}
