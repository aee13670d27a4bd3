/*
 * src/config/tls_context.h — the listener's OpenSSL 3 server context, built from
 * the configuration (plain OpenSSL: the tools validate a configuration with
 * it too, without h2o).
 *
 * tls_context_create() loads the certificate chain, the key (checked against
 * each other) and, for mTLS, the client CA bundles, sets the minimum version
 * (TLS 1.2 by default), the TLS 1.2 cipher suites (http.tls.ciphersuites, by
 * default Mozilla's intermediate profile: CONFIG_DEFAULT_TLS12_CIPHER_LIST;
 * TLS 1.3 keeps OpenSSL's suites), refuses renegotiation
 * (SSL_OP_NO_RENEGOTIATION; src/http/ssl_interpose.h makes the alert reach
 * the client) and selects ALPN h2, then http/1.1. A new context is
 * built at every reload; connections keep the context they were accepted
 * with (OpenSSL reference-counts it), so rotating a certificate never drops
 * an open connection. With client CAs, a client certificate is requested and
 * verified when presented; whether one is required is an access-rule matter
 * (src/http/tls.h reads the identity).
 *
 *     SSL_CTX *context;
 *     if (tls_context_create(&config, &context) < 0) log(error_message());
 *     ...accept with it...; SSL_CTX_free(context) when no longer current.
 */
#ifndef CAIRN_SRC_CONFIG_TLS_CONTEXT_H
#define CAIRN_SRC_CONFIG_TLS_CONTEXT_H

#include <openssl/ssl.h>

#include "src/config/config.h"

/* 0 and a new context when config->tls_certificate is set; -EINVAL with a
 * message naming the file and OpenSSL's reason otherwise. */
int tls_context_create(const struct config *config, SSL_CTX **context_out);

#endif
