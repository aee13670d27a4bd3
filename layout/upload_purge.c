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
