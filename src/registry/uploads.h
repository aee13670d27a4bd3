/*
 * src/registry/uploads.h — blob uploads in progress: their files in the tree and the
 * running hash the server keeps for each.
 *
 * On disk an upload is T/repositories/<name>/_uploads/<id>/{data,startedat}
 * (Distribution's layout). In memory, a table keeps for each upload the
 * SHA-256 state of the bytes received so far, so that a chunked push is
 * hashed once as it arrives; the state is only a cache: when it is missing
 * (a restart, an eviction) or does not match the file, it is rebuilt by
 * reading the data file.
 *
 * One request at a time may write an upload: upload_acquire() takes it
 * (-REGISTRY_ERROR_BUSY if another request has it) and upload_release()
 * gives it back. Between the two, on a worker thread:
 *
 *     upload_append_begin(session, start);        // start: Content-Range or -1
 *     upload_append(session, data, length) ...    // any number of slices
 *     upload_append_end(session, ok, sync);       // keep (fdatasync), or roll back
 *     upload_commit(session, tree, blobs, &digest); // verify, rename, link
 *
 * A failed or cancelled append truncates the data file back to where it was,
 * and a failed commit (wrong digest) removes the upload, so nothing
 * half-written is left behind.
 */
#ifndef CAIRN_SRC_REGISTRY_UPLOADS_H
#define CAIRN_SRC_REGISTRY_UPLOADS_H

#include <stddef.h>
#include <stdint.h>
#include "drivers/blob_store.h"
#include "layout/digest.h"
#include "layout/names.h"
#include "layout/tree.h"

struct upload_sessions;
struct upload_session;

/* Where the time of the current request on an upload went (for the
 * diagnostics of large pushes; reset by upload_acquire). */
struct upload_timing {
    double write_seconds;  /* pwrite into the upload's data file */
    double hash_seconds;   /* SHA-256 of the new bytes */
    double sync_seconds;   /* fdatasync of the new bytes */
    double commit_seconds; /* verify, rename into blobs/, link, remove the upload */
};

int upload_sessions_create(struct upload_sessions **sessions_out);
void upload_sessions_destroy(struct upload_sessions *sessions);

/* Creates a new upload in <name> (directory, startedat, empty data), durably. */
int upload_start(const struct tree *tree, const char *name, char id_out[UPLOAD_ID_LENGTH + 1]);

/* The number of bytes received so far (-REGISTRY_ERROR_BLOB_UPLOAD_UNKNOWN). */
int upload_size(const struct tree *tree, const char *name, const char *id, int64_t *size_out);

int upload_acquire(struct upload_sessions *sessions, const struct tree *tree, const char *name,
                   const char *id, struct upload_session **session_out);
void upload_release(struct upload_sessions *sessions, struct upload_session *session);

/* The size of the upload's data when it was acquired or last appended to. */
int64_t upload_session_size(const struct upload_session *session);
const struct upload_timing *upload_session_timing(const struct upload_session *session);

/* `start` is where the client says its chunk begins (-1: append): anything
 * but the current size is -REGISTRY_ERROR_RANGE_INVALID. */
int upload_append_begin(struct upload_session *session, int64_t start);
int upload_append(struct upload_session *session, const char *data, size_t length);
/* The two halves of upload_append(), which two threads may run at the same
 * time over the same slices (each must see every slice, in order): one
 * writes the bytes, the other feeds the running hash. */
int upload_append_data(struct upload_session *session, const char *data, size_t length);
int upload_append_hash(struct upload_session *session, const char *data, size_t length);
/* ok: keep the appended bytes, with `sync` durably (a PATCH: the upload can
 * be resumed from them after a crash), without when upload_commit() follows
 * at once (it fdatasyncs the whole upload before the blob exists); !ok:
 * truncate them away. */
int upload_append_end(struct upload_session *session, int ok, int sync);

/* Verifies the data against `expected` and moves it into the blob store, links
 * it into the repository and removes the upload. On a digest mismatch
 * (-REGISTRY_ERROR_DIGEST_INVALID) the upload is removed as well. */
int upload_commit(struct upload_session *session, const struct tree *tree, struct blob_store *blobs,
                  const struct digest *expected);

/* Removes the upload's files (a client's DELETE). */
int upload_cancel(struct upload_session *session, const struct tree *tree);

#endif
