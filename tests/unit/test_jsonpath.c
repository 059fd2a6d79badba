/* Unit tests for probe/jsonpath.c. Expected results follow RFC 9535 (JSONPath)
 * semantics for the subset, on the bookstore document of Goessner's article. */
#include <stdlib.h>

#include "check.h"
#include "jsonpath.h"

static const char *store =
    "{\"store\": {\"book\": ["
    "{\"category\": \"reference\", \"author\": \"Nigel Rees\", \"price\": 8.95},"
    "{\"category\": \"fiction\", \"author\": \"Evelyn Waugh\", \"price\": 12.99},"
    "{\"category\": \"fiction\", \"author\": \"Herman Melville\", \"price\": 8.99},"
    "{\"category\": \"fiction\", \"author\": \"J. R. R. Tolkien\", \"price\": 22.99}],"
    "\"bicycle\": {\"color\": \"red\", \"price\": 399}, \"odd key\": 1}}";

/* Evaluates expr and returns its compact JSON text, "NOTHING", or "ERROR". */
static char *eval(const json_t *doc, const char *expr)
{
    char err[256];
    struct jsonpath *p = jsonpath_compile(expr, err, sizeof err);
    if (!p)
        return strdup("ERROR");
    json_t *v = jsonpath_query(p, doc);
    char *s = v ? json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(15)) : strdup("NOTHING");
    json_decref(v);
    jsonpath_free(p);
    return s;
}

static void expect(const json_t *doc, const char *expr, const char *want)
{
    char *got = eval(doc, expr);
    CHECK_STR(got, want, "%s", expr);
    free(got);
}

int main(void)
{
    json_t *doc = json_loads(store, 0, NULL);

    expect(doc, "$.store.book[0].author", "\"Nigel Rees\"");
    expect(doc, "$['store']['bicycle']['color']", "\"red\"");
    expect(doc, "$.store[\"odd key\"]", "1");
    expect(doc, "$.store.book[-1].author", "\"J. R. R. Tolkien\"");
    expect(doc, "$.store.book[*].author",
           "[\"Nigel Rees\",\"Evelyn Waugh\",\"Herman Melville\",\"J. R. R. Tolkien\"]");
    expect(doc, "$.store.bicycle.*", "[\"red\",399]");
    expect(doc, "$.store.book.count()", "4");
    expect(doc, "$.store.book[*].price.count()", "4");
    expect(doc, "$.store.bicycle.count()", "2");
    expect(doc, "$.store.missing.count()", "0");
    expect(doc, "$.store.book[9]", "NOTHING");
    expect(doc, "$.store.book[*].isbn", "NOTHING");
    expect(doc, "$.store.bicycle.color.x", "NOTHING");
    expect(doc, "$", "{\"store\":{\"book\":[{\"category\":\"reference\",\"author\":\"Nigel Rees\","
           "\"price\":8.95},{\"category\":\"fiction\",\"author\":\"Evelyn Waugh\",\"price\":12.99},"
           "{\"category\":\"fiction\",\"author\":\"Herman Melville\",\"price\":8.99},{\"category\":"
           "\"fiction\",\"author\":\"J. R. R. Tolkien\",\"price\":22.99}],\"bicycle\":{\"color\":"
           "\"red\",\"price\":399},\"odd key\":1}}");
    /* Outside the subset: refused when compiling, never guessed. */
    expect(doc, "$..author", "ERROR");
    expect(doc, "$.store.book[?(@.price < 10)]", "ERROR");
    expect(doc, "$.store.book[0:2]", "ERROR");
    expect(doc, "store.book", "ERROR");
    expect(doc, "$.store.book.count().x", "ERROR");
    expect(doc, "$.store['unterminated]", "ERROR");
    json_decref(doc);
    return check_done();
}
