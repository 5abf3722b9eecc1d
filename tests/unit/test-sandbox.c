/* sandbox: runs real steps in a tiny busybox root and checks what the step sees, and
 * what overlay leaves in the upper dir. Needs root. */
#include "sandbox/sandbox.h"
#include "tap.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <sys/resource.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <sys/xattr.h>
#include <unistd.h>

static char *tmp;    /* the test's temp dir */
static char *rootfs; /* a busybox root */

static const char *const applets[] = {
    "sh",     "id",	  "cat",  "ls",	  "echo", "sleep",    "nc", "rm",  "mkdir", "touch",
    "grep",   "stat",	  "pwd",  "true", "test", "hostname", "tr", "cut", "dd",    "wc",
    "chroot", "readlink", "stty", "tty",  "kill", "head",     "df", "awk", "tail"};

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
		printf("Bail out! writing %s: %s\n", path, strerror(errno));
		exit(1);
	}
}

static void copy_file(const char *from, const char *to, mode_t mode)
{
	int in = open(from, O_RDONLY | O_CLOEXEC);
	int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	char buf[65536];
	ssize_t n;
	if (in < 0 || out < 0) {
		printf("Bail out! copying %s to %s: %s\n", from, to, strerror(errno));
		exit(1);
	}
	while ((n = read(in, buf, sizeof buf)) > 0)
		if (util_write_all(out, buf, (size_t)n) < 0)
			break;
	close(in);
	close(out);
}

static char *path_in(const char *dir, const char *rel)
{
	return xasprintf("%s/%s", dir, rel);
}

static void must_mkdir(const char *dir, const char *rel)
{
	cleanup_free char *p = path_in(dir, rel);
	if (mkdir(p, 0755) < 0 && errno != EEXIST) {
		printf("Bail out! mkdir %s: %s\n", p, strerror(errno));
		exit(1);
	}
}

static void make_busybox_root(const char *dir)
{
	must_mkdir(dir, "");
	must_mkdir(dir, "bin");
	must_mkdir(dir, "etc");
	cleanup_free char *bb = path_in(dir, "bin/busybox");
	copy_file("/bin/busybox", bb, 0755);
	for (size_t i = 0; i < sizeof applets / sizeof *applets; i++) {
		cleanup_free char *link = xasprintf("%s/bin/%s", dir, applets[i]);
		if (symlink("busybox", link) < 0 && errno != EEXIST)
			printf("Bail out! symlink %s\n", link);
	}
	cleanup_free char *passwd = path_in(dir, "etc/passwd");
	cleanup_free char *group = path_in(dir, "etc/group");
	write_file(passwd, "root:x:0:0:root:/root:/bin/sh\n"
			   "builder:x:1000:1000::/home/builder:/bin/sh\n");
	write_file(group, "root:x:0:\nbuilder:x:1000:\nextra:x:2000:other,builder\n"
			  "wheel:x:10:root\n");
}

/* ---- running steps ---- */

static char *const default_env[] = {"PATH=/bin", NULL};

static struct sandbox_spec spec_for(const char *root, const char *script)
{
	static char *argv[4] = {"sh", "-c", NULL, NULL};
	argv[2] = (char *)script;
	struct sandbox_spec spec = {
	    .rootfs = root,
	    .argv = argv,
	    .env = default_env,
	    .cwd = "/",
	    .user = "",
	    .hostname = "test",
	    .network = SANDBOX_NET_NONE,
	    .stdout_fd = -1,
	    .stderr_fd = -1,
	};
	return spec;
}

static char *read_all(int fd)
{
	struct strbuf sb = STRBUF_INIT;
	char buf[4096];
	ssize_t n;
	lseek(fd, 0, SEEK_SET);
	while ((n = read(fd, buf, sizeof buf)) > 0)
		strbuf_add(&sb, buf, (size_t)n);
	return strbuf_detach(&sb);
}

/* Runs spec with stdout and stderr into a memfd; returns the output (caller frees). */
static char *run(struct sandbox_spec *spec, int *r, int *status, struct cairn_error *err)
{
	cleanup_close int out = memfd_create("step-output", MFD_CLOEXEC);
	spec->stdout_fd = out;
	spec->stderr_fd = out;
	*status = -1;
	*r = sandbox_run(spec, status, err);
	if (*r < 0)
		diag("sandbox_run: %s", err->msg);
	return read_all(out);
}

/* Runs script in the busybox root; returns its output. */
static char *run_script(const char *script, int *status)
{
	struct sandbox_spec spec = spec_for(rootfs, script);
	struct cairn_error err = CAIRN_ERROR_INIT;
	int r;
	char *out = run(&spec, &r, status, &err);
	cairn_error_clear(&err);
	return out;
}

static void test_exit_status(void)
{
	int status;
	free(run_script("exit 42", &status));
	is_int(status, 42, "exit status of the step passes through");
	free(run_script("kill -9 $$", &status));
	is_int(status, 128 + 9, "a step killed by a signal reports 128+signal");
}

static void test_output(void)
{
	int status;
	cleanup_free char *out = run_script("echo hello; echo oops >&2", &status);
	is_str(out, "hello\noops\n", "stdout and stderr go to the given fds");

	cleanup_close int o = memfd_create("o", MFD_CLOEXEC);
	cleanup_close int e = memfd_create("e", MFD_CLOEXEC);
	struct sandbox_spec spec = spec_for(rootfs, "echo to-out; echo to-err >&2; cat");
	spec.stdout_fd = o;
	spec.stderr_fd = e;
	struct cairn_error err = CAIRN_ERROR_INIT;
	int r = sandbox_run(&spec, &status, &err);
	cleanup_free char *got_o = read_all(o);
	cleanup_free char *got_e = read_all(e);
	ok(r == 0 && status == 0, "step with separate stdout and stderr runs");
	is_str(got_o, "to-out\n", "stdout goes to stdout_fd and stdin is empty");
	is_str(got_e, "to-err\n", "stderr goes to stderr_fd");
	cairn_error_clear(&err);
}

static void test_user(void)
{
	int status, r;
	struct cairn_error err = CAIRN_ERROR_INIT;
	struct sandbox_spec spec = spec_for(rootfs, "id -u; id -g; id -G");
	spec.user = "builder";
	cleanup_free char *out = run(&spec, &r, &status, &err);
	is_str(out, "1000\n1000\n1000 2000\n", "runs as USER with its groups from /etc/group");

	spec.user = "1000:extra";
	cleanup_free char *out2 = run(&spec, &r, &status, &err);
	is_str(out2, "1000\n2000\n2000\n", "USER uid:groupname sets only that group");

	spec.user = "";
	cleanup_free char *out3 = run(&spec, &r, &status, &err);
	is_str(out3, "0\n0\n0 10\n", "default user is root with root's groups");

	spec.user = "nosuch";
	free(run(&spec, &r, &status, &err));
	ok(r < 0 && err.msg &&
	       strstr(err.msg, "unable to find user nosuch: no matching entries in passwd file"),
	   "an unknown USER is an error, not a status");
	cairn_error_clear(&err);
}

static void test_resolve_user(void)
{
	static const struct {
		const char *user;
		unsigned uid, gid;
	} cases[] = {
	    {"", 0, 0},
	    {"root", 0, 0},
	    {"builder", 1000, 1000},
	    {"1000", 1000, 1000},
	    {"builder:extra", 1000, 2000},
	    {"1234", 1234, 0},
	    {"1234:55", 1234, 55},
	    {"0:extra", 0, 2000},
	    {"builder:10", 1000, 10},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		uid_t uid = 99;
		gid_t gid = 99;
		struct cairn_error err = CAIRN_ERROR_INIT;
		int r = sandbox_resolve_user(rootfs, cases[i].user, &uid, &gid, &err);
		ok(r == 0 && uid == cases[i].uid && gid == cases[i].gid,
		   "resolve user '%s' -> %u:%u (got %d %u:%u)", cases[i].user, cases[i].uid,
		   cases[i].gid, r, (unsigned)uid, (unsigned)gid);
		cairn_error_clear(&err);
	}
	uid_t uid;
	gid_t gid;
	struct cairn_error err = CAIRN_ERROR_INIT;
	int r = sandbox_resolve_user(rootfs, "nosuch", &uid, &gid, &err);
	ok(r < 0, "resolve an unknown user fails");
	is_str(err.msg, "unable to find user nosuch: no matching entries in passwd file",
	       "unknown user message is docker's");
	r = sandbox_resolve_user(rootfs, "builder:nogroup", &uid, &gid, &err);
	is_str(err.msg, "unable to find group nogroup: no matching entries in group file",
	       "unknown group message is docker's");
	cairn_error_clear(&err);

	/* /etc/passwd a symlink that would leave the root when followed on the host */
	cleanup_free char *r3 = path_in(tmp, "r3");
	cleanup_free char *outside = path_in(tmp, "outside");
	must_mkdir(r3, "");
	must_mkdir(r3, "etc");
	must_mkdir(r3, "outside");
	must_mkdir(outside, "");
	cleanup_free char *host_pw = path_in(outside, "passwd");
	cleanup_free char *root_pw = path_in(r3, "outside/passwd");
	cleanup_free char *link = path_in(r3, "etc/passwd");
	write_file(host_pw, "mapped:x:66:66::/:/bin/sh\n");
	write_file(root_pw, "mapped:x:77:77::/:/bin/sh\n");
	if (symlink("../../outside/passwd", link) < 0)
		diag("symlink: %s", strerror(errno));
	r = sandbox_resolve_user(r3, "mapped", &uid, &gid, &err);
	ok(r == 0 && uid == 77 && gid == 77,
	   "/etc/passwd is read inside the root, symlinks included (got %u)", (unsigned)uid);
	cairn_error_clear(&err);
}

static void test_cwd_env(void)
{
	int status, r;
	struct cairn_error err = CAIRN_ERROR_INIT;
	static char *const env[] = {"PATH=/bin", "FOO=bar baz", NULL};
	struct sandbox_spec spec = spec_for(rootfs, "pwd; echo \"$FOO\"; stat -c %u:%g /work/sub");
	spec.env = env;
	spec.cwd = "/work/sub";
	spec.user = "builder";
	cleanup_free char *out = run(&spec, &r, &status, &err);
	is_str(out, "/work/sub\nbar baz\n1000:1000\n",
	       "runs in cwd (created, owned by the user) with env");
	cleanup_free char *work = path_in(rootfs, "work");
	util_rm_rf(AT_FDCWD, work, &err);
	cairn_error_clear(&err);

	static char *const no_path[] = {"FOO=1", NULL};
	spec = spec_for(rootfs, "echo $FOO");
	spec.env = no_path;
	cleanup_free char *out2 = run(&spec, &r, &status, &err);
	is_str(out2, "1\n", "argv[0] is found in the default PATH when env has none");
	cairn_error_clear(&err);
}

static void test_pid1(void)
{
	int status;
	cleanup_free char *out = run_script("echo $$; cat /proc/1/comm", &status);
	is_str(out, "2\ncairn-init\n",
	       "the step sees its own pid namespace: cairn's init is pid 1, the command pid 2");
	cleanup_free char *out2 = run_script("sleep 987655 & echo started", &status);
	ok(status == 0 && !strcmp(out2, "started\n"),
	   "an orphaned background process does not hold the step");
}

/* runc CVE-2016-9962: PID 1 was a copy of the builder; now it is cairn-init, whose
 * environment is empty and whose memory the step cannot open. */
static void test_pid1_holds_nothing(void)
{
	int status;
	setenv("CAIRN_TEST_BUILDER_SECRET", "builder-secret-7d1", 1);
	cleanup_free char *out =
	    run_script("tr '\\0' ' ' </proc/1/cmdline | cut -d' ' -f1; wc -c </proc/1/environ; "
		       "cat /proc/1/mem 2>/dev/null && echo mem-readable; grep -c builder-secret "
		       "/proc/1/environ /proc/1/cmdline",
		       &status);
	unsetenv("CAIRN_TEST_BUILDER_SECRET");
	ok(!strncmp(out, "cairn-init\n", 11) && !strstr(out, "mem-readable") &&
	       !strstr(out, "builder-secret-7d1"),
	   "PID 1 is cairn-init: empty environment, memory out of reach");
	if (strncmp(out, "cairn-init\n", 11))
		diag("got: %s", out);
}

/* runc CVE-2024-21626: a working directory reached through a /proc magic link of an
 * fd the child still held led to the host. */
static void test_cwd_magic_link(void)
{
	int extra = open("/", O_RDONLY); /* the kind of fd a builder holds */
	const char *const bad[] = {"/proc/self/fd/3", "/proc/self/cwd", "/proc/1/root/etc",
				   "/dev/fd/3"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		int r, status;
		struct cairn_error err = CAIRN_ERROR_INIT;
		struct sandbox_spec spec =
		    spec_for(rootfs, "echo escaped; cat ../../../etc/hostname");
		spec.cwd = bad[i];
		cleanup_free char *out = run(&spec, &r, &status, &err);
		ok(r < 0 && err.msg && strstr(err.msg, "working directory") && !*out,
		   "working directory %s is refused before the command starts", bad[i]);
		cairn_error_clear(&err);
	}
	close(extra);
}

/* bubblewrap CVE-2017-5226: the step's session is its own, without a terminal. */
static void test_own_session(void)
{
	int status;
	cleanup_free char *out = run_script("cat /proc/self/stat | cut -d' ' -f6,7; cat /dev/tty "
					    "</dev/null 2>&1 | grep -c 'No such device'",
					    &status);
	/* session id 1 (PID 1 led it into the namespace); tty_nr 0; /dev/tty: ENXIO */
	is_str(out, "1 0\n1\n", "the step has a session of its own and no controlling terminal");
}

static void test_seccomp(void)
{
	int status;
	cleanup_free char *out = run_script("mkdir -p /jail/bin && cp /bin/busybox /jail/bin/ "
					    "2>/dev/null || cat /bin/busybox >/jail/bin/busybox; "
					    "chmod 755 /jail/bin/busybox 2>/dev/null; chroot /jail "
					    "/bin/busybox true && echo chroot-ok",
					    &status);
	is_str(out, "chroot-ok\n",
	       "seccomp: what docker allows works (chroot with CAP_SYS_CHROOT)");
}

/* ls lists its own fds: 0-2 and the one it reads the directory with, which is 3 only
 * when nothing else was inherited. */
static void test_no_fd_leak(void)
{
	int status;
	int extra = open("/", O_RDONLY); /* deliberately without O_CLOEXEC */
	int high = dup2(extra, 50);
	cleanup_free char *out = run_script("exec ls /proc/self/fd", &status);
	close(extra);
	close(high);
	is_str(out, "0\n1\n2\n3\n", "no fd of the builder reaches the step");
}

static void test_privileges(void)
{
	int status, r;
	cleanup_free char *out =
	    run_script("grep -E '^(CapEff|CapBnd|NoNewPrivs)' /proc/self/status", &status);
	is_str(out, "CapEff:\t00000000a80425fb\nCapBnd:\t00000000a80425fb\nNoNewPrivs:\t1\n",
	       "root step: capabilities cut to docker's set, no_new_privs set");

	struct cairn_error err = CAIRN_ERROR_INIT;
	struct sandbox_spec spec =
	    spec_for(rootfs, "grep -E '^(CapEff|CapBnd|NoNewPrivs)' /proc/self/status");
	spec.user = "builder";
	cleanup_free char *out2 = run(&spec, &r, &status, &err);
	is_str(out2, "CapEff:\t0000000000000000\nCapBnd:\t00000000a80425fb\nNoNewPrivs:\t1\n",
	       "non-root step: no effective capabilities");
	cairn_error_clear(&err);
}

static void test_hostname(void)
{
	int status, r;
	struct cairn_error err = CAIRN_ERROR_INIT;
	struct sandbox_spec spec = spec_for(rootfs, "hostname");
	spec.hostname = "step-host";
	cleanup_free char *out = run(&spec, &r, &status, &err);
	is_str(out, "step-host\n", "hostname is set");
	cairn_error_clear(&err);
}

static void test_dev(void)
{
	int status;
	cleanup_free char *out = run_script(
	    "echo x > /dev/null && test -c /dev/zero && test -c /dev/full && test -c /dev/tty &&"
	    " test -c /dev/urandom && test -c /dev/pts/ptmx && test -L /dev/ptmx &&"
	    " test -L /dev/stdin && echo devices-ok; touch /dev/shm/x && echo shm-ok;"
	    " touch /sys/x 2>/dev/null || echo sys-ro",
	    &status);
	ok(strstr(out, "devices-ok") && strstr(out, "shm-ok") && strstr(out, "sys-ro"),
	   "/dev has devices, pts and a writable shm; /sys is read-only");
}

/* ---- network ---- */

static int listener = -1;

static void *serve(void *arg)
{
	for (;;) {
		int c = accept(listener, NULL, NULL);
		if (c < 0)
			return NULL;
		if (write(c, "hi\n", 3) < 0) {
		}
		close(c);
	}
}

static void test_network(void)
{
	listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof sa;
	if (bind(listener, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(listener, 8) < 0 ||
	    getsockname(listener, (struct sockaddr *)&sa, &len) < 0) {
		ok(0, "listen on the host loopback: %s", strerror(errno));
		return;
	}
	pthread_t th;
	pthread_create(&th, NULL, serve, NULL);
	cleanup_free char *script =
	    xasprintf("grep : /proc/net/dev | cut -d: -f1 | tr -d ' '; nc 127.0.0.1 %d </dev/null "
		      "2>/dev/null || echo refused",
		      ntohs(sa.sin_port));

	int status, r;
	struct cairn_error err = CAIRN_ERROR_INIT;
	struct sandbox_spec spec = spec_for(rootfs, script);
	cleanup_free char *none = run(&spec, &r, &status, &err);
	is_str(none, "lo\nrefused\n",
	       "network none: only lo, and the host's loopback listener is unreachable");

	spec.network = SANDBOX_NET_HOST;
	cleanup_free char *host = run(&spec, &r, &status, &err);
	ok(strstr(host, "hi\n") != NULL, "host network: the host's listener is reachable");
	cairn_error_clear(&err);

	/* private: tap0 besides lo, and the host's loopback neither as 127.0.0.1 nor
	 * through slirp's gateway; the name files are the sandbox's, and gone after */
	if (sandbox_network_check(SANDBOX_NET_PRIVATE, &err) < 0) {
		diag("skipped, network private: %s", err.msg);
		cairn_error_clear(&err);
	} else {
		cleanup_free char *gw =
		    xasprintf("%s; nc 10.0.2.2 %d </dev/null 2>/dev/null || echo refused; cat "
			      "/etc/resolv.conf /etc/hosts; ls -A /dev | grep cairn || echo clean",
			      script, ntohs(sa.sin_port));
		struct sandbox_spec ps = spec_for(rootfs, gw);
		ps.network = SANDBOX_NET_PRIVATE;
		cleanup_free char *priv = run(&ps, &r, &status, &err);
		is_str(
		    priv,
		    "lo\ntap0\nrefused\nrefused\nnameserver 10.0.2.3\n127.0.0.1\tlocalhost\n"
		    "::1\tlocalhost ip6-localhost ip6-loopback\n10.0.2.100\ttest\nclean\n",
		    "network private: lo and tap0, the host's loopback unreachable, slirp's DNS, "
		    "nothing of the name files left in /dev");
		cleanup_free char *resolv = path_in(rootfs, "etc/resolv.conf");
		cleanup_free char *hosts = path_in(rootfs, "etc/hosts");
		ok(access(resolv, F_OK) < 0 && access(hosts, F_OK) < 0,
		   "network private: resolv.conf and hosts made for the step are removed after it");
		ok(waitpid(-1, NULL, WNOHANG) == 0,
		   "network private: slirp4netns runs on for the build's next steps");
		cleanup_free char *again = run(&ps, &r, &status, &err);
		is_str(again, priv, "network private: a second step joins the same network");
		sandbox_network_release();
		ok(waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD,
		   "network private: slirp4netns is reaped when the build releases it");
		cairn_error_clear(&err);
	}

	shutdown(listener, SHUT_RDWR);
	pthread_join(th, NULL);
	close(listener);
}

static void test_host_network_files(void)
{
	cleanup_free char *resolv = path_in(rootfs, "etc/resolv.conf");
	write_file(resolv, "image\n");
	int status, r;
	struct cairn_error err = CAIRN_ERROR_INIT;
	struct sandbox_spec spec =
	    spec_for(rootfs, "cat /etc/resolv.conf; grep -c localhost /etc/hosts;"
			     " (echo x >> /etc/resolv.conf) 2>/dev/null || echo read-only");
	spec.network = SANDBOX_NET_HOST;
	cleanup_free char *out = run(&spec, &r, &status, &err);
	cleanup_free char *host = NULL;
	util_read_file(AT_FDCWD, "/etc/resolv.conf", &host, NULL, NULL);
	cleanup_free char *want = xasprintf("%s2\nread-only\n", host ? host : "");
	is_str(out, want,
	       "host network: host resolv.conf bound read-only over the image's; hosts of the "
	       "step's own even where the image has none");
	cleanup_free char *hosts = path_in(rootfs, "etc/hosts");
	ok(access(hosts, F_OK) < 0, "the step's hosts file is removed after it");
	cleanup_free char *content = NULL;
	util_read_file(AT_FDCWD, resolv, &content, NULL, NULL);
	is_str(content, "image\n", "the image's resolv.conf is as it was");
	unlink(resolv);
	cleanup_free char *etc = path_in(rootfs, "etc");
	rmdir(etc);
	cairn_error_clear(&err);
}

/* Issue 14, item 14: name files whatever the network, with --add-host entries */
static void test_name_files(void)
{
	int status, r;
	struct cairn_error err = CAIRN_ERROR_INIT;
	struct sandbox_spec spec = spec_for(
	    rootfs,
	    "cat /etc/hosts /etc/hostname; hostname -f; test -f /etc/resolv.conf && echo resolv");
	char *add[] = {"db:192.0.2.7", "v6=[2001:db8::1]", NULL};
	spec.add_hosts = add;
	spec.hostname = "named";
	cleanup_free char *out = run(&spec, &r, &status, &err);
	is_str(
	    out,
	    "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
	    "127.0.0.1\tnamed\n192.0.2.7\tdb\n2001:db8::1\tv6\nnamed\nnamed\nresolv\n",
	    "network none: hosts (localhost, ::1, the hostname, add_hosts), hostname, resolv.conf");
	cleanup_free char *hosts = path_in(rootfs, "etc/hosts");
	cleanup_free char *hostname = path_in(rootfs, "etc/hostname");
	ok(access(hosts, F_OK) < 0 && access(hostname, F_OK) < 0,
	   "the files made for them are removed after the step");
	char *gw[] = {"gw:host-gateway", NULL};
	spec.add_hosts = gw;
	free(run(&spec, &r, &status, &err));
	ok(r < 0 && err.msg && strstr(err.msg, "--add-host gw:host-gateway"),
	   "host-gateway without a network is an error naming it");
	cairn_error_clear(&err);
}

static void test_limits(void)
{
	int status, r;
	struct cairn_error err = CAIRN_ERROR_INIT;
	struct sandbox_spec spec =
	    spec_for(rootfs, "df -k /dev/shm | tail -1 | awk '{print $2}'; ulimit -n; ulimit -Hn;"
			     " grep -E '^Seccomp:' /proc/self/status");
	struct sandbox_ulimit u = {.resource = RLIMIT_NOFILE, .soft = 300, .hard = 600};
	spec.ulimits = &u;
	spec.n_ulimits = 1;
	spec.shm_size = 8 * 1024 * 1024;
	cleanup_free char *out = run(&spec, &r, &status, &err);
	is_str(out, "8192\n300\n600\nSeccomp:\t2\n", "shm_size and ulimits reach the step");
	spec = spec_for(rootfs, "grep -E '^(Seccomp|CapBnd):' /proc/self/status");
	spec.insecure = true;
	cleanup_free char *ins = run(&spec, &r, &status, &err);
	cleanup_free char *self = NULL;
	util_read_file(AT_FDCWD, "/proc/self/status", &self, NULL, NULL);
	const char *bnd = self ? strstr(self, "CapBnd:") : NULL;
	cleanup_free char *want =
	    xasprintf("%.*s\nSeccomp:\t0\n", bnd ? (int)strcspn(bnd, "\n") : 0, bnd ? bnd : "");
	is_str(ins, want, "insecure: no seccomp filter, every capability of the builder");
	cairn_error_clear(&err);
}

static void test_parse_options(void)
{
	struct cairn_error err = CAIRN_ERROR_INIT;
	uint64_t v = 0;
	ok(sandbox_size_parse("--shm-size", "64m", &v, &err) == 0 && v == 64ULL << 20, "64m");
	ok(sandbox_size_parse("--shm-size", "1GB", &v, &err) == 0 && v == 1ULL << 30, "1GB");
	ok(sandbox_size_parse("--shm-size", "512", &v, &err) == 0 && v == 512, "512 bytes");
	ok(sandbox_size_parse("--shm-size", "12q", &v, &err) < 0 &&
	       strstr(err.msg, "--shm-size 12q"),
	   "a bad unit names the flag");
	ok(sandbox_size_parse("--memory", "-1m", &v, &err) < 0, "no negative size");
	struct sandbox_ulimit u;
	ok(sandbox_ulimit_parse("nofile=1024:2048", &u, &err) == 0 && u.resource == RLIMIT_NOFILE &&
	       u.soft == 1024 && u.hard == 2048,
	   "nofile=1024:2048");
	ok(sandbox_ulimit_parse("core=-1", &u, &err) == 0 && u.soft == RLIM_INFINITY &&
	       u.hard == RLIM_INFINITY,
	   "core=-1 is unlimited, hard as soft");
	ok(sandbox_ulimit_parse("nproc=5:3", &u, &err) < 0, "soft above hard is refused");
	ok(sandbox_ulimit_parse("bogus=1", &u, &err) < 0 && strstr(err.msg, "unknown type bogus"),
	   "an unknown type is named");
	ok(sandbox_add_host_parse("db:10.0.0.1", &err) == 0, "HOST:IP");
	ok(sandbox_add_host_parse("db=::1", &err) == 0, "HOST=IPv6");
	ok(sandbox_add_host_parse("db:host-gateway", &err) == 0, "host-gateway");
	ok(sandbox_add_host_parse("db:notanip", &err) < 0 && strstr(err.msg, "--add-host"),
	   "a bad address is named");
	ok(sandbox_add_host_parse(":1.2.3.4", &err) < 0, "no host name");
	cairn_error_clear(&err);
}

/* ---- failures ---- */

static void test_missing_command(void)
{
	static char *argv[] = {"nosuchcmd", "x", NULL};
	struct sandbox_spec spec = spec_for(rootfs, "");
	spec.argv = argv;
	int status = -1, r;
	struct cairn_error err = CAIRN_ERROR_INIT;
	free(run(&spec, &r, &status, &err));
	ok(r == -ENOENT && err.msg && strstr(err.msg, "executable file not found in $PATH"),
	   "a missing command is an error, not an exit status");
	static char *argv2[] = {"/bin/nope", NULL};
	spec.argv = argv2;
	free(run(&spec, &r, &status, &err));
	ok(r == -ENOENT && err.msg && strstr(err.msg, "/bin/nope"),
	   "a missing absolute command names it");
	cairn_error_clear(&err);
}

static void test_script_without_interpreter(void)
{
	cleanup_free char *script = path_in(rootfs, "bin/plain-script");
	write_file(script, "echo \"from script $1\"\n");
	chmod(script, 0755);
	static char *argv[] = {"plain-script", "arg", NULL};
	struct sandbox_spec spec = spec_for(rootfs, "");
	spec.argv = argv;
	int status = -1, r;
	struct cairn_error err = CAIRN_ERROR_INIT;
	cleanup_free char *out = run(&spec, &r, &status, &err);
	is_str(out, "from script arg\n", "a script without #! runs with /bin/sh, as execvp does");
	unlink(script);
	cairn_error_clear(&err);
}

static void test_mount_points_removed(void)
{
	static const char *const names[] = {"proc", "dev", "sys"};
	bool left = false;
	for (size_t i = 0; i < 3; i++) {
		cleanup_free char *p = path_in(rootfs, names[i]);
		struct stat st;
		if (lstat(p, &st) == 0)
			left = true;
	}
	ok(!left, "mount points the sandbox created in the root are removed again");
}

/* ---- overlay ---- */

static bool is_whiteout(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0);
}

static void test_overlay_step(void)
{
	cleanup_free char *base = path_in(tmp, "ov");
	must_mkdir(base, "");
	const char *dirs[] = {"top", "upper", "work", "merged"};
	for (size_t i = 0; i < 4; i++)
		must_mkdir(base, dirs[i]);
	cleanup_free char *top = path_in(base, "top");
	must_mkdir(top, "etc");
	must_mkdir(top, "data");
	cleanup_free char *foo = path_in(top, "etc/foo");
	cleanup_free char *old = path_in(top, "data/old");
	write_file(foo, "foo\n");
	write_file(old, "old\n");

	cleanup_free char *upper = path_in(base, "upper");
	cleanup_free char *work = path_in(base, "work");
	cleanup_free char *merged = path_in(base, "merged");
	char *lower[] = {top, rootfs};
	struct cairn_error err = CAIRN_ERROR_INIT;
	int r = sandbox_overlay_mount(lower, 2, upper, work, merged, &err);
	ok(r == 0, "overlay with two lower dirs mounts");
	if (r < 0) {
		diag("%s", err.msg);
		return;
	}
	int status;
	struct sandbox_spec spec = spec_for(
	    merged, "rm /etc/foo && rm -rf /data && mkdir /data && touch /data/new && ls /");
	free(run(&spec, &r, &status, &err));
	ok(r == 0 && status == 0, "step runs in the overlay");
	r = sandbox_overlay_umount(merged, &err);
	ok(r == 0, "overlay unmounts");

	cleanup_free char *wh = path_in(upper, "etc/foo");
	ok(is_whiteout(wh), "a file deleted from a lower dir is a 0:0 whiteout in upper");
	cleanup_free char *data = path_in(upper, "data");
	char val[8] = "";
	ssize_t n = getxattr(data, "trusted.overlay.opaque", val, sizeof val - 1);
	ok(n == 1 && val[0] == 'y', "a removed and recreated dir is opaque in upper");
	cleanup_free char *nw = path_in(upper, "data/new");
	ok(access(nw, F_OK) == 0, "a new file is in upper");

	static const char *const names[] = {"proc", "dev", "sys"};
	bool left = false;
	for (size_t i = 0; i < 3; i++) {
		cleanup_free char *p = path_in(upper, names[i]);
		struct stat st;
		if (lstat(p, &st) == 0) {
			diag("left in upper: %s", names[i]);
			left = true;
		}
	}
	ok(!left, "mount points the step needed are not in upper");
	cairn_error_clear(&err);
}

static bool dir_is_empty(const char *path)
{
	DIR *d = opendir(path);
	if (!d)
		return false;
	struct dirent *de;
	int n = 0;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n == 0;
}

static void test_overlay_empty_root(void)
{
	cleanup_free char *base = path_in(tmp, "empty");
	must_mkdir(base, "");
	must_mkdir(base, "upper");
	must_mkdir(base, "work");
	must_mkdir(base, "merged");
	cleanup_free char *upper = path_in(base, "upper");
	cleanup_free char *work = path_in(base, "work");
	cleanup_free char *merged = path_in(base, "merged");
	struct cairn_error err = CAIRN_ERROR_INIT;
	int r = sandbox_overlay_mount(NULL, 0, upper, work, merged, &err);
	ok(r == 0, "overlay with zero lower dirs mounts");
	if (r < 0) {
		diag("%s", err.msg);
		return;
	}
	ok(dir_is_empty(merged), "an empty root is empty");
	cleanup_free char *f = path_in(merged, "hello");
	write_file(f, "hi\n");
	r = sandbox_overlay_umount(merged, &err);
	cleanup_free char *in_upper = path_in(upper, "hello");
	ok(r == 0 && access(in_upper, F_OK) == 0, "a file written to an empty root is in upper");
	unlink(in_upper);
	ok(dir_is_empty(upper), "nothing else appears in upper");
	cairn_error_clear(&err);
}

static void test_overlay_many_lowers(void)
{
	enum { N = 100 };
	char longname[201];
	memset(longname, 'l', 200);
	longname[200] = '\0';
	cleanup_free char *base = xasprintf("%s/%s", tmp, longname);
	must_mkdir(base, "");
	char *lower[N];
	for (int i = 0; i < N; i++) {
		lower[i] = xasprintf("%s/layer-%03d-%s", base, i, longname);
		must_mkdir(lower[i], "");
		cleanup_free char *f = xasprintf("%s/f-%03d", lower[i], i);
		cleanup_free char *common = xasprintf("%s/common", lower[i]);
		cleanup_free char *text = xasprintf("%d\n", i);
		write_file(f, "x");
		write_file(common, text);
	}
	must_mkdir(base, "upper");
	must_mkdir(base, "work");
	must_mkdir(base, "merged");
	cleanup_free char *upper = path_in(base, "upper");
	cleanup_free char *work = path_in(base, "work");
	cleanup_free char *merged = path_in(base, "merged");
	struct cairn_error err = CAIRN_ERROR_INIT;
	int r = sandbox_overlay_mount(lower, N, upper, work, merged, &err);
	ok(r == 0, "overlay with %d long lower dirs mounts", N);
	if (r < 0) {
		diag("%s", err.msg);
	} else {
		int found = 0;
		for (int i = 0; i < N; i++) {
			cleanup_free char *f = xasprintf("%s/f-%03d", merged, i);
			found += access(f, F_OK) == 0;
		}
		is_int(found, N, "every lower dir shows through");
		cleanup_free char *common = path_in(merged, "common");
		cleanup_free char *text = NULL;
		util_read_file(AT_FDCWD, common, &text, NULL, NULL);
		is_str(text, "0\n", "the first lower dir is the top-most");
		sandbox_overlay_umount(merged, &err);
	}
	for (int i = 0; i < N; i++)
		free(lower[i]);
	cairn_error_clear(&err);
}

/* ---- RUN --mount ---- */

struct test_overlay {
	char *upper, *work, *merged;
};

/* An overlay over the busybox root, to see what a step leaves in upper. */
static bool overlay_over_root(const char *name, struct test_overlay *ov)
{
	cleanup_free char *base = path_in(tmp, name);
	must_mkdir(base, "");
	must_mkdir(base, "upper");
	must_mkdir(base, "work");
	must_mkdir(base, "merged");
	ov->upper = path_in(base, "upper");
	ov->work = path_in(base, "work");
	ov->merged = path_in(base, "merged");
	char *lower[] = {rootfs};
	struct cairn_error err = CAIRN_ERROR_INIT;
	int r = sandbox_overlay_mount(lower, 1, ov->upper, ov->work, ov->merged, &err);
	if (r < 0)
		ok(0, "overlay for %s mounts: %s", name, err.msg);
	cairn_error_clear(&err);
	return r == 0;
}

static void overlay_umount(struct test_overlay *ov)
{
	struct cairn_error err = CAIRN_ERROR_INIT;
	if (sandbox_overlay_umount(ov->merged, &err) < 0)
		diag("%s", err.msg);
	cairn_error_clear(&err);
}

static void overlay_free(struct test_overlay *ov)
{
	free(ov->upper);
	free(ov->work);
	free(ov->merged);
}

/* Runs script in root with mounts; returns its output; *r is sandbox_run's result,
 * err its error. */
static char *run_mounts(const char *root, const char *script, const struct sandbox_mount *mounts,
			size_t n, int *r, struct cairn_error *err)
{
	struct sandbox_spec spec = spec_for(root, script);
	spec.mounts = mounts;
	spec.n_mounts = n;
	int status;
	cairn_error_clear(err);
	char *out = run(&spec, r, &status, err);
	if (*r == 0 && status != 0)
		diag("exit status %d", status);
	return out;
}

static bool exists(const char *dir, const char *rel)
{
	cleanup_free char *p = path_in(dir, rel);
	struct stat st;
	return lstat(p, &st) == 0;
}

/* The names in dir, sorted, one a line. */
static char *list_dir(const char *dir)
{
	struct dirent **names;
	int n = scandir(dir, &names, NULL, alphasort);
	struct strbuf sb = STRBUF_INIT;
	for (int i = 0; i < n; i++) {
		if (strcmp(names[i]->d_name, ".") && strcmp(names[i]->d_name, ".."))
			strbuf_addf(&sb, "%s\n", names[i]->d_name);
		free(names[i]);
	}
	if (n >= 0)
		free(names);
	return strbuf_detach(&sb);
}

/* True when upper is empty; else says what is in it. An empty etc/ is overlayfs's
 * copy-up of the image's for the step's name files, put back as it was (the layer
 * writer leaves such a directory out). */
static bool upper_is_empty(const char *upper)
{
	cleanup_free char *etc = path_in(upper, "etc");
	cleanup_free char *in_etc = list_dir(etc);
	if (!*in_etc)
		rmdir(etc);
	cleanup_free char *names = list_dir(upper);
	if (*names)
		diag("in upper: %s", names);
	return !*names;
}

static void test_mount_bind_dir(void)
{
	struct test_overlay ov;
	if (!overlay_over_root("mnt-bind", &ov))
		return;
	cleanup_free char *rw = path_in(tmp, "host-rw");
	cleanup_free char *ro = path_in(tmp, "host-ro");
	must_mkdir(rw, "");
	must_mkdir(ro, "");
	cleanup_free char *old = path_in(rw, "old");
	cleanup_free char *kept = path_in(ro, "kept");
	write_file(old, "old\n");
	write_file(kept, "kept\n");
	struct sandbox_mount mounts[] = {
	    {.type = SANDBOX_MOUNT_BIND, .source = rw, .target = "/cache"},
	    {.type = SANDBOX_MOUNT_BIND, .source = ro, .target = "/src", .readonly = true},
	};
	int r;
	struct cairn_error err = CAIRN_ERROR_INIT;
	cleanup_free char *out =
	    run_mounts(ov.merged,
		       "cat /cache/old; echo new > /cache/new; cat /src/kept;"
		       " (echo x > /src/x) 2>/dev/null || echo refused; touch /src/kept 2>/dev/null"
		       " || echo refused",
		       mounts, 2, &r, &err);
	is_str(out, "old\nkept\nrefused\nrefused\n",
	       "bind mounts: a host dir read-write, another read-only (writes fail)");
	cleanup_free char *got = NULL;
	cleanup_free char *newf = path_in(rw, "new");
	util_read_file(AT_FDCWD, newf, &got, NULL, NULL);
	is_str(got, "new\n", "a write to a read-write bind lands in the host dir");
	ok(!exists(ro, "x"), "nothing is written to a read-only bind's host dir");
	overlay_umount(&ov);
	ok(upper_is_empty(ov.upper),
	   "upper has neither the bound files nor the mount points made for them");
	overlay_free(&ov);
	cairn_error_clear(&err);
}

static void test_mount_bind_file(void)
{
	struct test_overlay ov;
	if (!overlay_over_root("mnt-file", &ov))
		return;
	cleanup_free char *secret = path_in(tmp, "secret");
	write_file(secret, "s3cret\n");
	struct sandbox_mount mounts[] = {
	    {.type = SANDBOX_MOUNT_BIND,
	     .source = secret,
	     .target = "/run/secrets/x",
	     .readonly = true},
	};
	int r;
	struct cairn_error err = CAIRN_ERROR_INIT;
	cleanup_free char *out = run_mounts(
	    ov.merged, "cat /run/secrets/x; (echo y > /run/secrets/x) 2>/dev/null || echo refused",
	    mounts, 1, &r, &err);
	is_str(out, "s3cret\nrefused\n", "a host file bound read-only to /run/secrets/x");
	cleanup_free char *upper_run = path_in(ov.upper, "run");
	overlay_umount(&ov);
	ok(access(upper_run, F_OK) < 0 && upper_is_empty(ov.upper),
	   "upper has no run/: the file and dirs made for the target are removed");
	overlay_free(&ov);
	cairn_error_clear(&err);
}

static void test_mount_file(void)
{
	struct test_overlay ov;
	if (!overlay_over_root("mnt-data", &ov))
		return;
	struct sandbox_mount mounts[] = {
	    {.type = SANDBOX_MOUNT_FILE, .target = "/run/cfg/x", .data = "made\n"},
	};
	int r;
	struct cairn_error err = CAIRN_ERROR_INIT;
	cleanup_free char *out =
	    run_mounts(ov.merged,
		       "cat /run/cfg/x; (echo y > /run/cfg/x) 2>/dev/null || echo refused; "
		       "ls -A /dev | grep cairn || echo clean",
		       mounts, 1, &r, &err);
	is_str(out, "made\nrefused\nclean\n",
	       "a file of the step's own: its content, read-only, nothing of it left in /dev");
	cleanup_free char *upper_run = path_in(ov.upper, "run");
	overlay_umount(&ov);
	ok(access(upper_run, F_OK) < 0 && upper_is_empty(ov.upper),
	   "upper has no run/: the file and dirs made for the target are removed");
	overlay_free(&ov);
	cairn_error_clear(&err);
}

static void test_mount_parent_mtime(void)
{
	struct test_overlay ov;
	if (!overlay_over_root("mnt-mtime", &ov))
		return;
	cleanup_free char *etc = path_in(rootfs, "etc");
	struct timespec old[2] = {{.tv_sec = 1000000000}, {.tv_sec = 1000000000}};
	utimensat(AT_FDCWD, etc, old, 0);
	cleanup_free char *secret = path_in(tmp, "secret3");
	write_file(secret, "s\n");
	struct sandbox_mount mounts[] = {
	    {.type = SANDBOX_MOUNT_BIND, .source = secret, .target = "/etc/sec/x"},
	};
	int r;
	struct cairn_error err = CAIRN_ERROR_INIT;
	cleanup_free char *out = run_mounts(ov.merged, "cat /etc/sec/x", mounts, 1, &r, &err);
	is_str(out, "s\n", "a file bound into an existing dir of the image");
	overlay_umount(&ov);
	cleanup_free char *upper_etc = path_in(ov.upper, "etc");
	struct stat st;
	ok(stat(upper_etc, &st) == 0 && st.st_mtim.tv_sec == 1000000000 &&
	       !exists(upper_etc, "sec"),
	   "the existing dir the target was made in gets its mtime back");
	overlay_free(&ov);
	cairn_error_clear(&err);
}

static void test_mount_tmpfs(void)
{
	struct test_overlay ov;
	if (!overlay_over_root("mnt-tmpfs", &ov))
		return;
	struct sandbox_mount mounts[] = {
	    {.type = SANDBOX_MOUNT_TMPFS, .target = "/scratch", .size = 64 * 1024},
	    {.type = SANDBOX_MOUNT_TMPFS, .target = "/frozen", .readonly = true},
	    {.type = SANDBOX_MOUNT_TMPFS, .target = "/etc"},
	};
	int r;
	struct cairn_error err = CAIRN_ERROR_INIT;
	cleanup_free char *out = run_mounts(
	    ov.merged,
	    "echo hi > /scratch/a && cat /scratch/a; stat -c '%a %u' /scratch;"
	    " dd if=/dev/zero of=/scratch/big bs=1024 count=256 2>/dev/null || echo full;"
	    " touch /frozen/x 2>/dev/null || echo refused; ls /etc; echo x > /etc/new",
	    mounts, 3, &r, &err);
	is_str(out, "hi\n755 0\nfull\nrefused\n",
	       "tmpfs: 0755 root-owned, size limit honoured, read-only when asked, hides the "
	       "image's files");
	overlay_umount(&ov);
	ok(upper_is_empty(ov.upper), "writes to a tmpfs do not reach upper");
	cleanup_free char *passwd = path_in(rootfs, "etc/passwd");
	ok(access(passwd, F_OK) == 0, "a tmpfs over an existing dir leaves the dir alone");
	overlay_free(&ov);
	cairn_error_clear(&err);
}

static void test_mount_target_symlink(void)
{
	cleanup_free char *name = xasprintf("cairn-escape-%d", (int)getpid());
	cleanup_free char *host_tmp = xasprintf("/tmp/%s", name);
	cleanup_free char *src = path_in(tmp, "host-sym");
	must_mkdir(src, "");
	static const char *const links[][2] = {
	    {"abs", "/tmp"},		/* dangling in the root: tmp is made there */
	    {"rel", "../../../../tmp"}, /* climbs to the root's root and no further */
	};
	for (size_t i = 0; i < 2; i++) {
		cleanup_free char *link = path_in(rootfs, links[i][0]);
		if (symlink(links[i][1], link) < 0)
			diag("symlink %s: %s", link, strerror(errno));
		cleanup_free char *target = xasprintf("/%s/%s", links[i][0], name);
		struct sandbox_mount mounts[] = {
		    {.type = SANDBOX_MOUNT_BIND, .source = src, .target = target},
		};
		cleanup_free char *script =
		    xasprintf("touch %s/f && test -e /tmp/%s/f && echo inside", target, name);
		int r;
		struct cairn_error err = CAIRN_ERROR_INIT;
		cleanup_free char *out = run_mounts(rootfs, script, mounts, 1, &r, &err);
		is_str(out, "inside\n",
		       "target through a symlink to %s lands inside the root (/tmp of the root)",
		       links[i][1]);
		ok(access(host_tmp, F_OK) < 0, "the host's /tmp is untouched");
		cleanup_free char *f = path_in(src, "f");
		ok(unlink(f) == 0, "the bind took the step's write");
		ok(!exists(rootfs, "tmp"), "the root's tmp/%s made for the mount is gone", name);
		unlink(link);
		cairn_error_clear(&err);
	}
}

static void test_mount_nested(void)
{
	struct test_overlay ov;
	if (!overlay_over_root("mnt-nested", &ov))
		return;
	cleanup_free char *host = path_in(tmp, "host-nested");
	must_mkdir(host, "");
	struct sandbox_mount mounts[] = {
	    {.type = SANDBOX_MOUNT_TMPFS, .target = "/a/b/c"},
	    {.type = SANDBOX_MOUNT_TMPFS, .target = "/x/y/z"},
	    {.type = SANDBOX_MOUNT_BIND, .source = host, .target = "/n"},
	    {.type = SANDBOX_MOUNT_TMPFS, .target = "/n/sub"},
	};
	int r;
	struct cairn_error err = CAIRN_ERROR_INIT;
	cleanup_free char *out = run_mounts(
	    ov.merged, "touch /a/b/keep /a/b/c/gone /x/y/z/gone /n/sub/gone && echo ran; ls /n",
	    mounts, 4, &r, &err);
	is_str(out, "ran\nsub\n",
	       "nested targets are created, one below an earlier mount inside that mount");
	ok(!exists(host, "sub/gone"), "the later mount covers the earlier one's dir");
	overlay_umount(&ov);
	cleanup_free char *ab = path_in(ov.upper, "a/b");
	cleanup_free char *in_ab = list_dir(ab);
	is_str(in_ab, "keep\n", "made dirs the step filled stay, the mount point in them goes");
	ok(!exists(ov.upper, "x") && !exists(ov.upper, "n"),
	   "made dirs are removed deepest first when still empty");

	struct sandbox_mount ro[] = {
	    {.type = SANDBOX_MOUNT_BIND, .source = host, .target = "/n", .readonly = true},
	    {.type = SANDBOX_MOUNT_TMPFS, .target = "/n/new"},
	};
	free(run_mounts(rootfs, "echo ran", ro, 2, &r, &err));
	ok(r == -EROFS && err.msg && strstr(err.msg, "mount target /n/new") &&
	       strstr(err.msg, "Read-only file system"),
	   "a mount that fails in the sandbox is an error naming the target (got %s)",
	   err.msg ? err.msg : "");
	ok(!exists(rootfs, "n"), "and what was made for it is removed");
	overlay_free(&ov);
	cairn_error_clear(&err);
}

static void test_mount_invalid(void)
{
	static const char *const targets[] = {
	    "relative/x", "",	  "/",		"/proc",     "/proc/sys",
	    "/dev/shm",	  "/sys", "/../proc/x", "/x/../dev", "//sys/",
	};
	for (size_t i = 0; i < sizeof targets / sizeof *targets; i++) {
		struct sandbox_mount m = {.type = SANDBOX_MOUNT_TMPFS, .target = targets[i]};
		int r;
		struct cairn_error err = CAIRN_ERROR_INIT;
		cleanup_free char *out = run_mounts(rootfs, "echo ran", &m, 1, &r, &err);
		ok(r == -EINVAL && err.msg && strstr(err.msg, targets[i]) && !*out,
		   "mount target \"%s\" is rejected, naming it (%s)", targets[i],
		   err.msg ? err.msg : "");
		cairn_error_clear(&err);
	}

	cleanup_free char *link = path_in(rootfs, "pl");
	if (symlink("/proc", link) < 0)
		diag("symlink: %s", strerror(errno));
	cleanup_free char *secret = path_in(tmp, "secret2");
	write_file(secret, "x");
	cleanup_free char *src = path_in(tmp, "host-inv");
	must_mkdir(src, "");
	const struct {
		struct sandbox_mount m;
		int code;
		const char *what, *want;
	} cases[] = {
	    {{.type = SANDBOX_MOUNT_TMPFS, .target = "/pl/x"},
	     EINVAL,
	     "a symlink into /proc",
	     "leads to /proc/x"},
	    {{.type = SANDBOX_MOUNT_BIND, .source = "/nonexistent-cairn", .target = "/x"},
	     ENOENT,
	     "a missing source",
	     "/nonexistent-cairn"},
	    {{.type = SANDBOX_MOUNT_TMPFS, .target = "/etc/passwd"},
	     ENOTDIR,
	     "a tmpfs on a file",
	     "/etc/passwd"},
	    {{.type = SANDBOX_MOUNT_BIND, .source = secret, .target = "/etc"},
	     EISDIR,
	     "a file on a dir",
	     "/etc"},
	    {{.type = SANDBOX_MOUNT_BIND, .source = src, .target = "/etc/passwd"},
	     ENOTDIR,
	     "a dir on a file",
	     "/etc/passwd"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		int r;
		struct cairn_error err = CAIRN_ERROR_INIT;
		free(run_mounts(rootfs, "echo ran", &cases[i].m, 1, &r, &err));
		ok(r == -cases[i].code && err.msg && strstr(err.msg, cases[i].want),
		   "%s is an error (%s)", cases[i].what, err.msg ? err.msg : "");
		cairn_error_clear(&err);
	}
	unlink(link);
	ok(!exists(rootfs, "proc") && !exists(rootfs, "x"),
	   "nothing made for rejected mounts is left");
}

static int create_errno(const char *dir)
{
	cleanup_free char *p = path_in(dir, "new");
	int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0) {
		close(fd);
		return 0;
	}
	return errno;
}

static void test_overlay_ro(void)
{
	cleanup_free char *base = path_in(tmp, "ro");
	must_mkdir(base, "");
	must_mkdir(base, "top");
	must_mkdir(base, "bottom");
	must_mkdir(base, "merged");
	cleanup_free char *top = path_in(base, "top");
	cleanup_free char *bottom = path_in(base, "bottom");
	cleanup_free char *merged = path_in(base, "merged");
	static const char *const files[][3] = {
	    {"top", "shared", "top\n"},	      {"top", "only-top", ""},
	    {"bottom", "shared", "bottom\n"}, {"bottom", "only-bottom", ""},
	    {"bottom", "gone", ""},
	};
	for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
		cleanup_free char *p = xasprintf("%s/%s/%s", base, files[i][0], files[i][1]);
		write_file(p, files[i][2]);
	}
	cleanup_free char *wh = path_in(top, "gone");
	if (mknod(wh, S_IFCHR | 0600, makedev(0, 0)) < 0)
		diag("mknod %s: %s", wh, strerror(errno));

	char *lower[] = {top, bottom};
	struct cairn_error err = CAIRN_ERROR_INIT;
	int r = sandbox_overlay_mount_ro(lower, 2, merged, &err);
	ok(r == 0, "read-only overlay of two lower dirs mounts%s%s", r ? ": " : "",
	   r ? err.msg : "");
	if (r == 0) {
		cleanup_free char *names = list_dir(merged);
		is_str(names, "only-bottom\nonly-top\nshared\n",
		       "it shows the union of the lower dirs, whiteouts applied");
		cleanup_free char *shared = path_in(merged, "shared");
		cleanup_free char *text = NULL;
		util_read_file(AT_FDCWD, shared, &text, NULL, NULL);
		is_str(text, "top\n", "the first lower dir is the top-most");
		is_int(create_errno(merged), EROFS, "writing to it fails with EROFS");
		r = sandbox_overlay_umount(merged, &err);
		ok(r == 0 && dir_is_empty(merged), "it unmounts");
	}

	r = sandbox_overlay_mount_ro(lower + 1, 1, merged, &err);
	ok(r == 0, "read-only overlay of one lower dir mounts");
	if (r == 0) {
		cleanup_free char *names = list_dir(merged);
		is_str(names, "gone\nonly-bottom\nshared\n", "it shows that dir");
		is_int(create_errno(merged), EROFS, "writing to it fails with EROFS");
		r = sandbox_overlay_umount(merged, &err);
		ok(r == 0 && dir_is_empty(merged), "it unmounts");
	}

	r = sandbox_overlay_mount_ro(NULL, 0, merged, &err);
	ok(r == 0, "read-only overlay of no lower dir mounts");
	if (r == 0) {
		ok(dir_is_empty(merged), "it is empty");
		is_int(create_errno(merged), EROFS, "writing to it fails with EROFS");
		r = sandbox_overlay_umount(merged, &err);
		ok(r == 0, "it unmounts");
	}
	cairn_error_clear(&err);
}

/* ---- interruption ---- */

static int interrupt_pipe[2];

/* Waits until the step says it started, then interrupts the builder. */
static void *interrupt_when_started(void *arg)
{
	char buf[64];
	ssize_t n = read(interrupt_pipe[0], buf, sizeof buf);
	if (n > 0)
		kill(getpid(), SIGINT);
	return NULL;
}

static bool process_with_arg(const char *needle)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	bool found = false;
	while (d && (de = readdir(d))) {
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		cleanup_free char *p = xasprintf("/proc/%s/cmdline", de->d_name);
		cleanup_free char *cmd = NULL;
		size_t len = 0;
		if (util_read_file(AT_FDCWD, p, &cmd, &len, NULL) < 0)
			continue;
		for (size_t i = 0; i < len; i += strlen(cmd + i) + 1)
			if (!strcmp(cmd + i, needle))
				found = true;
	}
	if (d)
		closedir(d);
	return found;
}

static void test_interrupt(void)
{
	util_catch_signals();
	if (pipe2(interrupt_pipe, O_CLOEXEC) < 0)
		return;
	pthread_t th;
	pthread_create(&th, NULL, interrupt_when_started, NULL);
	struct sandbox_spec spec = spec_for(rootfs, "sleep 987654 & echo started; sleep 987654");
	spec.stdout_fd = interrupt_pipe[1];
	spec.stderr_fd = interrupt_pipe[1];
	int status = -1;
	struct cairn_error err = CAIRN_ERROR_INIT;
	int r = sandbox_run(&spec, &status, &err);
	close(interrupt_pipe[1]);
	pthread_join(th, NULL);
	close(interrupt_pipe[0]);
	is_int(r, -EINTR, "SIGINT to the builder interrupts the step with -EINTR");
	ok(!process_with_arg("987654"), "no process of the interrupted step is left");
	util_interrupted = 0;
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	cairn_error_clear(&err);
}

/* ---- interactive commands (struct sandbox_io) ---- */

/* A pty pair standing in for the user's terminal: *master and *peer. */
static bool open_term(int *master, int *peer)
{
	*master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (*master < 0 || grantpt(*master) < 0 || unlockpt(*master) < 0)
		return false;
	*peer = open(ptsname(*master), O_RDWR | O_NOCTTY | O_CLOEXEC);
	return *peer >= 0;
}

static void test_io_tty(void)
{
	int tm = -1, tp = -1;
	if (!open_term(&tm, &tp)) {
		ok(false, "opening a pty for the test: %s", strerror(errno));
		return;
	}
	struct winsize ws = {.ws_row = 33, .ws_col = 101};
	ioctl(tp, TIOCSWINSZ, &ws);
	cleanup_close int log = memfd_create("log", MFD_CLOEXEC);
	struct sandbox_io io = SANDBOX_IO_INIT;
	io.tty = true;
	io.term_fd = tp;
	io.log_fd = log;
	struct sandbox_spec spec =
	    spec_for(rootfs, "test -t 0 && test -t 1 && echo isatty; tty; stty size; exit 3");
	spec.io = &io;
	int r, status;
	struct cairn_error err = CAIRN_ERROR_INIT;
	alarm(20);
	cleanup_free char *out = run(&spec, &r, &status, &err);
	alarm(0);
	ok(r == 0 && status == 3, "a command with a pty runs and passes its status");
	ok(out && strstr(out, "isatty"), "its stdin and stdout are a terminal");
	ok(out && strstr(out, "/dev/pts/0"), "tty names /dev/pts/0 of the sandbox's devpts");
	ok(out && strstr(out, "33 101"), "stty size shows the caller's terminal size");
	cleanup_free char *logged = read_all(log);
	is_str(logged, out, "the log gets every byte of the output");
	struct termios t;
	ok(tcgetattr(tp, &t) == 0 && (t.c_lflag & ICANON), "the terminal is no longer raw");
	if (!out || !strstr(out, "33 101"))
		diag("output: %s", out ? out : "(none)");
	cairn_error_clear(&err);
	close(tm);
	close(tp);
}

static void test_io_stdin(void)
{
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return;
	if (write(pfd[1], "through\n", 8) != 8)
		diag("writing the pipe: %s", strerror(errno));
	close(pfd[1]);
	struct sandbox_io io = SANDBOX_IO_INIT;
	io.stdin_fd = pfd[0];
	struct sandbox_spec spec = spec_for(rootfs, "cat; echo end");
	spec.io = &io;
	int r, status;
	struct cairn_error err = CAIRN_ERROR_INIT;
	alarm(20);
	cleanup_free char *out = run(&spec, &r, &status, &err);
	is_str(out, "through\nend\n", "a pipe as stdin reaches the command, then EOF");
	close(pfd[0]);

	/* a terminal as stdin is relayed, never handed over */
	int tm = -1, tp = -1;
	if (!open_term(&tm, &tp)) {
		ok(false, "opening a pty for the test");
		alarm(0);
		return;
	}
	if (write(tm, "typed\n", 6) != 6)
		diag("writing the terminal: %s", strerror(errno));
	io.stdin_fd = tp;
	spec = spec_for(rootfs, "read x; echo got $x; test -t 0 || echo not-a-tty");
	spec.io = &io;
	cleanup_free char *out2 = run(&spec, &r, &status, &err);
	alarm(0);
	is_str(out2, "got typed\nnot-a-tty\n", "a terminal's input is relayed through a pipe");
	cairn_error_clear(&err);
	close(tm);
	close(tp);
}

static int signal_pipe[2];
static int signal_to_send;

/* Waits until the command says it is ready, then signals the caller. */
static void *signal_when_ready(void *arg)
{
	char buf[64];
	ssize_t n = read(signal_pipe[0], buf, sizeof buf);
	if (n > 0)
		kill(getpid(), signal_to_send);
	/* pass on the rest of the output */
	while (read(signal_pipe[0], buf, sizeof buf) > 0)
		;
	return NULL;
}

static int run_signalled(const char *script, int sig)
{
	util_catch_signals();
	if (pipe2(signal_pipe, O_CLOEXEC) < 0)
		return -1;
	signal_to_send = sig;
	pthread_t th;
	pthread_create(&th, NULL, signal_when_ready, NULL);
	struct sandbox_io io = SANDBOX_IO_INIT;
	io.forward_signals = true;
	struct sandbox_spec spec = spec_for(rootfs, script);
	spec.io = &io;
	spec.stdout_fd = signal_pipe[1];
	spec.stderr_fd = signal_pipe[1];
	int status = -1;
	struct cairn_error err = CAIRN_ERROR_INIT;
	alarm(20);
	int r = sandbox_run(&spec, &status, &err);
	alarm(0);
	close(signal_pipe[1]);
	pthread_join(th, NULL);
	close(signal_pipe[0]);
	if (r < 0)
		diag("sandbox_run: %s", err.msg);
	ok(util_interrupted == 0, "a forwarded signal does not interrupt the caller");
	util_interrupted = 0;
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	cairn_error_clear(&err);
	return r < 0 ? r : status;
}

static void test_io_signals(void)
{
	is_int(run_signalled("trap 'exit 42' TERM; echo ready; sleep 1000 & wait", SIGTERM), 42,
	       "SIGTERM to the caller reaches the command's trap");
	is_int(run_signalled("echo ready; sleep 1000", SIGTERM), 128 + SIGTERM,
	       "a command without a handler dies of the forwarded SIGTERM");
	ok(!process_with_arg("1000"), "nothing of the signalled commands is left");
	is_int(run_signalled("trap 'exit 7' INT; echo ready; sleep 1000 & wait", SIGINT), 7,
	       "SIGINT is forwarded too");
}

struct started_seen {
	pid_t pid;
	char comm[32];
};

static void on_started(void *ctx, pid_t pid)
{
	struct started_seen *s = ctx;
	s->pid = pid;
	cleanup_free char *path = xasprintf("/proc/%d/comm", (int)pid);
	cleanup_free char *comm = NULL;
	size_t len = 0;
	if (util_read_file(AT_FDCWD, path, &comm, &len, NULL) == 0)
		snprintf(s->comm, sizeof s->comm, "%.*s", (int)len, comm);
}

static void test_io_started(void)
{
	struct started_seen seen = {0};
	struct sandbox_io io = SANDBOX_IO_INIT;
	io.started = on_started;
	io.ctx = &seen;
	struct sandbox_spec spec = spec_for(rootfs, "echo hi");
	spec.io = &io;
	int r, status;
	struct cairn_error err = CAIRN_ERROR_INIT;
	cleanup_free char *out = run(&spec, &r, &status, &err);
	ok(r == 0 && seen.pid > 0, "started is called with a pid");
	is_str(seen.comm, "cairn-init\n", "the pid is the command's PID 1, cairn-init");
	seen.pid = 0;
	spec = spec_for(rootfs, "true");
	char *const argv[] = {"no-such-command", NULL};
	spec.argv = argv;
	spec.io = &io;
	free(run(&spec, &r, &status, &err));
	ok(r < 0 && seen.pid == 0, "started is not called for a command that cannot start");
	cairn_error_clear(&err);
}

static void test_readonly_root(void)
{
	struct sandbox_mount m = {.type = SANDBOX_MOUNT_TMPFS, .target = "/scratch"};
	struct sandbox_spec spec =
	    spec_for(rootfs, "touch /x 2>&1; touch /scratch/y && echo scratch-ok; "
			     "touch /dev/shm/z && echo shm-ok; test -r /proc/self/status && "
			     "echo proc-ok");
	spec.readonly_root = true;
	spec.mounts = &m;
	spec.n_mounts = 1;
	int r, status;
	struct cairn_error err = CAIRN_ERROR_INIT;
	cleanup_free char *out = run(&spec, &r, &status, &err);
	ok(out && strstr(out, "Read-only file system"), "a write to the read-only root fails");
	ok(out && strstr(out, "scratch-ok\nshm-ok\nproc-ok"),
	   "a tmpfs mount, /dev/shm and /proc stay as they are");
	cleanup_free char *x = path_in(rootfs, "x");
	ok(access(x, F_OK) < 0, "nothing was written to the root");
	if (!out || !strstr(out, "scratch-ok"))
		diag("output: %s", out ? out : "(none)");
	cairn_error_clear(&err);
}

/* ---- sandbox_exec ---- */

struct container_run {
	int out[2];	/* the container's output: "ready" once it made its file */
	int started[2]; /* its PID 1, written by started (which runs in the other thread) */
	int r, status;
};

static void on_container_started(void *ctx, pid_t pid)
{
	struct container_run *c = ctx;
	if (write(c->started[1], &pid, sizeof pid) != sizeof pid)
		diag("cannot hand the container's pid over: %s", strerror(errno));
}

static void *run_container(void *arg)
{
	struct container_run *c = arg;
	struct sandbox_io io = SANDBOX_IO_INIT;
	io.started = on_container_started;
	io.ctx = c;
	struct sandbox_spec spec =
	    spec_for(rootfs, "echo made-by-pid1 >/made; echo ready; exec sleep 1000");
	spec.hostname = "box";
	spec.io = &io;
	spec.stdout_fd = c->out[1];
	spec.stderr_fd = c->out[1];
	struct cairn_error err = CAIRN_ERROR_INIT;
	c->r = sandbox_run(&spec, &c->status, &err);
	if (c->r < 0)
		diag("the container: %s", err.msg);
	cairn_error_clear(&err);
	close(c->out[1]);
	close(c->started[1]);
	return NULL;
}

static void test_exec(void)
{
	struct container_run c = {.r = 0};
	if (pipe2(c.out, O_CLOEXEC) < 0 || pipe2(c.started, O_CLOEXEC) < 0)
		return;
	alarm(30);
	pthread_t th;
	pthread_create(&th, NULL, run_container, &c);
	/* started runs in the container's thread and may come after the container's
	 * first output: wait for both */
	pid_t pid = 0;
	if (read(c.started[0], &pid, sizeof pid) != sizeof pid)
		pid = 0;
	char buf[64];
	ssize_t n = read(c.out[0], buf, sizeof buf);
	ok(n > 0 && pid > 0, "the container runs and its PID 1 is known");
	int status = -1;
	struct cairn_error err = CAIRN_ERROR_INIT;
	cleanup_close int out = memfd_create("exec-output", MFD_CLOEXEC);
	char *const argv[] = {"sh", "-c", "hostname; cat /proc/1/comm; cat /made; id -u; pwd",
			      NULL};
	struct sandbox_exec_spec x = {
	    .pid = pid,
	    .argv = argv,
	    .env = default_env,
	    .cwd = "/etc",
	    .user = "builder",
	    .stdout_fd = out,
	    .stderr_fd = out,
	};
	int r = pid > 0 ? sandbox_exec(&x, &status, &err) : -1;
	if (r < 0)
		diag("sandbox_exec: %s", err.msg ? err.msg : "");
	cleanup_free char *got = read_all(out);
	ok(r == 0 && status == 0, "sandbox_exec runs a command in the container");
	is_str(got, "box\ncairn-init\nmade-by-pid1\n1000\n/etc\n",
	       "it sees the container's hostname, PID 1 and files, as its user and in its cwd");
	cairn_error_clear(&err);
	if (pid > 0)
		kill(pid, SIGKILL);
	while (read(c.out[0], buf, sizeof buf) > 0)
		;
	pthread_join(th, NULL);
	close(c.out[0]);
	close(c.started[0]);
	r = sandbox_exec(&x, &status, &err);
	alarm(0);
	is_int(r, -ESRCH, "sandbox_exec after PID 1 exited is -ESRCH");
	cairn_error_clear(&err);
	cleanup_free char *made = path_in(rootfs, "made");
	unlink(made);
}

int main(void)
{
	if (geteuid() != 0) {
		printf("1..0 # SKIP needs root\n");
		return 0;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	struct cairn_error err = CAIRN_ERROR_INIT;
	char *notice = NULL;
	if (sandbox_enter(SANDBOX_ISOLATION_OCI, &notice, &err) < 0) {
		printf("Bail out! %s\n", err.msg);
		return 1;
	}
	free(notice);
	char tmpl[] = "/tmp/cairn-test-sandbox-XXXXXX";
	tmp = mkdtemp(tmpl);
	if (!tmp) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	rootfs = path_in(tmp, "root");
	make_busybox_root(rootfs);

	test_resolve_user();
	test_exit_status();
	test_output();
	test_user();
	test_cwd_env();
	test_pid1();
	test_no_fd_leak();
	test_pid1_holds_nothing();
	test_cwd_magic_link();
	test_own_session();
	test_seccomp();
	test_privileges();
	test_hostname();
	test_dev();
	test_network();
	test_host_network_files();
	test_name_files();
	test_limits();
	test_parse_options();
	test_missing_command();
	test_script_without_interpreter();
	test_mount_points_removed();
	test_overlay_step();
	test_overlay_empty_root();
	test_overlay_many_lowers();
	test_mount_bind_dir();
	test_mount_bind_file();
	test_mount_file();
	test_mount_parent_mtime();
	test_mount_tmpfs();
	test_mount_target_symlink();
	test_mount_nested();
	test_mount_invalid();
	test_overlay_ro();
	test_interrupt();
	test_io_tty();
	test_io_stdin();
	test_io_signals();
	test_io_started();
	test_readonly_root();
	test_exec();

	if (util_rm_rf(AT_FDCWD, tmp, &err) < 0)
		diag("cleaning up %s: %s", tmp, err.msg);
	cairn_error_clear(&err);
	free(rootfs);
	return done_testing();
}
