#ifndef VIGIL_IMPORT_POSTMAN_H
#define VIGIL_IMPORT_POSTMAN_H

#include <stddef.h>

#include "import.h"

int import_postman(struct import_ctx *c, char *err, size_t errlen);

#endif
