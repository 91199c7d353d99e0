/* Unit tests for auth.c: issue and verify, and every way a token must be refused. */
#include "auth.h"
#include "tap.h"

#include <jwt.h>
#include <stdlib.h>
#include <time.h>

static char *forge(const char *secret, jwt_alg_t alg, long exp, const char *sub)
{
    jwt_t *j;
    jwt_new(&j);
    if (sub) jwt_add_grant(j, "sub", sub);
    jwt_add_grant(j, "role", "player");
    jwt_add_grant(j, "name", "x");
    if (exp) jwt_add_grant_int(j, "exp", exp);
    jwt_set_alg(j, alg, (const unsigned char *)secret, secret ? (int)strlen(secret) : 0);
    char *t = jwt_encode_str(j);
    jwt_free(j);
    return t;
}

int main(void)
{
    struct config cfg = {0};
    const char *secret = "0123456789abcdef0123456789abcdef";
    cfg.jwt_secret = (char *)secret;
    cfg.token_ttl_s = 3600;
    ok(auth_init(&cfg) == 0, "init with a secret");

    struct identity guest, back;
    char why[128];
    auth_new_guest(&guest);
    ok(util_is_uuid(guest.player_id), "guest id is a uuid");
    ok(strncmp(guest.name, "Guest-", 6) == 0, "guest name");
    char *tok = auth_issue(&guest, 0);
    ok(tok != NULL, "issued");
    is_int(auth_verify(tok, &back, why, sizeof why), 0, "own token verifies");
    is_str(back.player_id, guest.player_id, "same player");
    is_str(back.role, "player", "role");

    char *tampered = strdup(tok);
    tampered[strlen(tampered) - 3] ^= 1;
    is_int(auth_verify(tampered, &back, why, sizeof why), -1, "tampered signature refused");
    free(tampered);
    free(tok);

    long now = (long)time(NULL);
    char *expired = forge(secret, JWT_ALG_HS256, now - 10, guest.player_id);
    is_int(auth_verify(expired, &back, why, sizeof why), -1, "expired refused");
    ok(strstr(why, "expired") != NULL, "says expired: %s", why);
    free(expired);

    char *no_exp = forge(secret, JWT_ALG_HS256, 0, guest.player_id);
    is_int(auth_verify(no_exp, &back, why, sizeof why), -1, "token without exp refused");
    free(no_exp);

    char *hs512 = forge(secret, JWT_ALG_HS512, now + 100, guest.player_id);
    is_int(auth_verify(hs512, &back, why, sizeof why), -1, "HS512 with the same key refused");
    free(hs512);

    char *none = forge(NULL, JWT_ALG_NONE, now + 100, guest.player_id);
    ok(none != NULL, "made an alg=none token");
    is_int(auth_verify(none, &back, why, sizeof why), -1, "alg none refused");
    free(none);

    char *other_key =
        forge("another-secret-another-secret-xx", JWT_ALG_HS256, now + 100, guest.player_id);
    is_int(auth_verify(other_key, &back, why, sizeof why), -1, "other key refused");
    free(other_key);

    char *bad_sub = forge(secret, JWT_ALG_HS256, now + 100, "not-a-uuid");
    is_int(auth_verify(bad_sub, &back, why, sizeof why), -1, "bad sub refused");
    free(bad_sub);

    is_int(auth_verify("garbage", &back, why, sizeof why), -1, "garbage refused");
    auth_free();

    /* A secret longer than a SHA-256 block is used whole, as HMAC specifies. */
    const char *long_secret =
        "a-very-long-secret-that-is-longer-than-sixty-four-bytes-for-hmac-0123456789";
    cfg.jwt_secret = (char *)long_secret;
    ok(auth_init(&cfg) == 0, "init with a long secret");
    char *with_long = forge(long_secret, JWT_ALG_HS256, now + 100, guest.player_id);
    is_int(auth_verify(with_long, &back, why, sizeof why), 0,
           "a token signed with the whole long secret verifies");
    free(with_long);
    auth_free();
    return done_testing();
}
