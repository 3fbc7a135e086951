/* version.c - the version of the library actually linked. */
#include "error/base.h"

#define WEFT_STR_(x) #x
#define WEFT_STR(x)  WEFT_STR_(x)

const char *weft_version_string(void)
{
    return WEFT_STR(WEFT_VERSION_MAJOR) "." WEFT_STR(WEFT_VERSION_MINOR) "." WEFT_STR(
        WEFT_VERSION_PATCH);
}
