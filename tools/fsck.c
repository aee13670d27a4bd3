/* tools/fsck.h */
#include "tools/fsck.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "layout/atomic_file.h"
#include "layout/error.h"
#include "layout/gc_lock.h"
#include "layout/upload_purge.h"
#include "tools/fsck_blobs.h"
#include "tools/fsck_links.h"
#include "tools/tool_common.h"

const char *fsck_problem_kind_name(enum fsck_problem_kind kind)
{
    switch (kind) {
    case FSCK_CORRUPT_BLOB:
        return "corrupt_blob";
    case FSCK_MISSING_BLOB_DATA:
        return "missing_blob_data";
    case FSCK_DANGLING_LINK:
        return "dangling_link";
    case FSCK_INVALID_LINK:
        return "invalid_link";
    case FSCK_TAG_WITHOUT_REVISION:
        return "tag_without_revision";
    case FSCK_MANIFEST_INVALID:
        return "manifest_invalid";
    case FSCK_MANIFEST_REFERENCE_MISSING:
        return "manifest_reference_missing";
    case FSCK_BLOB_SIZE_MISMATCH:
        return "blob_size_mismatch";
    case FSCK_TEMPORARY_FILE:
        return "temporary_file";
    case FSCK_STALE_UPLOAD:
        return "stale_upload";
    }
    return "unknown";
}

/* --- the report ---------------------------------------------------------- */

void fsck_report_init(struct fsck_report *report)
{
    memset(report, 0, sizeof *report);
    pthread_mutex_init(&report->mutex, NULL);
}

void fsck_report_clear(struct fsck_report *report)
{
    for (size_t i = 0; i < report->problem_count; i++) {
        free(report->problems[i].path);
        free(report->problems[i].detail);
    }
    free(report->problems);
    digest_list_clear(&report->orphaned_blobs);
    digest_list_clear(&report->sound_blobs);
    digest_list_clear(&report->corrupt_blobs);
    digest_list_clear(&report->referenced);
    free(report->remote.blobs);
    pthread_mutex_destroy(&report->mutex);
    memset(report, 0, sizeof *report);
}

int fsck_report_add(struct fsck_report *report, enum fsck_problem_kind kind, const char *path,
                    int repaired, const char *format, ...)
{
    char detail[2048];
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(detail, sizeof detail, format, arguments);
    va_end(arguments);
    /* One line each: a detail never carries a newline into the report. */
    for (char *c = detail; *c; c++)
        if (*c == '\n' || *c == '\r')
            *c = ' ';
    char *path_copy = strdup(path), *detail_copy = strdup(detail);
    if (path_copy == NULL || detail_copy == NULL) {
        free(path_copy);
        free(detail_copy);
        return error_set(-ENOMEM, "out of memory");
    }
    pthread_mutex_lock(&report->mutex);
    if (report->problem_count == report->problem_capacity) {
        size_t capacity = report->problem_capacity ? report->problem_capacity * 2 : 16;
        struct fsck_problem *problems = realloc(report->problems, capacity * sizeof *problems);
        if (problems == NULL) {
            pthread_mutex_unlock(&report->mutex);
            free(path_copy);
            free(detail_copy);
            return error_set(-ENOMEM, "out of memory");
        }
        report->problems = problems;
        report->problem_capacity = capacity;
    }
    report->problems[report->problem_count++] = (struct fsck_problem){
        .kind = kind, .path = path_copy, .detail = detail_copy, .repaired = repaired != 0};
    pthread_mutex_unlock(&report->mutex);
    return 0;
}

size_t fsck_report_count(const struct fsck_report *report, enum fsck_problem_kind kind)
{
    size_t count = 0;
    for (size_t i = 0; i < report->problem_count; i++)
        count += report->problems[i].kind == kind;
    return count;
}

size_t fsck_report_repaired_count(const struct fsck_report *report)
{
    size_t count = 0;
    for (size_t i = 0; i < report->problem_count; i++)
        count += report->problems[i].repaired != 0;
    return count;
}

static int compare_digests(const void *a, const void *b)
{
    return strcmp(((const struct digest *)a)->string, ((const struct digest *)b)->string);
}

void fsck_digest_list_sort(struct digest_list *list)
{
    if (list->count > 1)
        qsort(list->items, list->count, sizeof *list->items, compare_digests);
}

int fsck_digest_list_contains(const struct digest_list *list, const struct digest *digest)
{
    return list->count > 0 &&
           bsearch(digest, list->items, list->count, sizeof *list->items, compare_digests) != NULL;
}

static int compare_remote_blobs(const void *a, const void *b)
{
    return strcmp(((const struct fsck_remote_blob *)a)->digest.string,
                  ((const struct fsck_remote_blob *)b)->digest.string);
}

struct fsck_remote_blob *fsck_remote_blob_find(const struct fsck_report *report,
                                               const struct digest *digest)
{
    if (report->remote.count == 0)
        return NULL;
    struct fsck_remote_blob key;
    key.digest = *digest;
    return bsearch(&key, report->remote.blobs, report->remote.count, sizeof key,
                   compare_remote_blobs);
}

/* --- the repair lock ----------------------------------------------------- */

int fsck_repair_lock(struct fsck_context *context)
{
    if (context->lock_fd < 0) {
        int result = gc_lock_open(context->tree, &context->lock_fd);
        if (result < 0) {
            context->lock_fd = -1;
            return result;
        }
    }
    return gc_lock_acquire(context->lock_fd, GC_LOCK_EXCLUSIVE);
}

int fsck_confirm_lock(struct fsck_context *context)
{
    if (context->options->repair)
        return fsck_repair_lock(context);
    if (context->lock_fd < 0) {
        char path[TREE_PATH_MAX];
        int result = tree_path_gc_lock(context->tree, path);
        if (result < 0)
            return result;
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 && errno == ENOENT)
            return 1;
        if (fd < 0)
            return error_set(-errno, "cannot open %s: %s", path, strerror(errno));
        context->lock_fd = fd;
    }
    return gc_lock_acquire(context->lock_fd, GC_LOCK_EXCLUSIVE);
}

void fsck_repair_unlock(struct fsck_context *context)
{
    if (context->lock_fd >= 0)
        gc_lock_release(context->lock_fd);
}

/* --- step 3: temporary files --------------------------------------------- */

/* nftw has no context argument: the list being filled, for this thread. */
static _Thread_local struct string_list *temporary_files;
static _Thread_local int temporary_walk_error;

static int visit_for_temporary(const char *path, const struct stat *status, int type,
                               struct FTW *position)
{
    (void)status;
    (void)type;
    if (atomic_file_is_temporary(path + position->base) &&
        (temporary_walk_error = string_list_append(temporary_files, path)) < 0)
        return 1;
    return 0;
}

/* Whether `path` was modified after the run started (or is gone): the
 * temporary file of a write in progress (upload creation writes `startedat`
 * outside the GC lock), which is not a leftover. */
static int written_during_run(const struct fsck_context *context, const char *path)
{
    struct stat status;
    if (lstat(path, &status) < 0)
        return 1;
    const struct timespec *started = &context->started;
    return status.st_mtim.tv_sec > started->tv_sec ||
           (status.st_mtim.tv_sec == started->tv_sec && status.st_mtim.tv_nsec >= started->tv_nsec);
}

/* Under the lock: still a temporary regular file? Then it goes. */
static int remove_temporary(struct fsck_context *context, const char *path)
{
    int result = fsck_repair_lock(context);
    if (result < 0)
        return result;
    struct stat status;
    if (lstat(path, &status) < 0)
        result = error_set(-errno, "gone meanwhile");
    else if (!S_ISREG(status.st_mode))
        result = error_set(-EISDIR, "not a regular file, left alone");
    else if (unlink(path) < 0)
        result = error_set(-errno, "cannot remove: %s", strerror(errno));
    else
        result = directory_sync_parent(path);
    fsck_repair_unlock(context);
    return result;
}

static int check_temporary_files(struct fsck_context *context)
{
    struct string_list found = {0};
    temporary_files = &found;
    temporary_walk_error = 0;
    int walked = nftw(context->tree->root, visit_for_temporary, 32, FTW_PHYS);
    temporary_files = NULL;
    int result = temporary_walk_error;
    if (result == 0 && walked < 0 && errno != ENOENT)
        result = error_set(-errno, "cannot walk %s: %s", context->tree->root, strerror(errno));
    string_list_sort(&found);
    for (size_t i = 0; result == 0 && i < found.count; i++) {
        const char *path = found.items[i];
        if (written_during_run(context, path))
            continue; /* a write in progress, not a leftover */
        const char *detail = "left by an interrupted atomic write";
        if (!context->options->repair)
            result = fsck_report_add(context->report, FSCK_TEMPORARY_FILE, path, 0, "%s", detail);
        else if (remove_temporary(context, path) == 0)
            result = fsck_report_add(context->report, FSCK_TEMPORARY_FILE, path, 1, "%s; removed",
                                     detail);
        else
            result = fsck_report_add(context->report, FSCK_TEMPORARY_FILE, path, 0,
                                     "%s; not repaired: %s", detail, error_message());
    }
    string_list_clear(&found);
    return result;
}

/* --- step 4: stale uploads ----------------------------------------------- */

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
    int result = fsck_blobs_verify(&context);
    if (result == 0 && blob_store_is_remote(store))
        result = fsck_blobs_verify_remote(&context);
    if (result == 0)
        result = fsck_links_check(&context);
    if (result == 0)
        result = check_temporary_files(&context);
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

/* --- output -------------------------------------------------------------- */

#define ORPHANS_PRINTED 20

/* "remote blobs (s3): 1200 listed, 38.2 GiB; 1198 re-hashed, ..." */
static void print_remote_human(FILE *stream, const struct fsck_remote *remote)
{
    char size[32];
    tool_format_size(remote->listed_bytes, size);
    fprintf(stream, "remote blobs (%s): %llu listed, %s", remote->store,
            (unsigned long long)remote->listed, size);
    if (!remote->deep) {
        fputs(" (existence and sizes checked; --deep re-hashes them)\n", stream);
        return;
    }
    tool_format_size(remote->verified_bytes, size);
    double rate = remote->seconds > 0 ? (double)remote->verified_bytes / remote->seconds : 0;
    fprintf(stream, "; %llu re-hashed, %s in %.2f s (%.2f GB/s, %u jobs)",
            (unsigned long long)remote->verified, size, remote->seconds, rate / 1e9, remote->jobs);
    if (remote->served_locally > 0)
        fprintf(stream, "; %llu served from the tree's copy (verified with the local blobs)",
                (unsigned long long)remote->served_locally);
    fputc('\n', stream);
}

void fsck_report_print_human(FILE *stream, const struct fsck_report *report)
{
    for (size_t i = 0; i < report->problem_count; i++) {
        const struct fsck_problem *problem = &report->problems[i];
        fprintf(stream, "%-26s %s  %s%s\n", fsck_problem_kind_name(problem->kind), problem->path,
                problem->detail, problem->repaired ? "  repaired" : "");
    }
    for (size_t i = 0; i < report->orphaned_blobs.count && i < ORPHANS_PRINTED; i++)
        fprintf(stream, "%-26s %s  (information: no link refers to it; cairn-gc reclaims it)\n",
                "orphaned_blob", report->orphaned_blobs.items[i].string);
    if (report->orphaned_blobs.count > ORPHANS_PRINTED)
        fprintf(stream, "%-26s ... and %zu more (--json lists them all)\n", "orphaned_blob",
                report->orphaned_blobs.count - ORPHANS_PRINTED);

    char size[32];
    tool_format_size(report->blob_bytes, size);
    double rate = report->blob_seconds > 0 ? (double)report->blob_bytes / report->blob_seconds : 0;
    fprintf(stream, "blobs: %llu verified, %s in %.2f s (%.2f GB/s, %u jobs)\n",
            (unsigned long long)report->blobs_verified, size, report->blob_seconds, rate / 1e9,
            report->jobs);
    if (report->remote.examined)
        print_remote_human(stream, &report->remote);
    fprintf(stream, "links: %llu checked\n", (unsigned long long)report->links_checked);
    fprintf(stream, "orphaned blobs: %zu\n", report->orphaned_blobs.count);
    fprintf(stream, "problems: %zu found, %zu repaired\n", report->problem_count,
            fsck_report_repaired_count(report));
    fprintf(stream, "%s (%.2f s)\n",
            report->problem_count == 0 ? "the tree is sound" : "the tree has problems",
            report->seconds);
}

/* "remote":{...}, (only with a remote store; see docs/fsck.md) */
static void print_remote_json(FILE *stream, const struct fsck_remote *remote)
{
    double rate = remote->seconds > 0 ? (double)remote->verified_bytes / remote->seconds : 0;
    fputs("\"remote\":{\"store\":", stream);
    tool_json_print_string(stream, remote->store);
    fprintf(stream,
            ",\"listed\":%llu,\"listed_bytes\":%llu,\"deep\":%s,\"verified\":%llu,"
            "\"verified_bytes\":%llu,\"served_locally\":%llu,\"seconds\":%.3f,"
            "\"bytes_per_second\":%.0f,\"jobs\":%u},",
            (unsigned long long)remote->listed, (unsigned long long)remote->listed_bytes,
            remote->deep ? "true" : "false", (unsigned long long)remote->verified,
            (unsigned long long)remote->verified_bytes, (unsigned long long)remote->served_locally,
            remote->seconds, rate, remote->jobs);
}

void fsck_report_print_json(FILE *stream, const struct fsck_report *report)
{
    double rate = report->blob_seconds > 0 ? (double)report->blob_bytes / report->blob_seconds : 0;
    fprintf(stream,
            "{\"sound\":%s,\"blobs\":{\"verified\":%llu,\"bytes\":%llu,\"seconds\":%.3f,"
            "\"bytes_per_second\":%.0f,\"jobs\":%u},",
            report->problem_count == 0 ? "true" : "false",
            (unsigned long long)report->blobs_verified, (unsigned long long)report->blob_bytes,
            report->blob_seconds, rate, report->jobs);
    if (report->remote.examined)
        print_remote_json(stream, &report->remote);
    fprintf(stream, "\"links\":{\"checked\":%llu},\"problems\":[",
            (unsigned long long)report->links_checked);
    for (size_t i = 0; i < report->problem_count; i++) {
        const struct fsck_problem *problem = &report->problems[i];
        fprintf(stream, "%s{\"kind\":\"%s\",\"path\":", i ? "," : "",
                fsck_problem_kind_name(problem->kind));
        tool_json_print_string(stream, problem->path);
        fputs(",\"detail\":", stream);
        tool_json_print_string(stream, problem->detail);
        fprintf(stream, ",\"repaired\":%s}", problem->repaired ? "true" : "false");
    }
    fputs("],\"orphaned_blobs\":[", stream);
    for (size_t i = 0; i < report->orphaned_blobs.count; i++)
        fprintf(stream, "%s\"%s\"", i ? "," : "", report->orphaned_blobs.items[i].string);
    fprintf(stream, "],\"seconds\":%.3f}\n", report->seconds);
}
