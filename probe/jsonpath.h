/*
 * jsonpath: JSONPath as RFC 9535 defines it, which journeys use to reach into a JSON
 * response (probe/README.md, "JSONPath", has the syntax with examples).
 *
 * The whole grammar of RFC 9535 section 2 is compiled: the root `$`, child and
 * descendant (`..`) segments, name, wildcard, index, slice and filter selectors and
 * their unions, string literals with their escapes, filter expressions with comparisons,
 * `&&`, `||`, `!`, and the function extensions length(), count(), match(), search() and
 * value() with their type rules (section 2.4.3), all checked when compiling. match()
 * and search() take I-Regexp (RFC 9485, probe/iregexp.h).
 *
 * One extension of Vigil's: a trailing `.count()`, the number of nodes matched.
 */
#ifndef VIGIL_JSONPATH_H
#define VIGIL_JSONPATH_H

#include <jansson.h>
#include <stddef.h>

/* Longest query accepted, in bytes. */
#define JSONPATH_MAX_LEN 4096
/* Most nesting of filters, parentheses, `!` and function calls within one another. */
#define JSONPATH_MAX_NESTING 32
/* Work per evaluation: each node a segment visits, each filter expression evaluated on
 * a node and each node in the result costs one step. A query that needs more stops with
 * an error naming the limit (`$..*` on a document of more nodes than this, say). */
#define JSONPATH_MAX_WORK 2000000
/* Largest result jsonpath_value() gives for a query that is not singular, in bytes of
 * compact JSON (estimated from the nodes: string bytes plus punctuation). The nodes of
 * a nodelist may contain one another (`$..*`), so its text can be far larger than the
 * document it came from. */
#define JSONPATH_MAX_RESULT (16 * 1024 * 1024)

struct jsonpath;

/* Compiles the query in expr[0..len), which need not be NUL-terminated. Returns a new
 * query that the caller frees with jsonpath_free(), or NULL with a sentence in err that
 * names the byte offset and what is wrong there. */
struct jsonpath *jsonpath_compilen(const char *expr, size_t len, char *err, size_t errlen);

/* jsonpath_compilen() on a NUL-terminated string. */
struct jsonpath *jsonpath_compile(const char *expr, char *err, size_t errlen);

void jsonpath_free(struct jsonpath *p);

/* 1 when p is a singular query (RFC 9535 section 2.3.5.1: only name and index
 * selectors, one per child segment), which reaches at most one node. */
int jsonpath_singular(const struct jsonpath *p);

/* Evaluates p on root as RFC 9535 does. Returns 0 and in *out a new JSON array of the
 * nodes selected, in the order the RFC gives (empty when nothing matched); or -1 with a
 * sentence in err when the evaluation needed more than JSONPATH_MAX_WORK steps (or a
 * regular expression more than its match limit). A trailing .count() is ignored here. */
int jsonpath_nodes(const struct jsonpath *p, const json_t *root, json_t **out,
                   char *err, size_t errlen);

/* Evaluates p on root for a journey's check or capture. Returns 0 and in *out a new
 * reference, or NULL when nothing matched: a singular query gives its node; any other
 * query the array of its nodes (NULL when none); with .count(), an integer (never NULL):
 * the number of nodes, or for a singular query the length of the array or object it
 * reached (1 for another value, 0 for nothing). Returns -1 with a sentence in err as
 * jsonpath_nodes() does, or when the array would exceed JSONPATH_MAX_RESULT. */
int jsonpath_value(const struct jsonpath *p, const json_t *root, json_t **out,
                   char *err, size_t errlen);

#endif
