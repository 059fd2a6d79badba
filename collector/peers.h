/*
 * peers: open connections per client address, for --max-per-address.
 *
 * A fixed table (no allocation) on the service thread: peers_open counts a new
 * connection from an address and says whether it is within the cap; peers_close gives it
 * back. So that one address holding thousands of idle or slow connections (each within
 * --idle-timeout) cannot use up --max-connections for everyone else.
 */
#ifndef VIGIL_PEERS_H
#define VIGIL_PEERS_H

#include <stddef.h>

#define PEERS_SLOTS 8192            /* addresses counted at once; more are not capped */
#define PEERS_ADDR_LEN 48           /* INET6_ADDRSTRLEN and a NUL */

struct peers {
    struct {
        char addr[PEERS_ADDR_LEN];  /* "" for a slot never used */
        int open;
    } slot[PEERS_SLOTS];
};

/* Counts a connection from addr (peers_address). Returns the slot to hand back to
 * peers_close (>= 0), -1 for a connection not counted (the table is full of addresses
 * with open connections), or -2 when the address already holds max: refuse it. */
int peers_open(struct peers *p, const char *addr, int max);

/* Gives back a connection counted by peers_open in slot (no-op for -1). */
void peers_close(struct peers *p, int slot);

/* The peer address of fd as text ("::ffff:10.0.0.1" as "10.0.0.1"); 0 or -1. */
int peers_address(int fd, char *out, size_t outlen);

#endif
