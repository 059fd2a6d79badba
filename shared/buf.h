/*
 * buf: a growable byte buffer with a hard cap, always NUL-terminated.
 *
 * Every buffer that grows from input has a limit (STYLE.md): buf_append refuses to grow
 * past `max` bytes of content and leaves the buffer as it was.
 */
#ifndef VIGIL_BUF_H
#define VIGIL_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
    char *data;     /* NUL-terminated content, or NULL before the first append */
    size_t len;     /* bytes of content, not counting the NUL */
    size_t cap;     /* bytes allocated */
    size_t max;     /* largest len allowed; 0 means SIZE_MAX / 2 */
};

/* Sets up an empty buffer that may hold at most max bytes (0: no practical cap). */
void buf_init(struct buf *b, size_t max);

/* Frees the content; the buffer can be used again after buf_init. */
void buf_fini(struct buf *b);

/* Empties the buffer, keeping its memory. */
void buf_reset(struct buf *b);

/* Appends n bytes. Returns 0, or -1 if that would pass the cap or memory ran out
 * (the buffer is then unchanged). */
int buf_append(struct buf *b, const void *p, size_t n);

/* Appends a NUL-terminated string; as buf_append. */
int buf_puts(struct buf *b, const char *s);

/* Appends printf-style formatted text; as buf_append. */
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Reads the whole file at path into the (empty) buffer, within its cap: the one capped
 * file read of the project. Returns 0 (data is never NULL then, "" for an empty file), or
 * -1 with "PATH: cannot open: ...", "PATH: larger than N bytes" or "PATH: cannot read:
 * ..." in err; the buffer then holds nothing. */
int buf_read_file(struct buf *b, const char *path, char *err, size_t errlen);

/* Hands the content to the caller (free() it; never NULL on success: "" for empty)
 * and leaves the buffer empty. Returns NULL only when memory ran out. */
char *buf_steal(struct buf *b);

#endif
