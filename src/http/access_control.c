/* src/http/access_control.h */
#include "src/http/access_control.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "layout/error.h"
#include "src/auth/access_rules.h"
#include "src/auth/htpasswd.h"
#include "src/observe/metrics.h"
#include "src/http/response.h"
#include "src/http/tls.h"

int access_control_enabled(const struct runtime *runtime)
{
    return runtime->htpasswd != NULL || runtime->token_verifier != NULL ||
           runtime->config.tls_client_ca_count > 0;
}

static int starts_with_scheme(h2o_iovec_t header, const char *scheme)
{
    size_t length = strlen(scheme);
    return header.len > length && strncasecmp(header.base, scheme, length) == 0 &&
           header.base[length] == ' ';
}

/* bcrypt is slow by design (milliseconds to a tenth of a second), and
 * clients send Basic credentials with every request: a successful check is
 * remembered per event-loop thread for a minute, as an HMAC of user and
 * password under a random per-process key (never the password), tied to the
 * snapshot generation so that a reload of the htpasswd file forgets it. */
#define LOGIN_CACHE_SLOTS 64
#define LOGIN_CACHE_SECONDS 60

struct login_cache_entry {
    unsigned long generation;
    time_t expires;
    char user[HTPASSWD_USER_MAX + 1];
    unsigned char mac[32];
};

static _Thread_local struct login_cache_entry login_cache[LOGIN_CACHE_SLOTS];
static unsigned char login_cache_key[32];
static pthread_once_t login_cache_key_once = PTHREAD_ONCE_INIT;

static void login_cache_key_init(void)
{
    if (RAND_bytes(login_cache_key, sizeof login_cache_key) != 1)
        memset(login_cache_key, 0, sizeof login_cache_key); /* then the cache is never used */
}

static int login_mac(const char *user, const char *password, unsigned char mac[32])
{
    pthread_once(&login_cache_key_once, login_cache_key_init);
    unsigned char zero[32] = {0};
    if (CRYPTO_memcmp(login_cache_key, zero, sizeof zero) == 0)
        return -1;
    unsigned int length = 32;
    size_t user_length = strlen(user), password_length = strlen(password);
    unsigned char message[HTPASSWD_USER_MAX + 1 + HTPASSWD_PASSWORD_MAX + 1];
    if (user_length > HTPASSWD_USER_MAX || password_length > HTPASSWD_PASSWORD_MAX)
        return -1;
    memcpy(message, user, user_length);
    message[user_length] = '\0';
    memcpy(message + user_length + 1, password, password_length);
    unsigned char *result = HMAC(EVP_sha256(), login_cache_key, sizeof login_cache_key, message,
                                 user_length + 1 + password_length, mac, &length);
    OPENSSL_cleanse(message, sizeof message);
    return result != NULL && length == 32 ? 0 : -1;
}

static struct login_cache_entry *login_slot(const char *user)
{
    unsigned hash = 5381;
    for (const char *c = user; *c != '\0'; c++)
        hash = hash * 33 + (unsigned char)*c;
    return &login_cache[hash % LOGIN_CACHE_SLOTS];
}

static int login_cached(const struct runtime *runtime, const char *user,
                        const unsigned char mac[32])
{
    const struct login_cache_entry *entry = login_slot(user);
    return entry->generation == runtime->generation && entry->expires > time(NULL) &&
           strcmp(entry->user, user) == 0 && CRYPTO_memcmp(entry->mac, mac, 32) == 0;
}

static void login_remember(const struct runtime *runtime, const char *user,
                           const unsigned char mac[32])
{
    struct login_cache_entry *entry = login_slot(user);
    entry->generation = runtime->generation;
    entry->expires = time(NULL) + LOGIN_CACHE_SECONDS;
    snprintf(entry->user, sizeof entry->user, "%s", user);
    memcpy(entry->mac, mac, 32);
}

struct password_check {
    const struct runtime *runtime; /* held by the request while the check runs */
    char user[HTPASSWD_USER_MAX + 1];
    char password[HTPASSWD_PASSWORD_MAX + 1];
    unsigned char mac[32];
    int has_mac;
    int result;
};

static void check_free(struct password_check *check)
{
    OPENSSL_cleanse(check, sizeof *check);
    free(check);
}

static int refuse_password(struct access_identity *identity)
{
    metrics_auth_failure(METRICS_AUTH_BAD_PASSWORD);
    error_set(-EACCES, "login refused for user \"%s\"", identity->user);
    identity->user[0] = '\0';
    return -EACCES;
}

static int identify_password(const struct runtime *runtime, h2o_iovec_t header,
                             struct access_identity *identity, struct password_check **check_out)
{
    struct password_check *check = calloc(1, sizeof *check);
    if (check == NULL)
        return error_set(-EACCES, "out of memory");
    if (basic_credentials_parse(header.base, header.len, identity->user, sizeof identity->user,
                                check->password, sizeof check->password) < 0) {
        check_free(check);
        metrics_auth_failure(METRICS_AUTH_MALFORMED);
        identity->user[0] = '\0';
        return -EACCES;
    }
    snprintf(check->user, sizeof check->user, "%s", identity->user);
    check->runtime = runtime;
    check->has_mac = login_mac(check->user, check->password, check->mac) == 0;
    if (check->has_mac && login_cached(runtime, check->user, check->mac)) {
        check_free(check);
        identity->source = IDENTITY_PASSWORD;
        return 0;
    }
    if (check_out == NULL) { /* no worker to hand it to: check here */
        access_control_check_password(check);
        return access_control_password_checked(runtime, identity, check);
    }
    *check_out = check;
    return 1;
}

void access_control_check_password(struct password_check *check)
{
    check->result = htpasswd_check(check->runtime->htpasswd, check->user, check->password);
    OPENSSL_cleanse(check->password, sizeof check->password);
}

int access_control_password_checked(const struct runtime *runtime, struct access_identity *identity,
                                    struct password_check *check)
{
    int result = check->result;
    if (result == 0 && check->has_mac)
        login_remember(runtime, check->user, check->mac);
    check_free(check);
    if (result < 0)
        return refuse_password(identity);
    identity->source = IDENTITY_PASSWORD;
    return 0;
}

void access_control_password_abandon(struct password_check *check)
{
    check_free(check);
}

static int identify_token(const struct runtime *runtime, h2o_iovec_t header,
                          struct access_identity *identity)
{
    const char *token = header.base + 7; /* "Bearer " */
    size_t length = header.len - 7;
    while (length > 0 && *token == ' ') {
        token++;
        length--;
    }
    if (token_verify(runtime->token_verifier, token, length, time(NULL), &identity->grant) < 0) {
        metrics_auth_failure(strstr(error_message(), "invalid token: expired") != NULL
                                 ? METRICS_AUTH_TOKEN_EXPIRED
                                 : METRICS_AUTH_TOKEN_INVALID);
        return -EACCES;
    }
    identity->source = IDENTITY_TOKEN;
    if (identity->grant.subject != NULL)
        snprintf(identity->user, sizeof identity->user, "%s", identity->grant.subject);
    return 0;
}

int access_control_identify(h2o_req_t *req, const struct runtime *runtime,
                            struct access_identity *identity, struct password_check **check_out)
{
    memset(identity, 0, sizeof *identity);
    identity->source = IDENTITY_ANONYMOUS;
    if (!access_control_enabled(runtime))
        return 0;
    h2o_iovec_t header = request_header(req, "authorization");
    if (header.base != NULL) {
        if (runtime->htpasswd != NULL && starts_with_scheme(header, "Basic"))
            return identify_password(runtime, header, identity, check_out);
        if (runtime->token_verifier != NULL && starts_with_scheme(header, "Bearer"))
            return identify_token(runtime, header, identity);
        metrics_auth_failure(METRICS_AUTH_MALFORMED);
        return error_set(-EACCES, "unsupported Authorization scheme");
    }
    if (runtime->config.tls_client_ca_count > 0 &&
        tls_client_identity(req, identity->user, sizeof identity->user))
        identity->source = IDENTITY_CERTIFICATE;
    return 0;
}

int access_control_allows(const struct runtime *runtime, const struct access_identity *identity,
                          const char *repository, unsigned actions)
{
    if (!access_control_enabled(runtime))
        return 1;
    if (identity->source == IDENTITY_TOKEN)
        return actions == 0 || token_grant_allows(&identity->grant, repository, actions);
    if (identity->source == IDENTITY_ANONYMOUS) {
        if (runtime->config.anonymous_pull && (actions == ACCESS_PULL || actions == 0))
            return 1;
        return actions != 0 && runtime->access_rules != NULL &&
               access_rules_allows(runtime->access_rules, NULL, repository, actions);
    }
    if (actions == 0 || runtime->access_rules == NULL)
        return 1;
    return access_rules_allows(runtime->access_rules, identity->user, repository, actions);
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

void access_identity_release(struct access_identity *identity)
{
    if (identity->source == IDENTITY_TOKEN)
        token_grant_release(&identity->grant);
    memset(identity, 0, sizeof *identity);
}

int access_pull_scope_init(struct access_pull_scope *scope, struct runtime *runtime,
                           const struct access_identity *identity)
{
    memset(scope, 0, sizeof *scope);
    runtime_acquire(runtime);
    scope->runtime = runtime;
    scope->identity.source = identity->source;
    memcpy(scope->identity.user, identity->user, sizeof scope->identity.user);
    if (!access_control_enabled(runtime)) {
        scope->everything = 1;
        return 0;
    }
    switch (identity->source) {
    case IDENTITY_ANONYMOUS:
        scope->everything = runtime->config.anonymous_pull;
        return 0;
    case IDENTITY_PASSWORD:
    case IDENTITY_CERTIFICATE:
        scope->everything = runtime->access_rules == NULL;
        return 0;
    case IDENTITY_TOKEN:
        break;
    }
    /* A token names its repositories exactly: the list is all it allows. */
    scope->listed = 1;
    const struct token_grant *grant = &identity->grant;
    for (size_t i = 0; i < grant->access_count; i++) {
        const char *name = grant->access[i].name;
        if (strcmp(grant->access[i].type, "repository") != 0 ||
            !token_grant_allows(grant, name, ACCESS_PULL))
            continue;
        int listed = 0;
        for (size_t j = 0; j < scope->repositories.count && !listed; j++)
            listed = strcmp(scope->repositories.items[j], name) == 0;
        int result = listed ? 0 : string_list_append(&scope->repositories, name);
        if (result < 0) {
            access_pull_scope_release(scope);
            return result;
        }
    }
    string_list_sort(&scope->repositories);
    return 0;
}

static int compare_names(const void *key, const void *item)
{
    return strcmp(key, *(char *const *)item);
}

int access_pull_scope_allows(const struct access_pull_scope *scope, const char *repository)
{
    if (scope->everything)
        return 1;
    if (scope->listed)
        return scope->repositories.count > 0 &&
               bsearch(repository, scope->repositories.items, scope->repositories.count,
                       sizeof *scope->repositories.items, compare_names) != NULL;
    return access_control_allows(scope->runtime, &scope->identity, repository, ACCESS_PULL);
}

void access_pull_scope_release(struct access_pull_scope *scope)
{
    if (scope->runtime != NULL)
        runtime_release(scope->runtime);
    string_list_clear(&scope->repositories);
    memset(scope, 0, sizeof *scope);
}
