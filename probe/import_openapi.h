/*
 * import_openapi: an OpenAPI 3.0 or 3.1 description (JSON) into smoke journeys, one per
 * tag (the untagged operations in one named after the API): one step per GET operation
 * without required parameters, expecting its documented 2xx status and, where that
 * response's JSON schema has required properties (local $refs and allOf followed),
 * their existence. An operation's security becomes {{secret.NAME}} headers. YAML is
 * refused with a message: no maintained YAML library is linked. probe/README.md, "Import".
 */
#ifndef VIGIL_IMPORT_OPENAPI_H
#define VIGIL_IMPORT_OPENAPI_H

#include <stddef.h>

#include "import.h"

#define IMPORT_OPENAPI_REF_DEPTH 32     /* $ref within $ref */

/* Reads c->opts->input, adds its journeys to c. Returns 0, or -1 with "FILE:LINE:COL:
 * what" in err when it is not an OpenAPI 3 JSON document. */
int import_openapi(struct import_ctx *c, char *err, size_t errlen);

#endif
