/*
 * src/http/endpoints.h — the endpoint table: one row per (route, method) of
 * the API, saying what the server must know about a request before any
 * handler runs.
 *
 * A row names the route (router.h), the method (HEAD has rows of its own,
 * served by the GET handler: response.h sends no body for HEAD), the access
 * the caller needs (ACCESS_* bits, checked by src/http/access_control.h),
 * whether it writes (refused in read-only mode), whether it deletes (refused
 * while storage.delete.enabled is false), where its work runs and the one
 * handler that serves it. docs/api.md lists the same rows
 * (tests/unit/test_endpoints.c checks it).
 *
 * server.c looks the row up once per request and enforces, in this order,
 * from the row alone: the access decision (401/403), read-only mode (405
 * UNSUPPORTED), disabled deletes (405 UNSUPPORTED); then it calls the
 * handler. A method the route has no row for is answered 405 UNSUPPORTED
 * after the same access decision with endpoint_route_access() and the same
 * read-only refusal for anything but GET and HEAD, so that the answer to
 * someone who may not use the route tells nothing more than before. A
 * handler therefore never looks at the method, read-only mode or the delete
 * setting.
 *
 *     const struct endpoint *row = endpoint_find(route.kind, method, method_length);
 *     if (row == NULL) -> 405 (after the checks above)
 *     row->handler(endpoint_context, req, &route);
 */
#ifndef CAIRN_SRC_HTTP_ENDPOINTS_H
#define CAIRN_SRC_HTTP_ENDPOINTS_H

#include <stddef.h>

#include <h2o.h>

#include "src/http/endpoint_context.h"
#include "src/http/router.h"
#include "src/observe/metrics.h"

/* Where the work of a row runs. Every handler starts on the event loop. */
enum endpoint_thread {
    ENDPOINT_ON_LOOP,   /* answered on the loop: reads of the tree, small files */
    ENDPOINT_ON_WORKER, /* planned on the loop, its work on a worker thread */
    ENDPOINT_ON_STORE,  /* on the loop for a local blob store, a worker for a remote one */
};

typedef void endpoint_handler(struct endpoint_context *endpoint, h2o_req_t *req,
                              const struct route *route);

struct endpoint {
    enum route_kind route;
    const char *method; /* "GET", "HEAD", "PUT", "POST", "PATCH" or "DELETE" */
    unsigned access;    /* ACCESS_* bits on the route's repository; 0: being let in */
    int writes;         /* refused in read-only mode */
    int deletes;        /* refused while deletes are disabled */
    enum endpoint_thread runs;
    endpoint_handler *handler;
};

/* The row for `method` (h2o's token, not NUL-terminated) on `route`, or NULL
 * when the route has no such method. */
const struct endpoint *endpoint_find(enum route_kind route, const char *method, size_t length);

/* The access a request to `route` with a method it has no row for is
 * checked against before its 405 (what the route's other methods need
 * first: pull for reads, push where the route only writes). */
unsigned endpoint_route_access(enum route_kind route);

/* The repository the access of a request to `route` is about: route->name,
 * or NULL for /v2/ and the catalog. */
const char *endpoint_route_repository(const struct route *route);

/* The metrics' `route` label of `route` (both upload routes are "upload");
 * METRICS_ROUTE_OTHER for an unknown kind. */
enum metrics_route endpoint_metrics_route(enum route_kind route);

/* Every row, in the table's order (for tests and documentation checks). */
const struct endpoint *endpoint_table(size_t *count);

#endif
