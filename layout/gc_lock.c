/* layout/gc_lock.h */
#include "layout/gc_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "layout/error.h"

int gc_lock_open(const struct tree *tree, int *fd_out)
{
    char path[TREE_PATH_MAX];
    int result = tree_path_gc_lock(tree, path);
    if (result < 0)
        return result;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return error_set(-errno, "cannot open %s: %s", path, strerror(errno));
    *fd_out = fd;
    return 0;
}

int gc_lock_acquire(int fd, enum gc_lock_mode mode)
{
    int operation = mode == GC_LOCK_EXCLUSIVE ? LOCK_EX : LOCK_SH;
    while (flock(fd, operation) != 0) {
        if (errno != EINTR)
            return error_set(-errno, "cannot lock the GC lock: %s", strerror(errno));
    }
    return 0;
}

void gc_lock_release(int fd)
{
    flock(fd, LOCK_UN);
}

static _Thread_local int thread_descriptor = -1;
static _Thread_local const struct tree *thread_tree;

int gc_lock_thread_descriptor(const struct tree *tree)
{
    if (thread_descriptor >= 0 && thread_tree == tree)
        return thread_descriptor;
    if (thread_descriptor >= 0)
        close(thread_descriptor);
    thread_descriptor = -1;
    if (gc_lock_open(tree, &thread_descriptor) < 0)
        return -1;
    thread_tree = tree;
    return thread_descriptor;
}
