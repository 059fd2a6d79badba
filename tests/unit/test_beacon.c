/*
 * Unit tests for shared/beacon.c against the beacon schema in collector/README.md: the
 * README's example and a minimal beacon pass, each rule of the schema table refuses a
 * beacon that breaks it with the field path of the offending value, and beacon_parse
 * refuses bodies that are malformed, too large or hold too many beacons.
 */
#include <stdlib.h>
#include <string.h>

#include "beacon.h"
#include "check.h"

/* The example in collector/README.md, "Beacon schema", verbatim. */
static const char readme_example[] =
    "{\"app\": \"shop\", \"version\": \"1.2.3\", \"session\": \"k3j2...\", \"pv\": \"v5-1764300000123-1234\",\n"
    " \"page\": \"/checkout\", \"nav\": \"navigate\", \"ts\": 1764300000123,\n"
    " \"events\": [\n"
    "   {\"type\": \"metric\", \"name\": \"LCP\", \"value\": 2310.5, \"rating\": \"needs-improvement\",\n"
    "    \"id\": \"v5-1764300000123-1234\", \"delta\": 2310.5, \"attribution\": {\"target\": \"img.hero\"}},\n"
    "   {\"type\": \"error\", \"message\": \"TypeError: x is undefined\", \"source\": \"app.js\",\n"
    "    \"line\": 10, \"col\": 4, \"stack\": \"...\", \"kind\": \"error\"}],\n"
    " \"ctx\": {\"conn\": \"4g\", \"device\": \"mobile\", \"viewport\": \"390x844\", \"dpr\": 3},\n"
    " \"attrs\": {\"tier\": \"gold\"}}";

#define MINIMAL_TEXT \
    "{\"app\":\"shop\",\"version\":\"1.2.3\"," \
    "\"events\":[{\"type\":\"metric\",\"name\":\"LCP\",\"value\":1200}]}"

/* A new minimal valid beacon: app, version and one metric. */
static json_t *minimal(void)
{
    return json_loads(MINIMAL_TEXT, 0, NULL);
}

/* A new minimal beacon whose only event is an error. */
static json_t *with_error(void)
{
    return json_loads("{\"app\":\"shop\",\"version\":\"1.2.3\","
                      "\"events\":[{\"type\":\"error\",\"message\":\"boom\"}]}", 0, NULL);
}

/* The first event of beacon b (borrowed). */
static json_t *ev0(json_t *b)
{
    return json_array_get(json_object_get(b, "events"), 0);
}

/* A new JSON string of n copies of c. */
static json_t *str_of(size_t n, char c)
{
    char *s = malloc(n + 1);
    memset(s, c, n);
    s[n] = '\0';
    json_t *j = json_string(s);
    free(s);
    return j;
}

/* Parses body; checks it is refused with field want_field and a message naming it. */
static void rejects_text(const char *name, const char *body, size_t len, const char *want_field)
{
    char field[256] = "(not set)", err[512] = "";
    json_t *r = beacon_parse(body, len, field, sizeof field, err, sizeof err);
    CHECK(r == NULL, "%s: refused", name);
    json_decref(r);
    CHECK_STR(field, want_field, "%s: field", name);
    CHECK(strstr(err, want_field) != NULL && err[0] != '\0',
          "%s: message names %s (\"%s\")", name, want_field, err);
}

/* Dumps beacon b (and frees it), then checks it is refused as rejects_text does. */
static void rejects(const char *name, json_t *b, const char *want_field)
{
    char *text = json_dumps(b, JSON_COMPACT);
    rejects_text(name, text, strlen(text), want_field);
    free(text);
    json_decref(b);
}

/* Dumps beacon b (and frees it) and checks beacon_parse accepts it. */
static void accepts(const char *name, json_t *b)
{
    char field[256] = "", err[512] = "";
    char *text = json_dumps(b, JSON_COMPACT);
    json_t *r = beacon_parse(text, strlen(text), field, sizeof field, err, sizeof err);
    CHECK(r != NULL && json_array_size(r) == 1, "%s: accepted%s%s", name,
          r ? "" : ", refused: ", r ? "" : err);
    json_decref(r);
    free(text);
    json_decref(b);
}

static void valid_beacons(void)
{
    char field[256] = "", err[512] = "";
    json_t *r = beacon_parse(readme_example, strlen(readme_example), field, sizeof field,
                             err, sizeof err);
    CHECK(r != NULL, "README example accepted%s%s", r ? "" : ": ", r ? "" : err);
    CHECK(json_array_size(r) == 1, "a single beacon comes back as an array of one");
    json_t *b = json_array_get(r, 0);
    CHECK_STR(json_string_value(json_object_get(b, "app")), "shop", "README example: app kept");
    CHECK(json_array_size(json_object_get(b, "events")) == 2, "README example: both events kept");
    json_decref(r);

    accepts("minimal beacon (app, version, one metric)", minimal());

    /* The edges of each rule, just inside. */
    json_t *m = minimal();
    json_object_set_new(m, "app", json_string("a.b_c+d-E9"));
    accepts("app with every allowed kind of character", m);
    m = minimal();
    json_object_set_new(m, "version", str_of(64, 'v'));
    accepts("version of 64 bytes", m);
    m = minimal();
    json_object_set_new(m, "page", str_of(512, 'p'));
    accepts("page of 512 bytes", m);
    m = minimal();
    json_object_set_new(ev0(m), "id", str_of(64, 'i'));
    accepts("metric id of 64 bytes", m);
    m = minimal();
    json_object_set_new(ev0(m), "name", json_string("checkout.ms"));
    accepts("custom metric name checkout.ms", m);
    m = minimal();
    json_object_set_new(ev0(m), "name", json_string("ttfb_api"));
    accepts("custom metric name ttfb_api", m);
    m = minimal();
    json_object_set_new(ev0(m), "name", str_of(48, 'x'));
    accepts("custom metric name of 48 characters", m);
    m = minimal();
    json_object_set_new(ev0(m), "value", json_integer(600000));
    accepts("LCP of 600000 ms", m);
    m = minimal();
    json_object_set_new(ev0(m), "value", json_integer(0));
    accepts("LCP of 0", m);
    m = minimal();
    json_object_set_new(ev0(m), "name", json_string("CLS"));
    json_object_set_new(ev0(m), "value", json_integer(100));
    accepts("CLS of 100", m);
    m = minimal();
    json_object_set_new(ev0(m), "name", json_string("cart.items"));
    json_object_set_new(ev0(m), "value", json_real(1e9));
    accepts("custom metric of 1e9", m);
    for (const char *const *nav = (const char *const[]){"navigate", "reload", "back-forward",
                                   "back-forward-cache", "prerender", "restore", NULL};
         *nav; nav++) {
        m = minimal();
        json_object_set_new(m, "nav", json_string(*nav));
        accepts(*nav, m);
    }
    m = with_error();
    json_object_set_new(ev0(m), "message", str_of(1024, 'm'));
    json_object_set_new(ev0(m), "stack", str_of(8192, 's'));
    json_object_set_new(ev0(m), "source", str_of(512, 'f'));
    json_object_set_new(ev0(m), "kind", json_string("unhandledrejection"));
    accepts("error with message 1024, stack 8192, source 512 bytes", m);
    m = minimal();
    json_object_set_new(m, "ctx", json_pack("{s:s, s:f}", "conn", "slow-2g", "dpr", 10.0));
    accepts("ctx.dpr of 10", m);
    m = minimal();
    json_t *attrs = json_object();
    for (int i = 0; i < 16; i++) {
        char key[8];
        snprintf(key, sizeof key, "k%d", i);
        json_object_set_new(attrs, key, json_string("v"));
    }
    json_object_set_new(attrs, "k0", str_of(128, 'a'));
    json_object_set_new(attrs, "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk", json_string("v"));
    json_object_del(attrs, "k15");
    json_object_set_new(m, "attrs", attrs);
    accepts("attrs of 16 entries, a 32-byte key, a 128-byte value", m);
    m = minimal();
    json_t *events = json_object_get(m, "events");
    for (int i = 1; i < 200; i++)
        json_array_append(events, ev0(m));
    accepts("200 events", m);

    CHECK(beacon_metric_name_ok("LCP") && beacon_metric_name_ok("INP")
          && beacon_metric_name_ok("CLS") && beacon_metric_name_ok("FCP")
          && beacon_metric_name_ok("TTFB"), "beacon_metric_name_ok: the five standard names");
    CHECK(beacon_metric_name_ok("checkout.ms") && beacon_metric_name_ok("ttfb_api")
          && beacon_metric_name_ok("a") && beacon_metric_name_ok("a9_."),
          "beacon_metric_name_ok: custom names");
    CHECK(!beacon_metric_name_ok("Lcp") && !beacon_metric_name_ok("9x")
          && !beacon_metric_name_ok("") && !beacon_metric_name_ok("_x")
          && !beacon_metric_name_ok("check-out") && !beacon_metric_name_ok("checkOut")
          && !beacon_metric_name_ok("lcp ms"),
          "beacon_metric_name_ok: refuses Lcp, 9x, empty, _x, check-out, checkOut, \"lcp ms\"");
    CHECK(beacon_metric_name_ok("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx")
          && !beacon_metric_name_ok("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"),
          "beacon_metric_name_ok: 48 characters at most");
}

static void top_level_rules(void)
{
    json_t *m;

    m = minimal();
    json_object_del(m, "app");
    rejects("missing app", m, "app");
    m = minimal();
    json_object_del(m, "version");
    rejects("missing version", m, "version");
    m = minimal();
    json_object_del(m, "events");
    rejects("missing events", m, "events");
    m = minimal();
    json_object_set_new(m, "events", json_array());
    rejects("empty events", m, "events");
    m = minimal();
    json_object_set_new(m, "events", json_object());
    rejects("events not an array", m, "events");
    m = minimal();
    json_t *events = json_object_get(m, "events");
    for (int i = 1; i < 201; i++)
        json_array_append(events, ev0(m));
    rejects("201 events", m, "events");

    m = minimal();
    json_object_set_new(m, "app", json_string("shop/main"));
    rejects("app with a slash", m, "app");
    m = minimal();
    json_object_set_new(m, "app", json_string("my shop"));
    rejects("app with a space", m, "app");
    m = minimal();
    json_object_set_new(m, "app", json_string(""));
    rejects("empty app", m, "app");
    m = minimal();
    json_object_set_new(m, "app", json_integer(7));
    rejects("app not a string", m, "app");
    m = minimal();
    json_object_set_new(m, "version", str_of(65, 'v'));
    rejects("version of 65 bytes", m, "version");
    m = minimal();
    json_object_set_new(m, "version", json_string("1.2.3 beta"));
    rejects("version with a space", m, "version");

    m = minimal();
    json_object_set_new(m, "session", str_of(65, 's'));
    rejects("session of 65 bytes", m, "session");
    m = minimal();
    json_object_set_new(m, "pv", str_of(65, 'p'));
    rejects("pv of 65 bytes", m, "pv");
    m = minimal();
    json_object_set_new(m, "page", str_of(513, 'p'));
    rejects("page of 513 bytes", m, "page");
    m = minimal();
    json_object_set_new(m, "nav", json_string("forward"));
    rejects("nav not in the list", m, "nav");
    m = minimal();
    json_object_set_new(m, "ts", json_string("1764300000123"));
    rejects("ts not a number", m, "ts");

    m = minimal();
    json_object_set_new(m, "user", json_string("alice"));
    rejects("unknown top-level field", m, "user");
    m = minimal();
    json_object_set_new(m, "versoin", json_string("1.2.4"));
    rejects("misspelt top-level field", m, "versoin");
}

static void event_rules(void)
{
    json_t *m;

    m = minimal();
    json_object_set_new(ev0(m), "unit", json_string("ms"));
    rejects("unknown metric field", m, "events[0].unit");
    m = minimal();
    json_array_append_new(json_object_get(m, "events"),
                          json_pack("{s:s, s:s, s:s}", "type", "error", "message", "boom",
                                    "filename", "app.js"));
    rejects("unknown error field in the second event", m, "events[1].filename");
    m = minimal();
    json_object_set_new(ev0(m), "type", json_string("metrics"));
    rejects("bad event type", m, "events[0].type");
    m = minimal();
    json_object_del(ev0(m), "type");
    rejects("missing event type", m, "events[0].type");
    m = minimal();
    json_array_set_new(json_object_get(m, "events"), 0, json_integer(5));
    rejects("event not an object", m, "events[0]");

    m = minimal();
    json_object_set_new(ev0(m), "name", json_string("Lcp"));
    rejects("metric name Lcp", m, "events[0].name");
    m = minimal();
    json_object_set_new(ev0(m), "name", json_string("9x"));
    rejects("metric name 9x", m, "events[0].name");
    m = minimal();
    json_object_set_new(ev0(m), "name", json_string("checkout-ms"));
    rejects("metric name with a hyphen", m, "events[0].name");
    m = minimal();
    json_object_set_new(ev0(m), "name", str_of(49, 'x'));
    rejects("custom metric name of 49 characters", m, "events[0].name");
    m = minimal();
    json_object_del(ev0(m), "name");
    rejects("metric without a name", m, "events[0].name");

    m = minimal();
    json_object_del(ev0(m), "value");
    rejects("metric without a value", m, "events[0].value");
    m = minimal();
    json_object_set_new(ev0(m), "value", json_string("1200"));
    rejects("metric value a string", m, "events[0].value");
    m = minimal();
    json_object_set_new(ev0(m), "value", json_real(-0.5));
    rejects("negative value", m, "events[0].value");
    m = minimal();
    json_object_set_new(ev0(m), "value", json_integer(600001));
    rejects("LCP of 600001", m, "events[0].value");
    m = minimal();
    json_object_set_new(ev0(m), "name", json_string("INP"));
    json_object_set_new(ev0(m), "value", json_integer(600001));
    rejects("INP of 600001", m, "events[0].value");
    m = minimal();
    json_object_set_new(ev0(m), "name", json_string("CLS"));
    json_object_set_new(ev0(m), "value", json_integer(101));
    rejects("CLS of 101", m, "events[0].value");
    m = minimal();
    json_object_set_new(ev0(m), "name", json_string("cart.items"));
    json_object_set_new(ev0(m), "value", json_real(1e9 + 1));
    rejects("custom metric above 1e9", m, "events[0].value");
    m = minimal();
    json_object_set_new(ev0(m), "rating", json_string("ok"));
    rejects("rating not in the enum", m, "events[0].rating");
    m = minimal();
    json_object_set_new(ev0(m), "id", str_of(65, 'i'));
    rejects("metric id of 65 bytes", m, "events[0].id");
    m = minimal();
    json_object_set_new(ev0(m), "attribution", json_string("img.hero"));
    rejects("attribution not an object", m, "events[0].attribution");
    m = minimal();
    json_object_set_new(ev0(m), "attribution", json_pack("{s:o}", "target", str_of(4096, 't')));
    rejects("attribution over 4 KiB", m, "events[0].attribution");

    m = with_error();
    json_object_del(ev0(m), "message");
    rejects("error without message", m, "events[0].message");
    m = with_error();
    json_object_set_new(ev0(m), "message", str_of(1025, 'm'));
    rejects("error message of 1025 bytes", m, "events[0].message");
    m = with_error();
    json_object_set_new(ev0(m), "stack", str_of(8193, 's'));
    rejects("error stack of 8193 bytes", m, "events[0].stack");
    m = with_error();
    json_object_set_new(ev0(m), "source", str_of(513, 'f'));
    rejects("error source of 513 bytes", m, "events[0].source");
    m = with_error();
    json_object_set_new(ev0(m), "line", json_integer(-1));
    rejects("error line -1", m, "events[0].line");
    m = with_error();
    json_object_set_new(ev0(m), "line", json_real(10.5));
    rejects("error line 10.5", m, "events[0].line");
    m = with_error();
    json_object_set_new(ev0(m), "col", json_string("4"));
    rejects("error col a string", m, "events[0].col");
    m = with_error();
    json_object_set_new(ev0(m), "kind", json_string("warning"));
    rejects("error kind not in the enum", m, "events[0].kind");
}

static void ctx_and_attrs_rules(void)
{
    json_t *m;

    m = minimal();
    json_object_set_new(m, "ctx", json_pack("{s:s, s:s}", "conn", "4g", "memory", "8"));
    rejects("ctx with an unknown key", m, "ctx.memory");
    m = minimal();
    json_object_set_new(m, "ctx", json_pack("{s:i}", "dpr", 11));
    rejects("ctx.dpr 11", m, "ctx.dpr");
    m = minimal();
    json_object_set_new(m, "ctx", json_pack("{s:s}", "dpr", "2"));
    rejects("ctx.dpr a string", m, "ctx.dpr");
    m = minimal();
    json_object_set_new(m, "ctx", json_pack("{s:o}", "viewport", str_of(17, '9')));
    rejects("ctx.viewport of 17 bytes", m, "ctx.viewport");
    m = minimal();
    json_object_set_new(m, "ctx", json_string("4g"));
    rejects("ctx not an object", m, "ctx");

    m = minimal();
    json_t *attrs = json_object();
    for (int i = 0; i < 17; i++) {
        char key[8];
        snprintf(key, sizeof key, "k%d", i);
        json_object_set_new(attrs, key, json_string("v"));
    }
    json_object_set_new(m, "attrs", attrs);
    rejects("attrs with 17 entries", m, "attrs");
    m = minimal();
    json_object_set_new(m, "attrs", json_pack("{s:i}", "tier", 3));
    rejects("attrs value not a string", m, "attrs.tier");
    m = minimal();
    json_object_set_new(m, "attrs", json_pack("{s:o}", "tier", str_of(129, 'g')));
    rejects("attrs value of 129 bytes", m, "attrs.tier");
    m = minimal();
    json_object_set_new(m, "attrs", json_pack("{s:s}", "", "x"));
    rejects("attrs with an empty key (field names the key)", m, "attrs.");
    m = minimal();
    json_object_set_new(m, "attrs", json_pack("[s]", "gold"));
    rejects("attrs not an object", m, "attrs");
}

static void parse_rules(void)
{
    char field[256], err[512];
    json_t *r;

    /* Malformed JSON: the body as a whole is at fault, and the message carries the line
     * and column jansson reports (taken from jansson itself here). */
    const char *broken = "{\n  \"app\": \"shop\",\n  \"version\" \"1.2.3\"\n}";
    json_error_t je;
    json_t *none = json_loads(broken, JSON_REJECT_DUPLICATES, &je);
    char where[32];
    snprintf(where, sizeof where, "%d:%d", je.line, je.column);
    CHECK(none == NULL && je.line == 3, "test setup: jansson places the error on line 3");
    snprintf(field, sizeof field, "(not set)");
    r = beacon_parse(broken, strlen(broken), field, sizeof field, err, sizeof err);
    CHECK(r == NULL, "malformed JSON refused");
    CHECK_STR(field, "", "malformed JSON: field is the whole body");
    CHECK(strstr(err, where) != NULL && strstr(err, je.text) != NULL,
          "malformed JSON: message carries jansson's position %s and text (\"%s\")", where, err);

    snprintf(field, sizeof field, "(not set)");
    r = beacon_parse("", 0, field, sizeof field, err, sizeof err);
    CHECK(r == NULL && field[0] == '\0' && err[0], "empty body refused (\"%s\")", err);
    r = beacon_parse("\"shop\"", 6, field, sizeof field, err, sizeof err);
    CHECK(r == NULL && err[0], "a JSON string as the body refused (\"%s\")", err);

    const char *dup = "{\"app\":\"shop\",\"app\":\"cart\",\"version\":\"1\","
                      "\"events\":[{\"type\":\"metric\",\"name\":\"LCP\",\"value\":1}]}";
    snprintf(field, sizeof field, "(not set)");
    r = beacon_parse(dup, strlen(dup), field, sizeof field, err, sizeof err);
    CHECK(r == NULL, "duplicate keys refused");
    CHECK_STR(field, "", "duplicate keys: field is the whole body");
    CHECK(strstr(err, "duplicate") != NULL, "duplicate keys: message says so (\"%s\")", err);
    json_decref(r);

    /* 1e400 cannot be held in a double: jansson refuses it, so it never reaches the
     * value check as infinity (JSON has no NaN or Infinity literals). */
    const char *huge = "{\"app\":\"shop\",\"version\":\"1\","
                       "\"events\":[{\"type\":\"metric\",\"name\":\"LCP\",\"value\":1e400}]}";
    r = beacon_parse(huge, strlen(huge), field, sizeof field, err, sizeof err);
    CHECK(r == NULL, "value 1e400 refused (\"%s\")", err);

    /* Arrays: 1 to 50 beacons; a bad one is named by its index. */
    json_t *list = json_array();
    for (int i = 0; i < 50; i++)
        json_array_append_new(list, minimal());
    char *text = json_dumps(list, JSON_COMPACT);
    r = beacon_parse(text, strlen(text), field, sizeof field, err, sizeof err);
    CHECK(r != NULL && json_array_size(r) == 50, "an array of 50 beacons accepted%s%s",
          r ? "" : ": ", r ? "" : err);
    json_decref(r);
    free(text);
    json_array_append_new(list, minimal());
    text = json_dumps(list, JSON_COMPACT);
    snprintf(field, sizeof field, "(not set)");
    r = beacon_parse(text, strlen(text), field, sizeof field, err, sizeof err);
    CHECK(r == NULL, "an array of 51 beacons refused");
    CHECK_STR(field, "", "51 beacons: field is the whole body");
    CHECK(strstr(err, "50") != NULL, "51 beacons: message gives the limit (\"%s\")", err);
    free(text);
    json_decref(list);

    r = beacon_parse("[]", 2, field, sizeof field, err, sizeof err);
    CHECK(r == NULL && err[0], "an empty array refused (\"%s\")", err);

    list = json_array();
    json_array_append_new(list, minimal());
    json_t *bad = minimal();
    json_object_set_new(ev0(bad), "value", json_integer(-1));
    json_array_append_new(list, bad);
    json_array_append_new(list, minimal());
    text = json_dumps(list, JSON_COMPACT);
    snprintf(field, sizeof field, "(not set)");
    r = beacon_parse(text, strlen(text), field, sizeof field, err, sizeof err);
    CHECK(r == NULL, "an array with a bad second beacon refused whole");
    CHECK(strncmp(field, "[1].", 4) == 0, "bad second beacon: field starts with [1]. (\"%s\")",
          field);
    CHECK_STR(field, "[1].events[0].value", "bad second beacon: full field path");
    CHECK(strstr(err, "[1].events[0].value") != NULL,
          "bad second beacon: message names the field (\"%s\")", err);
    free(text);
    json_decref(list);

    list = json_array();
    json_array_append_new(list, minimal());
    bad = minimal();
    json_object_del(bad, "app");
    json_array_append_new(list, bad);
    text = json_dumps(list, JSON_COMPACT);
    rejects_text("array whose [1] lacks app", text, strlen(text), "[1].app");
    free(text);
    json_decref(list);

    /* A beacon validated on its own, with a prefix. */
    bad = minimal();
    json_object_set_new(bad, "app", json_string("a b"));
    snprintf(field, sizeof field, "(not set)");
    CHECK(beacon_validate(bad, "[7].", field, sizeof field, err, sizeof err) == -1,
          "beacon_validate refuses a bad app");
    CHECK_STR(field, "[7].app", "beacon_validate puts the prefix before the field");
    json_decref(bad);
    bad = minimal();
    CHECK(beacon_validate(bad, "", field, sizeof field, err, sizeof err) == 0,
          "beacon_validate accepts the minimal beacon");
    json_decref(bad);

    /* The body limit: 64 KiB exactly passes, one byte more is refused before parsing. */
    size_t len = BEACON_BODY_MAX;
    char *body = malloc(len + 2);
    memset(body, ' ', len + 1);
    memcpy(body, MINIMAL_TEXT, strlen(MINIMAL_TEXT));
    body[len + 1] = '\0';
    r = beacon_parse(body, len, field, sizeof field, err, sizeof err);
    CHECK(r != NULL, "a body of exactly 64 KiB accepted%s%s", r ? "" : ": ", r ? "" : err);
    json_decref(r);
    snprintf(field, sizeof field, "(not set)");
    r = beacon_parse(body, len + 1, field, sizeof field, err, sizeof err);
    CHECK(r == NULL, "a body of 64 KiB + 1 refused");
    CHECK_STR(field, "", "body over 64 KiB: field is the whole body");
    CHECK(strstr(err, "65536") != NULL || strstr(err, "64 KiB") != NULL,
          "body over 64 KiB: message gives the limit (\"%s\")", err);
    memset(body, '[', len + 1);
    r = beacon_parse(body, len + 1, field, sizeof field, err, sizeof err);
    CHECK(r == NULL && strstr(err, "malformed") == NULL,
          "an oversized body is refused for its size, not parsed (\"%s\")", err);
    free(body);
}

int main(void)
{
    valid_beacons();
    top_level_rules();
    event_rules();
    ctx_and_attrs_rules();
    parse_rules();
    return check_done();
}
