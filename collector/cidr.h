/*
 * cidr: address ranges ("10.0.0.0/8", "::1"), for the proxies whose X-Forwarded-For the
 * collector believes (--trust-proxy).
 */
#ifndef VIGIL_CIDR_H
#define VIGIL_CIDR_H

struct cidr {
    int family;                 /* AF_INET or AF_INET6 */
    unsigned char addr[16];
    int bits;
};

/* Parses "10.0.0.0/8", "::1" or "192.168.1.7" into c. Returns 0 or -1. */
int cidr_parse(const char *text, struct cidr *c);

/* 1 when the address text (of c's family) lies in c. */
int cidr_contains(const struct cidr *c, const char *text);

#endif
