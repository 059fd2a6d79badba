#include "files.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "buf.h"
#include "http.h"
#include "server.h"

static const struct {
    const char *ext, *type;
} media_types[] = {
    {".js", "text/javascript; charset=utf-8"}, {".mjs", "text/javascript; charset=utf-8"},
    {".html", "text/html; charset=utf-8"}, {".css", "text/css; charset=utf-8"},
    {".json", "application/json"}, {".map", "application/json"}, {".svg", "image/svg+xml"},
    {".png", "image/png"}, {".jpg", "image/jpeg"}, {".ico", "image/x-icon"},
    {".txt", "text/plain; charset=utf-8"},
};

/* A path is served only if it is made of safe characters and no segment of it starts
 * with a dot: no "..", and no dotfile or dot folder (.git, .env). */
static int safe_path(const char *uri)
{
    if (uri[0] != '/' || strlen(uri) > 256 || strstr(uri, "/.") || strstr(uri, "//"))
        return 0;
    for (const char *c = uri; *c; c++)
        if (!isalnum((unsigned char)*c) && !strchr("/._-", *c))
            return 0;
    return 1;
}

/* The weight ("q") a request's Accept-Encoding gives a content coding: its own entry's,
 * else that of "*", else 0 (RFC 9110 12.5.3; no header: identity only). */
static double coding_weight(const char *accept, const char *coding)
{
    double own = -1, any = -1;
    for (const char *p = accept; *p;) {
        size_t n = strcspn(p, ",");
        char item[64];
        if (n < sizeof item) {
            memcpy(item, p, n);
            item[n] = '\0';
            char *name = item + strspn(item, " \t"), *semi = strchr(name, ';');
            double q = 1;
            if (semi) {
                *semi = '\0';
                char *qs = strstr(semi + 1, "q=");
                if (qs) {
                    char *end;
                    q = strtod(qs + 2, &end);
                    if (end == qs + 2 || !isfinite(q) || q < 0)
                        q = 0;
                }
            }
            name[strcspn(name, " \t")] = '\0';
            if (strcasecmp(name, coding) == 0)
                own = q;
            else if (strcmp(name, "*") == 0)
                any = q;
        }
        p += n;
        if (*p == ',')
            p++;
    }
    return own >= 0 ? own : any > 0 ? any : 0;
}

/* Opens rel (a safe_path without its leading "/") under the folder root for reading,
 * following no symbolic link on the way, neither the file's nor a folder's, and never
 * leaving root: openat2 with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS (Linux 5.6,
 * openat2(2)); on an older kernel, one openat with O_NOFOLLOW per segment. The root
 * itself is the operator's choice and may be a link. Returns the descriptor or -1. */
static int open_beneath(const char *root, const char *rel)
{
    int dir = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC), fd = -1;
    if (dir < 0)
        return -1;
#ifdef SYS_openat2
    struct open_how how = {.flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC,
                           .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS};
    fd = (int)syscall(SYS_openat2, dir, rel, &how, sizeof how);
    if (fd >= 0 || (errno != ENOSYS && errno != EPERM)) {
        close(dir);
        return fd;
    }
#endif
    char seg[257];
    for (const char *p = rel;;) {
        size_t n = strcspn(p, "/");
        if (n == 0 || n >= sizeof seg)
            break;
        memcpy(seg, p, n);
        seg[n] = '\0';
        int last = p[n] == '\0';
        int next = openat(dir, seg, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | (last ? 0 : O_DIRECTORY));
        close(dir);
        dir = -1;
        if (next < 0 || last) {
            fd = next;
            break;
        }
        dir = next;
        p += n + 1;
    }
    if (dir >= 0)
        close(dir);
    return fd;
}

/* Reads the regular file open on fd (closed here) into b, if it is not over the limit;
 * its stat in *st. Returns 0 or -1. */
static int read_regular(int fd, struct buf *b, struct stat *st)
{
    int rc = -1;
    char chunk[16384];
    if (fd < 0)
        return -1;
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode) || st->st_size > FILES_MAX_BYTES)
        goto out;
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || (n > 0 && buf_append(b, chunk, (size_t)n) < 0))
            goto out;
        if (n == 0)
            break;
    }
    rc = buf_append(b, "", 0) < 0 ? -1 : 0;
out:
    close(fd);
    return rc;
}

/* Answers a GET for a file under one of the --static folders, with an ETag from its
 * size and time so that a browser can revalidate with If-None-Match. A copy the build
 * compressed beforehand (FILE.br, FILE.gz, not older than FILE) is sent instead when the
 * request's Accept-Encoding takes it, brotli first, with Content-Encoding, its own ETag
 * and Vary: Accept-Encoding. Files are read into the response (they are small), never
 * through lws_serve_http_file, which builds its reply in a buffer that can still hold
 * pipelined requests. Returns 1 if answered. */
static int serve_static(struct server *srv, struct http_req *req, struct lws *wsi, const char *uri)
{
    static const struct {
        const char *suffix, *coding;
    } codings[] = {{".br", "br"}, {".gz", "gzip"}};
    char inm[256], accept[256];
    struct stat st;
    const char *type = NULL;

    if (!safe_path(uri))
        return 0;
    if (strcmp(uri, "/") == 0)
        uri = "/index.html";
    const char *dot = strrchr(uri, '.');
    for (size_t i = 0; dot && i < sizeof media_types / sizeof media_types[0]; i++)
        if (strcmp(dot, media_types[i].ext) == 0)
            type = media_types[i].type;
    if (!type)
        return 0;
    if (lws_hdr_copy(wsi, accept, sizeof accept, WSI_TOKEN_HTTP_ACCEPT_ENCODING) <= 0)
        accept[0] = '\0';
    for (size_t i = 0; i < srv->o->nstatic; i++) {
        const char *root = srv->o->static_dirs[i];
        struct buf content, copy;
        buf_init(&content, FILES_MAX_BYTES);
        if (read_regular(open_beneath(root, uri + 1), &content, &st) < 0) {
            buf_fini(&content);
            continue;
        }
        /* The coding with the highest weight whose copy is there and up to date. */
        const char *coding = NULL;
        double best = 0;
        char cpath[300];
        struct stat cst, chosen_st;
        for (size_t k = 0; k < sizeof codings / sizeof codings[0]; k++) {
            snprintf(cpath, sizeof cpath, "%s%s", uri + 1, codings[k].suffix);
            buf_init(&copy, FILES_MAX_BYTES);
            if (read_regular(open_beneath(root, cpath), &copy, &cst) < 0
                || cst.st_mtim.tv_sec < st.st_mtim.tv_sec
                || (cst.st_mtim.tv_sec == st.st_mtim.tv_sec
                    && cst.st_mtim.tv_nsec < st.st_mtim.tv_nsec)) {
                buf_fini(&copy);
                continue;
            }
            req->vary_ae = 1;
            double w = coding_weight(accept, codings[k].coding);
            if (w > best) {
                best = w;
                coding = codings[k].coding;
                buf_fini(&content);
                content = copy;
                chosen_st = cst;
            } else {
                buf_fini(&copy);
            }
        }
        if (coding)
            st = chosen_st;
        req->encoding = coding;
        snprintf(req->etag, sizeof req->etag, "\"%llx-%llx%s%s\"", (unsigned long long)st.st_size,
                 (unsigned long long)st.st_mtime, coding ? "-" : "", coding ? coding : "");
        /* The beacon's name does not change between releases, so browsers revalidate
         * after five minutes; the ETag makes that cheap. */
        req->cache = "public, max-age=300";
        if (lws_hdr_copy(wsi, inm, sizeof inm, WSI_TOKEN_HTTP_IF_NONE_MATCH) > 0
            && strstr(inm, req->etag)) {
            buf_fini(&content);
            http_answer(req, 304, NULL, NULL);
            return 1;
        }
        free(req->resp);
        req->resp = malloc(LWS_PRE + content.len + 1);
        if (!req->resp) {
            buf_fini(&content);
            req->etag[0] = '\0';
            req->cache = NULL;
            req->encoding = NULL;
            http_answer(req, 500, "cannot read the file", NULL);
            return 1;
        }
        memcpy(req->resp + LWS_PRE, content.data, content.len + 1);
        req->resp_len = content.len;
        buf_fini(&content);
        req->ctype = type;
        http_answer(req, 200, NULL, NULL);
        return 1;
    }
    return 0;
}

void files_start(struct server *srv, struct http_req *req)
{
    if (serve_static(srv, req, req->wsi, req->uri))
        return;
    req->close = http_has_body(req->wsi);
    http_reject(srv, req, 404, REJ_NOT_FOUND, "not found", NULL);
}
