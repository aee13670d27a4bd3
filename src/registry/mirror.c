/* src/registry/mirror.h */
#include "src/registry/mirror.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "layout/atomic_file.h"
#include "layout/error.h"
#include "layout/names.h"
#include "src/observe/access_log.h"
#include "src/observe/metrics.h"
#include "src/registry/registry_error.h"
#include "src/registry/repository.h"

struct upstream *mirror_find(struct upstream *const *upstreams, size_t count, const char *name,
                             char *remote, size_t remote_size)
{
    struct upstream *everything = NULL;
    for (size_t i = 0; i < count; i++) {
        const struct upstream_settings *settings = upstream_settings_of(upstreams[i]);
        if (settings->prefix[0] == '\0') {
            everything = upstreams[i];
            continue;
        }
        if (upstream_remote_name(settings, name, remote, remote_size) == 1)
            return upstreams[i];
    }
    if (everything != NULL &&
        upstream_remote_name(upstream_settings_of(everything), name, remote, remote_size) == 1)
        return everything;
    return NULL;
}

struct upstream *mirror_find_host(struct upstream *const *upstreams, size_t count, const char *host)
{
    for (size_t i = 0; i < count; i++) {
        const struct upstream_settings *settings = upstream_settings_of(upstreams[i]);
        if (settings->prefix[0] == '\0')
            continue;
        for (size_t j = 0; j < settings->host_count; j++)
            if (strcasecmp(settings->hosts[j], host) == 0)
                return upstreams[i];
    }
    return NULL;
}

/* ---- one fetch per missing object (single flight) ----
 *
 * Fills in flight in this process, keyed by what they fill ("m <name>
 * <reference>" or "b <name> <digest>"). The first caller (the leader) runs
 * the fill; a caller for the same key meanwhile waits for its end and takes
 * its result, without a request of its own. A flight exists only while its
 * leader runs on a worker thread, so a waiter never waits for work that has
 * not started. Bounded by the workers: at most one flight per worker. */

#define FLIGHT_KEY_MAX (REPOSITORY_NAME_MAX + DIGEST_STRING_MAX + 8)

struct flight {
    struct flight *next;
    char key[FLIGHT_KEY_MAX];
    int done;
    int result;
    struct digest digest; /* a manifest fill's answer */
    char message[ERROR_MESSAGE_MAX];
    unsigned waiters;
};

static pthread_mutex_t flights_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t flights_done = PTHREAD_COND_INITIALIZER;
static struct flight *flights;

/* Joins the flight of `key` (waits for it: 1, with its result), or starts
 * one (0, `*mine` set: the caller fills, then lands it); a negative errno
 * when there is no memory for one (the caller fills alone). */
static int flight_join(const char *key, struct flight **mine, int *result_out,
                       struct digest *digest_out)
{
    *mine = NULL;
    pthread_mutex_lock(&flights_lock);
    struct flight *flight = flights;
    while (flight != NULL && strcmp(flight->key, key) != 0)
        flight = flight->next;
    if (flight != NULL) {
        flight->waiters++;
        while (!flight->done)
            pthread_cond_wait(&flights_done, &flights_lock);
        *result_out = flight->result;
        if (digest_out != NULL)
            *digest_out = flight->digest;
        if (flight->result < 0)
            error_set(flight->result, "%s", flight->message);
        if (--flight->waiters == 0)
            free(flight);
        pthread_mutex_unlock(&flights_lock);
        return 1;
    }
    flight = calloc(1, sizeof *flight);
    if (flight == NULL) {
        pthread_mutex_unlock(&flights_lock);
        return -ENOMEM;
    }
    snprintf(flight->key, sizeof flight->key, "%s", key);
    flight->next = flights;
    flights = flight;
    *mine = flight;
    pthread_mutex_unlock(&flights_lock);
    return 0;
}

static void flight_land(struct flight *flight, int result, const struct digest *digest)
{
    if (flight == NULL)
        return;
    pthread_mutex_lock(&flights_lock);
    for (struct flight **link = &flights; *link != NULL; link = &(*link)->next)
        if (*link == flight) {
            *link = flight->next;
            break;
        }
    flight->done = 1;
    flight->result = result;
    if (digest != NULL)
        flight->digest = *digest;
    if (result < 0)
        snprintf(flight->message, sizeof flight->message, "%s", error_message());
    int alone = flight->waiters == 0;
    pthread_cond_broadcast(&flights_done);
    pthread_mutex_unlock(&flights_lock);
    if (alone)
        free(flight);
}

static int is_tag(const char *reference)
{
    return reference_kind(reference, strlen(reference)) == REFERENCE_TAG;
}

int mirror_manifest_is_fresh(const struct tree *tree, const char *name, const char *reference,
                             uint64_t ttl_seconds)
{
    struct digest digest;
    if (repository_resolve_manifest(tree, name, reference, &digest, NULL) < 0)
        return 0;
    if (!is_tag(reference))
        return 1;
    long long checked = 0;
    if (repository_tag_checked_at(tree, name, reference, &checked) < 0)
        return 0;
    long long now = (long long)time(NULL);
    return now >= checked && (uint64_t)(now - checked) < ttl_seconds;
}

/* The upstream's failure as the client sees it when the tree has no copy. */
/* What serving this request took, for the metrics and (through the
 * public functions' outcome_out) the access log. */
static _Thread_local enum metrics_mirror_outcome last_outcome;

static const char *mirror_name(const struct upstream *upstream)
{
    return upstream_settings_of(upstream)->prefix;
}

static void counted(const struct upstream *upstream, enum metrics_mirror_kind kind,
                    enum metrics_mirror_outcome outcome)
{
    metrics_mirror(mirror_name(upstream), kind, outcome);
    last_outcome = outcome;
}

static int upstream_failure(int result, int manifest, const char *what)
{
    char reason[ERROR_MESSAGE_MAX];
    snprintf(reason, sizeof reason, "%s", error_message());
    if (result == -ENOENT)
        return error_set(manifest ? -REGISTRY_ERROR_MANIFEST_UNKNOWN : -REGISTRY_ERROR_BLOB_UNKNOWN,
                         "%s unknown upstream (%s)", what, reason);
    return error_set(-REGISTRY_ERROR_UNAVAILABLE, "the upstream failed for %s: %s", what, reason);
}

/* Verifies the fetched manifest and stores it under `reference`. */
static int store_manifest(const struct tree *tree, struct blob_store *blobs,
                          const struct upstream *upstream, const char *name, const char *reference,
                          const struct digest *expected, const struct upstream_manifest *fetched,
                          struct digest *digest_out)
{
    struct digest actual;
    enum digest_algorithm algorithm = expected != NULL ? expected->algorithm : DIGEST_SHA256;
    int result = digest_of_buffer(algorithm, fetched->body, fetched->length, &actual);
    if (result < 0)
        return result;
    if (expected != NULL && !digest_equal(&actual, expected))
        return error_set(-REGISTRY_ERROR_UNAVAILABLE,
                         "the upstream sent a manifest that hashes to %s for %s", actual.string,
                         expected->string);
    struct manifest_put_result put;
    result = repository_put_mirrored_manifest(tree, blobs, name, reference, fetched->media_type,
                                              fetched->body, fetched->length, &put);
    if (result < 0)
        return result;
    metrics_mirror_fetched_bytes(mirror_name(upstream), fetched->length);
    *digest_out = put.digest;
    return 0;
}

static int fill_by_digest(const struct tree *tree, struct blob_store *blobs,
                          struct upstream *upstream, const char *name, const char *remote,
                          const char *reference, struct digest *digest_out)
{
    struct digest wanted;
    if (digest_parse(reference, strlen(reference), &wanted) < 0)
        return repository_manifest_unknown(tree, name, NULL);
    if (repository_resolve_manifest(tree, name, reference, digest_out, NULL) == 0) {
        counted(upstream, METRICS_MIRROR_MANIFEST, METRICS_MIRROR_HIT);
        return 0;
    }
    struct upstream_manifest fetched;
    int result = upstream_fetch_manifest(upstream, remote, reference, 0, &fetched);
    if (result < 0) {
        counted(upstream, METRICS_MIRROR_MANIFEST, METRICS_MIRROR_FAILED);
        return upstream_failure(result, 1, reference);
    }
    result = store_manifest(tree, blobs, upstream, name, reference, &wanted, &fetched, digest_out);
    upstream_manifest_release(&fetched);
    counted(upstream, METRICS_MIRROR_MANIFEST,
            result == 0 ? METRICS_MIRROR_FETCHED : METRICS_MIRROR_FAILED);
    return result;
}

/* The tree's copy after the upstream failed: served, and said so. */
static int serve_stale(const struct upstream *upstream, const char *name, const char *tag,
                       const struct digest *local, int result, struct digest *digest_out)
{
    (void)result;
    log_message(LOG_LEVEL_WARN, "mirror: serving the cached %s:%s (%s): %s", name, tag,
                local->string, error_message());
    counted(upstream, METRICS_MIRROR_MANIFEST, METRICS_MIRROR_STALE);
    *digest_out = *local;
    return 0;
}

static int fill_by_tag(const struct tree *tree, struct blob_store *blobs, struct upstream *upstream,
                       const char *name, const char *remote, const char *tag,
                       struct digest *digest_out)
{
    if (tag_validate(tag, strlen(tag)) < 0)
        return repository_manifest_unknown(tree, name, NULL);
    struct digest local;
    int have_local = repository_resolve_manifest(tree, name, tag, &local, NULL) == 0;
    struct upstream_manifest fetched;
    int result;
    if (have_local) {
        result = upstream_fetch_manifest(upstream, remote, tag, 1, &fetched);
        if (result < 0)
            return serve_stale(upstream, name, tag, &local, result, digest_out);
        int same = fetched.has_digest && digest_equal(&fetched.digest, &local);
        upstream_manifest_release(&fetched);
        if (same) {
            result = repository_tag_mark_checked(tree, name, tag);
            if (result < 0)
                log_message(LOG_LEVEL_WARN, "mirror: %s", error_message());
            *digest_out = local;
            counted(upstream, METRICS_MIRROR_MANIFEST, METRICS_MIRROR_CHECKED);
            return 0;
        }
    }
    result = upstream_fetch_manifest(upstream, remote, tag, 0, &fetched);
    if (result < 0 && have_local)
        return serve_stale(upstream, name, tag, &local, result, digest_out);
    if (result < 0) {
        counted(upstream, METRICS_MIRROR_MANIFEST, METRICS_MIRROR_FAILED);
        return upstream_failure(result, 1, tag);
    }
    result = store_manifest(tree, blobs, upstream, name, tag,
                            fetched.has_digest ? &fetched.digest : NULL, &fetched, digest_out);
    upstream_manifest_release(&fetched);
    if (result < 0 && have_local)
        return serve_stale(upstream, name, tag, &local, result, digest_out);
    counted(upstream, METRICS_MIRROR_MANIFEST,
            result == 0 ? METRICS_MIRROR_FETCHED : METRICS_MIRROR_FAILED);
    return result;
}

int mirror_fill_manifest(const struct tree *tree, struct blob_store *blobs,
                         struct upstream *upstream, const char *name, const char *remote,
                         const char *reference, struct digest *digest_out,
                         enum metrics_mirror_outcome *outcome_out)
{
    last_outcome = METRICS_MIRROR_FAILED;
    char key[FLIGHT_KEY_MAX];
    snprintf(key, sizeof key, "m %s %.*s", name, (int)DIGEST_STRING_MAX, reference);
    struct flight *mine;
    int result;
    if (flight_join(key, &mine, &result, digest_out) == 1) {
        counted(upstream, METRICS_MIRROR_MANIFEST, METRICS_MIRROR_JOINED);
        *outcome_out = last_outcome;
        return result;
    }
    /* Filled while this work waited for a thread (a flight that landed
     * since): the tree answers. */
    const struct upstream_settings *settings = upstream_settings_of(upstream);
    if (mirror_manifest_is_fresh(tree, name, reference, settings->ttl_seconds) &&
        repository_resolve_manifest(tree, name, reference, digest_out, NULL) == 0) {
        counted(upstream, METRICS_MIRROR_MANIFEST, METRICS_MIRROR_HIT);
        result = 0;
    } else if (is_tag(reference))
        result = fill_by_tag(tree, blobs, upstream, name, remote, reference, digest_out);
    else
        result = fill_by_digest(tree, blobs, upstream, name, remote, reference, digest_out);
    flight_land(mine, result, result == 0 ? digest_out : NULL);
    *outcome_out = last_outcome;
    return result;
}

/* ---- blobs ---- */

struct blob_fill {
    int fd;
    struct digest_hasher hasher;
    const struct digest *digest;
    const char *mirror;
    int64_t position; /* where the next byte goes */
    int64_t extent;   /* bytes in the scratch file */
    char compare[64 * 1024];
};

/* An answer's bytes start at `offset`: where the transfer was cut (a 206),
 * or 0 (the first answer, or a 200 to a resumed request). Starting over
 * resets the hash; the bytes already in the scratch file are then compared
 * with the new ones, not written again, so that what was read from the file
 * stays what the digest covers. */
static int begin_slice(void *context, int64_t offset, int64_t size)
{
    struct blob_fill *fill = context;
    (void)size;
    if (offset == fill->position)
        return 0;
    if (offset != 0)
        return error_set(-EPROTO, "blob %s continues at %lld, not %lld", fill->digest->string,
                         (long long)offset, (long long)fill->position);
    digest_hasher_release(&fill->hasher);
    int result = digest_hasher_init(&fill->hasher, fill->digest->algorithm);
    if (result < 0)
        return result;
    fill->position = 0;
    return 0;
}

/* Bytes [position, position + length) that the file has: must be the same. */
static int compare_slice(struct blob_fill *fill, const char *data, size_t length)
{
    while (length > 0) {
        size_t take = length < sizeof fill->compare ? length : sizeof fill->compare;
        ssize_t count = pread(fill->fd, fill->compare, take, fill->position);
        if (count < 0 && errno == EINTR)
            continue;
        if (count <= 0)
            return error_set(count < 0 ? -errno : -EIO, "cannot read a mirrored blob back: %s",
                             count < 0 ? strerror(errno) : "short file");
        if (memcmp(fill->compare, data, (size_t)count) != 0)
            return error_set(-EPROTO,
                             "the upstream sent other bytes for blob %s at %lld when asked again",
                             fill->digest->string, (long long)fill->position);
        data += count;
        length -= (size_t)count;
        fill->position += count;
    }
    return 0;
}

static int write_slice(void *context, const char *data, size_t length)
{
    struct blob_fill *fill = context;
    if (digest_hasher_update(&fill->hasher, data, length) < 0)
        return -EIO;
    metrics_mirror_fetched_bytes(fill->mirror, length);
    if (fill->position < fill->extent) {
        int64_t overlap = fill->extent - fill->position;
        size_t take = (int64_t)length < overlap ? length : (size_t)overlap;
        int result = compare_slice(fill, data, take);
        if (result < 0)
            return result;
        data += take;
        length -= take;
    }
    while (length > 0) {
        ssize_t written = pwrite(fill->fd, data, length, fill->position);
        if (written < 0 && errno == EINTR)
            continue;
        if (written <= 0)
            return error_set(-errno, "cannot write a mirrored blob: %s", strerror(errno));
        data += written;
        length -= (size_t)written;
        fill->position += written;
    }
    if (fill->position > fill->extent)
        fill->extent = fill->position;
    return 0;
}

static int fill_blob(const struct tree *tree, struct blob_store *blobs, struct upstream *upstream,
                     const char *name, const char *remote, const struct digest *digest)
{
    char path[TREE_PATH_MAX];
    int result = tree_path_scratch_directory(tree, path);
    if (result < 0)
        return result;
    size_t used = strlen(path);
    if (used + 32 >= sizeof path)
        return error_set(-ENAMETOOLONG, "scratch directory path too long");
    if ((result = directory_create(path)) < 0)
        return result;
    strcat(path, "/mirror-blob.XXXXXX");
    struct blob_fill *fill = malloc(sizeof *fill);
    if (fill == NULL)
        return error_set(-ENOMEM, "out of memory");
    *fill =
        (struct blob_fill){.fd = mkstemp(path), .digest = digest, .mirror = mirror_name(upstream)};
    if (fill->fd < 0) {
        free(fill);
        return error_set(-errno, "cannot create a scratch file in %s: %s", path, strerror(errno));
    }
    result = digest_hasher_init(&fill->hasher, digest->algorithm);
    if (result < 0) {
        close(fill->fd);
        unlink(path);
        free(fill);
        return result;
    }
    const struct upstream_blob_sink sink = {
        .begin = begin_slice, .write = write_slice, .context = fill};
    result = upstream_fetch_blob(upstream, remote, digest, &sink);
    struct digest actual;
    if (result < 0) {
        digest_hasher_release(&fill->hasher);
        result = upstream_failure(result, 0, digest->string);
    } else if ((result = digest_hasher_finish(&fill->hasher, &actual)) == 0 &&
               !digest_equal(&actual, digest)) {
        result = error_set(-REGISTRY_ERROR_UNAVAILABLE,
                           "the upstream sent bytes that hash to %s for blob %s; nothing kept",
                           actual.string, digest->string);
        log_message(LOG_LEVEL_WARN, "mirror: %s: %s", name, error_message());
    }
    /* Started over on a shorter answer (no size announced): its end is the blob's. */
    if (result == 0 && fill->extent > fill->position && ftruncate(fill->fd, fill->position) != 0)
        result = error_set(-errno, "cannot truncate a mirrored blob: %s", strerror(errno));
    if (result == 0 && fdatasync(fill->fd) != 0)
        result = error_set(-errno, "cannot sync a mirrored blob: %s", strerror(errno));
    close(fill->fd);
    free(fill);
    if (result == 0)
        result = repository_put_blob_file(tree, blobs, name, path, digest);
    unlink(path); /* gone already when the store took it */
    return result;
}

int mirror_fill_blob(const struct tree *tree, struct blob_store *blobs, struct upstream *upstream,
                     const char *name, const char *remote, const struct digest *digest,
                     enum metrics_mirror_outcome *outcome_out)
{
    last_outcome = METRICS_MIRROR_FAILED;
    char key[FLIGHT_KEY_MAX];
    snprintf(key, sizeof key, "b %s %s", name, digest->string);
    struct flight *mine;
    int result;
    if (flight_join(key, &mine, &result, NULL) == 1) {
        counted(upstream, METRICS_MIRROR_BLOB, METRICS_MIRROR_JOINED);
        *outcome_out = last_outcome;
        return result;
    }
    struct blob_info info;
    int64_t size = -1;
    if (repository_stat_blob(tree, blobs, name, digest, &info) == 0) {
        result = 0; /* filled while this work waited for a thread */
        counted(upstream, METRICS_MIRROR_BLOB, METRICS_MIRROR_HIT);
    } else if (blob_store_stat(blobs, digest, &info) == 0 &&
               upstream_head_blob(upstream, remote, digest, &size) == 0 &&
               (size < 0 || size == info.size) &&
               repository_link_blob(tree, blobs, name, digest) == 0) {
        /* The store has the bytes (another repository's), and the upstream
         * says this repository has them too: linked, not fetched again. */
        result = 0;
        counted(upstream, METRICS_MIRROR_BLOB, METRICS_MIRROR_CHECKED);
    } else {
        result = fill_blob(tree, blobs, upstream, name, remote, digest);
        counted(upstream, METRICS_MIRROR_BLOB,
                result == 0 ? METRICS_MIRROR_FETCHED : METRICS_MIRROR_FAILED);
    }
    flight_land(mine, result, NULL);
    *outcome_out = last_outcome;
    return result;
}
