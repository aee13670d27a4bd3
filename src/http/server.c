/* src/http/server.h */
#include "src/http/server.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <h2o.h>

#include "drivers/fs.h"
#include "drivers/s3.h"
#include "layout/error.h"
#include "layout/run_marker.h"
#include "layout/walk.h"
#include "src/http/access_control.h"
#include "src/http/address_block.h"
#include "src/http/connections.h"
#include "src/observe/access_log.h"
#include "src/http/endpoints.h"
#include "src/http/mirror_namespace.h"
#include "src/observe/metrics.h"
#include "src/http/endpoint_context.h"
#include "src/http/body_spool.h"
#include "src/http/request_framing.h"
#include "src/config/reload.h"
#include "src/observe/events.h"
#include "src/auth/access_rules.h"
#include "src/config/runtime.h"
#include "src/http/response.h"
#include "src/http/router.h"
#include "src/observe/systemd_notify.h"
#include "src/registry/mirror.h"
#include "src/registry/upload_purger.h"
#include "src/registry/uploads.h"
#include "src/http/worker_pool.h"
#include "version.h"

struct registry_handler {
    h2o_handler_t super;
    struct registry *registry;
};

struct server_thread {
    pthread_t thread;
    struct server *server;
    int listen_fd;
    int debug_fd; /* -1: none on this loop */
    sem_t set_up; /* posted by the loop once its h2o objects exist */
    h2o_evloop_t *loop;
    h2o_context_t context;
    h2o_accept_ctx_t accept_context;
    h2o_socket_t *listener;
    h2o_accept_ctx_t debug_accept_context; /* plain HTTP, thread 0 only */
    h2o_socket_t *debug_listener;
    h2o_multithread_receiver_t work_receiver;
    h2o_multithread_receiver_t control_receiver;
    h2o_multithread_message_t stop_message;
    struct endpoint_context endpoint;
    unsigned long in_flight;        /* requests not yet freed (loop thread only) */
    struct runtime *runtime;        /* the snapshot new requests on this loop use */
    struct connections connections; /* open on this loop; cap, timeouts */
    atomic_int stopping;
    int started;
};

struct server {
    struct options *options;
    const struct config *settings; /* restart-only settings: the first snapshot's */
    h2o_globalconf_t config;
    struct registry registry;
    /* Password checks on threads of their own, with a bounded queue: pushes
     * never wait behind bcrypt (registry.workers never runs one). */
    struct worker_pool *login_workers;
    struct login_limiter *login_limiter; /* failed logins, across reloads */
    struct run_marker run_marker;        /* R/.cairn-run: removed by a clean exit */
    struct server_thread *threads;
    unsigned thread_count;
    unsigned max_connections; /* http.max_connections as the descriptors allow */
};

static struct server_thread *thread_of(h2o_req_t *req)
{
    return H2O_STRUCT_FROM_MEMBER(struct server_thread, context, req->conn->ctx);
}

/* Lives in each request's pool: counts it in flight and holds the snapshot
 * it started with until h2o frees it. */
struct request_state {
    struct server_thread *thread;
    struct runtime *runtime;
    struct access_identity identity;
};

static void request_freed(void *memory)
{
    struct request_state *state = memory;
    state->thread->in_flight--;
    access_identity_release(&state->identity);
    runtime_release(state->runtime);
}

/* Switches the loop to the newest snapshot after a reload: one atomic read
 * on the common path. */
static void refresh_runtime(struct server_thread *thread)
{
    if (thread->runtime != NULL && thread->runtime->generation == runtime_current_generation())
        return;
    struct runtime *fresh = runtime_current();
    if (fresh == NULL)
        return;
    runtime_release(thread->runtime);
    thread->runtime = fresh;
    thread->accept_context.ssl_ctx = fresh->tls_context;
}

/* A stop waits for requests whose bytes are still arriving (h2o runs a
 * handler only once the body is in): connections_requests_arriving(). */
static void accept_connection(h2o_socket_t *listener, int debug)
{
    struct server_thread *thread = listener->data;
    refresh_runtime(thread);
    h2o_socket_t *socket = connections_accept(&thread->connections, listener);
    if (socket != NULL)
        h2o_accept(debug ? &thread->debug_accept_context : &thread->accept_context, socket);
}

static void on_accept(h2o_socket_t *listener, const char *error)
{
    if (error == NULL)
        accept_connection(listener, 0);
}

static void on_accept_debug(h2o_socket_t *listener, const char *error)
{
    if (error == NULL)
        accept_connection(listener, 1);
}

/* Whether the request came in on the debug listener (the uncapped one). */
static int on_debug_listener(h2o_req_t *req)
{
    if (req->conn->callbacks->get_socket == NULL)
        return 0;
    return connections_uncapped(req->conn->callbacks->get_socket(req->conn));
}

static void send_metrics(h2o_req_t *req)
{
    char *text;
    size_t length;
    if (metrics_render(&text, &length) < 0) {
        response_send_failure(req, -ENOMEM);
        return;
    }
    response_send(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, length);
    free(text);
}

/* The route label of a finished request, from its raw path. */
static enum metrics_route route_label(h2o_req_t *req)
{
    size_t path_length = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
    if (h2o_memis(req->path.base, path_length, H2O_STRLIT("/healthz")))
        return METRICS_ROUTE_HEALTH;
    if (h2o_memis(req->path.base, path_length, H2O_STRLIT("/metrics")))
        return METRICS_ROUTE_METRICS;
    struct route route;
    if (route_parse(req->path.base, path_length, &route) < 0)
        return METRICS_ROUTE_OTHER;
    return endpoint_metrics_route(route.kind);
}

static double seconds_between(const struct timeval *from, const struct timeval *to)
{
    return (double)(to->tv_sec - from->tv_sec) + (double)(to->tv_usec - from->tv_usec) / 1e6;
}

/* h2o calls this when a request is done, before freeing it: one access-log
 * line and the request metrics. */
static void log_access(h2o_logger_t *logger, h2o_req_t *req)
{
    (void)logger;
    struct timeval now;
    gettimeofday(&now, NULL);
    double duration = seconds_between(&req->timestamps.request_begin_at, &now);
    int status = req->res.status != 0 ? req->res.status : 499;
    uint64_t bytes_out = req->bytes_sent;
    metrics_record_request(route_label(req),
                           metrics_method_parse(req->method.base, req->method.len), status,
                           duration, req->entity.len, bytes_out);

    struct server_thread *thread = thread_of(req);
    if (thread->runtime == NULL || !thread->runtime->config.access_log)
        return;
    char remote[INET6_ADDRSTRLEN + 8] = "-", request_id[REQUEST_ID_SIZE];
    struct sockaddr_storage address;
    socklen_t address_length = req->conn->callbacks->get_peername(req->conn, (void *)&address);
    if (address_length == 0 ||
        h2o_socket_getnumerichost((void *)&address, address_length, remote) == SIZE_MAX)
        strcpy(remote, "-");
    request_id_generate(request_id);
    const char *user = NULL, *cache = NULL;
    for (size_t i = 0; i + 1 < req->env.size; i += 2) {
        if (h2o_memis(req->env.entries[i].base, req->env.entries[i].len, H2O_STRLIT("cairn.user")))
            user = req->env.entries[i + 1].base;
        else if (h2o_memis(req->env.entries[i].base, req->env.entries[i].len,
                           H2O_STRLIT(RESPONSE_ENV_CACHE)))
            cache = req->env.entries[i + 1].base; /* a NUL-terminated label */
    }
    struct access_log_entry entry = {
        .time = {.tv_sec = req->timestamps.request_begin_at.tv_sec,
                 .tv_nsec = req->timestamps.request_begin_at.tv_usec * 1000},
        .request_id = request_id,
        .remote_address = remote,
        .user = user,
        .method = req->method.base,
        .method_length = req->method.len,
        .path = req->path.base,
        .path_length = req->path.len,
        .status = status,
        .bytes_in = req->entity.len,
        .bytes_out = bytes_out,
        .duration_seconds = duration,
        .cache = cache,
    };
    access_log_write(thread->runtime->config.log_format, &entry);
}

/* What a request needs to be allowed to do: its row's access, or for a
 * method the route lacks, the route's (endpoints.h). */
static unsigned required_access(const struct endpoint *row, const struct route *route)
{
    return row != NULL ? row->access : endpoint_route_access(route->kind);
}

/* A repository under a mirror prefix (or any, with proxy:). */
static int mirrored(const struct runtime *runtime, const char *repository)
{
    char remote[UPSTREAM_NAME_MAX];
    return runtime->upstream_count > 0 && mirror_find(runtime->upstreams, runtime->upstream_count,
                                                      repository, remote, sizeof remote) != NULL;
}

/* After the caller is known: everything the row says (access, read-only
 * mode, disabled deletes), then its handler; 405 for a method without one. */
static void dispatch(struct server_thread *thread, h2o_req_t *req, struct request_state *state,
                     const struct route *route, const struct endpoint *row)
{
    const char *repository = endpoint_route_repository(route);
    unsigned access = required_access(row, route);
    if (state->identity.user[0] != '\0') {
        h2o_vector_reserve(&req->pool, &req->env, req->env.size + 2);
        req->env.entries[req->env.size++] = h2o_iovec_init(H2O_STRLIT("cairn.user"));
        req->env.entries[req->env.size++] =
            h2o_strdup(&req->pool, state->identity.user, strlen(state->identity.user));
    }
    if (!access_control_allows(state->runtime, &state->identity, repository, access)) {
        access_control_refuse(req, state->runtime, &state->identity, repository, access);
        return;
    }
    thread->endpoint.runtime = state->runtime;
    thread->endpoint.identity = &state->identity;
    /* A method without a row could be a write: refused as one. */
    int writes = row != NULL ? row->writes
                             : !h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) &&
                                   !request_is_head(req);
    if (state->runtime->config.read_only && writes) {
        response_send_error(req, REGISTRY_ERROR_UNSUPPORTED, "the registry is in read-only mode");
        return;
    }
    if (writes && repository != NULL && mirrored(state->runtime, repository)) {
        response_send_error(req, REGISTRY_ERROR_UNSUPPORTED,
                            "this repository mirrors an upstream registry: pushes and deletes "
                            "are refused");
        return;
    }
    if (row == NULL) {
        response_send_error(req, REGISTRY_ERROR_UNSUPPORTED, NULL);
        return;
    }
    if (row->deletes && !state->runtime->config.delete_enabled) {
        response_send_error(req, REGISTRY_ERROR_UNSUPPORTED, "deletes are disabled");
        return;
    }
    row->handler(&thread->endpoint, req, route);
}

static void refuse_login(h2o_req_t *req, struct request_state *state, const struct route *route,
                         const struct endpoint *row)
{
    log_message(LOG_LEVEL_WARN, "authentication failed from a client: %s", error_message());
    access_control_refuse(req, state->runtime, &state->identity, endpoint_route_repository(route),
                          required_access(row, route));
}

/* A Basic login that missed the login cache: bcrypt on a worker thread, then
 * the request goes on where it stopped. */
struct login_work {
    struct request_work work;
    struct server_thread *thread;
    struct request_state *state; /* in the request's pool: only while it lives */
    struct runtime *runtime;     /* its own reference: the check reads its htpasswd */
    struct password_check *check;
    struct route route;
    const struct endpoint *row; /* NULL: the route has no such method */
};

/* access_password_checked() under the request's snapshot. */
static int password_checked(struct request_state *state, struct password_check *check)
{
    struct access_policy policy;
    access_control_policy(state->runtime, &policy);
    return access_password_checked(&policy, &state->identity, check);
}

static void login_run(struct request_work *work)
{
    access_password_check(((struct login_work *)work)->check);
}

static void login_complete(struct request_work *work)
{
    struct login_work *login = (struct login_work *)work;
    h2o_req_t *req = work->request;
    if (req == NULL) {
        access_password_abandon(login->check);
    } else if (password_checked(login->state, login->check) < 0) {
        refuse_login(req, login->state, &login->route, login->row);
    } else {
        dispatch(login->thread, req, login->state, &login->route, login->row);
    }
    runtime_release(login->runtime);
    request_work_dispose(work);
    free(login);
}

static int on_request(h2o_handler_t *self, h2o_req_t *req)
{
    struct registry_handler *handler = (struct registry_handler *)self;
    struct server_thread *thread = thread_of(req);
    (void)handler;

    refresh_runtime(thread);
    struct request_state *state = h2o_mem_alloc_shared(&req->pool, sizeof *state, request_freed);
    memset(state, 0, sizeof *state);
    state->thread = thread;
    state->runtime = thread->runtime;
    runtime_acquire(state->runtime);
    thread->in_flight++;

    h2o_add_header_by_str(&req->pool, &req->res.headers,
                          H2O_STRLIT("docker-distribution-api-version"), 0,
                          "Docker-Distribution-API-Version", H2O_STRLIT("registry/2.0"));

    /* Before anything reads the request: its bytes may belong to another. */
    const char *framing = request_framing_refusal(req);
    if (framing != NULL) {
        req->http1_is_persistent = 0; /* h2o closes; nothing after it is parsed */
        response_send_error(req,
                            body_spool_is_refusal(framing) ? REGISTRY_ERROR_UNAVAILABLE
                                                           : REGISTRY_ERROR_FRAMING_INVALID,
                            framing);
        return 0;
    }

    size_t path_length = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
    int debug = on_debug_listener(req);
    if (h2o_memis(req->path.base, path_length, H2O_STRLIT("/healthz"))) {
        response_send(req, 200, "text/plain; charset=utf-8", "ok\n", 3);
        return 0;
    }
    /* /metrics lives on the debug address when there is one. */
    if (h2o_memis(req->path.base, path_length, H2O_STRLIT("/metrics")) &&
        (debug || thread->server->settings->debug_address[0] == '\0')) {
        send_metrics(req);
        return 0;
    }
    if (debug) {
        response_send_error(req, REGISTRY_ERROR_NOT_FOUND, "only /metrics and /healthz here");
        return 0;
    }
    struct route route;
    int result = route_parse(req->path.base, path_length, &route);
    if (result < 0) {
        response_send_failure(req, result);
        return 0;
    }
    if (req->query_at != SIZE_MAX) /* containerd's ?ns= (src/http/mirror_namespace.h) */
        mirror_namespace_apply(state->runtime, req->path.base + req->query_at + 1,
                               req->path.len - req->query_at - 1, &route);
    const struct endpoint *row = endpoint_find(route.kind, req->method.base, req->method.len);
    struct password_check *check = NULL;
    result = access_control_identify(req, state->runtime, thread->server->login_limiter,
                                     &state->identity, &check);
    if (result == -EAGAIN) {
        access_control_throttle(req, &state->identity);
        return 0;
    }
    if (result < 0) {
        refuse_login(req, state, &route, row);
        return 0;
    }
    if (result > 0) {
        struct login_work *login = calloc(1, sizeof *login);
        if (login == NULL) {
            access_password_abandon(check);
            response_send_error(req, REGISTRY_ERROR_INTERNAL, "out of memory");
            return 0;
        }
        login->thread = thread;
        login->state = state;
        login->runtime = state->runtime;
        runtime_acquire(login->runtime);
        login->check = check;
        login->route = route;
        login->row = row;
        request_work_init(&login->work, req, &thread->work_receiver, login_run, login_complete);
        if (worker_pool_try_submit(thread->server->login_workers, &login->work) < 0) {
            metrics_login_queue_full();
            access_password_abandon(check);
            runtime_release(login->runtime);
            request_work_dispose(&login->work);
            free(login);
            response_add_header(req, "retry-after", "Retry-After", "1", 1);
            response_send_error(req, REGISTRY_ERROR_UNAVAILABLE,
                                "too many logins waiting for a password check");
        }
        return 0;
    }
    dispatch(thread, req, state, &route, row);
    return 0;
}

static void on_control(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    struct server_thread *thread =
        H2O_STRUCT_FROM_MEMBER(struct server_thread, control_receiver, receiver);
    while (!h2o_linklist_is_empty(messages)) {
        h2o_linklist_unlink(messages->next);
    }
    connections_stop_listening(&thread->connections);
    thread->listener = NULL;
    thread->debug_listener = NULL;
    h2o_context_request_shutdown(&thread->context);
}

static double now_seconds(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

static void set_up_loop(struct server_thread *thread);

static void *thread_main(void *argument)
{
    struct server_thread *thread = argument;
    struct server *server = thread->server;
    double deadline = 0;

    set_up_loop(thread);
    sem_post(&thread->set_up);
    /* The access-log lines of one turn of the loop go out in one write. */
    access_log_batch_start();

    for (;;) {
        h2o_evloop_run(thread->loop, 100);
        (void)access_log_flush();
        if (!atomic_load(&thread->stopping))
            continue;
        if (deadline == 0)
            deadline = now_seconds() + (double)thread->runtime->config.shutdown_grace_seconds;
        if (thread->in_flight == 0 && !connections_requests_arriving(&thread->connections) &&
            worker_pool_outstanding(server->registry.workers) == 0 &&
            worker_pool_outstanding(server->login_workers) == 0)
            break;
        if (now_seconds() > deadline) {
            log_message(LOG_LEVEL_WARN, "%lu requests still running after the grace period",
                        thread->in_flight);
            break;
        }
    }
    (void)access_log_flush();
    return NULL;
}

static int open_listener(const char *listen_address, int *fd_out)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *addresses;
    char listen_host[256], listen_port[16];
    if (config_split_address(listen_address, listen_host, sizeof listen_host, listen_port,
                             sizeof listen_port) < 0) {
        fprintf(stderr, "cairn: %s\n", error_message());
        return -EINVAL;
    }
    int result =
        getaddrinfo(listen_host[0] != '\0' ? listen_host : NULL, listen_port, &hints, &addresses);
    if (result != 0) {
        fprintf(stderr, "cairn: cannot resolve %s: %s\n", listen_host, gai_strerror(result));
        return -EINVAL;
    }
    int fd = socket(addresses->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int on = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) != 0 ||
        bind(fd, addresses->ai_addr, addresses->ai_addrlen) != 0 || listen(fd, 1024) != 0) {
        int error = errno;
        fprintf(stderr, "cairn: cannot listen on %s: %s\n", listen_address, strerror(error));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(addresses);
        return -error;
    }
    freeaddrinfo(addresses);
    *fd_out = fd;
    return 0;
}

static int configure_h2o(struct server *server)
{
    h2o_config_init(&server->config);
    server->config.server_name = h2o_iovec_init(NULL, 0);
    server->config.max_request_entity_size = server->settings->max_body_size;
    server->config.http1.req_timeout = server->settings->request_timeout_seconds * 1000;
    server->config.http2.idle_timeout = server->settings->idle_timeout_seconds * 1000;
    server->config.handshake_timeout = server->settings->header_timeout_seconds * 1000;

    h2o_hostconf_t *host =
        h2o_config_register_host(&server->config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    struct registry_handler *handler =
        (struct registry_handler *)h2o_create_handler(path, sizeof *handler);
    handler->super.on_req = on_request;
    handler->registry = &server->registry;
    h2o_logger_t *logger = h2o_create_logger(path, sizeof *logger);
    logger->log_access = log_access;

    /* Large request bodies spill to files on the registry's file system. */
    char scratch[TREE_PATH_MAX];
    if (server->settings->body_temporary_directory != NULL) {
        if (snprintf(scratch, sizeof scratch, "%s", server->settings->body_temporary_directory) >=
            (int)sizeof scratch)
            return -ENAMETOOLONG;
        if (access(scratch, W_OK | X_OK) != 0) {
            int error = errno;
            fprintf(stderr, "cairn: cairn.body_temporary_directory %s: %s\n", scratch,
                    strerror(error));
            return -error;
        }
    } else if (tree_path_scratch_directory(&server->registry.tree, scratch) < 0)
        return -EINVAL;
    int length =
        snprintf(h2o_socket_buffer_mmap_settings.fn_template,
                 sizeof h2o_socket_buffer_mmap_settings.fn_template, "%s/h2o.body.XXXXXX", scratch);
    if (length < 0 || (size_t)length >= sizeof h2o_socket_buffer_mmap_settings.fn_template) {
        fprintf(stderr, "cairn: root directory path too long for body files\n");
        return -ENAMETOOLONG;
    }
    return 0;
}

/*
 * Everything h2o of a loop is created on the loop's own thread. h2o keeps
 * per-thread (TLS) allocators and records in each socket buffer the one it
 * came from; a socket made on another thread (the message queue's pipe, a
 * listener) would make two loops share the creating thread's free lists
 * without a lock — heap corruption, found with ThreadSanitizer under the GC
 * stress test.
 */
static void set_up_loop(struct server_thread *thread)
{
    struct server *server = thread->server;
    thread->loop = h2o_evloop_create();
    struct connection_settings limits = {
        .idle_ms = server->settings->idle_timeout_seconds * 1000,
        .header_ms = server->settings->header_timeout_seconds * 1000,
        .limit =
            (server->max_connections + server->settings->threads - 1) / server->settings->threads,
    };
    connections_init(&thread->connections, thread->loop, &limits);
    h2o_context_init(&thread->context, thread->loop, &server->config);
    h2o_multithread_register_receiver(thread->context.queue, &thread->work_receiver,
                                      worker_pool_receive);
    h2o_multithread_register_receiver(thread->context.queue, &thread->control_receiver, on_control);
    thread->runtime = runtime_current();
    thread->accept_context.ssl_ctx = thread->runtime->tls_context;
    thread->endpoint.registry = &server->registry;
    thread->endpoint.work_receiver = &thread->work_receiver;
    thread->accept_context.ctx = &thread->context;
    thread->accept_context.hosts = server->config.hosts;
    thread->listener =
        h2o_evloop_socket_create(thread->loop, thread->listen_fd, H2O_SOCKET_FLAG_DONT_READ);
    thread->listener->data = thread;
    connections_listen(&thread->connections, thread->listener, on_accept, 1);
    if (thread->debug_fd >= 0) {
        thread->debug_accept_context = thread->accept_context;
        thread->debug_accept_context.ssl_ctx = NULL;
        thread->debug_listener =
            h2o_evloop_socket_create(thread->loop, thread->debug_fd, H2O_SOCKET_FLAG_DONT_READ);
        thread->debug_listener->data = thread;
        connections_listen(&thread->connections, thread->debug_listener, on_accept_debug, 0);
    }
}

static int start_thread(struct server *server, struct server_thread *thread, int listen_fd,
                        int debug_fd)
{
    thread->server = server;
    thread->listen_fd = listen_fd;
    thread->debug_fd = debug_fd;
    sem_init(&thread->set_up, 0, 0);
    int result = pthread_create(&thread->thread, NULL, thread_main, thread);
    if (result != 0) {
        sem_destroy(&thread->set_up);
        fprintf(stderr, "cairn: cannot start thread: %s\n", strerror(result));
        return -result;
    }
    /* The loop is ready (its listener accepting) before start-up goes on. */
    while (sem_wait(&thread->set_up) != 0 && errno == EINTR)
        ;
    sem_destroy(&thread->set_up);
    thread->started = 1;
    return 0;
}

/* The uploads already in the tree when cairn starts (for the gauge). */
static int64_t count_uploads(const struct tree *tree)
{
    struct string_list repositories = {0};
    int64_t count = 0;
    if (walk_repositories_with_uploads(tree, &repositories) == 0)
        for (size_t i = 0; i < repositories.count; i++) {
            struct string_list uploads = {0};
            if (walk_uploads(tree, repositories.items[i], &uploads) == 0)
                count += (int64_t)uploads.count;
            string_list_clear(&uploads);
        }
    string_list_clear(&repositories);
    return count;
}

/* The port of "host:port", "[v6]:port" or ":port" (0 when there is none). */
static int listen_port_of(const char *address)
{
    const char *colon = strrchr(address, ':');
    return colon != NULL ? atoi(colon + 1) : 0;
}

/* After a reload: the S3 store takes the credentials, timeouts and
 * lifetimes of the new snapshot (where the bucket is needs a restart), and
 * the event endpoints change (src/observe/events.h). */
static void apply_reload(const struct runtime *runtime, void *context)
{
    struct server *server = context;
    struct registry *registry = &server->registry;
    if (runtime->config.s3_enabled &&
        blob_store_s3_update(registry->blobs, &runtime->config.s3) < 0)
        log_message(LOG_LEVEL_ERROR, "storage.s3: %s", error_message());
    struct events *events = atomic_load(&registry->events);
    char spool[TREE_PATH_MAX];
    int result = tree_path_event_spool(&registry->tree, spool);
    if (result == 0)
        result = events_reconfigure(&events, &runtime->config.events, spool,
                                    listen_port_of(server->settings->listen_address),
                                    access_pattern_match);
    if (result < 0)
        log_message(LOG_LEVEL_ERROR, "notifications: %s", error_message());
    atomic_store(&registry->events, events);
}

static int open_registry(struct server *server)
{
    struct registry *registry = &server->registry;
    const struct config *settings = server->settings;
    if (tree_open(&registry->tree, settings->root_directory, 1) < 0 ||
        (settings->s3_enabled
             ? blob_store_s3_create(&registry->tree, &settings->s3, &registry->blobs)
             : blob_store_fs_create(&registry->tree, &registry->blobs)) < 0 ||
        upload_sessions_create(&registry->uploads) < 0 ||
        worker_pool_start(server->settings->workers, 0, &registry->workers) < 0 ||
        worker_pool_start(server->settings->login_workers, server->settings->login_queue,
                          &server->login_workers) < 0 ||
        login_limiter_create(CONFIG_LOGIN_LIMITER_CAPACITY, NULL, NULL, &server->login_limiter) <
            0) {
        fprintf(stderr, "cairn: cannot open %s: %s\n", server->settings->root_directory,
                error_message());
        return -EINVAL;
    }
    /* So that cairn-gc knows whether this process stopped uncleanly (and
     * may have left debris). A read-only tree takes no writes from us. */
    if (run_marker_enter(&registry->tree, "cairn", &server->run_marker) < 0) {
        if (!settings->read_only) {
            fprintf(stderr, "cairn: %s\n", error_message());
            return -EINVAL;
        }
        log_message(LOG_LEVEL_WARN, "%s (read-only: serving anyway)", error_message());
    }
    metrics_uploads_set(count_uploads(&registry->tree));
    struct events *events = NULL;
    char spool[TREE_PATH_MAX];
    if (tree_path_event_spool(&registry->tree, spool) < 0 ||
        events_open(&settings->events, spool, listen_port_of(settings->listen_address),
                    access_pattern_match, &events) < 0) {
        fprintf(stderr, "cairn: notifications: %s\n", error_message());
        return -EINVAL;
    }
    atomic_store(&registry->events, events);
    runtime_set_publish_hook(apply_reload, server);
    if (settings->s3_enabled) {
        log_message(LOG_LEVEL_INFO,
                    "blobs in S3: bucket %s at %s (%s addressing, region %s, prefix \"%s\"); "
                    "blob GETs %s",
                    settings->s3.bucket, settings->s3.endpoint,
                    settings->s3.path_style ? "path-style" : "virtual-hosted", settings->s3.region,
                    settings->s3.root_directory,
                    settings->redirect_disabled ? "streamed by cairn" : "redirected (307)");
        /* Serve anyway (manifests, tags, listings are local): say it loudly. */
        if (blob_store_s3_check(registry->blobs) < 0)
            log_message(LOG_LEVEL_ERROR,
                        "S3 bucket %s does not answer as it should: %s; pushes and layer pulls "
                        "fail with 503 until it does",
                        settings->s3.bucket, error_message());
    }
    return 0;
}

static void close_registry(struct server *server)
{
    struct registry *registry = &server->registry;
    runtime_set_publish_hook(NULL, NULL);
    worker_pool_stop(server->login_workers);
    login_limiter_free(server->login_limiter);
    worker_pool_stop(registry->workers);
    events_close(atomic_load(&registry->events));
    atomic_store(&registry->events, NULL);
    upload_sessions_destroy(registry->uploads);
    if (registry->blobs != NULL)
        blob_store_destroy(registry->blobs);
    run_marker_leave(&server->run_marker);
}

int server_run(struct options *options)
{
    struct server server = {.options = options, .run_marker = {.fd = -1}};
    struct runtime *initial = NULL;
    struct reloader *reloader = NULL;
    struct upload_purger *purger = NULL;
    int exit_code = 1;
    sigset_t signals;

    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);

    /* The first snapshot takes over the configuration parsed from the flags
     * and file; its restart-only settings stay for the whole run. */
    char changes[8];
    if (runtime_build(&options->config, NULL, &initial, changes, sizeof changes) < 0) {
        fprintf(stderr, "cairn: %s\n", error_message());
        goto done;
    }
    runtime_acquire(initial);
    runtime_publish(initial);
    log_configure(initial->config.log_level, initial->config.log_format);
    server.settings = &initial->config;
    if (connections_budget(server.settings->max_connections,
                           server.settings->threads + server.settings->workers +
                               server.settings->login_workers,
                           &server.max_connections) < 0) {
        fprintf(stderr, "cairn: %s\n", error_message());
        goto done;
    }
    address_block_configure(server.settings->http2_reset_block_seconds * 1000);
    if (open_registry(&server) < 0)
        goto done;
    if (configure_h2o(&server) < 0)
        goto done;
    if (reloader_start(options, &reloader) < 0)
        log_message(LOG_LEVEL_WARN, "configuration files are not watched: %s", error_message());
    server.threads = calloc(server.settings->threads, sizeof *server.threads);
    if (server.threads == NULL)
        goto done;
    for (unsigned i = 0; i < server.settings->threads; i++) {
        int fd = -1, debug_fd = -1;
        if (open_listener(server.settings->listen_address, &fd) < 0 ||
            (i == 0 && server.settings->debug_address[0] != '\0' &&
             open_listener(server.settings->debug_address, &debug_fd) < 0) ||
            start_thread(&server, &server.threads[i], fd, debug_fd) < 0)
            goto stop;
        server.thread_count++;
    }
    log_message(LOG_LEVEL_INFO, "cairn %s: serving %s on %s with %u threads", CAIRN_VERSION,
                server.registry.tree.root_directory, server.settings->listen_address,
                server.settings->threads);

    systemd_notify_ready();
    systemd_notify_status("serving %s on %s", server.registry.tree.root_directory,
                          server.settings->listen_address);
    if (upload_purger_start(&server.registry.tree, &purger) < 0)
        log_message(LOG_LEVEL_WARN, "stale uploads are not purged: %s", error_message());
    for (;;) {
        int signal_number;
        if (sigwait(&signals, &signal_number) != 0)
            continue;
        if (signal_number == SIGTERM || signal_number == SIGINT)
            break;
        if (signal_number == SIGHUP && reloader != NULL)
            reload_now(reloader, "SIGHUP");
    }
    systemd_notify_stopping();
    reloader_stop(reloader);
    reloader = NULL;
    upload_purger_stop(purger);
    purger = NULL;
    log_message(LOG_LEVEL_INFO, "stopping: finishing requests in flight");
    exit_code = 0;

stop:
    for (unsigned i = 0; i < server.thread_count; i++) {
        atomic_store(&server.threads[i].stopping, 1);
        h2o_multithread_send_message(&server.threads[i].control_receiver,
                                     &server.threads[i].stop_message);
    }
    for (unsigned i = 0; i < server.thread_count; i++)
        if (server.threads[i].started)
            pthread_join(server.threads[i].thread, NULL);
    if (exit_code == 0)
        log_message(LOG_LEVEL_INFO, "stopped");
done:
    reloader_stop(reloader);
    close_registry(&server);
    free(server.threads);
    runtime_release(initial);
    return exit_code;
}
