/* src/http/request_events.c — see request_events.h. */
#include "src/http/request_events.h"

#include <stdio.h>
#include <string.h>

#include "layout/error.h"
#include "layout/manifest.h"
#include "src/auth/access_decision.h"
#include "src/observe/access_log.h"

struct events *request_events_of(const struct registry *registry)
{
    return atomic_load_explicit(&((struct registry *)registry)->events, memory_order_acquire);
}

static void copy_iovec(char *out, size_t size, h2o_iovec_t value)
{
    size_t length = value.len < size - 1 ? value.len : size - 1;
    memcpy(out, value.base, length);
    out[length] = '\0';
}

void request_events_capture(h2o_req_t *req, const struct access_identity *identity,
                            struct event_request *who)
{
    memset(who, 0, sizeof *who);
    events_new_id(who->id);
    struct sockaddr_storage address;
    socklen_t length = req->conn->callbacks->get_peername(req->conn, (void *)&address);
    char host[INET6_ADDRSTRLEN + 8] = "";
    if (length > 0 && h2o_socket_getnumerichost((void *)&address, length, host) != SIZE_MAX) {
        int32_t port = h2o_socket_getport((void *)&address);
        snprintf(who->addr, sizeof who->addr, address.ss_family == AF_INET6 ? "[%s]:%d" : "%s:%d",
                 host, (int)port);
    }
    copy_iovec(who->host, sizeof who->host, req->authority);
    copy_iovec(who->method, sizeof who->method, req->method);
    ssize_t at = h2o_find_header(&req->headers, H2O_TOKEN_USER_AGENT, -1);
    if (at >= 0)
        copy_iovec(who->useragent, sizeof who->useragent, req->headers.entries[at].value);
    if (identity != NULL)
        snprintf(who->actor, sizeof who->actor, "%s", identity->user);
    snprintf(who->scheme, sizeof who->scheme, "%s",
             req->scheme == &H2O_URL_SCHEME_HTTPS ? "https" : "http");
}

const struct event_request *request_events_who(const struct registry *registry, h2o_req_t *req,
                                               const struct access_identity *identity,
                                               const struct event_request *captured,
                                               struct event_request *scratch)
{
    if (request_events_of(registry) == NULL)
        return NULL;
    if (captured != NULL)
        return captured;
    request_events_capture(req, identity, scratch);
    return scratch;
}

static void record(const struct registry *registry, const struct event_record *event, int durable)
{
    struct events *events = request_events_of(registry);
    if (events != NULL && events_record(events, event, durable) < 0)
        log_message(LOG_LEVEL_ERROR, "events: a %s event of %s was not written: %s", event->action,
                    event->repository, error_message());
}

#define REFERENCES_MAX 256

void request_events_manifest(const struct registry *registry, const char *action,
                             const struct event_request *who, const char *name, const char *tag,
                             const struct digest *digest, const char *body, size_t length,
                             const char *media_type, int durable)
{
    struct events *events = request_events_of(registry);
    if (events == NULL)
        return;
    struct event_reference references[REFERENCES_MAX];
    struct manifest manifest;
    int parsed = -1;
    size_t count = 0;
    if (events_include_references(events) &&
        (parsed = manifest_parse(body, length, media_type, &manifest)) == 0)
        for (size_t i = 0; i < manifest.reference_count && count < REFERENCES_MAX; i++) {
            const struct descriptor *d = &manifest.references[i].descriptor;
            references[count++] = (struct event_reference){
                .media_type = d->media_type, .size = d->size, .digest = &d->digest};
        }
    struct event_record event = {
        .action = action,
        .media_type = media_type,
        .size = (int64_t)length,
        .digest = digest,
        .repository = name,
        .tag = tag,
        .manifest = 1,
        .with_url = 1,
        .references = references,
        .reference_count = count,
        .request = who,
    };
    record(registry, &event, durable);
    if (parsed == 0)
        manifest_release(&manifest);
}

void request_events_blob(const struct registry *registry, const char *action,
                         const struct event_request *who, const char *name, const char *from,
                         const struct digest *digest, int64_t size, int durable)
{
    struct event_record event = {
        .action = action,
        .media_type = "application/octet-stream",
        .size = size,
        .digest = digest,
        .repository = name,
        .from_repository = from,
        .with_url = 1,
        .request = who,
    };
    record(registry, &event, durable);
}

void request_events_delete(const struct registry *registry, const struct event_request *who,
                           const char *name, const struct digest *digest, const char *tag)
{
    struct event_record event = {
        .action = "delete",
        .size = -1,
        .digest = digest,
        .repository = name,
        .tag = tag,
        .request = who,
    };
    record(registry, &event, 1);
}
