/* src/http/blob_handlers.h */
#include "src/http/blob_handlers.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "layout/error.h"
#include "src/http/blob_sender.h"
#include "src/http/range.h"
#include "src/observe/metrics.h"
#include "src/registry/mirror.h"
#include "src/http/request_events.h"
#include "src/registry/repository.h"
#include "src/http/response.h"
#include "src/config/runtime.h"
#include "src/http/worker_pool.h"

static int etag_matches(h2o_iovec_t header, const struct digest *digest)
{
    if (header.base == NULL)
        return 0;
    char etag[DIGEST_STRING_MAX + 2];
    int length = snprintf(etag, sizeof etag, "\"%s\"", digest->string);
    for (size_t i = 0; i + (size_t)length <= header.len; i++)
        if (memcmp(header.base + i, etag, (size_t)length) == 0)
            return 1;
    return header.len == 1 && header.base[0] == '*';
}

/* A blob served (or redirected to): Distribution's pull event. `who`: the
 * request as captured when it was handled, or NULL to capture it now (on
 * its handler's turn). */
static void pulled(struct endpoint_context *endpoint, h2o_req_t *req, const char *name,
                   const struct digest *digest, int64_t size, const struct event_request *who)
{
    struct event_request now;
    who = request_events_who(endpoint->registry, req, endpoint->identity, who, &now);
    if (who != NULL)
        request_events_blob(endpoint->registry, "pull", who, name, NULL, digest, size, 0);
}

/* Sets the status and headers of a blob response and streams it (a
 * redirect for BLOB_SERVED_BY_REDIRECT); the reader is NULL for HEAD. Takes
 * the reader. */
static void respond_with_blob(struct endpoint_context *endpoint, h2o_req_t *req, const char *name,
                              const struct digest *digest, struct blob_serving *serving,
                              const struct event_request *who)
{
    struct blob_reader *reader = serving->reader;
    const struct blob_info *info = &serving->info;
    if (serving->kind == BLOB_SERVED_BY_REDIRECT) {
        pulled(endpoint, req, name, digest, info->size, who);
        response_add_header(req, "docker-content-digest", "Docker-Content-Digest", digest->string,
                            digest->string_length);
        response_add_header(req, "location", "Location", serving->url, strlen(serving->url));
        response_send(req, 307, NULL, NULL, 0);
        return;
    }
    response_add_header(req, "docker-content-digest", "Docker-Content-Digest", digest->string,
                        digest->string_length);
    response_add_digest_etag(req, digest->string, digest->string_length);
    if (etag_matches(request_header(req, "if-none-match"), digest)) {
        blob_reader_close(reader);
        response_send(req, 304, NULL, NULL, 0);
        return;
    }
    int64_t first = 0, last = info->size - 1;
    h2o_iovec_t range_header = request_header(req, "range");
    int range = range_parse(range_header.base, range_header.len, info->size, &first, &last);
    if (range < 0) {
        blob_reader_close(reader);
        response_add_header_format(req, "content-range", "Content-Range", "bytes */%" PRId64,
                                   info->size);
        response_send_error(req, REGISTRY_ERROR_RANGE_UNSATISFIABLE, NULL);
        return;
    }
    pulled(endpoint, req, name, digest, info->size, who);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("application/octet-stream"));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ACCEPT_RANGES, NULL,
                   H2O_STRLIT("bytes"));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                   H2O_STRLIT("max-age=31536000"));
    if (range > 0) {
        req->res.status = 206;
        req->res.reason = "Partial Content";
        response_add_header_format(req, "content-range", "Content-Range",
                                   "bytes %" PRId64 "-%" PRId64 "/%" PRId64, first, last,
                                   info->size);
    } else {
        req->res.status = 200;
        req->res.reason = "OK";
    }
    if (reader != NULL && serving->kind == BLOB_SERVED_REMOTELY)
        blob_sender_start_remote(req, reader, first, last - first + 1, endpoint->registry->workers,
                                 endpoint->work_receiver);
    else
        blob_sender_start(req, reader, first, last - first + 1);
}

/* What a GET or HEAD asks of the store (drivers/blob_store.h). */
static unsigned serve_request(const struct endpoint_context *endpoint, h2o_req_t *req)
{
    if (request_is_head(req))
        return 0;
    return BLOB_SERVE_BODY |
           (endpoint->runtime->config.redirect_disabled ? 0 : BLOB_SERVE_REDIRECT_ALLOWED);
}

/* The repository must link the blob, and the store have it; -EWOULDBLOCK
 * when `how` has BLOB_SERVE_NOW and the store needs the network. */
static int serve_blob(struct registry *registry, const char *name, const struct digest *digest,
                      unsigned how, struct blob_serving *serving)
{
    int result = repository_stat_blob(&registry->tree, NULL, name, digest, &serving->info);
    if (result == 0)
        result = blob_store_serve(registry->blobs, digest, how, serving);
    if (result == -ENOENT)
        result =
            error_set(-REGISTRY_ERROR_BLOB_UNKNOWN, "blob %s unknown to registry", digest->string);
    return result;
}

/* ---- blobs the store serves over the network: asked on a worker thread ---- */

struct fetch_work {
    struct request_work work;
    struct endpoint_context *endpoint; /* the loop's: outlives the work */
    struct route route;
    struct digest digest;
    unsigned how;
    struct blob_serving serving;
    /* A miss of a mirrored repository: filled from this upstream first
     * (mirror.h), which lives in `runtime`, referenced until completion. */
    struct runtime *runtime;
    struct upstream *upstream;
    char remote[UPSTREAM_NAME_MAX];
    enum metrics_mirror_outcome mirror_outcome;
    /* A GET of a mirror's miss follows the fill while it runs
     * (mirror_blob_follower): the worker posts `start` with a reader of the
     * growing blob, and the loop starts the response before the fill ends.
     * `followed` is set before the post; `start` is disposed by its
     * completion, or by fetch_complete when it was never posted. */
    struct request_work start;
    int start_prepared, followed;
    struct blob_reader *follow_reader;
    int64_t follow_size;
    enum metrics_mirror_outcome follow_outcome;
    struct event_request who; /* for the pull event, captured on the loop */
};

/* On the worker, inside mirror_fill_blob(). */
static void fetch_follow(void *context, struct blob_reader *reader, int64_t size,
                         enum metrics_mirror_outcome outcome)
{
    struct fetch_work *fetch = context;
    fetch->follow_reader = reader;
    fetch->follow_size = size;
    fetch->follow_outcome = outcome;
    fetch->followed = 1;
    worker_pool_post(fetch->endpoint->registry->workers, &fetch->start);
}

/* On the loop, before fetch_complete: the response streams the fill. */
static void start_complete(struct request_work *work)
{
    struct fetch_work *fetch =
        (struct fetch_work *)((char *)work - offsetof(struct fetch_work, start));
    h2o_req_t *req = work->request;
    struct blob_serving serving = {.kind = BLOB_SERVED_REMOTELY,
                                   .info = {.size = fetch->follow_size},
                                   .reader = fetch->follow_reader};
    fetch->follow_reader = NULL;
    if (req == NULL)
        blob_reader_close(serving.reader);
    else {
        response_note_mirror(req, fetch->follow_outcome);
        respond_with_blob(fetch->endpoint, req, fetch->route.name, &fetch->digest, &serving,
                          &fetch->who);
    }
    request_work_dispose(work);
}

static void fetch_run(struct request_work *work)
{
    struct fetch_work *fetch = (struct fetch_work *)work;
    struct registry *registry = fetch->endpoint->registry;
    int result = 0;
    const struct mirror_blob_follower follower = {.follow = fetch_follow, .context = fetch};
    if (fetch->upstream != NULL)
        result = mirror_fill_blob(&registry->tree, registry->blobs, fetch->upstream,
                                  fetch->route.name, fetch->remote, &fetch->digest,
                                  fetch->start_prepared ? &follower : NULL, &fetch->mirror_outcome);
    if (result == 0 && !fetch->followed)
        result =
            serve_blob(registry, fetch->route.name, &fetch->digest, fetch->how, &fetch->serving);
    request_work_set_result(work, result);
}

static void fetch_complete(struct request_work *work)
{
    struct fetch_work *fetch = (struct fetch_work *)work;
    h2o_req_t *req = work->request;
    if (fetch->followed) {
        /* Answered by start_complete; a failure of the fill cuts that
         * response (its reader fails) and is logged by the fill. */
    } else {
        if (fetch->start_prepared)
            request_work_dispose(&fetch->start); /* never posted */
        if (req != NULL && fetch->upstream != NULL)
            response_note_mirror(req, fetch->mirror_outcome);
        if (req == NULL)
            blob_reader_close(fetch->serving.reader);
        else if (work->result < 0)
            response_send_failure_message(req, work->result, work->error_text);
        else
            respond_with_blob(fetch->endpoint, req, fetch->route.name, &fetch->digest,
                              &fetch->serving, &fetch->who);
    }
    request_work_dispose(work);
    runtime_release(fetch->runtime);
    free(fetch);
}

/* GET and HEAD: answered on the loop when the store can without the
 * network, else on a worker. */
static void send_blob(struct endpoint_context *endpoint, h2o_req_t *req, const struct route *route,
                      const struct digest *digest)
{
    struct blob_serving serving;
    unsigned how = serve_request(endpoint, req);
    int result =
        serve_blob(endpoint->registry, route->name, digest, how | BLOB_SERVE_NOW, &serving);
    struct runtime *runtime = endpoint->runtime;
    char remote[UPSTREAM_NAME_MAX];
    if (result == 0) {
        struct upstream *mirror = runtime->upstream_count > 0
                                      ? mirror_find(runtime->upstreams, runtime->upstream_count,
                                                    route->name, remote, sizeof remote)
                                      : NULL;
        if (mirror != NULL) {
            metrics_mirror(upstream_settings_of(mirror)->prefix, METRICS_MIRROR_BLOB,
                           METRICS_MIRROR_HIT);
            response_note_mirror(req, METRICS_MIRROR_HIT);
        }
        respond_with_blob(endpoint, req, route->name, digest, &serving, NULL);
        return;
    }
    struct upstream *upstream =
        result == -REGISTRY_ERROR_BLOB_UNKNOWN && runtime->upstream_count > 0
            ? mirror_find(runtime->upstreams, runtime->upstream_count, route->name, remote,
                          sizeof remote)
            : NULL;
    if (result != -EWOULDBLOCK && upstream == NULL) {
        response_send_failure(req, result);
        return;
    }
    struct fetch_work *fetch = calloc(1, sizeof *fetch);
    if (fetch == NULL) {
        response_send_error(req, REGISTRY_ERROR_INTERNAL, "out of memory");
        return;
    }
    if (upstream != NULL) {
        fetch->upstream = upstream;
        memcpy(fetch->remote, remote, sizeof remote);
        runtime_acquire(runtime);
        fetch->runtime = runtime;
    }
    fetch->endpoint = endpoint;
    fetch->route = *route;
    fetch->digest = *digest;
    fetch->how = how;
    if (request_events_of(endpoint->registry) != NULL)
        request_events_capture(req, endpoint->identity, &fetch->who);
    request_work_init(&fetch->work, req, endpoint->work_receiver, fetch_run, fetch_complete);
    if (upstream != NULL && !request_is_head(req)) {
        request_work_init(&fetch->start, req, endpoint->work_receiver, NULL, start_complete);
        fetch->start_prepared = 1;
    }
    worker_pool_submit(endpoint->registry->workers, &fetch->work);
}

struct delete_work {
    struct request_work work;
    struct registry *registry;
    struct route route;
    struct digest digest;
    struct event_request who;
};

static void delete_run(struct request_work *work)
{
    struct delete_work *delete = (struct delete_work *)work;
    int result =
        repository_unlink_blob(&delete->registry->tree, delete->route.name, &delete->digest);
    if (result == 0)
        request_events_delete(delete->registry, &delete->who, delete->route.name, &delete->digest,
                              NULL);
    request_work_set_result(work, result);
}

static void delete_complete(struct request_work *work)
{
    if (work->request != NULL) {
        if (work->result < 0)
            response_send_failure_message(work->request, work->result, work->error_text);
        else
            response_send(work->request, 202, NULL, NULL, 0);
    }
    request_work_dispose(work);
    free(work);
}

/* The digest of the route, or 400 DIGEST_INVALID answered: 0 or -1. */
static int take_digest(h2o_req_t *req, const struct route *route, struct digest *digest)
{
    if (route->reference_too_long ||
        digest_parse(route->reference, route->reference_length, digest) < 0) {
        response_send_error(req, REGISTRY_ERROR_DIGEST_INVALID, error_message());
        return -1;
    }
    return 0;
}

void blob_handle_get(struct endpoint_context *endpoint, h2o_req_t *req, const struct route *route)
{
    struct digest digest;
    if (take_digest(req, route, &digest) < 0)
        return;
    send_blob(endpoint, req, route, &digest);
}

void blob_handle_delete(struct endpoint_context *endpoint, h2o_req_t *req,
                        const struct route *route)
{
    struct registry *registry = endpoint->registry;
    struct digest digest;
    if (take_digest(req, route, &digest) < 0)
        return;
    struct delete_work *delete = calloc(1, sizeof *delete);
    if (delete == NULL) {
        response_send_error(req, REGISTRY_ERROR_INTERNAL, "out of memory");
        return;
    }
    delete->registry = registry;
    delete->route = *route;
    delete->digest = digest;
    if (request_events_of(registry) != NULL)
        request_events_capture(req, endpoint->identity, &delete->who);
    request_work_init(&delete->work, req, endpoint->work_receiver, delete_run, delete_complete);
    worker_pool_submit(registry->workers, &delete->work);
}
