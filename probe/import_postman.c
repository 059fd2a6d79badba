#include "import_postman.h"

#include <stdio.h>

int import_postman(struct import_ctx *c, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s: not yet", c->input);
    return -1;
}
