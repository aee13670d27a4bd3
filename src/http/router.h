/*
 * src/http/router.h — which endpoint of the v2 API a request path names.
 *
 * route_parse() reads the raw path (h2o's req->path, query excluded), never
 * the normalised one, so "%2F" or "%2e%2e" stay literal and are refused by
 * the name grammar. The repository name may contain slashes; the endpoint is
 * recognised from the last path segments:
 *
 *   /v2/                                   ROUTE_BASE
 *   /v2/_catalog                           ROUTE_CATALOG
 *   /v2/<name>/tags/list                   ROUTE_TAGS_LIST
 *   /v2/<name>/manifests/<reference>       ROUTE_MANIFEST
 *   /v2/<name>/blobs/uploads/              ROUTE_UPLOAD_START (also without '/')
 *   /v2/<name>/blobs/uploads/<id>          ROUTE_UPLOAD
 *   /v2/<name>/blobs/<digest>              ROUTE_BLOB
 *   /v2/<name>/referrers/<digest>          ROUTE_REFERRERS
 *
 * On success the name has passed repository_name_validate(); the reference
 * (tag, digest or upload id) is only split out: the handler validates it with
 * the grammar its route expects. A reference of ROUTE_REFERENCE_MAX bytes or
 * more is not copied (reference_too_long): no grammar allows one that long.
 * Returns 0, -REGISTRY_ERROR_NOT_FOUND or
 * -REGISTRY_ERROR_NAME_INVALID.
 */
#ifndef CAIRN_SRC_HTTP_ROUTER_H
#define CAIRN_SRC_HTTP_ROUTER_H

#include <stddef.h>
#include "layout/names.h"

#define ROUTE_REFERENCE_MAX 256

enum route_kind {
    ROUTE_BASE,
    ROUTE_CATALOG,
    ROUTE_TAGS_LIST,
    ROUTE_MANIFEST,
    ROUTE_UPLOAD_START,
    ROUTE_UPLOAD,
    ROUTE_BLOB,
    ROUTE_REFERRERS,
};

struct route {
    enum route_kind kind;
    char name[REPOSITORY_NAME_MAX + 1];
    char reference[ROUTE_REFERENCE_MAX]; /* NUL-terminated; "" when the route has none */
    size_t reference_length;
    int reference_too_long; /* the reference did not fit: invalid for every route */
    /* reference_kind() says it is meant as a digest, not a tag. Set also
     * when it is too long, so that a handler can still tell. */
    int reference_is_digest;
};

int route_parse(const char *path, size_t length, struct route *out);

#endif
