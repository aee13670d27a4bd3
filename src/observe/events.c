/* src/observe/events.c — see events.h. */
#include "src/observe/events.h"

#include <errno.h>
#include <jansson.h>
#include <openssl/rand.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "layout/error.h"
#include "src/observe/access_log.h"
#include "src/observe/metrics.h"

struct events {
    struct event_spool *spool;
    struct event_delivery *delivery;
    atomic_int include_references; /* a reload changes it */
    char source_addr[300];
    char instance_id[40];
};

void events_new_id(char out[40])
{
    unsigned char bytes[16];
    if (RAND_bytes(bytes, sizeof bytes) != 1) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        for (size_t i = 0; i < sizeof bytes; i++)
            bytes[i] = (unsigned char)((uint64_t)now.tv_nsec * (i + 7) >> (i % 8));
    }
    bytes[6] = (unsigned char)((bytes[6] & 0x0f) | 0x40);
    bytes[8] = (unsigned char)((bytes[8] & 0x3f) | 0x80);
    snprintf(out, 40, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
             bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]);
}

/* Go's RFC3339Nano in UTC: trailing zeros of the fraction dropped. */
static void timestamp_now(char out[48])
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm tm;
    gmtime_r(&now.tv_sec, &tm);
    size_t used = strftime(out, 48, "%Y-%m-%dT%H:%M:%S", &tm);
    if (now.tv_nsec > 0) {
        char fraction[24];
        snprintf(fraction, sizeof fraction, ".%09ld", now.tv_nsec);
        size_t length = strlen(fraction);
        while (length > 1 && fraction[length - 1] == '0')
            fraction[--length] = '\0';
        used += (size_t)snprintf(out + used, 48 - used, "%s", fraction);
    }
    snprintf(out + used, 48 - used, "Z");
}

static int has_enabled_endpoint(const struct event_settings *settings)
{
    for (size_t i = 0; i < settings->endpoint_count; i++)
        if (!settings->endpoints[i].disabled)
            return 1;
    return 0;
}

int events_open(const struct event_settings *settings, const char *default_spool, int listen_port,
                event_repository_match *match, struct events **events_out)
{
    *events_out = NULL;
    if (!has_enabled_endpoint(settings))
        return 0;
    struct events *events = calloc(1, sizeof *events);
    if (events == NULL)
        return error_set(-ENOMEM, "out of memory");
    atomic_store(&events->include_references, settings->include_references);
    char hostname[256] = "localhost";
    gethostname(hostname, sizeof hostname - 1);
    snprintf(events->source_addr, sizeof events->source_addr, "%s:%d", hostname, listen_port);
    events_new_id(events->instance_id);
    const char *directory =
        settings->spool_directory != NULL ? settings->spool_directory : default_spool;
    int result = event_spool_open(directory, settings->spool_max_bytes,
                                  settings->spool_max_age_seconds, &events->spool);
    if (result == 0)
        result = event_delivery_start(events->spool, settings, match, &events->delivery);
    if (result < 0) {
        events_close(events);
        return result;
    }
    log_message(LOG_LEVEL_INFO, "events: spool %s, %zu endpoints", directory,
                settings->endpoint_count);
    *events_out = events;
    return 0;
}

int events_reconfigure(struct events **events, const struct event_settings *settings,
                       const char *default_spool, int listen_port, event_repository_match *match)
{
    if (*events == NULL)
        return events_open(settings, default_spool, listen_port, match, events);
    atomic_store(&(*events)->include_references, settings->include_references);
    return event_delivery_reconfigure((*events)->delivery, settings);
}

void events_close(struct events *events)
{
    if (events == NULL)
        return;
    event_delivery_stop(events->delivery);
    event_spool_close(events->spool);
    free(events);
}

int events_include_references(const struct events *events)
{
    return events != NULL && atomic_load(&((struct events *)events)->include_references);
}

/* target.url: what Distribution's URL builder makes of the request's host. */
static void target_url(const struct event_record *record, char *out, size_t size)
{
    const struct event_request *request = record->request;
    snprintf(out, size, "%s://%s/v2/%s/%s/%s", request->scheme[0] ? request->scheme : "http",
             request->host, record->repository, record->manifest ? "manifests" : "blobs",
             record->digest != NULL ? record->digest->string : "");
}

static json_t *descriptor(const char *media_type, int64_t size, const struct digest *digest)
{
    json_t *object = json_object();
    if (object == NULL)
        return NULL;
    if (media_type != NULL)
        json_object_set_new(object, "mediaType", json_string(media_type));
    if (size >= 0)
        json_object_set_new(object, "size", json_integer(size));
    if (digest != NULL)
        json_object_set_new(object, "digest", json_string(digest->string));
    return object;
}

int events_record(struct events *events, const struct event_record *record, int durable)
{
    if (events == NULL)
        return 0;
    char id[40], timestamp[48], url[4096];
    events_new_id(id);
    timestamp_now(timestamp);
    target_url(record, url, sizeof url);
    json_t *target = descriptor(record->media_type, record->size, record->digest);
    json_t *root = json_object(), *request = json_object(), *actor = json_object(),
           *source = json_object();
    if (target == NULL || root == NULL || request == NULL || actor == NULL || source == NULL) {
        json_decref(target);
        json_decref(root);
        json_decref(request);
        json_decref(actor);
        json_decref(source);
        return error_set(-ENOMEM, "out of memory");
    }
    if (record->size >= 0)
        json_object_set_new(target, "length", json_integer(record->size));
    json_object_set_new(target, "repository", json_string(record->repository));
    if (record->from_repository != NULL)
        json_object_set_new(target, "fromRepository", json_string(record->from_repository));
    if (record->with_url)
        json_object_set_new(target, "url", json_string(url));
    if (record->tag != NULL)
        json_object_set_new(target, "tag", json_string(record->tag));
    if (atomic_load(&events->include_references) && record->reference_count > 0) {
        json_t *references = json_array();
        for (size_t i = 0; references != NULL && i < record->reference_count; i++)
            json_array_append_new(references, descriptor(record->references[i].media_type,
                                                         record->references[i].size,
                                                         record->references[i].digest));
        json_object_set_new(target, "references", references);
    }
    const struct event_request *from = record->request;
    json_object_set_new(request, "id", json_string(from->id));
    json_object_set_new(request, "addr", json_string(from->addr));
    json_object_set_new(request, "host", json_string(from->host));
    json_object_set_new(request, "method", json_string(from->method));
    json_object_set_new(request, "useragent", json_string(from->useragent));
    if (from->actor[0] != '\0')
        json_object_set_new(actor, "name", json_string(from->actor));
    json_object_set_new(source, "addr", json_string(events->source_addr));
    json_object_set_new(source, "instanceID", json_string(events->instance_id));
    json_object_set_new(root, "id", json_string(id));
    json_object_set_new(root, "timestamp", json_string(timestamp));
    json_object_set_new(root, "action", json_string(record->action));
    json_object_set_new(root, "target", target);
    json_object_set_new(root, "request", request);
    json_object_set_new(root, "actor", actor);
    json_object_set_new(root, "source", source);
    char *text = json_dumps(root, JSON_PRESERVE_ORDER | JSON_COMPACT);
    json_decref(root);
    if (text == NULL)
        return error_set(-ENOMEM, "out of memory");
    int result = event_spool_append(events->spool, text, strlen(text), durable, NULL);
    free(text);
    if (result == 0) {
        metrics_event_queued();
        event_delivery_notify(events->delivery);
    }
    return result;
}
