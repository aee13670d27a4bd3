/* src/http/http2_reset_guard.c — see http2_reset_guard.h. */
#include "src/http/http2_reset_guard.h"

#include <dlfcn.h>
#include <arpa/inet.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "src/config/defaults.h"
#include "src/http/address_block.h"
#include "src/observe/access_log.h"
#include "src/observe/metrics.h"

/* libh2o 2.2.5's code for ENHANCE_YOUR_CALM (0xb), as its other
 * H2O_HTTP2_ERROR_* in h2o.h: the negated RFC 7540 code. */
#ifndef H2O_HTTP2_ERROR_ENHANCE_YOUR_CALM
#define H2O_HTTP2_ERROR_ENHANCE_YOUR_CALM -11
#endif

/* libh2o 2.2.5's frame as h2o/http2_internal.h declares it (that header
 * cannot be included: it needs the unshipped khash.h). Only payload is read:
 * where the frame's payload lies in the connection's input buffer. */
struct st_h2o_http2_frame_t {
    uint32_t length;
    uint8_t type;
    uint8_t flags;
    uint32_t stream_id;
    const uint8_t *payload;
};

typedef int (*decode_rst_stream_function)(struct st_h2o_http2_rst_stream_payload_t *,
                                          const struct st_h2o_http2_frame_t *, const char **);

static decode_rst_stream_function library_decode_rst_stream;
static pthread_once_t lookup_once = PTHREAD_ONCE_INIT;

static void look_up_library_decoder(void)
{
    library_decode_rst_stream =
        (decode_rst_stream_function)dlsym(RTLD_NEXT, "h2o_http2_decode_rst_stream_payload");
}

/* The loop thread's watched sockets, and the last one a frame was found on. */
static __thread struct http2_reset_guard *watched;
static __thread struct http2_reset_guard *last_match;

#define MILLI 1000u

static uint64_t now_nanoseconds(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
    return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

void http2_reset_guard_watch(struct http2_reset_guard *guard, h2o_socket_t *socket)
{
    guard->socket = socket;
    guard->tokens_milli = (uint64_t)CONFIG_HTTP2_RESET_BURST * MILLI;
    guard->refilled_at = now_nanoseconds();
    guard->tripped = 0;
    guard->previous = NULL;
    guard->next = watched;
    if (watched != NULL)
        watched->previous = guard;
    watched = guard;
}

void http2_reset_guard_unwatch(struct http2_reset_guard *guard)
{
    if (guard->socket == NULL)
        return;
    if (guard->previous != NULL)
        guard->previous->next = guard->next;
    else if (watched == guard)
        watched = guard->next;
    if (guard->next != NULL)
        guard->next->previous = guard->previous;
    if (last_match == guard)
        last_match = NULL;
    guard->socket = NULL;
    guard->previous = guard->next = NULL;
}

int http2_reset_guard_take(struct http2_reset_guard *guard, uint64_t now)
{
    const uint64_t full = (uint64_t)CONFIG_HTTP2_RESET_BURST * MILLI;
    if (now > guard->refilled_at) {
        /* tokens*1000 gained = elapsed ns * rate / 1e6 */
        uint64_t gained = (now - guard->refilled_at) / 1000000u * CONFIG_HTTP2_RESET_RATE;
        if (gained > 0) {
            guard->tokens_milli =
                guard->tokens_milli + gained > full ? full : guard->tokens_milli + gained;
            guard->refilled_at = now;
        }
    }
    if (guard->tokens_milli < MILLI)
        return -1;
    guard->tokens_milli -= MILLI;
    return 0;
}

static int holds(const struct http2_reset_guard *guard, const uint8_t *pointer)
{
    const h2o_buffer_t *input = guard->socket->input;
    if (input == NULL)
        return 0;
    const uint8_t *start = (const uint8_t *)input->bytes;
    return pointer >= start && pointer < start + input->size;
}

static struct http2_reset_guard *guard_of(const uint8_t *payload)
{
    if (last_match != NULL && holds(last_match, payload))
        return last_match;
    for (struct http2_reset_guard *guard = watched; guard != NULL; guard = guard->next) {
        if (holds(guard, payload)) {
            last_match = guard;
            return guard;
        }
    }
    return NULL;
}

/* Closes since the last "closed the connection" line, and when that was. */
static _Atomic uint64_t closes_unlogged;
static _Atomic uint64_t logged_at_ms;

/* Counts the close against the client's address (address_block.h) and
 * logs it: a line whenever an address gets blocked, else at most one line a
 * second (a flood of reconnects must not flood the log). */
static void trip(struct http2_reset_guard *guard)
{
    struct sockaddr_storage peer;
    socklen_t length = h2o_socket_getpeername(guard->socket, (struct sockaddr *)&peer);
    struct login_address address;
    login_address_from_sockaddr(length > 0 ? (struct sockaddr *)&peer : NULL, length, &address);
    char shown[INET6_ADDRSTRLEN + 8] = "unknown";
    static const struct login_address zero;
    if (memcmp(&address, &zero, sizeof zero) != 0)
        login_address_format(&address, shown, sizeof shown);
    metrics_http2_rapid_reset_closed();
    uint64_t now = address_block_now_ms();
    if (address_block_strike(&address, now) == 1) {
        log_message(LOG_LEVEL_WARN,
                    "HTTP/2 client %s reset more than %d streams (refill %d/s) on %d "
                    "connections within %u s: sent GOAWAY ENHANCE_YOUR_CALM, and new "
                    "connections from it are refused for http.http2_reset_block",
                    shown, CONFIG_HTTP2_RESET_BURST, CONFIG_HTTP2_RESET_RATE, ADDRESS_BLOCK_STRIKES,
                    ADDRESS_BLOCK_WINDOW_MS / 1000);
        return;
    }
    uint64_t unlogged = atomic_fetch_add(&closes_unlogged, 1) + 1;
    uint64_t last = atomic_load(&logged_at_ms);
    if (last != 0 && now < last + 1000)
        return;
    if (!atomic_compare_exchange_strong(&logged_at_ms, &last, now))
        return;
    atomic_fetch_sub(&closes_unlogged, unlogged);
    log_message(LOG_LEVEL_WARN,
                "HTTP/2 client %s reset more than %d streams (refill %d/s): sent GOAWAY "
                "ENHANCE_YOUR_CALM and closed the connection (%" PRIu64
                " such closes since the last line)",
                shown, CONFIG_HTTP2_RESET_BURST, CONFIG_HTTP2_RESET_RATE, unlogged);
}

int h2o_http2_decode_rst_stream_payload(struct st_h2o_http2_rst_stream_payload_t *payload,
                                        const struct st_h2o_http2_frame_t *frame,
                                        const char **err_desc)
{
    pthread_once(&lookup_once, look_up_library_decoder);
    if (library_decode_rst_stream == NULL) {
        *err_desc = "RST_STREAM decoder not found";
        return H2O_HTTP2_ERROR_INTERNAL;
    }
    int ret = library_decode_rst_stream(payload, frame, err_desc);
    if (ret != 0)
        return ret;
    struct http2_reset_guard *guard = guard_of(frame->payload);
    if (guard == NULL)
        return 0;
    if (!guard->tripped && http2_reset_guard_take(guard, now_nanoseconds()) == 0)
        return 0;
    if (!guard->tripped) {
        guard->tripped = 1;
        trip(guard);
    }
    *err_desc = "too many streams reset";
    return H2O_HTTP2_ERROR_ENHANCE_YOUR_CALM;
}
