/*
 * syncgate: a slow disk on demand, for tests (LD_PRELOAD). While the file
 * $VIGIL_SYNC_GATE/hold exists, every fsync and fdatasync of the process waits until it is
 * removed, and the first to wait creates $VIGIL_SYNC_GATE/held, so that the test knows a
 * sync is being held. Without VIGIL_SYNC_GATE it changes nothing. Used by
 * tests/integration/test_wal_checkpoint.py: a checkpoint that waits for the disk must not
 * hold up the answers to beacons (collector/README.md, "Ingest throughput").
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static void wait_while_held(void)
{
    const char *dir = getenv("VIGIL_SYNC_GATE");
    char hold[PATH_MAX], held[PATH_MAX];

    if (!dir)
        return;
    snprintf(hold, sizeof hold, "%s/hold", dir);
    snprintf(held, sizeof held, "%s/held", dir);
    if (access(hold, F_OK) != 0)
        return;
    int fd = open(held, O_WRONLY | O_CREAT, 0600);
    if (fd >= 0)
        close(fd);
    struct timespec ten_ms = {0, 10 * 1000 * 1000};
    while (access(hold, F_OK) == 0)
        nanosleep(&ten_ms, NULL);
}

int fsync(int fd)
{
    static int (*real)(int);
    if (!real)
        *(void **)&real = dlsym(RTLD_NEXT, "fsync");
    wait_while_held();
    return real(fd);
}

int fdatasync(int fd)
{
    static int (*real)(int);
    if (!real)
        *(void **)&real = dlsym(RTLD_NEXT, "fdatasync");
    wait_while_held();
    return real(fd);
}
