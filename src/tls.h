/*
 * src/tls.h — TLS for the listener: an OpenSSL 3 server context built from
 * the configuration, and the client identity of an mTLS connection.
 *
 * tls_context_create() loads the certificate chain, the key (checked against
 * each other) and, for mTLS, the client CA bundles, sets the minimum version
 * (TLS 1.2 by default) and registers ALPN for h2 and http/1.1 with h2o. A new
 * context is built at every reload; connections keep the context they were
 * accepted with (OpenSSL reference-counts it), so rotating a certificate
 * never drops an open connection. With client CAs, a client certificate is
 * requested and verified when presented; whether one is required is an
 * access-rule matter (the identity is the certificate subject's CN).
 *
 *     SSL_CTX *context;
 *     if (tls_context_create(&config, &context) < 0) log(error_message());
 *     ...accept with it...; SSL_CTX_free(context) when no longer current.
 */
#ifndef CAIRN_SRC_TLS_H
#define CAIRN_SRC_TLS_H

#include <h2o.h>
#include <openssl/ssl.h>

#include "src/config.h"

/* 0 and a new context when config->tls_certificate is set; -EINVAL with a
 * message naming the file and OpenSSL's reason otherwise. */
int tls_context_create(const struct config *config, SSL_CTX **context_out);

/* The verified client certificate's subject CN for the request's connection,
 * copied into `out` (1), or 0 when the connection has none (or is not TLS). */
int tls_client_identity(h2o_req_t *req, char *out, size_t out_size);

#endif
