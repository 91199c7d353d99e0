/* Unit tests for cidr.c: parsing range lists (IPv4, IPv6, bare hosts, edge prefixes, garbage),
 * membership, and the client address behind trusted proxies (the right-most untrusted entry of
 * X-Forwarded-For, believed only from a trusted peer). */
#include "cidr.h"
#include "tap.h"

#include <string.h>

static struct cidr_list list(const char *text)
{
    struct cidr_list l;
    char err[128];
    ok(cidr_list_parse(text, &l, err, sizeof err) == 0, "parses \"%s\"", text);
    return l;
}

static void parsing(void)
{
    struct cidr_list l;
    char err[128];
    l = list("");
    is_int(l.n, 0, "the empty list");
    l = list(" 10.0.0.0/8 , 127.0.0.1,::1/128, fd00::/8 ");
    is_int(l.n, 4, "four ranges, spaces ignored");
    const char *bad[] = {"10.0.0.0/33", "::1/129",    "10.0.0.0/", "10.0.0/8",     "nginx",
                         "1.2.3.4/-1",  "1.2.3.4/8x", "/8",        "1.2.3.4/0008", "1.2.3.256"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ok(cidr_list_parse(bad[i], &l, err, sizeof err) == -1 && strstr(err, "is not an address"),
           "refused: %s (%s)", bad[i], err);
        is_int(l.n, 0, "and the list is left empty");
    }
    char many[1024] = "";
    for (int i = 0; i <= CIDR_MAX; i++)
        strcat(many, "10.0.0.1,");
    ok(cidr_list_parse(many, &l, err, sizeof err) == -1 && strstr(err, "more than"),
       "more than %d ranges refused", CIDR_MAX);
}

static void membership(void)
{
    struct cidr_list l = list("10.0.0.0/8,192.168.1.7,2001:db8::/32,172.16.0.0/12");
    ok(cidr_list_contains(&l, "10.200.3.4"), "inside a /8");
    ok(!cidr_list_contains(&l, "11.0.0.1"), "outside it");
    ok(cidr_list_contains(&l, "192.168.1.7") && !cidr_list_contains(&l, "192.168.1.8"),
       "a bare address is one host");
    ok(cidr_list_contains(&l, "172.31.255.255") && !cidr_list_contains(&l, "172.32.0.0"),
       "a /12 ends where it should");
    ok(cidr_list_contains(&l, "2001:db8:ffff::1") && !cidr_list_contains(&l, "2001:db9::1"),
       "IPv6 ranges");
    ok(cidr_list_contains(&l, "::ffff:10.1.2.3"), "an IPv4-mapped IPv6 address is its IPv4");
    ok(!cidr_list_contains(&l, "not an address") && !cidr_list_contains(&l, ""),
       "garbage is in no range");
    struct cidr_list all4 = list("0.0.0.0/0"), all6 = list("::/0");
    ok(cidr_list_contains(&all4, "8.8.8.8") && !cidr_list_contains(&all4, "2001:db8::1"),
       "0.0.0.0/0 is every IPv4 address and no IPv6 one");
    ok(cidr_list_contains(&all6, "2001:db8::1") && cidr_list_contains(&all6, "8.8.8.8"),
       "::/0 is everything");
}

static void client(const struct cidr_list *l, const char *peer, const char *xff, const char *want,
                   const char *name)
{
    char out[CIDR_ADDR_LEN];
    cidr_client_address(l, peer, xff, out);
    is_str(out, want, "%s", name);
}

static void forwarded(void)
{
    struct cidr_list none = list(""), l = list("127.0.0.1,10.0.0.0/8");
    client(&none, "127.0.0.1", "1.2.3.4", "127.0.0.1", "no trusted proxies: the header is ignored");
    client(&l, "8.8.8.8", "1.2.3.4", "8.8.8.8", "from an untrusted peer: ignored (forgeable)");
    client(&l, "127.0.0.1", NULL, "127.0.0.1", "a trusted peer without the header is the client");
    client(&l, "127.0.0.1", "1.2.3.4", "1.2.3.4", "one proxy: the address it saw");
    client(&l, "127.0.0.1", "6.6.6.6, 1.2.3.4", "1.2.3.4",
           "a client's own forged entry on the left is not believed");
    client(&l, "127.0.0.1", "6.6.6.6, 1.2.3.4, 10.1.1.1", "1.2.3.4",
           "trusted proxies on the right are skipped");
    client(&l, "127.0.0.1", "10.9.9.9,10.1.1.1", "10.9.9.9",
           "every entry trusted: the left-most one stands");
    client(&l, "127.0.0.1", "1.2.3.4, garbage", "127.0.0.1",
           "garbage at the right end: the peer stands");
    client(&l, "127.0.0.1", "garbage, 1.2.3.4", "1.2.3.4", "garbage further left is never reached");
    client(&l, "127.0.0.1", "garbage, 10.1.1.1", "10.1.1.1",
           "garbage after trusted entries: the last address taken stands");
    client(&l, "127.0.0.1", "1.2.3.4:5678", "1.2.3.4", "a port after IPv4 is dropped");
    client(&l, "127.0.0.1", "[2001:db8::7]:443", "2001:db8::7", "bracketed IPv6 with a port");
    client(&l, "127.0.0.1", "2001:db8::7", "2001:db8::7", "plain IPv6");
    client(&l, "127.0.0.1", "::ffff:1.2.3.4", "1.2.3.4", "IPv4-mapped IPv6 shown as IPv4");
    /* One spelling per client, or each spelling would be a fresh per-address bucket. */
    client(&l, "127.0.0.1", "2001:DB8:0:0::7", "2001:db8::7", "IPv6 in capitals and long form");
    client(&l, "127.0.0.1", "[2001:0db8::0007]:1", "2001:db8::7", "leading zeros, bracketed");
    client(&l, "127.0.0.1", "::FFFF:1.2.3.4", "1.2.3.4", "capital IPv4-mapped");
    client(&l, "127.0.0.1", "::ffff:0102:0304", "1.2.3.4", "IPv4-mapped written in hex");
    client(&l, "127.0.0.1", "0:0:0:0:0:ffff:1.2.3.4", "1.2.3.4", "IPv4-mapped in full");
    client(&l, "::ffff:127.0.0.1", "1.2.3.4", "1.2.3.4", "a dual-stack peer is trusted as IPv4");
    client(&none, "::ffff:8.8.8.8", NULL, "8.8.8.8", "a dual-stack peer is written as IPv4");
    client(&none, "2001:DB8::1", NULL, "2001:db8::1", "a peer in capitals is written canonically");
    client(&none, "not-an-address", NULL, "not-an-address", "a peer that is no address stays");
    client(&l, "127.0.0.1", "", "127.0.0.1", "an empty header");
    client(&l, "127.0.0.1", ",,,", "127.0.0.1", "only commas");
    char big[CIDR_XFF_MAX + 16];
    memset(big, ' ', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    memcpy(big + sizeof big - 8, "1.2.3.4", 7);
    client(&l, "127.0.0.1", big, "127.0.0.1", "a header over the limit is ignored");
}

int main(void)
{
    parsing();
    membership();
    forwarded();
    return done_testing();
}
