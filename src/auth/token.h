/*
 * src/auth/token.h — Docker registry token authentication: verifying Bearer JWTs.
 *
 * An authorization service (docker_auth, Harbor core, GitLab, a test issuer)
 * signs a JWT that lists what its bearer may do; cairn verifies it offline
 * with public keys from the configuration, as Distribution's `auth.token`
 * does (https://distribution.github.io/distribution/spec/auth/jwt/).
 *
 * What token_verify() accepts (anything else is -EACCES):
 * - A compact JWS "<header>.<claims>.<signature>", each part strict
 *   base64url without padding, at most TOKEN_MAX_LENGTH bytes in all; header
 *   and claims are JSON objects without duplicate keys (jansson,
 *   JSON_REJECT_DUPLICATES). A header with `crit` is refused.
 * - `alg` RS256 (RSASSA-PKCS1-v1_5 SHA-256, RSA key of 2048 bits or more)
 *   or ES256 (ECDSA P-256 SHA-256, signature as raw r||s, 64 bytes). `none`,
 *   HS*, PS*, ES384... are refused, and so is an alg that does not fit the
 *   type of the key that was found (an RSA key can never verify ES256 and no
 *   public key is ever used as an HMAC secret).
 * - The signing key, chosen in this order (Distribution's order):
 *   1. `x5c` in the header: the certificate chain (standard base64 DER, leaf
 *      first, at most 8) must verify, at `now`, up to a certificate of the
 *      root bundle (any certificate of the bundle is a trust anchor, as in
 *      Go's x509.CertPool); the leaf's key signs. No bundle: refused.
 *   2. `kid` in the header: a JWKS key with that `kid` (JWKS keys win a
 *      collision), or a root bundle certificate whose public key has that
 *      ID, either as its RFC 7638 JWK thumbprint (SHA-256, base64url: what
 *      Distribution 3 computes for RSA roots; for EC roots Distribution 3.0
 *      hashes the curve's generator instead of the key, so its EC kids are
 *      not accepted here) or as its libtrust key ID (SHA-256 of the DER
 *      SubjectPublicKeyInfo, first 240 bits, base32 in 12 groups of 4 joined
 *      by ':': what Distribution 2.x accepts, e.g. "ABCD:EFGH:...").
 *   3. Neither: refused. An embedded `jwk` header is never trusted by itself
 *      and is ignored.
 * - Claims, checked only after the signature verified: `iss` equal to the
 *   configured issuer; `aud` (a string, or an array of strings) containing
 *   the configured service; `exp` required; `nbf` and `iat` optional; the
 *   times are NumericDates and TOKEN_LEEWAY_SECONDS of clock skew is allowed
 *   on each side (`iat` may not be more than the leeway in the future).
 *   `sub` (optional string) is the user name. `access` (optional: none grants
 *   nothing) is an array of {"type", "name", "actions": [strings]}; any other
 *   shape refuses the whole token.
 *
 * Invariants: a `struct token_verifier` is immutable after creation (keys,
 * roots, issuer, service) and may be shared by any number of threads; a
 * reload builds a new one. Error messages say what failed but never quote the
 * token or any part of it. A `struct token_grant` is owned by the caller and
 * released with token_grant_release().
 *
 *     struct token_verifier *verifier;
 *     struct token_settings settings = {.issuer = "auth.example", .service = "registry",
 *                                       .root_certificate_bundle = "/etc/cairn/issuer.pem"};
 *     if (token_verifier_create(&settings, &verifier) < 0)
 *         log_error("%s", error_message());
 *     struct token_grant grant;
 *     if (token_verify(verifier, bearer, bearer_length, time(NULL), &grant) < 0)
 *         ... 401 with token_challenge_format(..., "invalid_token") ...
 *     else if (!token_grant_allows(&grant, "team-a/app", ACCESS_PULL | ACCESS_PUSH))
 *         ... 401 with token_challenge_format(..., "insufficient_scope"): as
 *         Distribution does, so that the client fetches a token for that scope ...
 *     token_grant_release(&grant);
 *     token_verifier_free(verifier);
 */
#ifndef CAIRN_SRC_AUTH_TOKEN_H
#define CAIRN_SRC_AUTH_TOKEN_H

#include <stddef.h>
#include <time.h>

#include <openssl/types.h>

#include "src/auth/access_rules.h" /* the ACCESS_* actions */

#define TOKEN_MAX_LENGTH 16384
#define TOKEN_LEEWAY_SECONDS 60

struct token_verifier;

/* What a verifier is built from (auth.token in the configuration): the
 * strings are the caller's and need only live through
 * token_verifier_create(). */
struct token_settings {
    const char *issuer;                  /* `iss` the tokens must carry */
    const char *service;                 /* what `aud` must contain */
    const char *root_certificate_bundle; /* PEM file of trusted certificates, or NULL */
    const char *jwks;                    /* JSON Web Key Set file, or NULL */
};

/* One entry of the `access` claim, as the token states it. */
struct token_access {
    char *type;     /* "repository", "registry", ... */
    char *name;     /* "team-a/app", "catalog", ... */
    char **actions; /* "pull", "push", "delete", "*", ... */
    size_t action_count;
};

/* What a verified token grants. */
struct token_grant {
    char *subject;     /* `sub`, or NULL */
    time_t expires_at; /* `exp` */
    struct token_access *access;
    size_t access_count;
};

/* Builds a verifier from settings->issuer and service (both required) and
 * settings->root_certificate_bundle (PEM certificates) and/or
 * settings->jwks (a JSON Web Key Set file: {"keys": [...]}, RSA
 * and EC P-256 keys with a `kid`; keys of other types, or whose `use` is not
 * "sig", or whose `alg` is neither RS256 nor ES256, are skipped). At least
 * one usable key or certificate is required. 0, or -EINVAL / -errno with the
 * file and the reason in error_message(), -ENOMEM. */
int token_verifier_create(const struct token_settings *settings, struct token_verifier **out);

/* NULL is allowed. */
void token_verifier_free(struct token_verifier *verifier);

/* Verifies `jwt` (`length` bytes, the value after "Bearer ") at time `now`.
 * 0 and `*out` filled (release it), or -EACCES with the reason in
 * error_message() and `*out` zeroed (releasing it is harmless); -ENOMEM. */
int token_verify(const struct token_verifier *verifier, const char *jwt, size_t length, time_t now,
                 struct token_grant *out);

/* 1 when the grant allows every action in `actions` (ACCESS_PULL, _PUSH,
 * _DELETE; the token's "pull", "push", "delete" or "*") on `repository`
 * (type "repository", exact name; entries for the same repository add up).
 * With repository NULL and actions == ACCESS_CATALOG: whether the grant holds
 * type "registry", name "catalog" with action "*" (what Distribution asks
 * for). 0 otherwise, including for no action at all. */
int token_grant_allows(const struct token_grant *grant, const char *repository, unsigned actions);

/* Frees what token_verify() put in the grant and zeroes it. */
void token_grant_release(struct token_grant *grant);

/* Writes a WWW-Authenticate value:
 *   Bearer realm="<realm>",service="<service>"[,scope="<scope>"][,error="<error>"]
 * where the scope is "repository:<name>:<actions>" (actions among pull, push,
 * delete, in that order, comma-separated) when `repository` is given, or
 * "registry:catalog:*" when repository is NULL and actions has
 * ACCESS_CATALOG, and absent otherwise (or with no actions). `error` is NULL,
 * "invalid_token" or "insufficient_scope" (RFC 6750). '"' and '\' are
 * escaped. Returns the length written; -EINVAL when a value holds a control
 * character; -ENAMETOOLONG when it does not fit. */
int token_challenge_format(char *out, size_t out_size, const char *realm, const char *service,
                           const char *repository, unsigned actions, const char *error);

/* Large enough for either key ID below, with its NUL. */
#define TOKEN_KEY_ID_MAX 64

/* The two IDs under which a root certificate's public key is found by `kid`:
 * its RFC 7638 JWK thumbprint (43 characters) and its libtrust key ID (59).
 * An operator can print them to configure an issuer. 0, or -EINVAL for a key
 * that cannot sign RS256 / ES256 (RSA under 2048 bits, a curve other than
 * P-256, another type). */
int token_key_ids(EVP_PKEY *key, char jwk_thumbprint[TOKEN_KEY_ID_MAX],
                  char libtrust_key_id[TOKEN_KEY_ID_MAX]);

#endif
