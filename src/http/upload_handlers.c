/* src/http/upload_handlers.h */
#include "src/http/upload_handlers.h"

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "layout/error.h"
#include "layout/names.h"
#include "src/http/access_control.h"
#include "src/http/query.h"
#include "src/http/range.h"
#include "src/registry/mount.h"
#include "src/registry/repository.h"
#include "src/http/request_events.h"
#include "src/http/response.h"
#include "src/registry/uploads.h"
#include "src/http/worker_pool.h"

enum upload_operation {
    OPERATION_START,      /* POST: a new empty upload */
    OPERATION_MONOLITHIC, /* POST ?digest=: a new upload, its body, commit */
    OPERATION_MOUNT,      /* POST ?mount=&from=: link the blob from another repository */
    OPERATION_DISCOVER,   /* POST ?mount= without from: find a readable repository linking it */
    OPERATION_APPEND,     /* PATCH */
    OPERATION_COMMIT,     /* PUT ?digest= */
    OPERATION_CANCEL,     /* DELETE */
};

struct upload_work {
    struct request_work work;
    struct registry *registry;
    enum upload_operation operation;
    char name[REPOSITORY_NAME_MAX + 1];
    char id[UPLOAD_ID_LENGTH + 1];
    struct digest digest;
    int64_t range_start; /* from Content-Range, -1 when absent */
    size_t body_length;  /* of the request, read on the loop thread */
    int64_t size;        /* upload size after the operation */
    struct upload_timing timing;
    struct access_pull_scope scope;     /* OPERATION_DISCOVER: where the caller may look */
    char from[REPOSITORY_NAME_MAX + 1]; /* OPERATION_MOUNT: ?from= ("" unknown) */
    struct event_request who;           /* for the push or mount event */
};

/* Bodies from this size up are written and hashed by two threads at once. */
#define PARALLEL_HASH_MINIMUM (4 * 1024 * 1024)

static int consume_into_upload(void *context, const char *data, size_t length)
{
    return upload_append((struct upload_session *)context, data, length);
}

static int consume_into_file(void *context, const char *data, size_t length)
{
    return upload_append_data((struct upload_session *)context, data, length);
}

static int consume_into_hash(void *context, const char *data, size_t length)
{
    return upload_append_hash((struct upload_session *)context, data, length);
}

struct hash_thread {
    struct upload_work *upload;
    struct upload_session *session;
    int result;
    char error_text[ERROR_MESSAGE_MAX];
};

static void *hash_thread_main(void *argument)
{
    struct hash_thread *hash = argument;
    hash->result =
        request_work_consume_body(&hash->upload->work, 0, consume_into_hash, hash->session);
    if (hash->result < 0)
        snprintf(hash->error_text, sizeof hash->error_text, "%s", error_message());
    return NULL;
}

/* Writes the body on this thread while another hashes it. */
static int append_in_parallel(struct upload_work *upload, struct upload_session *session)
{
    struct hash_thread hash = {.upload = upload, .session = session};
    pthread_t thread;
    int created = pthread_create(&thread, NULL, hash_thread_main, &hash);
    if (created != 0)
        return request_work_consume_body(&upload->work, 0, consume_into_upload, session);
    int result = request_work_consume_body(&upload->work, 0, consume_into_file, session);
    pthread_join(thread, NULL);
    if (result == 0 && hash.result < 0)
        return error_set(hash.result, "%s", hash.error_text);
    return result;
}

/* Appends the request body (if any) to the acquired upload; durably unless
 * the request commits the upload next (the commit syncs it). */
static int append_body(struct upload_work *upload, struct upload_session *session)
{
    int sync = upload->operation == OPERATION_APPEND;
    int result = upload_append_begin(session, upload->range_start);
    if (result < 0)
        return result;
    if (upload->body_length >= PARALLEL_HASH_MINIMUM)
        result = append_in_parallel(upload, session);
    else
        result = request_work_consume_body(&upload->work, 0, consume_into_upload, session);
    int end = upload_append_end(session, result == 0, sync);
    return result < 0 ? result : end;
}

static int run_on_session(struct upload_work *upload)
{
    struct registry *registry = upload->registry;
    struct upload_session *session;
    int result =
        upload_acquire(registry->uploads, &registry->tree, upload->name, upload->id, &session);
    if (result < 0)
        return result;
    switch (upload->operation) {
    case OPERATION_APPEND:
        result = append_body(upload, session);
        break;
    case OPERATION_MONOLITHIC:
    case OPERATION_COMMIT:
        result = append_body(upload, session);
        if (result == 0)
            result = upload_commit(session, &registry->tree, registry->blobs, &upload->digest);
        if (result < 0 && upload->operation == OPERATION_MONOLITHIC)
            upload_cancel(session, &registry->tree); /* its upload was never seen by anyone */
        break;
    case OPERATION_CANCEL:
        result = upload_cancel(session, &registry->tree);
        break;
    default:
        break;
    }
    upload->size = upload_session_size(session);
    upload->timing = *upload_session_timing(session);
    upload_release(registry->uploads, session);
    return result;
}

/* The mount search's access rule: what the caller's scope lets it pull. */
static int scope_allows(const char *name, void *context)
{
    return access_pull_scope_allows(context, name);
}

/* A mount without `from`: as a mount with it when a repository the caller
 * may pull has the blob (src/registry/mount.h), otherwise a new upload,
 * answered exactly like one for a blob that exists nowhere. */
static int discover_and_mount(struct upload_work *upload)
{
    struct registry *registry = upload->registry;
    struct mount_search search = {
        .may_read = scope_allows,
        .context = &upload->scope,
        .only = upload->scope.listed ? &upload->scope.repositories : NULL,
        .everything = upload->scope.everything,
    };
    int result =
        mount_from_any(&registry->tree, registry->blobs, upload->name, &upload->digest, &search);
    if (result != 0) {
        upload->operation = OPERATION_MOUNT;
        return result < 0 ? result : 0;
    }
    upload->operation = OPERATION_START;
    return upload_start(&registry->tree, upload->name, upload->id);
}

/* A mounted blob's size, for its event (-1 when the store cannot say). */
static int64_t blob_size(struct registry *registry, const struct digest *digest)
{
    struct blob_info info;
    if (request_events_of(registry) == NULL || blob_store_stat(registry->blobs, digest, &info) < 0)
        return -1;
    return info.size;
}

static void upload_run(struct request_work *work)
{
    struct upload_work *upload = (struct upload_work *)work;
    struct registry *registry = upload->registry;
    int result = 0;
    switch (upload->operation) {
    case OPERATION_MOUNT:
        result =
            repository_link_blob(&registry->tree, registry->blobs, upload->name, &upload->digest);
        if (result == -REGISTRY_ERROR_BLOB_UNKNOWN) {
            /* The link was there but the store lacks the blob (the loop
             * only checked the link): a plain upload. */
            upload->operation = OPERATION_START;
            result = upload_start(&registry->tree, upload->name, upload->id);
        }
        break;
    case OPERATION_DISCOVER:
        result = discover_and_mount(upload);
        break;
    case OPERATION_START:
        result = upload_start(&registry->tree, upload->name, upload->id);
        break;
    case OPERATION_MONOLITHIC:
        result = upload_start(&registry->tree, upload->name, upload->id);
        if (result == 0)
            result = run_on_session(upload);
        break;
    default:
        result = run_on_session(upload);
        break;
    }
    /* Its event on disk before the 201 (request_events.h). */
    if (result == 0 && upload->operation == OPERATION_MOUNT)
        request_events_blob(registry, "mount", &upload->who, upload->name,
                            upload->from[0] != '\0' ? upload->from : NULL, &upload->digest,
                            blob_size(registry, &upload->digest), 1);
    else if (result == 0 &&
             (upload->operation == OPERATION_MONOLITHIC || upload->operation == OPERATION_COMMIT))
        request_events_blob(registry, "push", &upload->who, upload->name, NULL, &upload->digest,
                            upload->size, 1);
    request_work_set_result(work, result);
}

static void add_upload_headers(h2o_req_t *req, const char *name, const char *id, int64_t size)
{
    response_add_header_format(req, "location", "Location", "/v2/%s/blobs/uploads/%s", name, id);
    response_add_header(req, "docker-upload-uuid", "Docker-Upload-UUID", id, strlen(id));
    response_add_header_format(req, "range", "Range", "0-%" PRId64, size > 0 ? size - 1 : 0);
}

static void add_blob_headers(h2o_req_t *req, const char *name, const struct digest *digest)
{
    response_add_header_format(req, "location", "Location", "/v2/%s/blobs/%s", name,
                               digest->string);
    response_add_header(req, "docker-content-digest", "Docker-Content-Digest", digest->string,
                        digest->string_length);
}

/* With CAIRN_UPLOAD_TIMING set, one line per upload request on stderr saying
 * where its time went (see docs/benchmarks.md). */
static void report_timing(const struct upload_work *upload, h2o_req_t *req)
{
    static atomic_int enabled = -1; /* loops of several threads ask */
    if (atomic_load(&enabled) < 0)
        atomic_store(&enabled, getenv("CAIRN_UPLOAD_TIMING") != NULL);
    if (!atomic_load(&enabled))
        return;
    struct timeval now;
    gettimeofday(&now, NULL);
    double since_start = (double)(now.tv_sec - req->timestamps.request_begin_at.tv_sec) +
                         (double)(now.tv_usec - req->timestamps.request_begin_at.tv_usec) / 1e6;
    double since_handler = (double)(now.tv_sec - req->processed_at.at.tv_sec) +
                           (double)(now.tv_usec - req->processed_at.at.tv_usec) / 1e6;
    fprintf(stderr,
            "cairn: upload %s %" PRId64 " bytes: receive %.3f s, write %.3f s, hash %.3f s, "
            "sync %.3f s, commit %.3f s, total %.3f s\n",
            upload->id, upload->size, since_start - since_handler, upload->timing.write_seconds,
            upload->timing.hash_seconds, upload->timing.sync_seconds, upload->timing.commit_seconds,
            since_start);
}

static void upload_complete(struct request_work *work)
{
    struct upload_work *upload = (struct upload_work *)work;
    h2o_req_t *req = work->request;
    if (req != NULL)
        report_timing(upload, req);
    if (req != NULL) {
        if (work->result < 0) {
            if (work->result == -REGISTRY_ERROR_RANGE_INVALID)
                add_upload_headers(req, upload->name, upload->id, upload->size);
            response_send_failure_message(req, work->result, work->error_text);
        } else if (upload->operation == OPERATION_START || upload->operation == OPERATION_APPEND) {
            add_upload_headers(req, upload->name, upload->id, upload->size);
            response_send(req, 202, NULL, NULL, 0);
        } else if (upload->operation == OPERATION_CANCEL) {
            response_send(req, 204, NULL, NULL, 0);
        } else {
            add_blob_headers(req, upload->name, &upload->digest);
            response_send(req, 201, NULL, NULL, 0);
        }
    }
    request_work_dispose(work);
    access_pull_scope_release(&upload->scope);
    free(upload);
}

static int read_digest_parameter(h2o_req_t *req, const char *key, struct digest *digest)
{
    char text[DIGEST_STRING_MAX + 1];
    size_t query_length = req->query_at != SIZE_MAX ? req->path.len - req->query_at - 1 : 0;
    const char *query = req->path.base + req->query_at + 1;
    int found =
        req->query_at != SIZE_MAX ? query_get(query, query_length, key, text, sizeof text) : 0;
    if (found <= 0)
        return found < 0 ? error_set(-REGISTRY_ERROR_DIGEST_INVALID, "bad %s parameter", key) : 0;
    if (digest_parse(text, strlen(text), digest) < 0)
        return -REGISTRY_ERROR_DIGEST_INVALID;
    return 1;
}

/* The repository of ?from=: 1 when given and valid, 0 when absent, -1 when
 * given but no repository name. */
static int read_from_parameter(h2o_req_t *req, char from[REPOSITORY_NAME_MAX + 1])
{
    if (req->query_at == SIZE_MAX)
        return 0;
    const char *query = req->path.base + req->query_at + 1;
    size_t query_length = req->path.len - req->query_at - 1;
    int found = query_get(query, query_length, "from", from, REPOSITORY_NAME_MAX + 1);
    if (found == 0)
        return 0;
    return found == 1 && repository_name_validate(from, strlen(from)) == 0 ? 1 : -1;
}

typedef int upload_planner(struct endpoint_context *endpoint, h2o_req_t *req,
                           const struct route *route, struct upload_work *upload);

/* POST: decides which kind of start it is; 0, or a failure to answer at once. */
static int plan_start(struct endpoint_context *endpoint, h2o_req_t *req, const struct route *route,
                      struct upload_work *upload)
{
    (void)route;
    struct registry *registry = endpoint->registry;
    int result = read_digest_parameter(req, "mount", &upload->digest);
    if (result < 0)
        return result;
    if (result == 1) {
        char from[REPOSITORY_NAME_MAX + 1];
        struct blob_info info;
        int has_from = read_from_parameter(req, from);
        if (has_from == 0 && endpoint->runtime->config.automatic_mount) {
            /* Automatic content discovery: the search runs on a worker. */
            upload->operation = OPERATION_DISCOVER;
            return access_control_pull_scope(&upload->scope, endpoint->runtime, endpoint->identity);
        }
        if (has_from == 1 &&
            access_control_allows(endpoint->runtime, endpoint->identity, from, ACCESS_PULL) &&
            /* The link only: the store is asked on the worker, which
             * falls back to a plain upload when it lacks the blob. */
            repository_stat_blob(&registry->tree, NULL, from, &upload->digest, &info) == 0) {
            upload->operation = OPERATION_MOUNT;
            snprintf(upload->from, sizeof upload->from, "%s", from);
            return 0;
        }
        upload->operation = OPERATION_START; /* not readable there: a plain upload */
        return 0;
    }
    result = read_digest_parameter(req, "digest", &upload->digest);
    if (result < 0)
        return result;
    upload->operation = result == 1 ? OPERATION_MONOLITHIC : OPERATION_START;
    return 0;
}

/* The upload id of the route, into upload->id. */
static int take_upload_id(const struct route *route, struct upload_work *upload)
{
    if (route->reference_too_long ||
        upload_id_validate(route->reference, route->reference_length) < 0)
        return error_set(-REGISTRY_ERROR_BLOB_UPLOAD_UNKNOWN, "upload unknown");
    memcpy(upload->id, route->reference, route->reference_length + 1);
    return 0;
}

/* PATCH and PUT: the id and the optional Content-Range of the chunk. */
static int take_chunk(h2o_req_t *req, const struct route *route, struct upload_work *upload)
{
    int result = take_upload_id(route, upload);
    if (result < 0)
        return result;
    h2o_iovec_t content_range = request_header(req, "content-range");
    if (content_range.base == NULL)
        return 0;
    return content_range_parse(content_range.base, content_range.len, req->entity.len,
                               &upload->range_start);
}

static int plan_append(struct endpoint_context *endpoint, h2o_req_t *req, const struct route *route,
                       struct upload_work *upload)
{
    (void)endpoint;
    int result = take_chunk(req, route, upload);
    if (result < 0)
        return result;
    upload->operation = OPERATION_APPEND;
    return 0;
}

static int plan_commit(struct endpoint_context *endpoint, h2o_req_t *req, const struct route *route,
                       struct upload_work *upload)
{
    (void)endpoint;
    int result = take_chunk(req, route, upload);
    if (result < 0)
        return result;
    result = read_digest_parameter(req, "digest", &upload->digest);
    if (result == 0)
        return error_set(-REGISTRY_ERROR_DIGEST_INVALID, "PUT needs ?digest=");
    if (result < 0)
        return result;
    upload->operation = OPERATION_COMMIT;
    return 0;
}

static int plan_cancel(struct endpoint_context *endpoint, h2o_req_t *req, const struct route *route,
                       struct upload_work *upload)
{
    (void)endpoint;
    (void)req;
    int result = take_upload_id(route, upload);
    if (result < 0)
        return result;
    upload->operation = OPERATION_CANCEL;
    return 0;
}

static void send_status(struct registry *registry, h2o_req_t *req, const struct route *route)
{
    int64_t size;
    if (route->reference_too_long ||
        upload_id_validate(route->reference, route->reference_length) < 0) {
        response_send_error(req, REGISTRY_ERROR_BLOB_UPLOAD_UNKNOWN, NULL);
        return;
    }
    int result = upload_size(&registry->tree, route->name, route->reference, &size);
    if (result < 0) {
        response_send_failure(req, result);
        return;
    }
    add_upload_headers(req, route->name, route->reference, size);
    response_send(req, 204, NULL, NULL, 0);
}

/* Plans the request on the loop, then runs it on a worker thread. */
static void submit(struct endpoint_context *endpoint, h2o_req_t *req, const struct route *route,
                   upload_planner *plan)
{
    struct registry *registry = endpoint->registry;
    struct upload_work *upload = calloc(1, sizeof *upload);
    if (upload == NULL) {
        response_send_error(req, REGISTRY_ERROR_INTERNAL, "out of memory");
        return;
    }
    strcpy(upload->name, route->name);
    upload->registry = registry;
    upload->range_start = -1;
    int result = plan(endpoint, req, route, upload);
    if (result < 0) {
        if (result == -REGISTRY_ERROR_RANGE_INVALID) {
            int64_t size = 0;
            upload_size(&registry->tree, route->name, upload->id, &size);
            add_upload_headers(req, route->name, upload->id, size);
        }
        response_send_failure(req, result);
        access_pull_scope_release(&upload->scope);
        free(upload);
        return;
    }
    upload->body_length = req->entity.len;
    if (request_events_of(registry) != NULL)
        request_events_capture(req, endpoint->identity, &upload->who);
    request_work_init(&upload->work, req, endpoint->work_receiver, upload_run, upload_complete);
    worker_pool_submit(registry->workers, &upload->work);
}

void upload_handle_start(struct endpoint_context *endpoint, h2o_req_t *req,
                         const struct route *route)
{
    submit(endpoint, req, route, plan_start);
}

void upload_handle_status(struct endpoint_context *endpoint, h2o_req_t *req,
                          const struct route *route)
{
    send_status(endpoint->registry, req, route);
}

void upload_handle_append(struct endpoint_context *endpoint, h2o_req_t *req,
                          const struct route *route)
{
    submit(endpoint, req, route, plan_append);
}

void upload_handle_commit(struct endpoint_context *endpoint, h2o_req_t *req,
                          const struct route *route)
{
    submit(endpoint, req, route, plan_commit);
}

void upload_handle_cancel(struct endpoint_context *endpoint, h2o_req_t *req,
                          const struct route *route)
{
    submit(endpoint, req, route, plan_cancel);
}
