/* src/http/manifest_handlers.h */
#include "src/http/manifest_handlers.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "layout/error.h"
#include "layout/walk.h"
#include "src/observe/access_log.h"
#include "src/observe/metrics.h"
#include "src/registry/manifest_cache.h"
#include "src/registry/mirror.h"
#include "src/registry/repository.h"
#include "src/http/request_events.h"
#include "src/http/response.h"
#include "src/config/runtime.h"
#include "src/http/worker_pool.h"

/* Answers a manifest's bytes: 200, or 304 for a matching If-None-Match. */
static void answer_manifest(h2o_req_t *req, const struct digest *digest, const char *body,
                            size_t length, const char *media_type)
{
    response_add_header(req, "docker-content-digest", "Docker-Content-Digest", digest->string,
                        digest->string_length);
    response_add_digest_etag(req, digest->string, digest->string_length);
    h2o_iovec_t if_none_match = request_header(req, "if-none-match");
    if (if_none_match.base != NULL && h2o_strstr(if_none_match.base, if_none_match.len,
                                                 digest->string, digest->string_length) != SIZE_MAX)
        response_send(req, 304, NULL, NULL, 0);
    else
        response_send(req, 200, media_type, body, length);
}

enum manifest_operation {
    OPERATION_GET,        /* the bytes of a manifest not in this thread's cache */
    OPERATION_MIRROR_GET, /* GET after the mirror's upstream was asked (mirror.h) */
    OPERATION_PUT,
    OPERATION_DELETE_DIGEST,
    OPERATION_DELETE_TAG,
};

struct manifest_work {
    struct request_work work;
    struct registry *registry;
    struct endpoint_context *endpoint; /* the loop's: outlives the work */
    enum manifest_operation operation;
    struct route route;
    struct digest digest;
    char content_type[MEDIA_TYPE_MAX];
    char *body;
    size_t length;
    const char *media_type; /* GET */
    struct manifest_put_result put;
    /* OPERATION_MIRROR_GET: the upstream lives in this snapshot, referenced
     * until the work completes */
    struct runtime *runtime;
    struct upstream *upstream;
    char remote[UPSTREAM_NAME_MAX];
    enum metrics_mirror_outcome mirror_outcome;
    struct event_request who; /* for its event, captured on the loop */
};

/* The tag of a route (NULL when it names a digest), for its event. */
static const char *tag_of(const struct route *route)
{
    return route->reference_is_digest ? NULL : route->reference;
}

/* A manifest answered: Distribution's pull event (GET and HEAD). `who`:
 * captured when the request was handled, or NULL to capture it now. */
static void pulled(struct endpoint_context *endpoint, h2o_req_t *req, const struct route *route,
                   const struct digest *digest, const char *body, size_t length,
                   const char *media_type, const struct event_request *who)
{
    struct event_request now;
    who = request_events_who(endpoint->registry, req, endpoint->identity, who, &now);
    if (who != NULL)
        request_events_manifest(endpoint->registry, "pull", who, route->name, tag_of(route), digest,
                                body, length, media_type, 0);
}

/* A manifest deleted by digest: its event, then one per tag it took along
 * (as Distribution sends them); durable before the 202. */
static int delete_by_digest(struct manifest_work *manifest)
{
    struct registry *registry = manifest->registry;
    const char *name = manifest->route.name;
    if (request_events_of(registry) == NULL)
        return repository_delete_manifest(&registry->tree, registry->blobs, name,
                                          &manifest->digest);
    struct string_list tags = {0};
    struct manifest_deletion how = {.deleted_tags = &tags};
    int result = repository_delete_manifest_as(&registry->tree, registry->blobs, name,
                                               &manifest->digest, &how);
    if (result == 0) {
        request_events_delete(registry, &manifest->who, name, &manifest->digest, NULL);
        for (size_t i = 0; i < tags.count; i++)
            request_events_delete(registry, &manifest->who, name, NULL, tags.items[i]);
    }
    string_list_clear(&tags);
    return result;
}

/* A manifest of a mirrored repository was served: its revision link's
 * time says so to cairn-gc's eviction (repository_manifest_note_pull). A
 * tree that cannot record it (read-only) is warned about once; the pull is
 * served all the same. */
static void note_mirrored_pull(const struct tree *tree, const struct upstream *upstream,
                               const char *name, const struct digest *digest)
{
    static atomic_int warned;
    if (upstream_settings_of(upstream)->evict_after_seconds == 0)
        return;
    int result = repository_manifest_note_pull(tree, name, digest, (long long)time(NULL));
    if (result < 0 && result != -ENOENT && atomic_exchange(&warned, 1) == 0)
        log_message(LOG_LEVEL_WARN, "mirror: %s (cairn-gc may evict what is pulled)",
                    error_message());
}

static void manifest_run(struct request_work *work)
{
    struct manifest_work *manifest = (struct manifest_work *)work;
    struct registry *registry = manifest->registry;
    const char *name = manifest->route.name;
    int result;
    switch (manifest->operation) {
    case OPERATION_MIRROR_GET:
        result = mirror_fill_manifest(&registry->tree, registry->blobs, manifest->upstream, name,
                                      manifest->remote, manifest->route.reference,
                                      &manifest->digest, &manifest->mirror_outcome);
        if (result == 0) {
            note_mirrored_pull(&registry->tree, manifest->upstream, name, &manifest->digest);
            result = repository_read_manifest(registry->blobs, &manifest->digest, &manifest->body,
                                              &manifest->length, &manifest->media_type);
        }
        break;
    case OPERATION_GET:
        result = repository_read_manifest(registry->blobs, &manifest->digest, &manifest->body,
                                          &manifest->length, &manifest->media_type);
        break;
    case OPERATION_PUT:
        result = repository_put_manifest(&registry->tree, registry->blobs, name,
                                         manifest->route.reference, manifest->content_type,
                                         manifest->body, manifest->length, &manifest->put);
        if (result == 0 && request_events_of(registry) != NULL) {
            const char *media_type = manifest_media_type_of(manifest->body, manifest->length);
            request_events_manifest(registry, "push", &manifest->who, name,
                                    tag_of(&manifest->route), &manifest->put.digest, manifest->body,
                                    manifest->length,
                                    media_type != NULL ? media_type : manifest->content_type, 1);
        }
        break;
    case OPERATION_DELETE_DIGEST:
        result = delete_by_digest(manifest);
        break;
    default:
        result = repository_delete_tag(&registry->tree, name, manifest->route.reference);
        if (result == 0)
            request_events_delete(registry, &manifest->who, name, NULL, manifest->route.reference);
        break;
    }
    request_work_set_result(work, result);
}

static void manifest_complete(struct request_work *work)
{
    struct manifest_work *manifest = (struct manifest_work *)work;
    h2o_req_t *req = work->request;
    if (req != NULL) {
        if (manifest->operation == OPERATION_MIRROR_GET)
            response_note_mirror(req, manifest->mirror_outcome);
        if (work->result < 0) {
            response_send_failure_message(req, work->result, work->error_text);
        } else if (manifest->operation == OPERATION_GET ||
                   manifest->operation == OPERATION_MIRROR_GET) {
            /* On the loop thread again: its cache keeps the bytes. */
            manifest_cache_store(&manifest->digest, manifest->body, manifest->length,
                                 manifest->media_type);
            pulled(manifest->endpoint, req, &manifest->route, &manifest->digest, manifest->body,
                   manifest->length, manifest->media_type, &manifest->who);
            answer_manifest(req, &manifest->digest, manifest->body, manifest->length,
                            manifest->media_type);
        } else if (manifest->operation == OPERATION_PUT) {
            const struct digest *digest = &manifest->put.digest;
            response_add_header_format(req, "location", "Location", "/v2/%s/manifests/%s",
                                       manifest->route.name, digest->string);
            response_add_header(req, "docker-content-digest", "Docker-Content-Digest",
                                digest->string, digest->string_length);
            if (manifest->put.has_subject)
                response_add_header(req, "oci-subject", "OCI-Subject", manifest->put.subject.string,
                                    manifest->put.subject.string_length);
            response_send(req, 201, NULL, NULL, 0);
        } else {
            response_send(req, 202, NULL, NULL, 0);
        }
    }
    request_work_dispose(work);
    runtime_release(manifest->runtime);
    free(manifest->body);
    free(manifest);
}

typedef int manifest_planner(struct endpoint_context *endpoint, h2o_req_t *req,
                             struct manifest_work *manifest);

static int plan_put(struct endpoint_context *endpoint, h2o_req_t *req,
                    struct manifest_work *manifest)
{
    (void)endpoint;
    const struct route *route = &manifest->route;
    int is_digest = route->reference_is_digest;
    /* Too long for any grammar: refused as the tag or digest it meant to
     * be, as repository_put_manifest() refuses a shorter invalid one. */
    if (route->reference_too_long)
        return is_digest ? error_set(-REGISTRY_ERROR_DIGEST_INVALID,
                                     "invalid digest: longer than any algorithm's")
                         : error_set(-REGISTRY_ERROR_TAG_INVALID,
                                     "tag is longer than %d characters", TAG_MAX);
    if (req->entity.len > MANIFEST_SIZE_MAX)
        return error_set(-REGISTRY_ERROR_TOO_LARGE, "manifest larger than %d bytes",
                         MANIFEST_SIZE_MAX);
    h2o_iovec_t type = request_header(req, "content-type");
    if (type.len >= sizeof manifest->content_type)
        return error_set(-REGISTRY_ERROR_MANIFEST_INVALID, "Content-Type too long");
    memcpy(manifest->content_type, type.base, type.len);
    manifest->content_type[type.len] = '\0';
    manifest->body = malloc(req->entity.len + 1);
    if (manifest->body == NULL)
        return error_set(-ENOMEM, "out of memory");
    memcpy(manifest->body, req->entity.base, req->entity.len);
    manifest->length = req->entity.len;
    manifest->operation = OPERATION_PUT;
    return 0;
}

static int plan_delete(struct endpoint_context *endpoint, h2o_req_t *req,
                       struct manifest_work *manifest)
{
    (void)req;
    struct registry *registry = endpoint->registry;
    const struct route *route = &manifest->route;
    /* An invalid reference names nothing to delete: 404, as for GET. */
    if (route->reference_too_long)
        return repository_manifest_unknown(&registry->tree, route->name, NULL);
    int result = repository_resolve_manifest(&registry->tree, route->name, route->reference,
                                             &manifest->digest, NULL);
    if (result < 0)
        return result;
    manifest->operation =
        route->reference_is_digest ? OPERATION_DELETE_DIGEST : OPERATION_DELETE_TAG;
    return 0;
}

static int plan_read(struct endpoint_context *endpoint, h2o_req_t *req,
                     struct manifest_work *manifest)
{
    (void)endpoint;
    (void)req;
    manifest->operation = OPERATION_GET;
    return 0;
}

/* A mirrored repository whose manifest the tree cannot answer alone: the
 * upstream is asked on a worker (mirror.h). */
static int plan_mirror_read(struct endpoint_context *endpoint, h2o_req_t *req,
                            struct manifest_work *manifest)
{
    (void)req;
    struct runtime *runtime = endpoint->runtime;
    manifest->upstream =
        mirror_find(runtime->upstreams, runtime->upstream_count, manifest->route.name,
                    manifest->remote, sizeof manifest->remote);
    if (manifest->upstream == NULL)
        return error_set(-REGISTRY_ERROR_INTERNAL, "mirror vanished");
    runtime_acquire(runtime);
    manifest->runtime = runtime;
    manifest->operation = OPERATION_MIRROR_GET;
    return 0;
}

/* Plans the work on the loop, then runs it on a worker thread. `digest`:
 * the manifest's, when the caller resolved the reference already. */
static void submit(struct endpoint_context *endpoint, h2o_req_t *req, const struct route *route,
                   manifest_planner *plan, const struct digest *digest)
{
    struct registry *registry = endpoint->registry;
    struct manifest_work *manifest = calloc(1, sizeof *manifest);
    if (manifest == NULL) {
        response_send_error(req, REGISTRY_ERROR_INTERNAL, "out of memory");
        return;
    }
    manifest->registry = registry;
    manifest->endpoint = endpoint;
    manifest->route = *route;
    if (request_events_of(registry) != NULL)
        request_events_capture(req, endpoint->identity, &manifest->who);
    if (digest != NULL)
        manifest->digest = *digest;
    int result = plan(endpoint, req, manifest);
    if (result < 0) {
        response_send_failure(req, result);
        free(manifest->body);
        free(manifest);
        return;
    }
    request_work_init(&manifest->work, req, endpoint->work_receiver, manifest_run,
                      manifest_complete);
    worker_pool_submit(registry->workers, &manifest->work);
}

/* The reference is resolved on the loop (link files: a stat() or two) and
 * a cached manifest answered at once; only the bytes of one not cached are
 * read on a worker, since the store may be remote or the disk cold: the
 * loop never waits for them. */
void manifest_handle_get(struct endpoint_context *endpoint, h2o_req_t *req,
                         const struct route *route)
{
    struct registry *registry = endpoint->registry;
    struct runtime *runtime = endpoint->runtime;
    struct digest digest;
    char remote[UPSTREAM_NAME_MAX];
    struct upstream *upstream = runtime->upstream_count == 0 || route->reference_too_long
                                    ? NULL
                                    : mirror_find(runtime->upstreams, runtime->upstream_count,
                                                  route->name, remote, sizeof remote);
    if (upstream != NULL &&
        !mirror_manifest_is_fresh(&registry->tree, route->name, route->reference,
                                  upstream_settings_of(upstream)->ttl_seconds)) {
        submit(endpoint, req, route, plan_mirror_read, NULL);
        return;
    }
    if (upstream != NULL) {
        metrics_mirror(upstream_settings_of(upstream)->prefix, METRICS_MIRROR_MANIFEST,
                       METRICS_MIRROR_HIT);
        response_note_mirror(req, METRICS_MIRROR_HIT);
    }
    int result = route->reference_too_long
                     ? repository_manifest_unknown(&registry->tree, route->name, NULL)
                     : repository_resolve_manifest(&registry->tree, route->name, route->reference,
                                                   &digest, NULL);
    if (result < 0) {
        response_send_failure(req, result);
        return;
    }
    if (upstream != NULL)
        note_mirrored_pull(&registry->tree, upstream, route->name, &digest);
    const char *body, *media_type;
    size_t length;
    if (manifest_cache_lookup(&digest, &body, &length, &media_type)) {
        pulled(endpoint, req, route, &digest, body, length, media_type, NULL);
        answer_manifest(req, &digest, body, length, media_type);
        return;
    }
    submit(endpoint, req, route, plan_read, &digest);
}

void manifest_handle_put(struct endpoint_context *endpoint, h2o_req_t *req,
                         const struct route *route)
{
    submit(endpoint, req, route, plan_put, NULL);
}

void manifest_handle_delete(struct endpoint_context *endpoint, h2o_req_t *req,
                            const struct route *route)
{
    submit(endpoint, req, route, plan_delete, NULL);
}
