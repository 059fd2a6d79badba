#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"

struct spool {
    char *dir;
    size_t max;
    unsigned long long next;    /* sequence number of the next file */
    size_t dropped;
};

static int is_result(const struct dirent *d)
{
    size_t n = strlen(d->d_name);
    return n == 25 && strcmp(d->d_name + 20, ".json") == 0;
}

/* The spooled results' names, oldest first (names are zero-padded sequence numbers). */
static int list(const struct spool *s, struct dirent ***out)
{
    return scandir(s->dir, out, is_result, alphasort);
}

static void free_list(struct dirent **v, int n)
{
    for (int i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

int spool_open(struct spool **out, const char *dir, size_t max, char *err, size_t errlen)
{
    struct spool *s = calloc(1, sizeof *s);
    struct dirent **v;

    *out = NULL;
    if (!s || !(s->dir = strdup(dir))) {
        free(s);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->max = max ? max : 1;
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create the spool folder %s: %s", dir, strerror(errno));
        spool_close(s);
        return -1;
    }
    int n = list(s, &v);
    if (n < 0) {
        snprintf(err, errlen, "cannot read the spool folder %s: %s", dir, strerror(errno));
        spool_close(s);
        return -1;
    }
    if (n > 0)
        s->next = strtoull(v[n - 1]->d_name, NULL, 10) + 1;
    free_list(v, n);
    *out = s;
    return 0;
}

void spool_close(struct spool *s)
{
    if (!s)
        return;
    free(s->dir);
    free(s);
}

size_t spool_count(struct spool *s)
{
    struct dirent **v;
    int n = list(s, &v);
    if (n < 0)
        return 0;
    free_list(v, n);
    return (size_t)n;
}

size_t spool_dropped(const struct spool *s)
{
    return s->dropped;
}

int spool_add(struct spool *s, const char *text, size_t len, char *err, size_t errlen)
{
    char tmp[4096], path[4096];
    struct dirent **v;
    int n = list(s, &v);

    /* Make room: the oldest results go first. */
    for (int i = 0; n > 0 && i < n && (size_t)(n - i) >= s->max; i++) {
        snprintf(path, sizeof path, "%s/%s", s->dir, v[i]->d_name);
        if (unlink(path) == 0)
            s->dropped++;
    }
    if (n >= 0)
        free_list(v, n);
    snprintf(path, sizeof path, "%s/%020llu.json", s->dir, s->next);
    snprintf(tmp, sizeof tmp, "%s/.%020llu.tmp", s->dir, s->next);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        return -1;
    }
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(fd, text + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
            close(fd);
            unlink(tmp);
            return -1;
        }
        done += (size_t)w;
    }
    if (fsync(fd) < 0 || close(fd) < 0 || rename(tmp, path) < 0) {
        snprintf(err, errlen, "cannot spool %s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    int dfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    s->next++;
    return 0;
}

int spool_oldest(struct spool *s, char *name, size_t namelen, char **text, size_t *len,
                 char *err, size_t errlen)
{
    struct dirent **v;
    char path[4096];
    int n = list(s, &v);

    *text = NULL;
    *len = 0;
    if (n < 0) {
        snprintf(err, errlen, "cannot read the spool folder %s: %s", s->dir, strerror(errno));
        return -1;
    }
    if (n == 0) {
        free_list(v, n);
        return 0;
    }
    snprintf(name, namelen, "%s", v[0]->d_name);
    free_list(v, n);
    snprintf(path, sizeof path, "%s/%s", s->dir, name);
    struct buf b;
    buf_init(&b, SPOOL_FILE_MAX);
    if (buf_read_file(&b, path, err, errlen) < 0) {
        buf_fini(&b);
        return -1;
    }
    *len = b.len;
    *text = buf_steal(&b);
    if (!*text) {
        snprintf(err, errlen, "%s: cannot read: out of memory", path);
        return -1;
    }
    return 1;
}

void spool_remove(struct spool *s, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", s->dir, name);
    unlink(path);
}
