/* Unit tests for probe/jsonpath.c. Expected results come from RFC 9535's own example
 * tables (each check names its section), from the cases of issue 19, and for journeys'
 * contract (jsonpath_value) from the bookstore document of Goessner's article, which the
 * RFC's section 1.5 uses too. The community compliance suite runs in
 * test_jsonpath_cts.c. */
#include <stdlib.h>

#include "check.h"
#include "jsonpath.h"

/* Parses JSON written with ' for " (the tables read better so); NULL on a typo. */
static json_t *doc_of(const char *text)
{
    char *s = strdup(text);
    for (char *c = s; *c; c++)
        if (*c == '\'')
            *c = '"';
    json_t *d = json_loads(s, JSON_DECODE_ANY, NULL);
    free(s);
    return d;
}

static char *dump(const json_t *v)
{
    return v ? json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(15))
             : strdup("NOTHING");
}

/* Evaluates expr as jsonpath_nodes() does: the nodelist's JSON, or "ERROR". */
static char *nodes(const json_t *doc, const char *expr)
{
    char err[256];
    struct jsonpath *p = jsonpath_compile(expr, err, sizeof err);
    json_t *v = NULL;
    if (!p || jsonpath_nodes(p, doc, &v, err, sizeof err) < 0) {
        jsonpath_free(p);
        return strdup("ERROR");
    }
    char *s = dump(v);
    json_decref(v);
    jsonpath_free(p);
    return s;
}

/* Evaluates expr as journeys do (jsonpath_value()): the JSON, "NOTHING", or "ERROR". */
static char *value(const json_t *doc, const char *expr)
{
    char err[256];
    struct jsonpath *p = jsonpath_compile(expr, err, sizeof err);
    json_t *v = NULL;
    if (!p || jsonpath_value(p, doc, &v, err, sizeof err) < 0) {
        jsonpath_free(p);
        return strdup("ERROR");
    }
    char *s = dump(v);
    json_decref(v);
    jsonpath_free(p);
    return s;
}

/* want is JSON written with ' for ". */
static void expect_nodes(const char *sec, const json_t *doc, const char *expr, const char *want)
{
    json_t *w = doc_of(want);
    char *ws = dump(w), *got = nodes(doc, expr);
    CHECK_STR(got, ws, "RFC 9535 %s: %s", sec, expr);
    free(got);
    free(ws);
    json_decref(w);
}

static void expect_value(const json_t *doc, const char *expr, const char *want)
{
    char *got = value(doc, expr);
    CHECK_STR(got, want, "journey value of %s", expr);
    free(got);
}

/* expr is refused when compiling, with a message that contains what (the offset and
 * reason). */
static void expect_refused(const char *why, const char *expr, size_t len, const char *what)
{
    char err[256] = "";
    struct jsonpath *p = jsonpath_compilen(expr, len, err, sizeof err);
    CHECK(!p && strstr(err, what), "%s: refused with \"%s\" (got \"%s\")", why, what, err);
    jsonpath_free(p);
}

#define REFUSED(why, expr, what) expect_refused(why, expr, strlen(expr), what)

static const char *goessner =
    "{'store': {'book': ["
    "{'category': 'reference', 'author': 'Nigel Rees', 'title': 'Sayings of the Century',"
    " 'price': 8.95},"
    "{'category': 'fiction', 'author': 'Evelyn Waugh', 'title': 'Sword of Honour',"
    " 'price': 12.99},"
    "{'category': 'fiction', 'author': 'Herman Melville', 'title': 'Moby Dick',"
    " 'isbn': '0-553-21311-3', 'price': 8.99},"
    "{'category': 'fiction', 'author': 'J. R. R. Tolkien', 'title': 'The Lord of the Rings',"
    " 'isbn': '0-395-19395-8', 'price': 22.99}],"
    "'bicycle': {'color': 'red', 'price': 399}}}";

/* Section 1.5, Table 2, on the bookstore (results written out from the table's
 * "intended result" column). */
static void rfc_overview(void)
{
    json_t *d = doc_of(goessner);
    const char *s = "1.5 Table 2";
    expect_nodes(s, d, "$.store.book[*].author",
                 "['Nigel Rees','Evelyn Waugh','Herman Melville','J. R. R. Tolkien']");
    expect_nodes(s, d, "$..author",
                 "['Nigel Rees','Evelyn Waugh','Herman Melville','J. R. R. Tolkien']");
    expect_nodes(s, d, "$.store..price", "[8.95,12.99,8.99,22.99,399]");
    expect_nodes(s, d, "$..book[2].author", "['Herman Melville']");
    expect_nodes(s, d, "$..book[2].publisher", "[]");
    expect_nodes(s, d, "$..book[-1].title", "['The Lord of the Rings']");
    expect_nodes(s, d, "$..book[0,1].price", "[8.95,12.99]");
    expect_nodes(s, d, "$..book[:2].price", "[8.95,12.99]");
    expect_nodes(s, d, "$..book[?@.isbn].title", "['Moby Dick','The Lord of the Rings']");
    expect_nodes(s, d, "$..book[?@.price<10].title", "['Sayings of the Century','Moby Dick']");
    char *all = nodes(d, "$..*");
    json_t *a = json_loads(all, 0, NULL);
    /* store, book, bicycle, 4 books, 4 x 4 or 5 members, 2 bicycle members. */
    CHECK(json_array_size(a) == 27, "RFC 9535 1.5 Table 2: $..* gives every member value"
          " and element (27, got %zu)", json_array_size(a));
    json_decref(a);
    free(all);
    json_decref(d);
}

/* Section 2.2.3 (root), 2.3.1.3 (name), 2.3.2.3 (wildcard), 2.3.3.3 (index), 2.3.4.3
 * (slice), 2.5.1.3 (child segment), 2.5.2.3 (descendant segment), 2.6.1 (null). */
static void rfc_selectors(void)
{
    json_t *d = doc_of("{'k': 'v'}");
    expect_nodes("2.2.3 Table 4", d, "$", "[{'k': 'v'}]");
    json_decref(d);

    d = json_loads("{\"o\": {\"j\xc2\xa0j\": {\"k.k\": 3}}, \"'\": {\"@\": 2}}", 0, NULL);
    expect_nodes("2.3.1.3 Table 5", d, "$.o['j\xc2\xa0j']", "[{'k.k': 3}]");
    expect_nodes("2.3.1.3 Table 5", d, "$.o['j\xc2\xa0j']['k.k']", "[3]");
    expect_nodes("2.3.1.3 Table 5", d, "$.o[\"j\xc2\xa0j\"][\"k.k\"]", "[3]");
    expect_nodes("2.3.1.3 Table 5", d, "$[\"'\"][\"@\"]", "[2]");
    json_decref(d);

    d = doc_of("{'o': {'j': 1, 'k': 2}, 'a': [5, 3]}");
    expect_nodes("2.3.2.3 Table 6", d, "$[*]", "[{'j': 1, 'k': 2}, [5, 3]]");
    expect_nodes("2.3.2.3 Table 6", d, "$.o[*]", "[1, 2]");
    expect_nodes("2.3.2.3 Table 6", d, "$.o[*, *]", "[1, 2, 1, 2]");
    expect_nodes("2.3.2.3 Table 6", d, "$.a[*]", "[5, 3]");
    json_decref(d);

    d = doc_of("['a','b']");
    expect_nodes("2.3.3.3 Table 7", d, "$[1]", "['b']");
    expect_nodes("2.3.3.3 Table 7", d, "$[-2]", "['a']");
    json_decref(d);

    d = doc_of("['a', 'b', 'c', 'd', 'e', 'f', 'g']");
    expect_nodes("2.3.4.3 Table 9", d, "$[1:3]", "['b','c']");
    expect_nodes("2.3.4.3 Table 9", d, "$[5:]", "['f','g']");
    expect_nodes("2.3.4.3 Table 9", d, "$[1:5:2]", "['b','d']");
    expect_nodes("2.3.4.3 Table 9", d, "$[5:1:-2]", "['f','d']");
    expect_nodes("2.3.4.3 Table 9", d, "$[::-1]", "['g','f','e','d','c','b','a']");
    expect_nodes("2.3.4.2.2 (step 0 selects nothing)", d, "$[::0]", "[]");
    expect_nodes("2.5.1.3 Table 15", d, "$[0, 3]", "['a','d']");
    expect_nodes("2.5.1.3 Table 15", d, "$[0:2, 5]", "['a','b','f']");
    expect_nodes("2.5.1.3 Table 15", d, "$[0, 0]", "['a','a']");
    json_decref(d);

    d = doc_of("{'o': {'j': 1, 'k': 2}, 'a': [5, 3, [{'j': 4}, {'k': 6}]]}");
    const char *s = "2.5.2.3 Table 16";
    expect_nodes(s, d, "$..j", "[1, 4]");
    expect_nodes(s, d, "$..[0]", "[5, {'j': 4}]");
    expect_nodes(s, d, "$..[*]", "[{'j': 1, 'k': 2}, [5, 3, [{'j': 4}, {'k': 6}]], 1, 2, 5, 3,"
                 " [{'j': 4}, {'k': 6}], {'j': 4}, {'k': 6}, 4, 6]");
    expect_nodes(s, d, "$..*", "[{'j': 1, 'k': 2}, [5, 3, [{'j': 4}, {'k': 6}]], 1, 2, 5, 3,"
                 " [{'j': 4}, {'k': 6}], {'j': 4}, {'k': 6}, 4, 6]");
    expect_nodes(s, d, "$..o", "[{'j': 1, 'k': 2}]");
    expect_nodes(s, d, "$.o..[*, *]", "[1, 2, 1, 2]");
    expect_nodes(s, d, "$.a..[0, 1]", "[5, 3, {'j': 4}, {'k': 6}]");
    json_decref(d);

    d = doc_of("{'a': null, 'b': [null], 'c': [{}], 'null': 1}");
    s = "2.6.1 Table 17";
    expect_nodes(s, d, "$.a", "[null]");
    expect_nodes(s, d, "$.a[0]", "[]");
    expect_nodes(s, d, "$.a.d", "[]");
    expect_nodes(s, d, "$.b[0]", "[null]");
    expect_nodes(s, d, "$.b[*]", "[null]");
    expect_nodes(s, d, "$.b[?@]", "[null]");
    expect_nodes(s, d, "$.b[?@==null]", "[null]");
    expect_nodes(s, d, "$.c[?@.d==null]", "[]");
    expect_nodes(s, d, "$.null", "[1]");
    json_decref(d);
}

/* Section 2.3.5.3: Table 11 (comparisons, each run as a filter on a document of two
 * members, so true selects both and false neither) and Table 12 (filters). */
static void rfc_filters(void)
{
    static const struct { const char *cmp; int holds; } t11[] = {
        {"$.absent1 == $.absent2", 1}, {"$.absent1 <= $.absent2", 1},
        {"$.absent == 'g'", 0}, {"$.absent1 != $.absent2", 0}, {"$.absent != 'g'", 1},
        {"1 <= 2", 1}, {"1 > 2", 0}, {"13 == '13'", 0}, {"'a' <= 'b'", 1},
        {"'a' > 'b'", 0}, {"$.obj == $.arr", 0}, {"$.obj != $.arr", 1},
        {"$.obj == $.obj", 1}, {"$.obj != $.obj", 0}, {"$.arr == $.arr", 1},
        {"$.arr != $.arr", 0}, {"$.obj == 17", 0}, {"$.obj != 17", 1},
        {"$.obj <= $.arr", 0}, {"$.obj < $.arr", 0}, {"$.obj <= $.obj", 1},
        {"$.arr <= $.arr", 1}, {"1 <= $.arr", 0}, {"1 >= $.arr", 0}, {"1 > $.arr", 0},
        {"1 < $.arr", 0}, {"true <= true", 1}, {"true > true", 0},
    };
    json_t *d = doc_of("{'obj': {'x': 'y'}, 'arr': [2, 3]}");
    for (size_t i = 0; i < sizeof t11 / sizeof t11[0]; i++) {
        char q[128];
        snprintf(q, sizeof q, "$[?%s]", t11[i].cmp);
        expect_nodes("2.3.5.3 Table 11", d, q, t11[i].holds ? "[{'x': 'y'}, [2, 3]]" : "[]");
    }
    json_decref(d);

    d = doc_of("{'a': [3, 5, 1, 2, 4, 6, {'b': 'j'}, {'b': 'k'}, {'b': {}}, {'b': 'kilo'}],"
               " 'o': {'p': 1, 'q': 2, 'r': 3, 's': 5, 't': {'u': 6}}, 'e': 'f'}");
    const char *s = "2.3.5.3 Table 12";
    expect_nodes(s, d, "$.a[?@.b == 'kilo']", "[{'b': 'kilo'}]");
    expect_nodes(s, d, "$.a[?(@.b == 'kilo')]", "[{'b': 'kilo'}]");
    expect_nodes(s, d, "$.a[?@>3.5]", "[5, 4, 6]");
    expect_nodes(s, d, "$.a[?@.b]", "[{'b': 'j'}, {'b': 'k'}, {'b': {}}, {'b': 'kilo'}]");
    expect_nodes(s, d, "$[?@.*]", "[[3, 5, 1, 2, 4, 6, {'b': 'j'}, {'b': 'k'}, {'b': {}},"
                 " {'b': 'kilo'}], {'p': 1, 'q': 2, 'r': 3, 's': 5, 't': {'u': 6}}]");
    expect_nodes(s, d, "$[?@[?@.b]]", "[[3, 5, 1, 2, 4, 6, {'b': 'j'}, {'b': 'k'}, {'b': {}},"
                 " {'b': 'kilo'}]]");
    expect_nodes(s, d, "$.o[?@<3, ?@<3]", "[1, 2, 1, 2]");
    expect_nodes(s, d, "$.a[?@<2 || @.b == \"k\"]", "[1, {'b': 'k'}]");
    expect_nodes(s, d, "$.a[?match(@.b, \"[jk]\")]", "[{'b': 'j'}, {'b': 'k'}]");
    expect_nodes(s, d, "$.a[?search(@.b, \"[jk]\")]", "[{'b': 'j'}, {'b': 'k'}, {'b': 'kilo'}]");
    expect_nodes(s, d, "$.o[?@>1 && @<4]", "[2, 3]");
    expect_nodes(s, d, "$.o[?@.u || @.x]", "[{'u': 6}]");
    expect_nodes(s, d, "$.a[?@.b == $.x]", "[3, 5, 1, 2, 4, 6]");
    expect_nodes(s, d, "$.a[?@ == @]", "[3, 5, 1, 2, 4, 6, {'b': 'j'}, {'b': 'k'}, {'b': {}},"
                 " {'b': 'kilo'}]");
    json_decref(d);
}

/* Section 2.4.9, Table 14 (the rows with the five functions the RFC defines), and the
 * type rules of 2.4.3 behind them: an ill-typed query is refused when compiling. */
static void rfc_functions(void)
{
    json_t *d = doc_of("[{'timezone': 'Europe/Paris', 'color': ['red'], 'a': 'xy'},"
                       " {'timezone': 'America/Lima', 'b': {'color': 'red'}, 'c': 0}, 'ab', [1]]");
    const char *s = "2.4.9 Table 14";
    expect_nodes(s, d, "$[?length(@) < 3]", "['ab', [1]]");
    REFUSED("2.4.9 Table 14: length(@.*) is not well-typed", "$[?length(@.*) < 3]",
            "must be a value");
    expect_nodes(s, d, "$[?count(@.*) == 1]", "[[1]]");
    REFUSED("2.4.9 Table 14: count(1) is not well-typed", "$[?count(1) == 1]",
            "must be a query");
    expect_nodes(s, d, "$[?match(@.timezone, 'Europe/.*')].a", "['xy']");
    REFUSED("2.4.9 Table 14: a LogicalType result is not compared",
            "$[?match(@.timezone, 'Europe/.*') == true]", "cannot be compared");
    expect_nodes(s, d, "$[?value(@..color) == \"red\"].timezone", "['America/Lima']");
    REFUSED("2.4.9 Table 14: value() is not a test", "$[?value(@..color)]",
            "not a test");
    REFUSED("2.4.9: an unknown function", "$[?bar(@.a)]", "unknown function bar()");
    json_decref(d);

    /* 2.4.4 to 2.4.8 on values chosen by hand. length() counts Unicode scalar values. */
    d = json_loads("[\"\xe2\x98\xba\xf0\x9f\x98\x80\", \"abc\", {\"k\": 1}, 7]", 0, NULL);
    expect_nodes("2.4.4 length()", d, "$[?length(@) == 2]", "['\xe2\x98\xba\xf0\x9f\x98\x80']");
    expect_nodes("2.4.4 length() of a number is Nothing", d, "$[?length(@) == 7]", "[]");
    expect_nodes("2.4.4 length() of an object", d, "$[?length(@) == 1]", "[{'k': 1}]");
    json_decref(d);
    d = doc_of("{'orders': [{'id': 'o-17'}, {'id': 'x-o-18'}, {'id': 'o-'}, {'id': 5}]}");
    expect_nodes("2.4.6 match() is whole-string", d,
                 "$.orders[?match(@.id, 'o-[0-9]+')].id", "['o-17']");
    expect_nodes("2.4.7 search() finds a substring", d,
                 "$.orders[?search(@.id, 'o-[0-9]+')].id", "['o-17','x-o-18']");
    expect_nodes("2.4.6 a pattern that is not I-Regexp is false, not an error", d,
                 "$.orders[?match(@.id, '\\\\d+')]", "[]");
    expect_nodes("2.4.5 count()", d, "$[?count(@[*].id) == 4]",
                 "[[{'id': 'o-17'}, {'id': 'x-o-18'}, {'id': 'o-'}, {'id': 5}]]");
    json_decref(d);
}

/* Section 2.1 and 2.3: what the grammar refuses, each with its offset and reason. */
static void rfc_invalid(void)
{
    static const char *const cases[][3] = {
        {"2.3.1.1: invalid escape \\a", "$[\"\\a\"]", "the quote are the escapes) at offset 3"},
        {"2.3.1.1: a lone high surrogate", "$[\"\\uD800\"]", "high surrogate"},
        {"2.3.1.1: a lone low surrogate", "$[\"\\uDC00\"]", "low surrogate"},
        {"2.3.1.1: \\\" inside single quotes", "$['\\\"']", "invalid escape"},
        {"2.3.1.1: a raw control character in a name", "$['a\tb']",
         "control character U+0009 in a string"},
        {"2.3.3.1: a leading zero", "$[01]", "leading zero at offset 2"},
        {"2.3.3.1: -0", "$[-0]", "-0 is not an index at offset 2"},
        {"2.1: an index past 2^53-1", "$[9007199254740992]", "beyond +-(2^53-1) at offset 2"},
        {"2.1: an index before -(2^53-1)", "$[-9007199254740992]", "beyond"},
        {"2.3.4.1: a slice bound past 2^53-1", "$[0:9007199254740992]", "beyond"},
        {"2.5.1.1: a shorthand name cannot start with a digit", "$.1",
         "unexpected '1', expected a member name"},
        {"2.5.2.1: '..' alone", "$..", "expected a member name"},
        {"2.1.1: whitespace before $", " $", "starts with '$'"},
        {"2.1.1: whitespace at the end", "$.a ", "whitespace at the end of the query at offset 4"},
        {"2.5.1.1: no whitespace after '.'", "$. a", "unexpected U+0020"},
        {"2.3.5.1: a literal alone is no test", "$[?true]", "a literal alone"},
        {"2.3.5.1: a non-singular query is not comparable", "$[?@.* == 1]",
         "only a singular query"},
        {"2.3.5.1: '!' before a comparison", "$[?!@.a == 1]", "write !(a == b)"},
        {"2.3.5.1: an unterminated filter", "$[?@.a", "expected ',' or ']'"},
        {"2.3.1.1: an unterminated string", "$['a]", "unterminated string at offset 2"},
        {"2.3.5.1: a number with a leading zero", "$[?@.a == 01]", "leading zero"},
        {"2.3.5.1: a fraction needs digits", "$[?@.a == 1.]", "a digit after '.'"},
        {"2.3.5.1: an exponent needs digits", "$[?@.a == 1e]", "a digit in the exponent"},
        {"2.4: function names are lower case", "$[?LENGTH(@) == 1]", "unexpected 'L'"},
        {"2.4.4: length() takes one argument", "$[?length(@, @) == 1]",
         "length() takes 1 argument"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        REFUSED(cases[i][0], cases[i][1], cases[i][2]);
    expect_refused("2.3.1.1: a raw U+0000 in a name", "$['a\0b']", 7, "U+0000 in a string");
    expect_refused("a query must be UTF-8", "$['\xff']", 6, "invalid UTF-8 in a string at offset 3");
    expect_refused("a query must be UTF-8", "$.\xc3", 3, "not UTF-8");
}

/* The cases of issue 19, each as the RFC says. */
static void issue_cases(void)
{
    json_t *d = json_loads("{\"\xe2\x98\xba\": \"A\", \"\\\\u263a\": \"B\", \"\\\\\": \"bs\","
                           " \"\\n\": \"nl\", \"'\": \"q\"}", 0, NULL);
    expect_value(d, "$['\\u263a']", "\"A\"");
    expect_value(d, "$['\\\\u263a']", "\"B\"");
    expect_value(d, "$.\xe2\x98\xba", "\"A\"");
    expect_value(d, "$['\\\\']", "\"bs\"");
    expect_value(d, "$[\"\\n\"]", "\"nl\"");
    expect_value(d, "$['\\'']", "\"q\"");
    expect_value(d, "$[\"'\"]", "\"q\"");
    json_decref(d);
    d = json_loads("{\"\xf0\x9f\x98\x80\": 1}", 0, NULL);
    expect_value(d, "$['\\uD83D\\uDE00']", "1");
    expect_value(d, "$['\\ud83d\\ude00']", "1");
    json_decref(d);

    d = doc_of("{'a': 1, 'b': 2, 'items': ["
               "{'sku': 'A-1', 'id': 'o-1', 'price': 12.5, 'tags': ['new']},"
               "{'sku': 'B-2', 'id': 'o-2', 'price': 8, 'tags': []},"
               "{'sku': 'C-3', 'id': 'x', 'price': 30, 'tags': ['a', 'b']},"
               "{'sku': 'D-4', 'id': 'o-44', 'price': 10, 'tags': []}]}");
    expect_value(d, "$.items[?@.sku == 'A-1'].price", "[12.5]");
    expect_value(d, "$.items[?@.price > 10].sku", "[\"A-1\",\"C-3\"]");
    expect_value(d, "$.items[?length(@.tags) > 0].sku", "[\"A-1\",\"C-3\"]");
    expect_value(d, "$.items[?match(@.id, 'o-[0-9]+')].sku", "[\"A-1\",\"B-2\",\"D-4\"]");
    expect_value(d, "$.items[-3:].sku", "[\"B-2\",\"C-3\",\"D-4\"]");
    expect_value(d, "$['a','b']", "[1,2]");
    expect_value(d, "$.items[0,2].sku", "[\"A-1\",\"C-3\"]");
    expect_value(d, "$..id", "[\"o-1\",\"o-2\",\"x\",\"o-44\"]");
    expect_value(d, "$ .items [0] .sku", "\"A-1\"");
    expect_value(d, "$.items[ 0 ]['sku']", "\"A-1\"");
    expect_value(d, "$.items[?@.sku == 'Z-9']", "NOTHING");
    expect_value(d, "$.items[?@.sku == 'Z-9'].count()", "0");
    expect_value(d, "$.items[?@.price >= 10].count()", "3");
    json_decref(d);
}

/* Journeys' contract, unchanged from the subset this module replaced: a singular query
 * gives its node, any other the array of its nodes (NOTHING when none), .count() the
 * number of nodes. */
static void journey_contract(void)
{
    json_t *d = json_loads(
        "{\"store\": {\"book\": ["
        "{\"category\": \"reference\", \"author\": \"Nigel Rees\", \"price\": 8.95},"
        "{\"category\": \"fiction\", \"author\": \"Evelyn Waugh\", \"price\": 12.99},"
        "{\"category\": \"fiction\", \"author\": \"Herman Melville\", \"price\": 8.99},"
        "{\"category\": \"fiction\", \"author\": \"J. R. R. Tolkien\", \"price\": 22.99}],"
        "\"bicycle\": {\"color\": \"red\", \"price\": 399}, \"odd key\": 1}}", 0, NULL);

    expect_value(d, "$.store.book[0].author", "\"Nigel Rees\"");
    expect_value(d, "$['store']['bicycle']['color']", "\"red\"");
    expect_value(d, "$.store[\"odd key\"]", "1");
    expect_value(d, "$.store.book[-1].author", "\"J. R. R. Tolkien\"");
    expect_value(d, "$.store.book[*].author",
                 "[\"Nigel Rees\",\"Evelyn Waugh\",\"Herman Melville\",\"J. R. R. Tolkien\"]");
    expect_value(d, "$.store.bicycle.*", "[\"red\",399]");
    expect_value(d, "$.store.book.count()", "4");
    expect_value(d, "$.store.book[*].price.count()", "4");
    expect_value(d, "$.store.bicycle.count()", "2");
    expect_value(d, "$.store.bicycle.color.count()", "1");
    expect_value(d, "$.store.missing.count()", "0");
    expect_value(d, "$.store.book[9]", "NOTHING");
    expect_value(d, "$.store.book[*].isbn", "NOTHING");
    expect_value(d, "$.store.bicycle.color.x", "NOTHING");
    expect_value(d, "$.store.book[0:1]", "[{\"category\":\"reference\",\"author\":\"Nigel Rees\","
                 "\"price\":8.95}]");
    expect_value(d, "$..author.count()", "4");
    expect_value(d, "$.store.book[?(@.price < 10)].author", "[\"Nigel Rees\",\"Herman Melville\"]");
    expect_value(d, "$.count", "NOTHING");
    REFUSED("not a query", "store.book", "starts with '$'");
    REFUSED(".count() ends a query", "$.store.book.count().x", "unexpected '('");
    REFUSED(".count() takes nothing", "$.store.book.count(1)", "at offset 18");
    REFUSED("an unterminated name", "$.store['unterminated]", "unterminated string at offset 8");
    json_decref(d);
}

/* The table of probe/README.md's JSONPath section, row by row, on its cart. */
static void readme_examples(void)
{
    json_t *d = doc_of("{'cart_id': 'cart-3f2a', 'count': 3,"
                       " 'items': [{'sku': 'A-1', 'qty': 2, 'price': 12.5, 'tags': ['new']},"
                       "           {'sku': 'C-3', 'qty': 1, 'price': 99.0, 'tags': []}]}");
    static const char *const rows[][2] = {
        {"$.cart_id", "\"cart-3f2a\""},
        {"$['cart_id']", "\"cart-3f2a\""},
        {"$[\"cart_id\"]", "\"cart-3f2a\""},
        {"$.items[0].sku", "\"A-1\""},
        {"$.items[-1].sku", "\"C-3\""},
        {"$.items[*].sku", "[\"A-1\",\"C-3\"]"},
        {"$.items[?@.sku == 'A-1'].qty", "[2]"},
        {"$.items[?@.price > 50 && @.qty >= 1].sku", "[\"C-3\"]"},
        {"$.items[?@.tags[0]].sku", "[\"A-1\"]"},
        {"$.items[?length(@.tags) > 0].sku", "[\"A-1\"]"},
        {"$.items[?count(@.tags[*]) == 0].sku", "[\"C-3\"]"},
        {"$.items[?match(@.sku, '[A-Z]-[0-9]+')].sku", "[\"A-1\",\"C-3\"]"},
        {"$.items[?search(@.sku, '3')].sku", "[\"C-3\"]"},
        {"$.items[?value(@.tags[0]) == 'new'].sku", "[\"A-1\"]"},
        {"$.items[-1:].sku", "[\"C-3\"]"},
        {"$.items[0:1].sku", "[\"A-1\"]"},
        {"$.items[::-1].sku", "[\"C-3\",\"A-1\"]"},
        {"$.items[0,1].price", "[12.5,99.0]"},
        {"$['cart_id','count']", "[\"cart-3f2a\",3]"},
        {"$..sku", "[\"A-1\",\"C-3\"]"},
        {"$.items[?@.price > 50].count()", "1"},
        {"$.items[?@.x == null]", "NOTHING"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        expect_value(d, rows[i][0], rows[i][1]);
    expect_refused("README: the load-time error's example", "$.items[01]", 11,
                   "an integer with a leading zero at offset 8");
    json_decref(d);
}

/* Each limit of jsonpath.h, at and past its value. */
static void limits(void)
{
    char q[JSONPATH_MAX_LEN + 8];
    char err[256];
    struct jsonpath *p;

    /* Query length: "$.a" then spaces-free members up to the limit. */
    memset(q, 'a', sizeof q);
    q[0] = '$';
    q[1] = '.';
    p = jsonpath_compilen(q, JSONPATH_MAX_LEN, err, sizeof err);
    CHECK(p != NULL, "a query of JSONPATH_MAX_LEN (%d) bytes compiles", JSONPATH_MAX_LEN);
    jsonpath_free(p);
    expect_refused("a query past JSONPATH_MAX_LEN", q, JSONPATH_MAX_LEN + 1, "longer than");

    /* Nesting: the filter counts one level, each parenthesis one more. */
    for (int depth = JSONPATH_MAX_NESTING; depth <= JSONPATH_MAX_NESTING + 1; depth++) {
        size_t n = 0;
        n += (size_t)snprintf(q + n, sizeof q - n, "$[?");
        for (int k = 1; k < depth; k++)
            q[n++] = '(';
        n += (size_t)snprintf(q + n, sizeof q - n, "@.a");
        for (int k = 1; k < depth; k++)
            q[n++] = ')';
        q[n++] = ']';
        q[n] = '\0';
        p = jsonpath_compile(q, err, sizeof err);
        if (depth == JSONPATH_MAX_NESTING)
            CHECK(p != NULL, "a filter nested %d deep compiles (%s)", depth, p ? "" : err);
        else
            CHECK(!p && strstr(err, "nested more than"), "a filter nested %d deep is"
                  " refused (%s)", depth, err);
        jsonpath_free(p);
    }

    /* Work: $..* on an array of N numbers costs about 3N steps (the stack, the visit,
     * the result). */
    json_t *small = json_array(), *big = json_array();
    for (int i = 0; i < 100000; i++)
        json_array_append_new(small, json_integer(i));
    json_t *row = json_array();
    for (int i = 0; i < 2000; i++)
        json_array_append_new(row, json_integer(i));
    for (int i = 0; i < JSONPATH_MAX_WORK; i++)
        json_array_append_new(big, json_integer(i));
    json_t *out = NULL;
    p = jsonpath_compile("$..*", err, sizeof err);
    CHECK(jsonpath_nodes(p, small, &out, err, sizeof err) == 0 && json_array_size(out) == 100000,
          "$..* on 100000 numbers is within JSONPATH_MAX_WORK");
    json_decref(out);
    CHECK(jsonpath_nodes(p, big, &out, err, sizeof err) < 0 && !out
          && strstr(err, "JSONPATH_MAX_WORK"), "$..* on %d numbers stops at"
          " JSONPATH_MAX_WORK (%s)", JSONPATH_MAX_WORK, err);
    jsonpath_free(p);
    /* Comparisons count too: 2000 arrays each compared with one of 2000 elements. */
    json_t *pair = json_object(), *many = json_array();
    for (int i = 0; i < 2000; i++)
        json_array_append(many, row);
    json_object_set(pair, "a", many);
    json_object_set(pair, "b", row);
    p = jsonpath_compile("$.a[?@ == $.b]", err, sizeof err);
    CHECK(jsonpath_nodes(p, pair, &out, err, sizeof err) < 0 && strstr(err, "JSONPATH_MAX_WORK"),
          "a filter comparing big arrays stops at JSONPATH_MAX_WORK (%s)", err);
    jsonpath_free(p);
    json_decref(pair);
    json_decref(many);
    json_decref(row);
    json_decref(small);
    json_decref(big);

    /* Result size: 100 arrays nested in one another around a 200 kB string: $..* gives
     * every level, each holding the string, about 20 MB of JSON from a 200 kB body. */
    char *text = malloc(200001);
    memset(text, 'x', 200000);
    text[200000] = '\0';
    json_t *deep = json_string(text);
    for (int i = 0; i < 100; i++) {
        json_t *a = json_array();
        json_array_append_new(a, deep);
        deep = a;
    }
    p = jsonpath_compile("$..*", err, sizeof err);
    CHECK(jsonpath_value(p, deep, &out, err, sizeof err) < 0 && !out
          && strstr(err, "JSONPATH_MAX_RESULT"), "$..* around a big string stops at"
          " JSONPATH_MAX_RESULT (%s)", err);
    CHECK(jsonpath_nodes(p, deep, &out, err, sizeof err) == 0 && json_array_size(out) == 100,
          "jsonpath_nodes() gives the 100 nodes by reference");
    json_decref(out);
    jsonpath_free(p);
    p = jsonpath_compile("$[*]", err, sizeof err);
    CHECK(jsonpath_value(p, deep, &out, err, sizeof err) == 0 && json_array_size(out) == 1,
          "$[*] on the same document is within JSONPATH_MAX_RESULT");
    json_decref(out);
    jsonpath_free(p);
    json_decref(deep);

    /* A regular expression that backtracks exponentially stops at PCRE2's match limit:
     * on 28 a's and a b, (a|aa)* needs more than 10^6 steps and less than 10^8 (so
     * raising IREGEXP_MATCH_LIMIT a hundredfold makes this check fail). */
    memset(text, 'a', 28);
    text[28] = 'b';
    text[29] = '\0';
    json_t *s = json_pack("[s]", text);
    p = jsonpath_compile("$[?match(@, '(a|aa)*')]", err, sizeof err);
    CHECK(p && jsonpath_nodes(p, s, &out, err, sizeof err) < 0
          && strstr(err, "regular expression needed more than"),
          "a backtracking regex stops at its match limit (%s)", err);
    jsonpath_free(p);
    json_decref(s);
    free(text);
    char pat[1100];
    memset(pat, 'a', sizeof pat);
    memcpy(pat, "$[?match(@, '", 13);
    memcpy(pat + 13 + 1025, "')]", 4);
    REFUSED("a literal pattern past IREGEXP_MAX_LEN", pat, "longer than 1024 bytes");
}

int main(void)
{
    rfc_overview();
    rfc_selectors();
    rfc_filters();
    rfc_functions();
    rfc_invalid();
    issue_cases();
    journey_contract();
    readme_examples();
    limits();
    return check_done();
}
