/*
 * tools/fsck_blobs.h — step 1 of cairn-fsck: every blob of T/blobs re-hashed,
 * in parallel, and the corrupt ones moved to the quarantine.
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
 */
#ifndef CAIRN_TOOLS_FSCK_BLOBS_H
#define CAIRN_TOOLS_FSCK_BLOBS_H

#include "layout/digest.h"
#include "layout/tree.h"
#include "tools/fsck.h"

/* Size of each read while hashing. */
#define FSCK_BLOB_READ_SIZE (1024 * 1024)

int fsck_blobs_verify(struct fsck_context *context);

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
