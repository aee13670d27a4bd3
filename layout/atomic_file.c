/* layout/atomic_file.h */
#include "layout/atomic_file.h"

#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layout/error.h"

/* How often an operation is retried when a concurrent cleanup (GC, upload
 * purge) removed an empty directory between our mkdir and our create. */
#define ENOENT_RETRIES 3

/* Copies the directory part of `path` into out[PATH_MAX] ("." or "/" when
 * there is none). */
static int parent_of(const char *path, char out[PATH_MAX])
{
    size_t length = strlen(path);
    while (length > 1 && path[length - 1] == '/')
        length--;
    while (length > 0 && path[length - 1] != '/')
        length--;
    while (length > 1 && path[length - 1] == '/')
        length--;
    if (length == 0) {
        path = ".";
        length = 1;
    }
    if (length >= PATH_MAX)
        return error_set(-ENAMETOOLONG, "path too long: %.64s...", path);
    memcpy(out, path, length);
    out[length] = '\0';
    return 0;
}

static atomic_int sync_deferred;

void directory_sync_defer(void)
{
    atomic_store(&sync_deferred, 1);
}

int directory_sync_deferred_flush(const char *path_on_file_system)
{
    int fd = open(path_on_file_system, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return error_set(-errno, "cannot open %s: %s", path_on_file_system, strerror(errno));
    int result = 0;
    if (syncfs(fd) < 0)
        result = error_set(-errno, "cannot sync the file system of %s: %s", path_on_file_system,
                           strerror(errno));
    close(fd);
    return result;
}

/* open(path, flags), fsync, close; `kind` ("directory " or "") for messages. */
static int sync_path(const char *path, int flags, const char *kind)
{
    int fd = open(path, flags | O_CLOEXEC);
    if (fd < 0)
        return error_set(-errno, "cannot open %s%s: %s", kind, path, strerror(errno));
    int result = 0;
    if (fsync(fd) < 0)
        result = error_set(-errno, "cannot fsync %s%s: %s", kind, path, strerror(errno));
    close(fd);
    return result;
}

int directory_sync(const char *path)
{
    if (atomic_load(&sync_deferred))
        return 0;
    return sync_path(path, O_RDONLY | O_DIRECTORY, "directory ");
}

int directory_sync_parent(const char *path)
{
    char parent[PATH_MAX];
    int result = parent_of(path, parent);
    return result < 0 ? result : directory_sync(parent);
}

/* When the directories a creation makes are made durable (their parents
 * fsynced): at once, later (pending_syncs_flush, after the file they are made
 * for is synced: on a journalling file system that file's sync commits the
 * mkdirs too, and the parents' syncs then only flush), or never (scratch). */
enum directory_syncing { SYNC_NOW, SYNC_LATER, SYNC_NEVER };

/* The parents still to be fsynced after a SYNC_LATER creation: prefixes of
 * the created path, by length. */
#define PENDING_SYNCS_MAX 16
struct pending_syncs {
    size_t count;
    size_t lengths[PENDING_SYNCS_MAX];
};

static int create_directories_once(const char *path, enum directory_syncing syncing,
                                   struct pending_syncs *pending)
{
    char buffer[PATH_MAX];
    size_t length = strlen(path);
    while (length > 1 && path[length - 1] == '/')
        length--;
    if (length == 0)
        return error_set(-EINVAL, "cannot create a directory with an empty name");
    if (length >= sizeof buffer)
        return error_set(-ENAMETOOLONG, "path too long: %.64s...", path);
    memcpy(buffer, path, length);
    buffer[length] = '\0';
    /* Walk up (cutting at slashes) until a mkdir succeeds or finds an
     * existing directory, then back down restoring the slashes. */
    for (;;) {
        if (mkdir(buffer, 0777) == 0) {
            const char *slash = strrchr(buffer, '/');
            size_t parent_length = slash == NULL     ? 0
                                   : slash == buffer ? 1
                                                     : (size_t)(slash - buffer);
            if (syncing == SYNC_LATER && parent_length > 0 && pending->count < PENDING_SYNCS_MAX) {
                pending->lengths[pending->count++] = parent_length;
            } else if (syncing != SYNC_NEVER) {
                int result = directory_sync_parent(buffer);
                if (result < 0)
                    return result;
            }
        } else if (errno == ENOENT) {
            char *slash = strrchr(buffer, '/');
            if (slash == NULL || slash == buffer)
                return error_set(-ENOENT, "cannot create %s: %s", path, strerror(ENOENT));
            *slash = '\0';
            continue;
        } else if (errno != EEXIST) {
            return error_set(-errno, "cannot create directory %s: %s", buffer, strerror(errno));
        }
        size_t done = strlen(buffer);
        if (done == length)
            break;
        buffer[done] = '/';
    }
    struct stat status;
    if (stat(buffer, &status) < 0)
        return error_set(-errno, "cannot stat %s: %s", buffer, strerror(errno));
    if (!S_ISDIR(status.st_mode))
        return error_set(-ENOTDIR, "%s exists and is not a directory", buffer);
    return 0;
}

/* mkdir -p that survives a concurrent cleanup (cairn-gc, the upload purge)
 * removing an empty directory of the path between its mkdir and its check:
 * the walk is made again. */
static int create_directories(const char *path, enum directory_syncing syncing,
                              struct pending_syncs *pending)
{
    int result = -ENOENT;
    for (int attempt = 0; result == -ENOENT && attempt <= ENOENT_RETRIES; attempt++)
        result = create_directories_once(path, syncing, pending);
    return result;
}

/* fsyncs the parents a SYNC_LATER creation of `path` left pending. */
static int pending_syncs_flush(const char *path, struct pending_syncs *pending)
{
    char parent[PATH_MAX];
    for (size_t i = 0; i < pending->count; i++) {
        size_t length = pending->lengths[i];
        memcpy(parent, path, length);
        parent[length] = '\0';
        int result = directory_sync(parent);
        if (result < 0)
            return result;
    }
    pending->count = 0;
    return 0;
}

int directory_create(const char *path)
{
    return create_directories(path, SYNC_NOW, NULL);
}

/* 0 or a positive errno. */
static int write_all(int fd, const char *data, size_t length)
{
    while (length > 0) {
        ssize_t n = write(fd, data, length);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno;
        data += n;
        length -= (size_t)n;
    }
    return 0;
}

/* Gives the new file open as `fd` (named `path`) Distribution's mode, 0644
 * (0666 under the usual umask), writes `data`, fsyncs it when `sync`, and
 * closes it; on any failure it is removed. 0 or a negative errno. */
static int fill_new_file(int fd, const char *path, const void *data, size_t length, int sync)
{
    const char *step = "chmod";
    int error = fchmod(fd, 0644) < 0 ? errno : 0;
    if (error == 0) {
        step = "write";
        error = write_all(fd, data, length);
    }
    if (error == 0 && sync && fsync(fd) < 0) {
        step = "fsync";
        error = errno;
    }
    if (close(fd) < 0 && error == 0) {
        step = "close";
        error = errno;
    }
    if (error != 0) {
        unlink(path);
        return error_set(-error, "cannot %s %s: %s", step, path, strerror(error));
    }
    return 0;
}

/* Creates the temporary file in `directory` (a mkostemp template written to
 * temporary[PATH_MAX]) and writes it; fsyncs it unless SYNC_NEVER. Creates
 * `directory` when it is missing, as `syncing` says. */
static int write_temporary(const char *directory, const void *data, size_t length,
                           char temporary[PATH_MAX], enum directory_syncing syncing,
                           struct pending_syncs *pending)
{
    int fd = -1;
    for (int attempt = 0;; attempt++) {
        int written =
            snprintf(temporary, PATH_MAX, "%s/" ATOMIC_FILE_TEMPORARY_PREFIX "XXXXXX", directory);
        if (written < 0 || written >= PATH_MAX)
            return error_set(-ENAMETOOLONG, "path too long: %.64s...", directory);
        fd = mkostemp(temporary, O_CLOEXEC);
        if (fd >= 0)
            break;
        int error = errno;
        if (error != ENOENT || attempt == ENOENT_RETRIES)
            return error_set(-error, "cannot create a file in %s: %s", directory, strerror(error));
        int result = create_directories(directory, syncing, pending);
        if (result < 0)
            return result;
    }
    return fill_new_file(fd, temporary, data, length, syncing != SYNC_NEVER);
}

static int write_via_temporary(const char *path, const void *data, size_t length,
                               enum directory_syncing syncing)
{
    char directory[PATH_MAX], temporary[PATH_MAX];
    struct pending_syncs pending = {0};
    int result = parent_of(path, directory);
    if (result < 0 || (result = create_directories(directory, syncing, &pending)) < 0 ||
        (result = write_temporary(directory, data, length, temporary, syncing, &pending)) < 0)
        return result;
    if (rename(temporary, path) < 0) {
        int error = errno;
        unlink(temporary);
        return error_set(-error, "cannot rename %s to %s: %s", temporary, path, strerror(error));
    }
    if (syncing == SYNC_NEVER)
        return 0;
    /* The file, then its directory, then the directories made for it: the
     * file's fsync has committed their creation on a journalling file
     * system, so the parents' fsyncs that follow cost a flush, not a commit. */
    if ((result = directory_sync(directory)) < 0)
        return result;
    return pending_syncs_flush(directory, &pending);
}

int atomic_file_write(const char *path, const void *data, size_t length)
{
    return write_via_temporary(path, data, length, SYNC_LATER);
}

int atomic_file_write_scratch(const char *path, const void *data, size_t length)
{
    return write_via_temporary(path, data, length, SYNC_NEVER);
}

int atomic_file_write_staged(const char *path, const void *data, size_t length)
{
    char directory[PATH_MAX];
    int result = parent_of(path, directory);
    if (result < 0 || (result = create_directories(directory, SYNC_NEVER, NULL)) < 0)
        return result;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return error_set(-errno, "cannot create %s: %s", path, strerror(errno));
    return fill_new_file(fd, path, data, length, 0);
}

int atomic_file_sync(const char *path)
{
    return sync_path(path, O_RDONLY, "");
}

int file_rename_durable(const char *from, const char *to)
{
    char to_directory[PATH_MAX];
    int result = parent_of(to, to_directory);
    if (result < 0)
        return result;
    struct pending_syncs pending = {0};
    for (int attempt = 0;; attempt++) {
        if ((result = create_directories(to_directory, SYNC_LATER, &pending)) < 0)
            return result;
        if (rename(from, to) == 0)
            break;
        int error = errno;
        /* ENOENT with the source still there: the target directory vanished. */
        if (error != ENOENT || attempt == ENOENT_RETRIES || access(from, F_OK) < 0)
            return error_set(-error, "cannot rename %s to %s: %s", from, to, strerror(error));
    }
    /* from's directory is not fsynced: a crash that brings the old name
     * back brings back scratch (an upload's data), never loses the new one. */
    if ((result = directory_sync(to_directory)) < 0 ||
        (result = pending_syncs_flush(to_directory, &pending)) < 0)
        return result;
    return 0;
}

static _Thread_local int remove_error;

static int remove_entry(const char *path, const struct stat *status, int type, struct FTW *ftw)
{
    (void)status;
    (void)ftw;
    int failed = type == FTW_DP ? rmdir(path) : unlink(path);
    if (failed < 0 && errno != ENOENT) {
        remove_error = error_set(-errno, "cannot remove %s: %s", path, strerror(errno));
        return 1;
    }
    return 0;
}

int directory_remove_tree(const char *path)
{
    remove_error = 0;
    int result = nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    if (result < 0 && errno != ENOENT)
        return error_set(-errno, "cannot remove %s: %s", path, strerror(errno));
    return result > 0 ? remove_error : 0;
}

void directory_remove_empty_parents(const char *path, const char *stop_at)
{
    char directory[PATH_MAX];
    size_t stop_length = strlen(stop_at);
    while (stop_length > 1 && stop_at[stop_length - 1] == '/')
        stop_length--;
    if (parent_of(path, directory) < 0)
        return;
    for (;;) {
        size_t length = strlen(directory);
        /* Only strictly below stop_at. */
        if (length <= stop_length || memcmp(directory, stop_at, stop_length) != 0 ||
            directory[stop_length] != '/')
            return;
        if (rmdir(directory) < 0 && errno != ENOENT)
            return;
        char parent[PATH_MAX];
        if (parent_of(directory, parent) < 0)
            return;
        memcpy(directory, parent, strlen(parent) + 1);
    }
}

int atomic_file_is_temporary(const char *file_name)
{
    size_t prefix = sizeof ATOMIC_FILE_TEMPORARY_PREFIX - 1;
    if (strncmp(file_name, ATOMIC_FILE_TEMPORARY_PREFIX, prefix) != 0 ||
        strlen(file_name) != prefix + 6)
        return 0;
    for (size_t i = prefix; i < prefix + 6; i++) {
        char c = file_name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
            return 0;
    }
    return 1;
}
