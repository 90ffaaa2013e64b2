/*
 * link.c - signed links for members (see link.h).
 */
#include "link.h"

#include <sodium.h>
#include <string.h>

#include "error.h"
#include "mem.h"

#define TOKEN_BYTES 16 /* 128 bits of the HMAC */

int tw_link_token(const char *secret, const char *purpose, const char *ref,
                  char *out)
{
    out[0] = '\0';
    if (!secret || strlen(secret) < TW_LINK_SECRET_MIN || sodium_init() < 0)
        return TW_PERMFAIL;
    unsigned char key[crypto_auth_hmacsha256_KEYBYTES];
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    /* Any length of secret becomes a full-size key. */
    crypto_hash_sha256(key, (const unsigned char *)secret, strlen(secret));
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, sizeof key);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)purpose,
                                  strlen(purpose));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)":", 1);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)ref, strlen(ref));
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_bin2base64(out, TW_LINK_TOKEN_MAX, mac, TOKEN_BYTES,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(key, sizeof key);
    return TW_OK;
}

int tw_link_check(const char *secret, const char *purpose, const char *ref,
                  const char *token)
{
    char want[TW_LINK_TOKEN_MAX];
    if (!token || tw_link_token(secret, purpose, ref, want) != TW_OK)
        return 0;
    size_t n = strlen(want);
    if (strlen(token) != n)
        return 0;
    return sodium_memcmp(want, token, n) == 0;
}

char *tw_link_url(const char *base, const char *secret, const char *purpose,
                  const char *ref)
{
    char tok[TW_LINK_TOKEN_MAX];
    if (tw_link_token(secret, purpose, ref, tok) != TW_OK)
        return NULL;
    size_t bl = strlen(base);
    while (bl > 0 && base[bl - 1] == '/')
        bl--;
    return tw_asprintf("%.*s/%s/%s?t=%s", (int)bl, base, purpose, ref, tok);
}
