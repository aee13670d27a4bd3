/*
 * src/auth/access_decision.h — who is asking, and whether they may do what a
 * request needs: the decision, without HTTP (src/http/access_control.h reads
 * the request and answers 401/403).
 *
 * A `struct access_policy` is what the configuration says about access: the
 * htpasswd file, the token verifier, the access rules (each NULL when not
 * configured), whether TLS client certificates identify users and whether
 * anonymous callers may pull. It only points at them: whoever built it
 * keeps them alive while it is used (src/http builds one from each
 * configuration snapshot and holds a reference to the snapshot).
 *
 * Identity, in this order: an Authorization header ("Basic" checked against
 * the htpasswd file, "Bearer" verified as a Docker registry token), else a
 * verified TLS client certificate (its subject CN), else anonymous.
 * Credentials that are present but wrong are refused, never a silent fall
 * back to anonymous.
 *
 * Policy:
 *  - no authentication configured (no htpasswd, no token, no client CAs):
 *    everything is allowed, as Distribution without `auth:`;
 *  - a token decides by its `access` claim alone;
 *  - anonymous: pulls when anonymous_pull is on, otherwise the access rules
 *    decide (subject "anonymous"), and without rules nothing;
 *  - a user (password or certificate): the access rules decide (first match,
 *    default deny); without any rules, everything (Distribution's behaviour,
 *    so an existing htpasswd setup keeps working).
 *
 * Failed Basic logins are limited per client address and per user name
 * (policy->login_limiter, src/auth/login_limiter.h): a throttled attempt is
 * refused before any password check or login-cache lookup, -EAGAIN with
 * identity->retry_after_seconds set (the HTTP side answers 429).
 *
 *     struct access_identity identity;
 *     struct password_check *check = NULL;
 *     int result = access_identify(&policy, header, header_length, NULL, &client, &identity,
 *                                  &check);
 *     if (result == 1) { access_password_check(check);   // on a worker thread
 *                        result = access_password_checked(&policy, &identity, check); }
 *     if (result == -EAGAIN) -> 429, Retry-After: identity.retry_after_seconds
 *     if (result < 0) -> refused (401)
 *     if (!access_decision_allows(&policy, &identity, name, ACCESS_PULL)) -> 401 or 403
 *     access_identity_release(&identity);
 */
#ifndef CAIRN_SRC_AUTH_ACCESS_DECISION_H
#define CAIRN_SRC_AUTH_ACCESS_DECISION_H

#include <stddef.h>

#include "layout/walk.h"
#include "src/auth/access_rules.h"
#include "src/auth/login_limiter.h"
#include "src/auth/token.h"

struct htpasswd;

struct access_policy {
    const struct htpasswd *htpasswd;             /* NULL: no Basic logins */
    const struct token_verifier *token_verifier; /* NULL: no tokens */
    const struct access_rules *access_rules;     /* NULL: no rules */
    int client_certificates; /* verified TLS client certificates identify users */
    int anonymous_pull;      /* anonymous callers may pull everything */
    /* Failed-login limits: process-wide state (NULL: none), this
     * configuration's settings. */
    struct login_limiter *login_limiter;
    struct login_limit_settings login_limits;
    /* Which configuration this is: a login remembered under another one is
     * forgotten (a reloaded htpasswd file). */
    unsigned long generation;
    /* Who keeps the objects above alive, for holders that outlive the
     * caller (access_pull_scope): acquire/release take and drop a reference
     * on `owner`. NULL functions: they live as long as every holder. */
    void *owner;
    void (*acquire)(void *owner);
    void (*release)(void *owner);
};

enum identity_source {
    IDENTITY_ANONYMOUS,
    IDENTITY_PASSWORD,
    IDENTITY_TOKEN,
    IDENTITY_CERTIFICATE,
};

struct access_identity {
    enum identity_source source;
    char user[256];               /* "" when anonymous; the token's subject for a token */
    struct token_grant grant;     /* IDENTITY_TOKEN only */
    unsigned retry_after_seconds; /* access_identify() returned -EAGAIN: when to try again */
};

/* Whether the policy configures any authentication at all. */
int access_policy_enabled(const struct access_policy *policy);

/* A password that still has to be checked against the htpasswd file:
 * bcrypt is slow by design, so it runs on a worker thread, not the loop. */
struct password_check;

/* Fills `identity` from the Authorization header's value (`authorization`
 * NULL when there is none) and, without one, the user of a verified client
 * certificate (`certificate_user`, NULL or "" when none); `client` is the
 * caller's address for the login limits (NULL: unknown). 0 when known; 1
 * when a password must still be checked: `*check_out` is then set (run
 * access_password_check() on a worker thread, then
 * access_password_checked() back on the loop; with `check_out` NULL the
 * check runs here); -EAGAIN when the login limits refuse the attempt
 * (identity->retry_after_seconds says when to try again); or -EACCES when
 * credentials were given and are wrong (the reason is in error_message()
 * and has been counted in the metrics). */
int access_identify(const struct access_policy *policy, const char *authorization,
                    size_t authorization_length, const char *certificate_user,
                    const struct login_address *client, struct access_identity *identity,
                    struct password_check **check_out);

/* The bcrypt comparison (worker thread). The caller keeps the policy's
 * htpasswd alive until this returns. */
void access_password_check(struct password_check *check);

/* Back on the loop thread: completes `identity` (0) or refuses it (-EACCES,
 * as above), remembers a good login for this thread, and frees `check`
 * (wiped). */
int access_password_checked(const struct access_policy *policy, struct access_identity *identity,
                            struct password_check *check);

/* Frees a check that will not complete: the request went away (a check
 * that ran still counts for the login limits) or no worker took it. */
void access_password_abandon(struct password_check *check);

/* 1 when `identity` may do `actions` (ACCESS_* bits) on `repository` (NULL
 * with ACCESS_CATALOG: the catalog; NULL with no actions: just being
 * authenticated, for GET /v2/). */
int access_decision_allows(const struct access_policy *policy,
                           const struct access_identity *identity, const char *repository,
                           unsigned actions);

void access_identity_release(struct access_identity *identity);

/* Which repositories a caller may pull, for work that outlives the request
 * (a worker thread searching the tree, while the request and its identity
 * may be freed): the policy, with a reference on its owner, and the
 * identity, a token's grant reduced to the exact names it lets pull.
 *
 *     struct access_pull_scope scope = {0};
 *     if (access_pull_scope_init(&scope, &policy, identity) < 0) ...
 *     // on any thread:
 *     if (scope.everything) ...                  // nothing to hide from this caller
 *     if (access_pull_scope_allows(&scope, "team-a/app")) ...
 *     access_pull_scope_release(&scope);         // a zeroed scope too
 */
struct access_pull_scope {
    struct access_policy policy;
    int holds_policy;                /* a reference on policy.owner was taken */
    struct access_identity identity; /* never holds a token's grant */
    int everything;                  /* may pull every repository there is */
    int listed;                      /* a token: only the names in `repositories` */
    struct string_list repositories; /* sorted */
};

/* While `identity` is valid. 0 or -ENOMEM. */
int access_pull_scope_init(struct access_pull_scope *scope, const struct access_policy *policy,
                           const struct access_identity *identity);
/* Whether the caller may pull `repository`: what access_decision_allows()
 * says for ACCESS_PULL. Any thread. */
int access_pull_scope_allows(const struct access_pull_scope *scope, const char *repository);
void access_pull_scope_release(struct access_pull_scope *scope);

#endif
