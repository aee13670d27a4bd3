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

/* A blob fill is followed once this many bytes came (and the blob is
 * larger): a smaller one is answered when verified, with a clean 503 when
 * it is not. */
#define MIRROR_STREAM_START_BYTES (1024 * 1024)

/* The index of the settings that hold `name` (a prefix's, else proxy's
 * ""), or `count`; `settings_at` reads the i-th of the caller's array. */
static size_t find_holder(const void *items, size_t count,
                          const struct upstream_settings *(*settings_at)(const void *, size_t),
                          const char *name, char *remote, size_t remote_size)
{
    size_t everything = count;
    for (size_t i = 0; i < count; i++) {
        const struct upstream_settings *settings = settings_at(items, i);
        if (settings->prefix[0] == '\0') {
            everything = i;
            continue;
        }
        if (upstream_remote_name(settings, name, remote, remote_size) == 1)
            return i;
    }
    if (everything < count &&
        upstream_remote_name(settings_at(items, everything), name, remote, remote_size) == 1)
        return everything;
    return count;
}

static const struct upstream_settings *upstream_at(const void *items, size_t i)
{
    return upstream_settings_of(((struct upstream *const *)items)[i]);
}

static const struct upstream_settings *settings_at(const void *items, size_t i)
{
    return &((const struct upstream_settings *)items)[i];
}

struct upstream *mirror_find(struct upstream *const *upstreams, size_t count, const char *name,
                             char *remote, size_t remote_size)
{
    size_t i = find_holder(upstreams, count, upstream_at, name, remote, remote_size);
    return i < count ? upstreams[i] : NULL;
}

const struct upstream_settings *mirror_find_settings(const struct upstream_settings *mirrors,
                                                     size_t count, const char *name)
{
    char remote[UPSTREAM_NAME_MAX];
    size_t i = find_holder(mirrors, count, settings_at, name, remote, sizeof remote);
    return i < count ? &mirrors[i] : NULL;
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
    struct digest digest;       /* a manifest fill's answer */
    struct blob_stream *stream; /* a blob fill readers may follow (a reference) */
    char message[ERROR_MESSAGE_MAX];
    unsigned waiters;
};

static pthread_mutex_t flights_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t flights_done = PTHREAD_COND_INITIALIZER;
static struct flight *flights;

struct blob_stream;
static void stream_release(struct blob_stream *stream);
static void stream_acquire(struct blob_stream *stream);

/* Joins the flight of `key` (waits for it: 1, with its result), or starts
 * one (0, `*mine` set: the caller fills, then lands it); a negative errno
 * when there is no memory for one (the caller fills alone). With
 * `stream_out`, the wait also ends when the fill can be followed: 2, and a
 * reference to its stream in *stream_out. */
static int flight_join(const char *key, struct flight **mine, int *result_out,
                       struct digest *digest_out, struct blob_stream **stream_out)
{
    *mine = NULL;
    pthread_mutex_lock(&flights_lock);
    struct flight *flight = flights;
    while (flight != NULL && strcmp(flight->key, key) != 0)
        flight = flight->next;
    if (flight != NULL) {
        flight->waiters++;
        while (!flight->done && (stream_out == NULL || flight->stream == NULL))
            pthread_cond_wait(&flights_done, &flights_lock);
        if (!flight->done) {
            *stream_out = flight->stream;
            stream_acquire(flight->stream);
            flight->waiters--; /* the flight is not done: its leader frees it */
            pthread_mutex_unlock(&flights_lock);
            return 2;
        }
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
    struct blob_stream *stream = flight->stream;
    flight->stream = NULL;
    if (digest != NULL)
        flight->digest = *digest;
    if (result < 0)
        snprintf(flight->message, sizeof flight->message, "%s", error_message());
    int alone = flight->waiters == 0;
    pthread_cond_broadcast(&flights_done);
    pthread_mutex_unlock(&flights_lock);
    if (alone)
        free(flight);
    if (stream != NULL)
        stream_release(stream);
}

/* Readers may follow the blob fill of `flight` (the flight takes a
 * reference to `stream`). */
static void flight_publish(struct flight *flight, struct blob_stream *stream)
{
    if (flight == NULL)
        return;
    stream_acquire(stream);
    pthread_mutex_lock(&flights_lock);
    flight->stream = stream;
    pthread_cond_broadcast(&flights_done);
    pthread_mutex_unlock(&flights_lock);
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
    if (flight_join(key, &mine, &result, digest_out, NULL) == 1) {
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

/* A blob fill that readers follow while it runs (the opening comment of
 * mirror.h): the scratch file (a descriptor of its own, so the file can be
 * renamed into the store or deleted meanwhile), how much of it readers may
 * take, and how the fill ended. Counted references: the leader's fill, its
 * flight, every reader. */
struct stream_reader;

struct blob_stream {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    unsigned references;
    int fd;
    int64_t size;      /* the blob's, as announced: fixed */
    int64_t available; /* bytes of the file written (grows only) */
    int state;         /* 0 filling; 1 verified; < 0 failed */
    char message[ERROR_MESSAGE_MAX];
    struct stream_reader *waiting; /* readers with a wake pending (blob_reader_ready) */
};

struct stream_reader {
    struct blob_reader base; /* first: blob_reader_read() dispatches */
    struct blob_stream *stream;
    /* While on stream->waiting: what it waits for, and whom to wake. */
    struct stream_reader *next_waiting;
    int64_t wait_offset;
    void (*wake)(void *context);
    void *wake_context;
};

/* Under the lock: whether a read at `offset` may be made now: the fill
 * ended (verified: every byte; failed: the read fails at once), or the file
 * has a byte there short of the held last one. *limit_out: how far reads may
 * go. (A read takes all there is: libcurl hands the fill 256 KiB pieces from
 * a fast upstream, so reads are large; a slow upstream's small ones cost
 * nothing that matters, and no byte that came waits for the next.) */
static int stream_readable_locked(const struct blob_stream *stream, int64_t offset,
                                  int64_t *limit_out)
{
    int64_t limit = stream->state == 1                 ? stream->size
                    : stream->available < stream->size ? stream->available
                                                       : stream->size - 1;
    *limit_out = limit;
    return stream->state != 0 || offset < limit;
}

/* Under the lock: takes the waiting readers that may read now (all of them
 * with `everyone`) off the list, into a list the caller wakes unlocked. */
static struct stream_reader *stream_take_woken_locked(struct blob_stream *stream, int everyone)
{
    struct stream_reader *woken = NULL, **link = &stream->waiting;
    while (*link != NULL) {
        struct stream_reader *reader = *link;
        int64_t limit;
        if (everyone || stream_readable_locked(stream, reader->wait_offset, &limit)) {
            *link = reader->next_waiting;
            reader->next_waiting = woken;
            woken = reader;
        } else {
            link = &reader->next_waiting;
        }
    }
    return woken;
}

/* Wakes them; a woken reader may be read (and closed) at once elsewhere,
 * so nothing of it is touched after its wake. */
static void stream_wake(struct stream_reader *woken)
{
    while (woken != NULL) {
        struct stream_reader *next = woken->next_waiting;
        void (*wake)(void *) = woken->wake;
        void *context = woken->wake_context;
        woken->next_waiting = NULL;
        wake(context);
        woken = next;
    }
}

static void stream_acquire(struct blob_stream *stream)
{
    pthread_mutex_lock(&stream->lock);
    stream->references++;
    pthread_mutex_unlock(&stream->lock);
}

static void stream_release(struct blob_stream *stream)
{
    pthread_mutex_lock(&stream->lock);
    unsigned left = --stream->references;
    pthread_mutex_unlock(&stream->lock);
    if (left > 0)
        return;
    close(stream->fd);
    pthread_mutex_destroy(&stream->lock);
    pthread_cond_destroy(&stream->changed);
    free(stream);
}

static struct blob_stream *stream_create(int fd, int64_t size, int64_t available)
{
    struct blob_stream *stream = calloc(1, sizeof *stream);
    if (stream == NULL)
        return NULL;
    stream->fd = dup(fd);
    if (stream->fd < 0) {
        free(stream);
        return NULL;
    }
    pthread_mutex_init(&stream->lock, NULL);
    pthread_cond_init(&stream->changed, NULL);
    stream->references = 1;
    stream->size = size;
    stream->available = available;
    return stream;
}

static void stream_grow(struct blob_stream *stream, int64_t available)
{
    struct stream_reader *woken = NULL;
    pthread_mutex_lock(&stream->lock);
    if (available > stream->available) {
        stream->available = available;
        pthread_cond_broadcast(&stream->changed);
        woken = stream_take_woken_locked(stream, 0);
    }
    pthread_mutex_unlock(&stream->lock);
    stream_wake(woken);
}

static void stream_end(struct blob_stream *stream, int result)
{
    pthread_mutex_lock(&stream->lock);
    stream->state = result == 0 ? 1 : result;
    if (result < 0)
        snprintf(stream->message, sizeof stream->message, "%s", error_message());
    pthread_cond_broadcast(&stream->changed);
    struct stream_reader *woken = stream_take_woken_locked(stream, 1);
    pthread_mutex_unlock(&stream->lock);
    stream_wake(woken);
}

/* Waits until bytes at `offset` may be read: the last byte only once the
 * blob is verified and stored, so that a response never completes with
 * bytes the digest did not confirm. */
static ssize_t stream_read(struct blob_reader *base, void *buffer, size_t length, int64_t offset)
{
    struct blob_stream *stream = ((struct stream_reader *)base)->stream;
    int64_t limit;
    pthread_mutex_lock(&stream->lock);
    for (;;) {
        if (stream->state < 0) {
            char message[ERROR_MESSAGE_MAX];
            snprintf(message, sizeof message, "%s", stream->message);
            pthread_mutex_unlock(&stream->lock);
            return error_set(-EIO, "the mirrored blob was not kept: %s", message);
        }
        if (stream_readable_locked(stream, offset, &limit))
            break;
        pthread_cond_wait(&stream->changed, &stream->lock);
    }
    pthread_mutex_unlock(&stream->lock);
    if (offset >= limit)
        return 0;
    size_t take = (int64_t)length < limit - offset ? length : (size_t)(limit - offset);
    for (;;) {
        ssize_t count = pread(stream->fd, buffer, take, offset);
        if (count < 0 && errno == EINTR)
            continue;
        if (count < 0)
            return error_set(-errno, "cannot read a mirrored blob: %s", strerror(errno));
        if (count == 0)
            return error_set(-EIO, "a mirrored blob's scratch file is shorter than written");
        return count;
    }
}

/* blob_reader_ready(): a follower that does not hold a thread while the
 * upstream's bytes come (src/http/blob_sender.c). */
static int stream_ready(struct blob_reader *base, int64_t offset, size_t length,
                        void (*wake)(void *context), void *context)
{
    (void)length; /* any byte is worth a read */
    struct stream_reader *reader = (struct stream_reader *)base;
    struct blob_stream *stream = reader->stream;
    int64_t limit;
    pthread_mutex_lock(&stream->lock);
    int readable = stream_readable_locked(stream, offset, &limit);
    if (!readable) {
        reader->wait_offset = offset;
        reader->wake = wake;
        reader->wake_context = context;
        reader->next_waiting = stream->waiting;
        stream->waiting = reader;
    }
    pthread_mutex_unlock(&stream->lock);
    return readable;
}

static void stream_reader_close(struct blob_reader *base)
{
    struct stream_reader *reader = (struct stream_reader *)base;
    struct blob_stream *stream = reader->stream;
    pthread_mutex_lock(&stream->lock); /* never waiting by then; made sure */
    for (struct stream_reader **link = &stream->waiting; *link != NULL;
         link = &(*link)->next_waiting)
        if (*link == reader) {
            *link = reader->next_waiting;
            break;
        }
    pthread_mutex_unlock(&stream->lock);
    stream_release(stream);
    free(reader);
}

static const struct blob_store_operations stream_operations = {
    .name = "mirror-stream",
    .read = stream_read,
    .ready = stream_ready,
    .close = stream_reader_close,
};

/* A reader of `stream`, which takes the caller's reference; NULL (and the
 * reference released) without memory. */
static struct blob_reader *stream_reader_create(struct blob_stream *stream)
{
    struct stream_reader *reader = calloc(1, sizeof *reader);
    if (reader == NULL) {
        stream_release(stream);
        return NULL;
    }
    reader->base.operations = &stream_operations;
    reader->stream = stream;
    return &reader->base;
}

struct blob_fill {
    int fd;
    struct digest_hasher hasher;
    const struct digest *digest;
    const char *mirror;
    int64_t position; /* where the next byte goes */
    int64_t extent;   /* bytes in the scratch file */
    int64_t size;     /* announced by the upstream; -1: not */
    struct flight *flight;
    const struct mirror_blob_follower *follower; /* NULL: none */
    struct blob_stream *stream;                  /* once followed; the fill's reference */
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
    fill->size = size;
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

/* The fill is large enough to follow: its flight's joiners, and the
 * caller's own client, read it from now on. Without memory it is not
 * followed (they are answered when it ends). */
static void start_stream(struct blob_fill *fill)
{
    fill->stream = stream_create(fill->fd, fill->size, fill->extent);
    if (fill->stream == NULL)
        return;
    flight_publish(fill->flight, fill->stream);
    if (fill->follower == NULL)
        return;
    stream_acquire(fill->stream);
    struct blob_reader *reader = stream_reader_create(fill->stream);
    if (reader != NULL)
        fill->follower->follow(fill->follower->context, reader, fill->size, METRICS_MIRROR_FETCHED);
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
    if (fill->stream != NULL)
        stream_grow(fill->stream, fill->extent);
    else if (fill->size > MIRROR_STREAM_START_BYTES && fill->extent >= MIRROR_STREAM_START_BYTES)
        start_stream(fill);
    return 0;
}

static int fill_blob(const struct tree *tree, struct blob_store *blobs, struct upstream *upstream,
                     const char *name, const char *remote, const struct digest *digest,
                     struct flight *flight, const struct mirror_blob_follower *follower)
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
    *fill = (struct blob_fill){.fd = mkstemp(path),
                               .digest = digest,
                               .mirror = mirror_name(upstream),
                               .size = -1,
                               .flight = flight,
                               .follower = follower};
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
    /* Verified: the responses following it may end now. Making it durable
     * and linking it is the tree's business, not theirs: a client waits for
     * neither (a commit that fails after leaves nothing linked, and the next
     * pull fetches again). */
    struct blob_stream *stream = fill->stream;
    if (stream != NULL && result == 0)
        stream_end(stream, 0);
    if (result == 0 && fdatasync(fill->fd) != 0)
        result = error_set(-errno, "cannot sync a mirrored blob: %s", strerror(errno));
    int verified = result == 0;
    close(fill->fd);
    free(fill);
    if (result == 0)
        result = repository_put_blob_file(tree, blobs, name, path, digest);
    unlink(path); /* gone already when the store took it */
    if (stream != NULL) {
        if (!verified) {
            log_message(LOG_LEVEL_WARN, "mirror: %s: %s; the responses streaming it are cut", name,
                        error_message());
            stream_end(stream, result); /* its readers fail */
        } else if (result < 0) {
            log_message(LOG_LEVEL_WARN,
                        "mirror: %s: %s; the verified bytes were served, nothing is kept", name,
                        error_message());
        }
        stream_release(stream);
    }
    return result;
}

int mirror_fill_blob(const struct tree *tree, struct blob_store *blobs, struct upstream *upstream,
                     const char *name, const char *remote, const struct digest *digest,
                     const struct mirror_blob_follower *follower,
                     enum metrics_mirror_outcome *outcome_out)
{
    last_outcome = METRICS_MIRROR_FAILED;
    char key[FLIGHT_KEY_MAX];
    snprintf(key, sizeof key, "b %s %s", name, digest->string);
    struct flight *mine;
    int result;
    struct blob_stream *stream = NULL;
    int joined = flight_join(key, &mine, &result, NULL, follower != NULL ? &stream : NULL);
    if (joined == 2) {
        int64_t size = stream->size; /* fixed; this reference holds the stream */
        struct blob_reader *reader = stream_reader_create(stream);
        if (reader == NULL)
            result = error_set(-ENOMEM, "out of memory");
        else {
            follower->follow(follower->context, reader, size, METRICS_MIRROR_JOINED);
            result = 0;
        }
        counted(upstream, METRICS_MIRROR_BLOB,
                result == 0 ? METRICS_MIRROR_JOINED : METRICS_MIRROR_FAILED);
        *outcome_out = last_outcome;
        return result;
    }
    if (joined == 1) {
        counted(upstream, METRICS_MIRROR_BLOB, METRICS_MIRROR_JOINED);
        *outcome_out = last_outcome;
        return result;
    }
    struct blob_info info;
    int64_t size = -1;
    int head = 1; /* 1: not asked */
    if (repository_stat_blob(tree, blobs, name, digest, &info) == 0) {
        result = 0; /* filled while this work waited for a thread */
        counted(upstream, METRICS_MIRROR_BLOB, METRICS_MIRROR_HIT);
    } else if (blob_store_stat(blobs, digest, &info) == 0 &&
               (head = upstream_head_blob(upstream, remote, digest, &size)) == 0 &&
               (size < 0 || size == info.size) &&
               repository_link_blob(tree, blobs, name, digest) == 0) {
        /* The store has the bytes (another repository's), and the upstream
         * says this repository has them too: linked, not fetched again. */
        result = 0;
        counted(upstream, METRICS_MIRROR_BLOB, METRICS_MIRROR_CHECKED);
    } else if (head == -ENOENT) {
        /* The upstream said this repository has no such blob: no GET to
         * hear it again. */
        result = upstream_failure(head, 0, digest->string);
        counted(upstream, METRICS_MIRROR_BLOB, METRICS_MIRROR_FAILED);
    } else {
        result = fill_blob(tree, blobs, upstream, name, remote, digest, mine, follower);
        counted(upstream, METRICS_MIRROR_BLOB,
                result == 0 ? METRICS_MIRROR_FETCHED : METRICS_MIRROR_FAILED);
    }
    flight_land(mine, result, NULL);
    *outcome_out = last_outcome;
    return result;
}
