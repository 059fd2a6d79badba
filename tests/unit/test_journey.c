/* Unit tests for probe/journey.c and shared/jsonpos.c: loading, defaults, includes, and
 * errors that name file:line:col. Positions in the expectations were counted by hand in
 * the fixture texts below. */
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "journey.h"
#include "jsonpos.h"

static char dir[] = "/tmp/vigil-test-journey-XXXXXX";

static const char *write_file(const char *name, const char *text)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

/* Loads text as NAME and returns the error with the folder prefix cut, or "OK". */
static const char *load_error(const char *name, const char *text)
{
    static char err[1024];
    struct journey *j;
    const char *path = write_file(name, text);
    if (journey_load(path, &j, err, sizeof err) == 0) {
        journey_free(j);
        return "OK";
    }
    size_t n = strlen(dir) + 1;
    return strncmp(err, dir, n - 1) == 0 ? err + n : err;
}

int main(void)
{
    char err[1024];
    int line, col;

    if (!mkdtemp(dir))
        return 1;

    /* jsonpos: positions by JSON Pointer, columns in characters. */
    const char *text = "{\n  \"a\": [1, {\"b\": \"x\"}],\n  \"\xc3\xa9t\xc3\xa9\": 2, \"c/d\": 3}";
    struct jsonpos *p = jsonpos_new(text, strlen(text));
    CHECK(p && jsonpos_find(p, "/a/1/b", 1, &line, &col) == 0 && line == 2 && col == 13,
          "jsonpos: key of a nested member at 2:13 (got %d:%d)", line, col);
    CHECK(jsonpos_find(p, "/a/1/b", 0, &line, &col) == 0 && line == 2 && col == 18,
          "jsonpos: its value at 2:18 (got %d:%d)", line, col);
    CHECK(jsonpos_find(p, "/c~1d", 1, &line, &col) == 0 && line == 3 && col == 13,
          "jsonpos: after a multibyte key, columns count characters (got %d:%d)", line, col);
    CHECK(jsonpos_find(p, "/nope", 1, &line, &col) < 0, "jsonpos: unknown pointer not found");
    jsonpos_free(p);

    /* A full journey: defaults, header merge, include with variables. */
    write_file("login.json",
        "{\"name\": \"login\", \"variables\": {\"user\": \"default\", \"base\": \"http://inc\"},\n"
        " \"defaults\": {\"retries\": 2},\n"
        " \"steps\": [{\"name\": \"login\", \"request\": {\"method\": \"POST\", \"url\": \"{{base}}/login\",\n"
        "   \"json\": {\"u\": \"{{user}}\", \"p\": \"{{secret.PW}}\"}}, \"capture\": {\"token\": {\"json\": \"$.token\"}}}]}\n");
    const char *path = write_file("main.json",
        "{\"name\": \"checkout\", \"variables\": {\"base\": \"http://main\"},\n"
        " \"defaults\": {\"timeout_ms\": 500, \"headers\": {\"X-Canary\": \"always\", \"Accept\": \"*/*\"}},\n"
        " \"steps\": [\n"
        "  {\"include\": \"login.json\", \"variables\": {\"user\": \"probe\"}},\n"
        "  {\"name\": \"cart\", \"request\": {\"url\": \"{{base}}/cart\", \"headers\": {\"accept\": \"application/json\"}},\n"
        "   \"expect\": {\"status\": [200, \"3xx\"]}}]}\n");
    struct journey *j = NULL;
    int rc = journey_load(path, &j, err, sizeof err);
    CHECK(rc == 0, "load: a journey with an include loads (%s)", rc ? err : "ok");
    if (rc == 0) {
        CHECK(j->nsteps == 2, "load: the include's step is spliced in before the journey's own");
        CHECK_STR(j->steps[0].name, "login", "load: included step first");
        CHECK(j->steps[0].retries == 2 && j->steps[0].timeout_ms == 10000,
              "load: an included step keeps its own file's defaults");
        CHECK(j->steps[1].timeout_ms == 500, "load: the journey's defaults apply to its steps");
        CHECK_STR(json_string_value(json_object_get(j->variables, "base")), "http://main",
                  "load: the journey's variables win over the included file's");
        CHECK_STR(json_string_value(json_object_get(j->variables, "user")), "default",
                  "load: the included file's variables fill unset names");
        CHECK(j->steps[0].set_vars && json_array_size(j->steps[0].set_vars) == 1,
              "load: the include's variables are set when its first step starts");
        CHECK(json_object_size(j->steps[1].headers) == 2
              && json_object_get(j->steps[1].headers, "accept")
              && !json_object_get(j->steps[1].headers, "Accept"),
              "load: a step header replaces a default header of any case");
        CHECK(j->nsecret_names == 1 && strcmp(j->secret_names[0], "PW") == 0,
              "load: secrets used are noted");
        char st[64];
        journey_status_text(&j->steps[1], st, sizeof st);
        CHECK_STR(st, "200 or 3xx", "load: status list text");
        journey_free(j);
    }

    /* Errors with positions. */
    CHECK_STR(load_error("e1.json", "{\"name\": \"x\",\n \"steps\": [{\"request\": {\"url\": \"u\"},\n"
                         "   \"captures\": {}}]}"),
              "e1.json:3:4: unknown key \"captures\" in step 1; did you mean \"capture\"?",
              "error: unknown step key with suggestion and position");
    CHECK_STR(load_error("e2.json", "{\"name\": \"x\", \"steps\": [\n  {\"request\": {\"url\": \"u\",}}]}"),
              "e2.json:2:27: string or '}' expected near '}'",
              "error: syntax error position from jansson");
    CHECK_STR(load_error("e3.json", "{\"name\": \"x\", \"steps\": [{\"request\": {\"url\": \"{{base\"}}]}"),
              "e3.json:1:45: \"{{\" without a closing \"}}\"", "error: unclosed template");
    CHECK_STR(load_error("e4.json", "{\"name\": \"x\", \"steps\": [{\"request\": {\"url\": \"u\"},\n"
                         " \"expect\": {\"json\": {\"$[01]\": 1}}}]}"),
              "e4.json:2:22: JSONPath \"$[01]\": an integer with a leading zero at offset 2",
              "error: JSONPath that RFC 9535 refuses");
    CHECK_STR(load_error("e5.json", "{\"name\": \"x\", \"steps\": [{\"request\": {\"url\": \"u\"},\n"
                         " \"expect\": {\"status\": \"2xy\"}}]}"),
              "e5.json:2:23: \"status\" takes a code from 100 to 599, a class such as \"2xx\", or a list of them",
              "error: bad status class");
    CHECK_STR(load_error("e6.json", "{\"name\": \"x\", \"steps\": [{\"request\": {\"url\": \"u\"},\n"
                         " \"expect\": {\"headers\": {\"Content-Type\": {\"contians\": \"json\"}}}}]}"),
              "e6.json:2:42: unknown key \"contians\" in header \"Content-Type\"; did you mean \"contains\"?",
              "error: unknown predicate operator at its key");
    CHECK_STR(load_error("e7.json", "{\"name\": \"x\", \"steps\": []}"),
              "e7.json:1:24: the journey needs \"steps\" (a non-empty array)", "error: empty steps");
    CHECK_STR(load_error("e8.json", "{\"name\": \"x\", \"steps\": [{\"request\": {\"url\": \"u\", \"json\": 1, \"body\": \"b\"}}]}"),
              "e8.json:1:61: give only one of \"json\", \"form\", \"body\", \"multipart\" and"
              " \"graphql\"", "error: two bodies");
    /* Request shapes of issue 17; columns counted by hand from the texts. */
    const char *m1 = load_error("m1.json", "{\"name\": \"x\", \"steps\": [{\"request\": {\"url\":"
                                " \"http://h/\",\n \"multipart\": [{\"name\": \"f\", \"file\": \"nope.png\"}]}}]}");
    CHECK(strncmp(m1, "m1.json:2:38: cannot read nope.png (", 36) == 0
          && strstr(m1, "/nope.png): No such file or directory"),
          "error: a missing multipart file at its value, resolved beside the journey: %s", m1);
    CHECK_STR(load_error("m2.json", "{\"name\": \"x\", \"steps\": [{\"request\": {\"url\": \"http://h/\",\n"
                         " \"multipart\": [{\"name\": \"f\"}]}}]}"),
              "m2.json:2:16: multipart part 1 needs a \"name\" and exactly one of \"value\" and"
              " \"file\"", "error: a part with neither value nor file");
    CHECK_STR(load_error("m3.json", "{\"name\": \"x\", \"steps\": [{\"request\": {\"url\": \"http://h/\",\n"
                         " \"multipart\": [{\"name\": \"f\", \"valeu\": \"v\"}]}}]}"),
              "m3.json:2:30: unknown key \"valeu\" in multipart part 1; did you mean \"value\"?",
              "error: unknown part key with suggestion");
    CHECK_STR(load_error("g1.json", "{\"name\": \"x\", \"steps\": [{\"request\": {\"url\": \"http://h/\",\n"
                         " \"graphql\": {\"variables\": {}}}}]}"),
              "g1.json:2:13: \"graphql\" needs a \"query\" (a non-empty string)",
              "error: graphql without a query");
    CHECK_STR(load_error("g2.json", "{\"name\": \"x\", \"steps\": [{\"request\": {\"url\": \"http://h/\",\n"
                         " \"graphql\": {\"query\": \"{ a }\", \"variables\": {\"id\": \"{{nope}}\"}}}}]}"),
              "g2.json:2:52: undefined variable \"nope\" (not in \"variables\", captured by an earlier"
              " step, or built in)", "error: an undefined name in graphql variables");
    CHECK_STR(load_error("e9.json", "{\"name\": \"x\", \"steps\": [{\"request\": {\"url\": \"u\"}, \"retries\": -1}]}"),
              "e9.json:1:62: \"retries\" must be a whole number from 0 to 100", "error: negative retries");
    write_file("c1.json", "{\"name\": \"c1\", \"steps\": [{\"include\": \"c2.json\"}]}");
    write_file("c2.json", "{\"name\": \"c2\", \"steps\": [{\"include\": \"c1.json\"}]}");
    const char *cyc = load_error("c1.json", "{\"name\": \"c1\", \"steps\": [{\"include\": \"c2.json\"}]}");
    CHECK(strncmp(cyc, "c2.json:1:38: include cycle: ", 29) == 0
          && strstr(cyc, "c1.json is already being included"),
          "error: include cycle named at the include (%s)", cyc);
    CHECK_STR(load_error("e10.json", "{\"name\": \"x\", \"steps\": [{\"include\": \"nope.json\"}]}"),
              "e10.json:1:37: cannot include nope.json: No such file or directory",
              "error: missing include named at the include");
    CHECK_STR(load_error("e11.json", "{\"name\": \"x\", \"steps\": [{\"request\": {\"url\": \"u\"},\n"
                         " \"capture\": {\"t\": {\"regex\": \"a(b)\", \"group\": 2}}}]}"),
              "e11.json:2:46: the regex has 1 group(s); group 2 asked", "error: regex group out of range");

    /* Names are checked once the whole journey is in (issue 14). */
    CHECK_STR(load_error("n1.json", "{\"name\": \"x\", \"variables\": {\"base\": \"http://h\"},\n"
                         " \"steps\": [{\"request\": {\"url\": \"{{bsae}}/a\"}}]}"),
              "n1.json:2:32: undefined variable \"bsae\" (not in \"variables\", captured by an earlier"
              " step, or built in); did you mean \"base\"?", "names: an undefined variable at its string");
    CHECK_STR(load_error("n2.json", "{\"name\": \"x\", \"steps\": [\n"
                         " {\"request\": {\"url\": \"http://h/{{t}}\"}},\n"
                         " {\"name\": \"login\", \"request\": {\"url\": \"http://h\"}, \"capture\": {\"t\": {\"status\": true}}}]}"),
              "n2.json:2:22: undefined variable \"t\": it is captured by step 2 \"login\", which runs later",
              "names: a capture used before the step that takes it");
    CHECK_STR(load_error("n3.json", "{\"name\": \"x\", \"steps\": [{\"request\": {\"url\": \"h:80/a\"}}]}"),
              "n3.json:1:45: \"url\" must start with http:// or https:// (or a variable that does), not \"h:80/a\"",
              "names: a literal url without a scheme");
    CHECK_STR(load_error("n4.json", "{\"name\": \"x\", \"steps\": [{\"request\": {\"url\": \"http://h/{{random_int:2:1}}\"}}]}"),
              "n4.json:1:45: \"random_int:2:1\" takes two whole numbers, the first not above the second:"
              " {{random_int:1:100}}", "names: random_int with MIN above MAX");
    CHECK_STR(load_error("n5.json", "{\"name\": \"x\", \"steps\": [{\"request\": {\"url\":"
                         " \"http://h/{{uuid}}{{now_ms}}{{now_s}}{{random_int}}{{random_int:-3:3}}{{env.A}}{{secret.B}}\"}}]}"),
              "OK", "names: every built-in is known");
    path = write_file("n6.json", "{\"name\": \"x\", \"variables\": {\"base\": \"h:1\", \"need\": null},\n"
                      " \"steps\": [{\"request\": {\"url\": \"{{base}}/{{need}}\", \"headers\":"
                      " {\"X\": \"{{secret.VIGIL_UNIT_NOT_SET}}\"}},\n"
                      "  \"capture\": {\"tok\": {\"status\": true}}}]}");
    rc = journey_load(path, &j, err, sizeof err);
    CHECK(rc == 0, "names: a journey with a null variable loads (%s)", rc ? err : "ok");
    if (rc == 0) {
        json_t *vars = json_object();
        CHECK(journey_declares(j, "base") && journey_declares(j, "tok") && !journey_declares(j, "bsae"),
              "declares: variables and captures, not other names");
        unsetenv("VIGIL_UNIT_NOT_SET");
        CHECK(journey_check_env(j, err, sizeof err) < 0 && strstr(err, "n6.json:2:70: {{secret.VIGIL_UNIT_NOT_SET}}")
              && strstr(err, "not set"), "check_env: a secret not set, at its place (%s)", err);
        setenv("VIGIL_UNIT_NOT_SET", "", 1);
        CHECK(journey_check_env(j, err, sizeof err) < 0 && strstr(err, "empty"),
              "check_env: an empty secret (%s)", err);
        setenv("VIGIL_UNIT_NOT_SET", "x", 1);
        CHECK(journey_check_env(j, err, sizeof err) == 0, "check_env: a secret set");
        CHECK(journey_check_vars(j, vars, err, sizeof err) < 0 && strstr(err, "--var need=VALUE"),
              "check_vars: a null variable needs --var (%s)", err);
        json_object_set_new(vars, "need", json_string("n"));
        CHECK(journey_check_vars(j, vars, err, sizeof err) < 0 && strstr(err, "n6.json:2:32: the url starts with {{base}}"),
              "check_vars: a variable opening a url without a scheme (%s)", err);
        json_object_set_new(vars, "base", json_string("https://h:1"));
        CHECK(journey_check_vars(j, vars, err, sizeof err) == 0, "check_vars: --var gives the scheme");
        json_decref(vars);
        journey_free(j);
    }

    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        return 1;
    return check_done();
}
