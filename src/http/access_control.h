/*
 * src/http/access_control.h — who is asking, and whether they may do what a
 * request needs.
 *
 * Identity, in this order: an Authorization header ("Basic" checked against
 * the htpasswd file, "Bearer" verified as a Docker registry token), else a
 * verified TLS client certificate (its subject CN, when http.tls.clientcas is
 * configured), else anonymous. Credentials that are present but wrong are a
 * 401, never a silent fall back to anonymous.
 *
 * Policy:
 *  - no authentication configured (no htpasswd, no token, no client CAs):
 *    everything is allowed, as Distribution without `auth:`;
 *  - a token decides by its `access` claim alone;
 *  - anonymous: pulls when cairn.anonymous_pull is on, otherwise the access
 *    rules decide (subject "anonymous"), and without rules nothing;
 *  - a user (password or certificate): the access rules decide (first match,
 *    default deny); without any rules, everything (Distribution's behaviour,
 *    so an existing htpasswd setup keeps working).
 * Refused: 401 with the challenge (Basic or Bearer with the scope the request
 * needs) for anonymous and token callers, 403 DENIED for a known user.
 *
 *     struct access_identity identity;
 *     if (access_control_identify(req, runtime, &identity, &check) < 0) -> 401
 *     if (!access_control_allows(runtime, &identity, name, ACCESS_PULL)) ->
 *         access_control_refuse(req, runtime, &identity, name, ACCESS_PULL);
 *     access_identity_release(&identity);
 */
#ifndef CAIRN_SRC_HTTP_ACCESS_CONTROL_H
#define CAIRN_SRC_HTTP_ACCESS_CONTROL_H

#include <h2o.h>

#include "layout/walk.h"
#include "src/config/runtime.h"
#include "src/auth/token.h"

enum identity_source {
    IDENTITY_ANONYMOUS,
    IDENTITY_PASSWORD,
    IDENTITY_TOKEN,
    IDENTITY_CERTIFICATE,
};

struct access_identity {
    enum identity_source source;
    char user[256];           /* "" when anonymous; the token's subject for a token */
    struct token_grant grant; /* IDENTITY_TOKEN only */
};

/* Whether the snapshot configures any authentication at all. */
int access_control_enabled(const struct runtime *runtime);

/* A password that still has to be checked against the htpasswd file:
 * bcrypt is slow by design, so it runs on a worker thread, not the loop. */
struct password_check;

/* Fills `identity`. 0 when known; 1 when a password must still be checked:
 * `*check_out` is then set (run access_control_check_password() on a worker
 * thread, then access_control_password_checked() back on the loop); or
 * -EACCES when credentials were given and are wrong (the caller answers with
 * access_control_refuse(); the reason is in error_message() and has been
 * counted in the metrics). */
int access_control_identify(h2o_req_t *req, const struct runtime *runtime,
                            struct access_identity *identity, struct password_check **check_out);

/* The bcrypt comparison (worker thread). The caller keeps a reference to
 * the snapshot given to access_control_identify() until this returns. */
void access_control_check_password(struct password_check *check);

/* Back on the loop thread: completes `identity` (0) or refuses it (-EACCES,
 * as above), remembers a good login, and frees `check` (wiped). */
int access_control_password_checked(const struct runtime *runtime, struct access_identity *identity,
                                    struct password_check *check);

/* Frees a check that will not complete (the request went away). */
void access_control_password_abandon(struct password_check *check);

/* 1 when `identity` may do `actions` (ACCESS_* bits) on `repository` (NULL
 * with ACCESS_CATALOG: the catalog; NULL with no actions: just being
 * authenticated, for GET /v2/). */
int access_control_allows(const struct runtime *runtime, const struct access_identity *identity,
                          const char *repository, unsigned actions);

/* Answers 401 UNAUTHORIZED with the challenge, or 403 DENIED (see above). */
void access_control_refuse(h2o_req_t *req, const struct runtime *runtime,
                           const struct access_identity *identity, const char *repository,
                           unsigned actions);

void access_identity_release(struct access_identity *identity);

/* Which repositories a caller may pull, for work that outlives the request's
 * handler (a worker thread searching the tree, while the request and its
 * identity may be freed): the snapshot, with a reference held, and the
 * identity, a token's grant reduced to the exact names it lets pull.
 *
 *     struct access_pull_scope scope = {0};
 *     if (access_pull_scope_init(&scope, endpoint->runtime, endpoint->identity) < 0) ...
 *     // on any thread:
 *     if (scope.everything) ...                  // nothing to hide from this caller
 *     if (access_pull_scope_allows(&scope, "team-a/app")) ...
 *     access_pull_scope_release(&scope);         // a zeroed scope too
 */
struct access_pull_scope {
    struct runtime *runtime;
    struct access_identity identity; /* never holds a token's grant */
    int everything;                  /* may pull every repository there is */
    int listed;                      /* a token: only the names in `repositories` */
    struct string_list repositories; /* sorted */
};

/* On the loop thread, while `identity` is valid. 0 or -ENOMEM. */
int access_pull_scope_init(struct access_pull_scope *scope, struct runtime *runtime,
                           const struct access_identity *identity);
/* Whether the caller may pull `repository`: what access_control_allows()
 * says for ACCESS_PULL. Any thread. */
int access_pull_scope_allows(const struct access_pull_scope *scope, const char *repository);
void access_pull_scope_release(struct access_pull_scope *scope);

#endif
