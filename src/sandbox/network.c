/* The network of RUN steps: the modes, the default a build gets, and the private
 * network, a network namespace apart from the host's whose only way out is
 * slirp4netns, a user-mode TCP/IP stack that makes the steps' connections as ordinary
 * sockets of the builder and refuses the builder's loopback (--disable-host-loopback).
 *
 * One such namespace serves a build process: the first private step makes it (the
 * builder unshares one and steps straight back into its own), and starts slirp4netns
 * on it, which configures tap0 there (10.0.2.100, gateway 10.0.2.2, DNS forwarder
 * 10.0.2.3); every private step joins it (setns) instead of making a namespace of its
 * own, as BuildKit pools its namespaces, so a step pays for slirp4netns once per
 * build, not ~40 ms each. What a step leaves in it dies with the step's pid namespace;
 * its sockets are closed. slirp4netns dies with the build: sandbox_network_release
 * kills and reaps it, its exit pipe closes when the builder dies, and a parent-death
 * signal covers the rest. Each step's resolv.conf names the forwarder (namefiles.c). */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <limits.h>
#include <jansson.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SLIRP "slirp4netns"
#define TUN "/dev/net/tun"
/* slirp4netns starts in about 10 ms; a machine under load gets a lot more */
#define READY_TIMEOUT_S 30
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static const char *const network_names[] = {
    [SANDBOX_NET_NONE] = "none",
    [SANDBOX_NET_HOST] = "host",
    [SANDBOX_NET_PRIVATE] = "private",
};

int sandbox_network_parse(const char *name, enum sandbox_network *out)
{
	for (size_t i = 0; i < sizeof network_names / sizeof *network_names; i++)
		if (name && !strcmp(name, network_names[i])) {
			*out = (enum sandbox_network)i;
			return 0;
		}
	return -EINVAL;
}

/* slirp4netns's path on the builder's PATH (a new string), or NULL. */
static char *find_slirp(void)
{
	const char *path = getenv("PATH");
	if (!path || !*path)
		path = DEFAULT_PATH;
	for (const char *dir = path;;) {
		const char *end = strchrnul(dir, ':');
		if (end > dir) {
			char *file = xasprintf("%.*s/%s", (int)(end - dir), dir, SLIRP);
			struct stat st;
			if (stat(file, &st) == 0 && S_ISREG(st.st_mode) && access(file, X_OK) == 0)
				return file;
			free(file);
		}
		if (!*end)
			return NULL;
		dir = end + 1;
	}
}

/* 0 when /dev/net/tun opens, else -errno (opening it makes no device). */
static int open_tun(void)
{
	int fd = open(TUN, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

static bool tun_missing(int r)
{
	return r == -ENOENT || r == -ENODEV || r == -ENXIO;
}

static int check_private(char **slirp, struct cairn_error *err)
{
	int r = open_tun();
	if (tun_missing(r))
		return cairn_error_set(err, ENODEV,
				       "--network private needs " TUN
				       ", which this system lacks (in "
				       "a container: docker run --device " TUN
				       "); --network host or --network none work without it");
	if (r < 0)
		return cairn_error_errno(err, -r,
					 "--network private needs " TUN
					 " (usually mode 0666), which "
					 "cairn cannot open; --network host or --network none work "
					 "without it: " TUN);
	*slirp = find_slirp();
	if (!*slirp)
		return cairn_error_set(err, ENOENT,
				       "--network private needs " SLIRP ", which is not on PATH: "
				       "install it (Debian and Ubuntu: apt-get install " SLIRP
				       "), or build with --network host (this system's network) "
				       "or --network none (no network)");
	return 0;
}

int sandbox_network_check(enum sandbox_network n, struct cairn_error *err)
{
	/* asked for, a network of the step's own cannot be had without namespaces */
	if (n != SANDBOX_NET_HOST && sandbox_caps()->isolation == SANDBOX_ISOLATION_CHROOT)
		return cairn_error_set(
		    err, EPERM,
		    "--network %s needs a network namespace for each step, which "
		    "isolation chroot has not: its steps have this container's "
		    "network (--network host)",
		    n == SANDBOX_NET_NONE ? "none" : "private");
	if (n != SANDBOX_NET_PRIVATE)
		return 0;
	cleanup_free char *slirp = NULL;
	return check_private(&slirp, err);
}

int sandbox_network_default(enum sandbox_network *out, char **notice, struct cairn_error *err)
{
	*notice = NULL;
	*out = SANDBOX_NET_PRIVATE;
	/* a chroot step has the network of the system it runs on, whatever is asked */
	if (sandbox_caps()->isolation == SANDBOX_ISOLATION_CHROOT)
		return 0;
	/* docker gives its containers no tun device: there the container's own network
	 * is what a step can be given, as docker build's steps would have */
	int r = open_tun();
	if (tun_missing(r)) {
		*out = SANDBOX_NET_HOST;
		*notice = xstrdup("cairn: no " TUN " here: RUN steps use this container's network "
				  "(--network host); --network none to cut it");
		return 0;
	}
	/* a system that keeps it from this user: the steps get what they got before
	 * private was the default, never the host's loopback */
	if (r < 0) {
		*out = SANDBOX_NET_NONE;
		*notice = xasprintf("cairn: " TUN " cannot be opened here (%s): RUN steps have no "
				    "network (--network none); it is usually mode 0666, or build "
				    "with --network host",
				    strerror(-r));
		return 0;
	}
	if (sandbox_network_check(SANDBOX_NET_PRIVATE, err) < 0)
		return cairn_error_wrap(err, "RUN steps get the private network by default");
	return 0;
}

int sandbox_slirp_prepare(struct sandbox_slirp *s, struct cairn_error *err)
{
	return check_private(&s->path, err);
}

/* ---- slirp4netns ---- */

enum { SLIRP_FDS = 6 }; /* stdin, stdout, stderr, ready, exit, the namespace */

/* In the forked child, which must not allocate (another thread of the builder may
 * hold the allocator's lock): its stdio, 3 the ready pipe, 4 the exit pipe, 5 the
 * step's network namespace, nothing else of the builder, no environment (a --secret
 * may be in the builder's), a session of its own (a ^C on the terminal is the
 * builder's to handle), and death with the builder. */
static _Noreturn void exec_slirp(const char *path, char *const *argv, const int fds[SLIRP_FDS],
				 pid_t builder)
{
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (getppid() != builder)
		_exit(127);
	setsid();
	int moved[SLIRP_FDS];
	for (int i = 0; i < SLIRP_FDS; i++)
		if ((moved[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, SLIRP_FDS)) < 0)
			_exit(127);
	for (int i = 0; i < SLIRP_FDS; i++)
		if (dup2(moved[i], i) < 0)
			_exit(127);
	close_range(SLIRP_FDS, ~0U, 0);
	char *const envp[] = {NULL};
	execve(path, argv, envp);
	static const char msg[] = "cannot execute " SLIRP "\n";
	if (write(2, msg, sizeof msg - 1) < 0) {
	}
	_exit(127);
}

/* The end of what slirp4netns wrote on stderr, on one line (a new string, "" when
 * nothing). */
static char *slirp_stderr(const struct sandbox_slirp *s)
{
	char buf[1025];
	off_t end = s->log_fd >= 0 ? lseek(s->log_fd, 0, SEEK_END) : -1;
	off_t start = end > 1024 ? end - 1024 : 0;
	ssize_t n = end > 0 ? pread(s->log_fd, buf, (size_t)(end - start), start) : 0;
	if (n <= 0)
		return xstrdup("");
	buf[n] = '\0';
	size_t len = (size_t)n;
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
		buf[--len] = '\0';
	for (char *c = buf; *c; c++)
		if (*c == '\n')
			*c = ' ';
	return xstrdup(buf);
}

static int slirp_failed(struct sandbox_slirp *s, const char *what, struct cairn_error *err)
{
	cleanup_free char *said = slirp_stderr(s);
	return cairn_error_set(err, EIO, "setting up the step's private network: %s %s%s%s", SLIRP,
			       what, *said ? ": " : "", said);
}

/* Waits until fd is readable, checking for SIGINT/SIGTERM between ticks; what is
 * waited for is named in the timeout's message. */
static int wait_readable(struct sandbox_slirp *s, int fd, const struct timespec *t0,
			 const char *what, struct cairn_error *err)
{
	for (;;) {
		if (util_interrupted)
			return cairn_error_set(err, EINTR, "interrupted");
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		struct timespec tick = {.tv_sec = 0, .tv_nsec = 200 * 1000 * 1000};
		int n = ppoll(&pfd, 1, &tick, NULL);
		if (n < 0 && errno != EINTR)
			return cairn_error_errno(err, errno, "waiting for %s", what);
		if (n > 0)
			return 0;
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - t0->tv_sec >= READY_TIMEOUT_S) {
			cleanup_free char *how =
			    xasprintf("was not ready after %d seconds (%s)", READY_TIMEOUT_S, what);
			return slirp_failed(s, how, err);
		}
	}
}

/* The ready pipe says slirp4netns has configured tap0; its end without a byte, that
 * slirp4netns exited. */
static int read_ready(struct sandbox_slirp *s, int ready_fd, struct cairn_error *err)
{
	char c;
	ssize_t n;
	do
		n = read(ready_fd, &c, 1);
	while (n < 0 && errno == EINTR);
	if (n == 1)
		return 0;
	if (n < 0)
		return cairn_error_errno(err, errno, "reading from " SLIRP);
	int st = 0;
	while (waitpid(s->pid, &st, 0) < 0 && errno == EINTR)
		;
	s->pid = -1;
	cleanup_free char *how = WIFEXITED(st) ? xasprintf("exited with status %d", WEXITSTATUS(st))
					       : xasprintf("was killed by signal %d", WTERMSIG(st));
	return slirp_failed(s, how, err);
}

/* The build's private network, made by the first step that needs it. */
static struct {
	pid_t owner; /* the process that made it: a forked stage's copy is not its own */
	int ns;	     /* the network namespace, or -1 */
	struct sandbox_slirp slirp; /* slirp4netns: pid, exit pipe, messages */
	char *api_dir;		    /* its API socket's private dir, when ports are published */
} shared = {.ns = -1, .slirp = SANDBOX_SLIRP_INIT};

/* Forks and executes slirp4netns for the namespace ns; *ready_fd is the read end of
 * its ready pipe. */
static int spawn_slirp(struct sandbox_slirp *s, int ns, int *ready_fd, struct cairn_error *err)
{
	int ready[2], exitp[2];
	if (pipe2(ready, O_CLOEXEC) < 0)
		return cairn_error_errno(err, errno, "creating a pipe for " SLIRP);
	*ready_fd = ready[0];
	cleanup_close int ready_out = ready[1];
	if (pipe2(exitp, O_CLOEXEC) < 0)
		return cairn_error_errno(err, errno, "creating a pipe for " SLIRP);
	cleanup_close int exit_in = exitp[0];
	s->exit_fd = exitp[1];
	cleanup_close int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null < 0)
		return cairn_error_errno(err, errno, "opening /dev/null");
	s->log_fd = memfd_create(SLIRP "-stderr", MFD_CLOEXEC);
	if (s->log_fd < 0)
		return cairn_error_errno(err, errno, "creating a memfd for " SLIRP "'s messages");
	/* the namespace by an fd of its own: a path in /proc would name a pid */
	char api_arg[PATH_MAX + 16] = "";
	if (shared.api_dir)
		snprintf(api_arg, sizeof api_arg, "--api-socket=%s/api.sock", shared.api_dir);
	char *argv[16];
	size_t n = 0;
	argv[n++] = (char *)SLIRP;
	argv[n++] = (char *)"--configure";
	argv[n++] = (char *)"--mtu=65520";
	argv[n++] = (char *)"--disable-host-loopback";
	argv[n++] = (char *)"--enable-sandbox";
	argv[n++] = (char *)"--enable-seccomp";
	argv[n++] = (char *)"--ready-fd=3";
	argv[n++] = (char *)"--exit-fd=4";
	/* ports a container publishes are added through its API socket */
	if (*api_arg)
		argv[n++] = api_arg;
	argv[n++] = (char *)"--netns-type=path";
	argv[n++] = (char *)"/proc/self/fd/5";
	argv[n++] = (char *)"tap0";
	argv[n] = NULL;
	const int fds[SLIRP_FDS] = {null, null, s->log_fd, ready_out, exit_in, ns};
	pid_t builder = getpid();
	s->pid = fork();
	if (s->pid == 0)
		exec_slirp(s->path, argv, fds, builder);
	if (s->pid < 0)
		return cairn_error_errno(err, errno, "starting " SLIRP);
	return 0;
}

/* A new network namespace, as an fd, without leaving the builder's own: a child
 * makes it, and the builder opens it through the child's /proc entry while the child
 * waits. (Unsharing and stepping back with setns needs CAP_SYS_ADMIN over the
 * network namespace left, which a rootless builder's user namespace does not have.)
 * The child only makes system calls: the builder may have threads. */
static int make_namespace(struct cairn_error *err)
{
	int made[2], done[2];
	if (pipe2(made, O_CLOEXEC) < 0)
		return cairn_error_errno(err, errno, "creating a pipe");
	if (pipe2(done, O_CLOEXEC) < 0) {
		int e = errno;
		close(made[0]);
		close(made[1]);
		return cairn_error_errno(err, e, "creating a pipe");
	}
	pid_t pid = fork();
	if (pid == 0) {
		close(made[0]);
		close(done[1]);
		char c = unshare(CLONE_NEWNET) == 0 ? 0 : (char)errno;
		if (write(made[1], &c, 1) != 1)
			_exit(1);
		/* until the builder has opened the namespace (or gave up) */
		while (read(done[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	int fork_errno = errno;
	close(made[1]);
	close(done[0]);
	int r = 0;
	char c = 0;
	if (pid < 0)
		r = cairn_error_errno(err, fork_errno, "creating a network namespace");
	else if (read(made[0], &c, 1) != 1)
		r = cairn_error_set(err, EIO, "creating a network namespace: its maker died");
	else if (c)
		r = cairn_error_errno(err, (unsigned char)c, "creating a network namespace");
	if (r == 0) {
		char path[64];
		snprintf(path, sizeof path, "/proc/%d/ns/net", (int)pid);
		r = open(path, O_RDONLY | O_CLOEXEC);
		if (r < 0)
			r = cairn_error_errno(err, errno, "opening the private network namespace");
	}
	close(made[0]);
	close(done[1]);
	if (pid > 0)
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
	return r;
}

static void stop_slirp(struct sandbox_slirp *s)
{
	if (s->exit_fd >= 0)
		close(steal_fd(&s->exit_fd));
	if (s->pid > 0) {
		/* its process group: slirp4netns and the child it configures tap0 with */
		kill(-s->pid, SIGKILL);
		kill(s->pid, SIGKILL);
		while (waitpid(s->pid, NULL, 0) < 0 && errno == EINTR)
			;
		s->pid = -1;
	}
	if (s->log_fd >= 0)
		close(steal_fd(&s->log_fd));
}

int sandbox_slirp_join(struct sandbox_slirp *s, bool with_api, int *ns, struct cairn_error *err)
{
	if (shared.ns >= 0 && shared.slirp.pid > 0 && (shared.api_dir || !with_api) &&
	    waitpid(shared.slirp.pid, NULL, WNOHANG) == 0) {
		*ns = shared.ns;
		return 0;
	}
	if (shared.ns >= 0 && shared.owner == getpid()) {
		cleanup_free char *said = slirp_stderr(&shared.slirp);
		sandbox_network_release();
		return cairn_error_set(err, EIO, "the private network's " SLIRP " has died%s%s",
				       *said ? ": " : "", said);
	}
	/* none yet, or a forked stage's copy of its parent's: one of its own */
	sandbox_network_release();
	if (with_api) {
		/* in the private /tmp of no one else: 0700, a fresh name */
		char tmpl[] = "/tmp/cairn-net-XXXXXX";
		if (!mkdtemp(tmpl))
			return cairn_error_errno(err, errno,
						 "creating a dir for " SLIRP "'s socket");
		shared.api_dir = xstrdup(tmpl);
	}
	struct sandbox_slirp *n = &shared.slirp;
	n->path = xstrdup(s->path);
	int r = make_namespace(err);
	if (r < 0)
		return r;
	shared.ns = r;
	shared.owner = getpid();
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	cleanup_close int ready = -1;
	r = spawn_slirp(n, shared.ns, &ready, err);
	if (r == 0)
		r = wait_readable(n, ready, &t0, "its ready pipe", err);
	if (r == 0)
		r = read_ready(n, ready, err);
	if (r < 0) {
		sandbox_network_release();
		return r;
	}
	*ns = shared.ns;
	return 0;
}

void sandbox_network_release(void)
{
	if (shared.ns < 0)
		return;
	if (shared.owner == getpid()) {
		stop_slirp(&shared.slirp);
	} else {
		/* a forked stage's copies: its parent's slirp4netns is its parent's */
		if (shared.slirp.exit_fd >= 0)
			close(shared.slirp.exit_fd);
		if (shared.slirp.log_fd >= 0)
			close(shared.slirp.log_fd);
	}
	free(shared.slirp.path);
	close(shared.ns);
	shared.ns = -1;
	if (shared.api_dir && shared.owner == getpid())
		util_rm_rf(AT_FDCWD, shared.api_dir, NULL);
	free(shared.api_dir);
	shared.api_dir = NULL;
	shared.slirp = (struct sandbox_slirp)SANDBOX_SLIRP_INIT;
}

void sandbox_slirp_release(struct sandbox_slirp *s)
{
	free(s->path);
	*s = (struct sandbox_slirp)SANDBOX_SLIRP_INIT;
}

int sandbox_port_parse(const char *spec, struct sandbox_port *out, struct cairn_error *err)
{
	memset(out, 0, sizeof *out);
	cleanup_free char *copy = xstrdup(spec);
	char *proto = strchr(copy, '/');
	if (proto) {
		*proto++ = '\0';
		if (!strcmp(proto, "udp"))
			out->udp = true;
		else if (strcmp(proto, "tcp"))
			return cairn_error_set(
			    err, EINVAL, "-p %s: protocol %s: expected tcp or udp", spec, proto);
	}
	char *parts[3] = {NULL};
	size_t n = 0;
	for (char *p = copy;; p++) {
		char *colon = strchr(p, ':');
		if (n == 3)
			return cairn_error_set(
			    err, EINVAL, "-p %s: expected [IP:][HOST:]CONTAINER[/PROTO]", spec);
		parts[n++] = p;
		if (!colon)
			break;
		*colon = '\0';
		p = colon;
	}
	const char *ip = n == 3 ? parts[0] : "";
	const char *host = n >= 2 ? parts[n - 2] : "";
	const char *ctr = parts[n - 1];
	struct in_addr a;
	if (*ip && inet_pton(AF_INET, ip, &a) != 1)
		return cairn_error_set(err, EINVAL, "-p %s: %s is not an IPv4 address", spec, ip);
	snprintf(out->host_ip, sizeof out->host_ip, "%s", ip);
	const char *nums[2] = {host, ctr};
	uint16_t *dst[2] = {&out->host_port, &out->container_port};
	for (int i = 0; i < 2; i++) {
		if (!*nums[i] && i == 0)
			continue;
		char *end = NULL;
		long v = strtol(nums[i], &end, 10);
		if (!*nums[i] || *end || v < 1 || v > 65535)
			return cairn_error_set(err, EINVAL, "-p %s: %s is not a port (1-65535)",
					       spec, *nums[i] ? nums[i] : "\"\"");
		*dst[i] = (uint16_t)v;
	}
	if (!out->host_port)
		out->host_port = out->container_port;
	return 0;
}

/* One request on slirp4netns's API socket, one connection each; its answer's
 * "error" is quoted. */
static int api_request(const char *sock, const char *request, struct cairn_error *err)
{
	cleanup_close int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	if (strlen(sock) >= sizeof addr.sun_path)
		return cairn_error_set(err, ENAMETOOLONG, "%s: too long for a socket", sock);
	strcpy(addr.sun_path, sock);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0)
		return cairn_error_errno(err, errno, "connecting to " SLIRP " at %s", sock);
	if (util_write_all(fd, request, strlen(request)) < 0 || shutdown(fd, SHUT_WR) < 0)
		return cairn_error_errno(err, errno, "talking to " SLIRP);
	char *answer = NULL;
	if (util_read_fd(fd, &answer, NULL) < 0)
		return cairn_error_errno(err, errno, "reading " SLIRP "'s answer");
	cleanup_free char *own = answer;
	json_error_t je;
	cleanup_json json_t *doc = json_loads(answer, 0, &je);
	json_t *e = json_object_get(doc, "error");
	if (!doc || e) {
		const char *desc = json_string_value(json_object_get(e, "desc"));
		return cairn_error_set(err, EIO, "%s", desc ? desc : answer);
	}
	return 0;
}

int sandbox_slirp_publish(const struct sandbox_port *ports, size_t n, struct cairn_error *err)
{
	if (!shared.api_dir)
		return cairn_error_set(err, EINVAL, "no private network to publish ports on");
	cleanup_free char *sock = xasprintf("%s/api.sock", shared.api_dir);
	for (size_t i = 0; i < n; i++) {
		const struct sandbox_port *p = &ports[i];
		cleanup_json json_t *req = json_pack(
		    "{s:s, s:{s:s, s:s, s:i, s:i}}", "execute", "add_hostfwd", "arguments", "proto",
		    p->udp ? "udp" : "tcp", "host_addr", *p->host_ip ? p->host_ip : "0.0.0.0",
		    "host_port", (int)p->host_port, "guest_port", (int)p->container_port);
		cleanup_free char *text = json_dumps(req, JSON_COMPACT);
		int r = api_request(sock, text, err);
		if (r < 0)
			return cairn_error_wrap(err, "publishing %s%s%u as port %u/%s", p->host_ip,
						*p->host_ip ? ":" : "", p->host_port,
						p->container_port, p->udp ? "udp" : "tcp");
	}
	return 0;
}
