/* src/http/tls.h */
#include "src/http/tls.h"

#include <openssl/x509.h>

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
