/* COPY and ADD: sources from the build context into an overlay of the image. */
#include "internal.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- COPY / ADD ---- */

static bool is_url(const char *s)
{
	return !strncmp(s, "http://", 7) || !strncmp(s, "https://", 8) || !strncmp(s, "git@", 4);
}

static int parse_chmod(const char *s, int *mode)
{
	if (!*s || strlen(s) > 4)
		return -EINVAL;
	for (const char *p = s; *p; p++)
		if (*p < '0' || *p > '7')
			return -EINVAL;
	*mode = (int)strtol(s, NULL, 8);
	return 0;
}

/* --chown=USER[:GROUP] as buildkit: a name takes its uid and primary gid from the
 * image's /etc/passwd, but a numeric USER without GROUP is also the gid (unlike
 * USER, which takes the gid from /etc/passwd). */
static int resolve_chown(const char *rootfs, const char *spec, uid_t *uid, gid_t *gid,
			 struct cairn_error *err)
{
	size_t n = strcspn(spec, ":");
	bool numeric = n > 0 && strspn(spec, "0123456789") == n;
	int r = sandbox_resolve_user(rootfs, spec, uid, gid, err);
	if (r == 0 && numeric && !spec[n])
		*gid = (gid_t)*uid;
	return r;
}

int build_exec_copy(struct builder *b, struct stage *st, const struct recipe_instr *in)
{
	bool is_add = in->kind == RECIPE_ADD;
	int r = build_check_flags(b, in, is_add ? "chown,chmod,link" : "chown,chmod,link,from");
	if (r < 0)
		return r;
	if (build_flag_value(in, "from"))
		return build_instr_error(b, in, ENOTSUP, "--from is not supported yet");
	if (in->n_heredocs)
		return build_instr_error(b, in, ENOTSUP, "heredocs are not supported yet");
	size_t nargs = strv_len(in->args);
	if (nargs < 2)
		return build_instr_error(b, in, EINVAL,
					 "requires at least two arguments: SRC... DEST");
	cleanup_strv char **words = NULL;
	for (size_t i = 0; i < nargs; i++) {
		char *w = NULL;
		if ((r = build_expand_word(b, in, st, in->args[i], &w)) < 0)
			return r;
		strv_push_take(&words, w);
	}
	char *dest_word = words[nargs - 1];
	words[nargs - 1] = NULL;
	cleanup_free char *dest_raw = dest_word;
	for (size_t i = 0; words[i]; i++)
		if (is_url(words[i]))
			return build_instr_error(
			    b, in, ENOTSUP,
			    "%s: remote sources are not supported (cairn builds "
			    "offline); download the file into the build context",
			    words[i]);
	const char *wd =
	    *build_config_str(st, "WorkingDir") ? build_config_str(st, "WorkingDir") : "/";
	cleanup_free char *dest_joined =
	    dest_raw[0] == '/' ? xstrdup(dest_raw) : xasprintf("%s/%s", wd, dest_raw);
	cleanup_free char *dest = build_clean_abs_path(dest_joined);
	size_t dl = strlen(dest_raw);
	bool dest_is_dir = (dl && dest_raw[dl - 1] == '/') || !strcmp(dest_raw, ".") ||
			   (dl >= 2 && !strcmp(dest_raw + dl - 2, "/."));

	const char *chown_raw = build_flag_value(in, "chown");
	const char *chmod_raw = build_flag_value(in, "chmod");
	cleanup_free char *chown_v = NULL, *chmod_v = NULL;
	if (chown_raw && (r = build_expand_word(b, in, st, chown_raw, &chown_v)) < 0)
		return r;
	if (chmod_raw && (r = build_expand_word(b, in, st, chmod_raw, &chmod_v)) < 0)
		return r;
	int mode = -1;
	if (chmod_v && parse_chmod(chmod_v, &mode) < 0)
		return build_instr_error(b, in, EINVAL,
					 "--chmod=%s: expected an octal mode like 755", chmod_v);

	struct context_source *srcs = NULL;
	size_t nsrc = 0;
	if ((r = context_match(b->ctx, words, &srcs, &nsrc, b->err)) < 0)
		return build_instr_wrap(b, in);
	if (nsrc > 1 && !dest_is_dir) {
		context_sources_free(srcs, nsrc);
		return build_instr_error(b, in, EINVAL,
					 "when copying more than one source file, the destination "
					 "must be a directory and end with a /");
	}
	char inputs[DIGEST_LEN];
	if ((r = context_digest(b->ctx, srcs, nsrc, inputs, b->err)) < 0) {
		context_sources_free(srcs, nsrc);
		return build_instr_wrap(b, in);
	}

	cleanup_strbuf struct strbuf by = STRBUF_INIT;
	strbuf_addstr(&by, is_add ? "ADD" : "COPY");
	if (chown_v)
		strbuf_addf(&by, " --chown=%s", chown_v);
	if (chmod_v)
		strbuf_addf(&by, " --chmod=%s", chmod_v);
	for (size_t i = 0; words[i]; i++)
		strbuf_addf(&by, " %s", words[i]);
	strbuf_addf(&by, " %s", dest_raw);
	cleanup_json json_t *desc =
	    json_pack("{s:s, s:s, s:s, s:b, s:s}", "copy", by.buf, "dest", dest, "inputs", inputs,
		      "dir", dest_is_dir, "comp", layer_compression_name(b->o->compression));
	cleanup_free char *desc_text = util_json_canonical(desc);
	struct step sp = {.in = in, .t0 = util_now()};
	sp.created_by = strbuf_detach(&by);
	build_step_key(st->key, desc_text, sp.key);
	if (build_cache_load(b, &sp)) {
		context_sources_free(srcs, nsrc);
		r = build_step_commit(b, st, &sp);
		build_step_release(&sp);
		return r;
	}

	struct rootfs rf = {0};
	r = build_rootfs_mount(b, st, &rf);
	struct context_copy_opts co = {.uid = -1, .gid = -1, .chmod = mode, .extract = is_add};
	if (r == 0 && chown_v) {
		uid_t uid;
		gid_t gid;
		r = resolve_chown(rf.merged, chown_v, &uid, &gid, b->err);
		if (r < 0) {
			build_instr_wrap(b, in);
		} else {
			co.uid = uid;
			co.gid = gid;
		}
	}
	cleanup_close int root_fd = -1;
	if (r == 0) {
		root_fd = open(rf.merged, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (root_fd < 0)
			r = cairn_error_errno(b->err, errno, "opening %s", rf.merged);
	}
	for (size_t i = 0; r == 0 && i < nsrc; i++) {
		r = context_copy(b->ctx, &srcs[i], root_fd, dest, dest_is_dir, &co, b->err);
		if (r < 0)
			build_instr_wrap(b, in);
	}
	context_sources_free(srcs, nsrc);
	if (root_fd >= 0) {
		close(root_fd);
		root_fd = -1;
	}
	if (r == 0)
		r = build_rootfs_umount(b, &rf);
	if (r == 0)
		r = build_rootfs_commit_layer(b, &rf, &sp);
	build_rootfs_release(&rf);
	if (r == 0)
		r = build_step_commit(b, st, &sp);
	build_step_release(&sp);
	return r;
}
