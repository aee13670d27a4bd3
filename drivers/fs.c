/* drivers/fs.h */
#include "drivers/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layout/atomic_file.h"
#include "layout/error.h"
#include "layout/walk.h"

struct fs_store {
    struct blob_store base;
    const struct tree *tree;
};

struct fs_reader {
    struct blob_reader base;
    int fd;
    int64_t size;
};

static const struct tree *tree_of(struct blob_store *store)
{
    return ((struct fs_store *)store)->tree;
}

static void info_fill(const struct stat *status, struct blob_info *out)
{
    out->size = (int64_t)status->st_size;
    out->modified_seconds = (long long)status->st_mtim.tv_sec;
}

static int fs_stat(struct blob_store *store, const struct digest *digest, struct blob_info *out)
{
    char path[TREE_PATH_MAX];
    struct stat status;
    int result = tree_path_blob_data(tree_of(store), digest, path);
    if (result < 0)
        return result;
    if (stat(path, &status) < 0) {
        int error = errno == ENOTDIR ? ENOENT : errno;
        return error_set(-error, "blob %s: %s", digest->string, strerror(error));
    }
    if (!S_ISREG(status.st_mode))
        return error_set(-EIO, "blob %s: %s is not a regular file", digest->string, path);
    info_fill(&status, out);
    return 0;
}

static const struct blob_store_operations fs_operations;

static int fs_open(struct blob_store *store, const struct digest *digest,
                   struct blob_reader **reader_out, struct blob_info *info_out)
{
    char path[TREE_PATH_MAX];
    struct stat status;
    *reader_out = NULL;
    int result = tree_path_blob_data(tree_of(store), digest, path);
    if (result < 0)
        return result;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int error = errno == ENOTDIR ? ENOENT : errno;
        return error_set(-error, "blob %s: %s", digest->string, strerror(error));
    }
    if (fstat(fd, &status) < 0 || !S_ISREG(status.st_mode)) {
        close(fd);
        return error_set(-EIO, "blob %s: %s is not a readable regular file", digest->string, path);
    }
    struct fs_reader *reader = malloc(sizeof *reader);
    if (reader == NULL) {
        close(fd);
        return error_set(-ENOMEM, "out of memory");
    }
    reader->base.operations = &fs_operations;
    reader->fd = fd;
    reader->size = (int64_t)status.st_size;
    *reader_out = &reader->base;
    if (info_out != NULL)
        info_fill(&status, info_out);
    return 0;
}

static ssize_t fs_read(struct blob_reader *base, void *buffer, size_t length, int64_t offset)
{
    struct fs_reader *reader = (struct fs_reader *)base;
    if (offset < 0)
        return error_set(-EINVAL, "negative read offset %lld", (long long)offset);
    size_t done = 0;
    while (done < length) {
        ssize_t n = pread(reader->fd, (char *)buffer + done, length - done,
                          (off_t)(offset + (int64_t)done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return error_set(-errno, "cannot read blob: %s", strerror(errno));
        if (n == 0)
            break;
        done += (size_t)n;
    }
    return (ssize_t)done;
}

static void fs_close(struct blob_reader *base)
{
    struct fs_reader *reader = (struct fs_reader *)base;
    close(reader->fd);
    free(reader);
}

static int fs_freshen(struct blob_store *store, const struct digest *digest)
{
    char path[TREE_PATH_MAX];
    int result = tree_path_blob_data(tree_of(store), digest, path);
    if (result < 0)
        return result;
    if (utimensat(AT_FDCWD, path, NULL, 0) < 0) {
        int error = errno == ENOTDIR ? ENOENT : errno;
        return error_set(-error, "cannot freshen blob %s: %s", digest->string, strerror(error));
    }
    return 0;
}

/* Every blob is a file of the tree: answered at once, BLOB_SERVE_NOW or not. */
static int fs_serve(struct blob_store *store, const struct digest *digest, unsigned how,
                    struct blob_serving *out)
{
    int result;
    if (!(how & BLOB_SERVE_BODY)) {
        if ((result = fs_stat(store, digest, &out->info)) < 0)
            return result;
        (void)fs_freshen(store, digest); /* a HEAD hit (blob_store.h) */
        out->kind = BLOB_SERVED_INFO;
        return 0;
    }
    if ((result = fs_open(store, digest, &out->reader, &out->info)) < 0)
        return result;
    out->kind = BLOB_SERVED_LOCALLY;
    return 0;
}

static int fs_commit(struct blob_store *store, const char *file_path, const struct digest *digest)
{
    char path[TREE_PATH_MAX];
    int result = tree_path_blob_data(tree_of(store), digest, path);
    if (result < 0)
        return result;
    /* Already stored: freshen the existing blob (so that a concurrent GC's
     * grace period protects it), then drop the upload. */
    result = fs_freshen(store, digest);
    if (result == -ENOENT) {
        /* A new blob: its mtime becomes now (the upload's last write may be
         * older than a running GC's mark), then it is renamed into place. */
        if (utimensat(AT_FDCWD, file_path, NULL, 0) < 0)
            return error_set(-errno, "cannot touch %s: %s", file_path, strerror(errno));
        return file_rename_durable(file_path, path);
    }
    if (result < 0)
        return result;
    if (unlink(file_path) < 0 && errno != ENOENT)
        return error_set(-errno, "cannot remove %s: %s", file_path, strerror(errno));
    return 0;
}

static int fs_put(struct blob_store *store, const struct digest *digest, const void *data,
                  size_t length)
{
    char path[TREE_PATH_MAX];
    int result = tree_path_blob_data(tree_of(store), digest, path);
    if (result < 0)
        return result;
    result = fs_freshen(store, digest);
    if (result != -ENOENT)
        return result;
    return atomic_file_write(path, data, length);
}

static int fs_remove(struct blob_store *store, const struct digest *digest)
{
    char path[TREE_PATH_MAX], directory[TREE_PATH_MAX];
    int result = tree_path_blob_data(tree_of(store), digest, path);
    if (result < 0 || (result = tree_path_blob_directory(tree_of(store), digest, directory)) < 0)
        return result;
    if (unlink(path) < 0) {
        int error = errno == ENOTDIR ? ENOENT : errno;
        return error_set(-error, "cannot remove blob %s: %s", digest->string, strerror(error));
    }
    if (rmdir(directory) < 0 && errno != ENOENT && errno != ENOTEMPTY && errno != EEXIST)
        return error_set(-errno, "cannot remove %s: %s", directory, strerror(errno));
    return directory_sync_parent(directory);
}

struct list_context {
    blob_store_visit visit;
    void *context;
};

static int list_visit(const struct digest *digest, void *context)
{
    struct list_context *list = context;
    return list->visit(digest, NULL, list->context);
}

static int fs_list(struct blob_store *store, blob_store_visit visit, void *context)
{
    struct list_context list = {visit, context};
    return walk_blobs(tree_of(store), list_visit, &list);
}

static void fs_destroy(struct blob_store *store)
{
    free(store);
}

static const struct blob_store_operations fs_operations = {
    .name = "fs",
    .stat = fs_stat,
    .open = fs_open,
    .read = fs_read,
    .close = fs_close,
    .commit = fs_commit,
    .put = fs_put,
    .freshen = fs_freshen,
    .remove = fs_remove,
    .serve = fs_serve,
    .list = fs_list,
    .destroy = fs_destroy,
};

int blob_store_fs_create(const struct tree *tree, struct blob_store **store_out)
{
    struct fs_store *store = calloc(1, sizeof *store);
    if (store == NULL)
        return error_set(-ENOMEM, "out of memory");
    store->base.operations = &fs_operations;
    store->tree = tree;
    *store_out = &store->base;
    return 0;
}
