/* src/config/tls_context.h */
#include "src/config/tls_context.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <string.h>

#include "layout/error.h"
#include "src/config/defaults.h"

static int fail(const char *what, const char *path)
{
    char reason[256] = "unknown error";
    unsigned long code = ERR_get_error();
    if (code != 0)
        ERR_error_string_n(code, reason, sizeof reason);
    ERR_clear_error();
    return error_set(-EINVAL, "TLS: %s %s: %s", what, path != NULL ? path : "", reason);
}

/* ALPN, in the server's order of preference: "h2" when the client offers
 * it, else "http/1.1" (a client that offers only http/1.1 must see it
 * selected), else no protocol (the handshake goes on without ALPN). h2o
 * serves HTTP/2 on a connection whose selected protocol is "h2"; this is what
 * h2o_ssl_register_alpn_protocols() did, in plain OpenSSL. */
static int select_protocol(SSL *ssl, const unsigned char **out, unsigned char *out_length,
                           const unsigned char *offered, unsigned int offered_length, void *unused)
{
    (void)ssl;
    (void)unused;
    static const char *const preferred[] = {"h2", "http/1.1"};
    for (size_t i = 0; i < sizeof preferred / sizeof preferred[0]; i++) {
        size_t length = strlen(preferred[i]);
        for (unsigned int at = 0; at < offered_length;) {
            unsigned int name_length = offered[at++];
            if (name_length > offered_length - at)
                return SSL_TLSEXT_ERR_NOACK; /* a malformed list */
            if (name_length == length && memcmp(offered + at, preferred[i], length) == 0) {
                *out = offered + at;
                *out_length = (unsigned char)name_length;
                return SSL_TLSEXT_ERR_OK;
            }
            at += name_length;
        }
    }
    return SSL_TLSEXT_ERR_NOACK;
}

int tls_context_create(const struct config *config, SSL_CTX **context_out)
{
    *context_out = NULL;
    if (config->tls_certificate == NULL)
        return error_set(-EINVAL, "TLS: no certificate configured");
    if (config->tls_key == NULL)
        return error_set(-EINVAL, "TLS: http.tls.certificate is set but http.tls.key is not");
    SSL_CTX *context = SSL_CTX_new(TLS_server_method());
    if (context == NULL)
        return fail("cannot create a context", NULL);
    int minimum = config->tls_minimum_version != 0 ? config->tls_minimum_version : TLS1_2_VERSION;
    const char *ciphers = config->tls_cipher_list != NULL ? config->tls_cipher_list
                                                          : CONFIG_DEFAULT_TLS12_CIPHER_LIST;
    if (ciphers[0] == '\0')
        minimum = TLS1_3_VERSION; /* only TLS 1.3 suites were listed: TLS 1.2 has none */
    else if (SSL_CTX_set_cipher_list(context, ciphers) != 1) {
        SSL_CTX_free(context);
        return fail("cannot use the TLS 1.2 cipher suites", ciphers);
    }
    SSL_CTX_set_min_proto_version(context, minimum);
    SSL_CTX_set_options(context, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                     SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (SSL_CTX_use_certificate_chain_file(context, config->tls_certificate) != 1) {
        SSL_CTX_free(context);
        return fail("cannot load certificate", config->tls_certificate);
    }
    if (SSL_CTX_use_PrivateKey_file(context, config->tls_key, SSL_FILETYPE_PEM) != 1) {
        SSL_CTX_free(context);
        return fail("cannot load key", config->tls_key);
    }
    if (SSL_CTX_check_private_key(context) != 1) {
        SSL_CTX_free(context);
        return fail("key does not match certificate", config->tls_key);
    }
    if (config->tls_client_ca_count > 0) {
        STACK_OF(X509_NAME) *names = sk_X509_NAME_new_null();
        for (size_t i = 0; i < config->tls_client_ca_count; i++) {
            const char *path = config->tls_client_cas[i];
            if (SSL_CTX_load_verify_locations(context, path, NULL) != 1 || names == NULL ||
                SSL_add_file_cert_subjects_to_stack(names, path) != 1) {
                sk_X509_NAME_pop_free(names, X509_NAME_free);
                SSL_CTX_free(context);
                return fail("cannot load client CA", path);
            }
        }
        SSL_CTX_set_client_CA_list(context, names);
        SSL_CTX_set_verify(context, SSL_VERIFY_PEER, NULL);
        static const unsigned char session_context[] = "cairn";
        SSL_CTX_set_session_id_context(context, session_context, sizeof session_context - 1);
    }
    SSL_CTX_set_alpn_select_cb(context, select_protocol, NULL);
    *context_out = context;
    return 0;
}
