/*
 * drivers/s3_sign.h — AWS Signature Version 4 for S3, as far as cairn needs
 * it: URI encoding of object keys and presigned GET URLs (the 307 that sends
 * a client straight to the bucket). Plain OpenSSL HMAC-SHA256; no curl, no
 * network, no state: every function is a pure computation over its arguments
 * and is safe to call from any thread.
 *
 * A presigned URL carries its signature in the query string ("Authenticating
 * Requests: Using Query Parameters" in the S3 documentation):
 *
 *     https://examplebucket.s3.amazonaws.com/test.txt
 *         ?X-Amz-Algorithm=AWS4-HMAC-SHA256
 *         &X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request
 *         &X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host
 *         &X-Amz-Signature=<64 lowercase hex>
 *
 * The signature is HMAC-SHA256(signing key, string to sign), where
 *   - the canonical request is, one per line: the method, the encoded path,
 *     the canonical query (every parameter above but the signature, sorted),
 *     "host:<host>", an empty line, "host" (the signed headers) and
 *     "UNSIGNED-PAYLOAD" (the body of a presigned GET is never hashed);
 *   - the string to sign is "AWS4-HMAC-SHA256", the date-time, the scope
 *     "<YYYYMMDD>/<region>/s3/aws4_request" and the hex SHA-256 of the
 *     canonical request, one per line;
 *   - the signing key is HMAC chained over "AWS4"<secret>, the date, the
 *     region, "s3" and "aws4_request".
 * The smaller pieces are exposed so that the unit test can compare each one
 * with AWS's documented example.
 *
 * Invariants:
 *   - Paths are given NOT encoded ("/bucket/a b/sha256:x"); they are encoded
 *     here exactly once, '/' kept, as S3 expects (S3 does not normalise "."
 *     or ".." segments or double slashes, and neither does this module).
 *   - The URL lists the signed parameters in canonical (sorted) order, then
 *     X-Amz-Signature last, as AWS's own tools write it.
 *   - Every function returns 0 or a negative errno and calls error_set()
 *     (layout/error.h) before a failure: -EINVAL for a missing or malformed
 *     field, -ENAMETOOLONG when the output does not fit (the message says how
 *     many bytes it needs). Outputs are NUL-terminated, and "" after a
 *     failure. The secret key and signatures never appear in a message.
 *
 *     struct s3_presign_request request = {
 *         .method = "GET", .scheme = "http", .host = "127.0.0.1:4569",
 *         .path = "/cairn-test/docker/registry/v2/blobs/sha256/ab/ab.../data",
 *         .access_key = access_key, .secret_key = secret_key, .region = "us-east-1",
 *         .now = time(NULL), .expires_seconds = 1200,
 *     };
 *     char url[4096];
 *     if (s3_presign_url(&request, url, sizeof url) < 0)
 *         log("cannot presign: %s", error_message());
 */
#ifndef CAIRN_DRIVERS_S3_SIGN_H
#define CAIRN_DRIVERS_S3_SIGN_H

#include <stddef.h>
#include <time.h>

/* Bytes of a signing key (a SHA-256 HMAC). */
#define S3_SIGNING_KEY_SIZE 32
/* Characters of a hex signature, without the NUL. */
#define S3_SIGNATURE_HEX_LENGTH 64
/* Presigned URLs are valid for 1 second up to 7 days. */
#define S3_PRESIGN_EXPIRES_MAX 604800L
/* Longest region name accepted ("us-east-1", "eu-west-1", ...). */
#define S3_REGION_MAX 64
/* Longest secret key accepted. */
#define S3_SECRET_KEY_MAX 512

/* AWS URI encoding of `length` bytes of `text` (which may hold any byte,
 * NUL included): A-Z a-z 0-9 - . _ ~ kept; '/' kept when !encode_slash (paths)
 * and %2F when encode_slash (query names and values); every other byte as %XX
 * (uppercase hex), so a multi-byte UTF-8 character becomes one %XX per byte.
 * Writes a NUL-terminated string to `out`; -ENAMETOOLONG if out_size is too
 * small (at most 3 * length + 1 is needed), -EINVAL if text is NULL. */
int s3_uri_encode(const char *text, size_t length, int encode_slash, char *out, size_t out_size);

/* One query parameter, neither part encoded. A NULL value is written as
 * "name=" (S3 signs "?uploads" as "uploads="). */
struct s3_query_parameter {
    const char *name;
    const char *value;
};

/* The canonical query string: each name and value URI-encoded ('/' encoded),
 * joined as name=value with '&', sorted by encoded name, then by encoded
 * value (byte order). `parameters` is not changed. For the handful of
 * parameters of one request (the sort is quadratic, without allocation).
 * -EINVAL for a NULL name, -ENAMETOOLONG if out_size is too small. */
int s3_canonical_query(const struct s3_query_parameter *parameters, size_t count, char *out,
                       size_t out_size);

/* The signing key of `date` ("YYYYMMDD"), region and the service "s3". */
int s3_signing_key(const char *secret_key, const char *date, const char *region,
                   unsigned char key[S3_SIGNING_KEY_SIZE]);

/* What a presigned URL is made of. Every string is required (non-NULL, not
 * empty). */
struct s3_presign_request {
    const char *method; /* "GET": uppercase letters */
    const char *scheme; /* "http" | "https" */
    /* As sent in Host: "examplebucket.s3.amazonaws.com", "127.0.0.1:4569"
     * (no spaces, control characters, '/', '?', '#', '@' or '\'). */
    const char *host;
    /* NOT encoded, starting with '/': "/test.txt" or
     * "/bucket/docker/registry/v2/blobs/sha256/ab/ab.../data". */
    const char *path;
    /* The service is always "s3". Neither the access key nor the region may
     * hold '/' (it separates the parts of the credential scope). */
    const char *access_key, *secret_key, *region;
    time_t now;           /* signing time (UTC), years 0 to 9999 */
    long expires_seconds; /* 1 ... S3_PRESIGN_EXPIRES_MAX, else -EINVAL */
};

/* The canonical request of a presigned request (six newlines, no trailing
 * newline). */
int s3_presign_canonical_request(const struct s3_presign_request *request, char *out,
                                 size_t out_size);

/* The string to sign of a presigned request (three newlines, no trailing
 * newline). */
int s3_presign_string_to_sign(const struct s3_presign_request *request, char *out, size_t out_size);

/* The signature, as 64 lowercase hex characters and a NUL. */
int s3_presign_signature(const struct s3_presign_request *request,
                         char signature[S3_SIGNATURE_HEX_LENGTH + 1]);

/* Writes the full URL: scheme://host<encoded path>?X-Amz-Algorithm=AWS4-HMAC-SHA256&
 * X-Amz-Credential=...&X-Amz-Date=...&X-Amz-Expires=...&X-Amz-SignedHeaders=host&
 * X-Amz-Signature=... (the signed parameters in canonical sorted order, values
 * URI-encoded with '/' encoded, the signature last). */
int s3_presign_url(const struct s3_presign_request *request, char *url, size_t url_size);

#endif
