/* layout/gc_lock.h */
#include "layout/gc_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
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

int gc_run_record(int run, long long mark_start)
{
    char text[32];
    int length = snprintf(text, sizeof text, "%lld\n", mark_start);
    if (ftruncate(run, 0) < 0 || pwrite(run, text, (size_t)length, 0) != length)
        return error_set(-errno, "cannot record the mark start: %s", strerror(errno));
    return 0;
}

int gc_run_announce(const struct tree *tree, int *run_out)
{
    char path[TREE_PATH_MAX];
    int result = tree_path_gc_run(tree, path);
    if (result < 0)
        return result;
    for (;;) {
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
            return error_set(-errno, "cannot open %s: %s", path, strerror(errno));
        if ((result = gc_lock_acquire(fd, GC_LOCK_EXCLUSIVE)) < 0) {
            close(fd);
            return result;
        }
        /* The run before us may have unlinked the file we waited on: lock
         * the one at the path, or writers would not see us. */
        struct stat held, current;
        if (fstat(fd, &held) == 0 && stat(path, &current) == 0 && held.st_ino == current.st_ino &&
            held.st_dev == current.st_dev) {
            /* Empty: no mark start yet, which writers read as "unknown". */
            if (ftruncate(fd, 0) < 0) {
                result = error_set(-errno, "cannot write %s: %s", path, strerror(errno));
                close(fd);
                return result;
            }
            *run_out = fd;
            return 0;
        }
        close(fd);
    }
}

void gc_run_withdraw(const struct tree *tree, int run)
{
    char path[TREE_PATH_MAX];
    if (run < 0)
        return;
    if (tree_path_gc_run(tree, path) == 0)
        unlink(path);
    close(run); /* releases the lock */
}

int gc_run_mark_start(const struct tree *tree, long long *mark_start)
{
    char path[TREE_PATH_MAX];
    int result = tree_path_gc_run(tree, path);
    if (result < 0)
        return result;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? -ENOENT
                               : error_set(-errno, "cannot open %s: %s", path, strerror(errno));
    if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
        /* Nobody holds it: a run that ended (or crashed) left it. */
        close(fd);
        return -ENOENT;
    }
    char text[32];
    ssize_t length = pread(fd, text, sizeof text - 1, 0);
    close(fd);
    *mark_start = LLONG_MAX;
    if (length > 0) {
        text[length] = '\0';
        char *end;
        long long value = strtoll(text, &end, 10);
        if (end != text && *end == '\n')
            *mark_start = value;
    }
    return 0;
}
