#include "cidr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Address text into 16 bytes (IPv4 mapped into IPv6). Returns 0, or -1 if it is no address. */
static int parse_addr(const char *text, unsigned char out[16])
{
    struct in_addr v4;
    if (inet_pton(AF_INET, text, &v4) == 1) {
        memset(out, 0, 10);
        out[10] = out[11] = 0xff;
        memcpy(out + 12, &v4, 4);
        return 0;
    }
    return inet_pton(AF_INET6, text, out) == 1 ? 0 : -1;
}

static int is_v4_mapped(const unsigned char a[16])
{
    static const unsigned char prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return memcmp(a, prefix, 12) == 0;
}

/* One range: "addr" or "addr/bits". Returns 0 or -1. */
static int parse_range(const char *text, struct cidr *out)
{
    char addr[CIDR_ADDR_LEN];
    const char *slash = strchr(text, '/');
    size_t n = slash ? (size_t)(slash - text) : strlen(text);
    if (n == 0 || n >= sizeof addr) return -1;
    memcpy(addr, text, n);
    addr[n] = '\0';
    if (parse_addr(addr, out->addr) < 0) return -1;
    int v4 = strchr(addr, ':') == NULL, max = v4 ? 32 : 128;
    int bits = max;
    if (slash) {
        char *end;
        const char *b = slash + 1;
        if (*b < '0' || *b > '9' || strlen(b) > 3) return -1;
        long v = strtol(b, &end, 10);
        if (*end || v > max) return -1;
        bits = (int)v;
    }
    out->bits = v4 ? bits + 96 : bits;
    return 0;
}

int cidr_list_parse(const char *text, struct cidr_list *out, char *err, size_t errlen)
{
    out->n = 0;
    char buf[2048];
    if (strlen(text) >= sizeof buf) {
        snprintf(err, errlen, "the list is longer than %zu characters", sizeof buf - 1);
        return -1;
    }
    size_t k = 0;
    for (const char *p = text; *p; p++)
        if (*p != ' ' && *p != '\t') buf[k++] = *p;
    buf[k] = '\0';
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        if (out->n == CIDR_MAX || parse_range(tok, &out->range[out->n]) < 0) {
            if (out->n == CIDR_MAX)
                snprintf(err, errlen, "more than %d ranges", CIDR_MAX);
            else
                snprintf(err, errlen, "\"%.60s\" is not an address or address/bits", tok);
            out->n = 0;
            return -1;
        }
        out->n++;
    }
    return 0;
}

static int in_range(const struct cidr *r, const unsigned char a[16])
{
    int full = r->bits / 8, rest = r->bits % 8;
    if (memcmp(r->addr, a, (size_t)full) != 0) return 0;
    if (!rest) return 1;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (r->addr[full] & mask) == (a[full] & mask);
}

static int contains(const struct cidr_list *list, const unsigned char a[16])
{
    for (int i = 0; i < list->n; i++)
        if (in_range(&list->range[i], a)) return 1;
    return 0;
}

int cidr_list_contains(const struct cidr_list *list, const char *ip)
{
    unsigned char a[16];
    return parse_addr(ip, a) == 0 && contains(list, a);
}

/* The entry xff[start, end) without spaces, into out[CIDR_ADDR_LEN]: its address text, a port
 * after an IPv4 address ("1.2.3.4:5678") or brackets around IPv6 ("[::1]:80") dropped.
 * Returns 0, or -1 when it is no address. */
static int entry_address(const char *start, const char *end, char *out, unsigned char a[16])
{
    while (start < end && (*start == ' ' || *start == '\t'))
        start++;
    while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    if (*start == '[') {
        const char *close = memchr(start, ']', (size_t)(end - start));
        if (!close) return -1;
        start++, end = close;
    } else {
        const char *colon = memchr(start, ':', (size_t)(end - start));
        if (colon && !memchr(colon + 1, ':', (size_t)(end - colon - 1))) end = colon;
    }
    size_t n = (size_t)(end - start);
    if (n == 0 || n >= CIDR_ADDR_LEN) return -1;
    memcpy(out, start, n);
    out[n] = '\0';
    return parse_addr(out, a);
}

/* One spelling per address, so every limit keyed by it sees one client: IPv4 (mapped or not)
 * as a.b.c.d, IPv6 as inet_ntop writes it (lower case, zeros compressed). */
static void canonical(const unsigned char a[16], char *out)
{
    if (is_v4_mapped(a))
        inet_ntop(AF_INET, a + 12, out, CIDR_ADDR_LEN);
    else
        inet_ntop(AF_INET6, a, out, CIDR_ADDR_LEN);
}

void cidr_client_address(const struct cidr_list *trusted, const char *peer, const char *xff,
                         char *out)
{
    unsigned char a[16];
    if (parse_addr(peer, a) < 0) {
        snprintf(out, CIDR_ADDR_LEN, "%s", peer);
        return;
    }
    canonical(a, out);
    if (!xff || !*xff || strlen(xff) > CIDR_XFF_MAX || !contains(trusted, a)) return;
    const char *end = xff + strlen(xff);
    while (end > xff) {
        const char *start = end;
        while (start > xff && start[-1] != ',')
            start--;
        char entry[CIDR_ADDR_LEN];
        if (entry_address(start, end, entry, a) < 0) return;
        canonical(a, out);
        if (!contains(trusted, a)) return;
        end = start > xff ? start - 1 : start;
    }
}
