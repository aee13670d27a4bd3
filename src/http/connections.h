/*
 * src/http/connections.h — the connections of one event loop: how many there
 * may be, how long an idle or slow one may stay, and what the loop does when
 * the process runs out of file descriptors.
 *
 * libh2o 2.2.5 has one HTTP/1 timer, http1.req_timeout, armed when the
 * connection starts waiting for a request and cleared only when the request
 * is in: it is at once the keep-alive idle timeout, the slow-header timeout
 * and the deadline for a whole upload. cairn needs it long (cairn.request_
 * timeout, 15 minutes: large layers), which left idle and slowloris
 * connections open for 15 minutes each. And when accept() failed with
 * EMFILE the listener stayed readable, so the loop spun at 100% CPU.
 *
 * This module keeps h2o's long deadline for requests whose header is in and
 * adds, per loop:
 *
 *  - A sweep (a timer every 100 ms to 1 s, a quarter of the shorter timeout)
 *    over the loop's connections that closes an HTTP/1 connection
 *      idle:  nothing of a next request has arrived for http.idle_timeout
 *             since its last response was sent (or since it was accepted);
 *      slow:  bytes of a request arrived but not its whole header (no empty
 *             line in the first H2O_MAX_REQLEN bytes) for http.header_timeout.
 *    What it reads is the socket's input buffer: h2o 2.2.5 keeps a request's
 *    header (and its body) there from the first byte until its response has
 *    been written, then consumes it. So "empty" is "between requests", and a
 *    complete header at its front is "a request in progress" — its body may
 *    arrive as slowly as cairn.request_timeout allows. The sweep looks at
 *    bytes_read/bytes_written to restart a phase that ended and began again
 *    between two sweeps, so a timeout fires between its value and its value
 *    plus one sweep interval. It closes with shutdown(SHUT_RDWR): h2o reads
 *    EOF and frees its connection itself.
 *    HTTP/2 connections are left to h2o, whose http2.idle_timeout (set to
 *    http.idle_timeout) is re-armed on every read and not armed while a
 *    request is being handled. They are known by two interposed library
 *    functions, h2o_http2_accept() (TLS with ALPN h2, and h2c with prior
 *    knowledge: libh2o calls it through its PLT) and
 *    h2o_http2_handle_upgrade() (Upgrade: h2c); CMakeLists.txt exports both
 *    from the executable, as it does SSL_read for ssl_interpose.h. A TLS
 *    handshake is bounded by h2o's handshake_timeout (= http.header_timeout).
 *
 *  - A cap: a loop accepts at most its share of http.max_connections
 *    (rounded up) on the main listener. At the cap it stops reading the
 *    listener; the kernel's backlog holds new clients until a connection
 *    closes. The connections it has are served as usual. The debug listener
 *    (/metrics, /healthz) is not capped.
 *
 *  - Running out of descriptors: when accept() fails with EMFILE, ENFILE,
 *    ENOBUFS or ENOMEM, the loop stops reading that listener and tries again
 *    after 250 ms or as soon as one of its connections closes. No spinning;
 *    the connections it has keep being served.
 *
 * connections_budget() raises the soft RLIMIT_NOFILE to the hard limit and
 * works out http.max_connections: at most the limit minus a reserve (the
 * listeners, the loops' own descriptors, blob and spool files of the
 * workers, logs, S3 connections); by default half of that, because a
 * connection that uploads or downloads holds a second descriptor (the blob
 * file it streams or the file its body spilled into).
 *
 * Everything but connections_budget() runs on the loop's own thread.
 *
 *     connections_init(&thread->connections, loop, &settings);
 *     connections_listen(&thread->connections, listener, on_accept, 1);
 *     ...in on_accept:
 *     h2o_socket_t *socket = connections_accept(&thread->connections, listener);
 *     if (socket != NULL)
 *         h2o_accept(&accept_context, socket);
 *     ...on stop:
 *     connections_stop_listening(&thread->connections);
 */
#ifndef CAIRN_SRC_HTTP_CONNECTIONS_H
#define CAIRN_SRC_HTTP_CONNECTIONS_H

#include <h2o.h>
#include <stdint.h>

/* Descriptors kept out of http.max_connections: a fixed part, and this many
 * per thread (event loops, workers, login workers). */
#define CONNECTIONS_RESERVE_FIXED 64
#define CONNECTIONS_RESERVE_PER_THREAD 4
/* How long a loop leaves a listener alone after accept() ran out of
 * descriptors, unless a connection closes first. */
#define CONNECTIONS_RETRY_MS 250

struct connection_settings {
    uint64_t idle_ms;   /* http.idle_timeout */
    uint64_t header_ms; /* http.header_timeout */
    unsigned limit;     /* this loop's share of http.max_connections */
};

struct connection_listener {
    h2o_socket_t *socket; /* NULL: slot unused */
    h2o_socket_cb on_accept;
    int capped; /* counts against settings.limit */
    int reading;
};

struct connections {
    h2o_evloop_t *loop;
    struct connection_settings settings;
    h2o_linklist_t open; /* struct connection */
    unsigned counted;    /* open connections from capped listeners */
    int out_of_descriptors;
    uint64_t warned_at; /* last "out of descriptors" / "at the cap" line (loop ms) */
    struct connection_listener listeners[2];
    h2o_timeout_t sweep_timeout;
    h2o_timeout_entry_t sweep;
    h2o_timeout_t retry_timeout;
    h2o_timeout_entry_t retry;
};

/* Raises the soft RLIMIT_NOFILE to the hard one (at most 2^20) and sets
 * *total to the connection cap for the whole server: `configured` when it
 * fits, else the ceiling (limit - reserve) with a warning on stderr;
 * `configured` 0 means the default, half the ceiling. `threads` is the
 * number of all threads (loops and workers), for the reserve. Returns 0, or
 * -EMFILE with a message when the limit leaves no room for connections. */
int connections_budget(unsigned configured, unsigned threads, unsigned *total);

/* Sets up the table and its sweep on `loop`. */
void connections_init(struct connections *connections, h2o_evloop_t *loop,
                      const struct connection_settings *settings);

/* Starts reading `listener` with `on_accept`; `capped`: its connections count
 * against the cap. At most two listeners. */
void connections_listen(struct connections *connections, h2o_socket_t *listener,
                        h2o_socket_cb on_accept, int capped);

/* Accepts one connection from `listener` and tracks it; NULL when there was
 * none, or when accept() failed (then the listener may be paused). The caller
 * hands the socket to h2o_accept(). */
h2o_socket_t *connections_accept(struct connections *connections, h2o_socket_t *listener);

/* Whether `socket` came in on an uncapped listener (the debug address). */
int connections_uncapped(h2o_socket_t *socket);

/* Whether some HTTP/1 connection holds the start of a request not yet
 * answered (so a stop waits for it). */
int connections_requests_arriving(const struct connections *connections);

/* Closes the listeners; open connections stay, and the sweep goes on, so a
 * slow header does not hold a stop for all of cairn.shutdown_grace. */
void connections_stop_listening(struct connections *connections);

#endif
