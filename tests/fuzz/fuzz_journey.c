/* Journey files (probe/journey.h journey_load), written to a temporary file beside a link
 * to probe/examples/shared so that the examples' includes resolve. A journey that loads
 * is then taken through what a run does without a network: its url, headers and body
 * rendered (templates), its JSON checks queried on a fixed response (JSONPath) and every
 * predicate evaluated (predicates). */
#include <jansson.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "fuzzkit.h"
#include "journey.h"
#include "template.h"

static json_t *response;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char link[PATH_MAX], target[PATH_MAX], real[PATH_MAX];
    const char *root = getenv("VIGIL_ROOT");

    (void)argc;
    (void)argv;
    snprintf(link, sizeof link, "%s/shared", fuzzkit_dir());
    snprintf(target, sizeof target, "%s/probe/examples/shared", root ? root : ".");
    if (!realpath(target, real) || symlink(real, link) < 0)
        perror("fuzz_journey: linking the examples' includes");
    response = json_loads("{\"version\": \"1.2.3\", \"status\": \"ok\", \"order\": {\"id\": 7,"
                          " \"items\": [{\"sku\": \"a\"}, {\"sku\": \"b\"}]}, \"token\": \"t\"}",
                          0, NULL);
    return response ? 0 : -1;
}

/* Every name renders: the journey's own variables as they are, anything else as "x". */
static json_t *lookup(void *ctx, const char *name)
{
    json_t *v = json_object_get(((const struct journey *)ctx)->variables, name);
    return v && !json_is_null(v) ? json_incref(v) : json_string("x");
}

static void eval(const struct predicate *p, const json_t *actual, int text)
{
    struct predicate_miss miss;
    if (p)
        predicate_eval(p, actual, text, &miss);
}

static void run_step(const struct journey *j, const struct step *s)
{
    char err[512], status[128];
    char *url = template_render(s->url, lookup, (void *)j, err, sizeof err);
    json_t *headers = template_render_json(s->headers, lookup, (void *)j, err, sizeof err);
    json_t *body = s->body ? template_render_json(s->body, lookup, (void *)j, err, sizeof err)
                           : NULL;
    json_t *text = json_string("{\"status\": \"ok\"}");

    journey_status_text(s, status, sizeof status);
    for (size_t i = 0; i < s->njson_checks; i++) {
        json_t *found = NULL;
        if (jsonpath_value(s->json_checks[i].path, response, &found, err, sizeof err) == 0)
            eval(s->json_checks[i].pred, found, 0);
        json_decref(found);
    }
    for (size_t i = 0; i < s->nheader_checks; i++)
        eval(s->header_checks[i].pred, text, 1);
    eval(s->body_pred, text, 1);
    for (size_t i = 0; i < s->ncaptures; i++)
        if (s->captures[i].kind == CAP_JSON) {
            json_t *v = NULL;
            if (jsonpath_value(s->captures[i].path, response, &v, err, sizeof err) == 0)
                json_decref(v);
        }
    json_decref(text);
    json_decref(body);
    json_decref(headers);
    free(url);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct journey *j;
    char path[PATH_MAX], err[1024];

    fuzzkit_write("journey.json", data, size, 0600, path, sizeof path);
    err[0] = '\0';
    if (fuzzkit_refused(journey_load(path, &j, err, sizeof err) < 0, err))
        return 0;
    json_t *vars = json_object();
    journey_check_vars(j, vars, err, sizeof err);
    journey_declared_names(j, vars);
    json_decref(vars);
    for (size_t i = 0; i < j->nsteps; i++)
        run_step(j, &j->steps[i]);
    journey_free(j);
    return 0;
}
