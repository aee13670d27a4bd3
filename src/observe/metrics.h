/*
 * src/observe/metrics.h — process-wide counters, exported in Prometheus' text
 * exposition format (version 0.0.4) by `GET /metrics`.
 *
 * Recording is cheap enough for every request: the counters live in a few
 * cache-line-aligned shards, each thread adds to its own shard with relaxed
 * C11 atomics (no lock, no shared cache line between two event loops), and
 * metrics_render() sums the shards. A rendering that races with recorders
 * may see a request in its counter but not yet in its histogram; every
 * counter is monotonic and exact once the recorders are done.
 *
 * Every label has a bounded set of values, so the exposition never grows
 * with traffic: routes are the enum below, methods GET HEAD PUT POST PATCH
 * DELETE or "other", statuses are the ones the API answers (METRICS_STATUSES
 * in metrics.c: 200 201 202 204 206 304 307 400 401 403 404 405 409 413 416
 * 429 500 503) or "other". Series with a zero count are left out of
 * cairn_http_requests_total; the histogram and byte counters list every route.
 *
 *     // on the loop, when the response is done:
 *     metrics_record_request(METRICS_ROUTE_MANIFEST, // src/http/endpoints.h maps routes
 *                            metrics_method_parse(req->method.base, req->method.len),
 *                            req->res.status, elapsed_seconds, body_bytes, sent_bytes);
 *     // GET /metrics:
 *     char *text; size_t length;
 *     if (metrics_render(&text, &length) == 0) { ...send...; free(text); }
 *
 * The API uses plain C types only, so that it can be called from anywhere
 * (worker threads included) and tested without a server.
 */
#ifndef CAIRN_SRC_OBSERVE_METRICS_H
#define CAIRN_SRC_OBSERVE_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* The `route` label (src/http/endpoints.h maps the router's routes to it). */
enum metrics_route {
    METRICS_ROUTE_BASE,      /* /v2/ */
    METRICS_ROUTE_CATALOG,   /* /v2/_catalog */
    METRICS_ROUTE_TAGS,      /* /v2/<name>/tags/list */
    METRICS_ROUTE_MANIFEST,  /* /v2/<name>/manifests/<reference> */
    METRICS_ROUTE_BLOB,      /* /v2/<name>/blobs/<digest> */
    METRICS_ROUTE_UPLOAD,    /* /v2/<name>/blobs/uploads/[<id>] */
    METRICS_ROUTE_REFERRERS, /* /v2/<name>/referrers/<digest> */
    METRICS_ROUTE_METRICS,   /* /metrics */
    METRICS_ROUTE_HEALTH,    /* /healthz */
    METRICS_ROUTE_OTHER,     /* anything else (404s, bad names) */
    METRICS_ROUTE_COUNT
};

/* The `method` label. */
enum metrics_method {
    METRICS_METHOD_GET,
    METRICS_METHOD_HEAD,
    METRICS_METHOD_PUT,
    METRICS_METHOD_POST,
    METRICS_METHOD_PATCH,
    METRICS_METHOD_DELETE,
    METRICS_METHOD_OTHER,
    METRICS_METHOD_COUNT
};

/* The `reason` label of cairn_auth_failures_total. */
enum metrics_auth_failure {
    METRICS_AUTH_MISSING_CREDENTIALS, /* "missing": auth required, none sent */
    METRICS_AUTH_MALFORMED,           /* "malformed": unparsable Authorization header */
    METRICS_AUTH_BAD_PASSWORD,        /* "bad_password": unknown user or wrong password */
    METRICS_AUTH_TOKEN_INVALID,       /* "token_invalid": signature, issuer, audience, alg */
    METRICS_AUTH_TOKEN_EXPIRED,       /* "token_expired": exp or nbf out of range */
    METRICS_AUTH_CLIENT_CERTIFICATE,  /* "client_certificate": mTLS identity refused */
    METRICS_AUTH_DENIED,              /* "denied": authenticated, not allowed (403) */
    METRICS_AUTH_FAILURE_COUNT
};

/* The `limit` label of cairn_login_throttled_total. */
enum metrics_login_limit {
    METRICS_LOGIN_LIMIT_ADDRESS, /* "address": the client address is locked */
    METRICS_LOGIN_LIMIT_USER,    /* "user": the name is under attack, the address failed */
    METRICS_LOGIN_LIMIT_COUNT
};

/* The method label for a method token as h2o gives it (not NUL-terminated,
 * case-sensitive as in HTTP). */
enum metrics_method metrics_method_parse(const char *method, size_t length);

/* Counts one finished request: cairn_http_requests_total, the latency
 * histogram, request and response bytes. Out-of-range enums count as
 * "other"; a negative or NaN duration counts as 0. Thread-safe, lock-free. */
void metrics_record_request(enum metrics_route route, enum metrics_method method, int status,
                            double duration_seconds, uint64_t bytes_in, uint64_t bytes_out);

/* cairn_uploads_in_progress: +1 when an upload session starts, -1 when it
 * is finished, cancelled or purged. */
void metrics_upload_started(void);
void metrics_upload_finished(void);
/* Sets cairn_uploads_in_progress outright: at startup, to the uploads found
 * on disk (they outlive a restart; without this, finishing one would take
 * the gauge below zero). */
void metrics_uploads_set(int64_t count);

/* cairn_config_reloads_total{result="success"} when ok is non-zero, else
 * {result="failure"}. */
void metrics_reload(int ok);

/* cairn_auth_failures_total{reason=...}. */
void metrics_auth_failure(enum metrics_auth_failure reason);

/* cairn_login_throttled_total{limit=...}: a login refused with 429 by the
 * failed-login limits (src/auth/login_limiter.h), without a password check. */
void metrics_login_throttled(enum metrics_login_limit limit);
/* cairn_login_queue_full_total: a login answered 503 because the password
 * checks' queue was full. */
void metrics_login_queue_full(void);
/* cairn_request_body_spool_failures_total: a request body whose spool file
 * could not be allocated (a full disk): its connection was dropped. */
void metrics_request_body_spool_failed(void);

/* What happened to connections (src/http/connections.h):
 * cairn_http_connections_closed_total{reason="idle"|"slow_header"} and
 * cairn_http_accept_paused_total{reason="max_connections"|"descriptors"}. */
enum metrics_connection_event {
    METRICS_CONNECTION_IDLE_CLOSED,
    METRICS_CONNECTION_HEADER_CLOSED,
    METRICS_CONNECTION_AT_CAP,
    METRICS_CONNECTION_NO_DESCRIPTORS,
    METRICS_CONNECTION_BLOCKED, /* closed at accept: its address is blocked */
    METRICS_CONNECTION_EVENT_COUNT
};
void metrics_connection_event(enum metrics_connection_event event);
/* cairn_http_connections: +1 when a connection is accepted, -1 when it closes. */
void metrics_connections_add(int delta);

/* One HTTP/2 connection closed with GOAWAY ENHANCE_YOUR_CALM for resetting
 * streams too fast (src/http/http2_reset_guard.h). */
void metrics_http2_rapid_reset_closed(void);

/* Pull-through mirrors (src/registry/mirror.h), each named by its prefix
 * (cairn.mirrors[].prefix; Distribution's proxy:, which has none, is
 * METRICS_MIRROR_PROXY_NAME): what a request for a mirrored manifest or blob
 * took, cairn_mirror_requests_total{mirror=...,kind=...,outcome=...}; the
 * bytes fetched, cairn_mirror_fetched_bytes_total{mirror=...}; the answers
 * the upstream gave, cairn_mirror_upstream_responses_total{mirror=...,
 * result=...}; and the last RateLimit-Remaining it sent (Docker Hub's pull
 * allowance), cairn_mirror_ratelimit_remaining{mirror=...}. Series of a
 * mirror removed by a reload stay (counters never go back); past
 * METRICS_MIRRORS_MAX names, counts go to mirror="other". */
#define METRICS_MIRRORS_MAX 64
#define METRICS_MIRROR_PROXY_NAME "(proxy)"
enum metrics_mirror_kind {
    METRICS_MIRROR_MANIFEST,
    METRICS_MIRROR_BLOB,
    METRICS_MIRROR_KIND_COUNT
};
enum metrics_mirror_outcome {
    METRICS_MIRROR_HIT,     /* "hit": served from the tree, no upstream request */
    METRICS_MIRROR_CHECKED, /* "checked": one HEAD upstream confirmed what the tree has (a
                             * tag past its ttl, a blob the store had for another repository) */
    METRICS_MIRROR_FETCHED, /* "fetched": fetched from the upstream and stored */
    METRICS_MIRROR_JOINED,  /* "joined": waited for the same fetch by another request */
    METRICS_MIRROR_STALE,   /* "stale": the upstream failed, the cached copy was served */
    METRICS_MIRROR_FAILED,  /* "failed": the upstream failed (or lied), nothing to serve */
    METRICS_MIRROR_OUTCOME_COUNT
};
/* The outcome's label ("hit", ...), as the access log writes it too. */
const char *metrics_mirror_outcome_label(enum metrics_mirror_outcome outcome);
void metrics_mirror(const char *mirror, enum metrics_mirror_kind kind,
                    enum metrics_mirror_outcome outcome);
void metrics_mirror_fetched_bytes(const char *mirror, uint64_t bytes);
/* One answer from the upstream: its HTTP status, or 0 when none came
 * (connect, TLS, timeout), counted as result="2xx", "401", "403", "404",
 * "429", "4xx" (other), "5xx", "other" or "network". */
void metrics_mirror_upstream_response(const char *mirror, int status);
/* The upstream's RateLimit-Remaining, when it sent one. */
void metrics_mirror_ratelimit_remaining(const char *mirror, int64_t remaining);

/* Registry events (src/observe/event_delivery.h): events appended to the
 * spool, cairn_events_queued_total; per endpoint (its name; past
 * METRICS_EVENT_ENDPOINTS_MAX names, endpoint="other"): delivered,
 * cairn_events_delivered_total, attempts that failed,
 * cairn_events_failed_total, dropped by the spool's bounds,
 * cairn_events_dropped_total, the time from an event to its delivery,
 * cairn_events_delivery_seconds (_sum and _count), and the events it has
 * still to go through, the gauge cairn_events_backlog. */
#define METRICS_EVENT_ENDPOINTS_MAX 32
void metrics_event_queued(void);
void metrics_event_delivered(const char *endpoint, double seconds);
void metrics_event_failed(const char *endpoint);
void metrics_event_dropped(const char *endpoint, uint64_t count);
void metrics_event_backlog(const char *endpoint, uint64_t count);

/* The whole exposition (text/plain; version=0.0.4), NUL-terminated, in a
 * malloc'd buffer the caller frees. 0, or -ENOMEM with error_set(). */
int metrics_render(char **out, size_t *length);

/* The Content-Type to send with metrics_render()'s text. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Zeroes every counter and gauge (tests only: not atomic as a whole). */
void metrics_reset(void);

#endif
