/* layout/link_file.h */
#include "layout/link_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layout/atomic_file.h"
#include "layout/error.h"
#include "layout/tree.h"

static void stamp_from_status(const struct stat *status, struct link_stamp *stamp)
{
    stamp->device = status->st_dev;
    stamp->inode = status->st_ino;
    stamp->size = status->st_size;
    stamp->modified = status->st_mtim;
    stamp->changed = status->st_ctim;
}

int link_file_read(const char *path, struct digest *out)
{
    return link_file_read_stamped(path, out, NULL);
}

int link_file_read_stamped(const char *path, struct digest *out, struct link_stamp *stamp)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int error = errno;
        if (error == ENOTDIR)
            error = ENOENT;
        return error_set(-error, "cannot open link %s: %s", path, strerror(error));
    }
    /* One byte more than the longest digest, to notice a longer file. A
     * regular file gives all it has in one read; loop only on a short one. */
    char buffer[DIGEST_STRING_MAX];
    size_t length = 0;
    for (;;) {
        size_t wanted = sizeof buffer - length;
        ssize_t n = read(fd, buffer + length, wanted);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int error = errno;
            close(fd);
            return error_set(-error, "cannot read link %s: %s", path, strerror(error));
        }
        length += (size_t)n;
        if ((size_t)n < wanted || length == sizeof buffer)
            break;
    }
    if (stamp != NULL) {
        struct stat status;
        if (fstat(fd, &status) != 0) {
            int error = errno;
            close(fd);
            return error_set(-error, "cannot stat link %s: %s", path, strerror(error));
        }
        stamp_from_status(&status, stamp);
    }
    close(fd);
    if (link_file_parse(buffer, length, out) < 0) {
        char reason[ERROR_MESSAGE_MAX / 2];
        snprintf(reason, sizeof reason, "%s", error_message());
        return error_set(-EINVAL, "link %s: %s", path, reason);
    }
    return 0;
}

int link_file_parse(const char *content, size_t length, struct digest *out)
{
    if (length >= DIGEST_STRING_MAX)
        return error_set(-EINVAL, "longer than a digest");
    return digest_parse(content, length, out) < 0 ? -EINVAL : 0;
}

int link_file_write(const char *path, const struct digest *digest)
{
    return atomic_file_write(path, digest->string, digest->string_length);
}

int link_file_write_staged(const char *path, const struct digest *digest)
{
    return atomic_file_write_staged(path, digest->string, digest->string_length);
}

int link_file_exists(const char *path)
{
    struct stat status;
    if (stat(path, &status) == 0)
        return S_ISREG(status.st_mode) ? 1 : 0;
    if (errno == ENOENT || errno == ENOTDIR)
        return 0;
    return error_set(-errno, "cannot stat link %s: %s", path, strerror(errno));
}

int link_file_stamp(const char *path, struct link_stamp *stamp)
{
    struct stat status;
    if (stat(path, &status) != 0) {
        int error = errno == ENOTDIR ? ENOENT : errno;
        return error_set(-error, "cannot stat link %s: %s", path, strerror(error));
    }
    if (!S_ISREG(status.st_mode))
        return error_set(-ENOENT, "link %s is not a file", path);
    stamp_from_status(&status, stamp);
    return 0;
}

int link_stamp_equal(const struct link_stamp *a, const struct link_stamp *b)
{
    return a->device == b->device && a->inode == b->inode && a->size == b->size &&
           a->modified.tv_sec == b->modified.tv_sec && a->modified.tv_nsec == b->modified.tv_nsec &&
           a->changed.tv_sec == b->changed.tv_sec && a->changed.tv_nsec == b->changed.tv_nsec;
}

int link_file_remove(const char *path, const char *stop_at)
{
    char directory[TREE_PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (slash == NULL || (size_t)(slash - path) >= sizeof directory)
        return error_set(-EINVAL, "bad link path %s", path);
    memcpy(directory, path, (size_t)(slash - path));
    directory[slash - path] = '\0';
    int result = directory_remove_tree(directory);
    if (result < 0)
        return result;
    result = directory_sync_parent(directory);
    directory_remove_empty_parents(directory, stop_at);
    return result;
}
