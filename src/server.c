/* src/server.h */
#include "src/server.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <h2o.h>

#include "drivers/fs.h"
#include "layout/error.h"
#include "src/blob_handlers.h"
#include "src/listing_handlers.h"
#include "src/manifest_handlers.h"
#include "src/registry.h"
#include "src/response.h"
#include "src/router.h"
#include "src/upload_handlers.h"
#include "src/uploads.h"
#include "src/worker_pool.h"
#include "version.h"

struct registry_handler {
    h2o_handler_t super;
    struct registry *registry;
};

struct server_thread {
    pthread_t thread;
    struct server *server;
    int listen_fd;
    h2o_evloop_t *loop;
    h2o_context_t context;
    h2o_accept_ctx_t accept_context;
    h2o_socket_t *listener;
    h2o_multithread_receiver_t work_receiver;
    h2o_multithread_receiver_t control_receiver;
    h2o_multithread_message_t stop_message;
    struct endpoint_context endpoint;
    unsigned long in_flight;    /* requests not yet freed (loop thread only) */
    h2o_linklist_t connections; /* struct connection, open on this loop */
    atomic_int stopping;
    int started;
};

struct server {
    const struct options *options;
    h2o_globalconf_t config;
    struct registry registry;
    struct server_thread *threads;
    unsigned thread_count;
};

static struct server_thread *thread_of(h2o_req_t *req)
{
    return H2O_STRUCT_FROM_MEMBER(struct server_thread, context, req->conn->ctx);
}

static void request_freed(void *memory)
{
    struct server_thread *thread = *(struct server_thread **)memory;
    thread->in_flight--;
}

static void send_base(h2o_req_t *req)
{
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) && !request_is_head(req)) {
        response_send_error(req, REGISTRY_ERROR_UNSUPPORTED, NULL);
        return;
    }
    response_send(req, 200, "application/json", "{}", 2);
}

static int on_request(h2o_handler_t *self, h2o_req_t *req)
{
    struct registry_handler *handler = (struct registry_handler *)self;
    struct server_thread *thread = thread_of(req);
    (void)handler;

    struct server_thread **guard = h2o_mem_alloc_shared(&req->pool, sizeof *guard, request_freed);
    *guard = thread;
    thread->in_flight++;

    h2o_add_header_by_str(&req->pool, &req->res.headers,
                          H2O_STRLIT("docker-distribution-api-version"), 0,
                          "Docker-Distribution-API-Version", H2O_STRLIT("registry/2.0"));

    size_t path_length = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
    struct route route;
    int result = route_parse(req->path.base, path_length, &route);
    if (result < 0) {
        response_send_failure(req, result);
        return 0;
    }
    switch (route.kind) {
    case ROUTE_BASE:
        send_base(req);
        break;
    case ROUTE_CATALOG:
    case ROUTE_TAGS_LIST:
    case ROUTE_REFERRERS:
        listing_handle(&thread->endpoint, req, &route);
        break;
    case ROUTE_MANIFEST:
        manifest_handle(&thread->endpoint, req, &route);
        break;
    case ROUTE_BLOB:
        blob_handle(&thread->endpoint, req, &route);
        break;
    case ROUTE_UPLOAD_START:
    case ROUTE_UPLOAD:
        upload_handle(&thread->endpoint, req, &route);
        break;
    }
    return 0;
}

/* An accepted connection, tracked so that a stop can wait for requests whose
 * bytes are still arriving (h2o runs a handler only once the body is in). */
struct connection {
    h2o_linklist_t link;
    h2o_socket_t *socket;
};

static void connection_closed(void *data)
{
    struct connection *connection = data;
    h2o_linklist_unlink(&connection->link);
    free(connection);
}

/* Whether some connection holds the start of a request not yet handled. */
static int requests_arriving(struct server_thread *thread)
{
    for (h2o_linklist_t *node = thread->connections.next; node != &thread->connections;
         node = node->next) {
        struct connection *connection = H2O_STRUCT_FROM_MEMBER(struct connection, link, node);
        if (connection->socket->input != NULL && connection->socket->input->size > 0)
            return 1;
    }
    return 0;
}

static void on_accept(h2o_socket_t *listener, const char *error)
{
    if (error != NULL)
        return;
    struct server_thread *thread = listener->data;
    h2o_socket_t *socket = h2o_evloop_socket_accept(listener);
    if (socket == NULL)
        return;
    struct connection *connection = calloc(1, sizeof *connection);
    if (connection != NULL) {
        connection->socket = socket;
        h2o_linklist_insert(&thread->connections, &connection->link);
        socket->on_close.cb = connection_closed;
        socket->on_close.data = connection;
    }
    h2o_accept(&thread->accept_context, socket);
}

static void on_control(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    struct server_thread *thread =
        H2O_STRUCT_FROM_MEMBER(struct server_thread, control_receiver, receiver);
    while (!h2o_linklist_is_empty(messages)) {
        h2o_linklist_unlink(messages->next);
    }
    if (thread->listener != NULL) {
        h2o_socket_read_stop(thread->listener);
        h2o_socket_close(thread->listener);
        thread->listener = NULL;
    }
    h2o_context_request_shutdown(&thread->context);
}

static double now_seconds(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

static void *thread_main(void *argument)
{
    struct server_thread *thread = argument;
    struct server *server = thread->server;
    double deadline = 0;

    for (;;) {
        h2o_evloop_run(thread->loop, 100);
        if (!atomic_load(&thread->stopping))
            continue;
        if (deadline == 0)
            deadline = now_seconds() + (double)server->options->shutdown_grace_seconds;
        if (thread->in_flight == 0 && !requests_arriving(thread) &&
            worker_pool_outstanding(server->registry.workers) == 0)
            break;
        if (now_seconds() > deadline) {
            fprintf(stderr, "cairn: %lu requests still running after the grace period\n",
                    thread->in_flight);
            break;
        }
    }
    return NULL;
}

static int open_listener(const struct options *options, int *fd_out)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *addresses;
    int result = getaddrinfo(options->listen_host[0] != '\0' ? options->listen_host : NULL,
                             options->listen_port, &hints, &addresses);
    if (result != 0) {
        fprintf(stderr, "cairn: cannot resolve %s: %s\n", options->listen_host,
                gai_strerror(result));
        return -EINVAL;
    }
    int fd = socket(addresses->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int on = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) != 0 ||
        bind(fd, addresses->ai_addr, addresses->ai_addrlen) != 0 || listen(fd, 1024) != 0) {
        int error = errno;
        fprintf(stderr, "cairn: cannot listen on %s:%s: %s\n", options->listen_host,
                options->listen_port, strerror(error));
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
    const struct options *options = server->options;
    h2o_config_init(&server->config);
    server->config.server_name = h2o_iovec_init(NULL, 0);
    server->config.max_request_entity_size = options->max_body_size;
    server->config.http1.req_timeout = options->request_timeout_seconds * 1000;
    server->config.http2.idle_timeout = 60 * 1000;

    h2o_hostconf_t *host =
        h2o_config_register_host(&server->config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    struct registry_handler *handler =
        (struct registry_handler *)h2o_create_handler(path, sizeof *handler);
    handler->super.on_req = on_request;
    handler->registry = &server->registry;

    /* Large request bodies spill to files on the registry's file system. */
    char scratch[TREE_PATH_MAX];
    if (tree_path_scratch_directory(&server->registry.tree, scratch) < 0)
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

static int start_thread(struct server *server, struct server_thread *thread, int listen_fd)
{
    thread->server = server;
    thread->listen_fd = listen_fd;
    thread->loop = h2o_evloop_create();
    h2o_linklist_init_anchor(&thread->connections);
    h2o_context_init(&thread->context, thread->loop, &server->config);
    h2o_multithread_register_receiver(thread->context.queue, &thread->work_receiver,
                                      worker_pool_receive);
    h2o_multithread_register_receiver(thread->context.queue, &thread->control_receiver, on_control);
    thread->endpoint.registry = &server->registry;
    thread->endpoint.work_receiver = &thread->work_receiver;
    thread->accept_context.ctx = &thread->context;
    thread->accept_context.hosts = server->config.hosts;
    thread->listener = h2o_evloop_socket_create(thread->loop, listen_fd, H2O_SOCKET_FLAG_DONT_READ);
    thread->listener->data = thread;
    h2o_socket_read_start(thread->listener, on_accept);
    int result = pthread_create(&thread->thread, NULL, thread_main, thread);
    if (result != 0) {
        fprintf(stderr, "cairn: cannot start thread: %s\n", strerror(result));
        return -result;
    }
    thread->started = 1;
    return 0;
}

static int open_registry(struct server *server)
{
    struct registry *registry = &server->registry;
    const struct options *options = server->options;
    registry->delete_enabled = options->delete_enabled;
    if (tree_open(&registry->tree, options->root_directory, 1) < 0 ||
        blob_store_fs_create(&registry->tree, &registry->blobs) < 0 ||
        upload_sessions_create(&registry->uploads) < 0 ||
        worker_pool_start(options->workers, &registry->workers) < 0) {
        fprintf(stderr, "cairn: cannot open %s: %s\n", options->root_directory, error_message());
        return -EINVAL;
    }
    return 0;
}

static void close_registry(struct registry *registry)
{
    worker_pool_stop(registry->workers);
    upload_sessions_destroy(registry->uploads);
    if (registry->blobs != NULL)
        blob_store_destroy(registry->blobs);
}

int server_run(const struct options *options)
{
    struct server server = {.options = options};
    int exit_code = 1;
    sigset_t signals;

    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);

    if (open_registry(&server) < 0)
        goto done;
    if (configure_h2o(&server) < 0)
        goto done;
    server.threads = calloc(options->threads, sizeof *server.threads);
    if (server.threads == NULL)
        goto done;
    for (unsigned i = 0; i < options->threads; i++) {
        int fd = -1;
        if (open_listener(options, &fd) < 0 || start_thread(&server, &server.threads[i], fd) < 0)
            goto stop;
        server.thread_count++;
    }
    fprintf(stderr, "cairn %s: serving %s on %s:%s with %u threads\n", CAIRN_VERSION,
            server.registry.tree.root_directory, options->listen_host, options->listen_port,
            options->threads);

    for (;;) {
        int signal_number;
        if (sigwait(&signals, &signal_number) != 0)
            continue;
        if (signal_number == SIGTERM || signal_number == SIGINT)
            break;
    }
    fprintf(stderr, "cairn: stopping: finishing requests in flight\n");
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
        fprintf(stderr, "cairn: stopped\n");
done:
    close_registry(&server.registry);
    free(server.threads);
    return exit_code;
}
