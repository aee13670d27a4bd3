/*
 * src/http/ssl_read_clamp.h — a fix for libh2o 2.2.5 that works by interposing
 * OpenSSL's SSL_read().
 *
 * h2o's decode_ssl_input() passes the free space of its input buffer to
 * SSL_read() cast to int; once a request body over TLS passes 2 GiB that is
 * negative and the connection is dropped. The cairn binary defines SSL_read
 * itself (exported with --export-dynamic-symbol, so libh2o's call binds to
 * it): a length that is not positive, or larger than 1 GiB, is clamped to
 * 1 GiB before the real SSL_read (found with dlsym(RTLD_NEXT)) is called.
 * Nothing calls this header; it exists to document the interposition.
 */
#ifndef CAIRN_SRC_HTTP_SSL_READ_CLAMP_H
#define CAIRN_SRC_HTTP_SSL_READ_CLAMP_H

#include <openssl/ssl.h>

#define SSL_READ_CLAMP_MAX (1 << 30)

int SSL_read(SSL *ssl, void *buffer, int length);

#endif
