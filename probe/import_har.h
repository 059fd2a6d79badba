/*
 * import_har: a HAR 1.2 file (http://www.softwareishard.com/blog/har-12-spec/), as the
 * DevTools of Chrome and Firefox and Playwright's recordHar write it, into one journey:
 * the main document and the XHR/fetch requests in the order they were sent, each
 * expecting the status it got. Static assets (images, scripts, styles, fonts) are skipped
 * unless --all. Cookie headers are dropped (the journey's cookie jar sends what its own
 * responses set). A credential in a header (Authorization and the like) that an earlier
 * response's JSON gave (the login's token) is captured from that response and sent as
 * {{name}}; any other, and credentials in body fields (password, token...), become
 * {{secret.NAME}} placeholders. probe/README.md, "Import".
 */
#ifndef VIGIL_IMPORT_HAR_H
#define VIGIL_IMPORT_HAR_H

#include <stddef.h>

#include "import.h"

/* Reads the HAR c->opts->input, adds its journey to c. Returns 0, or -1 with
 * "FILE:LINE:COL: what" in err when it is not a HAR. */
int import_har(struct import_ctx *c, char *err, size_t errlen);

#endif
