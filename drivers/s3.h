/*
 * drivers/s3.h — the S3 blob store: layers in a bucket, manifests on disk.
 *
 * Every blob committed from an upload (layers, configs) is put into the
 * bucket under the key layout/object_key.h gives it
 * (<rootdirectory>/docker/registry/v2/blobs/<alg>/<xx>/<hex>/data); blobs
 * stored with blob_store_put (manifests, which are small and read on every
 * pull) stay in the local tree through the filesystem store, as do the links,
 * tags and uploads in progress. Reads, freshening and removal look on local
 * disk first, then in the bucket.
 *
 * Invariants:
 *  - Commit returns 0 only after S3 confirmed the object (one PUT, or a
 *    completed multipart upload); the upload file is removed afterwards.
 *    blob_store_prepare() sends it before the caller takes the GC lock; the
 *    commit under the lock then only checks it. A blob already in the bucket
 *    is not sent again; while a cairn-gc run is announced (layout/gc_lock.h)
 *    and the object is not clearly younger than its mark start, freshening
 *    copies it onto itself so LastModified — the clock the sweep reads —
 *    becomes now.
 *  - LastModified is reported on our clock: S3's minus a lower bound of the
 *    difference, measured once with a scratch object, so a blob can only
 *    look younger than it is.
 *  - blob_store_serve() answers a GET of a bucket blob with a SigV4
 *    presigned GET URL valid for the configured lifetime (redirects allowed)
 *    or a reader of ranged GETs (BLOB_SERVED_REMOTELY); blobs kept on disk
 *    are served as the filesystem serves them. With BLOB_SERVE_NOW a bucket
 *    blob is -EWOULDBLOCK: only the local disk is looked at.
 *  - Every other call may wait on the network; the client retries
 *    idempotent calls with backoff and times out as configured.
 *
 *     struct blob_store *store;
 *     if (blob_store_s3_create(&tree, &settings, &store) < 0) ...
 *     blob_store_s3_update(store, &reloaded_settings);   // credentials etc.
 *     blob_store_destroy(store);
 */
#ifndef CAIRN_DRIVERS_S3_H
#define CAIRN_DRIVERS_S3_H

#include "drivers/blob_store.h"
#include "drivers/s3_client.h"
#include "layout/tree.h"

/* The tree must outlive the store. -EINVAL when the settings are incomplete
 * (no bucket, no credentials, a bad rootdirectory). */
int blob_store_s3_create(const struct tree *tree, const struct s3_settings *settings,
                         struct blob_store **store_out);

/* Applies what may change while running: credentials, timeouts, attempts,
 * part size and concurrency, presigned URL lifetime. */
int blob_store_s3_update(struct blob_store *store, const struct s3_settings *settings);

/* Writes, reads and deletes a scratch object (the clock probe): 0 when the
 * bucket answers and the credentials may write, else why not. */
int blob_store_s3_check(struct blob_store *store);

/* 1 when `store` is an S3 store. */
int blob_store_is_s3(const struct blob_store *store);

#endif
