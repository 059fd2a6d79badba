/* Beacon bodies as POST /v1/rum receives them (shared/beacon.h): any bytes up to the body
 * limit either parse into an array of valid beacons or give a field and a reason. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "beacon.h"
#include "fuzzkit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char field[128], err[256];

    err[0] = '\0';
    json_t *list = beacon_parse((const char *)data, size, field, sizeof field, err, sizeof err);
    fuzzkit_refused(!list, err);
    json_decref(list);

    char *name = fuzzkit_strndup(data, size < 80 ? size : 80);
    beacon_metric_name_ok(name);
    free(name);
    return 0;
}
