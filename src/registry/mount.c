/* src/registry/mount.h */
#include "src/registry/mount.h"

#include <errno.h>
#include <string.h>

#include "layout/error.h"
#include "layout/names.h"
#include "src/observe/access_log.h"
#include "src/registry/registry_error.h"
#include "src/registry/repository.h"

struct search_filter {
    const char *target;
    const struct mount_search *search;
};

/* The walk's filter: repositories the caller may read, but the target,
 * which was looked at first. */
static int may_read_other(const char *name, void *context)
{
    const struct search_filter *filter = context;
    return strcmp(name, filter->target) != 0 &&
           filter->search->may_read(name, filter->search->context);
}

int mount_find_blob(const struct tree *tree, struct blob_store *blobs, const char *target,
                    const struct digest *digest, const struct mount_search *search)
{
    int result;
    if (search->everything) {
        struct blob_info info;
        result = blob_store_stat(blobs, digest, &info);
        if (result == -ENOENT)
            return 0;
        if (result < 0)
            return result;
    }
    if (search->may_read(target, search->context) &&
        (result = walk_layer_link_matches(tree, target, digest)) != 0)
        return result;
    if (search->only != NULL) {
        for (size_t i = 0; i < search->only->count; i++) {
            const char *name = search->only->items[i];
            if (strcmp(name, target) != 0 && repository_name_validate(name, strlen(name)) == 0 &&
                (result = walk_layer_link_matches(tree, name, digest)) != 0)
                return result;
        }
        return 0;
    }
    char found[REPOSITORY_NAME_MAX + 1];
    struct search_filter filter = {.target = target, .search = search};
    return walk_find_layer_link(tree, digest, may_read_other, &filter, found);
}

int mount_from_any(const struct tree *tree, struct blob_store *blobs, const char *target,
                   const struct digest *digest, const struct mount_search *search)
{
    int result = mount_find_blob(tree, blobs, target, digest, search);
    if (result < 0)
        log_message(LOG_LEVEL_WARN, "looking for %s for a mount into %s: %s", digest->string,
                    target, error_message());
    if (result != 1)
        return 0;
    result = repository_link_blob(tree, blobs, target, digest);
    if (result == -REGISTRY_ERROR_BLOB_UNKNOWN)
        return 0; /* the link was there but the blob is gone */
    return result < 0 ? result : 1;
}
