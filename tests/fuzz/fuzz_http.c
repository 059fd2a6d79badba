/*
 * The collector's HTTP front. server_run (collector/server.h) runs in-process on its own
 * thread, on its own lws context listening on an ephemeral loopback port, with a store in
 * the harness's temporary directory, a probe token, a read token, a probe key, an origin
 * allowlist, a trusted proxy and a static directory, so that every route and check is
 * reachable. Each input is sent as the bytes of one connection: connect, send, wait
 * briefly for an answer to begin, half-close, read the answer until the server closes. Crashes and sanitizer reports in the server's
 * threads end the run as in any harness; besides, an answer must never hold a server path
 * (the temporary directory's name), and the server must close the half-closed connection
 * within CLOSE_MS. No change to the server was needed: it takes port 0 and a port file.
 * The rate limits are set out of reach so that every input is parsed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cidr.h"
#include "clock.h"
#include "fuzzkit.h"
#include "server.h"
#include "sign.h"
#include "store.h"

#define ANSWER_MS 50        /* how long an answer from another thread may take to begin */
#define CLOSE_MS 15000      /* --idle-timeout (5 s) and a reader queue under load */

static struct server_opts opts;
static struct sign_keys *keys;
static pthread_t thread;
static int port, running;
static char db[512], port_file[512], static_dir[512];

static void *serve(void *arg)
{
    char err[512];
    struct store *s = arg;
    if (server_run(&opts, s, err, sizeof err) < 0)
        fprintf(stderr, "fuzz_http: the collector did not start: %s\n", err);
    running = 0;
    return NULL;
}

/* Stops the server as SIGTERM does (its own handler) and waits for it to drain. */
static void stop(void)
{
    if (!running)
        return;
    raise(SIGTERM);
    pthread_join(thread, NULL);
    sign_keys_free(keys);
}

static void setup_files(void)
{
    char path[512], err[512];
    static const char key[] = "eu-west-1 fuzz-key-0123456789abcdef\n";
    static const char page[] = "<!doctype html><title>vigil</title>\n";

    fuzzkit_write("keys", key, sizeof key - 1, 0600, path, sizeof path);
    if (sign_keys_load(path, &keys, err, sizeof err) < 0) {
        fprintf(stderr, "fuzz_http: %s\n", err);
        abort();
    }
    snprintf(static_dir, sizeof static_dir, "%s/static", fuzzkit_dir());
    mkdir(static_dir, 0700);
    fuzzkit_write("static/index.html", page, sizeof page - 1, 0600, path, sizeof path);
    fuzzkit_write("static/vigil.js", "export{};\n", 10, 0600, path, sizeof path);
    snprintf(db, sizeof db, "%s/vigil.db", fuzzkit_dir());
    snprintf(port_file, sizeof port_file, "%s/port", fuzzkit_dir());
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    setup_files();
    opts.host = "127.0.0.1";
    opts.port_file = port_file;
    opts.origins[opts.norigins++] = "https://shop.example";
    cidr_parse("127.0.0.1/32", &opts.proxies[opts.nproxies++]);
    opts.country_header = "CF-IPCountry";
    opts.rate = opts.burst = opts.global_rate = 1e9;
    opts.max_conns = 64;
    opts.idle_timeout_s = 5;
    opts.queue_max = 10000;
    opts.batch_rows = 500;
    opts.batch_ms = 2;
    opts.token = "fuzz-probe-token-0123";
    opts.read_token = "fuzz-read-token-0123";
    opts.keys = keys;
    opts.db_path = db;
    opts.readers = 1;
    opts.read_timeout_ms = 2000;
    opts.retain_ms = 90LL * 86400000;
    opts.rum_refresh_ms = 60000;
    opts.static_dirs[opts.nstatic++] = static_dir;

    struct store *s = fuzzkit_store(db);
    running = 1;
    if (pthread_create(&thread, NULL, serve, s) != 0)
        abort();
    for (int i = 0; i < 500 && running && !port; i++) {
        FILE *f = fopen(port_file, "r");
        if (!f || fscanf(f, "%d", &port) != 1)
            port = 0;
        if (f)
            fclose(f);
        usleep(10000);
    }
    if (!port) {
        fprintf(stderr, "fuzz_http: the collector wrote no port\n");
        abort();
    }
    atexit(stop);
    return 0;
}

/* Waits for fd to be ready for events until deadline (monotonic ms). 1 ready, 0 not.
 * A signal does not end the wait: libFuzzer's -timeout timer (SIGALRM every few seconds)
 * interrupts poll() with EINTR, which once made a connection the server had answered and
 * closed look kept open (1 in 10,000 to 200,000 runs; every few thousand with -timeout=2). */
static int ready(int fd, short events, double deadline)
{
    struct pollfd p = {.fd = fd, .events = events};
    for (;;) {
        double left = deadline - clock_mono_ms();
        if (left <= 0)
            return 0;
        int n = poll(&p, 1, (int)left + 1);
        if (n == 1)
            return 1;
        if (n < 0 && errno != EINTR)
            return 0;
    }
}

/* What the server says of itself on a new connection (/metrics' queues and connections),
 * printed when a finding is about a connection it kept: is the service thread answering,
 * and what waits. */
static void ask(const char *path)
{
    char req[256], answer[65536];
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    size_t got = 0;
    double t0 = clock_mono_ms(), deadline = t0 + 20000;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
             "fuzz-read-token-0123\r\nConnection: close\r\n\r\n", path);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0
        || send(fd, req, strlen(req), MSG_NOSIGNAL) < 0) {
        fprintf(stderr, "fuzz_http: state: cannot ask: %s\n", strerror(errno));
        if (fd >= 0)
            close(fd);
        return;
    }
    while (got < sizeof answer - 1 && ready(fd, POLLIN, deadline)) {
        ssize_t n = recv(fd, answer + got, sizeof answer - 1 - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    answer[got] = '\0';
    fprintf(stderr, "fuzz_http: state: %s answered %zu bytes in %.0f ms\n", path, got,
            clock_mono_ms() - t0);
    for (char *line = strtok(answer, "\n"); line; line = strtok(NULL, "\n"))
        if (strstr(line, "HTTP/1.1") == line || (line[0] != '#'
            && (strstr(line, "queue") || strstr(line, "vigil_connections")
                || strstr(line, "{\"error"))))
            fprintf(stderr, "  %.300s\n", line);
}

/* What the server says of itself on new connections, printed when a finding is about a
 * connection it kept: is the service thread answering (/metrics: its queues and
 * connections), and is a reader (/v1/apps). */
static void server_state(void)
{
    ask("/metrics");
    ask("/v1/apps");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    char buf[32768];
    double deadline = clock_mono_ms() + CLOSE_MS;
    size_t sent = 0, got = 0;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rc = fd < 0 ? -1 : connect(fd, (struct sockaddr *)&a, sizeof a);
    if (rc < 0 && errno == EINTR) {
        /* A signal (libFuzzer's timer) interrupted connect: the connection goes on in the
         * background (POSIX connect(), EINTR); wait for it and take its outcome. */
        int soerr = 0;
        socklen_t len = sizeof soerr;
        rc = ready(fd, POLLOUT, deadline) && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0
             && soerr == 0 ? 0 : -1;
        if (soerr)
            errno = soerr;
    }
    if (rc < 0) {
        fprintf(stderr, "fuzz_http: cannot connect to the collector: %s\n", strerror(errno));
        abort();    /* the server stopped: that is a finding of its own */
    }
    /* The server may answer and close before it has read everything (a 413, a 431). */
    while (sent < size && ready(fd, POLLOUT, deadline)) {
        ssize_t n = send(fd, data + sent, size - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno != EAGAIN && errno != EINTR)
            break;
        sent += n > 0 ? (size_t)n : 0;
    }
    /* lws closes a connection when the client half-closes it, dropping an answer the
     * writer or a reader has not given yet; so a request that may be whole (it has the
     * blank line ending its headers) gets ANSWER_MS for its answer to begin first. */
    if (memmem(data, size, "\r\n\r\n", 4))
        ready(fd, POLLIN, clock_mono_ms() + ANSWER_MS);
    shutdown(fd, SHUT_WR);
    for (;;) {
        if (!ready(fd, POLLIN, deadline)) {
            fprintf(stderr, "fuzz_http: the collector kept a half-closed connection open"
                    " for %.0f ms\n", clock_mono_ms() - (deadline - CLOSE_MS));
            fprintf(stderr, "fuzz_http: %zu bytes of answer came before\n", got);
            server_state();
            /* FUZZ_HTTP_GDB=script: what lws holds of each connection, by gdb attached to
             * this process (a finding that is about lws's state). */
            if (getenv("FUZZ_HTTP_GDB")) {
                char cmd[1024];
                struct sockaddr_in me;
                socklen_t mlen = sizeof me;
                getsockname(fd, (struct sockaddr *)&me, &mlen);
                snprintf(cmd, sizeof cmd, "ss -tanpie '( sport = :%d or dport = :%d )' >&2;"
                         " ls -l /proc/%d/fd | grep socket >&2", ntohs(me.sin_port),
                         ntohs(me.sin_port), (int)getpid());
                if (system(cmd) != 0)
                    fprintf(stderr, "fuzz_http: ss failed\n");
                snprintf(cmd, sizeof cmd, "gdb -q -p %d -batch -x %s >&2", (int)getpid(),
                         getenv("FUZZ_HTTP_GDB"));
                if (system(cmd) != 0)
                    fprintf(stderr, "fuzz_http: gdb failed\n");
            }
            abort();
        }
        char chunk[16384];
        ssize_t n = recv(fd, chunk, sizeof chunk, MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n <= 0)
            break;
        /* The start of the answer is kept for the check below: error bodies are short. */
        size_t keep = (size_t)n < sizeof buf - 1 - got ? (size_t)n : sizeof buf - 1 - got;
        memcpy(buf + got, chunk, keep);
        got += keep;
    }
    close(fd);
    buf[got] = '\0';
    if (getenv("FUZZ_HTTP_ECHO"))   /* to see what the seeds get: README.md */
        fprintf(stderr, "%s\n----\n", buf);
    if (memmem(buf, got, fuzzkit_dir(), strlen(fuzzkit_dir()))) {
        fprintf(stderr, "fuzz_http: an answer holds a server path:\n%s\n", buf);
        abort();
    }
    return 0;
}
