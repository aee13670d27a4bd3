/* layout/upload_purge.h */
#include "layout/upload_purge.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layout/atomic_file.h"
#include "layout/error.h"
#include "layout/walk.h"

/* Seconds since the epoch at which the upload started, or -1. */
static long long started_at(const struct tree *tree, const char *name, const char *id)
{
    char path[TREE_PATH_MAX], text[64];
    struct stat status;
    long long seconds;
    if (tree_path_upload_started_at(tree, name, id, path) == 0) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            ssize_t length = read(fd, text, sizeof text);
            close(fd);
            if (length > 0 && tree_parse_started_at(text, (size_t)length, &seconds) == 0)
                return seconds;
        }
    }
    if (tree_path_upload_directory(tree, name, id, path) == 0 && stat(path, &status) == 0)
        return (long long)status.st_mtime;
    return -1;
}

int upload_purge(const struct tree *tree, long long older_than_seconds, long long now, int dry_run,
                 void (*report)(const char *name, const char *upload_id, long long age_seconds,
                                uint64_t bytes, void *context),
                 void *context, struct upload_purge_result *result)
{
    memset(result, 0, sizeof *result);
    struct string_list repositories = {0};
    int status = walk_repositories_with_uploads(tree, &repositories);
    for (size_t r = 0; status == 0 && r < repositories.count; r++) {
        const char *name = repositories.items[r];
        struct string_list uploads = {0};
        if (walk_uploads(tree, name, &uploads) < 0) {
            result->failures++;
            continue;
        }
        for (size_t u = 0; u < uploads.count; u++) {
            const char *id = uploads.items[u];
            result->examined++;
            long long started = started_at(tree, name, id);
            if (started < 0 || now - started <= older_than_seconds)
                continue;
            char directory[TREE_PATH_MAX], data[TREE_PATH_MAX], parent[TREE_PATH_MAX];
            struct stat data_status;
            uint64_t bytes = 0;
            if (tree_path_upload_data(tree, name, id, data) == 0 && stat(data, &data_status) == 0)
                bytes = (uint64_t)data_status.st_size;
            if (!dry_run) {
                if (tree_path_upload_directory(tree, name, id, directory) < 0 ||
                    tree_path_uploads_directory(tree, name, parent) < 0 ||
                    directory_remove_tree(directory) < 0 ||
                    (directory_sync(parent) < 0 && access(parent, F_OK) == 0)) {
                    result->failures++;
                    continue;
                }
            }
            result->removed++;
            result->bytes += bytes;
            if (report != NULL)
                report(name, id, now - started, bytes, context);
        }
        string_list_clear(&uploads);
    }
    string_list_clear(&repositories);
    return status;
}

/* rmdir and fsync the parent: 1 removed, 0 not empty or already gone. */
static int remove_if_empty(const char *directory, const char *parent)
{
    if (rmdir(directory) == 0)
        return directory_sync(parent) < 0 ? -EIO : 1;
    if (errno == ENOTEMPTY || errno == EEXIST || errno == ENOENT)
        return 0;
    return error_set(-errno, "cannot remove %s: %s", directory, strerror(errno));
}

int upload_remove_empty_directories(const struct tree *tree, const char *name)
{
    char repositories[TREE_PATH_MAX], directory[TREE_PATH_MAX], uploads[TREE_PATH_MAX];
    struct string_list entries = {0};
    int result = tree_path_repositories(tree, repositories);
    if (result == 0)
        result = tree_path_repository(tree, name, directory);
    if (result == 0)
        result = tree_path_uploads_directory(tree, name, uploads);
    if (result == 0)
        result = walk_directory_entries(directory, &entries, &entries);
    for (size_t i = 0; result == 0 && i < entries.count; i++)
        if (tree_repository_entry_kind(entries.items[i]) != TREE_ENTRY_UPLOADS)
            result = 1; /* the repository has more than uploads: it stays */
    string_list_clear(&entries);
    if (result != 0)
        return result < 0 ? result : 0;
    if ((result = remove_if_empty(uploads, directory)) < 0)
        return result;
    size_t stop = strlen(repositories);
    for (;;) {
        char *slash = strrchr(directory, '/');
        if (slash == NULL || (size_t)(slash - directory) < stop)
            return 0;
        *slash = '\0';
        char parent[TREE_PATH_MAX];
        memcpy(parent, directory, strlen(directory) + 1);
        *slash = '/';
        if ((result = remove_if_empty(directory, parent)) <= 0)
            return result;
        memcpy(directory, parent, strlen(parent) + 1);
        if (strlen(directory) <= stop)
            return 0;
    }
}
