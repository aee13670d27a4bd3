/* src/http/endpoints.h */
#include "src/http/endpoints.h"

#include <string.h>

#include "src/auth/access_rules.h"
#include "src/http/blob_handlers.h"
#include "src/http/listing_handlers.h"
#include "src/http/manifest_handlers.h"
#include "src/http/response.h"
#include "src/http/upload_handlers.h"

/* GET /v2/: the API is here (and, with authentication, the caller is in). */
static void send_base(struct endpoint_context *endpoint, h2o_req_t *req, const struct route *route)
{
    (void)endpoint;
    (void)route;
    response_send(req, 200, "application/json", "{}", 2);
}

#define PULL ACCESS_PULL
#define PUSH ACCESS_PUSH
#define READS 0, 0
#define WRITES 1, 0
#define DELETES 1, 1

/* docs/api.md's endpoint table lists the same rows (tests/unit/test_endpoints.c). */
static const struct endpoint ENDPOINTS[] = {
    {ROUTE_BASE, "GET", 0, READS, ENDPOINT_ON_LOOP, send_base},
    {ROUTE_BASE, "HEAD", 0, READS, ENDPOINT_ON_LOOP, send_base},
    {ROUTE_CATALOG, "GET", ACCESS_CATALOG, READS, ENDPOINT_ON_LOOP, listing_handle_catalog},
    {ROUTE_CATALOG, "HEAD", ACCESS_CATALOG, READS, ENDPOINT_ON_LOOP, listing_handle_catalog},
    {ROUTE_TAGS_LIST, "GET", PULL, READS, ENDPOINT_ON_LOOP, listing_handle_tags},
    {ROUTE_TAGS_LIST, "HEAD", PULL, READS, ENDPOINT_ON_LOOP, listing_handle_tags},
    {ROUTE_MANIFEST, "GET", PULL, READS, ENDPOINT_ON_LOOP, manifest_handle_get},
    {ROUTE_MANIFEST, "HEAD", PULL, READS, ENDPOINT_ON_LOOP, manifest_handle_get},
    {ROUTE_MANIFEST, "PUT", PUSH, WRITES, ENDPOINT_ON_WORKER, manifest_handle_put},
    {ROUTE_MANIFEST, "DELETE", ACCESS_DELETE, DELETES, ENDPOINT_ON_WORKER, manifest_handle_delete},
    {ROUTE_BLOB, "GET", PULL, READS, ENDPOINT_ON_STORE, blob_handle_get},
    {ROUTE_BLOB, "HEAD", PULL, READS, ENDPOINT_ON_STORE, blob_handle_get},
    {ROUTE_BLOB, "DELETE", ACCESS_DELETE, DELETES, ENDPOINT_ON_WORKER, blob_handle_delete},
    {ROUTE_UPLOAD_START, "POST", PUSH, WRITES, ENDPOINT_ON_WORKER, upload_handle_start},
    {ROUTE_UPLOAD, "GET", PUSH, READS, ENDPOINT_ON_LOOP, upload_handle_status},
    {ROUTE_UPLOAD, "HEAD", PUSH, READS, ENDPOINT_ON_LOOP, upload_handle_status},
    {ROUTE_UPLOAD, "PATCH", PUSH, WRITES, ENDPOINT_ON_WORKER, upload_handle_append},
    {ROUTE_UPLOAD, "PUT", PUSH, WRITES, ENDPOINT_ON_WORKER, upload_handle_commit},
    {ROUTE_UPLOAD, "DELETE", PUSH, WRITES, ENDPOINT_ON_WORKER, upload_handle_cancel},
    {ROUTE_REFERRERS, "GET", PULL, READS, ENDPOINT_ON_LOOP, listing_handle_referrers},
    {ROUTE_REFERRERS, "HEAD", PULL, READS, ENDPOINT_ON_LOOP, listing_handle_referrers},
};

#define ENDPOINT_COUNT (sizeof ENDPOINTS / sizeof ENDPOINTS[0])

const struct endpoint *endpoint_find(enum route_kind route, const char *method, size_t length)
{
    for (size_t i = 0; i < ENDPOINT_COUNT; i++)
        if (ENDPOINTS[i].route == route && strlen(ENDPOINTS[i].method) == length &&
            memcmp(ENDPOINTS[i].method, method, length) == 0)
            return &ENDPOINTS[i];
    return NULL;
}

unsigned endpoint_route_access(enum route_kind route)
{
    switch (route) {
    case ROUTE_BASE:
        return 0;
    case ROUTE_CATALOG:
        return ACCESS_CATALOG;
    case ROUTE_MANIFEST:
    case ROUTE_UPLOAD_START:
    case ROUTE_UPLOAD:
        return ACCESS_PUSH;
    case ROUTE_TAGS_LIST:
    case ROUTE_BLOB:
    case ROUTE_REFERRERS:
        break;
    }
    return ACCESS_PULL;
}

const char *endpoint_route_repository(const struct route *route)
{
    return route->kind == ROUTE_BASE || route->kind == ROUTE_CATALOG ? NULL : route->name;
}

enum metrics_route endpoint_metrics_route(enum route_kind route)
{
    switch (route) {
    case ROUTE_BASE:
        return METRICS_ROUTE_BASE;
    case ROUTE_CATALOG:
        return METRICS_ROUTE_CATALOG;
    case ROUTE_TAGS_LIST:
        return METRICS_ROUTE_TAGS;
    case ROUTE_MANIFEST:
        return METRICS_ROUTE_MANIFEST;
    case ROUTE_UPLOAD_START:
    case ROUTE_UPLOAD:
        return METRICS_ROUTE_UPLOAD;
    case ROUTE_BLOB:
        return METRICS_ROUTE_BLOB;
    case ROUTE_REFERRERS:
        return METRICS_ROUTE_REFERRERS;
    }
    return METRICS_ROUTE_OTHER;
}

const struct endpoint *endpoint_table(size_t *count)
{
    *count = ENDPOINT_COUNT;
    return ENDPOINTS;
}
