/*
 * drivers/upstream.h — a client of another registry (the upstream of a
 * pull-through mirror), over libcurl: manifests and blobs of one upstream,
 * fetched with the credentials and the tokens that upstream asks for.
 *
 * This is the store a mirrored repository's misses come from; the mirror
 * itself (what is verified, what is written into the tree, when the
 * upstream is asked again) is src/registry/mirror.h. Nothing here touches
 * the tree.
 *
 * One `struct upstream` per configured upstream (cairn.mirrors entry or
 * Distribution's `proxy:`), built from its `struct upstream_settings` (which
 * must outlive it: the configuration snapshot owns both) and shared by
 * every worker thread: its token cache and handle pool are locked. Every call
 * but upstream_create() and the parsers waits on the network: call them on
 * worker threads, never on an event loop.
 *
 * The protocol, as Docker's and Distribution's clients speak it:
 *  - a request goes out with what the upstream asked for last time (nothing,
 *    Basic credentials, or a cached Bearer token for the repository's
 *    `repository:NAME:pull` scope);
 *  - a 401 carries `WWW-Authenticate`: `Basic realm=...` (the request is made
 *    again with the configured username and password), or `Bearer realm=...,
 *    service=...` (a token is fetched from the realm with `service` and
 *    `scope`, anonymously or with the credentials as Basic auth, cached until
 *    its `expires_in` (60 s when absent) runs out, and the request is made
 *    again with it). Only one such round per request;
 *  - TLS is verified (against `ca_bundle` when set, else the system's);
 *    libcurl's proxy environment variables (https_proxy, http_proxy,
 *    no_proxy, all_proxy) apply; redirects are followed (Docker Hub sends
 *    blobs to a CDN), and an Authorization header is never sent to another
 *    host;
 *  - UPSTREAM_CONNECT_TIMEOUT_SECONDS to connect; manifests and tokens within
 *    UPSTREAM_REQUEST_TIMEOUT_SECONDS; blobs have no total limit but are cut
 *    when slower than 1 KiB/s for UPSTREAM_STALL_SECONDS; a request that
 *    could not connect, or whose connection failed before any answer, is made
 *    once more; a blob transfer cut in the middle is resumed with `Range`
 *    (upstream_fetch_blob).
 *
 * Results: 0; -ENOENT when the upstream answers 404 (it has no such
 * manifest or blob); -EACCES when it refused the credentials or the token;
 * -EHOSTUNREACH for network failures (connect, TLS, timeout); -EPROTO for
 * any other answer. error_message() says what happened, with the URL.
 *
 *     struct upstream *upstream;
 *     if (upstream_create(&settings, &upstream) < 0) ...  // credentials file read
 *     char remote[UPSTREAM_NAME_MAX];
 *     if (upstream_remote_name(&settings, "hub/alpine", remote, sizeof remote) == 1)
 *         // remote is "library/alpine" for Docker Hub
 *     struct upstream_manifest manifest;
 *     if (upstream_fetch_manifest(upstream, remote, "3.19", 0, &manifest) == 0) {
 *         ... manifest.body, manifest.length, manifest.media_type, manifest.digest
 *         upstream_manifest_release(&manifest);
 *     }
 *     upstream_destroy(upstream);
 */
#ifndef CAIRN_DRIVERS_UPSTREAM_H
#define CAIRN_DRIVERS_UPSTREAM_H

#include <stddef.h>
#include <stdint.h>

#include "layout/digest.h"
#include "layout/manifest.h"

/* The client's fixed limits (no configuration keys). */
#define UPSTREAM_CONNECT_TIMEOUT_SECONDS 10
#define UPSTREAM_REQUEST_TIMEOUT_SECONDS 60
#define UPSTREAM_STALL_SECONDS 60
/* A token whose response names no lifetime (the spec's default). */
#define UPSTREAM_TOKEN_DEFAULT_LIFETIME_SECONDS 60
/* Tokens cached per upstream (one per repository scope; the oldest goes). */
#define UPSTREAM_TOKEN_CACHE_SIZE 64
/* A repository name on the upstream (layout's limit plus "library/"). */
#define UPSTREAM_NAME_MAX 512

/* One upstream as the configuration describes it (src/config reads it from
 * cairn.mirrors[] or proxy:). Strings are malloc'd; NULL when absent. */
struct upstream_settings {
    char *prefix;           /* repositories "<prefix>/..." mirror it; "" for proxy: (all of them) */
    char *url;              /* "https://registry-1.docker.io", no path, no trailing '/' */
    char *username;         /* with password: Basic auth and token requests; NULL: anonymous */
    char *password;         /* */
    char *credentials_file; /* instead of the two: a file whose first line is
                             * "username:password" (read by upstream_create) */
    char *ca_bundle;        /* PEM file of the CAs to trust instead of the system's */
    uint64_t ttl_seconds;   /* how long a cached tag is served without asking */
    uint64_t evict_after_seconds; /* cairn-gc removes manifests not pulled for this
                                   * long (0: never; tools/gc_mark.h) */
    char **hosts;                 /* the upstream's registry host names ("docker.io") */
    size_t host_count;
};

void upstream_settings_release(struct upstream_settings *settings);
/* 1 when the upstream is Docker Hub (its URL's host is registry-1.docker.io,
 * index.docker.io or docker.io, or `hosts` names docker.io): its
 * single-component names get "library/". */
int upstream_settings_is_docker_hub(const struct upstream_settings *settings);

/* The upstream's name for the local repository `name`: 1 and the name in
 * `out` when `name` is under the prefix ("hub/alpine" with prefix "hub"
 * gives "alpine", "library/alpine" for Docker Hub); 0 when it is not; a
 * negative errno when the result does not fit. */
int upstream_remote_name(const struct upstream_settings *settings, const char *name, char *out,
                         size_t size);

/* A `WWW-Authenticate` challenge (the first of the header). Network bytes:
 * any input gives 0 or -EINVAL, never reads past `length`. */
enum upstream_scheme {
    UPSTREAM_SCHEME_OTHER,
    UPSTREAM_SCHEME_BASIC,
    UPSTREAM_SCHEME_BEARER,
};
#define UPSTREAM_CHALLENGE_VALUE_MAX 1024
struct upstream_challenge {
    enum upstream_scheme scheme;
    char realm[UPSTREAM_CHALLENGE_VALUE_MAX];   /* "" when absent */
    char service[UPSTREAM_CHALLENGE_VALUE_MAX]; /* "" when absent */
    char scope[UPSTREAM_CHALLENGE_VALUE_MAX];   /* "" when absent */
};
/* Parses `scheme [param=value|param="quoted" ...]` (RFC 7235; parameter
 * names case-insensitive, unknown ones ignored, a value longer than
 * UPSTREAM_CHALLENGE_VALUE_MAX - 1 is -EINVAL). */
int upstream_parse_challenge(const char *text, size_t length, struct upstream_challenge *out);

/* The token of a token service's JSON answer ({"token": ...} or
 * {"access_token": ...}) and its lifetime ("expires_in", default
 * UPSTREAM_TOKEN_DEFAULT_LIFETIME_SECONDS): 0, or -EINVAL. `token_out` is
 * malloc'd. */
int upstream_parse_token_response(const char *body, size_t length, char **token_out,
                                  uint64_t *lifetime_seconds_out);

struct upstream;

/* Reads the credentials file, if any. -errno / -EINVAL with a message. */
int upstream_create(const struct upstream_settings *settings, struct upstream **out);
void upstream_destroy(struct upstream *upstream);
const struct upstream_settings *upstream_settings_of(const struct upstream *upstream);

/* Called on the requesting thread after every exchange with the upstream
 * (its token service included): the HTTP status of the last answer (after
 * redirects), 0 when none came, and its RateLimit-Remaining's leading
 * number (Docker Hub's pulls left), -1 when it sent none. For metrics: set
 * once, before the upstream is shared; `context` must outlive it. */
typedef void upstream_observer(void *context, int status, int64_t ratelimit_remaining);
void upstream_set_observer(struct upstream *upstream, upstream_observer *observer, void *context);

/* GET /v2/: 0 when the upstream answers as a registry (200, or 401 with a
 * challenge it can meet). */
int upstream_ping(struct upstream *upstream);

/* Requests made since creation, for tests and metrics. */
unsigned long upstream_request_count(const struct upstream *upstream);

struct upstream_manifest {
    char *body; /* malloc'd; NULL after a HEAD */
    size_t length;
    char media_type[MEDIA_TYPE_MAX]; /* Content-Type */
    int has_digest;                  /* the upstream sent Docker-Content-Digest */
    struct digest digest;
};
void upstream_manifest_release(struct upstream_manifest *manifest);

/* GET (or HEAD, `head` 1) /v2/<remote_name>/manifests/<reference>, accepting
 * OCI and Docker manifests and indexes. A body is at most MANIFEST_SIZE_MAX
 * bytes. The digest is the upstream's word only: the caller verifies it. */
int upstream_fetch_manifest(struct upstream *upstream, const char *remote_name,
                            const char *reference, int head, struct upstream_manifest *out);

/* HEAD /v2/<remote_name>/blobs/<digest>: 0 when the upstream has the blob
 * for that repository (its size in `size_out`, -1 when it sent none),
 * -ENOENT when it does not. */
int upstream_head_blob(struct upstream *upstream, const char *remote_name,
                       const struct digest *digest, int64_t *size_out);

/* Where a blob's bytes go as they arrive (upstream_fetch_blob). `begin` is
 * called before the first byte of each answer that carries them: `offset`
 * is where its bytes belong in the blob (0 for the first answer; the bytes
 * received so far for a resumed one; 0 again when the upstream ignored the
 * Range and sent the whole blob: the sink must start over, its bytes so far
 * are sent again), `size` the blob's whole size as the upstream announced
 * it (-1 when it did not). `write` gets the bytes in order from `offset`.
 * A non-zero return of either stops the transfer and is returned. */
struct upstream_blob_sink {
    int (*begin)(void *context, int64_t offset, int64_t size);
    int (*write)(void *context, const char *data, size_t length);
    void *context;
};

/* A resumed blob transfer: at most this many requests with Range after the
 * first, per upstream_fetch_blob(). */
#define UPSTREAM_BLOB_RESUMES_MAX 4

/* GET /v2/<remote_name>/blobs/<digest>, the bytes to `sink` as they arrive.
 * Nothing reaches the sink unless the answer is a 200 (or a 206 that
 * continues where the transfer was cut). A transfer cut before its end
 * (connection closed or reset, stalled past UPSTREAM_STALL_SECONDS) is
 * resumed with `Range: bytes=<received>-`, up to UPSTREAM_BLOB_RESUMES_MAX
 * times: a 206 is taken only when its Content-Range starts at the byte
 * asked for (else -EPROTO), a 200 starts the blob over (sink->begin with
 * offset 0). A transfer that ends with fewer bytes than the size announced
 * is -EHOSTUNREACH. The caller verifies the digest. */
int upstream_fetch_blob(struct upstream *upstream, const char *remote_name,
                        const struct digest *digest, const struct upstream_blob_sink *sink);

/* A Content-Range of a 206 ("bytes <first>-<last>/<total>", total "*" gives
 * -1): 0, or -EINVAL for anything else (network bytes: never reads past
 * `length`). */
int upstream_parse_content_range(const char *text, size_t length, int64_t *first_out,
                                 int64_t *last_out, int64_t *total_out);

#endif
