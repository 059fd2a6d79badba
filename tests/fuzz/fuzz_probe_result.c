/* Probe result documents as POST /v1/probe-runs takes them: the body parsed as the server
 * does (json_loadb, duplicates refused) and handed to the "probe-run" call (collector/
 * api.h), which validates the document and stores it in an in-memory store. The harness
 * follows the validation wherever it lives: it calls the collector's entry point. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>

#include "api.h"
#include "fuzzkit.h"
#include "store.h"

/* Stored runs pile up in memory; a fresh store after this many keeps the harness small. */
#define STORED_MAX 2000

static struct store *store;
static int stored;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *resp = NULL;

    if (!store || stored >= STORED_MAX) {
        store_close(store);
        store = fuzzkit_store(":memory:");
        stored = 0;
    }
    /* Whether the server verified a signature (it sets "signed" and "key_id" itself):
     * the input's length decides, so that both kinds of push are fuzzed. */
    int is_signed = size & 1;
    json_t *doc = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    if (!doc)
        return 0;
    json_t *args = json_pack("{s:o,s:b}", "document", doc, "signed", is_signed);
    if (is_signed)
        json_object_set_new(args, "key_id", json_string("eu-west-1"));
    int status = api_call(store, "probe-run", args, &resp);
    if (status == 201)
        stored++;
    if (!json_is_object(resp) || (status >= 400 && !json_is_string(json_object_get(resp, "error"))))
        abort();    /* every answer is a JSON object; a refusal says why */
    json_decref(resp);
    json_decref(args);
    return 0;
}
