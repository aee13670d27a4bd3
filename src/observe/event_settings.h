/*
 * src/observe/event_settings.h — what the configuration says about registry
 * events (webhooks, docs/events.md): Distribution's `notifications:` section
 * and cairn's `cairn.events`. src/config fills it (config.h holds one);
 * src/observe/events.h delivers by it. Plain data: every string and list is
 * owned by the struct and freed by event_settings_release().
 *
 * Defaults (CONFIG_DEFAULT_EVENT_* in src/config/defaults.h) are applied by
 * the loader; a struct that was zeroed means "no events".
 */
#ifndef CAIRN_SRC_OBSERVE_EVENT_SETTINGS_H
#define CAIRN_SRC_OBSERVE_EVENT_SETTINGS_H

#include <stddef.h>
#include <stdint.h>

/* One header sent with every request to an endpoint: Distribution's
 * `headers: {Name: [value, ...]}` (each value its own header line). */
struct event_header {
    char *name;
    char **values;
    size_t value_count;
};

struct event_endpoint_settings {
    char *name;                   /* notifications.endpoints[].name (required, unique) */
    int disabled;                 /* .disabled: configured but sent nothing */
    char *url;                    /* .url: http:// or https:// (required) */
    struct event_header *headers; /* .headers */
    size_t header_count;
    uint64_t timeout_milliseconds; /* .timeout: one delivery attempt */
    unsigned threshold;            /* .threshold: failures in a row before backing off */
    uint64_t backoff_milliseconds; /* .backoff: the wait after `threshold` failures */
    /* .ignoredmediatypes and .ignore.mediatypes together: events whose
     * target.mediaType is one of these are not sent to this endpoint */
    char **ignored_media_types;
    size_t ignored_media_type_count;
    char **ignored_actions; /* .ignore.actions: "pull", "push", "mount", "delete" */
    size_t ignored_action_count;
    /* cairn's own: .repositories, globs as in cairn.access (`"team/" "**"`,
     * split only because a C comment cannot hold slash-star); none: every
     * repository */
    char **repositories;
    size_t repository_count;
    /* cairn's own: .secret (or .secret_file, read by the loader): each body
     * signed with HMAC-SHA256 in the Cairn-Signature header; NULL: unsigned */
    char *secret;
};

struct event_settings {
    int include_references; /* notifications.events.includereferences */
    struct event_endpoint_settings *endpoints;
    size_t endpoint_count;
    /* cairn.events.spool: the spool directory; NULL: <root>/cairn-events */
    char *spool_directory;
    uint64_t spool_max_bytes;       /* cairn.events.max_bytes: per endpoint, undelivered */
    uint64_t spool_max_age_seconds; /* cairn.events.max_age: older undelivered ones are dropped */
};

void event_settings_release(struct event_settings *settings);

#endif
