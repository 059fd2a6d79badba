/* jsonarena: jansson's allocations of one document from blocks of its own (jsonarena.h). */
#include "jsonarena.h"

#include <jansson.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/* The first block holds a typical beacon's tree (a 300-byte beacon takes about 3 KiB);
 * each further block is twice the last, or the allocation's size if larger. */
#define JSONARENA_FIRST 8192

struct block {
    struct block *prev;
    size_t size, used;          /* bytes in data, and taken */
    alignas(max_align_t) unsigned char data[];
};

struct jsonarena {
    struct block *last;
};

static int installed;
static _Thread_local struct jsonarena *current;

static int owns(const struct jsonarena *a, const void *p)
{
    for (const struct block *b = a->last; b; b = b->prev)
        if ((const unsigned char *)p >= b->data && (const unsigned char *)p < b->data + b->size)
            return 1;
    return 0;
}

static void *arena_alloc(struct jsonarena *a, size_t n)
{
    size_t align = alignof(max_align_t);
    if (n > SIZE_MAX / 4)
        return NULL;
    n = (n + align - 1) / align * align;
    struct block *b = a->last;
    if (!b || b->size - b->used < n) {
        size_t size = b ? 2 * b->size : JSONARENA_FIRST;
        if (size < n)
            size = n;
        struct block *nb = malloc(sizeof *nb + size);
        if (!nb)
            return NULL;
        nb->prev = b;
        nb->size = size;
        nb->used = 0;
        a->last = b = nb;
    }
    void *p = b->data + b->used;
    b->used += n;
    return p;
}

static void *arena_malloc(size_t n)
{
    return current ? arena_alloc(current, n) : malloc(n);
}

static void arena_free(void *p)
{
    if (current && p && owns(current, p))
        return;
    free(p);
}

void jsonarena_install(void)
{
    json_set_alloc_funcs(arena_malloc, arena_free);
    installed = 1;
}

struct jsonarena *jsonarena_new(void)
{
    return installed ? calloc(1, sizeof(struct jsonarena)) : NULL;
}

void jsonarena_enter(struct jsonarena *a)
{
    current = a;
}

void jsonarena_leave(void)
{
    current = NULL;
}

void jsonarena_drop(struct jsonarena *a, json_t *doc)
{
    if (a)
        jsonarena_free(a);
    else
        json_decref(doc);
}

void jsonarena_free(struct jsonarena *a)
{
    if (!a)
        return;
    for (struct block *b = a->last, *prev; b; b = prev) {
        prev = b->prev;
        free(b);
    }
    free(a);
}
