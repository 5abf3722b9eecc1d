/* --ssh: the SSH agents a build hands its RUN --mount=type=ssh steps, as buildx's
 * "default", "ID" (both $SSH_AUTH_SOCK) or "ID=SOCKET". Only an agent's socket is
 * taken, never key files: the step talks to the agent, and no key reaches a layer,
 * the history or a cache key. */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The socket of spec as a new string, or NULL when it names none ($SSH_AUTH_SOCK
 * unset); *id_len is the length of its id. */
static char *spec_socket(const char *spec, size_t *id_len)
{
	const char *eq = strchr(spec, '=');
	*id_len = eq ? (size_t)(eq - spec) : strlen(spec);
	if (eq)
		return xstrndup(eq + 1, strcspn(eq + 1, ","));
	const char *env = getenv("SSH_AUTH_SOCK");
	return env && *env ? xstrdup(env) : NULL;
}

int builder_ssh_check(const char *spec, struct cairn_error *err)
{
	size_t id_len;
	cleanup_free char *sock = spec_socket(spec, &id_len);
	if (!id_len)
		return cairn_error_set(err, EINVAL, "--ssh %s: expected default, ID or ID=SOCKET",
				       spec);
	if (!sock || !*sock)
		return cairn_error_set(err, EINVAL,
				       "--ssh %s: SSH_AUTH_SOCK is not set (start ssh-agent, or "
				       "give ID=SOCKET)",
				       spec);
	if (strchr(strchr(spec, '=') ? strchr(spec, '=') + 1 : "", ','))
		return cairn_error_set(err, ENOTSUP,
				       "--ssh %s: one agent socket per id (key files are not "
				       "taken: add them to an ssh-agent)",
				       spec);
	struct stat st;
	if (stat(sock, &st) < 0)
		return cairn_error_errno(err, errno, "--ssh %s: %s", spec, sock);
	if (!S_ISSOCK(st.st_mode))
		return cairn_error_set(err, EINVAL,
				       "--ssh %s: %s is not a socket (cairn takes an ssh-agent's "
				       "socket; key files are not taken: add them to an agent)",
				       spec, sock);
	return 0;
}

char *builder_ssh_socket(struct builder *b, const char *id)
{
	for (size_t i = 0; b->o->ssh && b->o->ssh[i]; i++) {
		size_t id_len;
		char *sock = spec_socket(b->o->ssh[i], &id_len);
		if (id_len == strlen(id) && !strncmp(b->o->ssh[i], id, id_len))
			return sock;
		free(sock);
	}
	return NULL;
}
