/* Private helpers shared by the layer module's files (static inline: not API). */
#ifndef CAIRN_LAYER_INTERNAL_H
#define CAIRN_LAYER_INTERNAL_H

#include <locale.h>

/* libarchive converts names between the locale's charset and pax's UTF-8. Under a
 * UTF-8 locale, UTF-8 names pass through as they are and other bytes go out as
 * hdrcharset=BINARY; so a layer's bytes do not depend on the caller's locale. */
struct utf8_locale {
	locale_t old, utf8;
};

static inline struct utf8_locale utf8_locale_enter(void)
{
	struct utf8_locale l = {(locale_t)0, newlocale(LC_ALL_MASK, "C.UTF-8", (locale_t)0)};
	if (l.utf8)
		l.old = uselocale(l.utf8);
	return l;
}

static inline void utf8_locale_leavep(struct utf8_locale *l)
{
	if (!l->utf8)
		return;
	uselocale(l->old);
	freelocale(l->utf8);
}

#define cleanup_utf8_locale __attribute__((cleanup(utf8_locale_leavep), unused))

#endif
