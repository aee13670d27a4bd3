/* src/config/runtime.h */
#include "src/config/runtime.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/s3_config.h"
#include "drivers/upstream.h"
#include "layout/error.h"
#include "src/auth/access_rules.h"
#include "src/auth/htpasswd.h"
#include "src/config/tls_context.h"
#include "src/auth/token.h"
#include "src/observe/metrics.h"

static pthread_mutex_t current_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct runtime *current;
static atomic_ulong current_generation;
static void (*publish_hook)(const struct runtime *runtime, void *context);
static void *publish_hook_context;

/* Everything the configuration names, loaded into `runtime`'s objects as
 * the server uses them: the one place that decides what a configuration must
 * be able to load (runtime_build and runtime_check). */
/* Every answer of a mirror's upstream, in its metrics (the settings, which
 * name the mirror by its prefix, live as long as the snapshot). */
static void count_upstream_answer(void *context, int status, int64_t ratelimit_remaining)
{
    const struct upstream_settings *settings = context;
    metrics_mirror_upstream_response(settings->prefix, status);
    if (ratelimit_remaining >= 0)
        metrics_mirror_ratelimit_remaining(settings->prefix, ratelimit_remaining);
}

static int load_named(const struct config *config, struct runtime *runtime)
{
    int result = 0;
    if (config->s3_enabled)
        result = s3_settings_check(&config->s3);
    if (result == 0 && config->tls_certificate != NULL)
        result = tls_context_create(config, &runtime->tls_context);
    if (result == 0 && config->htpasswd_path != NULL)
        result = htpasswd_load(config->htpasswd_path, &runtime->htpasswd);
    if (result == 0 && config->token_realm != NULL)
        result = token_verifier_create(
            &(struct token_settings){config->token_issuer, config->token_service,
                                     config->token_root_certificate_bundle, config->token_jwks},
            &runtime->token_verifier);
    if (result == 0 && config->access_rule_count > 0)
        result = access_rules_create(config->access_rules, config->access_rule_count,
                                     config->groups, config->group_count, &runtime->access_rules);
    if (result == 0 && config->mirror_count > 0) {
        runtime->upstreams = calloc(config->mirror_count, sizeof *runtime->upstreams);
        if (runtime->upstreams == NULL)
            result = error_set(-ENOMEM, "out of memory");
        for (size_t i = 0; i < config->mirror_count && result == 0; i++) {
            result = upstream_create(&config->mirrors[i], &runtime->upstreams[i]);
            if (result == 0) {
                upstream_set_observer(runtime->upstreams[i], count_upstream_answer,
                                      &config->mirrors[i]);
                runtime->upstream_count++;
            }
        }
    }
    return result;
}

static void release_loaded(struct runtime *runtime)
{
    if (runtime->tls_context != NULL)
        SSL_CTX_free(runtime->tls_context);
    htpasswd_free(runtime->htpasswd);
    token_verifier_free(runtime->token_verifier);
    access_rules_free(runtime->access_rules);
    for (size_t i = 0; i < runtime->upstream_count; i++)
        upstream_destroy(runtime->upstreams[i]);
    free(runtime->upstreams);
}

int runtime_check(const struct config *config)
{
    struct runtime scratch = {0};
    int result = load_named(config, &scratch);
    release_loaded(&scratch);
    return result;
}

int runtime_check_file(const char *path, struct config *config)
{
    struct config loaded;
    int result = config_load(path, &loaded);
    if (result < 0)
        return result;
    if ((result = runtime_check(&loaded)) < 0) {
        config_release(&loaded);
        return result;
    }
    *config = loaded;
    return 0;
}

void runtime_acquire(struct runtime *runtime)
{
    atomic_fetch_add_explicit(&runtime->references, 1, memory_order_relaxed);
}

void runtime_release(struct runtime *runtime)
{
    if (runtime == NULL)
        return;
    if (atomic_fetch_sub_explicit(&runtime->references, 1, memory_order_acq_rel) != 1)
        return;
    release_loaded(runtime);
    config_release(&runtime->config);
    free(runtime);
}

static int text_differs(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a != b;
    return strcmp(a, b) != 0;
}

static void note(char *changes, size_t size, int *first, const char *key)
{
    size_t used = strlen(changes);
    if (used + 1 >= size)
        return;
    snprintf(changes + used, size - used, "%s%s", *first ? "" : ", ", key);
    *first = 0;
}

/* Restart-only settings: keep the running values, and say so. */
static void keep_restart_settings(struct config *config, const struct config *previous,
                                  char *changes, size_t size, int *first)
{
    if (strcmp(config->root_directory, previous->root_directory) != 0) {
        note(changes, size, first, "storage.filesystem.rootdirectory (needs restart, kept)");
        strcpy(config->root_directory, previous->root_directory);
    }
    if (config->s3_enabled != previous->s3_enabled ||
        (config->s3_enabled && s3_settings_differ_in_place(&config->s3, &previous->s3))) {
        note(changes, size, first,
             "storage.s3 driver, bucket, endpoint, region, rootdirectory or addressing "
             "(needs restart, kept)");
        /* Turning S3 on or off keeps all of it; a move keeps only where the
         * bucket is: what may change while running still does. */
        if (config->s3_enabled != previous->s3_enabled) {
            config->s3_enabled = previous->s3_enabled;
            config->s3 = previous->s3;
        } else
            s3_settings_keep_place(&config->s3, &previous->s3);
    }
    if (strcmp(config->listen_address, previous->listen_address) != 0) {
        note(changes, size, first, "http.addr (needs restart, kept)");
        strcpy(config->listen_address, previous->listen_address);
    }
    if (strcmp(config->debug_address, previous->debug_address) != 0) {
        note(changes, size, first, "http.debug.addr (needs restart, kept)");
        strcpy(config->debug_address, previous->debug_address);
    }
    if (config->threads != previous->threads) {
        note(changes, size, first, "cairn.threads (needs restart, kept)");
        config->threads = previous->threads;
    }
    if (config->workers != previous->workers) {
        note(changes, size, first, "cairn.workers (needs restart, kept)");
        config->workers = previous->workers;
    }
    if (config->login_workers != previous->login_workers) {
        note(changes, size, first, "cairn.login_workers (needs restart, kept)");
        config->login_workers = previous->login_workers;
    }
    if (config->login_queue != previous->login_queue) {
        note(changes, size, first, "cairn.login_queue (needs restart, kept)");
        config->login_queue = previous->login_queue;
    }
    if (config->max_body_size != previous->max_body_size) {
        note(changes, size, first, "cairn.max_body_size (needs restart, kept)");
        config->max_body_size = previous->max_body_size;
    }
    if (config->request_timeout_seconds != previous->request_timeout_seconds) {
        note(changes, size, first, "cairn.request_timeout (needs restart, kept)");
        config->request_timeout_seconds = previous->request_timeout_seconds;
    }
    if (config->idle_timeout_seconds != previous->idle_timeout_seconds) {
        note(changes, size, first, "http.idle_timeout (needs restart, kept)");
        config->idle_timeout_seconds = previous->idle_timeout_seconds;
    }
    if (config->header_timeout_seconds != previous->header_timeout_seconds) {
        note(changes, size, first, "http.header_timeout (needs restart, kept)");
        config->header_timeout_seconds = previous->header_timeout_seconds;
    }
    if (config->http2_reset_block_seconds != previous->http2_reset_block_seconds) {
        note(changes, size, first, "http.http2_reset_block (needs restart, kept)");
        config->http2_reset_block_seconds = previous->http2_reset_block_seconds;
    }
    if (config->max_connections != previous->max_connections) {
        note(changes, size, first, "http.max_connections (needs restart, kept)");
        config->max_connections = previous->max_connections;
    }
    if (text_differs(config->body_temporary_directory, previous->body_temporary_directory)) {
        note(changes, size, first, "cairn.body_temporary_directory (needs restart, kept)");
        free(config->body_temporary_directory);
        config->body_temporary_directory = previous->body_temporary_directory != NULL
                                               ? strdup(previous->body_temporary_directory)
                                               : NULL;
    }
}

static int mirrors_differ(const struct config *config, const struct config *previous)
{
    if (config->mirror_count != previous->mirror_count)
        return 1;
    for (size_t i = 0; i < config->mirror_count; i++) {
        const struct upstream_settings *a = &config->mirrors[i], *b = &previous->mirrors[i];
        if (text_differs(a->prefix, b->prefix) || text_differs(a->url, b->url) ||
            text_differs(a->username, b->username) || text_differs(a->password, b->password) ||
            text_differs(a->credentials_file, b->credentials_file) ||
            text_differs(a->ca_bundle, b->ca_bundle) || a->ttl_seconds != b->ttl_seconds ||
            a->host_count != b->host_count)
            return 1;
        for (size_t j = 0; j < a->host_count; j++)
            if (strcmp(a->hosts[j], b->hosts[j]) != 0)
                return 1;
    }
    return 0;
}

static void list_live_changes(const struct config *config, const struct config *previous,
                              char *changes, size_t size, int *first)
{
    if (config->log_level != previous->log_level)
        note(changes, size, first, "log.level");
    if (config->log_format != previous->log_format)
        note(changes, size, first, "log.formatter");
    if (config->access_log != previous->access_log)
        note(changes, size, first, "log.accesslog");
    if (config->delete_enabled != previous->delete_enabled)
        note(changes, size, first, "storage.delete.enabled");
    if (config->read_only != previous->read_only)
        note(changes, size, first, "storage.maintenance.readonly.enabled");
    if (config->upload_purging_enabled != previous->upload_purging_enabled ||
        config->upload_purging_age_seconds != previous->upload_purging_age_seconds ||
        config->upload_purging_interval_seconds != previous->upload_purging_interval_seconds)
        note(changes, size, first, "storage.maintenance.uploadpurging");
    if (text_differs(config->tls_certificate, previous->tls_certificate) ||
        text_differs(config->tls_key, previous->tls_key) ||
        config->tls_client_ca_count != previous->tls_client_ca_count ||
        config->tls_minimum_version != previous->tls_minimum_version ||
        text_differs(config->tls_cipher_list, previous->tls_cipher_list))
        note(changes, size, first, "http.tls");
    if (text_differs(config->htpasswd_path, previous->htpasswd_path) ||
        text_differs(config->htpasswd_realm, previous->htpasswd_realm))
        note(changes, size, first, "auth.htpasswd");
    if (text_differs(config->token_realm, previous->token_realm) ||
        text_differs(config->token_service, previous->token_service) ||
        text_differs(config->token_issuer, previous->token_issuer) ||
        text_differs(config->token_root_certificate_bundle,
                     previous->token_root_certificate_bundle) ||
        text_differs(config->token_jwks, previous->token_jwks))
        note(changes, size, first, "auth.token");
    if (config->anonymous_pull != previous->anonymous_pull)
        note(changes, size, first, "cairn.anonymous_pull");
    if (config->automatic_mount != previous->automatic_mount)
        note(changes, size, first, "cairn.automatic_mount");
    if (config->access_rule_count != previous->access_rule_count ||
        config->group_count != previous->group_count)
        note(changes, size, first, "cairn.access");
    const struct login_limit_settings *limits = &config->login_limits,
                                      *before = &previous->login_limits;
    if (limits->enabled != before->enabled ||
        limits->address_failures != before->address_failures ||
        limits->user_failures != before->user_failures ||
        limits->window_seconds != before->window_seconds)
        note(changes, size, first, "cairn.login_limits");
    if (config->shutdown_grace_seconds != previous->shutdown_grace_seconds)
        note(changes, size, first, "cairn.shutdown_grace");
    if (mirrors_differ(config, previous))
        note(changes, size, first, "cairn.mirrors/proxy");
    if (config->redirect_disabled != previous->redirect_disabled)
        note(changes, size, first, "storage.redirect.disable");
    if (config->s3_enabled && (strcmp(config->s3.access_key, previous->s3.access_key) != 0 ||
                               strcmp(config->s3.secret_key, previous->s3.secret_key) != 0))
        note(changes, size, first, "storage.s3 credentials");
    if (config->s3_enabled &&
        (config->s3.connect_timeout_ms != previous->s3.connect_timeout_ms ||
         config->s3.request_timeout_ms != previous->s3.request_timeout_ms ||
         config->s3.attempts != previous->s3.attempts ||
         config->s3.part_size != previous->s3.part_size ||
         config->s3.upload_concurrency != previous->s3.upload_concurrency ||
         config->s3.presign_expiry_seconds != previous->s3.presign_expiry_seconds ||
         config->s3.skip_verify != previous->s3.skip_verify))
        note(changes, size, first, "storage.s3 timeouts, attempts, parts or presignexpiry");
}

int runtime_build(struct config *config, const struct runtime *previous, struct runtime **out,
                  char *changes, size_t changes_size)
{
    struct runtime *runtime = calloc(1, sizeof *runtime);
    if (runtime == NULL) {
        config_release(config);
        return error_set(-ENOMEM, "out of memory");
    }
    runtime->config = *config;
    memset(config, 0, sizeof *config); /* taken over */
    atomic_init(&runtime->references, 1);
    if (changes_size > 0)
        changes[0] = '\0';
    if (previous != NULL) {
        int first = 1;
        keep_restart_settings(&runtime->config, &previous->config, changes, changes_size, &first);
        list_live_changes(&runtime->config, &previous->config, changes, changes_size, &first);
    }
    int result = load_named(&runtime->config, runtime);
    if (result < 0) {
        runtime_release(runtime);
        return result;
    }
    *out = runtime;
    return 0;
}

void runtime_publish(struct runtime *runtime)
{
    pthread_mutex_lock(&current_mutex);
    struct runtime *old = current;
    if (publish_hook != NULL)
        publish_hook(runtime, publish_hook_context);
    runtime->generation = atomic_load(&current_generation) + 1;
    current = runtime;
    atomic_store(&current_generation, runtime->generation);
    pthread_mutex_unlock(&current_mutex);
    runtime_release(old);
}

void runtime_set_publish_hook(void (*hook)(const struct runtime *runtime, void *context),
                              void *context)
{
    pthread_mutex_lock(&current_mutex);
    publish_hook = hook;
    publish_hook_context = context;
    pthread_mutex_unlock(&current_mutex);
}

struct runtime *runtime_current(void)
{
    pthread_mutex_lock(&current_mutex);
    struct runtime *runtime = current;
    if (runtime != NULL)
        runtime_acquire(runtime);
    pthread_mutex_unlock(&current_mutex);
    return runtime;
}

unsigned long runtime_current_generation(void)
{
    return atomic_load(&current_generation);
}
