/*
 * drivers/blob_store.h — where blob bytes live, behind one small interface.
 *
 * Callers (the server, cairn-gc, cairn-fsck) never touch blobs/ directly: they
 * ask a `struct blob_store` to stat, read, commit, freshen or delete a blob by
 * digest. Each backend is one file (drivers/fs.c keeps blobs in the tree;
 * drivers/s3.c keeps them in a bucket) that fills a
 * `struct blob_store_operations`.
 *
 * Invariants:
 *  - A blob is only ever created by committing a verified upload file
 *    (blob_store_commit) or by blob_store_put of bytes whose digest the
 *    caller computed; both are durable when they return 0.
 *  - Committing a digest that already exists discards the new file and
 *    freshens the existing blob (its modification time becomes now), which is
 *    what protects re-used blobs from a concurrent GC's grace period.
 *  - Readers are positional (pread-like), so one open reader can serve any
 *    Range request and several threads never share a file offset.
 *  - Any call but blob_store_serve() with BLOB_SERVE_NOW may wait on the
 *    network (a bucket): the server makes them on worker threads.
 *
 * Serving a blob to a client. The store, not the caller, knows how a blob is
 * best served, so the caller asks once and is told:
 *
 *   BLOB_SERVED_LOCALLY   from a file in the tree: the reader never waits on
 *                         the network, read it anywhere (an event loop too);
 *   BLOB_SERVED_REMOTELY  the reader's reads wait on the network (ranged GETs
 *                         of a bucket): make them on worker threads;
 *   BLOB_SERVED_BY_REDIRECT  the client fetches the bytes itself from `url`
 *                         (S3's presigned GET), for a limited time;
 *   BLOB_SERVED_INFO      what a HEAD asked for: the size only, no reader.
 *
 * An event loop must never wait on the network, and it cannot know which
 * blobs would make it wait (an S3 store keeps manifests on local disk). So it
 * asks with BLOB_SERVE_NOW: the store answers at once when it can without the
 * network (the filesystem always can) and returns -EWOULDBLOCK when it
 * cannot; the caller then asks again, without BLOB_SERVE_NOW, on a worker
 * thread, and passes the answer back to its loop:
 *
 *     struct blob_serving serving;
 *     unsigned how = BLOB_SERVE_BODY | BLOB_SERVE_REDIRECT_ALLOWED;
 *     int result = blob_store_serve(store, &digest, how | BLOB_SERVE_NOW, &serving);
 *     if (result == -EWOULDBLOCK) ... blob_store_serve(store, &digest, how, &serving)
 *                                     on a worker
 *     ... 307 to serving.url, or send serving.info.size bytes from
 *     serving.reader (on workers when BLOB_SERVED_REMOTELY) ...
 *     blob_reader_close(serving.reader);
 *
 * Reading a blob yourself (the tools, manifests):
 *
 *     struct blob_reader *reader;
 *     struct blob_info info;
 *     if (blob_store_open(store, &digest, &reader, &info) == 0) {
 *         ssize_t n = blob_reader_read(reader, buffer, sizeof buffer, offset);
 *         blob_reader_close(reader);
 *     }
 */
#ifndef CAIRN_DRIVERS_BLOB_STORE_H
#define CAIRN_DRIVERS_BLOB_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "layout/digest.h"

struct blob_store;
struct blob_reader;

struct blob_info {
    int64_t size;
    long long modified_seconds; /* mtime, seconds since the epoch */
};

/* Flags of a backend. */
enum {
    /* Keeps blobs outside the tree (a bucket): it lists them with their
     * blob_info, and a checker cannot walk them (blob_store_list). */
    BLOB_STORE_OUTSIDE_TREE = 1 << 0,
};

/* What blob_store_serve() is asked for (flags). */
enum {
    /* The bytes are wanted (a GET); without it only the size is (a HEAD),
     * and the blob is freshened: a HEAD hit is how a client decides to re-use
     * a blob without pushing it, so a running GC's cutoff must protect it
     * (docs/gc.md). A failure to freshen is not reported. */
    BLOB_SERVE_BODY = 1 << 0,
    /* The client may be sent to fetch the bytes elsewhere. */
    BLOB_SERVE_REDIRECT_ALLOWED = 1 << 1,
    /* Never wait on the network: -EWOULDBLOCK instead (an event loop asks). */
    BLOB_SERVE_NOW = 1 << 2,
};

/* How blob_store_serve() says the blob is served (the opening comment). */
enum blob_serving_kind {
    BLOB_SERVED_INFO,
    BLOB_SERVED_LOCALLY,
    BLOB_SERVED_REMOTELY,
    BLOB_SERVED_BY_REDIRECT,
};

/* Presigned URLs are a few hundred bytes; S3 keys are at most 1 KiB. */
#define BLOB_URL_MAX 4096

struct blob_serving {
    enum blob_serving_kind kind;
    struct blob_info info;      /* the blob's size and time (every kind) */
    struct blob_reader *reader; /* LOCALLY, REMOTELY: the caller closes it */
    char url[BLOB_URL_MAX];     /* BY_REDIRECT */
};

/* Called for each blob of a listing. `info` is NULL when the backend cannot
 * tell size and time without another call (the filesystem: stat on demand). */
typedef int (*blob_store_visit)(const struct digest *digest, const struct blob_info *info,
                                void *context);

struct blob_store_operations {
    const char *name;
    unsigned flags;
    int (*stat)(struct blob_store *store, const struct digest *digest, struct blob_info *out);
    int (*open)(struct blob_store *store, const struct digest *digest,
                struct blob_reader **reader_out, struct blob_info *info_out);
    ssize_t (*read)(struct blob_reader *reader, void *buffer, size_t length, int64_t offset);
    /* Optional: see blob_reader_ready(). */
    int (*ready)(struct blob_reader *reader, int64_t offset, size_t length,
                 void (*wake)(void *context), void *context);
    void (*close)(struct blob_reader *reader);
    int (*commit)(struct blob_store *store, const char *file_path, const struct digest *digest);
    int (*prepare)(struct blob_store *store, const char *file_path, const struct digest *digest);
    int (*put)(struct blob_store *store, const struct digest *digest, const void *data,
               size_t length);
    int (*freshen)(struct blob_store *store, const struct digest *digest);
    int (*remove)(struct blob_store *store, const struct digest *digest);
    int (*serve)(struct blob_store *store, const struct digest *digest, unsigned how,
                 struct blob_serving *out);
    int (*list)(struct blob_store *store, blob_store_visit visit, void *context);
    void (*destroy)(struct blob_store *store);
};

struct blob_store {
    const struct blob_store_operations *operations;
};

/* Backends embed this as the first member of their reader, so that
 * blob_reader_read() and blob_reader_close() can dispatch. */
struct blob_reader {
    const struct blob_store_operations *operations;
};

/* -ENOENT when the blob does not exist. */
int blob_store_stat(struct blob_store *store, const struct digest *digest, struct blob_info *out);
int blob_store_open(struct blob_store *store, const struct digest *digest,
                    struct blob_reader **reader_out, struct blob_info *info_out);
/* Reads up to `length` bytes at `offset`; returns the count (0 at the end) or
 * a negative errno. */
ssize_t blob_reader_read(struct blob_reader *reader, void *buffer, size_t length, int64_t offset);
/* For readers whose bytes arrive while they are read (a mirror's blob being
 * fetched, src/registry/mirror.h), so that a caller need not hold a thread
 * while they come: 1 when a read of `length` bytes at `offset` would not
 * wait now (or would fail at once); 0 when it would, and then `wake(context)`
 * is called exactly once, from another thread, when it no longer would. The
 * reader is not closed while a wake is pending. Readers of stores whose
 * bytes are all there (a file, a bucket) answer 1. */
int blob_reader_ready(struct blob_reader *reader, int64_t offset, size_t length,
                      void (*wake)(void *context), void *context);
void blob_reader_close(struct blob_reader *reader);

/* Reads a whole blob of at most `size_max` bytes into a malloc'd buffer
 * (-EFBIG if larger). Used for manifests. */
int blob_store_read_all(struct blob_store *store, const struct digest *digest, size_t size_max,
                        char **data_out, size_t *length_out);

/* Moves the file at `file_path` (already verified to hash to `digest`, on the
 * same file system as the tree) into the store; see the invariants above. */
int blob_store_commit(struct blob_store *store, const char *file_path, const struct digest *digest);
/* Optional first half of a commit, made before the caller takes the GC lock:
 * a remote store sends the bytes now (the long part), so that the commit
 * under the lock only has to check them. The file stays; blob_store_commit()
 * must still follow. A no-op where there is nothing to gain (fs). */
int blob_store_prepare(struct blob_store *store, const char *file_path,
                       const struct digest *digest);
/* Stores `length` bytes under `digest` (which the caller computed). An
 * existing blob is freshened instead. */
int blob_store_put(struct blob_store *store, const struct digest *digest, const void *data,
                   size_t length);
/* Sets the blob's modification time to now (-ENOENT if absent). */
int blob_store_freshen(struct blob_store *store, const struct digest *digest);
int blob_store_remove(struct blob_store *store, const struct digest *digest);
/* How the blob is served to a client (the opening comment): fills `out`,
 * or -ENOENT when the blob does not exist, -EWOULDBLOCK with BLOB_SERVE_NOW
 * when the answer needs the network. `how` is BLOB_SERVE_* flags. */
int blob_store_serve(struct blob_store *store, const struct digest *digest, unsigned how,
                     struct blob_serving *out);
/* Visits every blob of the store (in no promised order); a non-zero return
 * of `visit` stops the listing and is returned. */
int blob_store_list(struct blob_store *store, blob_store_visit visit, void *context);
/* 1 when the store may keep blobs outside the tree (BLOB_STORE_OUTSIDE_TREE):
 * where they are, for a report (cairn-fsck's section of them); never how to
 * call the store, which blob_store_serve() answers blob by blob. */
int blob_store_keeps_blobs_outside_tree(const struct blob_store *store);
void blob_store_destroy(struct blob_store *store);

#endif
