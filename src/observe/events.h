/*
 * src/observe/events.h — registry events (webhooks) as Distribution sends
 * them (docs/events.md): what happened, written as one event of
 * Distribution's envelope into the durable spool (event_spool.h), from
 * which event_delivery.h sends it to every endpoint that wants it.
 *
 * The server owns one `struct events` (NULL when no endpoint is
 * configured: every call is then a no-op). A push, mount or delete is
 * recorded with `durable` before its success answer goes out: once a client
 * saw 201 or 202, its event survives kill -9 (concurrent records share one
 * fdatasync). Pulls are recorded without waiting for the disk.
 *
 * The event's JSON, field for field as Distribution 2.8 writes it:
 *
 *   {"id":"<uuid>","timestamp":"2026-12-06T21:00:00.123456789Z",
 *    "action":"push",
 *    "target":{"mediaType":"...","size":1234,"digest":"sha256:...",
 *              "length":1234,"repository":"team/app",
 *              "fromRepository":"...",            (mounts)
 *              "url":"http://<host>/v2/team/app/manifests/sha256:...",
 *              "tag":"v1",                         (a tag was used)
 *              "references":[{"mediaType":...,"size":...,"digest":...}]},
 *                                                  (includereferences)
 *    "request":{"id":"...","addr":"127.0.0.1:40000","host":"...",
 *               "method":"PUT","useragent":"..."},
 *    "actor":{"name":"alice"},                    ({} anonymous)
 *    "source":{"addr":"<hostname>:<port>","instanceID":"<uuid>"}}
 *
 *     struct events *events;
 *     events_open(&config->events, default_spool, listen_port, access_pattern_match, &events);
 *     struct event_record record = {.action = "push", ...};
 *     events_record(events, &record, 1);    // before the 201
 *     events_reconfigure(events, &new_config->events);
 *     events_close(events);
 */
#ifndef CAIRN_SRC_OBSERVE_EVENTS_H
#define CAIRN_SRC_OBSERVE_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "layout/digest.h"
#include "src/observe/event_delivery.h"
#include "src/observe/event_settings.h"

struct events;

/* The request an event comes from (Distribution's `request` and `actor`). */
struct event_request {
    char id[40];
    char addr[64];  /* the client's address and port */
    char host[256]; /* the Host header (or :authority) */
    char method[16];
    char useragent[256];
    char actor[256]; /* the authenticated user; "" anonymous */
    char scheme[8];  /* "http" or "https", for target.url */
};

/* One descriptor of target.references. */
struct event_reference {
    const char *media_type;
    int64_t size;
    const struct digest *digest;
};

struct event_record {
    const char *action;     /* "push", "pull", "mount", "delete" */
    const char *media_type; /* NULL: omitted */
    int64_t size;           /* -1: size and length omitted */
    const struct digest *digest;
    const char *repository;
    const char *from_repository;              /* mounts; NULL otherwise */
    const char *tag;                          /* NULL: no tag was used */
    int manifest;                             /* 1: target.url names a manifest, 0: a blob */
    int with_url;                             /* target.url (Distribution's deletes have none) */
    const struct event_reference *references; /* with includereferences */
    size_t reference_count;
    const struct event_request *request;
};

/* NULL in *events_out (and 0) when `settings` has no enabled endpoint.
 * `default_spool`: the spool without cairn.events.spool (the server's
 * tree_path_event_spool, layout/tree.h). */
int events_open(const struct event_settings *settings, const char *default_spool, int listen_port,
                event_repository_match *match, struct events **events_out);
/* A reload: endpoints change; the spool stays where it is (its directory
 * and bounds take effect at the next start). `*events` may be NULL and
 * become non-NULL (the first endpoint configured) — never the other way:
 * with no endpoint left, the senders stop and records are still spooled. */
int events_reconfigure(struct events **events, const struct event_settings *settings,
                       const char *default_spool, int listen_port, event_repository_match *match);
void events_close(struct events *events);

/* A new random (version 4) UUID, as Distribution's ids are. */
void events_new_id(char out[40]);

/* Whether references should be filled (includereferences). */
int events_include_references(const struct events *events);

/* Writes the event (durably with `durable`) and wakes the senders. 0 or a
 * negative errno (logged by the caller: a request whose event could not be
 * written still succeeded). */
int events_record(struct events *events, const struct event_record *record, int durable);

#endif
