/*
 * Unit tests for shared/jsonarena.c against its contract in shared/jsonarena.h. The
 * reference for every tree parsed in an arena is the same text parsed by jansson with
 * its own malloc and free, outside any arena; that all of an arena's memory is given
 * back is read from glibc's own count of the bytes in use (mallinfo2), and in the ASan
 * build from LeakSanitizer at exit.
 */
#include <jansson.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "jsonarena.h"

static const char *beacon =
    "{\"app\":\"shop\",\"version\":\"1.2.3\",\"session\":\"k3j2\",\"pv\":\"v5-1764300000123-1234\","
    "\"page\":\"/checkout\",\"nav\":\"navigate\",\"ts\":1764300000123,"
    "\"events\":[{\"type\":\"metric\",\"name\":\"LCP\",\"value\":2310.5,"
    "\"rating\":\"needs-improvement\",\"id\":\"v5-1\",\"delta\":2310.5,"
    "\"attribution\":{\"target\":\"img.hero\"}}],"
    "\"ctx\":{\"conn\":\"4g\",\"device\":\"mobile\",\"viewport\":\"390x844\",\"dpr\":3},"
    "\"attrs\":{\"a\":\"1\",\"b\":\"2\",\"c\":\"3\",\"d\":\"4\",\"e\":\"5\",\"f\":\"6\","
    "\"g\":\"7\",\"h\":\"8\",\"i\":\"9\",\"j\":\"10\",\"k\":\"11\",\"l\":\"12\"}}";

static json_t *parse(const char *text)
{
    return json_loadb(text, strlen(text), JSON_REJECT_DUPLICATES, NULL);
}

/* A document of about 1 MB: many more blocks than the first. */
static char *big_document(void)
{
    size_t cap = 20000 * 80 + 16, n = 0;     /* each entry is under 80 bytes */
    char *s = malloc(cap);
    if (!s)
        return NULL;
    n += (size_t)snprintf(s + n, cap - n, "[");
    for (int i = 0; i < 20000; i++)
        n += (size_t)snprintf(s + n, cap - n, "%s{\"k%d\":\"%040d\",\"n\":%d}", i ? "," : "", i,
                              i, i);
    snprintf(s + n, cap - n, "]");
    return s;
}

static void before_install(void)
{
    struct jsonarena *a = jsonarena_new();
    CHECK(a == NULL, "before jsonarena_install, jsonarena_new gives NULL (documents are then"
          " freed with json_decref)");
    jsonarena_free(a);
    jsonarena_enter(NULL);
    json_t *heap = parse(beacon);
    jsonarena_leave();
    CHECK(heap && json_object_size(heap) == 10, "jsonarena_enter(NULL) changes nothing");
    json_decref(heap);
}

static void trees(void)
{
    json_t *want = parse(beacon);
    char *big = big_document();
    json_t *want_big = big ? parse(big) : NULL;

    struct jsonarena *a = jsonarena_new();
    CHECK(a != NULL, "after jsonarena_install, jsonarena_new gives an arena");
    jsonarena_enter(a);
    json_t *got = parse(beacon);
    json_t *got_big = big ? parse(big) : NULL;
    /* A heap document freed in the arena's scope goes back to malloc (else LeakSanitizer
     * reports it in the ASan build). */
    jsonarena_leave();
    json_t *outside = json_pack("{s:s}", "made", "before");
    jsonarena_enter(a);
    json_decref(outside);
    jsonarena_leave();

    CHECK(got && json_equal(got, want), "a beacon parsed in an arena equals jansson's own parse"
          " (an object of 12 keys, grown past its first hash table, among them)");
    CHECK(got_big && json_equal(got_big, want_big) && json_array_size(got_big) == 20000,
          "a 1 MB document parsed in an arena (many blocks) equals jansson's own parse");

    /* Outside the scope, jansson allocates from malloc again: json_dumps' string is
     * given to free(), as its documentation says. */
    char *text = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS);
    char *want_text = json_dumps(want, JSON_COMPACT | JSON_SORT_KEYS);
    CHECK_STR(text, want_text, "an arena's tree dumps as jansson's own, into a string free()"
              " takes");
    free(text);
    free(want_text);

    /* json_decref in the scope frees nothing of the arena: the tree stays readable until
     * jsonarena_free. */
    jsonarena_enter(a);
    json_incref(got);
    json_decref(got);
    jsonarena_leave();
    CHECK_STR(json_string_value(json_object_get(got, "pv")), "v5-1764300000123-1234",
              "a tree of the arena stays whole after json_decref in its scope");
    jsonarena_free(a);
    jsonarena_free(NULL);
    json_decref(want);
    json_decref(want_big);
    free(big);
}

/* jsonarena_free gives every block back: after 2,000 arenas of a beacon each, glibc's
 * count of bytes in use is where it was (within one arena's first block). */
static void all_given_back(void)
{
    struct mallinfo2 before = mallinfo2();
    for (int i = 0; i < 2000; i++) {
        struct jsonarena *a = jsonarena_new();
        jsonarena_enter(a);
        json_t *t = parse(beacon);
        jsonarena_leave();
        if (!t)
            break;
        jsonarena_free(a);
    }
    struct mallinfo2 after = mallinfo2();
    long grew = (long)after.uordblks - (long)before.uordblks;
    CHECK(grew < 16384, "2,000 arenas freed give their memory back (bytes in use grew by %ld)",
          grew);
}

int main(void)
{
    before_install();
    jsonarena_install();
    trees();
    all_given_back();
    return check_done();
}
