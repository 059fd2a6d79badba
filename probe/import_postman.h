/*
 * import_postman: a Postman collection (v2.1, and v2.0, which differs only in how auth is
 * written) into journeys: one for the requests at the collection's top level and one per
 * top-level folder (its subfolders' requests in order, as newman runs a folder). Its
 * variables and an --environment file's become the journeys' variables; auth (bearer,
 * basic, API key, inherited from folders) becomes headers or query parameters; bodies
 * (raw, JSON, urlencoded, form-data when the loader takes multipart) the request's body;
 * and the common pm.test lines expectations and captures. Every other script line, auth
 * type or body mode is listed as not converted. probe/README.md, "Import".
 */
#ifndef VIGIL_IMPORT_POSTMAN_H
#define VIGIL_IMPORT_POSTMAN_H

#include <stddef.h>

#include "import.h"

#define IMPORT_POSTMAN_DEPTH 32     /* folders within folders */

/* Reads the collection c->opts->input (and c->opts->environment), adds its journeys to c.
 * Returns 0, or -1 with "FILE:LINE:COL: what" in err when it is not a collection. */
int import_postman(struct import_ctx *c, char *err, size_t errlen);

#endif
