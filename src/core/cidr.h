/* cidr.h - address ranges (CIDR lists) and the client address behind trusted proxies.
 *
 * A server behind nginx sees nginx's address on every socket; the client's is in the
 * X-Forwarded-For header that the proxy appends. That header is believed only from peers an
 * operator listed (--trusted-proxies): anyone else could write any address in it and escape
 * every per-address limit. Pure functions on caller-owned values; any thread. */
#ifndef MT_CIDR_H
#define MT_CIDR_H

#include <stddef.h>

#define CIDR_MAX 32       /* ranges in one list */
#define CIDR_XFF_MAX 1024 /* a longer X-Forwarded-For is ignored (the peer is the client) */
#define CIDR_ADDR_LEN 48  /* room for any IPv6 address as text */

struct cidr {
    unsigned char addr[16]; /* IPv4 as ::ffff:a.b.c.d, so one comparison serves both */
    int bits;               /* prefix length over those 128 bits */
};

struct cidr_list {
    struct cidr range[CIDR_MAX];
    int n;
};

/* Parses a comma-separated list of ranges ("10.0.0.0/8, 127.0.0.1, ::1/128"; a bare address is
 * one host; spaces ignored; "" is the empty list). Returns 0, or -1 with err naming the bad
 * entry (the list is then empty). */
int cidr_list_parse(const char *text, struct cidr_list *out, char *err, size_t errlen);

/* Whether address text ip (IPv4, IPv6, or IPv4-mapped IPv6) is in one of the list's ranges. An
 * unparsable address is in none. */
int cidr_list_contains(const struct cidr_list *list, const char *ip);

/* The client address of a connection from peer that carried X-Forwarded-For xff (NULL or ""
 * when absent), into out[CIDR_ADDR_LEN]: peer itself unless peer is trusted; then, walking xff
 * from the right, the first address that is not itself trusted (the standard rule: each proxy
 * appends the address it received from, so only the right-most entries were written by
 * proxies we trust). An entry that is not an address stops the walk: the last address taken
 * stands (peer when none). A header over CIDR_XFF_MAX bytes is ignored. The address is
 * written in one canonical spelling (IPv4 and IPv4-mapped IPv6 as a.b.c.d, IPv6 as inet_ntop
 * writes it), so "2001:DB8::1" and "2001:db8:0::1" are one client to every per-address limit;
 * a peer that is no address is copied as it is. */
void cidr_client_address(const struct cidr_list *trusted, const char *peer, const char *xff,
                         char *out);

#endif
