/*
 * jsonpos: where each value of a JSON text stands, by JSON Pointer (RFC 6901).
 *
 * jansson reports positions for syntax errors but keeps none in the parsed tree, so a
 * loader that finds a semantic error (an unknown key, a wrong type) asks this index for
 * the line and column to print: "checkout.json:12:8: unknown key ...". Build it from a
 * text that jansson has already accepted.
 */
#ifndef VIGIL_JSONPOS_H
#define VIGIL_JSONPOS_H

#include <jansson.h>
#include <stdarg.h>
#include <stddef.h>

struct jsonpos;

/* Indexes every value in text (len bytes, valid JSON). Returns a new index that the
 * caller frees with jsonpos_free(), or NULL if the text is not valid JSON or memory ran out. */
struct jsonpos *jsonpos_new(const char *text, size_t len);

void jsonpos_free(struct jsonpos *p);

/* Finds the value at pointer ("" is the root, "/steps/0/name" a member). For an object
 * member, key != 0 gives the position of its key rather than of its value.
 * Lines and columns count from 1; columns count characters, as jansson's do.
 * Returns 0, or -1 if no such value is indexed (line and col are then 0). */
int jsonpos_find(const struct jsonpos *p, const char *pointer, int key, int *line, int *col);

/* Appends to dst (size dstlen, always NUL-terminated) the pointer token of an object key,
 * escaping '~' as "~0" and '/' as "~1". */
void jsonpos_escape(char *dst, size_t dstlen, const char *key);

/* A JSON file being checked: its name, its position index, and where a message goes. */
struct jsonpos_doc {
    const char *path;
    const struct jsonpos *pos;
    char *err;
    size_t errlen;
};

/* Writes "PATH:LINE:COL: message" for the value (with key != 0, the key) at pointer into
 * d->err. Returns -1, so that a checker can `return jsonpos_fail(...)`. */
int jsonpos_fail(const struct jsonpos_doc *d, const char *pointer, int key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int jsonpos_vfail(const struct jsonpos_doc *d, const char *pointer, int key, const char *fmt,
                  va_list ap);

/* Writes parent's pointer extended by an object key into dst. */
void jsonpos_child(char *dst, size_t dstlen, const char *parent, const char *key);

/* Every key of obj must be in allowed (NULL-terminated): the first that is not is
 * reported at its position, "unknown key "x" in WHERE; did you mean "y"?" with the
 * nearest valid key when one is close. Returns 0 or -1. */
int jsonpos_check_keys(const struct jsonpos_doc *d, const json_t *obj, const char *pointer,
                       const char *const *allowed, const char *where);

#endif