/*
 * src/registry/mount.h — mounting a blob into a repository without `from`:
 * automatic content discovery (the OCI spec lets a registry find the blob
 * in any repository the caller may read).
 *
 * A mount links an existing blob into the target (repository_link_blob());
 * this module finds where it may come from. Which repositories the caller
 * may read is the caller's rule, handed in as a predicate (this module knows
 * no users): only those are looked into, so what the others hold changes
 * neither the answer nor the time it takes. The target is asked first (it
 * often links the blob already: a retried push); a caller limited to a few
 * named repositories (a token's scope) has those asked directly; otherwise
 * every repository with blob links is visited, stopping at the first that
 * links the blob.
 *
 *     struct mount_search search = {.may_read = allowed, .context = scope};
 *     int mounted = mount_from_any(&tree, blobs, "team/app", &digest, &search);
 *     if (mounted == 1) ... 201, the blob is in team/app
 *     else if (mounted == 0) ... start an upload instead (202)
 *     else ... the link failed
 */
#ifndef CAIRN_SRC_REGISTRY_MOUNT_H
#define CAIRN_SRC_REGISTRY_MOUNT_H

#include "drivers/blob_store.h"
#include "layout/digest.h"
#include "layout/tree.h"
#include "layout/walk.h"

struct mount_search {
    /* Whether the caller may read (pull) <name>: 1 or 0. */
    int (*may_read)(const char *name, void *context);
    void *context;
    /* The caller may read only these repositories (asked directly, no
     * walk); NULL when not limited to a list. */
    const struct string_list *only;
    /* The caller may read every repository: a blob absent from the store is
     * in none, and the walk is saved. */
    int everything;
};

/* Whether a repository the caller may read links `digest`: 1, 0, or a
 * negative errno. */
int mount_find_blob(const struct tree *tree, struct blob_store *blobs, const char *target,
                    const struct digest *digest, const struct mount_search *search);

/* Finds the blob (mount_find_blob()) and links it into `target`: 1 when
 * mounted; 0 when there is nothing to mount (not found, the search failed —
 * logged as a warning —, or the blob vanished since its link was read): the
 * caller answers as for a blob that exists nowhere; <0 when the link failed. */
int mount_from_any(const struct tree *tree, struct blob_store *blobs, const char *target,
                   const struct digest *digest, const struct mount_search *search);

#endif
