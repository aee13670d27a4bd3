/* tools/fsck.h */
#include "tools/fsck.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "layout/atomic_file.h"
#include "layout/error.h"
#include "layout/upload_purge.h"
#include "tools/fsck_blobs.h"
#include "tools/fsck_links.h"
#include "tools/tool_common.h"

/* --- step 0: leftovers of interrupted writes ------------------------------ */

/* Whether `path` was changed after the run started (or is gone): the
 * temporary file of a write in progress (upload creation writes `startedat`
 * outside the GC lock), which is not a leftover. A hidden tag entry counts
 * its ctime too (a rename keeps a directory's mtime). */
static int written_during_run(const struct fsck_context *context, const char *path, int hidden)
{
    struct stat status;
    if (lstat(path, &status) < 0)
        return 1;
    const struct timespec *started = &context->started;
    struct timespec changed = status.st_mtim;
    if (hidden &&
        (status.st_ctim.tv_sec > changed.tv_sec ||
         (status.st_ctim.tv_sec == changed.tv_sec && status.st_ctim.tv_nsec > changed.tv_nsec)))
        changed = status.st_ctim;
    return changed.tv_sec > started->tv_sec ||
           (changed.tv_sec == started->tv_sec && changed.tv_nsec >= started->tv_nsec);
}

/* Under the lock: still a temporary regular file (any entry, a directory
 * with all it holds, when `hidden`)? Then it goes. -ENOENT when it is gone:
 * a write that was in progress when the walk saw it (a tag change begun
 * before the run started) has finished. */
static int remove_temporary(struct fsck_context *context, const char *path, int hidden)
{
    int result = fsck_repair_lock(context);
    if (result < 0)
        return result;
    struct stat status;
    if (lstat(path, &status) < 0)
        result = error_set(-errno, "gone meanwhile");
    else if (hidden && S_ISDIR(status.st_mode))
        result = directory_remove_tree(path);
    else if (!hidden && !S_ISREG(status.st_mode))
        result = error_set(-EISDIR, "not a regular file, left alone");
    else if (unlink(path) < 0)
        result = error_set(-errno, "cannot remove: %s", strerror(errno));
    else
        result = directory_sync_parent(path);
    fsck_repair_unlock(context);
    return result;
}

static int report_temporary(struct fsck_context *context, const char *path, int hidden)
{
    if (written_during_run(context, path, hidden))
        return 0; /* a write in progress, not a leftover */
    const char *detail =
        hidden ? "left by an interrupted tag change" : "left by an interrupted atomic write";
    if (!context->options->repair)
        return fsck_report_add(context->report, FSCK_TEMPORARY_FILE, path, 0, "%s", detail);
    int removed = remove_temporary(context, path, hidden);
    if (removed == 0)
        return fsck_report_add(context->report, FSCK_TEMPORARY_FILE, path, 1, "%s; removed",
                               detail);
    if (removed == -ENOENT)
        return 0; /* finished meanwhile: it was a write in progress, not a leftover */
    return fsck_report_add(context->report, FSCK_TEMPORARY_FILE, path, 0, "%s; not repaired: %s",
                           detail, error_message());
}

/* First, so that the steps after it see what the leftovers hid: a blob
 * directory holding only a temporary is an empty one to the blob step. */
static int check_temporary_files(struct fsck_context *context)
{
    struct string_list found = {0}, repositories = {0};
    int result = walk_temporary_files(context->tree, &found);
    for (size_t i = 0; result == 0 && i < found.count; i++)
        result = report_temporary(context, found.items[i], 0);
    string_list_clear(&found);
    if (result == 0)
        result = walk_repository_directories(context->tree, &repositories);
    for (size_t r = 0; result == 0 && r < repositories.count; r++) {
        struct string_list hidden = {0};
        char tags[TREE_PATH_MAX], path[TREE_PATH_MAX];
        result = walk_hidden_tag_entries(context->tree, repositories.items[r], &hidden);
        if (result == 0)
            result = tree_path_tags_directory(context->tree, repositories.items[r], tags);
        for (size_t i = 0; result == 0 && i < hidden.count; i++)
            if ((result = tree_path_child(tags, hidden.items[i], path)) == 0)
                result = report_temporary(context, path, 1);
        string_list_clear(&hidden);
    }
    string_list_clear(&repositories);
    return result;
}

/* --- step 3: stale uploads ----------------------------------------------- */

struct stale_upload {
    char name[TREE_PATH_MAX];
    char id[64];
    long long age_seconds;
    uint64_t bytes;
};

struct stale_list {
    struct stale_upload *items;
    size_t count;
    size_t capacity;
    int error;
};

static void collect_stale(const char *name, const char *upload_id, long long age_seconds,
                          uint64_t bytes, void *context)
{
    struct stale_list *list = context;
    if (list->error)
        return;
    if (list->count == list->capacity) {
        size_t capacity = list->capacity ? list->capacity * 2 : 8;
        struct stale_upload *items = realloc(list->items, capacity * sizeof *items);
        if (items == NULL) {
            list->error = error_set(-ENOMEM, "out of memory");
            return;
        }
        list->items = items;
        list->capacity = capacity;
    }
    struct stale_upload *upload = &list->items[list->count++];
    snprintf(upload->name, sizeof upload->name, "%s", name);
    snprintf(upload->id, sizeof upload->id, "%s", upload_id);
    upload->age_seconds = age_seconds;
    upload->bytes = bytes;
}

static int in_stale_list(const struct stale_list *list, const struct stale_upload *upload)
{
    for (size_t i = 0; i < list->count; i++)
        if (strcmp(list->items[i].name, upload->name) == 0 &&
            strcmp(list->items[i].id, upload->id) == 0)
            return 1;
    return 0;
}

static int report_stale(struct fsck_context *context, const struct stale_upload *upload,
                        int repaired, const char *suffix)
{
    char path[TREE_PATH_MAX];
    int result = tree_path_upload_directory(context->tree, upload->name, upload->id, path);
    if (result < 0)
        return result;
    return fsck_report_add(context->report, FSCK_STALE_UPLOAD, path, repaired,
                           "stale upload to %s, started %lld h ago, %llu bytes%s", upload->name,
                           upload->age_seconds / 3600, (unsigned long long)upload->bytes, suffix);
}

static int check_stale_uploads(struct fsck_context *context)
{
    const struct fsck_options *options = context->options;
    struct stale_list listed = {0}, removed = {0};
    struct upload_purge_result purge;
    int result = upload_purge(context->tree, options->stale_upload_seconds, options->now, 1,
                              collect_stale, &listed, &purge);
    if (result == 0)
        result = listed.error;
    if (result == 0 && options->repair && listed.count > 0) {
        /* upload_purge re-reads every age itself: the re-check under the lock. */
        result = fsck_repair_lock(context);
        if (result == 0) {
            result = upload_purge(context->tree, options->stale_upload_seconds, options->now, 0,
                                  collect_stale, &removed, &purge);
            fsck_repair_unlock(context);
        }
        if (result == 0)
            result = removed.error;
    }
    for (size_t i = 0; result == 0 && i < removed.count; i++)
        result = report_stale(context, &removed.items[i], 1, "; removed");
    for (size_t i = 0; result == 0 && i < listed.count; i++)
        if (!in_stale_list(&removed, &listed.items[i]))
            result =
                report_stale(context, &listed.items[i], 0, options->repair ? "; not repaired" : "");
    free(listed.items);
    free(removed.items);
    return result;
}

/* --- the run ------------------------------------------------------------- */

static int find_orphans(struct fsck_report *report)
{
    for (size_t i = 0; i < report->sound_blobs.count; i++) {
        const struct digest *digest = &report->sound_blobs.items[i];
        if (fsck_digest_list_contains(&report->referenced, digest))
            continue;
        int result = digest_list_append(&report->orphaned_blobs, digest);
        if (result < 0)
            return result;
    }
    if (!report->remote.examined)
        return 0;
    /* A remote store's blobs too: those still there and not found corrupt
     * (without --deep they are sound as far as the listing can tell), once
     * each (a digest the tree also holds was counted above). */
    for (size_t i = 0; i < report->remote.count; i++) {
        const struct fsck_remote_blob *blob = &report->remote.blobs[i];
        if (blob->gone || fsck_digest_list_contains(&report->sound_blobs, &blob->digest) ||
            fsck_digest_list_contains(&report->corrupt_blobs, &blob->digest) ||
            fsck_digest_list_contains(&report->referenced, &blob->digest))
            continue;
        int result = digest_list_append(&report->orphaned_blobs, &blob->digest);
        if (result < 0)
            return result;
    }
    fsck_digest_list_sort(&report->orphaned_blobs);
    return 0;
}

int fsck_run(const struct tree *tree, struct blob_store *store, const struct fsck_options *options,
             struct fsck_report *report)
{
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    struct stat status;
    if (stat(tree->root, &status) < 0 || !S_ISDIR(status.st_mode))
        return error_set(errno ? -errno : -ENOTDIR, "%s is not a registry tree (no %s)",
                         tree->root_directory, tree->root);
    struct fsck_context context = {
        .tree = tree, .store = store, .options = options, .report = report, .lock_fd = -1};
    clock_gettime(CLOCK_REALTIME, &context.started);
    int result = check_temporary_files(&context);
    if (result == 0)
        result = fsck_blobs_verify(&context);
    if (result == 0)
        result = fsck_links_check(&context);
    if (result == 0)
        result = check_stale_uploads(&context);
    if (result == 0)
        result = find_orphans(report);
    if (context.lock_fd >= 0)
        close(context.lock_fd);
    clock_gettime(CLOCK_MONOTONIC, &end);
    report->seconds = tool_seconds_between(&start, &end);
    return result;
}
