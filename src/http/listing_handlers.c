/* src/http/listing_handlers.h */
#include "src/http/listing_handlers.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "layout/error.h"
#include "layout/manifest.h"
#include "layout/walk.h"
#include "src/http/access_control.h"
#include "src/http/query.h"
#include "src/registry/repository.h"
#include "src/http/response.h"

#define PAGE_DEFAULT 1000000

static int query_parameter(h2o_req_t *req, const char *key, char *out, size_t out_size)
{
    if (req->query_at == SIZE_MAX)
        return 0;
    return query_get(req->path.base + req->query_at + 1, req->path.len - req->query_at - 1, key,
                     out, out_size);
}

/* Sends one page of a sorted list as {"<key>": [...]} plus extra fields. */
static void send_page(h2o_req_t *req, const struct string_list *list, const char *array_key,
                      json_t *document, const char *link_base)
{
    char number[32], last[512];
    long page_size = PAGE_DEFAULT;
    int has_number = query_parameter(req, "n", number, sizeof number);
    if (has_number < 0) {
        json_decref(document);
        response_send_error(req, REGISTRY_ERROR_PAGINATION_INVALID, NULL);
        return;
    }
    if (has_number == 1) {
        char *end;
        page_size = strtol(number, &end, 10);
        if (*end != '\0' || end == number || page_size < 0) {
            json_decref(document);
            response_send_error(req, REGISTRY_ERROR_PAGINATION_INVALID, NULL);
            return;
        }
    }
    int has_last = query_parameter(req, "last", last, sizeof last) == 1;

    size_t start = 0;
    if (has_last)
        while (start < list->count && strcmp(list->items[start], last) <= 0)
            start++;
    json_t *array = json_array();
    size_t index = start;
    for (; index < list->count && (long)(index - start) < page_size; index++)
        json_array_append_new(array, json_string(list->items[index]));
    json_object_set_new(document, array_key, array);

    if (index < list->count && index > start) {
        char encoded[1024];
        if (query_encode(list->items[index - 1], encoded, sizeof encoded) >= 0)
            response_add_header_format(req, "link", "Link", "<%s?n=%ld&last=%s>; rel=\"next\"",
                                       link_base, page_size, encoded);
    }
    char *body = json_dumps(document, JSON_COMPACT);
    json_decref(document);
    if (body == NULL) {
        response_send_error(req, REGISTRY_ERROR_INTERNAL, "out of memory");
        return;
    }
    response_send(req, 200, "application/json", body, strlen(body));
    free(body);
}

static void send_catalog(struct endpoint_context *endpoint, h2o_req_t *req)
{
    struct registry *registry = endpoint->registry;
    struct string_list repositories = {0};
    int result = walk_repositories(&registry->tree, &repositories);
    if (result < 0) {
        response_send_failure(req, result);
        return;
    }
    /* Only what the caller may pull (the walk's order is kept). */
    size_t kept = 0;
    for (size_t i = 0; i < repositories.count; i++) {
        if (access_control_allows(endpoint->runtime, endpoint->identity, repositories.items[i],
                                  ACCESS_PULL))
            repositories.items[kept++] = repositories.items[i];
        else
            free(repositories.items[i]);
    }
    repositories.count = kept;
    send_page(req, &repositories, "repositories", json_object(), "/v2/_catalog");
    string_list_clear(&repositories);
}

static void send_tags(struct registry *registry, h2o_req_t *req, const struct route *route)
{
    if (!repository_exists(&registry->tree, route->name)) {
        response_send_error(req, REGISTRY_ERROR_NAME_UNKNOWN, NULL);
        return;
    }
    struct string_list tags = {0};
    int result = walk_tags(&registry->tree, route->name, &tags);
    if (result < 0) {
        response_send_failure(req, result);
        return;
    }
    char link_base[REPOSITORY_NAME_MAX + 32];
    snprintf(link_base, sizeof link_base, "/v2/%s/tags/list", route->name);
    json_t *document = json_pack("{s:s}", "name", route->name);
    send_page(req, &tags, "tags", document, link_base);
    string_list_clear(&tags);
}

/* The descriptor of one referrer, or NULL when it is unreadable (skipped). */
static json_t *describe_referrer(struct registry *registry, const struct digest *digest,
                                 const char *artifact_type_filter)
{
    char *body;
    size_t length;
    if (blob_store_read_all(registry->blobs, digest, MANIFEST_SIZE_MAX, &body, &length) < 0)
        return NULL;
    struct manifest manifest;
    int result = manifest_parse(body, length, NULL, &manifest);
    free(body);
    if (result < 0)
        return NULL;
    json_t *descriptor = NULL;
    if (artifact_type_filter == NULL || strcmp(manifest.artifact_type, artifact_type_filter) == 0) {
        descriptor = json_pack("{s:s, s:s, s:I}", "mediaType", manifest.media_type, "digest",
                               digest->string, "size", (json_int_t)length);
        if (descriptor != NULL && manifest.artifact_type[0] != '\0')
            json_object_set_new(descriptor, "artifactType", json_string(manifest.artifact_type));
        if (descriptor != NULL && manifest.annotations != NULL)
            json_object_set(descriptor, "annotations", (json_t *)manifest.annotations);
    }
    manifest_release(&manifest);
    return descriptor;
}

static void send_referrers(struct registry *registry, h2o_req_t *req, const struct route *route)
{
    struct digest subject;
    if (route->reference_too_long ||
        digest_parse(route->reference, route->reference_length, &subject) < 0) {
        response_send_error(req, REGISTRY_ERROR_DIGEST_INVALID, error_message());
        return;
    }
    if (!repository_exists(&registry->tree, route->name)) {
        response_send_error(req, REGISTRY_ERROR_NAME_UNKNOWN, NULL);
        return;
    }
    char filter[MEDIA_TYPE_MAX];
    int filtered = query_parameter(req, "artifactType", filter, sizeof filter) == 1;

    struct digest_list referrers = {0};
    int result = walk_referrers(&registry->tree, route->name, &subject, &referrers);
    if (result < 0) {
        response_send_failure(req, result);
        return;
    }
    json_t *manifests = json_array();
    for (size_t i = 0; i < referrers.count; i++) {
        /* Only revisions still present: a deleted referrer disappears. */
        if (repository_resolve_manifest(&registry->tree, route->name, referrers.items[i].string,
                                        &referrers.items[i], NULL) < 0)
            continue;
        json_t *descriptor =
            describe_referrer(registry, &referrers.items[i], filtered ? filter : NULL);
        if (descriptor != NULL)
            json_array_append_new(manifests, descriptor);
    }
    digest_list_clear(&referrers);
    json_t *index = json_pack("{s:i, s:s, s:o}", "schemaVersion", 2, "mediaType",
                              MEDIA_TYPE_OCI_INDEX, "manifests", manifests);
    char *body = index != NULL ? json_dumps(index, JSON_COMPACT) : NULL;
    json_decref(index);
    if (body == NULL) {
        response_send_error(req, REGISTRY_ERROR_INTERNAL, "out of memory");
        return;
    }
    if (filtered)
        response_add_header(req, "oci-filters-applied", "OCI-Filters-Applied", "artifactType", 12);
    response_send(req, 200, MEDIA_TYPE_OCI_INDEX, body, strlen(body));
    free(body);
}

void listing_handle_catalog(struct endpoint_context *endpoint, h2o_req_t *req,
                            const struct route *route)
{
    (void)route;
    send_catalog(endpoint, req);
}

void listing_handle_tags(struct endpoint_context *endpoint, h2o_req_t *req,
                         const struct route *route)
{
    send_tags(endpoint->registry, req, route);
}

void listing_handle_referrers(struct endpoint_context *endpoint, h2o_req_t *req,
                              const struct route *route)
{
    send_referrers(endpoint->registry, req, route);
}
