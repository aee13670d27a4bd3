/* src/config/reload.h */
#include "src/config/reload.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "layout/error.h"
#include "src/config/config.h"
#include "src/config/options.h"
#include "src/observe/access_log.h"
#include "src/observe/metrics.h"
#include "src/config/runtime.h"
#include "src/observe/systemd_notify.h"

#define WATCHES_MAX 16
#define DEBOUNCE_MILLISECONDS 200

struct watch {
    int descriptor;
    char directory[PATH_MAX];
    char names[WATCHES_MAX][NAME_MAX + 1]; /* file names of interest in it */
    size_t name_count;
};

struct reloader {
    const struct options *options;
    const char *config_path;
    pthread_mutex_t mutex; /* one reload at a time */
    pthread_t thread;
    int inotify;
    int stop_pipe[2];
    struct watch watches[WATCHES_MAX];
    size_t watch_count;
    char watched_files[8192]; /* list_files() when the watches were set */
    int started;
};

static void log_line(enum log_level level, const char *message)
{
    log_message(level, "%s", message);
}

/* Splits a path into its directory and file name. */
static int split(const char *path, char directory[PATH_MAX], char name[NAME_MAX + 1])
{
    const char *slash = strrchr(path, '/');
    const char *base = slash != NULL ? slash + 1 : path;
    if (strlen(base) > NAME_MAX || base[0] == '\0')
        return -EINVAL;
    strcpy(name, base);
    if (slash == NULL)
        strcpy(directory, ".");
    else if (slash == path)
        strcpy(directory, "/");
    else if ((size_t)(slash - path) >= PATH_MAX)
        return -ENAMETOOLONG;
    else {
        memcpy(directory, path, (size_t)(slash - path));
        directory[slash - path] = '\0';
    }
    return 0;
}

static void watch_file(struct reloader *reloader, const char *path)
{
    char directory[PATH_MAX], name[NAME_MAX + 1];
    if (path == NULL || split(path, directory, name) < 0)
        return;
    struct watch *watch = NULL;
    for (size_t i = 0; i < reloader->watch_count; i++)
        if (strcmp(reloader->watches[i].directory, directory) == 0)
            watch = &reloader->watches[i];
    if (watch == NULL) {
        if (reloader->watch_count == WATCHES_MAX)
            return;
        int descriptor = inotify_add_watch(reloader->inotify, directory,
                                           IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE |
                                               IN_MOVED_FROM | IN_ATTRIB | IN_DONT_FOLLOW);
        if (descriptor < 0) {
            char message[PATH_MAX + 64];
            snprintf(message, sizeof message, "cannot watch %s: %s", directory, strerror(errno));
            log_line(LOG_LEVEL_WARN, message);
            return;
        }
        watch = &reloader->watches[reloader->watch_count++];
        memset(watch, 0, sizeof *watch);
        watch->descriptor = descriptor;
        strcpy(watch->directory, directory);
    }
    if (watch->name_count < WATCHES_MAX)
        strcpy(watch->names[watch->name_count++], name);
}

/* The files the current configuration reads, one per line, into `out`. */
static void list_files(const struct reloader *reloader, char *out, size_t size)
{
    out[0] = '\0';
    struct runtime *runtime = runtime_current();
    const struct config *config = runtime != NULL ? &runtime->config : NULL;
    const char *paths[8 + 64] = {reloader->config_path};
    size_t count = 1;
    if (config != NULL) {
        paths[count++] = config->htpasswd_path;
        paths[count++] = config->tls_certificate;
        paths[count++] = config->tls_key;
        paths[count++] = config->token_root_certificate_bundle;
        paths[count++] = config->token_jwks;
        for (size_t i = 0; i < config->tls_client_ca_count && count < 8 + 64; i++)
            paths[count++] = config->tls_client_cas[i];
    }
    for (size_t i = 0; i < count; i++)
        if (paths[i] != NULL) {
            size_t used = strlen(out);
            snprintf(out + used, size - used, "%s\n", paths[i]);
        }
    runtime_release(runtime);
}

/* Watches the directories of every file the current configuration reads
 * (again only when that set changed: re-adding watches is not free). */
static void rewatch(struct reloader *reloader)
{
    char files[sizeof reloader->watched_files];
    list_files(reloader, files, sizeof files);
    if (reloader->watch_count > 0 && strcmp(files, reloader->watched_files) == 0)
        return;
    strcpy(reloader->watched_files, files);
    for (size_t i = 0; i < reloader->watch_count; i++)
        inotify_rm_watch(reloader->inotify, reloader->watches[i].descriptor);
    reloader->watch_count = 0;
    for (char *line = files, *end; (end = strchr(line, '\n')) != NULL; line = end + 1) {
        *end = '\0';
        watch_file(reloader, line);
    }
}

/* Whether an event concerns a watched file: its own name, or a Kubernetes
 * ConfigMap/Secret swap ("..data" and its timestamped siblings). */
static int relevant(const struct reloader *reloader, const struct inotify_event *event)
{
    if (event->len == 0) /* IN_IGNORED after our own rewatch, and the like */
        return 0;
    if (strncmp(event->name, "..", 2) == 0)
        return 1;
    for (size_t i = 0; i < reloader->watch_count; i++) {
        const struct watch *watch = &reloader->watches[i];
        if (watch->descriptor != event->wd)
            continue;
        for (size_t j = 0; j < watch->name_count; j++)
            if (strcmp(watch->names[j], event->name) == 0)
                return 1;
    }
    return 0;
}

/* One reload; `quiet`: say nothing when nothing changed (the catch-up
 * reload at start). */
static int reload(struct reloader *reloader, const char *why, int quiet)
{
    char message[ERROR_MESSAGE_MAX + 2200];
    pthread_mutex_lock(&reloader->mutex);
    systemd_notify_reloading();
    struct config config;
    int result;
    if (reloader->config_path != NULL)
        result = config_load(reloader->config_path, &config);
    else {
        config_defaults(&config);
        result = 0;
    }
    if (result == 0 && options_apply_flags(reloader->options, &config, stderr) < 0) {
        config_release(&config);
        result = error_set(-EINVAL, "the command line flags no longer apply");
    }
    struct runtime *previous = runtime_current();
    struct runtime *next = NULL;
    char changes[2048] = "";
    if (result == 0)
        result = runtime_build(&config, previous, &next, changes, sizeof changes);
    if (result < 0) {
        snprintf(message, sizeof message,
                 "reload (%s) refused, keeping the running configuration: %s", why,
                 error_message());
        log_line(LOG_LEVEL_ERROR, message);
        metrics_reload(0);
    } else {
        log_configure(next->config.log_level, next->config.log_format);
        for (size_t i = 0; i < next->config.warning_count; i++)
            log_line(LOG_LEVEL_WARN, next->config.warnings[i]);
        runtime_publish(next);
        snprintf(message, sizeof message, "reloaded (%s): %s", why,
                 changes[0] != '\0' ? changes : "files re-read, no setting changed");
        if (!quiet || changes[0] != '\0') {
            log_line(LOG_LEVEL_INFO, message);
            metrics_reload(1);
        }
    }
    systemd_notify_ready();
    runtime_release(previous);
    if (reloader->started)
        rewatch(reloader);
    pthread_mutex_unlock(&reloader->mutex);
    return result;
}

int reload_now(struct reloader *reloader, const char *why)
{
    return reload(reloader, why, 0);
}

static void *watcher_main(void *argument)
{
    struct reloader *reloader = argument;
    char buffer[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    int pending = 0;
    for (;;) {
        struct pollfd fds[2] = {{reloader->inotify, POLLIN, 0},
                                {reloader->stop_pipe[0], POLLIN, 0}};
        int ready = poll(fds, 2, pending ? DEBOUNCE_MILLISECONDS : -1);
        if (ready < 0 && errno == EINTR)
            continue;
        if (fds[1].revents != 0)
            break;
        if (ready == 0 && pending) {
            pending = 0;
            reload_now(reloader, "file changed");
            continue;
        }
        if (fds[0].revents == 0)
            continue;
        ssize_t length = read(reloader->inotify, buffer, sizeof buffer);
        for (ssize_t offset = 0; length > 0 && offset < length;) {
            const struct inotify_event *event = (const struct inotify_event *)(buffer + offset);
            if (relevant(reloader, event))
                pending = 1;
            offset += (ssize_t)(sizeof *event + event->len);
        }
    }
    return NULL;
}

int reloader_start(const struct options *options, struct reloader **reloader_out)
{
    struct reloader *reloader = calloc(1, sizeof *reloader);
    if (reloader == NULL)
        return error_set(-ENOMEM, "out of memory");
    pthread_mutex_init(&reloader->mutex, NULL);
    reloader->options = options;
    reloader->config_path = options->config_path;
    reloader->inotify = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    if (reloader->inotify < 0 || pipe2(reloader->stop_pipe, O_CLOEXEC) != 0) {
        int error = errno;
        if (reloader->inotify >= 0)
            close(reloader->inotify);
        free(reloader);
        return error_set(-error, "cannot start the config watcher: %s", strerror(error));
    }
    rewatch(reloader);
    /* An edit between the first load and the watch would be missed: read
     * everything once more now that the watch is in place. */
    reloader->started = 1;
    reload(reloader, "start", 1);
    reloader->started = 0;
    int result = pthread_create(&reloader->thread, NULL, watcher_main, reloader);
    if (result != 0) {
        close(reloader->inotify);
        close(reloader->stop_pipe[0]);
        close(reloader->stop_pipe[1]);
        free(reloader);
        return error_set(-result, "cannot start the config watcher: %s", strerror(result));
    }
    reloader->started = 1;
    *reloader_out = reloader;
    return 0;
}

void reloader_stop(struct reloader *reloader)
{
    if (reloader == NULL)
        return;
    if (write(reloader->stop_pipe[1], "x", 1) < 0) {
        /* the thread also stops when the pipe closes */
    }
    pthread_join(reloader->thread, NULL);
    close(reloader->inotify);
    close(reloader->stop_pipe[0]);
    close(reloader->stop_pipe[1]);
    pthread_mutex_destroy(&reloader->mutex);
    free(reloader);
}
