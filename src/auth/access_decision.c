/* src/auth/access_decision.h */
#include "src/auth/access_decision.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "layout/error.h"
#include "src/auth/htpasswd.h"
#include "src/observe/metrics.h"

int access_policy_enabled(const struct access_policy *policy)
{
    return policy->htpasswd != NULL || policy->token_verifier != NULL ||
           policy->client_certificates;
}

static int starts_with_scheme(const char *header, size_t header_length, const char *scheme)
{
    size_t length = strlen(scheme);
    return header_length > length && strncasecmp(header, scheme, length) == 0 &&
           header[length] == ' ';
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

static int login_cached(const struct access_policy *policy, const char *user,
                        const unsigned char mac[32])
{
    const struct login_cache_entry *entry = login_slot(user);
    return entry->generation == policy->generation && entry->expires > time(NULL) &&
           strcmp(entry->user, user) == 0 && CRYPTO_memcmp(entry->mac, mac, 32) == 0;
}

static void login_remember(const struct access_policy *policy, const char *user,
                           const unsigned char mac[32])
{
    struct login_cache_entry *entry = login_slot(user);
    entry->generation = policy->generation;
    entry->expires = time(NULL) + LOGIN_CACHE_SECONDS;
    snprintf(entry->user, sizeof entry->user, "%s", user);
    memcpy(entry->mac, mac, 32);
}

struct password_check {
    const struct htpasswd *htpasswd; /* kept alive by the caller while the check runs */
    struct login_limiter *limiter;   /* NULL: no limits */
    struct login_limit_settings limits;
    struct login_attempt attempt; /* what the limiter admitted */
    int ran;                      /* access_password_check() ran */
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

static void finish_attempt(struct password_check *check, enum login_outcome outcome)
{
    login_limiter_finish(check->limiter, &check->limits, &check->attempt, outcome);
}

static int identify_password(const struct access_policy *policy, const char *header, size_t length,
                             const struct login_address *client, struct access_identity *identity,
                             struct password_check **check_out)
{
    struct password_check *check = calloc(1, sizeof *check);
    if (check == NULL)
        return error_set(-EACCES, "out of memory");
    if (basic_credentials_parse(header, length, identity->user, sizeof identity->user,
                                check->password, sizeof check->password) < 0) {
        check_free(check);
        metrics_auth_failure(METRICS_AUTH_MALFORMED);
        identity->user[0] = '\0';
        return -EACCES;
    }
    snprintf(check->user, sizeof check->user, "%s", identity->user);
    check->htpasswd = policy->htpasswd;
    /* Before the login cache too: a locked address must not learn that a
     * guess is right from a cached success. */
    static const struct login_address unknown_client;
    check->limiter = policy->login_limiter;
    check->limits = policy->login_limits;
    enum login_verdict verdict = login_limiter_admit(
        check->limiter, &check->limits, client != NULL ? client : &unknown_client, check->user,
        check->password, &check->attempt, &identity->retry_after_seconds);
    if (verdict != LOGIN_ADMITTED) {
        check_free(check);
        identity->user[0] = '\0';
        return error_set(-EAGAIN, "too many failed logins %s; try again in %us",
                         verdict == LOGIN_THROTTLED_ADDRESS ? "from this address"
                                                            : "for this user from this address",
                         identity->retry_after_seconds);
    }
    check->has_mac = login_mac(check->user, check->password, check->mac) == 0;
    if (check->has_mac && login_cached(policy, check->user, check->mac)) {
        finish_attempt(check, LOGIN_SUCCEEDED);
        check_free(check);
        identity->source = IDENTITY_PASSWORD;
        return 0;
    }
    if (check_out == NULL) { /* no worker to hand it to: check here */
        access_password_check(check);
        return access_password_checked(policy, identity, check);
    }
    *check_out = check;
    return 1;
}

void access_password_check(struct password_check *check)
{
    check->result = htpasswd_check(check->htpasswd, check->user, check->password);
    check->ran = 1;
    OPENSSL_cleanse(check->password, sizeof check->password);
}

int access_password_checked(const struct access_policy *policy, struct access_identity *identity,
                            struct password_check *check)
{
    int result = check->result;
    if (result == 0 && check->has_mac)
        login_remember(policy, check->user, check->mac);
    finish_attempt(check, result == 0 ? LOGIN_SUCCEEDED : LOGIN_FAILED);
    check_free(check);
    if (result < 0)
        return refuse_password(identity);
    identity->source = IDENTITY_PASSWORD;
    return 0;
}

void access_password_abandon(struct password_check *check)
{
    /* A guess whose client went away still counts once it was checked. */
    finish_attempt(check, !check->ran          ? LOGIN_NOT_CHECKED
                          : check->result == 0 ? LOGIN_SUCCEEDED
                                               : LOGIN_FAILED);
    check_free(check);
}

static int identify_token(const struct access_policy *policy, const char *header, size_t length,
                          struct access_identity *identity)
{
    const char *token = header + 7; /* "Bearer " */
    length -= 7;
    while (length > 0 && *token == ' ') {
        token++;
        length--;
    }
    if (token_verify(policy->token_verifier, token, length, time(NULL), &identity->grant) < 0) {
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

int access_identify(const struct access_policy *policy, const char *authorization,
                    size_t authorization_length, const char *certificate_user,
                    const struct login_address *client, struct access_identity *identity,
                    struct password_check **check_out)
{
    memset(identity, 0, sizeof *identity);
    identity->source = IDENTITY_ANONYMOUS;
    if (!access_policy_enabled(policy))
        return 0;
    if (authorization != NULL) {
        if (policy->htpasswd != NULL &&
            starts_with_scheme(authorization, authorization_length, "Basic"))
            return identify_password(policy, authorization, authorization_length, client, identity,
                                     check_out);
        if (policy->token_verifier != NULL &&
            starts_with_scheme(authorization, authorization_length, "Bearer"))
            return identify_token(policy, authorization, authorization_length, identity);
        metrics_auth_failure(METRICS_AUTH_MALFORMED);
        return error_set(-EACCES, "unsupported Authorization scheme");
    }
    if (policy->client_certificates && certificate_user != NULL && certificate_user[0] != '\0') {
        snprintf(identity->user, sizeof identity->user, "%s", certificate_user);
        identity->source = IDENTITY_CERTIFICATE;
    }
    return 0;
}

int access_decision_allows(const struct access_policy *policy,
                           const struct access_identity *identity, const char *repository,
                           unsigned actions)
{
    if (!access_policy_enabled(policy))
        return 1;
    if (identity->source == IDENTITY_TOKEN)
        return actions == 0 || token_grant_allows(&identity->grant, repository, actions);
    if (identity->source == IDENTITY_ANONYMOUS) {
        if (policy->anonymous_pull && (actions == ACCESS_PULL || actions == 0))
            return 1;
        return actions != 0 && policy->access_rules != NULL &&
               access_rules_allows(policy->access_rules, NULL, repository, actions);
    }
    if (actions == 0 || policy->access_rules == NULL)
        return 1;
    return access_rules_allows(policy->access_rules, identity->user, repository, actions);
}

void access_identity_release(struct access_identity *identity)
{
    if (identity->source == IDENTITY_TOKEN)
        token_grant_release(&identity->grant);
    memset(identity, 0, sizeof *identity);
}

int access_pull_scope_init(struct access_pull_scope *scope, const struct access_policy *policy,
                           const struct access_identity *identity)
{
    memset(scope, 0, sizeof *scope);
    scope->policy = *policy;
    if (policy->acquire != NULL)
        policy->acquire(policy->owner);
    scope->holds_policy = 1;
    scope->identity.source = identity->source;
    memcpy(scope->identity.user, identity->user, sizeof scope->identity.user);
    if (!access_policy_enabled(policy)) {
        scope->everything = 1;
        return 0;
    }
    switch (identity->source) {
    case IDENTITY_ANONYMOUS:
        scope->everything = policy->anonymous_pull;
        return 0;
    case IDENTITY_PASSWORD:
    case IDENTITY_CERTIFICATE:
        scope->everything = policy->access_rules == NULL;
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
    return access_decision_allows(&scope->policy, &scope->identity, repository, ACCESS_PULL);
}

void access_pull_scope_release(struct access_pull_scope *scope)
{
    if (scope->holds_policy && scope->policy.release != NULL)
        scope->policy.release(scope->policy.owner);
    string_list_clear(&scope->repositories);
    memset(scope, 0, sizeof *scope);
}
