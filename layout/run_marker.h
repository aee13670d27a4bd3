/*
 * layout/run_marker.h — which processes that write the tree stopped
 * without cleaning up, so that cairn-gc walks the whole tree for crash
 * debris only when there can be some.
 *
 * Only an interrupted writer leaves debris (an atomic_file temporary, a
 * hidden tag entry): a writer that finishes renames or removes what it
 * made. Finding debris anywhere costs a readdir of every directory of the
 * tree, by far the largest part of a GC run on a big tree, so the tree
 * records who writes it:
 *
 *   R/.cairn-run/<program>.<host>.<pid>.<random>
 *       one file per running writer (the server, cairn-gc, cairn-fsck
 *       --repair), created when it starts and held locked (an OFD write
 *       lock, which NFS passes to the server across hosts) for its whole
 *       life; removed by a clean exit. Its text says who wrote it.
 *   R/.cairn-run/stopped.<seconds>.<what>
 *       a writer that stopped without removing its file (killed, crashed,
 *       the host lost), as cairn-gc found it: renamed with the time it was
 *       first seen unlocked, which is no earlier than the writer's last
 *       write. Also `stopped.<seconds>.history`, written by whoever creates
 *       R/.cairn-run: the tree's history before then is unknown (a tree of
 *       an older cairn, or of Distribution, or one restored from a backup).
 *
 * A writer creates its file under a hidden name (".<name>"), locks it and
 * only then renames it, so a file under its own name that nobody holds is
 * always a stopped writer. Hidden names are never read (one left by a
 * writer killed while entering is an empty file of a process that wrote
 * nothing).
 *
 * cairn-gc, holding the run announcement (gc_lock.h, one run at a time):
 *
 *     struct run_marker_survey survey;
 *     run_marker_survey(&tree, !dry_run, time(NULL), &survey);
 *     if (survey.count > 0 || survey.unknown_history || full)
 *         ... walk everything for debris older than the cutoff ...
 *     if (walk complete && !dry_run)
 *         run_marker_forget(&survey, cutoff);   // stops seen before the cutoff
 *     run_marker_survey_release(&survey);
 *
 * A stop seen at time S left no debris changed after S, so a complete
 * walk whose cutoff is past S removed all of it, and only then is its file
 * removed; a younger stop keeps its file and the next run walks again.
 *
 * A writer:
 *
 *     struct run_marker marker;
 *     if (run_marker_enter(&tree, "cairn", &marker) < 0) ... error_message() ...
 *     ... write the tree ...
 *     run_marker_leave(&marker);   // only on a clean exit
 */
#ifndef CAIRN_LAYOUT_RUN_MARKER_H
#define CAIRN_LAYOUT_RUN_MARKER_H

#include <stddef.h>

#include "layout/tree.h"

struct run_marker {
    int fd; /* -1 when not entered */
    char path[TREE_PATH_MAX];
};

/* Creates and locks the calling process's file (creating R/.cairn-run, and
 * its history stop, first if needed). `program` is a short name without
 * dots or slashes. */
int run_marker_enter(const struct tree *tree, const char *program, struct run_marker *marker);
/* Removes the file and releases it. Safe on a marker never entered. */
void run_marker_leave(struct run_marker *marker);

struct run_marker_stop {
    char path[TREE_PATH_MAX]; /* R/.cairn-run/stopped.<seconds>.<what> (or the unlocked file) */
    long long seen;           /* when it was first seen stopped (seconds since the epoch) */
};

struct run_marker_survey {
    int unknown_history; /* R/.cairn-run did not exist, or its history stop is listed */
    struct run_marker_stop *stops;
    size_t count;
};

/* Lists the writers that stopped uncleanly. With `record`, a newly found
 * one is renamed stopped.<now>.<name> (and a missing R/.cairn-run created
 * with its history stop, which is listed); without it (a dry run) the tree is not changed
 * and such a stop counts as seen `now`. Locked files are running writers. */
int run_marker_survey(const struct tree *tree, int record, long long now,
                      struct run_marker_survey *out);
/* Removes the files of the stops seen before `cutoff` (seconds): a
 * complete debris walk with that cutoff has removed what they left. */
int run_marker_forget(const struct run_marker_survey *survey, long long cutoff);
void run_marker_survey_release(struct run_marker_survey *survey);

#endif
