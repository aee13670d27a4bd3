/*
 * src/http/endpoint_context.h — what every request handler of the server shares.
 *
 * One `struct registry` exists per process, built before the event loops
 * start and read-only afterwards (the upload session table has its own
 * lock). Each event loop passes its own `struct endpoint_context`, which adds
 * the receiver through which worker threads hand results back to that loop,
 * and the configuration snapshot (src/config/runtime.h) of the current request.
 */
#ifndef CAIRN_SRC_HTTP_ENDPOINT_CONTEXT_H
#define CAIRN_SRC_HTTP_ENDPOINT_CONTEXT_H

#include <h2o.h>
#include "drivers/blob_store.h"
#include "layout/tree.h"

struct access_identity;
struct runtime;
struct upload_sessions;
struct worker_pool;

struct events;

struct registry {
    struct tree tree;
    struct blob_store *blobs;
    struct upload_sessions *uploads;
    struct worker_pool *workers;
    /* Registry events (src/http/request_events.h): NULL until an endpoint
     * is configured; then set once, and read by every thread. */
    _Atomic(struct events *) events;
};

struct endpoint_context {
    struct registry *registry;
    h2o_multithread_receiver_t *work_receiver;
    /* The snapshot of the request being handled (valid while its handler
     * runs on the loop; work for later copies what it needs). */
    struct runtime *runtime;
    const struct access_identity *identity; /* who asks, likewise */
};

#endif
