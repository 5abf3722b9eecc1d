/* Shared by the files of src/util/; not part of the module's API. */
#ifndef CAIRN_UTIL_INTERNAL_H
#define CAIRN_UTIL_INTERNAL_H

#include "util.h"

/* Says "out of memory" on stderr and aborts. */
_Noreturn void util_oom(void);

#endif
