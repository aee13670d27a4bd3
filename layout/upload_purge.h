/*
 * layout/upload_purge.h — removing uploads that were started long ago and
 * never finished (Distribution's "upload purging").
 *
 * An upload's age comes from its `startedat` file (RFC 3339, written when it
 * was created); when that file is missing or unreadable, from the upload
 * directory's modification time. Uploads older than the limit are removed
 * whole (data and startedat), durably; `_uploads` directories left empty are
 * removed too. With `dry_run` nothing is removed, only reported. Used by the
 * server's periodic purge and by cairn-gc.
 *
 *     struct upload_purge_result result;
 *     upload_purge(&tree, 168 * 3600, time(NULL), 0, report, context, &result);
 */
#ifndef CAIRN_LAYOUT_UPLOAD_PURGE_H
#define CAIRN_LAYOUT_UPLOAD_PURGE_H

#include <stdint.h>

#include "layout/tree.h"

struct upload_purge_result {
    unsigned long examined;
    unsigned long removed; /* or, with dry_run, would be removed */
    uint64_t bytes;        /* their data */
    unsigned long failures;
};

/* `report` (may be NULL) is called for each upload removed (or that would be). */
int upload_purge(const struct tree *tree, long long older_than_seconds, long long now, int dry_run,
                 void (*report)(const char *name, const char *upload_id, long long age_seconds,
                                uint64_t bytes, void *context),
                 void *context, struct upload_purge_result *result);

/* After an upload of <name> was removed because it failed or was
 * cancelled: when <name>'s directory holds nothing but an empty _uploads,
 * removes that, then <name>'s directory and its parents while they are
 * empty (never repositories/ itself), each removal made durable by
 * fsyncing the parent. So an upload that failed in a new repository leaves
 * no directory. rmdir(2) only removes an empty directory, so one that a
 * concurrent upload or push has put something into stays, and a writer
 * that finds a directory gone creates it again (directory_create retries).
 * 0 or a negative errno (message set). */
int upload_remove_empty_directories(const struct tree *tree, const char *name);

#endif
