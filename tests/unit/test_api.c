/*
 * Unit tests of collector/api.c's rules that depend on who calls (collector/README.md:
 * "A policy FILE is read only by the CLI (over HTTP only the built-in names are
 * accepted)"): the rule lives where the path is read, so a client over HTTP that gets a
 * policy_file argument through is refused, and the CLI's is read. Also: the calls by
 * name and by enum are the same calls.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "check.h"
#include "store.h"

int main(void)
{
    char dir[64], db_path[128], err[512] = "";
    struct store *s = NULL;

    snprintf(dir, sizeof dir, "/tmp/vigil-test-api-XXXXXX");
    if (!mkdtemp(dir)) {
        CHECK(0, "mkdtemp");
        return check_done();
    }
    snprintf(db_path, sizeof db_path, "%s/vigil.db", dir);
    CHECK(store_open(&s, db_path, 0, err, sizeof err) == 0 && s, "store_open: %s", err);
    if (s) {
        json_t *args = json_pack("{s:s,s:s,s:s,s:s}", "app", "shop", "baseline", "1.0",
                                 "canary", "1.1", "policy_file", "/nonexistent/policy.json");
        json_t *resp = NULL;
        int st = api_run(s, API_VERDICT, API_HTTP, args, &resp);
        CHECK(st == 400 && strcmp(json_string_value(json_object_get(resp, "field")), "policy") == 0,
              "over HTTP a policy_file is refused with 400 naming policy (got %d)", st);
        CHECK(resp && !strstr(json_string_value(json_object_get(resp, "error")), "/nonexistent"),
              "... and the path is not opened (the error does not name it)");
        json_decref(resp);
        resp = NULL;
        st = api_run(s, API_VERDICT, API_LOCAL, args, &resp);
        CHECK(st == 400 && strstr(json_string_value(json_object_get(resp, "error")),
                                  "/nonexistent/policy.json: cannot open"),
              "from the CLI the policy file is read (cannot open it: %d)", st);
        json_decref(resp);
        json_decref(args);
        for (int fn = 0; fn < API_N; fn++) {
            json_t *a = json_object(), *r1 = NULL, *r2 = NULL;
            int s1 = api_run(s, (enum api_fn)fn, API_LOCAL, a, &r1);
            int s2 = api_call(s, api_name((enum api_fn)fn), a, &r2);
            CHECK(s1 == s2 && json_equal(r1, r2), "%s by name and by enum answer alike (%d)",
                  api_name((enum api_fn)fn), s1);
            json_decref(r1);
            json_decref(r2);
            json_decref(a);
        }
        json_t *r = NULL;
        CHECK(api_call(s, "no-such-call", NULL, &r) == 404, "an unknown name is 404");
        json_decref(r);
        store_close(s);
    }
    static const char *const files[] = {"vigil.db", "vigil.db-wal", "vigil.db-shm", NULL};
    char path[160];
    for (int i = 0; files[i]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
    CHECK(access(dir, F_OK) != 0, "temporary directory removed");
    return check_done();
}
