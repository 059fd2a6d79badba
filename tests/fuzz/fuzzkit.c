#include "fuzzkit.h"

#include <ftw.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "beacon.h"
#include "clock.h"
#include "store.h"

static char dir[256];

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void remove_dir(void)
{
    if (dir[0])
        nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

const char *fuzzkit_dir(void)
{
    if (dir[0])
        return dir;
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/vigil-fuzz.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror("fuzzkit: mkdtemp");
        abort();
    }
    atexit(remove_dir);
    return dir;
}

void fuzzkit_write(const char *name, const void *data, size_t size, mode_t mode, char *path,
                   size_t pathlen)
{
    snprintf(path, pathlen, "%s/%s", fuzzkit_dir(), name);
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0
        || chmod(path, mode) != 0) {
        perror("fuzzkit: writing a file");
        abort();
    }
}

int fuzzkit_refused(int failed, const char *err)
{
    if (failed && !err[0]) {
        fprintf(stderr, "fuzzkit: refused without saying why\n");
        abort();
    }
    return failed;
}

char *fuzzkit_strndup(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        abort();
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* Beacons of the README's example shape: two versions' page views with LCP and an error. */
static const char *const seed_beacons[] = {
    "{\"app\":\"shop\",\"version\":\"1.0\",\"session\":\"s-1\",\"pv\":\"p-1\",\"page\":\"/\","
    "\"events\":[{\"type\":\"metric\",\"name\":\"LCP\",\"value\":2100,\"id\":\"m-1\"},"
    "{\"type\":\"metric\",\"name\":\"INP\",\"value\":120,\"id\":\"m-2\"}]}",
    "{\"app\":\"shop\",\"version\":\"1.1\",\"session\":\"s-2\",\"pv\":\"p-2\",\"page\":\"/cart\","
    "\"events\":[{\"type\":\"metric\",\"name\":\"LCP\",\"value\":2500,\"id\":\"m-3\"},"
    "{\"type\":\"error\",\"message\":\"TypeError: x is undefined\",\"source\":\"/app.js\"}]}",
    NULL
};

static const char seed_run[] =
    "{\"schema\":\"vigil.probe-result/1\",\"run_id\":\"r-1\",\"passed\":false,"
    "\"started_at\":\"2026-11-28T02:16:40.123Z\","
    "\"labels\":{\"app\":\"shop\",\"version\":\"1.1\",\"region\":\"eu\"},"
    "\"journeys\":[{\"name\":\"checkout\",\"passed\":false,\"started_at\":\"2026-11-28T02:16:40Z\","
    "\"steps\":[{\"name\":\"pay\",\"result\":\"failed\",\"attempts\":2,"
    "\"failures\":[{\"check\":\"status\",\"message\":\"expected 200, got 502\"}]}]}]}";

struct store *fuzzkit_store(const char *path)
{
    struct store *s;
    char field[128], err[512];
    struct beacon_meta meta = {.received_ms = clock_wall_ms()};

    if (store_open(&s, path, 0, err, sizeof err) < 0 || store_begin(s, err, sizeof err) < 0)
        goto fail;
    for (int i = 0; seed_beacons[i]; i++) {
        json_t *list = beacon_parse(seed_beacons[i], strlen(seed_beacons[i]), field,
                                    sizeof field, err, sizeof err);
        if (!list || store_insert_beacon(s, json_array_get(list, 0), &meta, err, sizeof err) < 0)
            goto fail;
        json_decref(list);
    }
    if (store_commit(s, err, sizeof err) < 0
        || store_insert_probe_run(s, seed_run, meta.received_ms, 0, NULL, err, sizeof err) < 0)
        goto fail;
    return s;
fail:
    fprintf(stderr, "fuzzkit: cannot prepare the store: %s\n", err);
    abort();
}
