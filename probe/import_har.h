#ifndef VIGIL_IMPORT_HAR_H
#define VIGIL_IMPORT_HAR_H

#include <stddef.h>

#include "import.h"

int import_har(struct import_ctx *c, char *err, size_t errlen);

#endif
