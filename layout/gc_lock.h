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

#endif
