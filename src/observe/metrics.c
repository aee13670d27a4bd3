/* src/observe/metrics.c — sharded lock-free counters and their Prometheus rendering. */
#include "src/observe/metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "layout/error.h"
#include "version.h"

/* Statuses that keep their own label value; anything else is "other". */
static const int METRICS_STATUSES[] = {200, 201, 202, 204, 206, 304, 307, 400, 401,
                                       403, 404, 405, 409, 413, 416, 429, 500, 503};
#define STATUS_KNOWN_COUNT (sizeof METRICS_STATUSES / sizeof METRICS_STATUSES[0])
#define STATUS_OTHER STATUS_KNOWN_COUNT
#define STATUS_COUNT (STATUS_KNOWN_COUNT + 1)

/* Upper bounds of the latency buckets (seconds); the last bucket is +Inf. */
static const double BUCKET_BOUNDS[] = {.001, .005, .01, .05, .1, .5, 1, 5, 30};
static const char *const BUCKET_LABELS[] = {"0.001", "0.005", "0.01", "0.05", "0.1",
                                            "0.5",   "1",     "5",    "30",   "+Inf"};
#define BUCKET_FINITE_COUNT (sizeof BUCKET_BOUNDS / sizeof BUCKET_BOUNDS[0])
#define BUCKET_COUNT (BUCKET_FINITE_COUNT + 1)

static const char *const ROUTE_LABELS[METRICS_ROUTE_COUNT] = {
    "base",   "catalog",   "tags",    "manifest", "blob",
    "upload", "referrers", "metrics", "health",   "other"};
static const char *const METHOD_LABELS[METRICS_METHOD_COUNT] = {"GET",   "HEAD",   "PUT",  "POST",
                                                                "PATCH", "DELETE", "other"};
static const char *const AUTH_LABELS[METRICS_AUTH_FAILURE_COUNT] = {
    "missing",       "malformed",          "bad_password", "token_invalid",
    "token_expired", "client_certificate", "denied"};

static const char *const LOGIN_LIMIT_LABELS[METRICS_LOGIN_LIMIT_COUNT] = {"address", "user"};
static const char *const MIRROR_KIND_LABELS[METRICS_MIRROR_KIND_COUNT] = {"manifest", "blob"};
static const char *const MIRROR_OUTCOME_LABELS[METRICS_MIRROR_OUTCOME_COUNT] = {
    "hit", "checked", "fetched", "joined", "stale", "failed"};

/* Threads beyond this many share shards (still exact: the adds are atomic). */
#define SHARD_COUNT 16

struct route_counters {
    _Atomic uint64_t buckets[BUCKET_COUNT]; /* not cumulative: one per interval */
    _Atomic uint64_t duration_nanoseconds;
    _Atomic uint64_t bytes_in;
    _Atomic uint64_t bytes_out;
};

struct shard {
    _Alignas(64) _Atomic uint64_t requests[METRICS_ROUTE_COUNT][METRICS_METHOD_COUNT][STATUS_COUNT];
    struct route_counters routes[METRICS_ROUTE_COUNT];
};

static struct shard shards[SHARD_COUNT];
static atomic_uint next_shard;
static _Thread_local struct shard *thread_shard;

static _Atomic int64_t uploads_in_progress;
static _Atomic uint64_t reloads[2]; /* [0] failure, [1] success */
static _Atomic uint64_t auth_failures[METRICS_AUTH_FAILURE_COUNT];
static _Atomic uint64_t logins_throttled[METRICS_LOGIN_LIMIT_COUNT];
static _Atomic uint64_t login_queue_full;
static _Atomic uint64_t body_spool_failures;
static _Atomic uint64_t connection_events[METRICS_CONNECTION_EVENT_COUNT];
static _Atomic int64_t connections_open;
static _Atomic uint64_t http2_rapid_reset_closed;
enum upstream_result {
    UPSTREAM_RESULT_2XX,
    UPSTREAM_RESULT_401,
    UPSTREAM_RESULT_403,
    UPSTREAM_RESULT_404,
    UPSTREAM_RESULT_429,
    UPSTREAM_RESULT_4XX,
    UPSTREAM_RESULT_5XX,
    UPSTREAM_RESULT_OTHER,
    UPSTREAM_RESULT_NETWORK,
    UPSTREAM_RESULT_COUNT
};
static const char *const UPSTREAM_RESULT_LABELS[UPSTREAM_RESULT_COUNT] = {
    "2xx", "401", "403", "404", "429", "4xx", "5xx", "other", "network"};

/* One mirror's series. `name` is written once, before `used` is set (with
 * release order); readers check `used` (acquire) first. */
struct mirror_series {
    atomic_int used;
    char name[128];
    _Atomic uint64_t requests[METRICS_MIRROR_KIND_COUNT][METRICS_MIRROR_OUTCOME_COUNT];
    _Atomic uint64_t fetched_bytes;
    _Atomic uint64_t responses[UPSTREAM_RESULT_COUNT];
    _Atomic int64_t ratelimit_remaining; /* -1: never sent */
};
/* The last slot is "other", for names past METRICS_MIRRORS_MAX. */
static struct mirror_series mirror_series[METRICS_MIRRORS_MAX + 1];
static pthread_mutex_t mirror_series_lock = PTHREAD_MUTEX_INITIALIZER;
static double process_start_seconds;

/* Runs when the program starts (the object is linked in because the server
 * calls metrics_*), so process_start_time_seconds needs no init call. */
__attribute__((constructor)) static void metrics_note_start(void)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    process_start_seconds = (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

static struct shard *my_shard(void)
{
    if (thread_shard == NULL) {
        unsigned index = atomic_fetch_add_explicit(&next_shard, 1, memory_order_relaxed);
        thread_shard = &shards[index % SHARD_COUNT];
    }
    return thread_shard;
}

static void add(_Atomic uint64_t *counter, uint64_t value)
{
    atomic_fetch_add_explicit(counter, value, memory_order_relaxed);
}

static uint64_t load(_Atomic uint64_t *counter)
{
    return atomic_load_explicit(counter, memory_order_relaxed);
}

static size_t status_index(int status)
{
    for (size_t i = 0; i < STATUS_KNOWN_COUNT; i++)
        if (METRICS_STATUSES[i] == status)
            return i;
    return STATUS_OTHER;
}

enum metrics_method metrics_method_parse(const char *method, size_t length)
{
    for (int i = 0; i < METRICS_METHOD_OTHER; i++)
        if (strlen(METHOD_LABELS[i]) == length && memcmp(METHOD_LABELS[i], method, length) == 0)
            return (enum metrics_method)i;
    return METRICS_METHOD_OTHER;
}

void metrics_record_request(enum metrics_route route, enum metrics_method method, int status,
                            double duration_seconds, uint64_t bytes_in, uint64_t bytes_out)
{
    if ((unsigned)route >= METRICS_ROUTE_COUNT)
        route = METRICS_ROUTE_OTHER;
    if ((unsigned)method >= METRICS_METHOD_COUNT)
        method = METRICS_METHOD_OTHER;
    if (!(duration_seconds > 0)) /* negative or NaN */
        duration_seconds = 0;
    if (duration_seconds > 1e9) /* 31 years: keeps the nanoseconds below 2^63 */
        duration_seconds = 1e9;
    size_t bucket = 0;
    while (bucket < BUCKET_FINITE_COUNT && duration_seconds > BUCKET_BOUNDS[bucket])
        bucket++;
    uint64_t duration_nanoseconds = (uint64_t)(duration_seconds * 1e9);

    struct shard *shard = my_shard();
    add(&shard->requests[route][method][status_index(status)], 1);
    struct route_counters *counters = &shard->routes[route];
    add(&counters->buckets[bucket], 1);
    add(&counters->duration_nanoseconds, duration_nanoseconds);
    add(&counters->bytes_in, bytes_in);
    add(&counters->bytes_out, bytes_out);
}

void metrics_upload_started(void)
{
    atomic_fetch_add_explicit(&uploads_in_progress, 1, memory_order_relaxed);
}

void metrics_upload_finished(void)
{
    atomic_fetch_sub_explicit(&uploads_in_progress, 1, memory_order_relaxed);
}

void metrics_uploads_set(int64_t count)
{
    atomic_store_explicit(&uploads_in_progress, count, memory_order_relaxed);
}

void metrics_reload(int ok)
{
    add(&reloads[ok ? 1 : 0], 1);
}

void metrics_auth_failure(enum metrics_auth_failure reason)
{
    if ((unsigned)reason < METRICS_AUTH_FAILURE_COUNT)
        add(&auth_failures[reason], 1);
}

void metrics_login_throttled(enum metrics_login_limit limit)
{
    if ((unsigned)limit < METRICS_LOGIN_LIMIT_COUNT)
        add(&logins_throttled[limit], 1);
}

void metrics_login_queue_full(void)
{
    add(&login_queue_full, 1);
}

void metrics_request_body_spool_failed(void)
{
    add(&body_spool_failures, 1);
}

void metrics_connection_event(enum metrics_connection_event event)
{
    if ((unsigned)event < METRICS_CONNECTION_EVENT_COUNT)
        add(&connection_events[event], 1);
}

void metrics_connections_add(int delta)
{
    atomic_fetch_add_explicit(&connections_open, delta, memory_order_relaxed);
}

void metrics_http2_rapid_reset_closed(void)
{
    add(&http2_rapid_reset_closed, 1);
}

static void mirror_series_init(struct mirror_series *series, const char *name)
{
    snprintf(series->name, sizeof series->name, "%s", name);
    for (size_t k = 0; k < METRICS_MIRROR_KIND_COUNT; k++)
        for (size_t o = 0; o < METRICS_MIRROR_OUTCOME_COUNT; o++)
            atomic_store(&series->requests[k][o], 0);
    atomic_store(&series->fetched_bytes, 0);
    for (size_t r = 0; r < UPSTREAM_RESULT_COUNT; r++)
        atomic_store(&series->responses[r], 0);
    atomic_store(&series->ratelimit_remaining, -1);
}

/* The series of mirror `name` ("" is the proxy), made on first use. */
static struct mirror_series *series_of(const char *name)
{
    if (name == NULL || name[0] == '\0')
        name = METRICS_MIRROR_PROXY_NAME;
    for (size_t i = 0; i < METRICS_MIRRORS_MAX; i++) {
        struct mirror_series *series = &mirror_series[i];
        if (!atomic_load_explicit(&series->used, memory_order_acquire))
            break;
        if (strcmp(series->name, name) == 0)
            return series;
    }
    pthread_mutex_lock(&mirror_series_lock);
    struct mirror_series *found = &mirror_series[METRICS_MIRRORS_MAX];
    for (size_t i = 0; i < METRICS_MIRRORS_MAX; i++) {
        struct mirror_series *series = &mirror_series[i];
        if (!atomic_load_explicit(&series->used, memory_order_acquire)) {
            mirror_series_init(series, name);
            atomic_store_explicit(&series->used, 1, memory_order_release);
            found = series;
            break;
        }
        if (strcmp(series->name, name) == 0) {
            found = series;
            break;
        }
    }
    if (found == &mirror_series[METRICS_MIRRORS_MAX] &&
        !atomic_load_explicit(&found->used, memory_order_acquire)) {
        mirror_series_init(found, "other");
        atomic_store_explicit(&found->used, 1, memory_order_release);
    }
    pthread_mutex_unlock(&mirror_series_lock);
    return found;
}

const char *metrics_mirror_outcome_label(enum metrics_mirror_outcome outcome)
{
    return (unsigned)outcome < METRICS_MIRROR_OUTCOME_COUNT ? MIRROR_OUTCOME_LABELS[outcome]
                                                            : "other";
}

void metrics_mirror(const char *mirror, enum metrics_mirror_kind kind,
                    enum metrics_mirror_outcome outcome)
{
    if ((unsigned)kind < METRICS_MIRROR_KIND_COUNT &&
        (unsigned)outcome < METRICS_MIRROR_OUTCOME_COUNT)
        add(&series_of(mirror)->requests[kind][outcome], 1);
}

void metrics_mirror_fetched_bytes(const char *mirror, uint64_t bytes)
{
    add(&series_of(mirror)->fetched_bytes, bytes);
}

static enum upstream_result upstream_result_of(int status)
{
    switch (status) {
    case 0:
        return UPSTREAM_RESULT_NETWORK;
    case 401:
        return UPSTREAM_RESULT_401;
    case 403:
        return UPSTREAM_RESULT_403;
    case 404:
        return UPSTREAM_RESULT_404;
    case 429:
        return UPSTREAM_RESULT_429;
    }
    if (status >= 200 && status < 300)
        return UPSTREAM_RESULT_2XX;
    if (status >= 400 && status < 500)
        return UPSTREAM_RESULT_4XX;
    if (status >= 500 && status < 600)
        return UPSTREAM_RESULT_5XX;
    return UPSTREAM_RESULT_OTHER;
}

void metrics_mirror_upstream_response(const char *mirror, int status)
{
    add(&series_of(mirror)->responses[upstream_result_of(status)], 1);
}

void metrics_mirror_ratelimit_remaining(const char *mirror, int64_t remaining)
{
    atomic_store(&series_of(mirror)->ratelimit_remaining, remaining < 0 ? 0 : remaining);
}

/* ---- events: a small table under a mutex (a few updates a second) ---- */

struct event_series {
    char name[128];
    uint64_t delivered, failed, dropped, backlog;
    double delivery_seconds;
};
static struct event_series event_series[METRICS_EVENT_ENDPOINTS_MAX + 1];
static size_t event_series_count;
static pthread_mutex_t event_series_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic uint64_t events_queued;

/* Under the lock: the series of `endpoint`, made on first use. */
static struct event_series *event_series_of(const char *endpoint)
{
    for (size_t i = 0; i < event_series_count; i++)
        if (strcmp(event_series[i].name, endpoint) == 0)
            return &event_series[i];
    if (event_series_count == METRICS_EVENT_ENDPOINTS_MAX)
        endpoint = "other";
    for (size_t i = 0; i < event_series_count; i++)
        if (strcmp(event_series[i].name, endpoint) == 0)
            return &event_series[i];
    struct event_series *series = &event_series[event_series_count++];
    memset(series, 0, sizeof *series);
    snprintf(series->name, sizeof series->name, "%s", endpoint);
    return series;
}

void metrics_event_queued(void)
{
    add(&events_queued, 1);
}

void metrics_event_delivered(const char *endpoint, double seconds)
{
    pthread_mutex_lock(&event_series_lock);
    struct event_series *series = event_series_of(endpoint);
    series->delivered++;
    if (seconds > 0)
        series->delivery_seconds += seconds;
    pthread_mutex_unlock(&event_series_lock);
}

void metrics_event_failed(const char *endpoint)
{
    pthread_mutex_lock(&event_series_lock);
    event_series_of(endpoint)->failed++;
    pthread_mutex_unlock(&event_series_lock);
}

void metrics_event_backlog(const char *endpoint, uint64_t count)
{
    pthread_mutex_lock(&event_series_lock);
    event_series_of(endpoint)->backlog = count;
    pthread_mutex_unlock(&event_series_lock);
}

void metrics_event_dropped(const char *endpoint, uint64_t count)
{
    pthread_mutex_lock(&event_series_lock);
    event_series_of(endpoint)->dropped += count;
    pthread_mutex_unlock(&event_series_lock);
}

static void write_event_series(FILE *out);
static void header(FILE *out, const char *name, const char *type, const char *help);

void metrics_reset(void)
{
    for (size_t s = 0; s < SHARD_COUNT; s++) {
        struct shard *shard = &shards[s];
        for (size_t r = 0; r < METRICS_ROUTE_COUNT; r++) {
            for (size_t m = 0; m < METRICS_METHOD_COUNT; m++)
                for (size_t i = 0; i < STATUS_COUNT; i++)
                    atomic_store(&shard->requests[r][m][i], 0);
            struct route_counters *counters = &shard->routes[r];
            for (size_t b = 0; b < BUCKET_COUNT; b++)
                atomic_store(&counters->buckets[b], 0);
            atomic_store(&counters->duration_nanoseconds, 0);
            atomic_store(&counters->bytes_in, 0);
            atomic_store(&counters->bytes_out, 0);
        }
    }
    atomic_store(&uploads_in_progress, 0);
    atomic_store(&reloads[0], 0);
    atomic_store(&reloads[1], 0);
    for (size_t i = 0; i < METRICS_AUTH_FAILURE_COUNT; i++)
        atomic_store(&auth_failures[i], 0);
    for (size_t i = 0; i < METRICS_LOGIN_LIMIT_COUNT; i++)
        atomic_store(&logins_throttled[i], 0);
    atomic_store(&login_queue_full, 0);
    atomic_store(&body_spool_failures, 0);
    for (size_t i = 0; i < METRICS_CONNECTION_EVENT_COUNT; i++)
        atomic_store(&connection_events[i], 0);
    atomic_store(&connections_open, 0);
    atomic_store(&http2_rapid_reset_closed, 0);
    pthread_mutex_lock(&mirror_series_lock);
    for (size_t i = 0; i <= METRICS_MIRRORS_MAX; i++)
        atomic_store(&mirror_series[i].used, 0);
    pthread_mutex_unlock(&mirror_series_lock);
    atomic_store(&events_queued, 0);
    pthread_mutex_lock(&event_series_lock);
    event_series_count = 0;
    pthread_mutex_unlock(&event_series_lock);
}

/* Endpoint names are configuration (any text): escaped as label values. */
static void write_label_value(FILE *out, const char *value)
{
    for (const char *c = value; *c != '\0'; c++) {
        if (*c == '\\' || *c == '"')
            fputc('\\', out);
        if (*c == '\n')
            fputs("\\n", out);
        else
            fputc(*c, out);
    }
}

static void write_event_series(FILE *out)
{
    header(out, "cairn_events_queued_total", "counter",
           "Registry events written to the spool (docs/events.md).");
    fprintf(out, "cairn_events_queued_total %" PRIu64 "\n", load(&events_queued));
    static const char *const families[][3] = {
        {"cairn_events_delivered_total", "counter", "Events an endpoint accepted (2xx or 3xx)."},
        {"cairn_events_failed_total", "counter",
         "Delivery attempts that failed (another status, no answer, a timeout)."},
        {"cairn_events_dropped_total", "counter",
         "Undelivered events dropped by cairn.events.max_bytes or max_age."},
        {"cairn_events_delivery_seconds_sum", "counter",
         "Seconds from an event to its delivery, summed (with _count: the mean)."},
        {"cairn_events_delivery_seconds_count", "counter", "Events whose delivery was timed."},
        {"cairn_events_backlog", "gauge",
         "Events in the spool not yet delivered to the endpoint (nor ignored by it)."},
    };
    pthread_mutex_lock(&event_series_lock);
    for (size_t f = 0; f < sizeof families / sizeof *families; f++) {
        header(out, families[f][0], families[f][1], families[f][2]);
        for (size_t i = 0; i < event_series_count; i++) {
            const struct event_series *series = &event_series[i];
            fprintf(out, "%s{endpoint=\"", families[f][0]);
            write_label_value(out, series->name);
            if (f == 3)
                fprintf(out, "\"} %.6f\n", series->delivery_seconds);
            else
                fprintf(out, "\"} %" PRIu64 "\n",
                        f == 0 || f == 4 ? series->delivered
                        : f == 1         ? series->failed
                        : f == 2         ? series->dropped
                                         : series->backlog);
        }
    }
    pthread_mutex_unlock(&event_series_lock);
}

static void header(FILE *out, const char *name, const char *type, const char *help)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The mirrors' series, those used so far (each family's header once). */
static void write_mirror_series(FILE *out)
{
    /* Slots fill in order; "other", the last, only once the rest are full. */
    size_t count = 0;
    while (count <= METRICS_MIRRORS_MAX &&
           atomic_load_explicit(&mirror_series[count].used, memory_order_acquire))
        count++;
    header(out, "cairn_mirror_requests_total", "counter",
           "Requests for a mirrored manifest or blob, by mirror and by what serving them "
           "took (docs/mirror.md).");
    for (size_t i = 0; i < count; i++)
        for (size_t k = 0; k < METRICS_MIRROR_KIND_COUNT; k++)
            for (size_t o = 0; o < METRICS_MIRROR_OUTCOME_COUNT; o++)
                fprintf(out,
                        "cairn_mirror_requests_total{mirror=\"%s\",kind=\"%s\",outcome=\"%s\"} "
                        "%" PRIu64 "\n",
                        mirror_series[i].name, MIRROR_KIND_LABELS[k], MIRROR_OUTCOME_LABELS[o],
                        load(&mirror_series[i].requests[k][o]));
    header(out, "cairn_mirror_fetched_bytes_total", "counter",
           "Bytes of manifests and blobs fetched from a mirror's upstream and stored.");
    for (size_t i = 0; i < count; i++)
        fprintf(out, "cairn_mirror_fetched_bytes_total{mirror=\"%s\"} %" PRIu64 "\n",
                mirror_series[i].name, load(&mirror_series[i].fetched_bytes));
    header(out, "cairn_mirror_upstream_responses_total", "counter",
           "Answers from a mirror's upstream by HTTP status class (network: none came).");
    for (size_t i = 0; i < count; i++)
        for (size_t r = 0; r < UPSTREAM_RESULT_COUNT; r++)
            fprintf(out,
                    "cairn_mirror_upstream_responses_total{mirror=\"%s\",result=\"%s\"} %" PRIu64
                    "\n",
                    mirror_series[i].name, UPSTREAM_RESULT_LABELS[r],
                    load(&mirror_series[i].responses[r]));
    header(out, "cairn_mirror_ratelimit_remaining", "gauge",
           "The last RateLimit-Remaining a mirror's upstream sent (Docker Hub's pulls left).");
    for (size_t i = 0; i < count; i++) {
        int64_t remaining = atomic_load(&mirror_series[i].ratelimit_remaining);
        if (remaining >= 0)
            fprintf(out, "cairn_mirror_ratelimit_remaining{mirror=\"%s\"} %" PRId64 "\n",
                    mirror_series[i].name, remaining);
    }
}

static void render_requests(FILE *out)
{
    header(out, "cairn_http_requests_total", "counter",
           "HTTP requests answered, by route, method and status.");
    for (size_t r = 0; r < METRICS_ROUTE_COUNT; r++)
        for (size_t m = 0; m < METRICS_METHOD_COUNT; m++)
            for (size_t i = 0; i < STATUS_COUNT; i++) {
                uint64_t total = 0;
                for (size_t s = 0; s < SHARD_COUNT; s++)
                    total += load(&shards[s].requests[r][m][i]);
                if (total == 0)
                    continue;
                fprintf(out, "cairn_http_requests_total{route=\"%s\",method=\"%s\",status=\"",
                        ROUTE_LABELS[r], METHOD_LABELS[m]);
                if (i == STATUS_OTHER)
                    fputs("other", out);
                else
                    fprintf(out, "%d", METRICS_STATUSES[i]);
                fprintf(out, "\"} %" PRIu64 "\n", total);
            }
}

static void render_routes(FILE *out)
{
    struct {
        uint64_t buckets[BUCKET_COUNT];
        uint64_t duration_nanoseconds, bytes_in, bytes_out;
    } sums[METRICS_ROUTE_COUNT];
    memset(sums, 0, sizeof sums);
    for (size_t s = 0; s < SHARD_COUNT; s++)
        for (size_t r = 0; r < METRICS_ROUTE_COUNT; r++) {
            struct route_counters *counters = &shards[s].routes[r];
            for (size_t b = 0; b < BUCKET_COUNT; b++)
                sums[r].buckets[b] += load(&counters->buckets[b]);
            sums[r].duration_nanoseconds += load(&counters->duration_nanoseconds);
            sums[r].bytes_in += load(&counters->bytes_in);
            sums[r].bytes_out += load(&counters->bytes_out);
        }

    header(out, "cairn_http_request_duration_seconds", "histogram",
           "Time from the request's arrival to its response, by route.");
    for (size_t r = 0; r < METRICS_ROUTE_COUNT; r++) {
        uint64_t cumulative = 0;
        for (size_t b = 0; b < BUCKET_COUNT; b++) {
            cumulative += sums[r].buckets[b];
            fprintf(out,
                    "cairn_http_request_duration_seconds_bucket{route=\"%s\",le=\"%s\"} %" PRIu64
                    "\n",
                    ROUTE_LABELS[r], BUCKET_LABELS[b], cumulative);
        }
        fprintf(out,
                "cairn_http_request_duration_seconds_sum{route=\"%s\"} %" PRIu64 ".%09" PRIu64 "\n",
                ROUTE_LABELS[r], sums[r].duration_nanoseconds / 1000000000u,
                sums[r].duration_nanoseconds % 1000000000u);
        fprintf(out, "cairn_http_request_duration_seconds_count{route=\"%s\"} %" PRIu64 "\n",
                ROUTE_LABELS[r], cumulative);
    }

    header(out, "cairn_http_request_bytes_total", "counter",
           "Request body bytes received, by route.");
    for (size_t r = 0; r < METRICS_ROUTE_COUNT; r++)
        fprintf(out, "cairn_http_request_bytes_total{route=\"%s\"} %" PRIu64 "\n", ROUTE_LABELS[r],
                sums[r].bytes_in);
    header(out, "cairn_http_response_bytes_total", "counter",
           "Response body bytes sent, by route.");
    for (size_t r = 0; r < METRICS_ROUTE_COUNT; r++)
        fprintf(out, "cairn_http_response_bytes_total{route=\"%s\"} %" PRIu64 "\n", ROUTE_LABELS[r],
                sums[r].bytes_out);
}

static void render_process(FILE *out)
{
    header(out, "cairn_uploads_in_progress", "gauge",
           "Blob upload sessions started, not finished.");
    fprintf(out, "cairn_uploads_in_progress %" PRId64 "\n",
            atomic_load_explicit(&uploads_in_progress, memory_order_relaxed));

    header(out, "cairn_config_reloads_total", "counter", "Configuration reloads, by result.");
    fprintf(out, "cairn_config_reloads_total{result=\"success\"} %" PRIu64 "\n", load(&reloads[1]));
    fprintf(out, "cairn_config_reloads_total{result=\"failure\"} %" PRIu64 "\n", load(&reloads[0]));

    header(out, "cairn_auth_failures_total", "counter",
           "Requests refused by authentication or authorization, by reason.");
    for (size_t i = 0; i < METRICS_AUTH_FAILURE_COUNT; i++)
        fprintf(out, "cairn_auth_failures_total{reason=\"%s\"} %" PRIu64 "\n", AUTH_LABELS[i],
                load(&auth_failures[i]));

    header(out, "cairn_login_throttled_total", "counter",
           "Logins refused (429) by the failed-login limits without a password check, by "
           "limit.");
    for (size_t i = 0; i < METRICS_LOGIN_LIMIT_COUNT; i++)
        fprintf(out, "cairn_login_throttled_total{limit=\"%s\"} %" PRIu64 "\n",
                LOGIN_LIMIT_LABELS[i], load(&logins_throttled[i]));
    header(out, "cairn_login_queue_full_total", "counter",
           "Logins answered 503 because the password checks' queue was full.");
    fprintf(out, "cairn_login_queue_full_total %" PRIu64 "\n", load(&login_queue_full));
    header(out, "cairn_request_body_spool_failures_total", "counter",
           "Request bodies whose spool file could not be allocated (a full disk); their "
           "connections were dropped.");
    fprintf(out, "cairn_request_body_spool_failures_total %" PRIu64 "\n",
            load(&body_spool_failures));
    header(out, "cairn_http2_rapid_reset_closed_total", "counter",
           "HTTP/2 connections closed with GOAWAY ENHANCE_YOUR_CALM for resetting streams "
           "too fast.");
    fprintf(out, "cairn_http2_rapid_reset_closed_total %" PRIu64 "\n",
            load(&http2_rapid_reset_closed));
    write_mirror_series(out);
    write_event_series(out);

    header(out, "cairn_http_connections", "gauge", "Client connections open.");
    fprintf(out, "cairn_http_connections %" PRId64 "\n",
            atomic_load_explicit(&connections_open, memory_order_relaxed));
    header(out, "cairn_http_connections_closed_total", "counter",
           "Connections cairn closed: idle past http.idle_timeout, a request header "
           "unfinished past http.header_timeout, or accepted from an address blocked by "
           "http.http2_reset_block.");
    fprintf(out, "cairn_http_connections_closed_total{reason=\"idle\"} %" PRIu64 "\n",
            load(&connection_events[METRICS_CONNECTION_IDLE_CLOSED]));
    fprintf(out, "cairn_http_connections_closed_total{reason=\"slow_header\"} %" PRIu64 "\n",
            load(&connection_events[METRICS_CONNECTION_HEADER_CLOSED]));
    fprintf(out, "cairn_http_connections_closed_total{reason=\"blocked\"} %" PRIu64 "\n",
            load(&connection_events[METRICS_CONNECTION_BLOCKED]));
    header(out, "cairn_http_accept_paused_total", "counter",
           "Times a loop stopped accepting: at its share of http.max_connections, or out of "
           "file descriptors.");
    fprintf(out, "cairn_http_accept_paused_total{reason=\"max_connections\"} %" PRIu64 "\n",
            load(&connection_events[METRICS_CONNECTION_AT_CAP]));
    fprintf(out, "cairn_http_accept_paused_total{reason=\"descriptors\"} %" PRIu64 "\n",
            load(&connection_events[METRICS_CONNECTION_NO_DESCRIPTORS]));

    header(out, "cairn_build_info", "gauge", "The running cairn's version; always 1.");
    fprintf(out, "cairn_build_info{version=\"%s\"} 1\n", CAIRN_VERSION);

    header(out, "process_start_time_seconds", "gauge",
           "Start time of the process since the Unix epoch, in seconds.");
    fprintf(out, "process_start_time_seconds %.3f\n", process_start_seconds);
}

int metrics_render(char **out, size_t *length)
{
    char *text = NULL;
    size_t size = 0;
    FILE *stream = open_memstream(&text, &size);
    if (stream == NULL)
        return error_set(-ENOMEM, "metrics: cannot allocate the exposition");
    render_requests(stream);
    render_routes(stream);
    render_process(stream);
    int failed = ferror(stream);
    if (fclose(stream) != 0 || failed || text == NULL) {
        free(text);
        return error_set(-ENOMEM, "metrics: cannot allocate the exposition");
    }
    *out = text;
    *length = size;
    return 0;
}
