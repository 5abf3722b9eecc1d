/* Rebuilding from nothing, for --verify and cairn verify: a new empty store holding
 * only the base images the first build read (copied by digest, never pulled), a build
 * in a child process under varied conditions in the spirit of reprotest, and the
 * comparison of the two images.
 *
 * What a rebuild varies (variation v = 0, 1, ...), each for a reason:
 *   - the store's path, always; and its filesystem where it can: on a tmpfs cairn
 *     mounts (v even) when the first store is on a disk filesystem, so the trees
 *     extracted into it list their entries in another order (tmpfs: newest first;
 *     ext4: by hash). Only as root, and only when the base images are small beside
 *     the memory available; else the store stays on the first store's filesystem.
 *   - the wall clock: the rebuild starts in a later second than the build before it
 *     ended, so a step that records the time records another one;
 *   - TZ of the builder process (two far-apart zones, alternating);
 *   - umask of the builder process (0077, 0002), while the store is made and the
 *     base images are copied into it too; the build resets it to 022 for what it
 *     writes, so this checks that nothing before that depends on it;
 *   - the hostname RUN steps see (and the builder's own, in a UTS namespace of its
 *     own when it can make one);
 *   - LANG and LC_ALL of the builder process (cairn never calls setlocale: this
 *     reaches what the builder runs with its environment, not RUN steps, whose
 *     environment is the recipe's);
 *   - the CPUs the builder and its RUN steps may run on (one, when the machine has
 *     more), so nproc and parallel builds see another number. */
#include "internal.h"

#include "../ref/ref.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- the conditions of one rebuild ---- */

struct variation {
	const char *tz;
	mode_t umask;
	char *hostname;
	const char *locale;
	cpu_set_t cpus;
	int n_cpus, of_cpus; /* the rebuild's CPUs, of the builder's */
};

static void variation_init(struct variation *v, unsigned index)
{
	memset(v, 0, sizeof *v);
	/* UTC+14 and UTC-11:30, named so that no zone database is needed */
	v->tz = index % 2 ? "CRN+11:30" : "CRN-14";
	v->umask = index % 2 ? 0002 : 0077;
	v->hostname = xasprintf("cairn-rebuild-%u", index + 1);
	const char *mine = getenv("LC_ALL");
	if (!mine || !*mine)
		mine = getenv("LANG");
	v->locale = mine && !strcmp(mine, "C.UTF-8") ? "POSIX" : "C.UTF-8";
	cpu_set_t all;
	CPU_ZERO(&all);
	CPU_ZERO(&v->cpus);
	if (sched_getaffinity(0, sizeof all, &all) < 0)
		return;
	v->of_cpus = CPU_COUNT(&all);
	if (v->of_cpus < 2)
		return;
	/* one of them: the last for even rebuilds, the first for odd ones */
	int pick = -1;
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &all) && (pick < 0 || index % 2 == 0))
			pick = c;
	CPU_SET(pick, &v->cpus);
	v->n_cpus = 1;
}

/* Applies v to this process (the rebuild's child). */
static void variation_apply(const struct variation *v)
{
	setenv("TZ", v->tz, 1);
	tzset();
	setenv("LANG", v->locale, 1);
	setenv("LC_ALL", v->locale, 1);
	umask(v->umask);
	if (v->n_cpus)
		(void)sched_setaffinity(0, sizeof v->cpus, &v->cpus);
	/* the builder's own hostname too, where a UTS namespace can be made (chroot
	 * steps, which have none of their own, see it) */
	if (unshare(CLONE_NEWUTS) == 0)
		(void)sethostname(v->hostname, strlen(v->hostname));
}

/* ---- the temporary store ---- */

/* Bytes of the blobs of the base images (what a rebuild's store copies first). */
static uint64_t bases_size(struct store *from, const struct builder_report *rp)
{
	uint64_t total = 0;
	for (size_t i = 0; i < rp->n_bases; i++) {
		cleanup_oci_image struct oci_image img = {0};
		struct cairn_error e = CAIRN_ERROR_INIT;
		if (oci_image_load(from, rp->bases[i].digest, &img, &e) < 0) {
			cairn_error_clear(&e);
			continue;
		}
		for (size_t l = 0; l < img.n_layers; l++)
			total += img.layers[l].size;
	}
	return total;
}

/* MemAvailable in bytes, 0 when unknown. */
static uint64_t mem_available(void)
{
	cleanup_fclose FILE *f = fopen("/proc/meminfo", "re");
	char line[256];
	unsigned long long kb;
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
			return (uint64_t)kb * 1024;
	return 0;
}

/* The size of a tmpfs for the rebuild's store, or 0 when it is to stay on disk: only
 * as root (where cairn mounts what it likes), with the first store on a disk
 * filesystem, and when the base images, unpacked and built upon (some 8 times their
 * compressed size) take at most an eighth of the memory available. The tmpfs is
 * limited to half the memory available: a build that needs more fails for want of
 * room rather than take the machine's memory. */
static uint64_t tmpfs_size(struct store *from, const struct builder_report *rp, unsigned index,
			   const char **why)
{
	struct statfs sf;
	*why = NULL;
	if (statfs(store_root(from), &sf) == 0 && sf.f_type == TMPFS_MAGIC) {
		*why = "the store is on a tmpfs already: the directory order is not varied";
		return 0;
	}
	if (index % 2)
		return 0;
	if (sandbox_caps()->isolation != SANDBOX_ISOLATION_OCI || !sandbox_caps()->can_mount) {
		*why = "a tmpfs only as root with full isolation: the rebuild's store stays "
		       "on the store's filesystem";
		return 0;
	}
	uint64_t avail = mem_available();
	uint64_t need = 8 * bases_size(from, rp) + (64u << 20);
	if (!avail || need > avail / 8) {
		*why = "the base images are large beside the memory available: the rebuild's "
		       "store stays on the store's filesystem";
		return 0;
	}
	return avail / 2;
}

/* Copies the image name (manifest digest) from `from` into s, tagged as the recipe
 * named it, so that FROM finds the very same image there. */
static int copy_base(struct store *s, struct store *from, const struct builder_report_base *base,
		     struct cairn_error *err)
{
	cleanup_oci_image struct oci_image img = {0};
	int r = oci_image_load(from, base->digest, &img, err);
	if (r < 0)
		return cairn_error_wrap(err, "base image %s (%s)", base->name, base->digest);
	r = oci_image_copy_blobs(s, from, base->digest, true, err);
	const char *at = strchr(base->name, '@');
	/* name@digest: the digest may be an index's, whose manifest for this machine
	 * is the one copied */
	if (r == 0 && at && strcmp(at + 1, base->digest))
		r = store_copy_blob(s, from, at + 1, true, err);
	if (r < 0 || at)
		return r < 0 ? cairn_error_wrap(err, "copying base image %s", base->name) : 0;
	cleanup_free char *local = NULL;
	if ((r = ref_local_name(base->name, &local, err)) < 0)
		return r;
	uint64_t size = 0;
	if ((r = store_blob_size(from, base->digest, &size, err)) < 0)
		return r;
	const char *mt = json_string_value(json_object_get(img.manifest, "mediaType"));
	struct store_tag t = {
	    .ref = local,
	    .digest = (char *)base->digest,
	    .media_type = (char *)(mt ? mt : MEDIA_TYPE_OCI_MANIFEST),
	    .size = (int64_t)size,
	};
	return store_tag_set(s, &t, err);
}

/* A new empty store for the rebuild in from's temp space, on a tmpfs when
 * tmpfs_size says so; out->root and out->store are set. */
static int make_store(struct store *from, const struct builder_report *rp, unsigned index,
		      struct builder_rebuild *out, struct strbuf *varied, struct cairn_error *err)
{
	cleanup_free char *dir = NULL;
	int r = store_mkdtemp(from, "verify-", &dir, err);
	if (r < 0)
		return r;
	out->root = xasprintf("%s/store", dir);
	const char *why = NULL;
	uint64_t size = tmpfs_size(from, rp, index, &why);
	if (size) {
		cleanup_free char *data =
		    xasprintf("size=%llu,mode=0700", (unsigned long long)size);
		if (mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, data) < 0)
			return cairn_error_errno(err, errno, "mounting a tmpfs at %s", dir);
		out->tmpfs = true;
	}
	strbuf_addf(varied, "store %s (%s)", out->root,
		    size  ? "on a tmpfs"
		    : why ? why
			  : "on the store's filesystem");
	if ((r = store_open(out->root, &out->store, err)) < 0)
		return r;
	for (size_t i = 0; r == 0 && i < rp->n_bases; i++)
		r = copy_base(out->store, from, &rp->bases[i], err);
	return r;
}

void builder_rebuild_release(struct builder_rebuild *rb)
{
	if (rb->store)
		store_close(rb->store);
	if (rb->root) {
		/* root is DIR/store; DIR is the temp dir (and the tmpfs) */
		cleanup_free char *dir = xstrdup(rb->root);
		char *slash = strrchr(dir, '/');
		if (slash)
			*slash = '\0';
		if (rb->tmpfs)
			umount2(dir, MNT_DETACH);
		util_rm_rf(AT_FDCWD, dir, NULL);
	}
	free(rb->root);
	free(rb->varied);
	memset(rb, 0, sizeof *rb);
}

/* ---- the rebuild, in a child process ---- */

/* Sleeps until the wall clock is in a later second than now. */
static void next_second(void)
{
	time_t t0 = time(NULL);
	while (time(NULL) == t0 && !util_interrupted) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		struct timespec d = {0, 1000000000L - ts.tv_nsec + 1000000L};
		if (d.tv_nsec >= 1000000000L)
			d = (struct timespec){1, d.tv_nsec - 1000000000L};
		nanosleep(&d, NULL);
	}
}

/* The child: builds under v into the store at root and writes its report (the digest,
 * or the error) to fd. Never returns. */
_Noreturn static void rebuild_child(const struct builder_opts *opts,
				    const struct builder_report *rp, const char *root,
				    const struct variation *v, int fd)
{
	prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
	variation_apply(v);
	struct builder_opts o = *opts;
	o.tags = NULL;
	o.cache_from = NULL;
	o.cache_to = NULL;
	struct builder_report report = {0};
	o.report = &report; /* for what it read from the context */
	o.pull = BUILDER_PULL_NEVER;
	o.source_date_epoch_set = true;
	o.source_date_epoch = rp->source_date_epoch;
	o.source_date_epoch_from_inputs = false;
	o.hostname = v->hostname;
	o.hostname_varied = true;
	struct cairn_error err = CAIRN_ERROR_INIT;
	struct store *s = NULL;
	char digest[DIGEST_LEN];
	int r = store_open(root, &s, &err);
	if (r == 0)
		r = builder_run(s, &o, digest, &err);
	store_close(s);
	sandbox_network_release();
	cleanup_json json_t *j =
	    r == 0 ? json_pack("{s:s, s:s}", "digest", digest, "context", report.context_digest)
		   : builder_error_to_json(&err);
	builder_report_release(&report);
	cleanup_free char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	if (text)
		util_write_all(fd, text, strlen(text));
	fflush(NULL);
	_exit(r == 0 ? 0 : 1);
}

/* Reads the child's report to its end; when cairn is interrupted meanwhile, the
 * child is told to stop (it ends, and with it the pipe). */
static int read_report(int fd, pid_t pid, struct strbuf *sb)
{
	bool told = false;
	for (;;) {
		if (util_interrupted && !told) {
			kill(pid, SIGTERM);
			told = true;
		}
		strbuf_grow(sb, 4096);
		ssize_t n = read(fd, sb->buf + sb->len, sb->alloc - sb->len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		sb->len += (size_t)n;
		sb->buf[sb->len] = '\0';
	}
}

int builder_rebuild(const struct builder_opts *opts, const struct builder_report *report,
		    struct store *from, unsigned variation, struct builder_rebuild *out,
		    struct cairn_error *err)
{
	memset(out, 0, sizeof *out);
	struct variation v;
	variation_init(&v, variation);
	cleanup_strbuf struct strbuf varied = STRBUF_INIT;
	/* the store is made and the bases copied in under the rebuild's umask too */
	mode_t old_umask = umask(v.umask);
	int r = make_store(from, report, variation, out, &varied, err);
	umask(old_umask);
	if (r < 0) {
		free(v.hostname);
		out->varied = strbuf_detach(&varied);
		return r;
	}
	strbuf_addf(&varied, ", TZ=%s, umask %04o, hostname %s, LANG and LC_ALL %s", v.tz,
		    (unsigned)v.umask, v.hostname, v.locale);
	if (v.n_cpus)
		strbuf_addf(&varied, ", %d of %d CPUs", v.n_cpus, v.of_cpus);
	else
		strbuf_addstr(&varied, ", CPUs not varied (one only)");
	out->varied = strbuf_detach(&varied);
	if (opts->progress) {
		fprintf(opts->progress, "rebuild %u: %s\n", variation + 1, out->varied);
		fflush(opts->progress);
	}
	/* a step that records the time records another second than the build before */
	next_second();
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) < 0) {
		free(v.hostname);
		return cairn_error_errno(err, errno, "starting the rebuild");
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		close(fds[0]);
		rebuild_child(opts, report, out->root, &v, fds[1]);
	}
	free(v.hostname);
	close(fds[1]);
	if (pid < 0) {
		close(fds[0]);
		return cairn_error_errno(err, errno, "starting the rebuild");
	}
	cleanup_strbuf struct strbuf msg = STRBUF_INIT;
	int rr = read_report(fds[0], pid, &msg);
	close(fds[0]);
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		if (util_interrupted)
			kill(pid, SIGTERM);
	if (util_interrupted) {
		cairn_error_set(err, EINTR, "interrupted");
		return cairn_error_kind(err, CAIRN_ERR_INTERRUPTED);
	}
	cleanup_json json_t *j = rr == 0 ? json_loadb(msg.buf, msg.len, 0, NULL) : NULL;
	if ((r = builder_error_from_json(j, err)) <= 0)
		return r < 0 ? cairn_error_wrap(err, "rebuild %u", variation + 1) : r;
	const char *d = json_string_value(json_object_get(j, "digest"));
	if (!digest_valid(d))
		return cairn_error_set(
		    err, EIO, "rebuild %u ended without a result (%s %d)", variation + 1,
		    WIFSIGNALED(status) ? "signal" : "exit status",
		    WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
	memcpy(out->digest, d, DIGEST_LEN);
	snprintf(out->context_digest, DIGEST_LEN, "%s",
		 json_string_value(json_object_get(j, "context")) ?: "");
	return 0;
}

/* ---- the comparison ---- */

/* The lowest layer index where the two images' layers differ (by diff_id, else by
 * blob), -1 when none does. */
static long first_layer_differing(struct store *sa, const char *da, struct store *sb,
				  const char *db)
{
	cleanup_oci_image struct oci_image a = {0};
	cleanup_oci_image struct oci_image b = {0};
	struct cairn_error e = CAIRN_ERROR_INIT;
	if (oci_image_load(sa, da, &a, &e) < 0 || oci_image_load(sb, db, &b, &e) < 0) {
		cairn_error_clear(&e);
		return -1;
	}
	size_t n = a.n_layers < b.n_layers ? a.n_layers : b.n_layers;
	for (size_t i = 0; i < n; i++)
		if (strcmp(a.layers[i].diff_id, b.layers[i].diff_id) ||
		    strcmp(a.layers[i].digest, b.layers[i].digest))
			return (long)i;
	return a.n_layers != b.n_layers ? (long)n : -1;
}

int builder_rebuild_diff(struct store *first, const char *first_digest,
			 const struct builder_rebuild *rb, FILE *out, size_t *count,
			 long *first_layer, struct cairn_error *err)
{
	struct diff_opts o = {0};
	struct diff_image a = {.s = first, .digest = first_digest, .name = "build"};
	struct diff_image b = {.s = rb->store, .digest = rb->digest, .name = "rebuild"};
	struct diff_list found = {0};
	*count = 0;
	int r = diff_images(&a, &b, &o, diff_list_add, &found, count, err);
	long lowest = -1;
	for (size_t i = 0; i < found.n; i++)
		if (found.items[i].layer >= 0 && (lowest < 0 || found.items[i].layer < lowest))
			lowest = found.items[i].layer;
	if (out && found.n)
		diff_list_print(out, &found, "A (build)", "B (rebuild)");
	diff_list_release(&found);
	/* the layers compared as the manifests list them, whatever the walk found */
	long l = first_layer_differing(first, first_digest, rb->store, rb->digest);
	*first_layer = lowest >= 0 && (l < 0 || lowest < l) ? lowest : l;
	return r;
}
