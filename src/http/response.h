/*
 * src/http/response.h — writing HTTP responses on h2o: the OCI error body, small
 * JSON or empty bodies, and headers.
 *
 * Rules it keeps for every caller: every response has a Content-Length (h2o
 * closes the connection otherwise); header names are passed lowercase with
 * the HTTP/1 spelling as `orig_name` (HTTP/2 requires lowercase); values are
 * copied into the request's pool, so callers may pass stack buffers; HEAD
 * responses carry the length but no body.
 *
 *     response_add_header(req, "docker-content-digest", "Docker-Content-Digest",
 *                         digest.string, digest.string_length);
 *     response_send_error(req, REGISTRY_ERROR_BLOB_UNKNOWN, "blob unknown to repository");
 */
#ifndef CAIRN_SRC_HTTP_RESPONSE_H
#define CAIRN_SRC_HTTP_RESPONSE_H

#include <h2o.h>
#include <stddef.h>
#include "src/observe/metrics.h"
#include "src/registry/registry_error.h"

/* Adds a header; `name` must be a lowercase literal, `value` is copied. */
void response_add_header(h2o_req_t *req, const char *name, const char *orig_name, const char *value,
                         size_t value_length);
/* ETag: the digest in double quotes (blobs and manifests). */
void response_add_digest_etag(h2o_req_t *req, const char *digest, size_t digest_length);
/* Marks a request for a mirrored repository with what serving it took
 * (metrics.h's outcome: "hit" is from the cache alone): the access log line
 * says cache=<outcome> (server.c reads the request's RESPONSE_ENV_CACHE). */
#define RESPONSE_ENV_CACHE "cairn.cache"
void response_note_mirror(h2o_req_t *req, enum metrics_mirror_outcome outcome);
/* response_add_header with a printf-formatted value. */
void response_add_header_format(h2o_req_t *req, const char *name, const char *orig_name,
                                const char *format, ...) __attribute__((format(printf, 4, 5)));

/* Sends `body` (copied; may be NULL when length is 0) with `status` and, when
 * non-NULL, `content_type`. */
void response_send(h2o_req_t *req, int status, const char *content_type, const char *body,
                   size_t length);

/* Sends the OCI error JSON for `error` (a positive enum value; a negative
 * errno is reported as INTERNAL). `message` may be NULL for the default. */
void response_send_error(h2o_req_t *req, int error, const char *message);

/* Sends the error for a negative result of a layout/, drivers/ or server
 * function, with error_message() as the message. */
void response_send_failure(h2o_req_t *req, int result);
/* The same with the message given (one carried back from a worker thread). */
void response_send_failure_message(h2o_req_t *req, int result, const char *message);

int request_is_head(const h2o_req_t *req);
/* The value of a request header (by lowercase name) or an empty iovec. */
h2o_iovec_t request_header(const h2o_req_t *req, const char *name);

#endif
