/* USER resolution against the image's own /etc/passwd and /etc/group, the way
 * docker (runc's GetExecUser) does it. */
#include "internal.h"

#include "../fs/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Reads the file at path below rootfd into *out; *out stays NULL when it does not exist. */
static int read_file_in_root(int rootfd, const char *path, char **out, struct cairn_error *err)
{
	*out = NULL;
	int r = fs_read_file(rootfd, path, out, NULL, err);
	if (r == -ENOENT || r == -ENOTDIR) {
		cairn_error_clear(err);
		return 0;
	}
	return r;
}

/* Parses a decimal uid/gid in docker's range 0..2^31-1; false when s is not a number. */
static bool parse_id(const char *s, unsigned *out)
{
	if (!*s || strspn(s, "0123456789") != strlen(s))
		return false;
	errno = 0;
	unsigned long long v = strtoull(s, NULL, 10);
	if (errno || v > INT_MAX)
		return false;
	*out = (unsigned)v;
	return true;
}

/* Splits a colon-separated line in place into at most n fields; returns how many. */
static size_t split_fields(char *line, char **fields, size_t n)
{
	size_t i = 0;
	while (i < n) {
		fields[i++] = line;
		line = strchr(line, ':');
		if (!line)
			break;
		*line++ = '\0';
	}
	return i;
}

/* Calls fn on each line of a passwd- or group-style file with its fields split;
 * stops when fn returns true. */
static void for_each_entry(char *text, size_t n_fields, bool (*fn)(char **f, size_t n, void *ctx),
			   void *ctx)
{
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		line[strcspn(line, "\r")] = '\0';
		if (!*line || *line == '#')
			continue;
		char *f[8] = {NULL};
		size_t n = split_fields(line, f, n_fields);
		if (fn(f, n, ctx))
			return;
	}
}

struct passwd_match {
	const char *name; /* the USER argument */
	bool numeric;
	unsigned id;
	bool found;
	unsigned uid, gid;
	char *matched_name; /* owned */
	char *home;	    /* owned */
};

static bool match_passwd(char **f, size_t n, void *ctx)
{
	struct passwd_match *m = ctx;
	unsigned uid, gid;
	if (n < 4 || !parse_id(f[2], &uid) || !parse_id(f[3], &gid))
		return false;
	if (m->numeric ? uid != m->id : strcmp(f[0], m->name) != 0)
		return false;
	m->found = true;
	m->uid = uid;
	m->gid = gid;
	m->matched_name = xstrdup(f[0]);
	m->home = n >= 6 && *f[5] ? xstrdup(f[5]) : NULL;
	return true;
}

struct group_match {
	const char *name; /* the group argument */
	bool numeric;
	unsigned id;
	bool found;
	unsigned gid;
};

static bool match_group(char **f, size_t n, void *ctx)
{
	struct group_match *m = ctx;
	unsigned gid;
	if (n < 3 || !parse_id(f[2], &gid))
		return false;
	if (m->numeric ? gid != m->id : strcmp(f[0], m->name) != 0)
		return false;
	m->found = true;
	m->gid = gid;
	return true;
}

struct member_match {
	const char *user;
	struct sandbox_user *out;
};

static void add_group(struct sandbox_user *u, gid_t gid)
{
	for (size_t i = 0; i < u->n_groups; i++)
		if (u->groups[i] == gid)
			return;
	u->groups = xrealloc(u->groups, (u->n_groups + 1) * sizeof *u->groups);
	u->groups[u->n_groups++] = gid;
}

static bool match_member(char **f, size_t n, void *ctx)
{
	struct member_match *m = ctx;
	unsigned gid;
	if (n < 4 || !parse_id(f[2], &gid))
		return false;
	char *save = NULL;
	for (char *u = strtok_r(f[3], ",", &save); u; u = strtok_r(NULL, ",", &save))
		if (!strcmp(u, m->user))
			add_group(m->out, gid);
	return false;
}

int sandbox_lookup_user(int rootfd, const char *user, struct sandbox_user *out,
			struct cairn_error *err)
{
	memset(out, 0, sizeof *out);
	cleanup_free char *arg = xstrdup(user && *user ? user : "0");
	char *group = strchr(arg, ':');
	if (group)
		*group++ = '\0';
	const char *name = *arg ? arg : "0";

	cleanup_free char *passwd = NULL;
	cleanup_free char *groups = NULL;
	int r = read_file_in_root(rootfd, "etc/passwd", &passwd, err);
	if (r == 0)
		r = read_file_in_root(rootfd, "etc/group", &groups, err);
	if (r < 0)
		return r;

	struct passwd_match pm = {.name = name};
	pm.numeric = parse_id(name, &pm.id);
	if (!pm.numeric && strspn(name, "0123456789") == strlen(name))
		return cairn_error_set(
		    err, EINVAL, "user %s: uids and gids must be in range 0-2147483647", name);
	if (passwd)
		for_each_entry(passwd, 7, match_passwd, &pm);
	cleanup_free char *matched_name = pm.matched_name;
	cleanup_free char *home = pm.home;
	if (pm.found) {
		out->uid = pm.uid;
		out->gid = pm.gid;
	} else if (pm.numeric) {
		out->uid = pm.id;
		out->gid = 0;
	} else {
		return cairn_error_set(err, ENOENT,
				       "unable to find user %s: no matching entries in passwd file",
				       name);
	}

	if (group && *group) {
		struct group_match gm = {.name = group};
		gm.numeric = parse_id(group, &gm.id);
		if (!gm.numeric && strspn(group, "0123456789") == strlen(group))
			return cairn_error_set(
			    err, EINVAL, "group %s: uids and gids must be in range 0-2147483647",
			    group);
		cleanup_free char *copy = groups ? xstrdup(groups) : NULL;
		if (copy)
			for_each_entry(copy, 4, match_group, &gm);
		if (gm.found)
			out->gid = gm.gid;
		else if (gm.numeric)
			out->gid = gm.id;
		else
			return cairn_error_set(
			    err, ENOENT,
			    "unable to find group %s: no matching entries in group file", group);
	}

	add_group(out, out->gid);
	/* docker adds the groups listing the user only when no group was given explicitly */
	if (!(group && *group) && matched_name && groups) {
		struct member_match mm = {.user = matched_name, .out = out};
		for_each_entry(groups, 4, match_member, &mm);
	}
	/* HOME for the step, as runc: the passwd entry's, else "/" */
	out->home = home ? steal_pointer(&home) : xstrdup("/");
	return 0;
}

void sandbox_user_release(struct sandbox_user *u)
{
	free(u->groups);
	u->groups = NULL;
	u->n_groups = 0;
	free(u->home);
	u->home = NULL;
}

int sandbox_resolve_user(const char *rootfs, const char *user, uid_t *uid, gid_t *gid,
			 struct cairn_error *err)
{
	cleanup_close int rootfd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return cairn_error_errno(err, errno, "opening root %s", rootfs);
	struct sandbox_user u;
	int r = sandbox_lookup_user(rootfd, user, &u, err);
	if (r < 0)
		return r;
	*uid = u.uid;
	*gid = u.gid;
	sandbox_user_release(&u);
	return 0;
}
