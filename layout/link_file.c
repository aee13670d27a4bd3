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

int link_file_read(const char *path, struct digest *out)
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

int link_file_exists(const char *path)
{
    struct stat status;
    if (stat(path, &status) == 0)
        return S_ISREG(status.st_mode) ? 1 : 0;
    if (errno == ENOENT || errno == ENOTDIR)
        return 0;
    return error_set(-errno, "cannot stat link %s: %s", path, strerror(errno));
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
