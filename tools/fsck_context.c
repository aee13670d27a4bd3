/* tools/fsck_context.h */
#include "tools/fsck_context.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "layout/error.h"
#include "layout/gc_lock.h"

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
