/*
 * tools/fsck_context.h — what the steps of one cairn-fsck run share: the
 * tree, the blob store, the options, the report being filled, and the GC
 * lock every repair holds.
 *
 * tools/fsck.c makes one context per run and hands it to each step
 * (fsck_blobs.h, fsck_links.h, and its own); a step takes the lock with
 * fsck_repair_lock() or fsck_confirm_lock() around one re-check and its
 * repair, and releases it with fsck_repair_unlock().
 */
#ifndef CAIRN_TOOLS_FSCK_CONTEXT_H
#define CAIRN_TOOLS_FSCK_CONTEXT_H

#include <time.h>

#include "drivers/blob_store.h"
#include "layout/tree.h"
#include "tools/fsck_report.h"

/* Uploads older than this are "stale" (Distribution's purge default). */
#define FSCK_STALE_UPLOAD_SECONDS (168LL * 3600)

struct fsck_options {
    int repair;
    unsigned jobs; /* blob verification threads (>= 1) */
    int progress;  /* print a progress line on stderr (a terminal) */
    int deep; /* re-hash the blobs a store keeps outside the tree too (the tree's always are) */
    long long now; /* seconds since the epoch, for upload ages */
    long long stale_upload_seconds;
};

/* What the steps share during a run. */
struct fsck_context {
    const struct tree *tree;
    struct blob_store *store;
    const struct fsck_options *options;
    struct fsck_report *report;
    int lock_fd;             /* the GC lock's descriptor, -1 until first needed */
    struct timespec started; /* CLOCK_REALTIME at the start of the run */
};

/* Takes the GC lock EXCLUSIVE for one repair (opening, and creating, the lock
 * file on first use); fsck_repair_unlock() releases it. */
int fsck_repair_lock(struct fsck_context *context);
void fsck_repair_unlock(struct fsck_context *context);

/* Takes the GC lock EXCLUSIVE to confirm a problem before reporting it: a
 * writer holds the lock shared while it writes a group of links, so a link
 * problem seen in passing (a tag being written: its index entry before its
 * current link) is gone once the lock is held. With --repair it is
 * fsck_repair_lock(); without, the lock file is only opened if it exists
 * (the run stays read-only) and 1 is returned when there is none (no cairn
 * ever wrote to this tree: nothing to wait for). Release with
 * fsck_repair_unlock(). */
int fsck_confirm_lock(struct fsck_context *context);

#endif
