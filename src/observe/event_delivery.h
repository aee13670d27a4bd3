/*
 * src/observe/event_delivery.h — sends the spool's events to the configured
 * endpoints (docs/events.md): one thread per enabled endpoint, each at its
 * own position in the spool (event_spool.h), so that a slow or dead
 * endpoint delays nobody else and no request ever waits for a delivery.
 *
 * Each endpoint gets the events it does not ignore (its ignored actions and
 * media types, its repository globs) in order, one envelope per event,
 * exactly as Distribution sends them:
 *
 *   POST <url>
 *   Content-Type: application/vnd.docker.distribution.events.v2+json
 *   <the endpoint's headers>
 *   Cairn-Signature: sha256=<hex HMAC-SHA256 of the body with the secret>
 *                                              (only with a secret)
 *   {"events":[<event>]}
 *
 * A 2xx or 3xx answer (not followed) is delivered: the position moves past
 * the event. Anything else, or no answer within the endpoint's timeout, is
 * retried: after 100 ms while fewer than `threshold` attempts in a row
 * failed, then every `backoff` (at least 100 ms). Before each event the spool's bounds apply
 * (event_spool_bound): what they drop is logged and counted.
 *
 * Thread safety: event_delivery_notify() from any thread; the rest from one
 * (the server's main thread: start, reload, stop).
 *
 *     struct event_delivery *delivery;
 *     event_delivery_start(spool, &config->events, &delivery);
 *     ... event_spool_append(...); event_delivery_notify(delivery);
 *     event_delivery_reconfigure(delivery, &new_config->events);   // reload
 *     event_delivery_stop(delivery);
 */
#ifndef CAIRN_SRC_OBSERVE_EVENT_DELIVERY_H
#define CAIRN_SRC_OBSERVE_EVENT_DELIVERY_H

#include "src/observe/event_settings.h"
#include "src/observe/event_spool.h"

#define EVENT_DELIVERY_CONTENT_TYPE "application/vnd.docker.distribution.events.v2+json"
#define EVENT_DELIVERY_SIGNATURE_HEADER "Cairn-Signature"
/* The wait between failed attempts before `threshold` is reached, and the
 * least wait after (a `backoff` of 0 does not make a busy loop). */
#define EVENT_DELIVERY_RETRY_MILLISECONDS 100

struct event_delivery;

/* Matches a repository glob (cairn.access's syntax) against a name: 1, 0,
 * or <0 for a bad pattern. The caller's (src/auth/access_rules.h:
 * access_pattern_match), since this module does not depend on auth. */
typedef int event_repository_match(const char *pattern, const char *name);

/* Starts a thread for every enabled endpoint of `settings` (copied). */
int event_delivery_start(struct event_spool *spool, const struct event_settings *settings,
                         event_repository_match *match, struct event_delivery **delivery_out);
/* Endpoints added start (at the spool's end), removed ones stop (their
 * positions forgotten), changed ones restart at their position. */
int event_delivery_reconfigure(struct event_delivery *delivery,
                               const struct event_settings *settings);
/* New events are in the spool. */
void event_delivery_notify(struct event_delivery *delivery);
/* Stops every thread (an attempt in flight is cut within its timeout). */
void event_delivery_stop(struct event_delivery *delivery);

/* Whether `endpoint` takes an event of `action`, `media_type` (may be
 * NULL) in `repository`: its ignore lists and repository globs. */
int event_endpoint_wants(const struct event_endpoint_settings *endpoint,
                         event_repository_match *match, const char *action, const char *media_type,
                         const char *repository);

#endif
