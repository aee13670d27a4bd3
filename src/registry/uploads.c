/* src/registry/uploads.h */
#include "src/registry/uploads.h"

#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "layout/atomic_file.h"
#include "layout/error.h"
#include "layout/upload_purge.h"
#include "src/observe/metrics.h"
#include "src/registry/registry_error.h"
#include "src/registry/repository.h"

/* Idle sessions beyond this are forgotten (their hash is rebuilt from disk). */
#define IDLE_SESSIONS_MAX 1024
/* O_DIRECT writes: offsets, lengths and memory aligned to this; used for
 * runs of at least DIRECT_MINIMUM bytes, through a bounce buffer. */
#define DIRECT_ALIGNMENT 4096
#define DIRECT_MINIMUM (64 * 1024)
#define DIRECT_BOUNCE_SIZE (1024 * 1024)

struct upload_session {
    struct upload_session *next;
    char name[REPOSITORY_NAME_MAX + 1];
    char id[UPLOAD_ID_LENGTH + 1];
    int busy;
    atomic_int removed; /* set by its owner, read by any release: atomic */
    int fd;
    int direct_fd; /* the same file opened O_DIRECT, or -1 */
    const struct tree *tree;
    char *bounce; /* DIRECT_BOUNCE_SIZE bytes, aligned, while an append runs */
    int64_t size;
    int64_t append_start;
    int has_hasher;
    struct upload_timing timing;
    int64_t hashed_size;
    struct digest_hasher hasher; /* SHA-256 of data[0, hashed_size) */
};

struct upload_sessions {
    pthread_mutex_t mutex;
    struct upload_session *head;
    size_t idle_count;
};

int upload_sessions_create(struct upload_sessions **sessions_out)
{
    struct upload_sessions *sessions = calloc(1, sizeof *sessions);
    if (sessions == NULL)
        return error_set(-ENOMEM, "out of memory");
    pthread_mutex_init(&sessions->mutex, NULL);
    *sessions_out = sessions;
    return 0;
}

static void session_free(struct upload_session *session)
{
    if (session->has_hasher)
        digest_hasher_release(&session->hasher);
    if (session->fd >= 0)
        close(session->fd);
    if (session->direct_fd >= 0)
        close(session->direct_fd);
    free(session->bounce);
    free(session);
}

void upload_sessions_destroy(struct upload_sessions *sessions)
{
    if (sessions == NULL)
        return;
    while (sessions->head != NULL) {
        struct upload_session *next = sessions->head->next;
        session_free(sessions->head);
        sessions->head = next;
    }
    pthread_mutex_destroy(&sessions->mutex);
    free(sessions);
}

int upload_start(const struct tree *tree, const char *name, char id_out[UPLOAD_ID_LENGTH + 1])
{
    char path[TREE_PATH_MAX], started_at[40];
    struct timespec now;
    int result = upload_id_generate(id_out);
    if (result < 0)
        return result;
    result = tree_path_upload_started_at(tree, name, id_out, path);
    if (result < 0)
        return result;
    clock_gettime(CLOCK_REALTIME, &now);
    tree_format_started_at(now.tv_sec, now.tv_nsec, started_at);
    /* The repository's directories up to _uploads are durable (a new
     * repository's directory is where its links will go; in a known
     * repository this is one mkdir that finds it there). The upload itself
     * is scratch until its commit: nothing of its start is fsynced (a crash
     * may lose it; the client is then told 404 BLOB_UPLOAD_UNKNOWN and
     * starts again, docs/layout.md). */
    char uploads[TREE_PATH_MAX];
    result = tree_path_uploads_directory(tree, name, uploads);
    if (result == 0)
        result = directory_create(uploads);
    if (result == 0)
        result = atomic_file_write_scratch(path, started_at, strlen(started_at));
    if (result == 0)
        result = tree_path_upload_data(tree, name, id_out, path);
    if (result == 0) {
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0)
            result = error_set(-errno, "cannot create %s: %s", path, strerror(errno));
        else
            close(fd);
    }
    if (result == 0) {
        metrics_upload_started();
        return 0;
    }
    /* A failed start leaves no directory either (its message is kept). */
    char directory[TREE_PATH_MAX], message[ERROR_MESSAGE_MAX];
    snprintf(message, sizeof message, "%s", error_message());
    if (tree_path_upload_directory(tree, name, id_out, directory) == 0 &&
        directory_remove_tree(directory) == 0)
        (void)upload_remove_empty_directories(tree, name);
    return error_set(result, "%s", message);
}

int upload_size(const struct tree *tree, const char *name, const char *id, int64_t *size_out)
{
    char path[TREE_PATH_MAX];
    struct stat status;
    if (tree_path_upload_data(tree, name, id, path) < 0 || stat(path, &status) != 0)
        return error_set(-REGISTRY_ERROR_BLOB_UPLOAD_UNKNOWN, "upload %s unknown", id);
    *size_out = status.st_size;
    return 0;
}

int upload_acquire(struct upload_sessions *sessions, const struct tree *tree, const char *name,
                   const char *id, struct upload_session **session_out)
{
    char path[TREE_PATH_MAX];
    if (tree_path_upload_data(tree, name, id, path) < 0)
        return error_set(-REGISTRY_ERROR_BLOB_UPLOAD_UNKNOWN, "upload %s unknown", id);

    pthread_mutex_lock(&sessions->mutex);
    struct upload_session **link = &sessions->head, *session = NULL;
    for (; *link != NULL; link = &(*link)->next)
        if (strcmp((*link)->id, id) == 0 && strcmp((*link)->name, name) == 0) {
            session = *link;
            break;
        }
    if (session != NULL && session->busy) {
        pthread_mutex_unlock(&sessions->mutex);
        return error_set(-REGISTRY_ERROR_BUSY, "upload %s is busy", id);
    }
    if (session == NULL) {
        session = calloc(1, sizeof *session);
        if (session == NULL) {
            pthread_mutex_unlock(&sessions->mutex);
            return error_set(-ENOMEM, "out of memory");
        }
        strcpy(session->name, name);
        strcpy(session->id, id);
        session->fd = -1;
        session->direct_fd = -1;
        session->next = sessions->head;
        sessions->head = session;
    } else {
        sessions->idle_count--;
    }
    session->busy = 1;
    pthread_mutex_unlock(&sessions->mutex);

    int fd = open(path, O_RDWR | O_CLOEXEC);
    struct stat status;
    if (fd < 0 || fstat(fd, &status) != 0) {
        int error = errno;
        if (fd >= 0)
            close(fd);
        session->removed = 1;
        upload_release(sessions, session);
        if (error == ENOENT)
            return error_set(-REGISTRY_ERROR_BLOB_UPLOAD_UNKNOWN, "upload %s unknown", id);
        return error_set(-error, "cannot open upload %s: %s", id, strerror(error));
    }
    session->fd = fd;
    session->tree = tree;
    session->size = status.st_size;
    memset(&session->timing, 0, sizeof session->timing);
    *session_out = session;
    return 0;
}

void upload_release(struct upload_sessions *sessions, struct upload_session *session)
{
    if (session->fd >= 0) {
        close(session->fd);
        session->fd = -1;
    }
    if (session->direct_fd >= 0) {
        close(session->direct_fd);
        session->direct_fd = -1;
    }
    free(session->bounce);
    session->bounce = NULL;
    pthread_mutex_lock(&sessions->mutex);
    session->busy = 0;
    if (!session->removed)
        sessions->idle_count++;
    struct upload_session **link = &sessions->head;
    while (*link != NULL) {
        struct upload_session *candidate = *link;
        int forget =
            candidate->removed || (!candidate->busy && sessions->idle_count > IDLE_SESSIONS_MAX);
        if (forget && !candidate->busy) {
            if (!candidate->removed)
                sessions->idle_count--;
            *link = candidate->next;
            session_free(candidate);
            continue;
        }
        link = &candidate->next;
    }
    pthread_mutex_unlock(&sessions->mutex);
}

int64_t upload_session_size(const struct upload_session *session)
{
    return session->size;
}

/* Makes the running SHA-256 cover exactly the data file's current bytes. */
static int hasher_catch_up(struct upload_session *session)
{
    if (session->has_hasher && session->hashed_size == session->size)
        return 0;
    if (session->has_hasher)
        digest_hasher_release(&session->hasher);
    session->has_hasher = 0;
    int result = digest_hasher_init(&session->hasher, DIGEST_SHA256);
    if (result < 0)
        return result;
    session->has_hasher = 1;
    result = digest_hasher_update_from_file(&session->hasher, session->fd, session->size);
    if (result < 0) {
        digest_hasher_release(&session->hasher);
        session->has_hasher = 0;
        return result;
    }
    session->hashed_size = session->size;
    return 0;
}

int upload_append_begin(struct upload_session *session, int64_t start)
{
    if (start >= 0 && start != session->size)
        return error_set(-REGISTRY_ERROR_RANGE_INVALID,
                         "chunk starts at %lld but the upload has %lld bytes", (long long)start,
                         (long long)session->size);
    session->append_start = session->size;
    int result = hasher_catch_up(session);
    if (result < 0 || session->direct_fd >= 0)
        return result;
    /* O_DIRECT is an optimisation: a file system without it is written
     * through the page cache. */
    char path[TREE_PATH_MAX];
    if (tree_path_upload_data(session->tree, session->name, session->id, path) == 0 &&
        posix_memalign((void **)&session->bounce, DIRECT_ALIGNMENT, DIRECT_BOUNCE_SIZE) == 0) {
        session->direct_fd = open(path, O_WRONLY | O_DIRECT | O_CLOEXEC);
        if (session->direct_fd < 0) {
            free(session->bounce);
            session->bounce = NULL;
        }
    }
    return 0;
}

static double now_seconds(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

const struct upload_timing *upload_session_timing(const struct upload_session *session)
{
    return &session->timing;
}

static int write_all(struct upload_session *session, int fd, const char *data, size_t length,
                     int64_t offset)
{
    size_t written = 0;
    while (written < length) {
        ssize_t count = pwrite(fd, data + written, length - written, offset + (int64_t)written);
        if (count < 0) {
            if (errno == EINTR)
                continue;
            return error_set(-errno, "cannot write upload %s: %s", session->id, strerror(errno));
        }
        if (count == 0)
            return error_set(-EIO, "cannot write upload %s: no progress", session->id);
        written += (size_t)count;
    }
    return 0;
}

/* Whole aligned pages go through the O_DIRECT descriptor (copied through the
 * aligned bounce buffer): no page cache to fill and flush later, which on a
 * large push is most of the cost of writing. The unaligned head and tail of
 * a slice are written through the page cache. */
static int write_slice(struct upload_session *session, const char *data, size_t length)
{
    int64_t offset = session->size;
    size_t head = (size_t)((DIRECT_ALIGNMENT - offset % DIRECT_ALIGNMENT) % DIRECT_ALIGNMENT);
    if (session->direct_fd < 0 || length < head + DIRECT_MINIMUM)
        return write_all(session, session->fd, data, length, offset);
    int result = write_all(session, session->fd, data, head, offset);
    size_t done = head;
    while (result == 0 && length - done >= DIRECT_ALIGNMENT) {
        size_t piece = (length - done) / DIRECT_ALIGNMENT * DIRECT_ALIGNMENT;
        if (piece > DIRECT_BOUNCE_SIZE)
            piece = DIRECT_BOUNCE_SIZE;
        memcpy(session->bounce, data + done, piece);
        result =
            write_all(session, session->direct_fd, session->bounce, piece, offset + (int64_t)done);
        done += piece;
    }
    if (result == 0)
        result =
            write_all(session, session->fd, data + done, length - done, offset + (int64_t)done);
    return result;
}

int upload_append_data(struct upload_session *session, const char *data, size_t length)
{
    double started = now_seconds();
    int result = write_slice(session, data, length);
    session->timing.write_seconds += now_seconds() - started;
    if (result < 0)
        return result;
    session->size += (int64_t)length;
    return 0;
}

int upload_append_hash(struct upload_session *session, const char *data, size_t length)
{
    double started = now_seconds();
    int result = digest_hasher_update(&session->hasher, data, length);
    session->timing.hash_seconds += now_seconds() - started;
    if (result < 0)
        return result;
    session->hashed_size += (int64_t)length;
    return 0;
}

int upload_append(struct upload_session *session, const char *data, size_t length)
{
    int result = upload_append_data(session, data, length);
    return result < 0 ? result : upload_append_hash(session, data, length);
}

int upload_append_end(struct upload_session *session, int ok, int sync)
{
    if (ok && session->has_hasher && session->hashed_size != session->size)
        ok = 0; /* the hash and the data went apart: roll back */
    if (ok) {
        double started = now_seconds();
        int synced = !sync || session->size == session->append_start || fdatasync(session->fd) == 0;
        session->timing.sync_seconds += now_seconds() - started;
        if (synced)
            return 0;
        int error = errno;
        error_set(-error, "cannot sync upload %s: %s", session->id, strerror(error));
    }
    /* Roll back to where the append began; the hash is rebuilt next time. */
    if (ftruncate(session->fd, session->append_start) != 0)
        return error_set(-errno, "cannot truncate upload %s: %s", session->id, strerror(errno));
    session->size = session->append_start;
    if (session->has_hasher && session->hashed_size != session->size) {
        digest_hasher_release(&session->hasher);
        session->has_hasher = 0;
    }
    return ok ? -EIO : 0;
}

/* With `failed`, the directories a new repository got for this upload
 * go too (layout/upload_purge.h). */
static int remove_upload_directory(struct upload_session *session, const struct tree *tree,
                                   int failed)
{
    char path[TREE_PATH_MAX];
    int result = tree_path_upload_directory(tree, session->name, session->id, path);
    if (result < 0)
        return result;
    session->removed = 1;
    metrics_upload_finished();
    /* Not fsynced: an upload directory a crash brings back is stale
     * scratch, removed by the purge (docs/layout.md). */
    result = directory_remove_tree(path);
    if (result == 0 && failed)
        result = upload_remove_empty_directories(tree, session->name);
    return result;
}

int upload_commit(struct upload_session *session, const struct tree *tree, struct blob_store *blobs,
                  const struct digest *expected)
{
    struct digest actual;
    int result;
    if (expected->algorithm == DIGEST_SHA256) {
        struct digest_hasher copy;
        result = hasher_catch_up(session);
        if (result == 0)
            result = digest_hasher_copy(&copy, &session->hasher);
        if (result == 0)
            result = digest_hasher_finish(&copy, &actual);
    } else {
        struct digest_hasher hasher;
        result = digest_hasher_init(&hasher, expected->algorithm);
        if (result == 0) {
            result = digest_hasher_update_from_file(&hasher, session->fd, session->size);
            if (result == 0)
                result = digest_hasher_finish(&hasher, &actual);
            else
                digest_hasher_release(&hasher);
        }
    }
    if (result < 0)
        return result;
    if (!digest_equal(&actual, expected)) {
        remove_upload_directory(session, tree, 1);
        return error_set(-REGISTRY_ERROR_DIGEST_INVALID, "upload hashes to %s, not %s",
                         actual.string, expected->string);
    }

    double started = now_seconds();
    char data[TREE_PATH_MAX];
    result = tree_path_upload_data(tree, session->name, session->id, data);
    if (result < 0)
        return result;
    if (fdatasync(session->fd) != 0)
        return error_set(-errno, "cannot sync upload %s: %s", session->id, strerror(errno));
    /* A remote store sends the bytes before the lock (a sweep never waits
     * for a transfer), and only checks them under it. */
    if ((result = blob_store_prepare(blobs, data, expected)) < 0)
        return result;
    /* Under the GC lock: the blob is freshened (or renamed in, new) and
     * linked before a concurrent sweep can look at it again. */
    int lock = repository_writer_lock(tree);
    if (lock < 0)
        return lock;
    result = blob_store_commit(blobs, data, expected);
    if (result == 0)
        result = link_blob_locked(tree, blobs, session->name, expected);
    repository_writer_unlock(lock);
    if (result == 0)
        result = remove_upload_directory(session, tree, 0);
    session->timing.commit_seconds += now_seconds() - started;
    return result;
}

int upload_cancel(struct upload_session *session, const struct tree *tree)
{
    return remove_upload_directory(session, tree, 1);
}
