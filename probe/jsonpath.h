/*
 * jsonpath: the JSONPath subset journeys use to reach into a JSON response.
 *
 *   $            the root
 *   .name        a member (letters, digits, _ and -), or ['any name'] / ["any name"]
 *   [N]          an array element; negative N counts from the end
 *   [*] or .*    every element of an array or member of an object
 *   .count()     at the end: the number of nodes matched (an array or object matched
 *                alone counts its elements)
 *
 * Filters, slices and recursive descent are refused when compiling.
 */
#ifndef VIGIL_JSONPATH_H
#define VIGIL_JSONPATH_H

#include <jansson.h>
#include <stddef.h>

/* Longest path expression accepted, and most segments in one. */
#define JSONPATH_MAX_LEN 1024
#define JSONPATH_MAX_SEGMENTS 64

struct jsonpath;

/* Compiles expr. Returns a new path that the caller frees with jsonpath_free(), or NULL
 * with a message naming the offending character's offset in err. */
struct jsonpath *jsonpath_compile(const char *expr, char *err, size_t errlen);

void jsonpath_free(struct jsonpath *p);

/* Evaluates p against root. Returns a new reference, or NULL when nothing matched:
 * a path without wildcards gives the one node it reaches; a path with [*] gives an array
 * of every node matched (NULL if none); .count() gives an integer (never NULL). */
json_t *jsonpath_query(const struct jsonpath *p, const json_t *root);

#endif
