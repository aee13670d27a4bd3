/* drivers/s3.h */
#include "drivers/s3.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "drivers/fs.h"
#include "drivers/s3_config.h"
#include "layout/error.h"
#include "layout/gc_lock.h"
#include "layout/object_key.h"

struct s3_store {
    struct blob_store base;
    struct blob_store *local; /* the tree's own blobs/: manifests */
    const struct tree *tree;  /* for the GC run announcement (layout/gc_lock.h) */
    struct s3_client *client;
    char prefix[OBJECT_KEY_MAX];
    pthread_mutex_t clock_mutex;
    int clock_measured;
    long long clock_offset; /* a lower bound of (S3's clock - ours), seconds */
};

struct s3_reader {
    struct blob_reader base;
    struct s3_client *client;
    int64_t size;
    char key[OBJECT_KEY_MAX];
};

static const struct blob_store_operations s3_operations;

static struct s3_store *store_of(struct blob_store *store)
{
    return (struct s3_store *)store;
}

static int key_of(struct s3_store *store, const struct digest *digest, char key[OBJECT_KEY_MAX])
{
    return object_key_blob_data(store->prefix, digest, key);
}

/* The bucket failed (unreachable, refusing, timing out): -EREMOTEIO, which
 * the server answers with 503 UNAVAILABLE; "not there" stays -ENOENT. */
static int remote(int result)
{
    if (result >= 0 || result == -ENOENT || result == -ENOMEM || result == -EREMOTEIO)
        return result;
    char message[ERROR_MESSAGE_MAX];
    snprintf(message, sizeof message, "%s", error_message());
    return error_set(-EREMOTEIO, "%s", message);
}

/*
 * LastModified is stamped by S3's clock, the GC's cutoffs are read on ours
 * (layout/gc_lock.h, tools/gc_sweep.h). A scratch object tells the
 * difference once: S3 stamped it (truncating to seconds) before we saw the
 * answer at `after`, so S3's clock minus ours is at least
 * LastModified - after. Subtracting that lower bound from every LastModified
 * can only make a blob look younger than it is, never older: a freshen
 * after the GC's barrier is still seen as after it.
 */
static int clock_measure(struct s3_store *store)
{
    char tag[64], key[OBJECT_KEY_MAX];
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    snprintf(tag, sizeof tag, "%ld-%ld-%ld", (long)getpid(), (long)now.tv_sec, now.tv_nsec);
    int result = object_key_clock_probe(store->prefix, tag, key);
    if (result < 0)
        return result;
    if ((result = remote(s3_put_memory(store->client, key, "", 0))) < 0)
        return result;
    clock_gettime(CLOCK_REALTIME, &now);
    long long after = (long long)now.tv_sec + 1; /* rounded up */
    struct s3_object_info object;
    result = remote(s3_head_object(store->client, key, &object));
    s3_delete_object(store->client, key);
    if (result < 0)
        return result == -ENOENT ? error_set(-EREMOTEIO, "S3 lost the clock probe %s", key)
                                 : result;
    store->clock_offset = object.last_modified - after;
    store->clock_measured = 1;
    return 0;
}

static int info_from_object(struct s3_store *store, const struct s3_object_info *object,
                            struct blob_info *out)
{
    pthread_mutex_lock(&store->clock_mutex);
    int result = store->clock_measured ? 0 : clock_measure(store);
    long long offset = store->clock_offset;
    pthread_mutex_unlock(&store->clock_mutex);
    if (result < 0)
        return result;
    out->size = object->size;
    out->modified_seconds = object->last_modified - offset;
    return 0;
}

/* The bucket's object of `digest` (one HEAD). */
static int bucket_stat(struct s3_store *store, const struct digest *digest, struct blob_info *out)
{
    char key[OBJECT_KEY_MAX];
    struct s3_object_info object;
    int result;
    if ((result = key_of(store, digest, key)) < 0 ||
        (result = remote(s3_head_object(store->client, key, &object))) < 0)
        return result;
    return info_from_object(store, &object, out);
}

static int s3_stat(struct blob_store *base, const struct digest *digest, struct blob_info *out)
{
    struct s3_store *store = store_of(base);
    int result = blob_store_stat(store->local, digest, out);
    if (result != -ENOENT)
        return result;
    return bucket_stat(store, digest, out);
}

static int s3_open(struct blob_store *base, const struct digest *digest,
                   struct blob_reader **reader_out, struct blob_info *info_out)
{
    struct s3_store *store = store_of(base);
    *reader_out = NULL;
    int result = blob_store_open(store->local, digest, reader_out, info_out);
    if (result != -ENOENT)
        return result;
    struct s3_reader *reader = calloc(1, sizeof *reader);
    if (reader == NULL)
        return error_set(-ENOMEM, "out of memory");
    struct s3_object_info object;
    if ((result = key_of(store, digest, reader->key)) < 0 ||
        (result = remote(s3_head_object(store->client, reader->key, &object))) < 0) {
        free(reader);
        return result;
    }
    if (info_out != NULL && (result = info_from_object(store, &object, info_out)) < 0) {
        free(reader);
        return result;
    }
    reader->base.operations = &s3_operations;
    reader->client = store->client;
    reader->size = object.size;
    *reader_out = &reader->base;
    return 0;
}

static ssize_t s3_read(struct blob_reader *base, void *buffer, size_t length, int64_t offset)
{
    struct s3_reader *reader = (struct s3_reader *)base;
    if (offset < 0)
        return error_set(-EINVAL, "negative read offset %lld", (long long)offset);
    if (offset >= reader->size || length == 0)
        return 0;
    if ((int64_t)length > reader->size - offset)
        length = (size_t)(reader->size - offset);
    ssize_t count = s3_get_range(reader->client, reader->key, offset, buffer, length);
    return count < 0 ? remote((int)count) : count;
}

static void s3_close(struct blob_reader *base)
{
    free(base);
}

/* How much later than a running sweep's mark start an object's
 * LastModified (on our clock) must be for a writer to skip the copy: covers
 * the rounding and latency of two clock probes (the writer's and the GC's). */
#define MARK_MARGIN_SECONDS 60

/*
 * Whether a re-used object must be freshened before a writer links it. Only
 * if a cairn-gc run is announced (layout/gc_lock.h) and the object is not
 * clearly younger than its mark start: otherwise any sweep's barrier comes
 * after this writer's links, or the object is already too young to be
 * swept. Any doubt answers yes.
 */
static int needs_freshening(struct s3_store *store, const struct s3_object_info *object)
{
    long long mark_start;
    int result = gc_run_mark_start(store->tree, &mark_start);
    if (result == -ENOENT)
        return 0;
    struct blob_info info;
    if (result < 0 || mark_start == LLONG_MAX || info_from_object(store, object, &info) < 0)
        return 1;
    return info.modified_seconds < mark_start + MARK_MARGIN_SECONDS;
}

/* CopyObject (what s3_touch_object does) is limited to 5 GiB by AWS. */
#define COPY_SIZE_MAX (5LL * 1024 * 1024 * 1024)

/* Checks that the object at `key` exists (-ENOENT if not) and freshens it
 * (LastModified becomes now) when a running sweep could take it
 * (needs_freshening). An object too large to copy onto itself is left as it
 * is (0): only the grace protection of its re-use is lost (docs/s3.md,
 * Limits). */
static int touch(struct s3_store *store, const char *key)
{
    struct s3_object_info object;
    int result = remote(s3_head_object(store->client, key, &object));
    if (result < 0 || !needs_freshening(store, &object))
        return result;
    if (object.size > COPY_SIZE_MAX)
        return 0;
    return remote(s3_touch_object(store->client, key));
}

/* The hex digest as S3's x-amz-content-sha256 wants it, or NULL. */
static const char *payload_hash(const struct digest *digest)
{
    return digest->algorithm == DIGEST_SHA256 ? digest_hex(digest) : NULL;
}

static int s3_commit(struct blob_store *base, const char *file_path, const struct digest *digest)
{
    struct s3_store *store = store_of(base);
    char key[OBJECT_KEY_MAX];
    /* Bytes already kept on disk under this digest (a manifest also pushed
     * as a blob) stay there: freshen, drop the upload. */
    int result = blob_store_freshen(store->local, digest);
    if (result == -ENOENT) {
        if ((result = key_of(store, digest, key)) < 0)
            return result;
        /* Already in the bucket (s3_prepare sent it, or an earlier push):
         * not sent again, made fresh if a sweep could take it. */
        result = touch(store, key);
        if (result == -ENOENT)
            result = remote(s3_put_file(store->client, key, file_path, payload_hash(digest)));
    }
    if (result < 0)
        return result;
    if (unlink(file_path) < 0 && errno != ENOENT)
        return error_set(-errno, "cannot remove %s: %s", file_path, strerror(errno));
    return 0;
}

/* Before the GC lock: a blob not in the bucket yet is sent now, so that the
 * commit under the lock is a HEAD. Should a sweep delete it in between (it
 * is unreferenced until linked), the commit sends it again. */
static int s3_prepare(struct blob_store *base, const char *file_path, const struct digest *digest)
{
    struct s3_store *store = store_of(base);
    struct blob_info info;
    int result = blob_store_stat(store->local, digest, &info);
    if (result != -ENOENT)
        return result;
    char key[OBJECT_KEY_MAX];
    struct s3_object_info object;
    if ((result = key_of(store, digest, key)) < 0)
        return result;
    result = remote(s3_head_object(store->client, key, &object));
    if (result == -ENOENT)
        result = remote(s3_put_file(store->client, key, file_path, payload_hash(digest)));
    return result;
}

static int s3_put(struct blob_store *base, const struct digest *digest, const void *data,
                  size_t length)
{
    /* Manifests stay on local disk: small, and read on every pull. */
    return blob_store_put(store_of(base)->local, digest, data, length);
}

static int s3_freshen(struct blob_store *base, const struct digest *digest)
{
    struct s3_store *store = store_of(base);
    int result = blob_store_freshen(store->local, digest);
    if (result != -ENOENT)
        return result;
    char key[OBJECT_KEY_MAX];
    if ((result = key_of(store, digest, key)) < 0)
        return result;
    return touch(store, key);
}

static int s3_remove(struct blob_store *base, const struct digest *digest)
{
    struct s3_store *store = store_of(base);
    int result = blob_store_remove(store->local, digest);
    if (result != -ENOENT)
        return result;
    char key[OBJECT_KEY_MAX];
    if ((result = key_of(store, digest, key)) < 0)
        return result;
    return remote(s3_delete_object(store->client, key));
}

/* Blobs kept on local disk are served as the filesystem serves them, at
 * once; those of the bucket need the network (-EWOULDBLOCK with
 * BLOB_SERVE_NOW): a HEAD is answered from the object's HEAD, a GET with a
 * presigned URL when redirects are allowed, else with a reader of ranged
 * GETs. */
static int s3_serve(struct blob_store *base, const struct digest *digest, unsigned how,
                    struct blob_serving *out)
{
    struct s3_store *store = store_of(base);
    int result = blob_store_serve(store->local, digest, how, out);
    if (result != -ENOENT)
        return result;
    if (how & BLOB_SERVE_NOW)
        return error_set(-EWOULDBLOCK, "blob %s is in the bucket", digest->string);
    char key[OBJECT_KEY_MAX];
    if ((result = key_of(store, digest, key)) < 0)
        return result;
    if (!(how & BLOB_SERVE_BODY)) {
        if ((result = bucket_stat(store, digest, &out->info)) < 0)
            return result;
        (void)touch(store, key); /* a HEAD hit (blob_store.h) */
        out->kind = BLOB_SERVED_INFO;
        return 0;
    }
    if (how & BLOB_SERVE_REDIRECT_ALLOWED) {
        if ((result = bucket_stat(store, digest, &out->info)) < 0 ||
            (result = s3_presign_get(store->client, key, time(NULL), out->url, sizeof out->url)) <
                0)
            return result;
        out->kind = BLOB_SERVED_BY_REDIRECT;
        return 0;
    }
    if ((result = s3_open(base, digest, &out->reader, &out->info)) < 0)
        return result;
    out->kind = BLOB_SERVED_REMOTELY;
    return 0;
}

struct list_context {
    struct s3_store *store;
    blob_store_visit visit;
    void *context;
};

static int list_visit_object(const char *key, const struct s3_object_info *object, void *context)
{
    struct list_context *list = context;
    struct digest digest;
    /* Objects that are not blob data (a stray upload, a foreign file) are
     * not blobs: they are neither listed nor ever deleted. */
    if (object_key_parse_blob_data(list->store->prefix, key, &digest) < 0)
        return 0;
    struct blob_info info;
    int result = info_from_object(list->store, object, &info);
    if (result < 0)
        return result;
    return list->visit(&digest, &info, list->context);
}

static int s3_list(struct blob_store *base, blob_store_visit visit, void *context)
{
    struct s3_store *store = store_of(base);
    int result = blob_store_list(store->local, visit, context);
    if (result != 0)
        return result;
    char prefix[OBJECT_KEY_MAX];
    if ((result = object_key_blobs_prefix(store->prefix, prefix)) < 0)
        return result;
    struct list_context list = {store, visit, context};
    result = s3_list_objects(store->client, prefix, list_visit_object, &list);
    return result < 0 ? remote(result) : result;
}

static void s3_destroy(struct blob_store *base)
{
    struct s3_store *store = store_of(base);
    blob_store_destroy(store->local);
    s3_client_destroy(store->client);
    pthread_mutex_destroy(&store->clock_mutex);
    free(store);
}

static const struct blob_store_operations s3_operations = {
    .name = "s3",
    .flags = BLOB_STORE_OUTSIDE_TREE,
    .stat = s3_stat,
    .open = s3_open,
    .read = s3_read,
    .close = s3_close,
    .commit = s3_commit,
    .prepare = s3_prepare,
    .put = s3_put,
    .freshen = s3_freshen,
    .remove = s3_remove,
    .serve = s3_serve,
    .list = s3_list,
    .destroy = s3_destroy,
};

int blob_store_s3_create(const struct tree *tree, const struct s3_settings *settings,
                         struct blob_store **store_out)
{
    *store_out = NULL;
    int result = s3_settings_check(settings);
    if (result < 0)
        return result;
    struct s3_store *store = calloc(1, sizeof *store);
    if (store == NULL)
        return error_set(-ENOMEM, "out of memory");
    store->base.operations = &s3_operations;
    store->tree = tree;
    pthread_mutex_init(&store->clock_mutex, NULL);
    result = object_key_prefix_normalize(settings->root_directory, store->prefix);
    if (result == 0)
        result = blob_store_fs_create(tree, &store->local);
    if (result == 0)
        result = s3_client_create(settings, &store->client);
    if (result < 0) {
        blob_store_destroy(store->local);
        pthread_mutex_destroy(&store->clock_mutex);
        free(store);
        return result;
    }
    *store_out = &store->base;
    return 0;
}

int blob_store_s3_update(struct blob_store *base, const struct s3_settings *settings)
{
    if (!blob_store_is_s3(base))
        return error_set(-EINVAL, "not an S3 store");
    return s3_client_update(store_of(base)->client, settings);
}

int blob_store_s3_check(struct blob_store *base)
{
    if (!blob_store_is_s3(base))
        return error_set(-EINVAL, "not an S3 store");
    struct s3_store *store = store_of(base);
    pthread_mutex_lock(&store->clock_mutex);
    int result = clock_measure(store);
    pthread_mutex_unlock(&store->clock_mutex);
    return result;
}

int blob_store_is_s3(const struct blob_store *store)
{
    return store != NULL && store->operations == &s3_operations;
}
