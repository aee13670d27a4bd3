/*
 * src/http/listing_handlers.h — the read-only listings of the API:
 *
 *   GET /v2/_catalog               {"repositories": [...]}, sorted
 *   GET /v2/<name>/tags/list       {"name": ..., "tags": [...]}, sorted
 *   GET /v2/<name>/referrers/<d>   an OCI image index of the manifests whose
 *                                  subject is <d> (?artifactType= filters it,
 *                                  and OCI-Filters-Applied says so)
 *
 * The catalog and tags take `n` (page size) and `last` (start after this
 * entry) and answer a `Link: <...>; rel="next"` header while more remain.
 * Everything is read from the tree on each request.
 */
#ifndef CAIRN_SRC_HTTP_LISTING_HANDLERS_H
#define CAIRN_SRC_HTTP_LISTING_HANDLERS_H

#include <h2o.h>
#include "src/http/endpoint_context.h"
#include "src/http/router.h"

/* The rows of endpoints.h: GET and HEAD of each listing. */
void listing_handle_catalog(struct endpoint_context *endpoint, h2o_req_t *req,
                            const struct route *route);
void listing_handle_tags(struct endpoint_context *endpoint, h2o_req_t *req,
                         const struct route *route);
void listing_handle_referrers(struct endpoint_context *endpoint, h2o_req_t *req,
                              const struct route *route);

#endif
