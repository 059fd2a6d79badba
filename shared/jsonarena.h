/*
 * jsonarena: jansson's allocations for one document from blocks of its own, given back at
 * once. A beacon's tree is some forty small allocations (objects, their hash tables,
 * keys, strings), each freed again one by one: malloc and free were about a quarter of a
 * collector service thread's time under scripts/bench-collector (perf, collector/README.md
 * "Ingest throughput"). In an arena, an allocation is a pointer bump and the whole tree
 * goes with one free per block, with no walk of the tree.
 *
 * It uses jansson's own hook for this, json_set_alloc_funcs (jansson's "Custom Memory
 * Allocation"). After jsonarena_install, every jansson allocation of the process goes
 * through this module; outside an arena's scope they are malloc and free, as before.
 */
#ifndef VIGIL_JSONARENA_H
#define VIGIL_JSONARENA_H

#include <jansson.h>

/* Sets jansson's allocation functions to this module's. Call once, before any thread
 * other than the caller uses jansson (json_set_alloc_funcs is not thread-safe). */
void jsonarena_install(void);

struct jsonarena;

/* A new, empty arena; NULL when jsonarena_install was not called (or out of memory):
 * then the caller frees its documents with json_decref, as without this module. */
struct jsonarena *jsonarena_new(void);

/* From jsonarena_enter(a) to jsonarena_leave() on a thread, jansson's allocations on that
 * thread come from a, and jansson's frees of a's memory do nothing. In that scope nothing
 * jansson allocates may be handed to free() (json_dumps' string is: use json_dumpb).
 * jsonarena_enter(NULL) does nothing. */
void jsonarena_enter(struct jsonarena *a);
void jsonarena_leave(void);

/* Gives back all of a's memory: every document parsed in its scope goes with it, without
 * json_decref, and no reference into them may be used after. NULL is a no-op. */
void jsonarena_free(struct jsonarena *a);

/* Gives back doc, parsed in a's scope: with jsonarena_free(a), or json_decref(doc) when a
 * is NULL (jsonarena_new gave none). doc may be NULL. */
void jsonarena_drop(struct jsonarena *a, json_t *doc);

#endif
