/*
 * Unit tests of collector/routes.c: the route table answers what collector/README.md
 * says (405 for a known path asked with another method, 404 for an unknown one, static
 * files for any other GET), and the README's route table is the one the table writes,
 * so that the two cannot drift. On a mismatch the test prints the table to paste.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "check.h"
#include "routes.h"

#define BEGIN "<!-- routes: written by route_doc_table (collector/routes.c); tests/unit/test_routes.c checks it -->\n"
#define END "\n<!-- /routes -->"   /* after a blank line, which ends the table */

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    struct buf b;
    char chunk[4096];
    size_t n;
    buf_init(&b, 1 << 22);
    while (f && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (buf_append(&b, chunk, n) < 0)
            break;
    if (f)
        fclose(f);
    return buf_steal(&b);
}

static void readme_table(void)
{
    char path[4096];
    const char *root = getenv("VIGIL_ROOT");
    snprintf(path, sizeof path, "%s/collector/README.md", root && *root ? root : ".");
    char *text = read_all(path);
    struct buf want;
    buf_init(&want, 0);
    CHECK(route_doc_table(&want) == 0 && want.data, "route_doc_table writes the table");
    const char *a = text ? strstr(text, BEGIN) : NULL, *z = a ? strstr(a, END) : NULL;
    CHECK(a && z, "collector/README.md marks the route table (<!-- routes: ... -->, then"
          " <!-- /routes -->)");
    if (a && z && want.data) {
        a += strlen(BEGIN);
        int same = (size_t)(z - a) == want.len && memcmp(a, want.data, want.len) == 0;
        CHECK(same, "collector/README.md's route table is the route table's");
        if (!same)
            printf("# paste between the markers:\n%s", want.data);
    }
    buf_fini(&want);
    free(text);
}

static void lookups(void)
{
    int known;
    const struct route *r = route_find(ROUTE_POST, "/v1/rum", &known);
    CHECK(r && r->body == BODY_BEACONS && r->auth == ROUTE_ANYONE, "POST /v1/rum takes beacons");
    CHECK(!route_find(ROUTE_GET, "/v1/rum", &known) && known, "GET /v1/rum: a known path (405)");
    CHECK(!route_find(ROUTE_HEAD, "/healthz", &known) && known, "HEAD /healthz: 405");
    r = route_find(ROUTE_HEAD, "/metrics", &known);
    CHECK(r && r->start, "HEAD /metrics is served");
    r = route_find(ROUTE_POST, "/v1/probe-runs", &known);
    CHECK(r && r->auth == ROUTE_PUSH && r->api == API_PROBE_RUN && r->body == BODY_DOCUMENT,
          "POST /v1/probe-runs: a push (token or signature) storing a document");
    r = route_find(ROUTE_GET, "/v1/probe-runs", &known);
    CHECK(r && r->auth == ROUTE_READ && r->api == API_PROBE_RUNS, "GET /v1/probe-runs reads");
    r = route_find(ROUTE_POST, "/v1/deployments", &known);
    CHECK(r && r->auth == ROUTE_TOKEN, "POST /v1/deployments needs the probe token");
    r = route_find(ROUTE_POST, "/v1/hooks/flagger/rollout", &known);
    CHECK(r && r->api == API_VERDICT && r->flagger && strcmp(r->flagger, "promote pause") == 0,
          "Flagger's rollout hook lets promote and pause through");
    r = route_find(ROUTE_GET, "/vigil.js", &known);
    CHECK(r && strcmp(r->path, ROUTE_ANY_PATH) == 0 && !known, "GET /vigil.js: static files");
    r = route_find(ROUTE_GET, "/v1/live", &known);
    CHECK(r && strcmp(r->path, ROUTE_ANY_PATH) == 0, "GET /v1/live without an upgrade is no route");
    CHECK(!route_find(ROUTE_POST, "/nowhere", &known) && !known, "POST /nowhere: 404");
    CHECK(!route_find(0, "/v1/gate", &known) && known, "another method on /v1/gate: 405");
}

static void table(void)
{
    int ok = 1;
    for (size_t i = 0; i < route_count; i++) {
        const struct route *r = &route_table[i];
        ok &= r->methods != 0 && r->path && r->doc && route_auth_doc(r->auth) != NULL;
        ok &= r->api < API_N && (r->websocket || r->start);
        ok &= (r->body == BODY_NONE) == (r->body_max == 0) && r->drop_max >= r->body_max;
        ok &= (r->body == BODY_NONE) == (r->finish == NULL);
        if (!ok) {
            printf("# route %zu (%s) is inconsistent\n", i, r->path);
            break;
        }
    }
    CHECK(ok, "every route has methods, a handler, an auth class, and body limits when it"
          " takes a body");
}

int main(void)
{
    readme_table();
    lookups();
    table();
    return check_done();
}
