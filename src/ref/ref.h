/* ref: image references ("debian", "localhost:5000/team/app:1", "app@sha256:…"), with
 * the grammar and the normalization of docker's distribution/reference, in one place
 * for every command, the store and the registry client. A leaf on util.
 *
 * The grammar:
 *
 *   reference := name [":" tag] ["@" digest]
 *   name      := [domain "/"] path
 *   domain    := host [":" port]     host: DNS labels of letters, digits and '-'
 *                                    (neither first nor last) joined by '.', or an
 *                                    IPv6 address in brackets; port: digits
 *   path      := component ("/" component)*
 *   component := [a-z0-9]+ (("." | "_" | "__" | "-"+) [a-z0-9]+)*
 *   tag       := [A-Za-z0-9_] [A-Za-z0-9_.-]{0,127}
 *   digest    := "sha256:" 64 lower-case hex digits
 *
 * The first component of a name with a '/' is its domain when it contains '.' or
 * ':', is "localhost", or has an upper-case letter (a path never does); otherwise
 * the name is on Docker Hub ("docker.io", also written "index.docker.io"), where a
 * path of one component is in "library/". The path, once normalized, is at most
 * REF_PATH_MAX characters. A name of exactly 64 hex digits is refused: it reads as
 * an image ID. sha256 is the one digest algorithm cairn's store holds (docker also
 * registers sha384 and sha512; the grammar checks an algorithm it does not know as
 * docker does and then refuses it). */
#ifndef CAIRN_REF_H
#define CAIRN_REF_H

#include "../util/util.h"

#define REF_DEFAULT_DOMAIN "docker.io"
#define REF_DEFAULT_TAG "latest"
#define REF_PATH_MAX 255

/* A parsed reference, normalized: domain and path are those of the full name
 * ("debian" is docker.io and library/debian). All owned. */
struct ref {
	char *domain; /* never NULL once parsed */
	char *path;   /* never NULL once parsed */
	char *tag;    /* NULL when the reference names none */
	char *digest; /* "sha256:<hex>", NULL when the reference names none */
};

/* Parses s (docker's ParseNormalizedNamed). On error *out is left empty and err says
 * what part of s is wrong ("invalid reference \"S\": …", kind invalid, -EINVAL). */
int ref_parse(const char *s, struct ref *out, struct cairn_error *err);
void ref_release(struct ref *r);
void cleanup_refp(struct ref *r);
#define cleanup_ref __attribute__((cleanup(cleanup_refp)))

/* "domain/path". Caller frees. */
char *ref_name(const struct ref *r);
/* The full reference: "domain/path[:tag][@digest]". Caller frees. */
char *ref_string(const struct ref *r);
/* The short form people write (docker's FamiliarString): without "docker.io/" and
 * "library/" where they are implied, as in "debian:12" or "user/app:1". It always
 * parses back to r: where dropping the domain would change what the name means
 * ("docker.io/foo.bar/x", whose first component would read as a host, or a path
 * that is 64 hex digits) the domain or "library/" stays. Caller frees. */
char *ref_familiar(const struct ref *r);

/* s checked and made full, with the tag "latest" when it names neither tag nor
 * digest: "debian" → "docker.io/library/debian:latest". Caller frees *out. */
int ref_normalize(const char *s, char **out, struct cairn_error *err);
/* s checked and kept as written, with ":latest" added when it names neither tag nor
 * digest: the name a tag is stored under ("app" → "app:latest",
 * "docker.io/x" → "docker.io/x:latest"). Caller frees *out. */
int ref_local_name(const char *s, char **out, struct cairn_error *err);

#endif
