/*
 * src/http/request_events.h — the registry events (src/observe/events.h)
 * of the server's requests, as Distribution fires them (docs/events.md):
 *
 *   push    a manifest PUT (by tag or digest), a blob upload's last
 *           request (PUT ?digest=, or POST ?digest=)
 *   pull    a manifest GET or HEAD (by tag or digest), a blob GET or HEAD
 *   mount   POST ?mount= that linked the blob (from another repository)
 *   delete  DELETE of a manifest by digest (then one per tag it took
 *           along), of a tag, of a blob
 *
 * Pushes, mounts and deletes are written durably before their success
 * answer (call from the worker that did the work, before its result goes
 * back); pulls are written as they are answered, without waiting.
 *
 *     struct event_request who;
 *     request_events_capture(req, identity, &who);       // on the loop
 *     ... on the worker, after the PUT succeeded:
 *     request_events_manifest(registry, "push", &who, name, tag, &digest,
 *                             body, length, media_type, 1);
 */
#ifndef CAIRN_SRC_HTTP_REQUEST_EVENTS_H
#define CAIRN_SRC_HTTP_REQUEST_EVENTS_H

#include <h2o.h>
#include <stdatomic.h>

#include "src/http/endpoint_context.h"
#include "src/observe/events.h"

struct access_identity;

/* The server's events (NULL: none configured): set at start and at the
 * reload that configures the first endpoint, read by every thread. */
struct events *request_events_of(const struct registry *registry);

/* Fills `who` from the request (loop thread). */
void request_events_capture(h2o_req_t *req, const struct access_identity *identity,
                            struct event_request *who);
/* The `who` of an event: `captured` (by request_events_capture on the
 * handler's turn, for work that ends later), or with `captured` NULL the
 * request captured now into `scratch` (loop thread). NULL when no events
 * are configured: nothing is captured then. */
const struct event_request *request_events_who(const struct registry *registry, h2o_req_t *req,
                                               const struct access_identity *identity,
                                               const struct event_request *captured,
                                               struct event_request *scratch);

/* A manifest pushed or pulled: target with its media type, size and
 * (includereferences) its config, layers or children, parsed from `body`. */
void request_events_manifest(const struct registry *registry, const char *action,
                             const struct event_request *who, const char *name, const char *tag,
                             const struct digest *digest, const char *body, size_t length,
                             const char *media_type, int durable);
/* A blob pushed, pulled or mounted (`from`: the mount's source, else NULL). */
void request_events_blob(const struct registry *registry, const char *action,
                         const struct event_request *who, const char *name, const char *from,
                         const struct digest *digest, int64_t size, int durable);
/* Deletes: a manifest or blob by digest, or a tag (`digest` NULL). */
void request_events_delete(const struct registry *registry, const struct event_request *who,
                           const char *name, const struct digest *digest, const char *tag);

#endif
