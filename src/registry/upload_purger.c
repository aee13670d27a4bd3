/* src/registry/upload_purger.h */
#include "src/registry/upload_purger.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "layout/error.h"
#include "layout/upload_purge.h"
#include "src/observe/access_log.h"
#include "src/observe/metrics.h"
#include "src/config/runtime.h"

/* How often the thread looks at the settings when purging is disabled. */
#define IDLE_CHECK_SECONDS 60

struct upload_purger {
    const struct tree *tree;
    pthread_t thread;
    pthread_mutex_t mutex;
    pthread_cond_t wake;
    int stopping;
};

static void report(const char *name, const char *upload_id, long long age_seconds, uint64_t bytes,
                   void *context)
{
    (void)context;
    metrics_upload_finished();
    log_message(LOG_LEVEL_INFO, "purged upload %s of %s (%llu bytes, started %lld s ago)",
                upload_id, name, (unsigned long long)bytes, age_seconds);
}

static void purge_once(struct upload_purger *purger, uint64_t age_seconds)
{
    struct upload_purge_result result;
    struct timespec started;
    clock_gettime(CLOCK_MONOTONIC, &started);
    int status = upload_purge(purger->tree, (long long)age_seconds, (long long)time(NULL), 0,
                              report, NULL, &result);
    struct timespec ended;
    clock_gettime(CLOCK_MONOTONIC, &ended);
    double seconds =
        (double)(ended.tv_sec - started.tv_sec) + (double)(ended.tv_nsec - started.tv_nsec) / 1e9;
    if (status < 0)
        log_message(LOG_LEVEL_ERROR, "upload purge failed: %s", error_message());
    else
        log_message(LOG_LEVEL_INFO,
                    "upload purge: %lu uploads examined, %lu removed (%llu bytes), %lu failures, "
                    "%.3f s",
                    result.examined, result.removed, (unsigned long long)result.bytes,
                    result.failures, seconds);
}

static void *purger_main(void *argument)
{
    struct upload_purger *purger = argument;
    pthread_mutex_lock(&purger->mutex);
    while (!purger->stopping) {
        struct runtime *runtime = runtime_current();
        int enabled = runtime != NULL && runtime->config.upload_purging_enabled;
        uint64_t interval = runtime != NULL ? runtime->config.upload_purging_interval_seconds : 0;
        runtime_release(runtime);
        if (interval == 0 || !enabled)
            interval = IDLE_CHECK_SECONDS;
        struct timespec deadline;
        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_sec += (time_t)interval;
        int timed_out = 0;
        while (!purger->stopping && !timed_out)
            timed_out =
                pthread_cond_timedwait(&purger->wake, &purger->mutex, &deadline) == ETIMEDOUT;
        if (purger->stopping)
            break;
        /* Look again: a reload may have changed the settings meanwhile. */
        runtime = runtime_current();
        enabled = runtime != NULL && runtime->config.upload_purging_enabled;
        uint64_t age = runtime != NULL ? runtime->config.upload_purging_age_seconds : 0;
        runtime_release(runtime);
        if (!enabled)
            continue;
        pthread_mutex_unlock(&purger->mutex);
        purge_once(purger, age);
        pthread_mutex_lock(&purger->mutex);
    }
    pthread_mutex_unlock(&purger->mutex);
    return NULL;
}

int upload_purger_start(const struct tree *tree, struct upload_purger **purger_out)
{
    struct upload_purger *purger = calloc(1, sizeof *purger);
    if (purger == NULL)
        return error_set(-ENOMEM, "out of memory");
    purger->tree = tree;
    pthread_mutex_init(&purger->mutex, NULL);
    pthread_cond_init(&purger->wake, NULL);
    int result = pthread_create(&purger->thread, NULL, purger_main, purger);
    if (result != 0) {
        pthread_mutex_destroy(&purger->mutex);
        pthread_cond_destroy(&purger->wake);
        free(purger);
        return error_set(-result, "cannot start the upload purger: %s", strerror(result));
    }
    *purger_out = purger;
    return 0;
}

void upload_purger_stop(struct upload_purger *purger)
{
    if (purger == NULL)
        return;
    pthread_mutex_lock(&purger->mutex);
    purger->stopping = 1;
    pthread_cond_signal(&purger->wake);
    pthread_mutex_unlock(&purger->mutex);
    pthread_join(purger->thread, NULL);
    pthread_mutex_destroy(&purger->mutex);
    pthread_cond_destroy(&purger->wake);
    free(purger);
}
