/*
 * src/registry/registry_error.h — the errors of the OCI Distribution API.
 *
 * Each value names one error code of the spec (plus a few for the server's
 * own failures). Functions of the server that can fail for an API reason
 * return the negated value (-REGISTRY_ERROR_BLOB_UNKNOWN) and leave a human
 * message in error_message() (layout/error.h); response.c turns the value
 * into the HTTP status and the JSON error body.
 */
#ifndef CAIRN_SRC_REGISTRY_REGISTRY_ERROR_H
#define CAIRN_SRC_REGISTRY_REGISTRY_ERROR_H

enum registry_error {
    REGISTRY_OK = 0,
    REGISTRY_ERROR_BLOB_UNKNOWN = 1000, /* kept above errno values */
    REGISTRY_ERROR_BLOB_UPLOAD_INVALID,
    REGISTRY_ERROR_BLOB_UPLOAD_UNKNOWN,
    REGISTRY_ERROR_DIGEST_INVALID,
    REGISTRY_ERROR_MANIFEST_BLOB_UNKNOWN,
    REGISTRY_ERROR_MANIFEST_INVALID,
    REGISTRY_ERROR_MANIFEST_UNKNOWN,
    REGISTRY_ERROR_NAME_INVALID,
    REGISTRY_ERROR_NAME_UNKNOWN,
    REGISTRY_ERROR_SIZE_INVALID,
    REGISTRY_ERROR_TAG_INVALID,
    REGISTRY_ERROR_UNSUPPORTED,
    REGISTRY_ERROR_UNAUTHORIZED,        /* 401: no or bad credentials */
    REGISTRY_ERROR_DENIED,              /* 403: authenticated, not allowed */
    REGISTRY_ERROR_RANGE_INVALID,       /* BLOB_UPLOAD_INVALID answered with 416 */
    REGISTRY_ERROR_RANGE_UNSATISFIABLE, /* a blob Range outside the blob: 416 */
    REGISTRY_ERROR_PAGINATION_INVALID,  /* a bad n= or last= */
    REGISTRY_ERROR_TOO_LARGE,           /* a manifest over the limit */
    REGISTRY_ERROR_BUSY,                /* the upload is being written by another request */
    REGISTRY_ERROR_NOT_FOUND,           /* no such route */
    REGISTRY_ERROR_FRAMING_INVALID,     /* ambiguous HTTP/1 framing: UNSUPPORTED with 400 */
    REGISTRY_ERROR_UNAVAILABLE,         /* the blob store (S3) failed or is unreachable: 503 */
    REGISTRY_ERROR_INTERNAL,            /* a disk or system failure */
    REGISTRY_ERROR_TOO_MANY_REQUESTS,   /* TOOMANYREQUESTS, 429: failed-login limits */
};

#endif
