/*
 * template: {{name}} substitution in journey strings.
 *
 * The engine knows only the syntax; where names come from (variables, captures,
 * built-ins, the environment) is the caller's lookup function. Values are JSON so that a
 * captured number can stay a number inside a JSON body.
 */
#ifndef VIGIL_TEMPLATE_H
#define VIGIL_TEMPLATE_H

#include <jansson.h>
#include <stddef.h>

/* Longest name between {{ and }}. */
#define TEMPLATE_NAME_MAX 128

/* Returns a new reference to the value of name, or NULL if it is not defined. */
typedef json_t *(*template_lookup_fn)(void *ctx, const char *name);

/* Calls fn (if not NULL) with each name used in s, in order. Returns 0, or -1 with a
 * message in err if s is malformed ("{{" without "}}", an empty or over-long name, or a
 * name with characters other than letters, digits and _ . : -). */
int template_names(const char *s, void (*fn)(void *ctx, const char *name), void *ctx,
                   char *err, size_t errlen);

/* Returns a newly allocated copy of s with each {{name}} replaced by its value as text
 * (strings as they are, other JSON compact). The caller frees it. Returns NULL with
 * "undefined variable \"name\"" in err when a name is not defined. */
char *template_render(const char *s, template_lookup_fn lookup, void *ctx,
                      char *err, size_t errlen);

/* Renders every string inside a JSON value; a string that is exactly one "{{name}}"
 * becomes the variable's JSON value, type and all. Returns a new reference, or NULL with
 * a message in err. */
json_t *template_render_json(const json_t *v, template_lookup_fn lookup, void *ctx,
                             char *err, size_t errlen);

/* Returns a newly allocated text form of a value: a string's content, or compact JSON. */
char *template_text(const json_t *v);

#endif
