/* The name files of every step: /etc/hosts (localhost, ::1, the step's hostname and
 * the build's --add-host entries), /etc/hostname and /etc/resolv.conf, whatever the
 * network, as docker and BuildKit give them. They are SANDBOX_MOUNT_FILE mounts put
 * before the step's own: files in the step's /dev tmpfs bound read-only over the
 * image's (BuildKit binds them read-only too), made for the step where the image
 * has none and removed after it, so none of them reaches a layer unless the step
 * wrote it under another name. resolv.conf: the private network's forwarder, else
 * this system's (without its loopback resolvers when the step has a network of its
 * own, where they are not reachable). */
#include "internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SYSTEM_RESOLV "/etc/resolv.conf"
/* what a step's resolv.conf is at most: glibc reads far less */
#define RESOLV_MAX (64 * 1024)

/* The address host-gateway stands for on network n (docker: the host as seen from
 * the container), or NULL where the step has no way to the host. */
static const char *host_gateway(enum sandbox_network n)
{
	switch (n) {
	case SANDBOX_NET_PRIVATE:
		return "10.0.2.2";
	case SANDBOX_NET_HOST:
		return "127.0.0.1";
	case SANDBOX_NET_NONE:
		break;
	}
	return NULL;
}

/* Splits docker's "HOST:IP" (or "HOST=IP"); IPv6 may be bracketed. */
static int split_add_host(const char *spec, char **host, char **ip, struct cairn_error *err)
{
	const char *sep = strchr(spec, '=');
	if (!sep)
		sep = strchr(spec, ':');
	if (!sep || sep == spec || !sep[1])
		return cairn_error_set(err, EINVAL, "--add-host %s: expected HOST:IP", spec);
	*host = xstrndup(spec, (size_t)(sep - spec));
	const char *addr = sep + 1;
	size_t len = strlen(addr);
	if (addr[0] == '[' && len > 2 && addr[len - 1] == ']')
		*ip = xstrndup(addr + 1, len - 2);
	else
		*ip = xstrdup(addr);
	return 0;
}

int sandbox_add_host_parse(const char *spec, struct cairn_error *err)
{
	cleanup_free char *host = NULL, *ip = NULL;
	int r = split_add_host(spec, &host, &ip, err);
	if (r < 0)
		return r;
	if (strcspn(host, " \t\n#") != strlen(host))
		return cairn_error_set(err, EINVAL, "--add-host %s: %s is not a host name", spec,
				       host);
	unsigned char buf[16];
	if (strcmp(ip, "host-gateway") && inet_pton(AF_INET, ip, buf) != 1 &&
	    inet_pton(AF_INET6, ip, buf) != 1)
		return cairn_error_set(err, EINVAL,
				       "--add-host %s: %s is not an IP address (nor host-gateway)",
				       spec, ip);
	return 0;
}

static int add_hosts_lines(const struct sandbox_spec *spec, struct strbuf *sb,
			   struct cairn_error *err)
{
	for (size_t i = 0; spec->add_hosts && spec->add_hosts[i]; i++) {
		if (sandbox_add_host_parse(spec->add_hosts[i], err) < 0)
			return -EINVAL;
		cleanup_free char *host = NULL, *ip = NULL;
		split_add_host(spec->add_hosts[i], &host, &ip, err);
		if (!strcmp(ip, "host-gateway")) {
			const char *gw = host_gateway(spec->network);
			if (!gw)
				return cairn_error_set(err, EINVAL,
						       "--add-host %s: host-gateway needs a "
						       "network, and the step has none "
						       "(--network none)",
						       spec->add_hosts[i]);
			free(ip);
			ip = xstrdup(gw);
		}
		strbuf_addf(sb, "%s\t%s\n", ip, host);
	}
	return 0;
}

/* This system's resolv.conf for a step; with a network of the step's own, its
 * loopback name servers are left out (the step's 127.0.0.1 is its own), as docker
 * does. Missing or unreadable: empty (the step resolves nothing but its hosts). */
static char *system_resolv(bool own_network)
{
	cleanup_free char *text = NULL;
	size_t len = 0;
	cleanup_close int fd = open(SYSTEM_RESOLV, O_RDONLY | O_CLOEXEC);
	struct strbuf sb = STRBUF_INIT;
	if (fd < 0 || util_read_fd(fd, &text, &len) < 0)
		return strbuf_detach(&sb);
	if (len > RESOLV_MAX)
		len = RESOLV_MAX;
	for (const char *line = text; line < text + len;) {
		const char *end = memchr(line, '\n', (size_t)(text + len - line));
		size_t n = end ? (size_t)(end - line) : (size_t)(text + len - line);
		bool loopback = !strncmp(line, "nameserver", 10) &&
				(strstr(line, " 127.") || strstr(line, "\t127.") ||
				 strstr(line, " ::1") || strstr(line, "\t::1"));
		if (!(own_network && loopback) && memchr(line, '\0', n) == NULL)
			strbuf_addf(&sb, "%.*s\n", (int)n, line);
		line += n + 1;
	}
	return strbuf_detach(&sb);
}

int sandbox_names_prepare(const struct sandbox_spec *spec, const char *hostname, bool own_network,
			  struct sandbox_names *nf, struct cairn_error *err)
{
	struct strbuf hosts = STRBUF_INIT;
	/* a line of its own, so that the hostname is its canonical name (hostname -f);
	 * the private network's address is the step's, as docker names its containers' */
	strbuf_addf(&hosts,
		    "127.0.0.1\tlocalhost\n"
		    "::1\tlocalhost ip6-localhost ip6-loopback\n"
		    "%s\t%s\n",
		    spec->network == SANDBOX_NET_PRIVATE && own_network ? "10.0.2.100"
									: "127.0.0.1",
		    hostname);
	int r = add_hosts_lines(spec, &hosts, err);
	nf->hosts = strbuf_detach(&hosts);
	if (r < 0)
		return r;
	nf->hostname = xasprintf("%s\n", hostname);
	nf->resolv = spec->network == SANDBOX_NET_PRIVATE && own_network
			 ? xstrdup("nameserver 10.0.2.3\n")
			 : system_resolv(own_network);
	const struct {
		const char *target, *data;
	} files[] = {
	    {"/etc/resolv.conf", nf->resolv},
	    {"/etc/hosts", nf->hosts},
	    {"/etc/hostname", nf->hostname},
	};
	size_t n = sizeof files / sizeof *files;
	nf->mounts = xcalloc(spec->n_mounts + n, sizeof *nf->mounts);
	for (size_t i = 0; i < n; i++)
		nf->mounts[i] = (struct sandbox_mount){.type = SANDBOX_MOUNT_FILE,
						       .target = files[i].target,
						       .readonly = true,
						       .data = files[i].data};
	if (spec->n_mounts)
		memcpy(nf->mounts + n, spec->mounts, spec->n_mounts * sizeof *nf->mounts);
	nf->spec = *spec;
	nf->spec.mounts = nf->mounts;
	nf->spec.n_mounts = spec->n_mounts + n;
	return 0;
}

void sandbox_names_release(struct sandbox_names *nf)
{
	free(nf->hosts);
	free(nf->hostname);
	free(nf->resolv);
	free(nf->mounts);
	memset(nf, 0, sizeof *nf);
}
