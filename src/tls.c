/* src/tls.h */
#include "src/tls.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <string.h>

#include "layout/error.h"

static int fail(const char *what, const char *path)
{
    char reason[256] = "unknown error";
    unsigned long code = ERR_get_error();
    if (code != 0)
        ERR_error_string_n(code, reason, sizeof reason);
    ERR_clear_error();
    return error_set(-EINVAL, "TLS: %s %s: %s", what, path != NULL ? path : "", reason);
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
    /* h2o's own list has only the h2 names; a client that offers only
     * http/1.1 must see it selected. h2o serves HTTP/2 for "h2" only. */
    static const h2o_iovec_t protocols[] = {
        {H2O_STRLIT("h2")}, {H2O_STRLIT("http/1.1")}, {NULL, 0}};
    h2o_ssl_register_alpn_protocols(context, protocols);
    *context_out = context;
    return 0;
}

/* libh2o 2.2.5 keeps its per-socket TLS state opaque; its first two members
 * are the context and the SSL object (lib/common/socket.c). The context is
 * checked against the SSL object's own before the identity is trusted. */
struct h2o_socket_ssl_prefix {
    SSL_CTX *context;
    SSL *ssl;
};

int tls_client_identity(h2o_req_t *req, char *out, size_t out_size)
{
    if (req->conn->callbacks->get_socket == NULL)
        return 0;
    h2o_socket_t *socket = req->conn->callbacks->get_socket(req->conn);
    if (socket == NULL || socket->ssl == NULL)
        return 0;
    struct h2o_socket_ssl_prefix *prefix = (struct h2o_socket_ssl_prefix *)socket->ssl;
    SSL *ssl = prefix->ssl;
    if (ssl == NULL || SSL_get_SSL_CTX(ssl) != prefix->context)
        return 0;
    if (SSL_get_verify_result(ssl) != X509_V_OK)
        return 0;
    X509 *certificate = SSL_get1_peer_certificate(ssl);
    if (certificate == NULL)
        return 0;
    int length = X509_NAME_get_text_by_NID(X509_get_subject_name(certificate), NID_commonName, out,
                                           (int)out_size);
    X509_free(certificate);
    return length > 0 && (size_t)length < out_size;
}
