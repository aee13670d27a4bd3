/*
 * layout/atomic_file.h — durable, all-or-nothing file system updates
 * (git's lockfile discipline).
 *
 * atomic_file_write() writes a new file next to the target under a temporary
 * name (".cairn-tmp-XXXXXX" in the same directory), fsyncs it, renames it over
 * the target and fsyncs the directory. A reader sees the old content or the
 * new one, never a torn file, and after it returns 0 the content survives a
 * crash. A failed write removes its temporary file. Missing parent directories
 * are created, and each directory created is made durable by fsyncing its
 * parent — after the file's own fsync, rename and directory fsync, so that
 * on a journalling file system one commit covers the new directories too
 * (until it returns nothing of it is acknowledged, so the order is free).
 *
 * A crash can still leave a temporary file behind; atomic_file_is_temporary()
 * recognises their names so that the GC and fsck can remove them.
 */
#ifndef CAIRN_LAYOUT_ATOMIC_FILE_H
#define CAIRN_LAYOUT_ATOMIC_FILE_H

#include <stddef.h>

#define ATOMIC_FILE_TEMPORARY_PREFIX ".cairn-tmp-"

int atomic_file_write(const char *path, const void *data, size_t length);

/* atomic_file_write() for scratch state that a crash may lose (an upload's
 * startedat: a lost upload is answered 404 BLOB_UPLOAD_UNKNOWN and the
 * client starts it again; nothing acknowledged as stored depends on it):
 * the same temporary and rename, so no reader sees a torn file, but nothing
 * is fsynced. */
int atomic_file_write_scratch(const char *path, const void *data, size_t length);

/* For files inside a staging directory that no reader looks at until it is
 * renamed into place (a new tag's, layout/tag_update.h): creates `path`
 * (which must not exist) with its missing parents and writes it, with no
 * temporary, no rename and no fsync. The caller then makes the whole staging
 * tree durable, every file with atomic_file_sync() and every directory with
 * directory_sync(), before the rename that publishes it: on a journalling
 * file system the first of those fsyncs commits all of it and the rest cost
 * a flush. On failure the file is removed (new parents stay, inside the
 * staging directory the caller removes). */
int atomic_file_write_staged(const char *path, const void *data, size_t length);

/* fsync the file at `path`. */
int atomic_file_sync(const char *path);

/* mkdir -p; every directory it creates is made durable (its parent fsynced). */
int directory_create(const char *path);

/* fsync a directory (after creating, renaming or unlinking in it). */
int directory_sync(const char *path);

/* For a process that only deletes garbage (cairn-gc's sweep): from now on
 * directory_sync() does nothing, and directory_sync_deferred_flush() later
 * makes everything durable at once with syncfs(2). A deletion lost in a
 * crash only brings garbage back for the next run, so one flush at the end
 * replaces thousands of fsyncs. Never used by the server. */
void directory_sync_defer(void);
int directory_sync_deferred_flush(const char *path_on_file_system);

/* fsync the directory that contains `path`. */
int directory_sync_parent(const char *path);

/* rename(from, to) creating to's parents, then fsync to's directory and
 * the parents of the directories it created. from's directory is not
 * fsynced: for moving a file out of scratch (an upload's data into blobs/),
 * where a crash that brings the old name back only brings back scratch. */
int file_rename_durable(const char *from, const char *to);

/* rm -rf `path` (no error when it does not exist). */
int directory_remove_tree(const char *path);

/* Removes `path`'s parent directories while they are empty, stopping before
 * `stop_at` (which is never removed). */
void directory_remove_empty_parents(const char *path, const char *stop_at);

/* Whether a file name (no slash) is one of atomic_file_write's temporaries. */
int atomic_file_is_temporary(const char *file_name);

#endif
