/*
 * tools/fsck.h — one cairn-fsck run over a tree: what it found, what it
 * repaired, and the report (human or JSON).
 *
 * A run has four steps, in this order (each step sees the repairs of the
 * previous ones, so that one --repair pass repairs what it reports: a
 * blob directory holding only a temporary is an empty one once step 0
 * removed the temporary, a corrupt blob moved to the quarantine in step 1
 * makes its links dangling in step 2, where they are removed):
 *
 *   0. leftovers of interrupted writes: temporary files (atomic_file.h
 *      names) anywhere under T, and the hidden ('.') entries of every
 *      tags directory (an interrupted atomic tag change), both
 *      `temporary_file`; what changed since the run started is a write in
 *      progress and is skipped;
 *   1. blobs (fsck_blobs.h), the same way for every store: every blob
 *      directory of T/blobs re-hashed, in parallel; then the store's
 *      listing (blob_store_list), whose blobs kept outside the tree (a
 *      bucket: never by path) are re-hashed through blob readers with
 *      options->deep;
 *   2. links (fsck_links.h): every link file of every repository, and every
 *      manifest a revision names, with the size every config and layer
 *      descriptor gives;
 *   3. stale uploads (older than FSCK_STALE_UPLOAD_SECONDS).
 *
 * Then the orphaned blobs: sound blobs (of the tree, or listed by the store
 * and not found corrupt) that no link refers to (information for the
 * operator and cairn-gc, not a problem).
 *
 * The blobs of the tree are always re-hashed: with the filesystem store,
 * which keeps every blob there, the run is the same with or without
 * options->deep.
 *
 * The steps share a `struct fsck_context` (fsck_context.h: the GC lock of
 * repairs) and fill a `struct fsck_report` (fsck_report.h: problems,
 * counters, printing); this module only runs them in order, and steps 0
 * and 3.
 *
 * Repair policy (docs/fsck.md): only what is proven wrong is touched, and
 * blob bytes are never deleted: a corrupt blob is renamed into the quarantine
 * (R/.cairn-quarantine/<alg>/<hex>.<unix-time>, with a .reason file). Each
 * repair holds the GC lock (gc_lock.h) EXCLUSIVE and re-checks its problem
 * under the lock first, so a server writing to the tree never sees a repair
 * half-done, and a problem a writer fixed meanwhile is left alone. Without
 * --repair the run is read-only (it does not even create the lock file).
 * Blobs a store keeps outside the tree are never moved or deleted, even with
 * --repair (there is no quarantine in a bucket): corrupt ones are reported
 * only.
 *
 *     struct fsck_options options = {.jobs = 4, .repair = 0, .now = time(NULL),
 *                                    .stale_upload_seconds = FSCK_STALE_UPLOAD_SECONDS};
 *     struct fsck_report report;
 *     fsck_report_init(&report);
 *     if (fsck_run(&tree, store, &options, &report) < 0) ... error_message()
 *     fsck_report_print_json(stdout, &report);
 *     int sound = report.problem_count == 0;
 *     fsck_report_clear(&report);
 */
#ifndef CAIRN_TOOLS_FSCK_H
#define CAIRN_TOOLS_FSCK_H

#include "drivers/blob_store.h"
#include "layout/tree.h"
#include "tools/fsck_context.h"
#include "tools/fsck_report.h"

/* The whole run (steps above). Returns 0 when the tree could be examined
 * (whether sound or not: see report->problem_count), or a negative errno
 * when the run itself failed (out of memory, tree unreadable). */
int fsck_run(const struct tree *tree, struct blob_store *store, const struct fsck_options *options,
             struct fsck_report *report);

#endif
