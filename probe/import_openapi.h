#ifndef VIGIL_IMPORT_OPENAPI_H
#define VIGIL_IMPORT_OPENAPI_H

#include <stddef.h>

#include "import.h"

int import_openapi(struct import_ctx *c, char *err, size_t errlen);

#endif
