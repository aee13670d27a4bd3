/* src/observe/event_delivery.c — see event_delivery.h. */
#include "src/observe/event_delivery.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "layout/error.h"
#include "src/observe/access_log.h"
#include "src/observe/metrics.h"

/* One endpoint's sender: its own copy of the settings, its thread. */
struct sender {
    struct event_delivery *delivery;
    struct event_endpoint_settings settings;
    pthread_t thread;
    int started;
    atomic_int stopping; /* set under delivery->lock; read anywhere */
    uint64_t next;       /* under delivery->lock: its position */
    struct sender *next_sender;
};

struct event_delivery {
    struct event_spool *spool;
    event_repository_match *match;
    pthread_mutex_t lock;
    pthread_cond_t changed; /* new events, or a sender asked to stop */
    struct sender *senders;
};

/* ---- settings copies ---- */

static char *copy_string(const char *text, int *failed)
{
    if (text == NULL)
        return NULL;
    char *copy = strdup(text);
    if (copy == NULL)
        *failed = 1;
    return copy;
}

static char **copy_strings(char *const *items, size_t count, int *failed)
{
    if (count == 0)
        return NULL;
    char **copy = calloc(count, sizeof *copy);
    if (copy == NULL) {
        *failed = 1;
        return NULL;
    }
    for (size_t i = 0; i < count; i++)
        copy[i] = copy_string(items[i], failed);
    return copy;
}

static void endpoint_release(struct event_endpoint_settings *endpoint)
{
    struct event_settings holder = {.endpoints = endpoint, .endpoint_count = 1};
    /* event_settings_release frees the array too: give it its own. */
    struct event_endpoint_settings *own = malloc(sizeof *own);
    if (own == NULL)
        return; /* leaks on out of memory only */
    *own = *endpoint;
    holder.endpoints = own;
    event_settings_release(&holder);
    memset(endpoint, 0, sizeof *endpoint);
}

static int endpoint_copy(const struct event_endpoint_settings *from,
                         struct event_endpoint_settings *to)
{
    int failed = 0;
    *to = *from;
    to->name = copy_string(from->name, &failed);
    to->url = copy_string(from->url, &failed);
    to->secret = copy_string(from->secret, &failed);
    to->ignored_media_types =
        copy_strings(from->ignored_media_types, from->ignored_media_type_count, &failed);
    to->ignored_actions = copy_strings(from->ignored_actions, from->ignored_action_count, &failed);
    to->repositories = copy_strings(from->repositories, from->repository_count, &failed);
    to->headers = NULL;
    if (from->header_count > 0) {
        to->headers = calloc(from->header_count, sizeof *to->headers);
        if (to->headers == NULL)
            failed = 1;
        for (size_t i = 0; to->headers != NULL && i < from->header_count; i++) {
            to->headers[i].name = copy_string(from->headers[i].name, &failed);
            to->headers[i].values =
                copy_strings(from->headers[i].values, from->headers[i].value_count, &failed);
            to->headers[i].value_count = from->headers[i].value_count;
        }
    }
    if (failed) {
        endpoint_release(to);
        return error_set(-ENOMEM, "out of memory");
    }
    return 0;
}

static int same_strings(char *const *a, size_t a_count, char *const *b, size_t b_count)
{
    if (a_count != b_count)
        return 0;
    for (size_t i = 0; i < a_count; i++)
        if (strcmp(a[i], b[i]) != 0)
            return 0;
    return 1;
}

static int same_endpoint(const struct event_endpoint_settings *a,
                         const struct event_endpoint_settings *b)
{
    if (strcmp(a->url, b->url) != 0 || a->timeout_milliseconds != b->timeout_milliseconds ||
        a->threshold != b->threshold || a->backoff_milliseconds != b->backoff_milliseconds ||
        (a->secret == NULL) != (b->secret == NULL) ||
        (a->secret != NULL && strcmp(a->secret, b->secret) != 0) ||
        !same_strings(a->ignored_media_types, a->ignored_media_type_count, b->ignored_media_types,
                      b->ignored_media_type_count) ||
        !same_strings(a->ignored_actions, a->ignored_action_count, b->ignored_actions,
                      b->ignored_action_count) ||
        !same_strings(a->repositories, a->repository_count, b->repositories, b->repository_count) ||
        a->header_count != b->header_count)
        return 0;
    for (size_t i = 0; i < a->header_count; i++)
        if (strcmp(a->headers[i].name, b->headers[i].name) != 0 ||
            !same_strings(a->headers[i].values, a->headers[i].value_count, b->headers[i].values,
                          b->headers[i].value_count))
            return 0;
    return 1;
}

/* ---- filtering ---- */

int event_endpoint_wants(const struct event_endpoint_settings *endpoint,
                         event_repository_match *match, const char *action, const char *media_type,
                         const char *repository)
{
    for (size_t i = 0; i < endpoint->ignored_action_count; i++)
        if (action != NULL && strcmp(endpoint->ignored_actions[i], action) == 0)
            return 0;
    for (size_t i = 0; i < endpoint->ignored_media_type_count; i++)
        if (media_type != NULL && strcmp(endpoint->ignored_media_types[i], media_type) == 0)
            return 0;
    if (endpoint->repository_count == 0)
        return 1;
    for (size_t i = 0; i < endpoint->repository_count; i++)
        if (repository != NULL && match != NULL &&
            match(endpoint->repositories[i], repository) == 1)
            return 1;
    return 0;
}

/* What the filters need of an event (its JSON line). 0 when it cannot be
 * parsed (it is then sent all the same: the spool holds only what cairn
 * wrote). */
static int event_wanted(const struct sender *sender, const char *event, size_t length)
{
    json_t *root = json_loadb(event, length, 0, NULL);
    if (root == NULL)
        return 1;
    const char *action = json_string_value(json_object_get(root, "action"));
    json_t *target = json_object_get(root, "target");
    const char *media_type = json_string_value(json_object_get(target, "mediaType"));
    const char *repository = json_string_value(json_object_get(target, "repository"));
    int wanted = event_endpoint_wants(&sender->settings, sender->delivery->match, action,
                                      media_type, repository);
    json_decref(root);
    return wanted;
}

/* ---- one attempt ---- */

/* An attempt in flight ends when its sender is stopped. */
static int abort_when_stopping(void *context, curl_off_t a, curl_off_t b, curl_off_t c,
                               curl_off_t d)
{
    (void)a, (void)b, (void)c, (void)d;
    return atomic_load(&((struct sender *)context)->stopping) ? 1 : 0;
}

static size_t discard_body(char *data, size_t size, size_t count, void *context)
{
    (void)data;
    (void)context;
    return size * count;
}

/* POSTs the envelope: 1 delivered (2xx, 3xx), 0 not (with *status_out the
 * HTTP status, 0 without an answer). */
static int post(struct sender *sender, CURL *handle, const char *body, size_t length,
                long *status_out)
{
    const struct event_endpoint_settings *settings = &sender->settings;
    struct curl_slist *headers = NULL;
    char line[8192];
    headers = curl_slist_append(headers, "Content-Type: " EVENT_DELIVERY_CONTENT_TYPE);
    headers = curl_slist_append(headers, "Expect:");
    for (size_t i = 0; i < settings->header_count; i++)
        for (size_t j = 0; j < settings->headers[i].value_count; j++) {
            snprintf(line, sizeof line, "%s: %s", settings->headers[i].name,
                     settings->headers[i].values[j]);
            headers = curl_slist_append(headers, line);
        }
    if (settings->secret != NULL) {
        unsigned char mac[EVP_MAX_MD_SIZE];
        unsigned int mac_length = 0;
        HMAC(EVP_sha256(), settings->secret, (int)strlen(settings->secret),
             (const unsigned char *)body, length, mac, &mac_length);
        int used = snprintf(line, sizeof line, EVENT_DELIVERY_SIGNATURE_HEADER ": sha256=");
        for (unsigned int i = 0; i < mac_length; i++)
            used += snprintf(line + used, sizeof line - (size_t)used, "%02x", mac[i]);
        headers = curl_slist_append(headers, line);
    }
    curl_easy_reset(handle);
    curl_easy_setopt(handle, CURLOPT_URL, settings->url);
    curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(handle, CURLOPT_POST, 1L);
    curl_easy_setopt(handle, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(handle, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)length);
    curl_easy_setopt(handle, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(handle, CURLOPT_USERAGENT, "cairn-events");
    curl_easy_setopt(handle, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(handle, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, discard_body);
    curl_easy_setopt(handle, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(handle, CURLOPT_XFERINFOFUNCTION, abort_when_stopping);
    curl_easy_setopt(handle, CURLOPT_XFERINFODATA, sender);
    /* No timeout configured: a minute, so that a hung endpoint still ends. */
    long timeout =
        settings->timeout_milliseconds > 0 ? (long)settings->timeout_milliseconds : 60000L;
    curl_easy_setopt(handle, CURLOPT_TIMEOUT_MS, timeout);
    curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT_MS, timeout);
    CURLcode code = curl_easy_perform(handle);
    long status = 0;
    if (code == CURLE_OK)
        curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    *status_out = status;
    return code == CURLE_OK && status >= 200 && status < 400;
}

/* ---- the sender's thread ---- */

static void deadline_after(struct timespec *deadline, uint64_t milliseconds)
{
    clock_gettime(CLOCK_REALTIME, deadline);
    deadline->tv_sec += (time_t)(milliseconds / 1000);
    deadline->tv_nsec += (long)(milliseconds % 1000) * 1000000L;
    if (deadline->tv_nsec >= 1000000000L) {
        deadline->tv_sec++;
        deadline->tv_nsec -= 1000000000L;
    }
}

/* Waits up to `milliseconds` (or until stopped, or with `for_events` until
 * there is an event at sender->next). 1 when it must stop. */
static int wait_for(struct sender *sender, uint64_t milliseconds, int for_events)
{
    struct event_delivery *delivery = sender->delivery;
    struct timespec deadline;
    deadline_after(&deadline, milliseconds);
    pthread_mutex_lock(&delivery->lock);
    while (!sender->stopping && !(for_events && event_spool_end(delivery->spool) > sender->next)) {
        if (pthread_cond_timedwait(&delivery->changed, &delivery->lock, &deadline) == ETIMEDOUT)
            break;
    }
    int stopping = sender->stopping;
    pthread_mutex_unlock(&delivery->lock);
    return stopping;
}

/* Moves the sender past `next` and lets the spool drop what all passed. */
static void advance(struct sender *sender, uint64_t next)
{
    struct event_delivery *delivery = sender->delivery;
    event_spool_set_position(delivery->spool, sender->settings.name, next);
    uint64_t end = event_spool_end(delivery->spool);
    metrics_event_backlog(sender->settings.name, end > next ? end - next : 0);
    uint64_t positions[64];
    size_t count = 0;
    pthread_mutex_lock(&delivery->lock);
    sender->next = next;
    int all = 1;
    for (struct sender *s = delivery->senders; s != NULL; s = s->next_sender) {
        if (count == sizeof positions / sizeof *positions) {
            all = 0;
            break;
        }
        positions[count++] = s->next;
    }
    pthread_mutex_unlock(&delivery->lock);
    if (all)
        event_spool_trim(delivery->spool, positions, count);
}

static double event_age_seconds(const char *event, size_t length)
{
    (void)length;
    /* "timestamp":"2026-12-06T21:00:00.123456789Z" */
    const char *at = strstr(event, "\"timestamp\":\"");
    if (at == NULL)
        return -1;
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *rest = strptime(at + 13, "%Y-%m-%dT%H:%M:%S", &tm);
    if (rest == NULL)
        return -1;
    double fraction = 0;
    if (*rest == '.')
        fraction = strtod(rest, NULL);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (double)(now.tv_sec - timegm(&tm)) + (double)now.tv_nsec / 1e9 - fraction;
}

static void *sender_run(void *context)
{
    struct sender *sender = context;
    struct event_delivery *delivery = sender->delivery;
    const char *name = sender->settings.name;
    CURL *handle = curl_easy_init();
    unsigned failures = 0;
    while (handle != NULL) {
        pthread_mutex_lock(&delivery->lock);
        uint64_t next = sender->next;
        int stopping = sender->stopping;
        pthread_mutex_unlock(&delivery->lock);
        if (stopping)
            break;
        uint64_t dropped = 0;
        uint64_t bounded = event_spool_bound(delivery->spool, next, &dropped);
        if (dropped > 0) {
            log_message(LOG_LEVEL_WARN,
                        "events: endpoint %s: %llu undelivered events dropped (the spool's "
                        "cairn.events.max_bytes or max_age)",
                        name, (unsigned long long)dropped);
            metrics_event_dropped(name, dropped);
            advance(sender, bounded);
            continue;
        }
        uint64_t end = event_spool_end(delivery->spool);
        metrics_event_backlog(name, end > next ? end - next : 0);
        char *event = NULL;
        size_t length = 0;
        int read = event_spool_read(delivery->spool, next, &event, &length);
        if (read == 0) {
            if (wait_for(sender, 1000, 1))
                break;
            continue;
        }
        if (read < 0) {
            if (read == -ENOENT) { /* gone from the spool: continue at the oldest */
                uint64_t oldest = event_spool_oldest(delivery->spool);
                uint64_t resume = oldest > next ? oldest : next + 1;
                log_message(LOG_LEVEL_WARN,
                            "events: endpoint %s: %llu events missing from the spool", name,
                            (unsigned long long)(resume - next));
                metrics_event_dropped(name, resume - next);
                advance(sender, resume);
                continue;
            }
            log_message(LOG_LEVEL_WARN, "events: endpoint %s: %s", name, error_message());
            if (wait_for(sender, 1000, 0))
                break;
            continue;
        }
        if (!event_wanted(sender, event, length)) {
            free(event);
            advance(sender, next + 1);
            continue;
        }
        size_t body_length = length + 13;
        char *body = malloc(body_length + 1);
        if (body == NULL) {
            free(event);
            if (wait_for(sender, 1000, 0))
                break;
            continue;
        }
        memcpy(body, "{\"events\":[", 11);
        memcpy(body + 11, event, length);
        memcpy(body + 11 + length, "]}", 3);
        long status = 0;
        int delivered = post(sender, handle, body, body_length, &status);
        free(body);
        if (delivered) {
            metrics_event_delivered(name, event_age_seconds(event, length));
            free(event);
            failures = 0;
            advance(sender, next + 1);
            continue;
        }
        free(event);
        failures++;
        metrics_event_failed(name);
        if (failures == sender->settings.threshold)
            log_message(LOG_LEVEL_WARN,
                        "events: endpoint %s failed %u times in a row (last: %s %ld); retrying "
                        "every %llums",
                        name, failures, status == 0 ? "no answer" : "HTTP", status,
                        (unsigned long long)sender->settings.backoff_milliseconds);
        uint64_t pause =
            failures >= sender->settings.threshold &&
                    sender->settings.backoff_milliseconds > EVENT_DELIVERY_RETRY_MILLISECONDS
                ? sender->settings.backoff_milliseconds
                : EVENT_DELIVERY_RETRY_MILLISECONDS;
        if (wait_for(sender, pause, 0))
            break;
    }
    if (handle != NULL)
        curl_easy_cleanup(handle);
    return NULL;
}

/* ---- senders ---- */

/* Adds a sender for `settings` at its position, not started yet: every
 * sender of a configuration is on the list before any runs, so that none
 * trims what another still has to send. */
static int sender_add(struct event_delivery *delivery,
                      const struct event_endpoint_settings *settings)
{
    struct sender *sender = calloc(1, sizeof *sender);
    if (sender == NULL)
        return error_set(-ENOMEM, "out of memory");
    sender->delivery = delivery;
    int result = endpoint_copy(settings, &sender->settings);
    if (result < 0) {
        free(sender);
        return result;
    }
    sender->next = event_spool_position(delivery->spool, settings->name);
    pthread_mutex_lock(&delivery->lock);
    sender->next_sender = delivery->senders;
    delivery->senders = sender;
    pthread_mutex_unlock(&delivery->lock);
    return 0;
}

/* Starts the threads of the senders added and not started. */
static int senders_run(struct event_delivery *delivery)
{
    int result = 0;
    pthread_mutex_lock(&delivery->lock);
    for (struct sender *s = delivery->senders; s != NULL && result == 0; s = s->next_sender) {
        if (s->started)
            continue;
        int failed = pthread_create(&s->thread, NULL, sender_run, s);
        if (failed != 0)
            result = error_set(-failed, "cannot start the sender of endpoint %s: %s",
                               s->settings.name, strerror(failed));
        else
            s->started = 1;
    }
    pthread_mutex_unlock(&delivery->lock);
    return result;
}

/* Stops and frees the senders for which `doomed` holds (all with NULL). */
static void senders_stop(struct event_delivery *delivery,
                         int (*doomed)(const struct sender *, const void *), const void *context)
{
    struct sender *stopped = NULL;
    pthread_mutex_lock(&delivery->lock);
    for (struct sender **link = &delivery->senders; *link != NULL;) {
        struct sender *sender = *link;
        if (doomed == NULL || doomed(sender, context)) {
            *link = sender->next_sender;
            sender->stopping = 1;
            sender->next_sender = stopped;
            stopped = sender;
        } else {
            link = &sender->next_sender;
        }
    }
    pthread_cond_broadcast(&delivery->changed);
    pthread_mutex_unlock(&delivery->lock);
    while (stopped != NULL) {
        struct sender *next = stopped->next_sender;
        if (stopped->started)
            pthread_join(stopped->thread, NULL);
        endpoint_release(&stopped->settings);
        free(stopped);
        stopped = next;
    }
}

int event_delivery_start(struct event_spool *spool, const struct event_settings *settings,
                         event_repository_match *match, struct event_delivery **delivery_out)
{
    struct event_delivery *delivery = calloc(1, sizeof *delivery);
    if (delivery == NULL)
        return error_set(-ENOMEM, "out of memory");
    delivery->spool = spool;
    delivery->match = match;
    pthread_mutex_init(&delivery->lock, NULL);
    pthread_cond_init(&delivery->changed, NULL);
    int result = event_delivery_reconfigure(delivery, settings);
    if (result < 0) {
        event_delivery_stop(delivery);
        return result;
    }
    *delivery_out = delivery;
    return 0;
}

static const struct event_endpoint_settings *find_endpoint(const struct event_settings *settings,
                                                           const char *name)
{
    for (size_t i = 0; i < settings->endpoint_count; i++)
        if (!settings->endpoints[i].disabled && strcmp(settings->endpoints[i].name, name) == 0)
            return &settings->endpoints[i];
    return NULL;
}

/* A sender whose endpoint is gone, disabled or changed. */
static int sender_outdated(const struct sender *sender, const void *context)
{
    const struct event_endpoint_settings *wanted = find_endpoint(context, sender->settings.name);
    return wanted == NULL || !same_endpoint(wanted, &sender->settings);
}

static int forgotten(const struct event_settings *settings, const char *name)
{
    for (size_t i = 0; i < settings->endpoint_count; i++)
        if (strcmp(settings->endpoints[i].name, name) == 0)
            return settings->endpoints[i].disabled;
    return 1;
}

int event_delivery_reconfigure(struct event_delivery *delivery,
                               const struct event_settings *settings)
{
    /* Removed or disabled endpoints lose their position once their sender
     * stopped: enabled again, they start at the end, as a new one does. */
    char *gone[64];
    size_t gone_count = 0;
    pthread_mutex_lock(&delivery->lock);
    for (struct sender *s = delivery->senders; s != NULL && gone_count < 64; s = s->next_sender)
        if (forgotten(settings, s->settings.name))
            gone[gone_count++] = strdup(s->settings.name);
    pthread_mutex_unlock(&delivery->lock);
    senders_stop(delivery, sender_outdated, settings);
    for (size_t i = 0; i < gone_count; i++) {
        if (gone[i] != NULL)
            event_spool_forget(delivery->spool, gone[i]);
        free(gone[i]);
    }
    for (size_t i = 0; i < settings->endpoint_count; i++) {
        const struct event_endpoint_settings *endpoint = &settings->endpoints[i];
        if (endpoint->disabled) {
            event_spool_forget(delivery->spool, endpoint->name);
            continue;
        }
        int present = 0;
        pthread_mutex_lock(&delivery->lock);
        for (struct sender *s = delivery->senders; s != NULL; s = s->next_sender)
            present |= strcmp(s->settings.name, endpoint->name) == 0;
        pthread_mutex_unlock(&delivery->lock);
        if (!present) {
            int result = sender_add(delivery, endpoint);
            if (result < 0)
                return result;
        }
    }
    return senders_run(delivery);
}

void event_delivery_notify(struct event_delivery *delivery)
{
    pthread_mutex_lock(&delivery->lock);
    int none = delivery->senders == NULL;
    pthread_cond_broadcast(&delivery->changed);
    pthread_mutex_unlock(&delivery->lock);
    if (none) /* every endpoint removed by a reload: nobody will read them */
        event_spool_trim(delivery->spool, NULL, 0);
}

void event_delivery_stop(struct event_delivery *delivery)
{
    if (delivery == NULL)
        return;
    senders_stop(delivery, NULL, NULL);
    pthread_mutex_destroy(&delivery->lock);
    pthread_cond_destroy(&delivery->changed);
    free(delivery);
}
