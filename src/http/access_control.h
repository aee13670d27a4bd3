/*
 * src/http/access_control.h — the HTTP side of access: who a request says it
 * is (its Authorization header, its TLS client certificate) and the 401/403
 * answers. The decision itself is src/auth/access_decision.h's, under the
 * policy of the request's configuration snapshot.
 *
 * Refused: 401 with the challenge (Basic, or Bearer with the scope the
 * request needs) for anonymous and token callers, 403 DENIED for a known
 * user (password or certificate).
 *
 *     struct access_identity identity;
 *     int result = access_control_identify(req, runtime, limiter, &identity, &check);
 *     if (result == -EAGAIN) access_control_throttle(req, &identity);   // 429
 *     else if (result < 0) -> 401
 *     if (!access_control_allows(runtime, &identity, name, ACCESS_PULL))
 *         access_control_refuse(req, runtime, &identity, name, ACCESS_PULL);
 *     access_identity_release(&identity);
 */
#ifndef CAIRN_SRC_HTTP_ACCESS_CONTROL_H
#define CAIRN_SRC_HTTP_ACCESS_CONTROL_H

#include <h2o.h>

#include "src/auth/access_decision.h"
#include "src/config/runtime.h"

/* The access policy of a snapshot: pointers into it, with the snapshot as
 * the owner that holders such as access_pull_scope take a reference on. */
void access_control_policy(const struct runtime *runtime, struct access_policy *out);

/* access_identify() for the request: its Authorization header, else (with
 * client CAs configured) its verified client certificate; its peer address
 * for the failed-login limits of `limiter` (process-wide; NULL: none) under
 * the snapshot's cairn.login_limits. The same results: 0, 1 with
 * `*check_out` to run (access_password_check() on a worker, then
 * access_password_checked()), -EAGAIN (answer with access_control_throttle())
 * or -EACCES (answer with access_control_refuse()). */
int access_control_identify(h2o_req_t *req, const struct runtime *runtime,
                            struct login_limiter *limiter, struct access_identity *identity,
                            struct password_check **check_out);

/* Answers 429 TOOMANYREQUESTS with Retry-After: identity->retry_after_seconds. */
void access_control_throttle(h2o_req_t *req, const struct access_identity *identity);

/* access_decision_allows() under the snapshot's policy. */
int access_control_allows(const struct runtime *runtime, const struct access_identity *identity,
                          const char *repository, unsigned actions);

/* Answers 401 UNAUTHORIZED with the challenge, or 403 DENIED (see above). */
void access_control_refuse(h2o_req_t *req, const struct runtime *runtime,
                           const struct access_identity *identity, const char *repository,
                           unsigned actions);

/* access_pull_scope_init() under the snapshot's policy (holding a reference
 * to the snapshot until access_pull_scope_release()). */
int access_control_pull_scope(struct access_pull_scope *scope, struct runtime *runtime,
                              const struct access_identity *identity);

#endif
