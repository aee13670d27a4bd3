/*
 * src/http/tls.h — the client identity of an mTLS connection, read from h2o's
 * socket (the context itself is built by src/config/tls_context.h).
 *
 * The identity is the verified client certificate subject's CN; a
 * connection without a verified certificate has none.
 *
 *     char identity[256];
 *     if (tls_client_identity(req, identity, sizeof identity)) ...
 */
#ifndef CAIRN_SRC_HTTP_TLS_H
#define CAIRN_SRC_HTTP_TLS_H

#include <h2o.h>
#include <openssl/ssl.h>

/* The verified client certificate's subject CN for the request's connection,
 * copied into `out` (1), or 0 when the connection has none (or is not TLS). */
int tls_client_identity(h2o_req_t *req, char *out, size_t out_size);

#endif
