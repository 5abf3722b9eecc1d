/* builder: git repositories as ADD's sources, as BuildKit takes them:
 * URL[#REF[:SUBDIR]], REF a branch, tag or commit (default: the remote's HEAD). The
 * ref is resolved with `git ls-remote` on every build (the commit is the step's
 * key), and only a step that is not cached fetches it: shallowly, by commit, into a
 * temp dir of the store, with the `git` client (GIT_TERMINAL_PROMPT=0, the
 * build args' proxies). */
#include "internal.h"

#include "../fs/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

void builder_git_release(struct builder_git *g)
{
	free(g->url);
	free(g->ref);
	free(g->subdir);
	memset(g, 0, sizeof *g);
}

int builder_git_parse(const char *word, struct builder_git *g, struct cairn_error *err)
{
	memset(g, 0, sizeof *g);
	const char *hash = strchr(word, '#');
	g->url = hash ? xstrndup(word, (size_t)(hash - word)) : xstrdup(word);
	if (hash) {
		const char *colon = strchr(hash + 1, ':');
		g->ref = colon ? xstrndup(hash + 1, (size_t)(colon - hash - 1)) : xstrdup(hash + 1);
		if (colon && colon[1])
			g->subdir = fs_clean_path(colon + 1, FS_CLEAN_IN_ROOT);
	}
	if (g->ref && (!*g->ref || g->ref[0] == '-'))
		return cairn_error_set(err, EINVAL, "%s: \"%s\" is not a git ref", word, g->ref);
	if (!*g->url || g->url[0] == '-')
		return cairn_error_set(err, EINVAL, "%s: not a git repository URL", word);
	return 0;
}

/* Runs git with argv (after "git"), in dir when not NULL; its output (stdout and
 * stderr) in *out. -1 with err saying what git said when it fails. */
static int run_git(struct builder *b, const char *dir, char *const *args, char **out,
		   struct cairn_error *err)
{
	char **argv = NULL;
	strv_push(&argv, "git");
	if (dir) {
		strv_push(&argv, "-C");
		strv_push(&argv, dir);
	}
	for (size_t i = 0; args[i]; i++)
		strv_push(&argv, args[i]);
	char **env = strv_dup(environ);
	builder_env_set(&env, "GIT_TERMINAL_PROMPT", "0");
	builder_env_set(&env, "GIT_ASKPASS", "true");
	/* the build args' proxies, as RUN steps get them (over the environment's) */
	cleanup_strv char **proxies = NULL;
	builder_proxy_env(b, NULL, &proxies);
	for (size_t i = 0; proxies && proxies[i]; i++) {
		cleanup_free char *name = xstrndup(proxies[i], strcspn(proxies[i], "="));
		builder_env_set(&env, name, proxies[i] + strlen(name) + 1);
	}
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) < 0) {
		strv_free(argv);
		strv_free(env);
		return cairn_error_errno(err, errno, "git: a pipe");
	}
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	pid_t pid;
	int e = posix_spawnp(&pid, "git", &fa, NULL, argv, env);
	posix_spawn_file_actions_destroy(&fa);
	close(fds[1]);
	cleanup_strbuf struct strbuf sb = STRBUF_INIT;
	if (e == 0) {
		char buf[4096];
		ssize_t n;
		while ((n = read(fds[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
			if (n > 0 && sb.len < (1 << 20))
				strbuf_add(&sb, buf, (size_t)n);
	}
	close(fds[0]);
	int status = 0;
	if (e == 0)
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	cleanup_free char *cmd = NULL;
	{
		cleanup_strbuf struct strbuf c = STRBUF_INIT;
		for (size_t i = 0; argv[i]; i++)
			strbuf_addf(&c, "%s%s", i ? " " : "", argv[i]);
		cmd = strbuf_detach(&c);
	}
	strv_free(argv);
	strv_free(env);
	if (e != 0)
		return cairn_error_errno(err, e, "running git (is the git client installed?)");
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		while (sb.len && (sb.buf[sb.len - 1] == '\n' || sb.buf[sb.len - 1] == '\r'))
			strbuf_setlen(&sb, sb.len - 1);
		return cairn_error_set(err, EIO, "%s failed: %s", cmd,
				       sb.len ? sb.buf : "no output");
	}
	if (out)
		*out = strbuf_detach(&sb);
	return 0;
}

static bool is_commit(const char *s)
{
	return strlen(s) == 40 && strspn(s, "0123456789abcdef") == 40;
}

int builder_git_resolve(struct builder *b, struct builder_git *g, struct cairn_error *err)
{
	if (g->ref && is_commit(g->ref)) {
		snprintf(g->commit, sizeof g->commit, "%s", g->ref);
		return 0;
	}
	const char *ref = g->ref ? g->ref : "HEAD";
	cleanup_free char *out = NULL;
	char *args[] = {"ls-remote", "--", g->url, (char *)ref, NULL};
	builder_progress(b, "resolving %s#%s\n", g->url, ref);
	if (run_git(b, NULL, args, &out, err) < 0)
		return -1;
	/* a tag's peeled commit (REF^{}) wins over the tag object; exact names only */
	const char *want[] = {"refs/heads/", "refs/tags/", ""};
	for (const char *l = out; *l; l += strcspn(l, "\n") + (l[strcspn(l, "\n")] != 0)) {
		size_t n = strcspn(l, "\n");
		if (n < 42 || l[40] != '\t')
			continue;
		cleanup_free char *name = xstrndup(l + 41, n - 41);
		size_t nl = strlen(name);
		bool peeled = nl > 3 && !strcmp(name + nl - 3, "^{}");
		if (peeled)
			name[nl - 3] = '\0';
		bool match = false;
		for (size_t i = 0; i < 3 && !match; i++) {
			cleanup_free char *full = xasprintf("%s%s", want[i], ref);
			match = !strcmp(name, full);
		}
		if (match && (peeled || !*g->commit))
			snprintf(g->commit, sizeof g->commit, "%.40s", l);
	}
	if (!*g->commit)
		return cairn_error_set(err, ENOENT, "%s: no ref %s in the repository", g->url, ref);
	return 0;
}

int builder_git_checkout(struct builder *b, const struct builder_git *g, bool keep_git_dir,
			 char **tmp, char **root, struct cairn_error *err)
{
	*root = NULL;
	if (store_mkdtemp(b->s, "git-", tmp, err) < 0)
		return -1;
	cleanup_free char *dir = xasprintf("%s/repo", *tmp);
	char *init[] = {"init", "-q", dir, NULL};
	char *fetch[] = {"fetch", "-q", "--depth=1", "--", g->url, (char *)g->commit, NULL};
	char *fetch_all[] = {"fetch", "-q", "--tags", "--", g->url, "+refs/heads/*:refs/heads/*",
			     NULL};
	char *checkout[] = {"-c", "advice.detachedHead=false", "checkout",
			    "-q", (char *)g->commit,	       NULL};
	builder_progress(b, "fetching %s at %s\n", g->url, g->commit);
	if (run_git(b, NULL, init, NULL, err) < 0)
		return -1;
	/* by commit, shallow; a server that refuses a commit it does not advertise
	 * gets asked for everything */
	struct cairn_error e = CAIRN_ERROR_INIT;
	if (run_git(b, dir, fetch, NULL, &e) < 0) {
		cairn_error_clear(&e);
		if (run_git(b, dir, fetch_all, NULL, err) < 0)
			return -1;
	}
	if (run_git(b, dir, checkout, NULL, err) < 0)
		return -1;
	if (!keep_git_dir) {
		cleanup_free char *dotgit = xasprintf("%s/.git", dir);
		if (util_rm_rf(AT_FDCWD, dotgit, err) < 0)
			return -1;
	}
	*root = steal_pointer(&dir);
	return 0;
}
