/*
 * drivers/blob_store.h — where blob bytes live, behind one small interface.
 *
 * Callers (the server, cairn-gc, cairn-fsck) never touch blobs/ directly: they
 * ask a `struct blob_store` to stat, read, commit, freshen or delete a blob by
 * digest. Each backend is one file (drivers/fs.c keeps blobs in the tree;
 * an S3 backend can follow) that fills a `struct blob_store_operations`.
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
 *  - A store whose operations carry BLOB_STORE_REMOTE (S3) may wait on the
 *    network in any call: the server makes those calls on worker threads,
 *    never on an event loop.
 *  - blob_store_redirect() gives a URL from which a client may fetch the blob
 *    itself (S3's presigned GET); -ENOTSUP where bytes must be served by the
 *    caller (the filesystem, and blobs an S3 store keeps on local disk).
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
    BLOB_STORE_REMOTE = 1 << 0, /* calls may block on the network */
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
    void (*close)(struct blob_reader *reader);
    int (*commit)(struct blob_store *store, const char *file_path, const struct digest *digest);
    int (*prepare)(struct blob_store *store, const char *file_path, const struct digest *digest);
    int (*put)(struct blob_store *store, const struct digest *digest, const void *data,
               size_t length);
    int (*freshen)(struct blob_store *store, const struct digest *digest);
    int (*remove)(struct blob_store *store, const struct digest *digest);
    int (*redirect)(struct blob_store *store, const struct digest *digest, char *url,
                    size_t url_size);
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
/* Writes a URL (at most url_size bytes) from which the blob can be fetched
 * directly for a limited time. -ENOTSUP when the store cannot (the caller
 * serves the bytes itself); it does not check that the blob exists. */
int blob_store_redirect(struct blob_store *store, const struct digest *digest, char *url,
                        size_t url_size);
/* Visits every blob of the store (in no promised order); a non-zero return
 * of `visit` stops the listing and is returned. */
int blob_store_list(struct blob_store *store, blob_store_visit visit, void *context);
/* 1 when calls may wait on the network (BLOB_STORE_REMOTE). */
int blob_store_is_remote(const struct blob_store *store);
void blob_store_destroy(struct blob_store *store);

#endif
