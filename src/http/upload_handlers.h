/*
 * src/http/upload_handlers.h — the blob upload endpoints:
 *
 *   POST   /v2/<name>/blobs/uploads/                 start (202), or
 *          ...?digest=<d> with a body                monolithic push (201), or
 *          ...?mount=<d>&from=<repo>                 cross-repository mount (201,
 *                                                    202 fallback when not readable)
 *          ...?mount=<d> without from                automatic content discovery
 *                                                    (cairn.automatic_mount): 201 when
 *                                                    a repository the caller may pull
 *                                                    links the blob, else 202
 *   PATCH  /v2/<name>/blobs/uploads/<id>             append a chunk (202); with
 *                                                    Content-Range it must start at
 *                                                    the current size, else 416
 *   PUT    /v2/<name>/blobs/uploads/<id>?digest=<d>  optional last chunk, verify,
 *                                                    commit (201)
 *   GET    /v2/<name>/blobs/uploads/<id>             status (204 + Range)
 *   DELETE /v2/<name>/blobs/uploads/<id>             cancel (204)
 *
 * Everything that writes runs on a worker thread (uploads.h does the file
 * work); responses are sent only after the bytes they acknowledge are synced.
 * The discovery's search runs there too: it reads a link in every repository
 * the caller may pull, and only in those (layout/walk.h), so a blob held only
 * where the caller may not look is answered exactly as one that exists
 * nowhere (the same 202 and headers), and the time taken depends on what the
 * caller may see, not on what the others hold. It links the blob with the
 * same code as a mount with `from` (repository_link_blob), on disk or in S3.
 */
#ifndef CAIRN_SRC_HTTP_UPLOAD_HANDLERS_H
#define CAIRN_SRC_HTTP_UPLOAD_HANDLERS_H

#include <h2o.h>
#include "src/http/endpoint_context.h"
#include "src/http/router.h"

/* The rows of endpoints.h: POST on .../uploads/, and GET (and HEAD), PATCH,
 * PUT, DELETE on .../uploads/<id>. */
void upload_handle_start(struct endpoint_context *endpoint, h2o_req_t *req,
                         const struct route *route);
void upload_handle_status(struct endpoint_context *endpoint, h2o_req_t *req,
                          const struct route *route);
void upload_handle_append(struct endpoint_context *endpoint, h2o_req_t *req,
                          const struct route *route);
void upload_handle_commit(struct endpoint_context *endpoint, h2o_req_t *req,
                          const struct route *route);
void upload_handle_cancel(struct endpoint_context *endpoint, h2o_req_t *req,
                          const struct route *route);

#endif
