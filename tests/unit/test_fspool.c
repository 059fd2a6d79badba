/*
 * Unit tests for shared/fspool.c on a real folder: order, durability across a reopen,
 * the bounds (refuse or drop the oldest), what a crash leaves, the lock, setting a broken
 * record aside, and names that are not records. The expected files are counted here from
 * what the test wrote.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "fspool.h"

static char dir[64];

static int add(struct fspool *s, const char *text, char *err, size_t errlen)
{
    return fspool_add(s, text, strlen(text), err, errlen);
}

/* The oldest record's text, or "" when empty (static buffer). */
static const char *oldest(struct fspool *s, char name[FSPOOL_NAME_MAX])
{
    static char text[256];
    char err[256] = "", *data = NULL;
    size_t len;
    text[0] = '\0';
    name[0] = '\0';
    if (fspool_oldest(s, name, &data, &len, err, sizeof err) == 1)
        snprintf(text, sizeof text, "%.*s", (int)len, data);
    free(data);
    return text;
}

static void empty_dir(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot empty %s\n", dir);
}

static void test_order_and_reopen(void)
{
    struct fspool_opts o = {".batch", 0, 0, 0, 1, 1024};
    struct fspool *s = NULL, *t = NULL;
    char err[256] = "", name[FSPOOL_NAME_MAX];

    CHECK(fspool_open(&s, dir, &o, err, sizeof err) == 0, "open: a new folder (%s)", err);
    CHECK(add(s, "one", err, sizeof err) == 0 && add(s, "two", err, sizeof err) == 0
              && add(s, "three", err, sizeof err) == 0, "add: three records");
    CHECK(fspool_files(s) == 3 && fspool_bytes(s) == 11, "counts: 3 records, 11 bytes (%zu, %llu)",
          fspool_files(s), fspool_bytes(s));
    CHECK(strcmp(oldest(s, name), "one") == 0, "oldest: the first added");
    CHECK(fspool_open(&t, dir, &o, err, sizeof err) == -1 && strstr(err, "another process"),
          "lock: a second open of the folder is refused (%s)", err);
    CHECK(fspool_remove(s, name, err, sizeof err) == 0 && strcmp(oldest(s, name), "two") == 0,
          "remove: then the second is the oldest");
    CHECK(fspool_remove(s, "../etc/passwd", err, sizeof err) == -1 && strstr(err, "not a record"),
          "remove: a name that is not a record is refused (%s)", err);
    fspool_close(s);

    /* What a crash in the middle of an add leaves: a temporary file. */
    char tmp[128];
    snprintf(tmp, sizeof tmp, "%s/.00000000000000000009.tmp", dir);
    int fd = open(tmp, O_WRONLY | O_CREAT, 0600);
    CHECK(fd >= 0 && write(fd, "half", 4) == 4 && close(fd) == 0, "crash: a temporary file");
    CHECK(fspool_open(&s, dir, &o, err, sizeof err) == 0, "reopen (%s)", err);
    CHECK(fspool_files(s) == 2 && fspool_bytes(s) == 8, "reopen: the two records are counted, "
          "not the temporary file (%zu, %llu)", fspool_files(s), fspool_bytes(s));
    CHECK(access(tmp, F_OK) != 0, "reopen: the temporary file is removed");
    CHECK(add(s, "four", err, sizeof err) == 0, "add after reopen");
    CHECK(fspool_remove(s, (oldest(s, name), name), err, sizeof err) == 0
              && fspool_remove(s, (oldest(s, name), name), err, sizeof err) == 0
              && strcmp(oldest(s, name), "four") == 0, "reopen: the sequence continues after "
          "the old records (%s)", name);
    CHECK(fspool_set_aside(s, name, err, sizeof err) == 0 && fspool_files(s) == 0
              && fspool_dropped(s) == 1 && strcmp(oldest(s, name), "") == 0,
          "set aside: the record leaves the queue and counts as dropped");
    fspool_close(s);
    empty_dir();
}

static void test_bounds(void)
{
    struct fspool_opts refuse = {".batch", 0, 100, 0, 0, 80};
    struct fspool_opts drop = {".json", 2, 0, 1, 0, 0};
    struct fspool *s = NULL;
    char err[256] = "", name[FSPOOL_NAME_MAX], big[61];

    memset(big, 'x', 60);
    big[60] = '\0';
    CHECK(fspool_open(&s, dir, &refuse, err, sizeof err) == 0, "bytes: open (%s)", err);
    CHECK(add(s, big, err, sizeof err) == 0, "bytes: 60 of 100");
    CHECK(add(s, big, err, sizeof err) == -1 && strstr(err, "full") && strstr(err, "100 bytes"),
          "bytes: 60 more are refused, naming the limit (%s)", err);
    CHECK(fspool_files(s) == 1 && fspool_bytes(s) == 60 && fspool_dropped(s) == 0,
          "bytes: nothing added, nothing dropped");
    char huge[90];
    memset(huge, 'y', sizeof huge);
    CHECK(fspool_add(s, huge, sizeof huge, err, sizeof err) == -1 && strstr(err, "limit of 80"),
          "bytes: a record over the record limit is refused (%s)", err);
    CHECK(add(s, "0123456789012345678901234567890123456789", err, sizeof err) == 0,
          "bytes: 40 more fit exactly");
    fspool_close(s);
    empty_dir();

    CHECK(fspool_open(&s, dir, &drop, err, sizeof err) == 0, "drop: open (%s)", err);
    CHECK(add(s, "a", err, sizeof err) == 0 && add(s, "b", err, sizeof err) == 0
              && add(s, "c", err, sizeof err) == 0, "drop: three records into room for two");
    CHECK(fspool_files(s) == 2 && fspool_dropped(s) == 1 && strcmp(oldest(s, name), "b") == 0,
          "drop: the oldest made room (%zu files, %zu dropped)", fspool_files(s),
          fspool_dropped(s));
    fspool_close(s);
    empty_dir();
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/vigil-fspool-%d", (int)getpid());
    empty_dir();
    test_order_and_reopen();
    test_bounds();
    return check_done();
}
