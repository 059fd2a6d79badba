#include "fspool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define SEQ_DIGITS 20

struct fspool {
    char *dir;
    struct fspool_opts o;
    char suffix[17];
    int lockfd;
    unsigned long long next;        /* sequence number of the next record */
    _Atomic size_t files;
    _Atomic unsigned long long bytes;
    _Atomic size_t dropped;
};

/* scandir's filter has no argument: the suffix of the spool being listed. A spool is used
 * by one thread, and each list() sets it just before scanning. */
static _Thread_local const char *listing_suffix;

static int is_record(const struct dirent *d)
{
    size_t n = strlen(d->d_name), m = strlen(listing_suffix);
    return n == SEQ_DIGITS + m && strspn(d->d_name, "0123456789") == SEQ_DIGITS
           && strcmp(d->d_name + SEQ_DIGITS, listing_suffix) == 0;
}

static int is_temporary(const struct dirent *d)
{
    return d->d_name[0] == '.' && strstr(d->d_name, ".tmp") != NULL;
}

/* The records' names, oldest first (zero-padded sequence numbers sort as numbers). */
static int list(const struct fspool *s, struct dirent ***out)
{
    listing_suffix = s->suffix;
    return scandir(s->dir, out, is_record, alphasort);
}

static void free_list(struct dirent **v, int n)
{
    for (int i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static long long size_of(const struct fspool *s, const char *name)
{
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", s->dir, name);
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

int fspool_open(struct fspool **out, const char *dir, const struct fspool_opts *o,
                char *err, size_t errlen)
{
    struct fspool *s = calloc(1, sizeof *s);
    struct dirent **v = NULL;
    char path[4096];
    int n = -1, rc = -1;

    *out = NULL;
    if (!s || !(s->dir = strdup(dir))) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    s->lockfd = -1;
    s->o = *o;
    snprintf(s->suffix, sizeof s->suffix, "%s", o->suffix ? o->suffix : "");
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create the spool folder %s: %s", dir, strerror(errno));
        goto out;
    }
    if (o->lock) {
        snprintf(path, sizeof path, "%s/.lock", dir);
        s->lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (s->lockfd < 0 || flock(s->lockfd, LOCK_EX | LOCK_NB) < 0) {
            snprintf(err, errlen, "the spool folder %s %s", dir, errno == EWOULDBLOCK
                     ? "is in use by another process (each collector needs its own)"
                     : strerror(errno));
            goto out;
        }
    }
    /* A temporary file is a record whose add never returned: not acknowledged. */
    if ((n = scandir(dir, &v, is_temporary, alphasort)) >= 0) {
        for (int i = 0; i < n; i++) {
            snprintf(path, sizeof path, "%s/%s", dir, v[i]->d_name);
            unlink(path);
        }
        free_list(v, n);
    }
    if ((n = list(s, &v)) < 0) {
        snprintf(err, errlen, "cannot read the spool folder %s: %s", dir, strerror(errno));
        goto out;
    }
    for (int i = 0; i < n; i++) {
        long long size = size_of(s, v[i]->d_name);
        s->bytes += size > 0 ? (unsigned long long)size : 0;
    }
    s->files = (size_t)n;
    if (n > 0)
        s->next = strtoull(v[n - 1]->d_name, NULL, 10) + 1;
    free_list(v, n);
    *out = s;
    s = NULL;
    rc = 0;
out:
    fspool_close(s);
    return rc;
}

void fspool_close(struct fspool *s)
{
    if (!s)
        return;
    if (s->lockfd >= 0)
        close(s->lockfd);
    free(s->dir);
    free(s);
}

size_t fspool_files(const struct fspool *s)
{
    return atomic_load_explicit(&s->files, memory_order_relaxed);
}

unsigned long long fspool_bytes(const struct fspool *s)
{
    return atomic_load_explicit(&s->bytes, memory_order_relaxed);
}

size_t fspool_dropped(const struct fspool *s)
{
    return atomic_load_explicit(&s->dropped, memory_order_relaxed);
}

/* Takes a record of size bytes out of the counts. */
static void forget(struct fspool *s, long long size)
{
    atomic_fetch_sub_explicit(&s->files, 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&s->bytes, size > 0 ? (unsigned long long)size : 0,
                              memory_order_relaxed);
}

/* 1 when one more record of len bytes passes a bound. */
static int over(const struct fspool *s, size_t len)
{
    return (s->o.max_files && fspool_files(s) + 1 > s->o.max_files)
           || (s->o.max_bytes && fspool_bytes(s) + len > s->o.max_bytes);
}

/* Drops the oldest records until one of len bytes fits. */
static void make_room(struct fspool *s, size_t len)
{
    struct dirent **v;
    char path[4096];
    int n = list(s, &v);
    for (int i = 0; i < n && over(s, len); i++) {
        long long size = size_of(s, v[i]->d_name);
        snprintf(path, sizeof path, "%s/%s", s->dir, v[i]->d_name);
        if (unlink(path) == 0) {
            forget(s, size);
            atomic_fetch_add_explicit(&s->dropped, 1, memory_order_relaxed);
        }
    }
    if (n >= 0)
        free_list(v, n);
}

static int write_all(int fd, const void *data, size_t len)
{
    for (size_t done = 0; done < len;) {
        ssize_t w = write(fd, (const char *)data + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        done += (size_t)w;
    }
    return 0;
}

int fspool_add(struct fspool *s, const void *data, size_t len, char *err, size_t errlen)
{
    char tmp[4096], path[4096];
    int fd;

    if (s->o.record_max && len > s->o.record_max) {
        snprintf(err, errlen, "a record of %zu bytes is over the spool's limit of %zu", len,
                 s->o.record_max);
        return -1;
    }
    if (over(s, len) && s->o.drop_oldest)
        make_room(s, len);
    if (over(s, len)) {
        if (s->o.max_bytes && fspool_bytes(s) + len > s->o.max_bytes)
            snprintf(err, errlen, "the spool %s is full: %llu bytes waiting, and %zu more "
                     "would pass its limit of %llu bytes", s->dir, fspool_bytes(s), len,
                     s->o.max_bytes);
        else
            snprintf(err, errlen, "the spool %s is full: %zu records waiting, its limit",
                     s->dir, fspool_files(s));
        return -1;
    }
    snprintf(path, sizeof path, "%s/%0*llu%s", s->dir, SEQ_DIGITS, s->next, s->suffix);
    snprintf(tmp, sizeof tmp, "%s/.%0*llu.tmp", s->dir, SEQ_DIGITS, s->next);
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0) {
        snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        return -1;
    }
    if (write_all(fd, data, len) < 0 || fsync(fd) < 0) {
        snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        return -1;
    }
    if (close(fd) < 0 || rename(tmp, path) < 0) {
        snprintf(err, errlen, "cannot spool %s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    /* The new name is durable only once the folder is. */
    int dfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) < 0) {
        snprintf(err, errlen, "cannot sync the spool folder %s: %s", s->dir, strerror(errno));
        if (dfd >= 0)
            close(dfd);
        unlink(path);
        return -1;
    }
    close(dfd);
    s->next++;
    atomic_fetch_add_explicit(&s->files, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->bytes, len, memory_order_relaxed);
    return 0;
}

int fspool_oldest(struct fspool *s, char name[FSPOOL_NAME_MAX], char **data, size_t *len,
                  char *err, size_t errlen)
{
    struct dirent **v;
    struct stat st;
    char path[4096];
    int n = list(s, &v), fd = -1;
    size_t max = s->o.record_max ? s->o.record_max : (size_t)1 << 30;

    *data = NULL;
    *len = 0;
    if (n < 0) {
        snprintf(err, errlen, "cannot read the spool folder %s: %s", s->dir, strerror(errno));
        return -1;
    }
    if (n > 0)
        snprintf(name, FSPOOL_NAME_MAX, "%s", v[0]->d_name);
    free_list(v, n);
    if (n == 0)
        return 0;
    snprintf(path, sizeof path, "%s/%s", s->dir, name);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) < 0) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        goto fail;
    }
    if ((size_t)st.st_size > max) {
        snprintf(err, errlen, "%s: %lld bytes, over the spool's record limit of %zu", path,
                 (long long)st.st_size, max);
        goto fail;
    }
    if (!(*data = malloc((size_t)st.st_size + 1))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    for (size_t done = 0; done < (size_t)st.st_size;) {
        ssize_t r = read(fd, *data + done, (size_t)st.st_size - done);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            snprintf(err, errlen, "cannot read %s: %s", path, r < 0 ? strerror(errno)
                     : "shorter than it was");
            goto fail;
        }
        done += (size_t)r;
    }
    close(fd);
    (*data)[st.st_size] = '\0';
    *len = (size_t)st.st_size;
    return 1;
fail:
    if (fd >= 0)
        close(fd);
    free(*data);
    *data = NULL;
    return -1;
}

/* The path of a record by name, refusing a name that is not one of this spool's. */
static int record_path(const struct fspool *s, const char *name, char *path, size_t len,
                       char *err, size_t errlen)
{
    struct dirent d;
    snprintf(d.d_name, sizeof d.d_name, "%s", name);
    listing_suffix = s->suffix;
    if (strlen(name) >= sizeof d.d_name || !is_record(&d)) {
        snprintf(err, errlen, "%s is not a record of the spool %s", name, s->dir);
        return -1;
    }
    snprintf(path, len, "%s/%s", s->dir, name);
    return 0;
}

int fspool_remove(struct fspool *s, const char *name, char *err, size_t errlen)
{
    char path[4096];
    if (record_path(s, name, path, sizeof path, err, errlen) < 0)
        return -1;
    long long size = size_of(s, name);
    if (unlink(path) < 0) {
        snprintf(err, errlen, "cannot remove %s: %s", path, strerror(errno));
        return -1;
    }
    forget(s, size);
    return 0;
}

int fspool_set_aside(struct fspool *s, const char *name, char *err, size_t errlen)
{
    char path[4096], bad[4200];
    if (record_path(s, name, path, sizeof path, err, errlen) < 0)
        return -1;
    long long size = size_of(s, name);
    snprintf(bad, sizeof bad, "%s.bad", path);
    if (rename(path, bad) < 0) {
        snprintf(err, errlen, "cannot move %s aside: %s", path, strerror(errno));
        return -1;
    }
    forget(s, size);
    atomic_fetch_add_explicit(&s->dropped, 1, memory_order_relaxed);
    return 0;
}
