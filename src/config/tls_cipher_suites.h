/*
 * src/config/tls_cipher_suites.h — the names of `http.tls.ciphersuites`:
 * Distribution's (Go's crypto/tls) cipher suite names, each mapped to the
 * OpenSSL name that tls_context.h hands to SSL_CTX_set_cipher_list().
 *
 * A name is one of:
 *   - a TLS 1.2 suite of Mozilla's "intermediate" profile (ECDHE key
 *     exchange, AES-GCM or ChaCha20-Poly1305): the suites TLS 1.2 offers by
 *     default, CONFIG_DEFAULT_TLS12_CIPHER_LIST in defaults.h;
 *   - a TLS 1.2 suite Distribution accepts that is outside the profile
 *     (static RSA key exchange, or CBC with SHA-1): usable, with a warning;
 *   - a TLS 1.3 suite: TLS 1.3's suites cannot be configured (as in Go, which
 *     ignores them in tls.Config.CipherSuites); TLS 1.3 always offers its
 *     three;
 *   - a suite Go lists as insecure (RC4, 3DES, CBC with SHA-256): refused;
 *   - anything else, unknown: refused. Names are exact (upper case, as Go
 *     spells them); an OpenSSL name (`ECDHE-RSA-AES128-GCM-SHA256`) is not
 *     one.
 * Go's older constant names TLS_ECDHE_{RSA,ECDSA}_WITH_CHACHA20_POLY1305
 * (without _SHA256) are accepted too.
 *
 *     const struct tls_cipher_suite *suite = tls_cipher_suite_find(name);
 *     if (suite == NULL) ...unknown...;
 *     else if (suite->kind == TLS_CIPHER_SUITE_INSECURE) ...refuse...;
 *     else if (suite->kind == TLS_CIPHER_SUITE_TLS13) ...nothing to set...;
 *     else ...append suite->openssl_name to the TLS 1.2 list...;
 */
#ifndef CAIRN_SRC_CONFIG_TLS_CIPHER_SUITES_H
#define CAIRN_SRC_CONFIG_TLS_CIPHER_SUITES_H

enum tls_cipher_suite_kind {
    TLS_CIPHER_SUITE_INTERMEDIATE, /* TLS 1.2, ECDHE + AEAD: in the default profile */
    TLS_CIPHER_SUITE_LEGACY,       /* TLS 1.2, static RSA or CBC-SHA: outside it */
    TLS_CIPHER_SUITE_TLS13,        /* TLS 1.3: not configurable */
    TLS_CIPHER_SUITE_INSECURE,     /* refused */
};

struct tls_cipher_suite {
    const char *go_name;      /* TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 */
    const char *openssl_name; /* ECDHE-RSA-AES128-GCM-SHA256 */
    enum tls_cipher_suite_kind kind;
};

/* The suite named `go_name` (exact match), or NULL for an unknown name. */
const struct tls_cipher_suite *tls_cipher_suite_find(const char *go_name);

#endif
