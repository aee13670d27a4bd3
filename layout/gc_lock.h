/*
 * layout/gc_lock.h — the lock that lets cairn-gc sweep while the server takes
 * pushes.
 *
 * One file, R/.cairn-gc.lock (outside Distribution's grammar), locked with
 * flock(2). Every write that makes a blob reachable — a manifest PUT (it
 * checks and freshens the blobs it references, then writes its links), an
 * upload commit, a mount — holds it SHARED for that step. The sweep holds it
 * EXCLUSIVE while it re-checks a batch of candidates (still unreferenced,
 * still older than the cutoff) and unlinks them. So a writer either sees a
 * blob gone (and refuses: nothing is acknowledged) or freshens it first (and
 * the sweep, seeing the fresh mtime, keeps it). docs/gc.md has the whole
 * protocol and the interleavings.
 *
 * flock locks belong to an open file description: each thread (and each
 * process) must use its own descriptor from gc_lock_open(). The lock is
 * released when the descriptor is closed, so a crashed holder never wedges
 * the other side.
 *
 *     int fd;
 *     if (gc_lock_open(&tree, &fd) == 0 && gc_lock_acquire(fd, GC_LOCK_SHARED) == 0) {
 *         ... write ...
 *         gc_lock_release(fd);
 *     }
 *
 * A second file, R/.cairn-gc-run, tells writers whether a sweep may be
 * running and since when it marks: cairn-gc holds it locked (exclusive, for
 * its whole run: one run at a time) with its mark start inside, written
 * before its barrier. A writer holding the GC lock shared that finds no run
 * (no file, or a file nobody holds: a crashed run) knows any later sweep's
 * barrier waits for it, so its links will be marked; only when a run is
 * announced does a re-used blob older than the mark start need freshening.
 * Freshening is cheap on disk (always done there) but a copy in S3, which is
 * why drivers/s3.c asks.
 *
 *     int run;
 *     gc_run_announce(&tree, &run);             // cairn-gc: held, time unknown
 *     gc_run_record(run, mark_start_seconds);   // then the mark start
 *     ... barrier, mark, sweep ...
 *     gc_run_withdraw(&tree, run);
 *
 *     long long mark_start;
 *     if (gc_run_mark_start(&tree, &mark_start) == -ENOENT) ...  // writer: no run
 */
#ifndef CAIRN_LAYOUT_GC_LOCK_H
#define CAIRN_LAYOUT_GC_LOCK_H

#include "layout/tree.h"

enum gc_lock_mode {
    GC_LOCK_SHARED,
    GC_LOCK_EXCLUSIVE,
};

/* Opens (creating it if needed) the lock file of `tree`. */
int gc_lock_open(const struct tree *tree, int *fd_out);
/* Blocks until the lock is held in `mode` (retries on EINTR). */
int gc_lock_acquire(int fd, enum gc_lock_mode mode);
void gc_lock_release(int fd);

/* The calling thread's own descriptor for `tree`'s lock, opened on first
 * use and kept for the thread's life (for the server's worker threads).
 * -1 with error_message() if it cannot be opened. */
int gc_lock_thread_descriptor(const struct tree *tree);

/* cairn-gc: waits until no other run holds R/.cairn-gc-run, then holds it,
 * empty (writers read an unknown mark start: they freshen everything);
 * `*run_out` is the descriptor for gc_run_record() and gc_run_withdraw(). */
int gc_run_announce(const struct tree *tree, int *run_out);
/* Writes the run's mark start (seconds) into the announcement. */
int gc_run_record(int run, long long mark_start);
/* Removes the announcement (the file is unlinked before the lock goes). */
void gc_run_withdraw(const struct tree *tree, int run);
/* Writers: 0 and the running sweep's mark start, or -ENOENT when no run is
 * announced. When a run holds the file but its content cannot be read,
 * `*mark_start` is LLONG_MAX (treat every blob as older). */
int gc_run_mark_start(const struct tree *tree, long long *mark_start);

#endif
