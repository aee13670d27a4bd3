/*
 * tools/gc_sweep.h — cairn-gc's sweep: what the mark (gc_mark.h) did not
 * keep is deleted, safely beside a server that keeps taking pushes.
 *
 * The protocol (docs/gc.md has the interleavings and why each is safe):
 *
 *   1. gc_sweep_mark_start() records `mark_start` (CLOCK_REALTIME), then
 *      takes the GC lock EXCLUSIVE once and releases it: a barrier. A writer
 *      that held the lock SHARED across mark_start has finished (its links
 *      are visible to the mark, which starts after); any later writer
 *      freshens what it references after mark_start. Only then is the tree
 *      marked.
 *   2. cutoff = min(now - grace, mark_start) - 1 s. Anything younger than the
 *      cutoff is never deleted: writers freshen every blob they make
 *      reachable and rewrite the links they set.
 *   3. Everything is deleted under the GC lock EXCLUSIVE, in batches (at most
 *      `batch_max` deletions or `batch_milliseconds` per hold, so writers
 *      wait little), each candidate re-checked under the lock just before:
 *        - revisions (with --delete-untagged): on every acquisition the
 *          repository's current tags and every revision whose link is
 *          younger than the cutoff are re-marked (gc_mark_keep), so a tag set
 *          or a manifest pushed since the mark keeps what it reaches; then
 *          an unkept revision loses its link, its tags' index entries and
 *          its referrer entry;
 *        - revisions of evicting repositories (gc_mark.h), with or without
 *          --delete-untagged, the same way, except that a tag's target and
 *          a revision are re-marked only when their revision link is younger
 *          than the repository's pulled_since or the cutoff (pulled, filled
 *          or re-checked since), and the deleted revision takes the tags
 *          naming it along;
 *        - blobs: not marked and data mtime older than the cutoff, re-stat'ed
 *          under the lock (a blob freshened since is kept: kept_freshened);
 *        - `_layers` links whose blob is absent (re-checked under the lock:
 *          an upload may have re-created it);
 *        - leftovers of interrupted writes anywhere in the tree: atomic_file
 *          temporaries last written before the cutoff, and hidden ('.')
 *          entries of a tags directory (an interrupted atomic tag change)
 *          last changed before it (mtime or ctime). Only an interrupted
 *          writer leaves them, so the whole tree is walked for them only
 *          when R/.cairn-run records a writer that stopped uncleanly or
 *          does not say who wrote the tree (run_marker.h), or when
 *          `full_walk` asks; a complete walk then forgets the stops seen
 *          before the cutoff;
 *        - blob directories without data (a put or a sweep killed midway;
 *          when debris is looked for, the blob walk stats every blob, so the
 *          `_layers` links to them are dangling and removed above; otherwise
 *          only unmarked blobs are stat'ed) once empty, and directories left
 *          empty under repositories/ (a repository with a revision or a tag
 *          keeps its `_manifests` skeleton).
 *      Uploads older than `uploads_older_than_seconds` (upload_purge) are
 *      removed without the lock (no writer uses them).
 *   4. With `dry_run` nothing is deleted and the lock is never taken; the
 *      result lists what would be deleted (directories: only those empty now).
 *
 * When the mark is incomplete (gc_mark_is_complete() is false) nothing that
 * depends on it is deleted (revisions, blobs, layer links, directories):
 * only uploads and temporaries are cleaned. Problems are collected in
 * result->errors and the sweep goes on; only -ENOMEM is returned.
 *
 *     struct timespec mark_start;
 *     int run;
 *     gc_sweep_mark_start(&tree, dry_run, &mark_start, &run);
 *     gc_mark_tree(&mark, &tree, store);
 *     struct gc_sweep_options options = {.grace_seconds = 3600,
 *         .uploads_older_than_seconds = 168 * 3600, .mark_start = mark_start};
 *     struct gc_sweep_result result;
 *     gc_sweep_run(&tree, store, &mark, &options, &result);
 *     gc_run_withdraw(&tree, run);
 *     ... result.blobs, result.errors ...
 *     gc_sweep_result_release(&result);
 */
#ifndef CAIRN_TOOLS_GC_SWEEP_H
#define CAIRN_TOOLS_GC_SWEEP_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "drivers/blob_store.h"
#include "layout/tree.h"
#include "layout/walk.h"
#include "tools/gc_mark.h"

#define GC_SWEEP_BATCH_MAX 1000
#define GC_SWEEP_BATCH_MILLISECONDS 50
/* A live repository's empty `_uploads` is removed once idle this long. */
#define GC_TEMPORARY_FILE_SECONDS 3600

/* Whether the sweep walked the whole tree for crash debris, and why. */
enum gc_debris_walk {
    GC_DEBRIS_WALK_SKIPPED, /* every writer that stopped did so cleanly: no walk */
    GC_DEBRIS_WALK_STOPPED, /* a writer stopped uncleanly (run_marker.h) */
    GC_DEBRIS_WALK_HISTORY, /* nothing records who wrote the tree before (or it is unreadable) */
    GC_DEBRIS_WALK_ASKED,   /* options.full_walk */
};

/* "skipped", "unclean stop", "unknown history", "asked": for the reports. */
const char *gc_debris_walk_name(enum gc_debris_walk walk);

struct gc_sweep_options {
    int dry_run;
    int full_walk; /* walk for debris even when no writer stopped uncleanly */
    long long grace_seconds;
    long long uploads_older_than_seconds;
    struct timespec mark_start; /* from gc_sweep_mark_start() */
    long long now;              /* seconds since the epoch; 0: time(NULL) when the sweep starts */
    size_t batch_max;           /* 0: GC_SWEEP_BATCH_MAX */
    long batch_milliseconds;    /* 0: GC_SWEEP_BATCH_MILLISECONDS */
    /* For tests: called once the blob candidates are chosen, before the
     * first is re-checked and deleted (to freshen one "concurrently"). */
    void (*before_blob_deletion)(void *context);
    void *hook_context;
};

struct gc_deleted_blob {
    struct digest digest;
    int64_t size;
};

struct gc_deleted_revision {
    char *name; /* repository */
    struct digest digest;
};

struct gc_sweep_result {
    long long cutoff;              /* data older than this (seconds) was deletable */
    struct gc_deleted_blob *blobs; /* deleted (or would be), sorted by digest */
    size_t blob_count;
    size_t blob_capacity;
    uint64_t bytes;                        /* their total size */
    struct gc_deleted_revision *revisions; /* sorted by digest, then name */
    size_t revision_count;
    size_t revision_capacity;
    unsigned long layer_links;     /* _layers links removed */
    unsigned long uploads;         /* stale uploads removed */
    unsigned long temporary_files; /* leftover temporaries removed */
    enum gc_debris_walk debris_walk;
    size_t unclean_stops;         /* writers found stopped uncleanly (run_marker.h) */
    unsigned long directories;    /* empty directories removed */
    unsigned long kept_freshened; /* candidates found freshened under the lock */
    unsigned long evicted;        /* of `revisions`, those evicted (gc_mark.h) */
    struct string_list errors;    /* what failed (the run went on) */
};

/* min(now - grace, mark_start) - 1 s: the age check of every deletion. */
long long gc_sweep_cutoff(long long now, long long grace_seconds,
                          const struct timespec *mark_start);

/* Records mark_start, then (unless `dry_run`) announces the run with it
 * (gc_run_announce, when `run_out` is not NULL: give *run_out to
 * gc_run_withdraw() when the sweep is over; -1 when nothing was announced) and
 * takes the GC lock EXCLUSIVE and releases it: the barrier of step 1. Call it
 * right before gc_mark_tree(). */
int gc_sweep_mark_start(const struct tree *tree, int dry_run, struct timespec *mark_start,
                        int *run_out);

/* Initialises `result` and sweeps. 0, or -ENOMEM. */
int gc_sweep_run(const struct tree *tree, struct blob_store *store, struct gc_mark *mark,
                 const struct gc_sweep_options *options, struct gc_sweep_result *result);

void gc_sweep_result_release(struct gc_sweep_result *result);

#endif
