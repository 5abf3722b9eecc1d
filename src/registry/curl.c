/* registry: libcurl, loaded the first time a registry is used. Linking it would
 * make every cairn process map libcurl and its dozen libraries (TLS, HTTP/2, IDN,
 * LDAP, Kerberos…) at start: 3 ms of a 12 ms no-change rebuild that never talks
 * to a registry. These are the libcurl functions cairn calls, with libcurl's own
 * prototypes (curl.h), forwarding to the library dlopen()ed on first use. */
/* curl.h's type-checking macros would rename the definitions below */
#define CURL_DISABLE_TYPECHECK
#include "internal.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>

#define LIBCURL "libcurl.so.4"

/* The functions, in one table: X(name, return type, parameters). */
#define CURL_FUNCTIONS(X)                                                                          \
	X(curl_global_init, CURLcode, (long))                                                      \
	X(curl_easy_init, CURL *, (void))                                                          \
	X(curl_easy_cleanup, void, (CURL *))                                                       \
	X(curl_easy_setopt, CURLcode, (CURL *, CURLoption, ...))                                   \
	X(curl_easy_getinfo, CURLcode, (CURL *, CURLINFO, ...))                                    \
	X(curl_easy_escape, char *, (CURL *, const char *, int))                                   \
	X(curl_easy_strerror, const char *, (CURLcode))                                            \
	X(curl_free, void, (void *))                                                               \
	X(curl_slist_append, struct curl_slist *, (struct curl_slist *, const char *))             \
	X(curl_slist_free_all, void, (struct curl_slist *))                                        \
	X(curl_multi_init, CURLM *, (void))                                                        \
	X(curl_multi_cleanup, CURLMcode, (CURLM *))                                                \
	X(curl_multi_add_handle, CURLMcode, (CURLM *, CURL *))                                     \
	X(curl_multi_remove_handle, CURLMcode, (CURLM *, CURL *))                                  \
	X(curl_multi_perform, CURLMcode, (CURLM *, int *))                                         \
	X(curl_multi_poll, CURLMcode, (CURLM *, struct curl_waitfd[], unsigned, int, int *))       \
	X(curl_multi_info_read, CURLMsg *, (CURLM *, int *))

static struct {
#define FIELD(name, ret, params) ret(*name) params;
	CURL_FUNCTIONS(FIELD)
#undef FIELD
} lib;
static bool loaded;

int http_load_curl(struct cairn_error *err)
{
	if (loaded)
		return 0;
	void *h = dlopen(LIBCURL, RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return cairn_error_set(err, ENOSYS, "loading %s: %s (install libcurl4)", LIBCURL,
				       dlerror());
#define RESOLVE(name, ret, params)                                                                 \
	if (!(*(void **)&lib.name = dlsym(h, #name)))                                              \
		return cairn_error_set(err, ENOSYS, "%s has no %s", LIBCURL, #name);
	CURL_FUNCTIONS(RESOLVE)
#undef RESOLVE
	loaded = true;
	return 0;
}

/* A call before http_load_curl is a bug in cairn, not something a user can fix. */
static void need(void)
{
	if (loaded)
		return;
	struct cairn_error e = CAIRN_ERROR_INIT;
	if (http_load_curl(&e) < 0) {
		fprintf(stderr, "cairn: %s\n", e.msg);
		abort();
	}
}

CURLcode curl_global_init(long flags)
{
	need();
	return lib.curl_global_init(flags);
}

CURL *curl_easy_init(void)
{
	need();
	return lib.curl_easy_init();
}

void curl_easy_cleanup(CURL *e)
{
	need();
	lib.curl_easy_cleanup(e);
}

/* The option's number says the type of its argument (curl.h's CURLOPTTYPE_*). */
CURLcode curl_easy_setopt(CURL *e, CURLoption option, ...)
{
	need();
	va_list ap;
	va_start(ap, option);
	CURLcode r;
	if (option < CURLOPTTYPE_OBJECTPOINT)
		r = lib.curl_easy_setopt(e, option, va_arg(ap, long));
	else if (option >= CURLOPTTYPE_OFF_T && option < CURLOPTTYPE_BLOB)
		r = lib.curl_easy_setopt(e, option, va_arg(ap, curl_off_t));
	else
		r = lib.curl_easy_setopt(e, option, va_arg(ap, void *));
	va_end(ap);
	return r;
}

/* Every getinfo argument is a pointer to where the answer goes. */
CURLcode curl_easy_getinfo(CURL *e, CURLINFO info, ...)
{
	need();
	va_list ap;
	va_start(ap, info);
	CURLcode r = lib.curl_easy_getinfo(e, info, va_arg(ap, void *));
	va_end(ap);
	return r;
}

char *curl_easy_escape(CURL *e, const char *s, int len)
{
	need();
	return lib.curl_easy_escape(e, s, len);
}

const char *curl_easy_strerror(CURLcode c)
{
	need();
	return lib.curl_easy_strerror(c);
}

void curl_free(void *p)
{
	need();
	lib.curl_free(p);
}

struct curl_slist *curl_slist_append(struct curl_slist *l, const char *s)
{
	need();
	return lib.curl_slist_append(l, s);
}

void curl_slist_free_all(struct curl_slist *l)
{
	need();
	lib.curl_slist_free_all(l);
}

CURLM *curl_multi_init(void)
{
	need();
	return lib.curl_multi_init();
}

CURLMcode curl_multi_cleanup(CURLM *m)
{
	need();
	return lib.curl_multi_cleanup(m);
}

CURLMcode curl_multi_add_handle(CURLM *m, CURL *e)
{
	need();
	return lib.curl_multi_add_handle(m, e);
}

CURLMcode curl_multi_remove_handle(CURLM *m, CURL *e)
{
	need();
	return lib.curl_multi_remove_handle(m, e);
}

CURLMcode curl_multi_perform(CURLM *m, int *running)
{
	need();
	return lib.curl_multi_perform(m, running);
}

CURLMcode curl_multi_poll(CURLM *m, struct curl_waitfd extra[], unsigned n, int timeout_ms,
			  int *ret)
{
	need();
	return lib.curl_multi_poll(m, extra, n, timeout_ms, ret);
}

CURLMsg *curl_multi_info_read(CURLM *m, int *left)
{
	need();
	return lib.curl_multi_info_read(m, left);
}
