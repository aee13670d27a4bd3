/* src/http/connections.h */
#include "src/http/connections.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <h2o/http2.h>

#include "layout/error.h"
#include "src/http/address_block.h"
#include "src/http/http2_reset_guard.h"
#include "src/observe/access_log.h"
#include "src/observe/metrics.h"

#define DESCRIPTORS_MAX (1u << 20)
#define SWEEP_MIN_MS 100
#define SWEEP_MAX_MS 1000
#define WARN_EVERY_MS 10000

enum phase {
    PHASE_IDLE,    /* between requests: nothing in the input buffer */
    PHASE_HEADER,  /* part of a request header */
    PHASE_REQUEST, /* a whole header: h2o's request timeout governs */
};

struct connection {
    h2o_linklist_t link;
    h2o_socket_t *socket;
    struct connections *table;
    int capped;
    int http2;   /* handed to h2o's HTTP/2: its own idle timeout */
    int closing; /* shut down, h2o has yet to notice */
    enum phase phase;
    uint64_t phase_since; /* loop ms */
    size_t seen_read, seen_written;
    struct http2_reset_guard reset_guard; /* counts its client's RST_STREAMs */
};

int connections_budget(unsigned configured, unsigned threads, unsigned *total)
{
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0)
        return error_set(-errno, "getrlimit(RLIMIT_NOFILE): %s", strerror(errno));
    rlim_t target = limit.rlim_max == RLIM_INFINITY || limit.rlim_max > DESCRIPTORS_MAX
                        ? DESCRIPTORS_MAX
                        : limit.rlim_max;
    if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < target) {
        struct rlimit raised = {.rlim_cur = target, .rlim_max = limit.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
            limit.rlim_cur = target;
    }
    rlim_t descriptors = limit.rlim_cur == RLIM_INFINITY || limit.rlim_cur > DESCRIPTORS_MAX
                             ? DESCRIPTORS_MAX
                             : limit.rlim_cur;
    rlim_t reserve =
        CONNECTIONS_RESERVE_FIXED + (rlim_t)CONNECTIONS_RESERVE_PER_THREAD * (rlim_t)threads;
    if (descriptors <= reserve + 1)
        return error_set(-EMFILE,
                         "RLIMIT_NOFILE is %llu: no descriptors left for connections after "
                         "the %llu cairn keeps for itself (raise LimitNOFILE or ulimit -n)",
                         (unsigned long long)descriptors, (unsigned long long)reserve);
    unsigned ceiling = (unsigned)(descriptors - reserve);
    if (configured == 0) {
        *total = ceiling / 2;
    } else if (configured > ceiling) {
        log_message(LOG_LEVEL_WARN,
                    "http.max_connections %u does not fit RLIMIT_NOFILE %llu (%llu kept for "
                    "files, listeners and loops): using %u",
                    configured, (unsigned long long)descriptors, (unsigned long long)reserve,
                    ceiling);
        *total = ceiling;
    } else {
        *total = configured;
    }
    log_message(LOG_LEVEL_INFO, "at most %u connections (RLIMIT_NOFILE %llu)", *total,
                (unsigned long long)descriptors);
    return 0;
}

/* ---- listeners ---- */

static void start_reading(struct connection_listener *listener)
{
    if (listener->socket != NULL && !listener->reading) {
        h2o_socket_read_start(listener->socket, listener->on_accept);
        listener->reading = 1;
    }
}

static void stop_reading(struct connection_listener *listener)
{
    if (listener->socket != NULL && listener->reading) {
        h2o_socket_read_stop(listener->socket);
        listener->reading = 0;
    }
}

static int at_cap(const struct connections *connections)
{
    return connections->settings.limit != 0 && connections->counted >= connections->settings.limit;
}

/* Reads every listener that may accept now. */
static void resume(struct connections *connections)
{
    if (connections->out_of_descriptors)
        return;
    for (size_t i = 0; i < 2; i++) {
        struct connection_listener *listener = &connections->listeners[i];
        if (!listener->capped || !at_cap(connections))
            start_reading(listener);
    }
}

static void on_retry(h2o_timeout_entry_t *entry)
{
    struct connections *connections = H2O_STRUCT_FROM_MEMBER(struct connections, retry, entry);
    connections->out_of_descriptors = 0;
    resume(connections);
}

static int warn_now(struct connections *connections)
{
    uint64_t now = h2o_now(connections->loop);
    if (connections->warned_at != 0 && now - connections->warned_at < WARN_EVERY_MS)
        return 0;
    connections->warned_at = now;
    return 1;
}

static void out_of_descriptors(struct connections *connections, int error)
{
    for (size_t i = 0; i < 2; i++)
        stop_reading(&connections->listeners[i]);
    connections->out_of_descriptors = 1;
    if (!h2o_linklist_is_linked(&connections->retry._link))
        h2o_timeout_link(connections->loop, &connections->retry_timeout, &connections->retry);
    metrics_connection_event(METRICS_CONNECTION_NO_DESCRIPTORS);
    if (warn_now(connections))
        log_message(LOG_LEVEL_WARN,
                    "cannot accept connections: %s (%u open on this loop); new clients wait "
                    "in the listen backlog",
                    strerror(error), connections->counted);
}

static void connection_closed(void *data)
{
    struct connection *connection = data;
    struct connections *connections = connection->table;
    http2_reset_guard_unwatch(&connection->reset_guard);
    h2o_linklist_unlink(&connection->link);
    if (connection->capped)
        connections->counted--;
    metrics_connections_add(-1);
    free(connection);
    /* A descriptor is free again: no need to wait for the retry. */
    if (connections->out_of_descriptors) {
        h2o_timeout_unlink(&connections->retry);
        connections->out_of_descriptors = 0;
    }
    resume(connections);
}

static struct connection *connection_of(h2o_socket_t *socket)
{
    if (socket == NULL || socket->on_close.cb != connection_closed)
        return NULL;
    return socket->on_close.data;
}

/* Whether the peer of a socket just accepted is blocked (address_block.h). */
static int blocked(h2o_socket_t *socket)
{
    if (!address_block_tracking())
        return 0;
    struct sockaddr_storage peer;
    socklen_t length = h2o_socket_getpeername(socket, (struct sockaddr *)&peer);
    struct login_address address;
    login_address_from_sockaddr(length > 0 ? (struct sockaddr *)&peer : NULL, length, &address);
    return address_block_refuses(&address, address_block_now_ms());
}

h2o_socket_t *connections_accept(struct connections *connections, h2o_socket_t *listener)
{
    struct connection_listener *slot = NULL;
    for (size_t i = 0; i < 2; i++)
        if (connections->listeners[i].socket == listener)
            slot = &connections->listeners[i];
    if (slot == NULL)
        return NULL;
    /* libh2o's accept is accept4() and, when that fails, NULL with its errno. */
    errno = 0;
    h2o_socket_t *socket = h2o_evloop_socket_accept(listener);
    if (socket == NULL) {
        int error = errno;
        if (error == EMFILE || error == ENFILE || error == ENOBUFS || error == ENOMEM)
            out_of_descriptors(connections, error);
        return NULL;
    }
    if (slot->capped && blocked(socket)) {
        h2o_socket_close(socket);
        metrics_connection_event(METRICS_CONNECTION_BLOCKED);
        return NULL;
    }
    struct connection *connection = calloc(1, sizeof *connection);
    if (connection == NULL) {
        h2o_socket_close(socket);
        out_of_descriptors(connections, ENOMEM);
        return NULL;
    }
    connection->socket = socket;
    connection->table = connections;
    connection->capped = slot->capped;
    connection->phase = PHASE_IDLE;
    connection->phase_since = h2o_now(connections->loop);
    h2o_linklist_insert(&connections->open, &connection->link);
    socket->on_close.cb = connection_closed;
    socket->on_close.data = connection;
    http2_reset_guard_watch(&connection->reset_guard, socket);
    metrics_connections_add(1);
    if (slot->capped) {
        connections->counted++;
        if (at_cap(connections)) {
            stop_reading(slot);
            metrics_connection_event(METRICS_CONNECTION_AT_CAP);
            if (warn_now(connections))
                log_message(LOG_LEVEL_WARN,
                            "%u connections open on a loop, its share of "
                            "http.max_connections: new clients wait until one closes",
                            connections->counted);
        }
    }
    return socket;
}

int connections_uncapped(h2o_socket_t *socket)
{
    struct connection *connection = connection_of(socket);
    return connection != NULL && !connection->capped;
}

/* ---- the sweep ---- */

/* Whether the buffer starts with a whole HTTP/1 header: an empty line (LF LF
 * or LF CR LF, as picohttpparser accepts) within the bytes h2o parses. */
static int header_complete(const h2o_buffer_t *input)
{
    size_t length = input->size < H2O_MAX_REQLEN ? input->size : H2O_MAX_REQLEN;
    const char *end = input->bytes + length;
    for (const char *p = input->bytes; p < end; p++) {
        p = memchr(p, '\n', (size_t)(end - p));
        if (p == NULL)
            return 0;
        if (p + 1 < end && p[1] == '\n')
            return 1;
        if (p + 2 < end && p[1] == '\r' && p[2] == '\n')
            return 1;
    }
    return 0;
}

static void shut(struct connection *connection, enum metrics_connection_event why)
{
    int fd = h2o_socket_get_fd(connection->socket);
    if (fd < 0)
        return;
    connection->closing = 1;
    shutdown(fd, SHUT_RDWR);
    metrics_connection_event(why);
}

static void look_at(struct connection *connection, uint64_t now)
{
    h2o_socket_t *socket = connection->socket;
    const struct connection_settings *settings = &connection->table->settings;
    size_t input = socket->input != NULL ? socket->input->size : 0;
    enum phase phase = input == 0                       ? PHASE_IDLE
                       : header_complete(socket->input) ? PHASE_REQUEST
                                                        : PHASE_HEADER;
    int wrote = socket->bytes_written != connection->seen_written;
    int read = socket->bytes_read != connection->seen_read;
    connection->seen_written = socket->bytes_written;
    connection->seen_read = socket->bytes_read;
    /* A response went out since the last look: whatever is there is new. */
    if (phase != connection->phase || wrote || (phase == PHASE_IDLE && read)) {
        connection->phase = phase;
        connection->phase_since = now;
        return;
    }
    uint64_t age = now - connection->phase_since;
    if (phase == PHASE_IDLE && age >= settings->idle_ms)
        shut(connection, METRICS_CONNECTION_IDLE_CLOSED);
    else if (phase == PHASE_HEADER && age >= settings->header_ms)
        shut(connection, METRICS_CONNECTION_HEADER_CLOSED);
}

static void on_sweep(h2o_timeout_entry_t *entry)
{
    struct connections *connections = H2O_STRUCT_FROM_MEMBER(struct connections, sweep, entry);
    uint64_t now = h2o_now(connections->loop);
    for (h2o_linklist_t *node = connections->open.next; node != &connections->open;
         node = node->next) {
        struct connection *connection = H2O_STRUCT_FROM_MEMBER(struct connection, link, node);
        if (!connection->http2 && !connection->closing)
            look_at(connection, now);
    }
    h2o_timeout_link(connections->loop, &connections->sweep_timeout, &connections->sweep);
}

void connections_init(struct connections *connections, h2o_evloop_t *loop,
                      const struct connection_settings *settings)
{
    memset(connections, 0, sizeof *connections);
    connections->loop = loop;
    connections->settings = *settings;
    h2o_linklist_init_anchor(&connections->open);
    uint64_t shorter =
        settings->idle_ms < settings->header_ms ? settings->idle_ms : settings->header_ms;
    uint64_t interval = shorter / 4;
    if (interval < SWEEP_MIN_MS)
        interval = SWEEP_MIN_MS;
    if (interval > SWEEP_MAX_MS)
        interval = SWEEP_MAX_MS;
    h2o_timeout_init(loop, &connections->sweep_timeout, interval);
    h2o_timeout_init(loop, &connections->retry_timeout, CONNECTIONS_RETRY_MS);
    connections->sweep.cb = on_sweep;
    connections->retry.cb = on_retry;
    h2o_timeout_link(loop, &connections->sweep_timeout, &connections->sweep);
}

void connections_listen(struct connections *connections, h2o_socket_t *listener,
                        h2o_socket_cb on_accept, int capped)
{
    for (size_t i = 0; i < 2; i++) {
        struct connection_listener *slot = &connections->listeners[i];
        if (slot->socket == NULL) {
            *slot = (struct connection_listener){
                .socket = listener, .on_accept = on_accept, .capped = capped};
            start_reading(slot);
            return;
        }
    }
}

int connections_requests_arriving(const struct connections *connections)
{
    for (h2o_linklist_t *node = connections->open.next; node != &connections->open;
         node = node->next) {
        struct connection *connection = H2O_STRUCT_FROM_MEMBER(struct connection, link, node);
        if (connection->socket->input != NULL && connection->socket->input->size > 0)
            return 1;
    }
    return 0;
}

void connections_stop_listening(struct connections *connections)
{
    h2o_timeout_unlink(&connections->retry);
    for (size_t i = 0; i < 2; i++) {
        struct connection_listener *slot = &connections->listeners[i];
        if (slot->socket != NULL) {
            stop_reading(slot);
            h2o_socket_close(slot->socket);
            slot->socket = NULL;
        }
    }
}

/* ---- HTTP/2: the library's two ways in, interposed ---- */

typedef void (*http2_accept_function)(h2o_accept_ctx_t *, h2o_socket_t *, struct timeval);
typedef int (*http2_upgrade_function)(h2o_req_t *, struct timeval);

static http2_accept_function real_http2_accept;
static http2_upgrade_function real_http2_upgrade;
static pthread_once_t lookup_once = PTHREAD_ONCE_INIT;

static void look_up_library(void)
{
    real_http2_accept = (http2_accept_function)dlsym(RTLD_NEXT, "h2o_http2_accept");
    real_http2_upgrade = (http2_upgrade_function)dlsym(RTLD_NEXT, "h2o_http2_handle_upgrade");
}

void h2o_http2_accept(h2o_accept_ctx_t *ctx, h2o_socket_t *sock, struct timeval connected_at)
{
    pthread_once(&lookup_once, look_up_library);
    struct connection *connection = connection_of(sock);
    if (connection != NULL)
        connection->http2 = 1;
    if (real_http2_accept == NULL) {
        h2o_socket_close(sock);
        return;
    }
    real_http2_accept(ctx, sock, connected_at);
}

int h2o_http2_handle_upgrade(h2o_req_t *req, struct timeval connected_at)
{
    pthread_once(&lookup_once, look_up_library);
    if (real_http2_upgrade == NULL)
        return -1;
    h2o_socket_t *socket = req->conn->callbacks->get_socket != NULL
                               ? req->conn->callbacks->get_socket(req->conn)
                               : NULL;
    struct connection *connection = connection_of(socket);
    int result = real_http2_upgrade(req, connected_at);
    if (result == 0 && connection != NULL)
        connection->http2 = 1;
    return result;
}
