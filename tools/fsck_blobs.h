/*
 * tools/fsck_blobs.h — step 1 of cairn-fsck: the blobs, verified through one
 * pipeline for every store. The store's blobs are those of the tree's
 * T/blobs (all of them with the filesystem store; S3 keeps its manifests
 * there) and those it keeps elsewhere (S3's bucket), which it lists with a
 * blob_info. Each blob becomes a task that says where it is; the tasks are
 * re-hashed by `options->jobs` threads, biggest first, then reported in
 * digest order; only how a task is read, named and repaired depends on
 * where it is.
 *
 * 1. The tree's blobs (always). walk_blob_directories (layout/walk.h) lists
 *    T/blobs/<alg>/<xx>/<hex>: a directory whose name is a valid digest of
 *    <alg> is a blob; when <xx> is not <hex[0:2]> the blob is misplaced
 *    (neither server can find it) and is reported corrupt. Names outside the
 *    grammar are ignored here (temporary files are step 0's, fsck.h). `data` is
 *    re-hashed with digest_hasher (FSCK_BLOB_READ_SIZE reads,
 *    POSIX_FADV_SEQUENTIAL):
 *
 *   - `data` missing, or not a regular file   -> missing_blob_data
 *   - content hashes to another digest        -> corrupt_blob (truncated,
 *     flipped bits, wrong file), detail "content hashes to …, N bytes"
 *   - unreadable (EIO, EACCES)                 -> corrupt_blob, never repaired
 *
 *    The repairs run after the threads are done, one at a time, each under
 *    the GC lock (fsck_context.h) after re-checking: a corrupt blob is
 *    re-hashed under the lock and, if still wrong, renamed into the
 *    quarantine; a blob directory without `data` is removed only if it is
 *    empty. Sound blobs go to report->sound_blobs, the corrupt ones left in
 *    place to report->corrupt_blobs.
 *
 * 2. The store's listing (blob_store_list, every store): every blob it lists
 *    with a blob_info (kept outside the tree; the tree's come with NULL and
 *    were walked in 1) goes, with the listed size, to report->remote.blobs,
 *    sorted, one per digest. The link step checks existence and descriptor
 *    sizes against that set instead of asking the store once per link (a
 *    network round trip each). With options->deep each of them is
 *    re-hashed through blob_store_open() and blob_reader_read() in
 *    FSCK_REMOTE_READ_SIZE pieces: content that hashes to another digest,
 *    or fewer or more bytes than listed -> corrupt_blob; a failed read ->
 *    corrupt_blob "cannot verify"; a blob gone since the listing is marked
 *    `gone` (removed meanwhile, not a problem). A digest the tree holds too
 *    is not read again: the store serves the tree's copy, verified in 1.
 *    Corrupt ones go to report->corrupt_blobs, so their links are not
 *    reported again. Problems of such a blob name it "<store>:<digest>"
 *    ("s3:sha256:…"), and are never repaired, --repair or not: there is no
 *    quarantine in a bucket and cairn-fsck never deletes blob bytes. The
 *    report shows this part (report->remote.examined) for a store that
 *    keeps blobs outside the tree (blob_store_keeps_blobs_outside_tree).
 *
 * With options->progress, a line on stderr every 250 ms:
 *   "verified 1234/40000 blobs, 2.1 GB, 1.8 GB/s"
 */
#ifndef CAIRN_TOOLS_FSCK_BLOBS_H
#define CAIRN_TOOLS_FSCK_BLOBS_H

#include "layout/digest.h"
#include "layout/tree.h"
#include "tools/fsck_context.h"

/* Size of each read while hashing: a file of the tree, a blob the store
 * keeps outside it (one ranged GET each from a bucket). */
#define FSCK_BLOB_READ_SIZE (1024 * 1024)
#define FSCK_REMOTE_READ_SIZE (8 * 1024 * 1024)

/* Step 1 (above). A listing that fails fails the run. */
int fsck_blobs_verify(struct fsck_context *context);

/* Renames the blob file `data_path` of the blob directory `blob_directory`
 * (holding bytes that should hash to `digest`) to
 * R/.cairn-quarantine/<alg>/<hex>.<now> (a "-N" suffix if that name is
 * taken, layout/tree.h), writes the reason file beside it, then removes the
 * blob's directory if it is left empty. Never copies: a quarantine on
 * another file system is -EXDEV and the blob stays where it is. Once the
 * rename is done the result is 0: the reason file and the fsyncs after it
 * are best effort. `out` receives the quarantined file's path. */
int fsck_blob_quarantine(const struct tree *tree, const char *blob_directory, const char *data_path,
                         const struct digest *digest, long long now, const char *reason,
                         char out[TREE_PATH_MAX]);

#endif
