/*
 * src/http/blob_handlers.h — GET, HEAD and DELETE of /v2/<name>/blobs/<digest>.
 *
 * A blob is served only when the repository links it (its _layers link), as
 * Distribution does. GET and HEAD answer Content-Length, Docker-Content-Digest,
 * an ETag (the quoted digest), Accept-Ranges, honour If-None-Match (304) and a
 * single Range (206, or 416 with Content-Range: bytes * / size). DELETE
 * removes the repository's link only (202); the bytes stay for cairn-gc.
 */
#ifndef CAIRN_SRC_HTTP_BLOB_HANDLERS_H
#define CAIRN_SRC_HTTP_BLOB_HANDLERS_H

#include <h2o.h>
#include "src/http/endpoint_context.h"
#include "src/http/router.h"

/* The rows of endpoints.h: GET and HEAD, DELETE. */
void blob_handle_get(struct endpoint_context *endpoint, h2o_req_t *req, const struct route *route);
void blob_handle_delete(struct endpoint_context *endpoint, h2o_req_t *req,
                        const struct route *route);

#endif
