#include "peers.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

int peers_address(int fd, char *out, size_t outlen)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getpeername(fd, (struct sockaddr *)&ss, &len) != 0)
        return -1;
    if (ss.ss_family == AF_INET)
        return inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, out,
                         (socklen_t)outlen) ? 0 : -1;
    if (ss.ss_family != AF_INET6)
        return -1;
    const struct in6_addr *a6 = &((struct sockaddr_in6 *)&ss)->sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(a6))
        return inet_ntop(AF_INET, &a6->s6_addr[12], out, (socklen_t)outlen) ? 0 : -1;
    return inet_ntop(AF_INET6, a6, out, (socklen_t)outlen) ? 0 : -1;
}

/* Linear probing from the address's FNV-1a hash. A slot, once used, is never emptied:
 * one with no open connection is taken over by the next new address that passes it, so
 * a chain is never cut. */
int peers_open(struct peers *p, const char *addr, int max)
{
    uint32_t h = 2166136261u;
    int reuse = -1;

    if (strlen(addr) >= PEERS_ADDR_LEN)
        return -1;
    for (const char *c = addr; *c; c++)
        h = (h ^ (unsigned char)*c) * 16777619u;
    for (uint32_t k = 0; k < PEERS_SLOTS; k++) {
        int i = (int)((h + k) % PEERS_SLOTS);
        if (strcmp(p->slot[i].addr, addr) == 0) {
            if (p->slot[i].open >= max)
                return -2;
            p->slot[i].open++;
            return i;
        }
        if (p->slot[i].open == 0 && reuse < 0)
            reuse = i;
        if (p->slot[i].addr[0] == '\0')
            break;
    }
    if (reuse < 0)
        return -1;
    snprintf(p->slot[reuse].addr, sizeof p->slot[reuse].addr, "%s", addr);
    p->slot[reuse].open = 1;
    return reuse;
}

void peers_close(struct peers *p, int slot)
{
    if (slot >= 0 && slot < PEERS_SLOTS && p->slot[slot].open > 0)
        p->slot[slot].open--;
}
