/* src/http/access_control.h */
#include "src/http/access_control.h"

#include <string.h>
#include <sys/socket.h>

#include "layout/error.h"
#include "src/auth/htpasswd.h"
#include "src/observe/metrics.h"
#include "src/http/response.h"
#include "src/http/tls.h"

static void acquire_runtime(void *runtime)
{
    runtime_acquire(runtime);
}

static void release_runtime(void *runtime)
{
    runtime_release(runtime);
}

void access_control_policy(const struct runtime *runtime, struct access_policy *out)
{
    *out = (struct access_policy){
        .htpasswd = runtime->htpasswd,
        .token_verifier = runtime->token_verifier,
        .access_rules = runtime->access_rules,
        .client_certificates = runtime->config.tls_client_ca_count > 0,
        .anonymous_pull = runtime->config.anonymous_pull,
        .login_limits = runtime->config.login_limits,
        .generation = runtime->generation,
        .owner = (void *)runtime,
        .acquire = acquire_runtime,
        .release = release_runtime,
    };
}

int access_control_identify(h2o_req_t *req, const struct runtime *runtime,
                            struct login_limiter *limiter, struct access_identity *identity,
                            struct password_check **check_out)
{
    struct access_policy policy;
    access_control_policy(runtime, &policy);
    policy.login_limiter = limiter;
    struct sockaddr_storage peer;
    socklen_t peer_length = req->conn->callbacks->get_peername(req->conn, (void *)&peer);
    struct login_address client;
    login_address_from_sockaddr(peer_length > 0 ? (struct sockaddr *)&peer : NULL, peer_length,
                                &client);
    h2o_iovec_t header = request_header(req, "authorization");
    char certificate_user[sizeof identity->user] = "";
    if (header.base == NULL && policy.client_certificates &&
        !tls_client_identity(req, certificate_user, sizeof certificate_user))
        certificate_user[0] = '\0';
    return access_identify(&policy, header.base, header.len, certificate_user, &client, identity,
                           check_out);
}

void access_control_throttle(h2o_req_t *req, const struct access_identity *identity)
{
    response_add_header_format(req, "retry-after", "Retry-After", "%u",
                               identity->retry_after_seconds > 0 ? identity->retry_after_seconds
                                                                 : 1);
    response_send_error(req, REGISTRY_ERROR_TOO_MANY_REQUESTS, error_message());
}

int access_control_allows(const struct runtime *runtime, const struct access_identity *identity,
                          const char *repository, unsigned actions)
{
    struct access_policy policy;
    access_control_policy(runtime, &policy);
    return access_decision_allows(&policy, identity, repository, actions);
}

int access_control_pull_scope(struct access_pull_scope *scope, struct runtime *runtime,
                              const struct access_identity *identity)
{
    struct access_policy policy;
    access_control_policy(runtime, &policy);
    return access_pull_scope_init(scope, &policy, identity);
}

void access_control_refuse(h2o_req_t *req, const struct runtime *runtime,
                           const struct access_identity *identity, const char *repository,
                           unsigned actions)
{
    char challenge[1024];
    int length = -1;
    if (identity->source == IDENTITY_PASSWORD || identity->source == IDENTITY_CERTIFICATE) {
        metrics_auth_failure(METRICS_AUTH_DENIED);
        response_send_error(req, REGISTRY_ERROR_DENIED, NULL);
        return;
    }
    if (runtime->token_verifier != NULL) {
        unsigned scope = actions & ACCESS_PUSH ? actions | ACCESS_PULL : actions;
        length = token_challenge_format(
            challenge, sizeof challenge, runtime->config.token_realm, runtime->config.token_service,
            repository, scope, identity->source == IDENTITY_TOKEN ? "insufficient_scope" : NULL);
    } else if (runtime->htpasswd != NULL) {
        length = basic_challenge_format(challenge, sizeof challenge,
                                        runtime->config.htpasswd_realm != NULL
                                            ? runtime->config.htpasswd_realm
                                            : CONFIG_DEFAULT_HTPASSWD_REALM);
    }
    if (length > 0)
        response_add_header(req, "www-authenticate", "WWW-Authenticate", challenge, (size_t)length);
    if (identity->source == IDENTITY_ANONYMOUS && request_header(req, "authorization").base == NULL)
        metrics_auth_failure(METRICS_AUTH_MISSING_CREDENTIALS);
    response_send_error(req, REGISTRY_ERROR_UNAUTHORIZED, NULL);
}
