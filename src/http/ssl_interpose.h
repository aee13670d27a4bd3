/*
 * src/http/ssl_interpose.h — fixes for two bugs of libh2o 2.2.5's TLS code,
 * made by interposing the OpenSSL calls it makes. The cairn binary defines
 * SSL_read, SSL_get_error and SSL_shutdown itself (exported with
 * --export-dynamic-symbol, so libh2o's calls bind to them); each calls the
 * real function, found with dlsym(RTLD_NEXT). Nothing calls this header; it
 * exists to document the interposition.
 *
 * 1. Bodies of 2 GiB and more. h2o's decode_ssl_input() passes the free space
 *    of its input buffer to SSL_read() cast to int; once a request body over
 *    TLS passes 2 GiB that is negative and the connection is dropped. A
 *    length that is not positive, or larger than SSL_READ_CLAMP_MAX, is
 *    clamped to SSL_READ_CLAMP_MAX.
 *
 * 2. Writes during a read. OpenSSL writes while it reads when a TLS 1.2
 *    client asks to renegotiate: the server (SSL_OP_NO_RENEGOTIATION,
 *    src/config/tls_context.h) answers with a no_renegotiation alert. h2o's
 *    write BIO fails every write made during SSL_read ("renegotiation not
 *    supported"), after OpenSSL has already encrypted the alert and counted
 *    its record: the alert was lost, the close_notify that followed carried
 *    the next sequence number, and the client reported "bad record mac". Now,
 *    on a server connection, SSL_read gives OpenSSL a memory BIO to write to
 *    for the length of the call. When something was written, the connection
 *    is refused: the bytes are held (SSL ex_data, freed with the SSL), this
 *    SSL_read and every later one return -1, SSL_get_error says
 *    SSL_ERROR_SSL (so h2o closes the connection, and the global error queue
 *    is left alone), and SSL_shutdown first writes the held bytes to h2o's
 *    BIO, so the client gets the alert, then close_notify, in order. Client
 *    connections (libcurl's, to S3) are not touched.
 *
 * Cost per SSL_read on a server connection: two reference counts and two BIO
 * swaps. Each event loop thread keeps one memory BIO for this.
 */
#ifndef CAIRN_SRC_HTTP_SSL_INTERPOSE_H
#define CAIRN_SRC_HTTP_SSL_INTERPOSE_H

#include <openssl/ssl.h>

#define SSL_READ_CLAMP_MAX (1 << 30)

int SSL_read(SSL *ssl, void *buffer, int length);
int SSL_get_error(const SSL *ssl, int result);
int SSL_shutdown(SSL *ssl);

#endif
