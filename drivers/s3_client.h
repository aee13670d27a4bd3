/*
 * drivers/s3_client.h — the few S3 calls cairn needs, over libcurl, safe to
 * call from many threads at once.
 *
 * One `struct s3_client` talks to one bucket. Every request is signed with
 * AWS Signature Version 4 by libcurl itself (CURLOPT_AWS_SIGV4) and always
 * carries x-amz-content-sha256 (the body's SHA-256, or UNSIGNED-PAYLOAD for
 * file bodies streamed from disk). Presigned GET URLs are made by
 * drivers/s3_sign.h, without libcurl.
 *
 * Keys are whole object keys, exactly as stored in the bucket: the caller
 * (layout/, through the S3 blob store) has already put `root_directory` in
 * front; this module never adds or removes anything. Keys are percent-encoded
 * the AWS way here ("sha256:ab" goes on the wire as "sha256%3Aab").
 *
 * Invariants:
 *  - Idle connections are kept alive in a pool of curl handles and reused by
 *    the next call from any thread; calls never share a handle.
 *  - Calls are tried up to `attempts` times with doubling backoff (100 ms,
 *    200 ms, 400 ms...), but only after a network failure, a 5xx, 429/SlowDown
 *    or S3's 400 RequestTimeout; any other 4xx is an answer, never retried.
 *    Every call is idempotent or made safe to repeat: a retried GET resumes
 *    after the bytes already delivered; a CompleteMultipartUpload whose
 *    first answer was lost is recognised by the object it created (a
 *    retried CreateMultipartUpload can leave an unused upload behind: a
 *    bucket lifecycle rule for incomplete uploads removes those).
 *  - S3 can fail CopyObject and CompleteMultipartUpload after their 200: the
 *    body is checked for <Error>.
 *  - s3_put_file and s3_put_memory are durable in S3 when they return 0; a
 *    failed multipart upload is aborted before the error is returned.
 *  - Error messages (layout/error.h, thread-local) name the operation, the
 *    key, the HTTP status and the S3 error code, never the secret key.
 *  - libcurl runs with CURLOPT_NOSIGNAL (it never touches signal handlers
 *    from worker threads): a program using this module ignores SIGPIPE.
 *
 * Errors: -ENOENT (404, NoSuchKey), -EACCES (403: "S3 refused: <Code>:
 * <Message>"), -ETIMEDOUT, -ECONNREFUSED (nothing listens), -EHOSTUNREACH
 * (name not resolved, no route), -EIO (5xx and anything else), -EINVAL (bad
 * arguments or settings), -ENOMEM.
 *
 *     struct s3_settings settings;
 *     s3_settings_defaults(&settings);
 *     snprintf(settings.endpoint, sizeof settings.endpoint, "http://127.0.0.1:4569");
 *     ... bucket, access_key, secret_key ...
 *     struct s3_client *client;
 *     if (s3_client_create(&settings, &client) < 0)
 *         log("S3: %s", error_message());
 *     struct s3_object_info info;
 *     int result = s3_head_object(client, "docker/registry/v2/blobs/sha256/ab/ab.../data", &info);
 *     ...
 *     s3_client_destroy(client);   (no call may be in flight)
 */
#ifndef CAIRN_DRIVERS_S3_CLIENT_H
#define CAIRN_DRIVERS_S3_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define S3_MINIMUM_PART_SIZE (5 * 1024 * 1024LL)
#define S3_MAXIMUM_PART_SIZE (5 * 1024 * 1024 * 1024LL)
#define S3_UPLOAD_CONCURRENCY_MAX 64

/* The defaults of s3_settings_defaults(), each defined here only. */
#define S3_DEFAULT_REGION "us-east-1"
#define S3_DEFAULT_CONNECT_TIMEOUT_MS 5000
#define S3_DEFAULT_REQUEST_TIMEOUT_MS 30000
#define S3_DEFAULT_ATTEMPTS 4
#define S3_DEFAULT_PART_SIZE (64LL * 1024 * 1024)
#define S3_DEFAULT_UPLOAD_CONCURRENCY 4
#define S3_DEFAULT_PRESIGN_EXPIRY_SECONDS 1200 /* 20 minutes, as Distribution */

struct s3_settings {
    /* Full base URL with scheme, no path: "http://127.0.0.1:4569",
     * "https://s3.eu-west-1.amazonaws.com" (a trailing '/' is tolerated). */
    char endpoint[512];
    char region[64]; /* S3_DEFAULT_REGION by default */
    char bucket[256];
    char access_key[256], secret_key[256];
    /* Key prefix, without leading or trailing '/', may be "". Carried for the
     * caller that builds keys (layout/); the client itself never uses it. */
    char root_directory[1024];
    int path_style;  /* 1: endpoint/bucket/key; 0: virtual-hosted: scheme://bucket.host/key */
    int skip_verify; /* TLS certificate not verified (test setups only) */
    long connect_timeout_ms; /* default S3_DEFAULT_CONNECT_TIMEOUT_MS */
    /* Small calls (HEAD, DELETE, LIST, copy, multipart create/complete) must
     * finish within this; transfers (GET, PUT, parts) instead fail when they
     * stay below 1 KiB/s for that long. Default S3_DEFAULT_REQUEST_TIMEOUT_MS. */
    long request_timeout_ms;
    int attempts;      /* tries per idempotent call; default S3_DEFAULT_ATTEMPTS */
    int64_t part_size; /* multipart above this size, parts of it; S3_DEFAULT_PART_SIZE, >= 5 MiB */
    int upload_concurrency;      /* parts in flight at once; S3_DEFAULT_UPLOAD_CONCURRENCY */
    long presign_expiry_seconds; /* S3_DEFAULT_PRESIGN_EXPIRY_SECONDS */
    int list_max_keys; /* keys per ListObjectsV2 page; 0 = the server's (1000). Tests set it small
                        */
};

struct s3_client;

struct s3_object_info {
    int64_t size;
    long long last_modified; /* seconds since the epoch */
};

/* Zeroes `settings` and fills the defaults above (path_style = 1). */
void s3_settings_defaults(struct s3_settings *settings);

/* Checks the settings (-EINVAL with a message naming the bad one) and makes a
 * client. Does not contact the server. */
int s3_client_create(const struct s3_settings *settings, struct s3_client **client_out);

/* Closes the pooled connections and frees the client (NULL is fine). */
void s3_client_destroy(struct s3_client *client);

/* Replaces every setting (configuration reload), checked as in
 * s3_client_create (-EINVAL leaves the client as it was). Calls in flight
 * finish with the settings they started with; later calls use the new ones.
 * Pooled connections to a previous endpoint are simply not reused. */
int s3_client_update(struct s3_client *client, const struct s3_settings *settings);

/* Replaces the credentials only (s3_client_update with the other settings
 * unchanged). */
int s3_client_set_credentials(struct s3_client *client, const char *access_key,
                              const char *secret_key);

/* Size and LastModified of an object; -ENOENT when there is none. */
int s3_head_object(struct s3_client *client, const char *key, struct s3_object_info *out);

/* Ranged GET into `buffer`: returns the number of bytes read (short only at
 * the end of the object), 0 when offset >= size, -ENOENT, other -errno. */
ssize_t s3_get_range(struct s3_client *client, const char *key, int64_t offset, void *buffer,
                     size_t length);

/* Streams the object from `offset` (`length` bytes, -1 = to the end) to
 * `consume` in pieces; memory stays bounded whatever the size. A retried
 * transfer resumes where the consumer stopped, so it never sees a byte
 * twice. Returns 0, an error, or the consumer's non-zero return, which stops
 * the transfer. */
int s3_get_stream(struct s3_client *client, const char *key, int64_t offset, int64_t length,
                  int (*consume)(void *context, const void *data, size_t length), void *context);

/* Puts a local file: one PUT up to part_size (payload hash: `sha256_hex`
 * when given, the file's SHA-256 as 64 lowercase hex digits, else
 * UNSIGNED-PAYLOAD); above it a multipart upload: create, parts uploaded by
 * upload_concurrency threads (each part retried), complete. On any failure
 * the upload is aborted and the error returned. Durable in S3 when it
 * returns 0. */
int s3_put_file(struct s3_client *client, const char *key, const char *file_path,
                const char *sha256_hex);

/* Puts bytes from memory in one PUT (payload hash computed). */
int s3_put_memory(struct s3_client *client, const char *key, const void *data, size_t length);

/* Copies the object onto itself (x-amz-metadata-directive: REPLACE) so that
 * its LastModified becomes now. -ENOENT when there is none. */
int s3_touch_object(struct s3_client *client, const char *key);

/* Deletes an object; 0 also when there was none. */
int s3_delete_object(struct s3_client *client, const char *key);

/* Lists the objects whose keys start with `prefix` ("" for all) with
 * ListObjectsV2, page after page, and calls `visit` for each in key order. A
 * non-zero return from `visit` stops the listing and is returned. */
int s3_list_objects(struct s3_client *client, const char *prefix,
                    int (*visit)(const char *key, const struct s3_object_info *info, void *context),
                    void *context);

/* A presigned GET URL for `key` (path-style or virtual-hosted, as
 * configured), signed at `now`, valid presign_expiry_seconds. -ENAMETOOLONG
 * when `url_size` is too small. */
int s3_presign_get(struct s3_client *client, const char *key, time_t now, char *url,
                   size_t url_size);

#endif
