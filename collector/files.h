/*
 * files: GET and HEAD of the files under --static (the beacon, the dashboard), with
 * ETags, precompressed copies and their media types; 404 for anything else.
 */
#ifndef VIGIL_FILES_H
#define VIGIL_FILES_H

#define FILES_MAX_BYTES (8 * 1024 * 1024)   /* largest static file served */

struct server;
struct http_req;

/* Route handler of the static files' fallback route (ROUTE_ANY_PATH). */
void files_start(struct server *srv, struct http_req *req);

#endif
