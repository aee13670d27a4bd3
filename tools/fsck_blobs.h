/*
 * tools/fsck_blobs.h — step 1 of cairn-fsck: every blob of T/blobs re-hashed,
 * in parallel, and the corrupt ones moved to the quarantine; with a remote
 * store (S3), that store's blobs listed and, with --deep, re-hashed too.
 *
 * The walk lists T/blobs/<alg>/<xx>/<hex>: a directory whose name is a valid
 * digest of <alg> is a blob; when <xx> is not <hex[0:2]> the blob is
 * misplaced (neither server can find it) and is reported corrupt. Names
 * outside the grammar are ignored here (temporary files are step 3's).
 *
 * Then `options->jobs` threads take the blobs, biggest first, and each
 * re-hashes `data` with digest_hasher (1 MiB reads, POSIX_FADV_SEQUENTIAL):
 *
 *   - `data` missing, or not a regular file   -> missing_blob_data
 *   - content hashes to another digest        -> corrupt_blob (truncated,
 *     flipped bits, wrong file), detail "content hashes to …, N bytes"
 *   - unreadable (EIO, EACCES)                 -> corrupt_blob, never repaired
 *
 * Findings are reported in digest order after the threads are done, and the
 * repairs run then, one at a time, each under the GC lock (fsck.h) after
 * re-checking: a corrupt blob is re-hashed under the lock and, if still
 * wrong, renamed into the quarantine; a blob directory without `data` is
 * removed only if it is empty. Sound blobs go to report->sound_blobs, the
 * corrupt ones left in place to report->corrupt_blobs.
 *
 * With options->progress, a line on stderr every 250 ms:
 *   "verified 1234/40000 blobs, 2.1 GB, 1.8 GB/s"
 *
 * A remote store (blob_store_is_remote) keeps some blobs in the tree
 * (manifests: fsck_blobs_verify walks and re-hashes them as above) and the
 * others itself. fsck_blobs_verify_remote() sees those only through the
 * store, never by path:
 *
 *   - blob_store_list(): every blob it lists with a blob_info (its own; the
 *     tree's come with NULL and were walked already) goes, with the listed
 *     size, to report->remote.blobs, sorted, one per digest. The link step
 *     checks existence and descriptor sizes against that set instead of
 *     asking the store once per link (a network round trip each).
 *   - with options->deep, `jobs` threads re-hash each of them, biggest first,
 *     through blob_store_open() and blob_reader_read() in
 *     FSCK_REMOTE_READ_SIZE pieces. Content that hashes to another digest,
 *     or fewer or more bytes than listed -> corrupt_blob; a failed read ->
 *     corrupt_blob "cannot verify"; a blob gone since the listing is marked
 *     `gone` (removed meanwhile, not a problem). A digest the tree holds too
 *     is not read again: the store serves the tree's copy, verified above.
 *     Corrupt ones go to report->corrupt_blobs, so their links are not
 *     reported again.
 *
 * Problems of a remote blob name it "<store>:<digest>" ("s3:sha256:…"), and
 * are never repaired, --repair or not: there is no quarantine in a bucket
 * and cairn-fsck never deletes blob bytes.
 */
#ifndef CAIRN_TOOLS_FSCK_BLOBS_H
#define CAIRN_TOOLS_FSCK_BLOBS_H

#include "layout/digest.h"
#include "layout/tree.h"
#include "tools/fsck.h"

/* Size of each read while hashing: a file of the tree, a blob of a remote
 * store (one ranged GET each). */
#define FSCK_BLOB_READ_SIZE (1024 * 1024)
#define FSCK_REMOTE_READ_SIZE (8 * 1024 * 1024)

int fsck_blobs_verify(struct fsck_context *context);

/* The remote store's part of step 1 (above); after fsck_blobs_verify(). A
 * listing that fails fails the run. */
int fsck_blobs_verify_remote(struct fsck_context *context);

/* Renames the blob file `data_path` (holding bytes that should hash to
 * `digest`) to R/.cairn-quarantine/<alg>/<hex>.<now> (a "-N" suffix if that
 * name is taken), writes `<that>.reason` with `reason`, then removes the
 * blob's directory if it is left empty. Never copies: a quarantine on
 * another file system is -EXDEV and the blob stays where it is. Once the
 * rename is done the result is 0: the .reason file and the fsyncs after it
 * are best effort. `out` receives the quarantined file's path. */
int fsck_blob_quarantine(const struct tree *tree, const char *data_path,
                         const struct digest *digest, long long now, const char *reason,
                         char out[TREE_PATH_MAX]);

#endif
