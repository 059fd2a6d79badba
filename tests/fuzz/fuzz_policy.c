/* Comparator policy files (shared/cmp.h cmp_policy_load), written to a temporary file as
 * --policy-file would name one. A policy that loads is also judged once, without data. */
#include <jansson.h>
#include <stdint.h>

#include "cmp.h"
#include "fuzzkit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cmp_policy p;
    char path[512], err[512];

    fuzzkit_write("policy.json", data, size, 0600, path, sizeof path);
    err[0] = '\0';
    if (fuzzkit_refused(cmp_policy_load(path, &p, err, sizeof err) < 0, err))
        return 0;
    json_decref(cmp_judge(&p, NULL, 0, CMP_SEQUENTIAL));
    return 0;
}
