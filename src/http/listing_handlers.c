/* src/http/listing_handlers.h */
#include "src/http/listing_handlers.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "layout/error.h"
#include "layout/manifest.h"
#include "src/http/access_control.h"
#include "src/http/query.h"
#include "src/registry/listing.h"
#include "src/registry/referrers.h"
#include "src/http/response.h"

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
    long page_size = LISTING_PAGE_SIZE_DEFAULT;
    int has_number = query_parameter(req, "n", number, sizeof number);
    int result = has_number < 0 ? -REGISTRY_ERROR_PAGINATION_INVALID : 0;
    if (has_number == 1)
        result = listing_page_size_parse(number, &page_size);
    if (result < 0) {
        json_decref(document);
        response_send_error(req, REGISTRY_ERROR_PAGINATION_INVALID, NULL);
        return;
    }
    /* A last= that does not decode (a bad escape, a NUL, too long for any
     * name or tag) is the pagination's 400, not a parameter to drop. */
    int has_last = query_parameter(req, "last", last, sizeof last);
    if (has_last < 0) {
        json_decref(document);
        response_send_error(req, REGISTRY_ERROR_PAGINATION_INVALID, NULL);
        return;
    }

    struct listing_page page;
    listing_page_select(list, has_last ? last : NULL, page_size, &page);
    json_t *array = json_array();
    for (size_t index = page.first; index < page.end; index++)
        json_array_append_new(array, json_string(list->items[index]));
    json_object_set_new(document, array_key, array);

    if (page.has_next) {
        char encoded[1024];
        if (query_encode(list->items[page.end - 1], encoded, sizeof encoded) >= 0)
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

/* The catalog shows only what the caller may pull. */
static int may_pull(const char *name, void *context)
{
    struct endpoint_context *endpoint = context;
    return access_control_allows(endpoint->runtime, endpoint->identity, name, ACCESS_PULL);
}

static void send_catalog(struct endpoint_context *endpoint, h2o_req_t *req)
{
    struct string_list repositories = {0};
    int result = listing_catalog(&endpoint->registry->tree, may_pull, endpoint, &repositories);
    if (result < 0) {
        response_send_failure(req, result);
        return;
    }
    send_page(req, &repositories, "repositories", json_object(), "/v2/_catalog");
    string_list_clear(&repositories);
}

static void send_tags(struct registry *registry, h2o_req_t *req, const struct route *route)
{
    struct string_list tags = {0};
    int result = listing_tags(&registry->tree, route->name, &tags);
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

static void send_referrers(struct registry *registry, h2o_req_t *req, const struct route *route)
{
    struct digest subject;
    if (route->reference_too_long ||
        digest_parse(route->reference, route->reference_length, &subject) < 0) {
        response_send_error(req, REGISTRY_ERROR_DIGEST_INVALID, error_message());
        return;
    }
    char filter[MEDIA_TYPE_MAX];
    /* An artifactType= that does not decode (a bad escape, a NUL, longer
     * than any media type) is still a filter, one that nothing matches. */
    int found = query_parameter(req, "artifactType", filter, sizeof filter);
    int filtered = found != 0, matches_nothing = found < 0;
    if (matches_nothing)
        filter[0] = '\0';
    json_t *index;
    int result = referrers_index(&registry->tree, registry->blobs, route->name, &subject,
                                 filtered ? filter : NULL, &index);
    if (result < 0) {
        response_send_failure(req, result);
        return;
    }
    if (matches_nothing)
        json_array_clear(json_object_get(index, "manifests"));
    char *body = json_dumps(index, JSON_COMPACT);
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
