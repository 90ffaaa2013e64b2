/*
 * link.h - signed links for members: the status page and the survey.
 *
 * A member sees a case only with its ref plus their email, or with a link
 * we signed (DESIGN.md "Security and limits"). The link carries a token:
 * HMAC-SHA256 over "PURPOSE:REF" with the site secret (site.secret),
 * base64url without padding, first 128 bits. The engine (survey rows), the
 * notifier (links in emails) and the portal (checking them) all use these
 * two functions, so a link made by one is accepted by the other.
 *
 *   {site.portal_url}/status/{ref}?t={token "status"}
 *   {site.portal_url}/survey/{ref}?t={token "survey"}
 */
#ifndef TW_LINK_H
#define TW_LINK_H

#include <stddef.h>

#define TW_LINK_TOKEN_MAX  32 /* buffer size: 22 characters and NUL */
#define TW_LINK_SECRET_MIN 32 /* bytes of site.secret we insist on */

/* tw_link_token - the token for PURPOSE ("status", "survey") and REF into
 * OUT (TW_LINK_TOKEN_MAX bytes); TW_OK, or TW_PERMFAIL when SECRET is
 * shorter than TW_LINK_SECRET_MIN */
int tw_link_token(const char *secret, const char *purpose, const char *ref,
                  char *out);
/* tw_link_check - whether TOKEN is the token for PURPOSE and REF (compared
 * in constant time) */
int tw_link_check(const char *secret, const char *purpose, const char *ref,
                  const char *token);
/* tw_link_url - "{base}/{purpose}/{ref}?t={token}" (caller frees), NULL when
 * the secret is too short */
char *tw_link_url(const char *base, const char *secret, const char *purpose,
                  const char *ref);

#endif
