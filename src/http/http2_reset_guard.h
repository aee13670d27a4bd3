/*
 * src/http/http2_reset_guard.h — closing HTTP/2 connections that reset
 * streams far faster than any real client ("rapid reset", CVE-2023-44487).
 *
 * A client may open a stream with HEADERS and cancel it at once with
 * RST_STREAM. The cancelled stream no longer counts against the 100
 * concurrent streams libh2o 2.2.5 allows, but the server has already parsed
 * it and run the handler; so one connection can make the server do unbounded
 * work without ever reading a response. libh2o 2.2.5 has no limit on it.
 *
 * libh2o decodes every RST_STREAM frame with
 * h2o_http2_decode_rst_stream_payload(), which it calls through its PLT, and
 * turns a negative H2O_HTTP2_ERROR_* from it into a connection error: it
 * sends GOAWAY with that code, handles no further frame of the connection
 * and closes it (parse_input() in lib/http2/connection.c). The executable
 * defines that function (CMakeLists.txt exports it with
 * --export-dynamic-symbol, as it does SSL_read for ssl_interpose.h):
 *
 *  - it runs the library's decoder (found with dlsym(RTLD_NEXT)) first, so
 *    malformed frames get the library's own errors;
 *  - it finds the connection the frame arrived on: the frame's payload
 *    points into that connection's socket input buffer (libh2o parses
 *    frames in place, from sock->input). The loop thread's watched sockets
 *    are a list, the last match is remembered, so a flood on one
 *    connection costs one range compare per frame;
 *  - it takes a token from the connection's bucket (CONFIG_HTTP2_RESET_BURST
 *    tokens, refilled at CONFIG_HTTP2_RESET_RATE per second,
 *    src/config/defaults.h).
 *    With the bucket empty it returns H2O_HTTP2_ERROR_ENHANCE_YOUR_CALM:
 *    the client gets GOAWAY ENHANCE_YOUR_CALM and the connection closes. It
 *    counts cairn_http2_rapid_reset_closed_total, logs a warning (at most
 *    one line a second) and counts a strike against the client's address
 *    (address_block.h): an address that keeps reconnecting is refused new
 *    connections for a while.
 *
 * A frame on a socket nobody watches (none should exist) passes unchecked.
 * The server watches every accepted socket (h2c by prior knowledge or
 * Upgrade and h2 over TLS: the socket and its input buffer stay the same).
 *
 * What it does not do: it does not count streams the server itself resets
 * (a client provoking server-side resets, "MadeYouReset"), nor limit a
 * client that opens streams without resetting them (those wait behind the
 * 100-stream limit). Each new connection starts with a full bucket; the
 * address block bounds how often (docs/operations.md, "HTTP/2 rapid reset").
 *
 *     // on the loop thread, when a connection is accepted:
 *     http2_reset_guard_watch(&connection->reset_guard, socket);
 *     // in its socket's on_close callback:
 *     http2_reset_guard_unwatch(&connection->reset_guard);
 *
 * Everything runs on the loop thread that owns the socket; no locks.
 */
#ifndef CAIRN_SRC_HTTP_HTTP2_RESET_GUARD_H
#define CAIRN_SRC_HTTP_HTTP2_RESET_GUARD_H

#include <h2o.h>
#include <stdint.h>

/* One connection's bucket; embed it in the connection's own state. */
struct http2_reset_guard {
    struct http2_reset_guard *previous, *next; /* the thread's watched list */
    h2o_socket_t *socket;
    uint64_t tokens_milli; /* tokens * 1000 */
    uint64_t refilled_at;  /* monotonic nanoseconds */
    int tripped;           /* already refused once (logged, counted) */
};

/* Starts counting the client resets on socket (on its loop thread). */
void http2_reset_guard_watch(struct http2_reset_guard *guard, h2o_socket_t *socket);

/* Stops: call before the socket is freed (its on_close callback). A guard
 * never watched (all zero) is fine. */
void http2_reset_guard_unwatch(struct http2_reset_guard *guard);

/* Takes one reset from guard's bucket at time now (monotonic nanoseconds):
 * 0 while the bucket had a token, -1 once it is empty. Exposed for tests. */
int http2_reset_guard_take(struct http2_reset_guard *guard, uint64_t now);

/* The library's RST_STREAM decoder, interposed (see above). */
struct st_h2o_http2_frame_t;
struct st_h2o_http2_rst_stream_payload_t;
int h2o_http2_decode_rst_stream_payload(struct st_h2o_http2_rst_stream_payload_t *payload,
                                        const struct st_h2o_http2_frame_t *frame,
                                        const char **err_desc);

#endif
