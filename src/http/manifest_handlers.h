/*
 * src/http/manifest_handlers.h — /v2/<name>/manifests/<reference>, where the
 * reference is a tag or a digest.
 *
 * GET/HEAD answer the stored bytes with their media type, Docker-Content-Digest
 * and ETag. The reference is resolved on the event loop (a stat() or two of
 * link files) and a manifest in the loop thread's cache
 * (src/registry/manifest_cache.h) answered at once; the bytes of one that is
 * not are read on a worker (the store may be remote, the disk cold), so the
 * loop never waits for them. PUT verifies and stores (repository_put_manifest, on a worker
 * thread) and answers 201 with Location, Docker-Content-Digest and, for a
 * manifest with a subject, OCI-Subject. DELETE by digest removes the revision
 * and every tag on it; DELETE by tag removes the tag; both 202.
 *
 * A reference that is neither a valid tag nor a valid digest (whatever its
 * length) names no manifest: GET, HEAD and DELETE answer 404 as for any
 * manifest that is not there; PUT refuses it, 400 TAG_INVALID (or
 * DIGEST_INVALID when it holds a ':').
 */
#ifndef CAIRN_SRC_HTTP_MANIFEST_HANDLERS_H
#define CAIRN_SRC_HTTP_MANIFEST_HANDLERS_H

#include <h2o.h>
#include "src/http/endpoint_context.h"
#include "src/http/router.h"

/* The rows of endpoints.h: GET and HEAD, PUT, DELETE. */
void manifest_handle_get(struct endpoint_context *endpoint, h2o_req_t *req,
                         const struct route *route);
void manifest_handle_put(struct endpoint_context *endpoint, h2o_req_t *req,
                         const struct route *route);
void manifest_handle_delete(struct endpoint_context *endpoint, h2o_req_t *req,
                            const struct route *route);

#endif
