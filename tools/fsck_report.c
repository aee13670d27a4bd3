/* tools/fsck_report.h */
#include "tools/fsck_report.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "layout/error.h"
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
