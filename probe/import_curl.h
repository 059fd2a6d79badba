/*
 * import_curl: curl command lines, as the browsers' "Copy as cURL (bash)" and runbooks
 * write them, into one journey (one step per command). probe/README.md, "Import".
 */
#ifndef VIGIL_IMPORT_CURL_H
#define VIGIL_IMPORT_CURL_H

#include <stddef.h>

#include "import.h"

#define IMPORT_CURL_MAX (1024 * 1024)   /* bytes of curl commands read */

/* Reads c->opts->input ("-": stdin), adds one journey to c and lists what it could not
 * convert. Returns 0, or -1 with "FILE:LINE:COL: what" in err for input it cannot read. */
int import_curl(struct import_ctx *c, char *err, size_t errlen);

#endif
